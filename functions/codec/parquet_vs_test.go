package codec

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"syscall"
	"testing"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/fanout-dev/fanout/functions"
)

// salesParquetGo is the sales schema (salesCSV) as parquet-go's
// GenericWriter takes it: optional columns (pointers: parquet-go writes a
// zero value of a non-pointer optional field as null), strings dictionary
// encoded, timestamps as microseconds, the schema fanout's writer writes.
type salesParquetGo struct {
	OrderID   *int64   `parquet:"order_id,optional"`
	Region    *string  `parquet:"region,optional,dict"`
	Product   *string  `parquet:"product,optional,dict"`
	Quantity  *int64   `parquet:"quantity,optional"`
	Price     *float64 `parquet:"price,optional"`
	Discount  *float64 `parquet:"discount,optional"`
	OrderedAt *int64   `parquet:"ordered_at,optional,timestamp(microsecond)"`
}

// parquetGoOptions are fanout's writer settings in parquet-go's terms:
// the same zstd codec and level, DATA_PAGE_V2 pages of the same size, the
// same row-group row limit and dictionary cap.
func parquetGoOptions() []parquet.WriterOption {
	return []parquet.WriterOption{
		parquet.Compression(pageZstdCodec),
		parquet.DataPageVersion(2),
		parquet.PageBufferSize(pageBytes),
		parquet.MaxRowsPerRowGroup(DefaultRowGroupRows),
		parquet.DictionaryMaxBytes(dictionaryMaxBytes),
		parquet.CreatedBy("fanout", "", ""),
	}
}

// parquetGoBatch is how many rows each parquet-go call takes (the typed
// GenericWriter with batched slices is its fast path).
const parquetGoBatch = 1024

// writeParquetGoStructs writes rows with GenericWriter[salesParquetGo].Write,
// the typed path: the structs are built beforehand, so the figure is what
// parquet-go costs at best (fanout's schemas are only known at run time).
func writeParquetGoStructs(b testing.TB, w io.Writer, rows []salesParquetGo) {
	bw := bufio.NewWriterSize(w, writeBufferSize)
	pw := parquet.NewGenericWriter[salesParquetGo](bw, parquetGoOptions()...)
	for batch := range slices.Chunk(rows, parquetGoBatch) {
		if _, err := pw.Write(batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := pw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
}

// writeParquetGoRows writes rows with the same GenericWriter's WriteRows,
// converting each functions.Row to a parquet.Row in a reused batch: the
// path a writer of schemas known only at run time takes (fanout's writer
// before it encoded columns itself).
func writeParquetGoRows(b testing.TB, w io.Writer, schema *functions.Schema, rows []functions.Row) {
	bw := bufio.NewWriterSize(w, writeBufferSize)
	pw := parquet.NewGenericWriter[salesParquetGo](bw, parquetGoOptions()...)
	ncol := len(schema.Columns)
	vals := make([]parquet.Value, parquetGoBatch*ncol)
	batch := make([]parquet.Row, 0, parquetGoBatch)
	flush := func() {
		if _, err := pw.WriteRows(batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for _, row := range rows {
		n := len(batch)
		pr := parquet.Row(vals[n*ncol : (n+1)*ncol : (n+1)*ncol])
		for c, v := range row {
			var pv parquet.Value
			switch {
			case !v.Valid:
				pv = parquet.NullValue().Level(0, 0, c)
			case v.Type == functions.String:
				// No copy: parquet-go copies what it keeps (fanout's old writer did the same).
				pv = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(v.S), len(v.S))).Level(0, 1, c)
			case v.Type == functions.Float64:
				pv = parquet.DoubleValue(v.F).Level(0, 1, c)
			default:
				pv = parquet.Int64Value(v.I).Level(0, 1, c)
			}
			pr[c] = pv
		}
		batch = append(batch, pr)
		if len(batch) == parquetGoBatch {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	if err := pw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
}

// salesStructs converts sales rows (salesCSV's schema, no nulls) to
// parquet-go's structs.
func salesStructs(rows []functions.Row) []salesParquetGo {
	out := make([]salesParquetGo, len(rows))
	for i, r := range rows {
		out[i] = salesParquetGo{&r[0].I, &r[1].S, &r[2].S, &r[3].I, &r[4].F, &r[5].F, &r[6].I}
	}
	return out
}

// TestParquetGoWritesTheSameRows makes sure BenchmarkParquetWriterVsParquetGo
// compares equal work: each parquet-go path writes the same kind of file
// as fanout's writer (codec, page types and encodings of every column
// chunk) holding the sales rows, which fanout's reader reads back as
// fanout's writer wrote them.
func TestParquetGoWritesTheSameRows(t *testing.T) {
	data, schema := salesCSV(256 << 10)
	rows := salesRows(t, data, schema)
	var own, structs, generic bytes.Buffer
	writeParquetRows(t, &own, schema, func(write func(functions.Row)) {
		for _, r := range rows {
			write(r)
		}
	})
	writeParquetGoStructs(t, &structs, salesStructs(rows))
	writeParquetGoRows(t, &generic, schema, rows)
	want := readParquet(t, own.Bytes())
	if len(want) != len(rows) {
		t.Fatalf("fanout's file: %d rows, want %d", len(want), len(rows))
	}
	wantLayout := chunkLayout(t, own.Bytes())
	for name, data := range map[string][]byte{"GenericWriter.Write": structs.Bytes(), "GenericWriter.WriteRows": generic.Bytes()} {
		if got := chunkLayout(t, data); !slices.Equal(got, wantLayout) {
			t.Errorf("%s: column chunks\n%q\nwant fanout's\n%q", name, got, wantLayout)
		}
		got := readParquet(t, data)
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, want %d", name, len(got), len(want))
		}
		for i := range got {
			if !slices.EqualFunc(got[i].Row, want[i].Row, sameValue) {
				t.Fatalf("%s: row %d: got %v, want %v", name, i, got[i].Row, want[i].Row)
			}
		}
	}
}

// chunkLayout describes each column chunk of a Parquet file: path, codec,
// and the kinds of pages with their encodings (DATA_PAGE_V2, dictionary
// pages), so that two writers can be seen to write the same kind of file.
func chunkLayout(t *testing.T, data []byte) []string {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			var pages []string
			for _, st := range c.MetaData.EncodingStats {
				pages = append(pages, st.PageType.String()+"/"+st.Encoding.String())
			}
			slices.Sort(pages)
			out = append(out, fmt.Sprint(c.MetaData.PathInSchema, " ", c.MetaData.Codec, " ", slices.Compact(pages)))
		}
	}
	return out
}

// salesRows parses salesCSV output into rows.
func salesRows(t testing.TB, data []byte, schema *functions.Schema) []functions.Row {
	var rows []functions.Row
	eachCSVRow(t, data, schema, func(r functions.Row) { rows = append(rows, slices.Clone(r)) })
	return rows
}

// BenchmarkParquetWriterVsParquetGo writes the same 16 MiB of sales rows
// (about 290,000) as one Parquet file with fanout's writer and with
// parquet-go's GenericWriter: same schema, zstd at the same level,
// DATA_PAGE_V2 pages of 256 KiB, row groups of 131,072 rows, strings
// dictionary encoded. Rows are built beforehand for every writer; MB/s is
// of the CSV the rows came from. scripts/bench.sh prints the ratios.
// fanout's writer also computes page CRCs, which parquet-go does not.
// cpu-ms/op is the process's CPU time (user and system, the garbage
// collector's included) per file: on a machine shared with other work it
// varies far less than the wall time behind ns/op and MB/s.
func BenchmarkParquetWriterVsParquetGo(b *testing.B) {
	data, schema := salesCSV(16 << 20)
	rows := salesRows(b, data, schema)
	structs := salesStructs(rows)
	run := func(b *testing.B, write func(w io.Writer)) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		var out countingWriter
		cpu0 := processCPU(b)
		for b.Loop() {
			out.n = 0
			write(&out)
		}
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		b.ReportMetric(float64(out.n)/float64(len(data)), "out/in")
	}
	b.Run("writer=fanout", func(b *testing.B) {
		run(b, func(w io.Writer) {
			writeParquetRows(b, w, schema, func(write func(functions.Row)) {
				for _, r := range rows {
					write(r)
				}
			})
		})
	})
	b.Run("writer=parquet-go-structs", func(b *testing.B) {
		run(b, func(w io.Writer) { writeParquetGoStructs(b, w, structs) })
	})
	b.Run("writer=parquet-go-rows", func(b *testing.B) {
		run(b, func(w io.Writer) { writeParquetGoRows(b, w, schema, rows) })
	})
}

// processCPU returns the CPU time the process has used, in nanoseconds.
func processCPU(b testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
