package codec

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// eventsSchema and eventsJSONL are scripts/gen's events kind (bench.sh's
// nested JSONL to Parquet row against DuckDB): a struct holding a list and
// a struct (sometimes null), a list of structs (sometimes empty or null),
// a map of a few attributes, nulls inside. The generator is repeated here
// (scripts/gen is a command) so that the benchmark profiles the bench's
// shape of data.
const eventsSchema = "id:int64,ts:string,user:struct(id int64, name string, tags list(string), geo struct(country string, lat float64, lon float64))," +
	"items:list(struct(sku string, qty int64, price float64)),attrs:map(string, string)"

func eventsJSONL(size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	regions := []string{"us-east", "us-west", "eu-west", "eu-central", "ap-south", "ap-northeast", "sa-east", "af-south"}
	keys := []string{"browser", "os", "campaign", "ref", "lang", "plan"}
	vals := []string{"chrome", "linux", "spring-sale", "newsletter", "en", "pro", "de", "free"}
	var b bytes.Buffer
	id := r.Int64N(1 << 40)
	for b.Len() < size {
		id++
		fmt.Fprintf(&b, `{"id":%d,"ts":"2026-%02d-%02dT%02d:%02d:%02dZ","user":`, id, 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
		if r.IntN(20) == 0 {
			b.WriteString("null")
		} else {
			fmt.Fprintf(&b, `{"id":%d,"name":"user%d","tags":[`, r.IntN(1e6), r.IntN(1e5))
			for i := range r.IntN(4) {
				if i > 0 {
					b.WriteByte(',')
				}
				if r.IntN(10) == 0 {
					b.WriteString("null")
				} else {
					fmt.Fprintf(&b, `"t%d"`, r.IntN(50))
				}
			}
			b.WriteString(`],"geo":`)
			if r.IntN(5) == 0 {
				b.WriteString("null")
			} else {
				fmt.Fprintf(&b, `{"country":"%s","lat":%.4f,"lon":%.4f}`, regions[r.IntN(len(regions))], r.Float64()*180-90, r.Float64()*360-180)
			}
			b.WriteByte('}')
		}
		b.WriteString(`,"items":`)
		if r.IntN(10) == 0 {
			b.WriteString("null")
		} else {
			b.WriteByte('[')
			for i := range r.IntN(5) {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"sku":"p%04d","qty":%d,"price":%.2f}`, r.IntN(5000), 1+r.IntN(9), math.Round(r.Float64()*50000)/100)
			}
			b.WriteByte(']')
		}
		b.WriteString(`,"attrs":{`)
		for i, k := range r.Perm(len(keys))[:r.IntN(4)] {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%s":"%s"`, keys[k], vals[r.IntN(len(vals))])
		}
		b.WriteString("}}\n")
	}
	return b.Bytes()
}

// BenchmarkEventsJSONLToParquet reads 16 MiB of gen events with their
// schema and writes them as one Parquet file, as convert does per chunk
// (records borrowed where the reader lends them); read and write are its
// halves. cpu-ms/op is the process's CPU time per 16 MiB (steadier than
// wall time on a shared machine; see BenchmarkParquetWriterVsParquetGo).
func BenchmarkEventsJSONLToParquet(b *testing.B) {
	data := eventsJSONL(16 << 20)
	schema, err := functions.ParseSchema(eventsSchema)
	if err != nil {
		b.Fatal(err)
	}
	next := func(in functions.Input) func() (*functions.Record, error) {
		if bi, ok := in.(functions.BorrowingInput); ok {
			return bi.NextBorrowed
		}
		return in.Next
	}
	each := func(fn func(functions.Row)) {
		in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		read := next(in)
		for {
			rec, err := read()
			if err == io.EOF {
				return
			}
			if err != nil {
				b.Fatal(err)
			}
			fn(rec.Row)
		}
	}
	measure := func(b *testing.B, fn func()) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		cpu0 := processCPU(b)
		for b.Loop() {
			fn()
		}
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	}
	b.Run("convert", func(b *testing.B) {
		measure(b, func() { writeParquetRows(b, io.Discard, schema, each) })
	})
	b.Run("read", func(b *testing.B) {
		measure(b, func() { each(func(functions.Row) {}) })
	})
	b.Run("write", func(b *testing.B) {
		// Rows read with Next (owned) and kept, then written.
		var rows []functions.Row
		in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := in.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, append(functions.Row(nil), rec.Row...))
		}
		var out countingWriter
		measure(b, func() {
			out.n = 0
			writeParquetRows(b, &out, schema, func(fn func(functions.Row)) {
				for _, r := range rows {
					fn(r)
				}
			})
		})
		b.ReportMetric(float64(out.n)/float64(len(data)), "out/in")
	})
}
