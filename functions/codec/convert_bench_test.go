package codec

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// salesCSV returns about size bytes of the sales-like CSV scripts/gen
// writes (the bench's CSV to Parquet workload), and its schema.
func salesCSV(size int) ([]byte, *functions.Schema) {
	var buf bytes.Buffer
	buf.WriteString("order_id,region,product,quantity,price,discount,ordered_at\n")
	regions := []string{"us-east", "us-west", "eu-west", "eu-central", "ap-south", "ap-northeast", "sa-east", "af-south"}
	r := rand.New(rand.NewPCG(1, 2))
	id := r.Int64N(1 << 40)
	for buf.Len() < size {
		id++
		fmt.Fprintf(&buf, "%d,%s,p%04d,%d,%.2f,%.2f,2026-%02d-%02dT%02d:%02d:%02dZ\n", id, regions[r.IntN(len(regions))],
			r.IntN(5000), 1+r.IntN(20), float64(r.IntN(50000))/100, float64(r.IntN(30))/100, 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
	}
	return buf.Bytes(), &functions.Schema{Columns: []functions.Column{
		{Name: "order_id", Type: functions.Int64}, {Name: "region", Type: functions.String},
		{Name: "product", Type: functions.String}, {Name: "quantity", Type: functions.Int64},
		{Name: "price", Type: functions.Float64}, {Name: "discount", Type: functions.Float64},
		{Name: "ordered_at", Type: functions.Timestamp}}}
}

// eachCSVRow parses data as CSV laid out as schema and calls fn per row.
func eachCSVRow(b testing.TB, data []byte, schema *functions.Schema, fn func(functions.Row)) {
	in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "csv", End: -1, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	for {
		rec, err := in.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
		fn(rec.Row)
	}
}

// writeParquetRows writes rows as one Parquet file to w.
func writeParquetRows(b testing.TB, w io.Writer, schema *functions.Schema, each func(func(functions.Row))) {
	pw, err := NewWriter(w, "parquet", schema, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	each(func(row functions.Row) {
		if err := pw.Write(row); err != nil {
			b.Fatal(err)
		}
	})
	if err := pw.Close(); err != nil {
		b.Fatal(err)
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkCSVToParquet parses sales-like CSV into typed rows and writes
// them as one Parquet file (the per-partition work of convert); out/in is
// the size of the Parquet file over the CSV's.
func BenchmarkCSVToParquet(b *testing.B) {
	data, schema := salesCSV(16 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var out countingWriter
	for b.Loop() {
		out.n = 0
		writeParquetRows(b, &out, schema, func(write func(functions.Row)) { eachCSVRow(b, data, schema, write) })
	}
	b.ReportMetric(float64(out.n)/float64(len(data)), "out/in")
}

// BenchmarkCSVParseSales is the parsing half of BenchmarkCSVToParquet.
func BenchmarkCSVParseSales(b *testing.B) {
	data, schema := salesCSV(16 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		eachCSVRow(b, data, schema, func(functions.Row) {})
	}
}

// BenchmarkParquetWriteSales is the writing half of BenchmarkCSVToParquet.
func BenchmarkParquetWriteSales(b *testing.B) {
	data, schema := salesCSV(16 << 20)
	rows := salesRows(b, data, schema)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var out countingWriter
	for b.Loop() {
		out.n = 0
		writeParquetRows(b, &out, schema, func(write func(functions.Row)) {
			for _, r := range rows {
				write(r)
			}
		})
	}
	b.ReportMetric(float64(out.n)/float64(len(data)), "out/in")
}
