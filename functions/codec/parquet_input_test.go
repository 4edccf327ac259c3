package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fanout-dev/fanout/functions"
)

type typesRow struct {
	I32  int32            `parquet:"i32"`
	U64  uint64           `parquet:"u64"`
	F32  float32          `parquet:"f32"`
	Date int32            `parquet:"date,date"`
	Dec  int64            `parquet:"dec,decimal(2:18)"`
	Ms   int64            `parquet:"ms,timestamp(millisecond)"`
	Ns   int64            `parquet:"ns,timestamp(nanosecond)"`
	I96  deprecated.Int96 `parquet:"i96"`
	UUID [16]byte         `parquet:"uuid,uuid"`
	Raw  []byte           `parquet:"raw"`
	Opt  *string          `parquet:"opt,optional"`
}

func writeStructs[T any](t testing.TB, rows []T) []byte {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParquetTypes(t *testing.T) {
	s := "x"
	day := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	// INT96: nanoseconds of the day in the low 8 bytes, Julian day after.
	julian := uint32(2440588 + day.Unix()/86400)
	nanos := uint64(3*time.Hour + 500*time.Microsecond)
	rows := []typesRow{{
		I32: -5, U64: 1 << 40, F32: 0.5, Date: int32(day.Unix() / 86400), Dec: -12345,
		Ms: day.UnixMilli() + 1, Ns: day.UnixNano() + 1000, I96: deprecated.Int96{uint32(nanos), uint32(nanos >> 32), julian},
		UUID: [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8}, Raw: []byte("bytes"), Opt: &s,
	}, {U64: 1 << 63}, {Ns: 1999}, {Raw: []byte("\xff\xfe")}, {Dec: 1<<62 + 1}, {I96: deprecated.Int96{1, 0, julian}}}
	for i := 1; i < 5; i++ {
		rows[i].I96 = rows[0].I96
	}
	data := writeStructs(t, rows)
	schema, _, err := ParquetSchema(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := "i32:int32,u64:uint64,f32:float32,date:date,dec:decimal(18,2),ms:timestamptz_ms,ns:timestamptz_ns,i96:timestamp,uuid:uuid,raw:binary,opt:string"
	if schema.String() != want {
		t.Errorf("schema\n%s, want\n%s", schema, want)
	}
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "types.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(in)
	if err == nil || len(recs) != 4 {
		t.Fatalf("read %d rows, %v; want 4 and the error of row 4", len(recs), err)
	}
	typed := func(typ functions.Type, i int64) functions.Value {
		return functions.Value{Type: typ, Valid: true, I: i}
	}
	msT, nsT := functions.TimestampOf(functions.Millis, true), functions.TimestampOf(functions.Nanos, true)
	uuid := "\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x02\x03\x04\x05\x06\x07\x08"
	wantRow := functions.Row{
		typed(functions.Int32, -5), typed(functions.Uint64, 1<<40), {Type: functions.Float32, Valid: true, F: 0.5},
		typed(functions.Date, day.Unix()/86400), typed(functions.DecimalOf(18, 2), -12345),
		typed(msT, day.UnixMilli()+1), typed(nsT, day.UnixNano()+1000), typed(int96Type, day.Add(3*time.Hour+500*time.Microsecond).UnixMicro()),
		{Type: functions.UUID, Valid: true, S: uuid}, {Type: functions.Binary, Valid: true, S: "bytes"}, sv("x"),
	}
	if !slices.Equal(recs[0].Row, wantRow) {
		t.Errorf("got  %v\nwant %v", recs[0].Row, wantRow)
	}
	// What the old model could not hold is exact now: a UINT64 beyond
	// int64, nanoseconds, bytes that are not UTF-8.
	if got := recs[1].Row[1]; got.Text() != "9223372036854775808" {
		t.Errorf("u64 1<<63 reads as %s", got.Text())
	}
	if got := recs[2].Row[6]; got.I != 1999 || got.Text() != "1970-01-01T00:00:00.000001999Z" {
		t.Errorf("ns 1999 reads as %d, %s", got.I, got.Text())
	}
	if got := recs[3].Row[9]; got.S != "\xff\xfe" || got.Text() != "//4=" {
		t.Errorf("raw \\xff\\xfe reads as %q, %s", got.S, got.Text())
	}
	// A value the type cannot hold is an error naming the object, the row
	// and the column: a decimal with more digits than its precision, an
	// INT96 with nanoseconds, which a microsecond timestamp cannot hold.
	for row, want := range []string{4: `column "dec": value cannot be represented exactly: decimal 4611686018427387905 has more than 18 digits`,
		5: `column "i96": value cannot be represented exactly: INT96 timestamp with nanoseconds below the microsecond (1 ns into Julian day 2460432): read the column as timestamp_ns`} {
		if want == "" {
			continue
		}
		errs := map[int64]error{}
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "types.parquet"})
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, err := in.Next()
			if err == io.EOF {
				break
			}
			if re := asRecordError(err); re != nil {
				errs[re.Offset] = err
			} else if err != nil {
				t.Fatal(err)
			}
		}
		err = errs[int64(row)]
		var ce *ColumnError
		if !errors.Is(err, ErrInexactValue) || !errors.As(err, &ce) || !strings.Contains(want, `"`+ce.Column+`"`) ||
			!strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "types.parquet") {
			t.Errorf("row %d: got %v; want a RecordError with a ColumnError saying %s", row, err, want)
		}
		if len(errs) != 2 {
			t.Errorf("%d rows refused, want 2: %v", len(errs), errs)
		}
	}
}

func TestParquetDecimalExactness(t *testing.T) {
	for _, tc := range []struct {
		unscaled  string
		prec, sc  int
		want, err string
	}{
		{"12345", 5, 2, "123.45", ""},
		{"-999999999999999", 18, 3, "-999999999999.999", ""},
		{"8131803788478518982", 38, 10, "813180378.8478518982", ""}, // DuckDB's DECIMAL(38,10) rounded in issue #12
		{"-1", 38, 10, "-0.0000000001", ""},
		{"99999999999999999999999999999999999999", 38, 0, "99999999999999999999999999999999999999", ""},
		{"123456", 5, 2, "", "more than 5 digits"},
	} {
		n, _ := new(big.Int).SetString(tc.unscaled, 10)
		typ := functions.DecimalOf(tc.prec, tc.sc)
		// As a FIXED_LEN_BYTE_ARRAY(16) and as a minimal BYTE_ARRAY.
		m := n
		if n.Sign() < 0 {
			m = new(big.Int).Add(n, new(big.Int).Lsh(big.NewInt(1), 128))
		}
		for _, b := range [][]byte{m.FillBytes(make([]byte, 16)), minimalTwos(n)} {
			v, err := functions.DecimalFromTwos(typ, b)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("%s as %v from %x: got %v, %v; want an error saying %q", tc.unscaled, typ, b, v.Text(), err, tc.err)
			case tc.err == "" && (err != nil || v.Text() != tc.want):
				t.Errorf("%s as %v from %x: got %q, %v; want %s", tc.unscaled, typ, b, v.Text(), err, tc.want)
			}
		}
	}
}

// minimalTwos is n's shortest big-endian two's complement.
func minimalTwos(n *big.Int) []byte {
	for l := 1; ; l++ {
		lim := new(big.Int).Lsh(big.NewInt(1), uint(8*l-1))
		if n.Cmp(lim) < 0 && n.Cmp(new(big.Int).Neg(lim)) >= 0 {
			m := n
			if n.Sign() < 0 {
				m = new(big.Int).Add(n, new(big.Int).Lsh(big.NewInt(1), uint(8*l)))
			}
			return m.FillBytes(make([]byte, l))
		}
	}
}

type nestedRow struct {
	A int64   `parquet:"a"`
	L []int32 `parquet:"l,list"`
	S struct {
		X int32 `parquet:"x"`
	} `parquet:"s"`
}

// TestParquetNested: nested columns read as their nested types; a schema
// naming only flat columns reads only those (projection), one naming a
// nested column as string reads its JSON, one naming another type is
// refused naming both.
func TestParquetNested(t *testing.T) {
	data := writeStructs(t, []nestedRow{{A: 1, L: []int32{1, 2}}, {A: 2, S: struct {
		X int32 `parquet:"x"`
	}{X: 7}}})
	schema, _, err := ParquetSchema(bytes.NewReader(data), int64(len(data)))
	if err != nil || schema.String() != "a:int64,l:list(int32),s:struct(x int32)" {
		t.Fatalf("ParquetSchema = %v, %v", schema, err)
	}
	if sizes, err := ParquetRowGroupSizes(bytes.NewReader(data), int64(len(data))); err != nil || len(sizes) != 1 {
		t.Errorf("ParquetRowGroupSizes = %v, %v", sizes, err)
	}
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "n"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(in)
	if err != nil || len(recs) != 2 {
		t.Fatalf("got %v, %v", recs, err)
	}
	var got []string
	for _, r := range recs {
		for i, c := range schema.Columns {
			got = append(got, string(c.AppendJSON(nil, r.Row[i])))
		}
	}
	if want := []string{"1", "[1,2]", `{"x":0}`, "2", "[]", `{"x":7}`}; !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	flat := &functions.Schema{Columns: []functions.Column{{Name: "a", Type: functions.Int64}}}
	in, err = NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "n", Schema: flat})
	if err != nil {
		t.Fatal(err)
	}
	if pin := in.(*parquetInput); len(pin.nested) != 0 || len(pin.readers) != 1 {
		t.Errorf("a flat schema reads %d flat and %d nested columns, want 1 and 0", len(pin.readers), len(pin.nested))
	}
	recs, err = readAll(in)
	if err != nil || len(recs) != 2 || recs[1].Row[0] != iv(2) {
		t.Errorf("got %v, %v", recs, err)
	}
	asText := &functions.Schema{Columns: []functions.Column{{Name: "l", Type: functions.String}}}
	in, err = NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Schema: asText})
	if err != nil {
		t.Fatal(err)
	}
	if recs, err = readAll(in); err != nil || len(recs) != 2 || recs[0].Row[0] != sv("[1,2]") {
		t.Errorf("l as string: %v, %v", recs, err)
	}
	// A wider nested type (what the union of several files' schemas
	// gives): elements widened, a struct field the file lacks null.
	wider, err := functions.ParseSchema("l:list(int64),s:struct(y string, x int64)")
	if err != nil {
		t.Fatal(err)
	}
	in, err = NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Schema: wider})
	if err != nil {
		t.Fatal(err)
	}
	recs, err = readAll(in)
	if err != nil || len(recs) != 2 {
		t.Fatalf("wider: %v, %v", recs, err)
	}
	got = got[:0]
	for _, r := range recs {
		for i, c := range wider.Columns {
			got = append(got, string(c.AppendJSON(nil, r.Row[i])))
		}
	}
	if want := []string{"[1,2]", `{"y":null,"x":0}`, "[]", `{"y":null,"x":7}`}; !slices.Equal(got, want) {
		t.Errorf("wider rows %q, want %q", got, want)
	}
	if items := recs[0].Row[0].Items(); items[0].Type != functions.Int64 {
		t.Errorf("a widened element is %v, want int64", items[0].Type)
	}
	narrower, _ := functions.ParseSchema("s:struct(y string)")
	if _, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Schema: narrower}); !errors.Is(err, ErrNestedColumn) {
		t.Errorf("a struct schema lacking the file's field x: %v, want ErrNestedColumn", err)
	}
	asInt := &functions.Schema{Columns: []functions.Column{{Name: "l", Type: functions.Int64}}}
	if _, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Schema: asInt}); !errors.Is(err, ErrNestedColumn) || !strings.Contains(err.Error(), `column "l" is list(int32) in the file; the schema says int64`) {
		t.Errorf("schema naming a list column int64: %v", err)
	}
}

// corruptions derive broken files from a good one.
func parquetCorruptions(t testing.TB, extraRows int) map[string][]byte {
	rows := sampleRows()
	for i := 0; i < extraRows; i++ {
		rows = append(rows, rows[i%5])
	}
	good := writeAll(t, "parquet", allTypes, rows, WriterOptions{RowGroupRows: 200})
	n := len(good)
	mod := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	footerLen := int(binary.LittleEndian.Uint32(good[n-8:]))
	return map[string][]byte{
		"empty":           nil,
		"tiny":            []byte("PAR1"),
		"bad magic":       mod(func(b []byte) []byte { copy(b[n-4:], "XXXX"); return b }),
		"bad head":        mod(func(b []byte) []byte { copy(b, "XXXX"); return b }),
		"huge footer":     mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[n-8:], 0xfffffff0); return b }),
		"footer too long": mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[n-8:], uint32(n-10)); return b }),
		"truncated":       good[:n/2],
		"garbled footer": mod(func(b []byte) []byte {
			for i := n - 8 - footerLen; i < n-8; i += 7 {
				b[i] ^= 0x5a
			}
			return b
		}),
		"garbled pages": mod(func(b []byte) []byte {
			for i := 4; i < n-8-footerLen; i += 13 {
				b[i] ^= 0xa5
			}
			return b
		}),
		"zeroed pages": mod(func(b []byte) []byte {
			clear(b[4 : n-8-footerLen])
			return b
		}),
	}
}

func TestParquetCorrupt(t *testing.T) {
	for name, data := range parquetCorruptions(t, 500) {
		t.Run(name, func(t *testing.T) {
			in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "bad.parquet"})
			if err == nil {
				_, err = readAll(in)
			}
			if err == nil {
				t.Fatal("nil error")
			}
			if !strings.Contains(err.Error(), "bad.parquet") {
				t.Errorf("error %q does not name the object", err)
			}
			t.Log(err)
		})
	}
}

// failingReaderAt fails every read of the data before the footer, except
// reads through the end of the file (the footer reads).
type failingReaderAt struct {
	r     io.ReaderAt
	after int64
	size  int64
}

var errDisk = errors.New("disk on fire")

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < f.after && off+int64(len(p)) < f.size {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

// countingReaderAt counts reads.
type countingReaderAt struct {
	r     io.ReaderAt
	reads int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(p, off)
}

func TestParquetSchemaReads(t *testing.T) {
	rows := sampleRows()
	for i := 0; i < 20000; i++ {
		rows = append(rows, functions.Row{sv(strings.Repeat("v", i%100)), iv(int64(i)), fv(1), bv(true), functions.Null(functions.Timestamp)})
	}
	for _, n := range []int{5, len(rows)} {
		data := writeAll(t, "parquet", allTypes, rows[:n], WriterOptions{RowGroupRows: 5000})
		c := &countingReaderAt{r: bytes.NewReader(data)}
		if _, _, err := ParquetSchema(c, int64(len(data))); err != nil {
			t.Fatal(err)
		}
		want := 1
		if len(data) > footerGuessBytes {
			want = 2 // the head magic too
		}
		if c.reads != want {
			t.Errorf("%d-byte file: ParquetSchema made %d reads, want %d", len(data), c.reads, want)
		}
		// Reading adds one read per row group.
		c.reads = 0
		in, err := NewParquetInput(c, int64(len(data)), ParquetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if recs, err := readAll(in); err != nil || len(recs) != n {
			t.Fatalf("%d rows, %v", len(recs), err)
		}
		groups := (n + 4999) / 5000
		if c.reads != want+groups {
			t.Errorf("%d-byte file, %d row groups: reading made %d reads, want %d", len(data), groups, c.reads, want+groups)
		}
	}
}

func TestParquetIOErrorIsNotCorruption(t *testing.T) {
	data := writeAll(t, "parquet", allTypes, sampleRows(), WriterOptions{})
	footerLen := int64(binary.LittleEndian.Uint32(data[len(data)-8:]))
	ra := failingReaderAt{bytes.NewReader(data), int64(len(data)) - footerLen - 8, int64(len(data))}
	// The head magic is read first: let it through.
	in, err := NewParquetInput(headOK{ra, data}, int64(len(data)), ParquetOptions{Object: "p"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.Next()
	if !errors.Is(err, errDisk) || asRecordError(err) != nil {
		t.Errorf("got %v, want the I/O error, not a RecordError", err)
	}
}

type headOK struct {
	failingReaderAt
	data []byte
}

func (h headOK) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 && len(p) == 4 {
		return copy(p, h.data), nil
	}
	return h.failingReaderAt.ReadAt(p, off)
}

func FuzzParquetInput(f *testing.F) {
	// Small seeds keep the fuzzer's minimization quick.
	for _, name := range []string{"garbled pages", "zeroed pages", "garbled footer"} {
		f.Add(parquetCorruptions(f, 0)[name])
	}
	f.Add(writeAll(f, "parquet", allTypes, sampleRows(), WriterOptions{}))
	f.Add(writeStructs(f, []nestedRow{{A: 1, L: []int32{1}}}))
	f.Add(hostileFooterFile(1 << 16))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whatever the bytes claim, reading them allocates at most what
		// the bounds allow: the footer's weighed budget, pages of at most
		// maxCompressionRatio times their bytes, and the records.
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		defer func() {
			runtime.ReadMemStats(&after)
			limit := 64<<20 + maxCompressionRatio*uint64(len(data))
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
				t.Fatalf("reading %d bytes allocated %d bytes, more than %d", len(data), alloc, limit)
			}
		}()
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "fuzz"})
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the object", err)
			}
			return
		}
		for i := 0; i < 100_000; i++ {
			if _, err := in.Next(); err != nil {
				return
			}
		}
	})
}

// hostileFooterFile is a Parquet file whose footer is one row group
// holding n column chunks of one byte each (an empty Thrift struct): what
// made a 3 MiB file allocate 569 MB in parquet-go (issue #21).
func hostileFooterFile(n int) []byte {
	footer := []byte{0x15, 0x02}        // version: 1
	footer = append(footer, 0x39, 0x1c) // row_groups (field 4): list of 1 struct
	footer = append(footer, 0x19, 0xfc) // columns (field 1): list of n structs
	footer = binary.AppendUvarint(footer, uint64(n))
	footer = append(footer, make([]byte, n)...) // n empty ColumnChunks
	footer = append(footer, 0x00, 0x00)         // end of RowGroup, of FileMetaData
	file := append([]byte("PAR1"), footer...)
	file = binary.LittleEndian.AppendUint32(file, uint32(len(footer)))
	return append(file, "PAR1"...)
}

// TestParquetHostileFooterAllocatesLittle feeds a 3 MiB footer of three
// million one-byte column chunks (1.7 GB of Go structs in parquet-go): the
// footer check refuses it, naming the object and the reason, having
// allocated less than twice the file's size.
func TestParquetHostileFooterAllocatesLittle(t *testing.T) {
	data := hostileFooterFile(3 << 20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "bomb.parquet"})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorruptParquet) || !strings.Contains(err.Error(), "bomb.parquet") || !strings.Contains(err.Error(), "decoding would allocate too much") {
		t.Errorf("got %v, want a corrupt-footer error naming the object and the allocation", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*uint64(len(data)) {
		t.Errorf("opening a %d-byte hostile file allocated %d bytes, want < %d", len(data), alloc, 2*len(data))
	}
	// The same footer with few column chunks is within the budget: the
	// check weighs, it does not refuse lists.
	small := hostileFooterFile(1000)
	if _, err := NewParquetInput(bytes.NewReader(small), int64(len(small)), ParquetOptions{Object: "small"}); errors.Is(err, errThriftAlloc) {
		t.Errorf("1,000 column chunks: %v, want no allocation refusal", err)
	}
}

// TestParquetPageClaims checks page sizes against the codec before
// parquet-go allocates by them: a snappy page whose own length prefix
// says 4 GiB, and a page claiming more than maxCompressionRatio times its
// bytes.
func TestParquetPageClaims(t *testing.T) {
	for _, tc := range []struct {
		name                string
		codec               format.CompressionCodec
		comp, uncomp, level int64
		data                []byte
		want                string
	}{
		{"snappy prefix lies", format.Snappy, 6, 100, 0, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0}, "snappy page at 0 says it holds 4294967295 bytes, its header 100"},
		{"ratio", format.Zstd, 100, 200 << 20, 0, nil, "a ratio above the 32768 fanout allows"},
		{"uncompressed claims more", format.Uncompressed, 10, 11, 0, nil, "claims 11 bytes and holds 10"},
		{"levels past the page", format.Snappy, 10, 100, 11, nil, "claims 11 bytes of levels in 10 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &parquetInput{g: &guardedReaderAt{ra: bytes.NewReader(tc.data), size: int64(len(tc.data))}}
			err := in.checkCompression(tc.codec, 0, tc.comp, tc.uncomp, tc.level, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	in := &parquetInput{g: &guardedReaderAt{ra: bytes.NewReader([]byte{100}), size: 1}}
	if err := in.checkCompression(format.Snappy, 0, 1, 100, 0, true); err != nil {
		t.Errorf("an honest snappy prefix: %v", err)
	}
}
