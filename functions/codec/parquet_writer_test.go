package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fanout-dev/fanout/functions"
)

// encoderRows are rows that take every path of the Parquet writer: a
// low-cardinality string column (dictionary), a high-cardinality one
// (falls back to plain after the probe), a string past maxStatBytes, nulls
// in runs and alone, NaN, zeros of both signs, extreme integers, and a
// column that is null throughout.
func encoderRows(n int) []functions.Row {
	r := rand.New(rand.NewPCG(3, 4))
	rows := make([]functions.Row, n)
	for i := range rows {
		low := sv(fmt.Sprint("region-", r.IntN(7)))
		high := sv(fmt.Sprintf("id-%08d-%x", i, r.Uint64()))
		if i == 4321 {
			high = sv(strings.Repeat("ż", maxStatBytes))
		}
		f := fv(r.NormFloat64())
		switch i % 97 {
		case 0:
			f = fv(math.NaN())
		case 1:
			f = fv(math.Copysign(0, -1))
		case 2:
			f = fv(0)
		}
		in := iv(r.Int64() - math.MaxInt64/2)
		if i == 17 {
			in = iv(math.MinInt64)
		} else if i == 18 {
			in = iv(math.MaxInt64)
		}
		row := functions.Row{low, high, in, f, bv(r.IntN(3) == 0), functions.Value{Type: functions.Timestamp, Valid: true, I: int64(i) * 1_000_001}, functions.Null(functions.String)}
		if i%1000 < 40 { // a run of nulls
			row[0], row[2] = functions.Null(functions.String), functions.Null(functions.Int64)
		}
		if r.IntN(10) == 0 {
			k := r.IntN(6)
			row[k] = functions.Null(encoderSchema.Columns[k].Type)
		}
		rows[i] = row
	}
	return rows
}

var encoderSchema = &functions.Schema{Columns: []functions.Column{
	{Name: "low", Type: functions.String}, {Name: "high", Type: functions.String},
	{Name: "n", Type: functions.Int64}, {Name: "f", Type: functions.Float64},
	{Name: "b", Type: functions.Bool}, {Name: "t", Type: functions.Timestamp},
	{Name: "nothing", Type: functions.String},
}}

// sameValue compares values, NaN equal to NaN and zeros by sign.
func sameValue(a, b functions.Value) bool {
	if a.Type == functions.Float64 && a.Valid && b.Valid {
		return b.Type == functions.Float64 && math.Float64bits(a.F) == math.Float64bits(b.F) ||
			(math.IsNaN(a.F) && math.IsNaN(b.F))
	}
	return a == b
}

func TestParquetWriterEncodings(t *testing.T) {
	rows := encoderRows(30_000)
	for _, comp := range []string{"zstd", "snappy", "none"} {
		t.Run(comp, func(t *testing.T) {
			data := writeAll(t, "parquet", encoderSchema, rows, WriterOptions{RowGroupRows: 8000, Compression: comp})
			recs := readParquet(t, data)
			if len(recs) != len(rows) {
				t.Fatalf("%d rows, want %d", len(recs), len(rows))
			}
			for i, r := range recs {
				for c := range r.Row {
					if !sameValue(r.Row[c], rows[i][c]) {
						t.Fatalf("row %d column %s: got %v, want %v", i, encoderSchema.Columns[c].Name, r.Row[c], rows[i][c])
					}
				}
			}
			checkChunkMetadata(t, data, rows, 8000)
		})
	}
}

// checkChunkMetadata compares every column chunk's statistics and
// encodings with the rows it holds, computed here value by value.
func checkChunkMetadata(t *testing.T, data []byte, rows []functions.Row, groupRows int) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	meta := f.Metadata()
	if want := (len(rows) + groupRows - 1) / groupRows; len(meta.RowGroups) != want {
		t.Fatalf("%d row groups, want %d", len(meta.RowGroups), want)
	}
	for g, rg := range meta.RowGroups {
		part := rows[g*groupRows : min((g+1)*groupRows, len(rows))]
		if rg.NumRows != int64(len(part)) {
			t.Errorf("row group %d: %d rows, want %d", g, rg.NumRows, len(part))
		}
		for c, cc := range rg.Columns {
			md := cc.MetaData
			name := encoderSchema.Columns[c].Name
			var nulls int64
			var vals []functions.Value
			for _, r := range part {
				if !r[c].Valid {
					nulls++
				} else if !(r[c].Type == functions.Float64 && math.IsNaN(r[c].F)) {
					vals = append(vals, r[c])
				}
			}
			if md.Statistics.NullCount != nulls || md.NumValues != int64(len(part)) {
				t.Errorf("group %d %s: %d nulls of %d values, want %d of %d", g, name, md.Statistics.NullCount, md.NumValues, nulls, len(part))
			}
			lo, hi, ok := minMax(vals)
			long := name == "high" && g == 4321/groupRows
			switch {
			case !ok || long:
				if md.Statistics.MinValue != nil || md.Statistics.MaxValue != nil {
					t.Errorf("group %d %s: min/max %x/%x, want none", g, name, md.Statistics.MinValue, md.Statistics.MaxValue)
				}
			case !bytes.Equal(md.Statistics.MinValue, lo) || !bytes.Equal(md.Statistics.MaxValue, hi):
				t.Errorf("group %d %s: min/max %x/%x, want %x/%x", g, name, md.Statistics.MinValue, md.Statistics.MaxValue, lo, hi)
			}
			switch name {
			case "low":
				if !slices.Contains(md.Encoding, format.RLEDictionary) || md.DictionaryPageOffset == 0 {
					t.Errorf("group %d low: encodings %v, dictionary at %d: want a dictionary", g, md.Encoding, md.DictionaryPageOffset)
				}
			case "high":
				plain := slices.IndexFunc(md.EncodingStats, func(s format.PageEncodingStats) bool {
					return s.PageType == format.DataPageV2 && s.Encoding == format.Plain
				})
				if plain < 0 {
					t.Errorf("group %d high: page encodings %v, want plain pages after the probe", g, md.EncodingStats)
				}
			}
		}
	}
}

// minMax returns the PLAIN-encoded bounds Parquet's column order gives.
func minMax(vals []functions.Value) (lo, hi []byte, ok bool) {
	if len(vals) == 0 {
		return nil, nil, false
	}
	enc := func(v functions.Value) []byte {
		switch v.Type {
		case functions.String:
			return []byte(v.S)
		case functions.Float64:
			f := v.F
			return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f))
		case functions.Bool:
			return []byte{byte(v.I)}
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(v.I))
	}
	less := func(a, b functions.Value) bool {
		switch a.Type {
		case functions.String:
			return a.S < b.S
		case functions.Float64:
			return a.F < b.F || (a.F == 0 && b.F == 0 && math.Signbit(a.F) && !math.Signbit(b.F))
		}
		return a.I < b.I
	}
	l, h := vals[0], vals[0]
	for _, v := range vals[1:] {
		if less(v, l) {
			l = v
		}
		if less(h, v) {
			h = v
		}
	}
	if l.Type == functions.Float64 { // the spec's zeros: -0 as min, +0 as max
		if l.F == 0 {
			l.F = math.Copysign(0, -1)
		}
		if h.F == 0 {
			h.F = 0
		}
	}
	return enc(l), enc(h), true
}

// TestParquetWriterChecksums flips one byte inside each page body in turn:
// the reader must report the corruption rather than return rows.
func TestParquetWriterChecksums(t *testing.T) {
	rows := encoderRows(3000)
	data := writeAll(t, "parquet", encoderSchema, rows, WriterOptions{Compression: "none"})
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for c, cc := range f.Metadata().RowGroups[0].Columns {
		md := cc.MetaData
		start := md.DataPageOffset
		if md.DictionaryPageOffset > 0 {
			start = md.DictionaryPageOffset
		}
		bad := bytes.Clone(data)
		bad[start+md.TotalCompressedSize-1] ^= 0x01 // the last byte of the chunk's last page
		in, err := NewParquetInput(bytes.NewReader(bad), int64(len(bad)), ParquetOptions{Object: "bad"})
		if err == nil {
			_, err = readAll(in)
		}
		if err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Errorf("column %s: flipped a byte, got %v", encoderSchema.Columns[c].Name, err)
		}
	}
}

// TestParquetWriterEncodingsDuckDB has DuckDB read the encoder's file and
// checks aggregates of every column against the rows.
func TestParquetWriterEncodingsDuckDB(t *testing.T) {
	rows := encoderRows(30_000)
	path := filepath.Join(t.TempDir(), "e.parquet")
	if err := os.WriteFile(path, writeAll(t, "parquet", encoderSchema, rows, WriterOptions{RowGroupRows: 8000}), 0o644); err != nil {
		t.Fatal(err)
	}
	out := duckDB(t, `SELECT count(*)::VARCHAR AS rows, count(low)::VARCHAR AS low, count(DISTINCT low)::VARCHAR AS low_distinct,
		count(high)::VARCHAR AS high, sum(length(high))::VARCHAR AS high_len, sum(n::HUGEINT)::VARCHAR AS n_sum,
		count(f)::VARCHAR AS f, sum(CASE WHEN isnan(f) THEN 1 ELSE 0 END)::VARCHAR AS nan, sum(b::INT)::VARCHAR AS b_true,
		sum(epoch_us(t)::HUGEINT)::VARCHAR AS t_sum, count(nothing)::VARCHAR AS nothing FROM read_parquet('`+path+`')`)
	var got []map[string]string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]string{"nothing": "0"}
	var n, low, high, highLen, f, nan, bTrue int64
	nSum, tSum := new(big.Int), new(big.Int)
	distinct := map[string]bool{}
	for _, r := range rows {
		n++
		if r[0].Valid {
			low++
			distinct[r[0].S] = true
		}
		if r[1].Valid {
			high++
			highLen += int64(len([]rune(r[1].S)))
		}
		if r[2].Valid {
			nSum.Add(nSum, big.NewInt(r[2].I))
		}
		if r[3].Valid {
			f++
			if math.IsNaN(r[3].F) {
				nan++
			}
		}
		if r[4].Valid && r[4].I == 1 {
			bTrue++
		}
		if r[5].Valid {
			tSum.Add(tSum, big.NewInt(r[5].I))
		}
	}
	want["rows"], want["low"], want["low_distinct"] = fmt.Sprint(n), fmt.Sprint(low), fmt.Sprint(len(distinct))
	want["high"], want["high_len"], want["n_sum"] = fmt.Sprint(high), fmt.Sprint(highLen), nSum.String()
	want["f"], want["nan"], want["b_true"], want["t_sum"] = fmt.Sprint(f), fmt.Sprint(nan), fmt.Sprint(bTrue), tSum.String()
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s: duckdb gives %s, want %s", k, got[0][k], v)
		}
	}
}

// TestParquetWriterSharedStrings writes several files at once through one
// small StringTable, which fills up and is replaced while they write:
// every file must read back exactly, with dictionaries of only its values.
func TestParquetWriterSharedStrings(t *testing.T) {
	t.Parallel() // its small bounds are its own table's
	schema := &functions.Schema{Columns: []functions.Column{{Name: "a", Type: functions.String}, {Name: "b", Type: functions.String}}}
	st := NewStringTable()
	st.maxBytes, st.maxEntries = 4096, 300
	st.cur = st.newTable()
	first := st.cur
	const files = 3
	bufs := make([]bytes.Buffer, files)
	ws := make([]Writer, files)
	want := make([][]functions.Row, files)
	for i := range ws {
		w, err := NewWriter(&bufs[i], "parquet", schema, WriterOptions{Strings: st, RowGroupRows: 700})
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	r := rand.New(rand.NewPCG(5, 6))
	for n := range 6000 {
		f := r.IntN(files)
		row := functions.Row{sv(fmt.Sprint("v", r.IntN(400))), sv(fmt.Sprint("file", f, "-", r.IntN(50)))}
		if n%13 == 0 {
			row[0] = functions.Null(functions.String)
		}
		if err := ws[f].Write(row); err != nil {
			t.Fatal(err)
		}
		want[f] = append(want[f], row)
	}
	for i, w := range ws {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		data := bufs[i].Bytes()
		recs := readParquet(t, data)
		if len(recs) != len(want[i]) {
			t.Fatalf("file %d: %d rows, want %d", i, len(recs), len(want[i]))
		}
		for j, rec := range recs {
			if !slices.Equal(rec.Row, want[i][j]) {
				t.Fatalf("file %d row %d: got %v, want %v", i, j, rec.Row, want[i][j])
			}
		}
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, rg := range f.Metadata().RowGroups {
			b := rg.Columns[1].MetaData // file<i>-<n>: at most 50 distinct values, all of this file
			if lo, hi := string(b.Statistics.MinValue), string(b.Statistics.MaxValue); !strings.HasPrefix(lo, fmt.Sprint("file", i, "-")) || !strings.HasPrefix(hi, fmt.Sprint("file", i, "-")) {
				t.Errorf("file %d: column b ranges over %q..%q", i, lo, hi)
			}
		}
	}
	if st.cur == first {
		t.Error("the small table never filled")
	}
}

// TestParquetWriterPageHeaders walks every page of every column chunk:
// V2 headers' null counts (in the header and in its statistics) are the
// page's, and pages and values add up to the chunk's.
func TestParquetWriterPageHeaders(t *testing.T) {
	rows := encoderRows(20_000)
	data := writeAll(t, "parquet", encoderSchema, rows, WriterOptions{RowGroupRows: 7000})
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for g, rg := range f.Metadata().RowGroups {
		for c, cc := range rg.Columns {
			md := cc.MetaData
			start := md.DataPageOffset
			if md.DictionaryPageOffset > 0 {
				start = md.DictionaryPageOffset
			}
			r := bytes.NewReader(data[start : start+md.TotalCompressedSize])
			var values, nulls int64
			for r.Len() > 0 {
				var h format.PageHeader
				if err := thrift.NewDecoder(new(thrift.CompactProtocol).NewReader(r)).Decode(&h); err != nil {
					t.Fatalf("group %d column %d: %v", g, c, err)
				}
				if v2, ok := h.DataPageHeaderV2.Get(); ok {
					values += int64(v2.NumValues)
					nulls += int64(v2.NumNulls)
					if v2.Statistics.NullCount != int64(v2.NumNulls) {
						t.Errorf("group %d column %d: page of %d nulls says %d in its statistics", g, c, v2.NumNulls, v2.Statistics.NullCount)
					}
				}
				if _, err := r.Seek(int64(h.CompressedPageSize), io.SeekCurrent); err != nil {
					t.Fatal(err)
				}
			}
			if values != md.NumValues || nulls != md.Statistics.NullCount {
				t.Errorf("group %d column %d: pages hold %d values, %d null; the chunk says %d, %d", g, c, values, nulls, md.NumValues, md.Statistics.NullCount)
			}
		}
	}
}

// TestParquetWriterDictionaryMemory: a column's dictionary map is sized by
// its own values, not by the table it shares with a high-cardinality
// column; a value too long for any dictionary is written plain without
// replacing the shared table.
func TestParquetWriterDictionaryMemory(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "many", Type: functions.String}, {Name: "few", Type: functions.String}}}
	st := NewStringTable()
	first := st.cur
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "parquet", schema, WriterOptions{Strings: st})
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("h", dictionaryMaxBytes+1)
	var want []functions.Row
	for i := range 200_000 {
		// 20,000 values, ten times each; the 3 values of "few" come once
		// the table holds more than denseIDs strings.
		row := functions.Row{sv(fmt.Sprint("v", i/10)), functions.Null(functions.String)}
		if i >= 180_000 {
			row[1] = sv(fmt.Sprint("f", i%3))
		}
		if i == 190_000 {
			row[1] = sv(huge)
		}
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
		want = append(want, row)
	}
	few := w.(*parquetWriter).cols[1].dict
	if len(st.cur.ends) < 20_000 || few.size() > 4096 {
		t.Errorf("shared table of %d strings, the 3-value column's map holds %d bytes", len(st.cur.ends), few.size())
	}
	if st.cur != first {
		t.Error("a value too long for a dictionary replaced the shared table")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readParquet(t, buf.Bytes())
	if len(recs) != len(want) {
		t.Fatalf("%d rows, want %d", len(recs), len(want))
	}
	for i := range recs {
		if !slices.Equal(recs[i].Row, want[i]) {
			t.Fatalf("row %d differs", i)
		}
	}
}

// TestParquetWriterBufferedIsWhatEndingGivesBack: Buffered counts what
// ending the row group releases, so that a caller bounding many files'
// memory by ending their row groups (fanout's outputs, 16 MiB shared by
// up to 256 files) does not end them at every check. A string column
// whose values the shared table numbered past a few thousand holds a
// dense index of up to 64 KiB that ending the row group keeps: counted,
// it made every file beside a hundred others end a row group every 512
// rows.
func TestParquetWriterBufferedIsWhatEndingGivesBack(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "s", Type: functions.String}, {Name: "n", Type: functions.Int64}}}
	st := NewStringTable()
	var other bytes.Buffer
	ow, err := NewWriter(&other, "parquet", schema, WriterOptions{Strings: st})
	if err != nil {
		t.Fatal(err)
	}
	for i := range denseIDs {
		if err := ow.Write(functions.Row{sv(fmt.Sprint("v", i)), iv(int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "parquet", schema, WriterOptions{Strings: st})
	if err != nil {
		t.Fatal(err)
	}
	rg := w.(RowGroupWriter)
	for round := range 3 {
		for i := range 512 {
			if err := w.Write(functions.Row{sv(fmt.Sprint("v", denseIDs-1-i)), iv(int64(i))}); err != nil {
				t.Fatal(err)
			}
		}
		if b := rg.Buffered(); b > 32<<10 || b == 0 {
			t.Errorf("round %d: %d bytes buffered for 512 rows of 2 short columns, want some and under 32 KiB", round, b)
		}
		if err := rg.EndRowGroup(); err != nil {
			t.Fatal(err)
		}
		if b := rg.Buffered(); b > 1<<10 {
			t.Errorf("round %d: %d bytes buffered after the row group ended, want under 1 KiB", round, b)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if recs := readParquet(t, buf.Bytes()); len(recs) != 3*512 {
		t.Errorf("%d rows, want %d", len(recs), 3*512)
	}
}
