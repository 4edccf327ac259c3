package codec

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

var allTypes = &functions.Schema{Columns: []functions.Column{
	{Name: "s", Type: functions.String},
	{Name: "n", Type: functions.Int64},
	{Name: "f", Type: functions.Float64},
	{Name: "b", Type: functions.Bool},
	{Name: "t", Type: functions.Timestamp},
}}

func sampleRows() []functions.Row {
	ts := functions.TimeValue(time.Date(2024, 5, 1, 12, 30, 0, 123456000, time.UTC))
	return []functions.Row{
		{sv("plain"), iv(1), fv(1.5), bv(true), ts},
		{sv("with, comma \"and\" quote\nnewline"), iv(-9223372036854775808), fv(math.Inf(1)), bv(false), functions.TimeValue(time.Unix(0, 0))},
		{sv(""), iv(0), fv(-0.25), bv(false), ts},
		{functions.Null(functions.String), functions.Null(functions.Int64), functions.Null(functions.Float64), functions.Null(functions.Bool), functions.Null(functions.Timestamp)},
		{sv("żółw 日本"), iv(math.MaxInt64), fv(1e300), bv(true), ts},
	}
}

func writeAll(t testing.TB, format string, schema *functions.Schema, rows []functions.Row, opts WriterOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, format, schema, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != int64(len(rows)) {
		t.Errorf("Rows() = %d, want %d", w.Rows(), len(rows))
	}
	return buf.Bytes()
}

func TestTextWriters(t *testing.T) {
	rows := []functions.Row{
		{sv("a,b"), iv(1), fv(0.5), bv(true), functions.TimeValue(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))},
		{sv(""), functions.Null(functions.Int64), fv(math.NaN()), bv(false), functions.Null(functions.Timestamp)},
		{functions.Null(functions.String), iv(-3), fv(2), bv(false), functions.Null(functions.Timestamp)},
	}
	tests := []struct {
		format string
		want   string
	}{
		{"jsonl", `{"s":"a,b","n":1,"f":0.5,"b":true,"t":"2024-01-02T03:04:05Z"}
{"s":"","n":null,"f":"NaN","b":false,"t":null}
{"s":null,"n":-3,"f":2.0,"b":false,"t":null}
`},
		{"csv", `s,n,f,b,t
"a,b",1,0.5,true,2024-01-02T03:04:05Z
"",,NaN,false,
,-3,2.0,false,
`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			got := string(writeAll(t, tt.format, allTypes, rows, WriterOptions{}))
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	t.Run("lines", func(t *testing.T) {
		s := &functions.Schema{Columns: []functions.Column{{Name: "line", Type: functions.String}}}
		got := string(writeAll(t, "lines", s, []functions.Row{{sv("a")}, {functions.Null(functions.String)}, {sv("b")}}, WriterOptions{}))
		if got != "a\n\nb\n" {
			t.Errorf("got %q", got)
		}
		if _, err := NewWriter(io.Discard, "lines", allTypes, WriterOptions{}); err == nil {
			t.Error("lines with five columns: nil error")
		}
	})
}

func TestWriterRejectsBadRows(t *testing.T) {
	for _, format := range []string{"parquet", "jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			w, err := NewWriter(io.Discard, format, allTypes, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(functions.Row{sv("x")}); err == nil {
				t.Error("short row: nil error")
			}
			bad := slices.Clone(sampleRows()[0])
			bad[1] = sv("not an int")
			if err := w.Write(bad); err == nil || !strings.Contains(err.Error(), `column "n"`) {
				t.Errorf("mistyped value: %v", err)
			}
		})
	}
}

// TestCSVWriterRoundTrip reads the CSV writer's output back with the
// reader.
func TestCSVWriterRoundTrip(t *testing.T) {
	rows := sampleRows()
	data := writeAll(t, "csv", allTypes, rows, WriterOptions{})
	in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "csv", End: -1, Schema: allTypes})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if !slices.Equal(r.Row, rows[i]) {
			t.Errorf("row %d: got %v, want %v", i, r.Row, rows[i])
		}
	}
}

func TestJSONLWriterRoundTrip(t *testing.T) {
	rows := sampleRows()
	rows[1][2] = fv(2.5) // JSON has no Inf
	data := writeAll(t, "jsonl", allTypes, rows, WriterOptions{})
	in, _ := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: allTypes})
	recs, err := readAll(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if !slices.Equal(r.Row, rows[i]) {
			t.Errorf("row %d: got %v, want %v", i, r.Row, rows[i])
		}
	}
}

func TestParquetRoundTrip(t *testing.T) {
	rows := sampleRows()
	for i := 0; i < 3000; i++ {
		rows = append(rows, functions.Row{sv(fmt.Sprint("k", i%7)), iv(int64(i)), fv(float64(i) / 3), bv(i%2 == 0), functions.Null(functions.Timestamp)})
	}
	for _, comp := range []string{"", "snappy", "none"} {
		t.Run("compression="+comp, func(t *testing.T) {
			data := writeAll(t, "parquet", allTypes, rows, WriterOptions{RowGroupRows: 1000, Compression: comp})
			schema, sizes, err := ParquetSchema(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if schema.String() != allTypes.String() {
				t.Errorf("schema %s, want %s", schema, allTypes)
			}
			if len(sizes) != 4 {
				t.Errorf("%d row groups, want 4 (1000 rows each)", len(sizes))
			}
			recs := readParquet(t, data)
			if len(recs) != len(rows) {
				t.Fatalf("%d rows, want %d", len(recs), len(rows))
			}
			for i, r := range recs {
				if !slices.Equal(r.Row, rows[i]) || r.Offset != int64(i) {
					t.Fatalf("row %d at %d: got %v, want %v", i, r.Offset, r.Row, rows[i])
				}
			}
		})
	}
	t.Run("row group range and projection", func(t *testing.T) {
		data := writeAll(t, "parquet", allTypes, rows, WriterOptions{RowGroupRows: 1000})
		proj := &functions.Schema{Columns: []functions.Column{
			{Name: "n", Type: functions.Float64}, // int read as float
			{Name: "missing", Type: functions.Int64},
			{Name: "b", Type: functions.String}, // bool read as text
		}}
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "p", FirstRowGroup: 1, LastRowGroup: 3, Schema: proj})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readAll(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2000 || recs[0].Offset != 1000 || recs[1999].Offset != 2999 {
			t.Fatalf("%d rows from %d to %d, want 2000 from 1000 to 2999", len(recs), recs[0].Offset, recs[len(recs)-1].Offset)
		}
		want := functions.Row{fv(float64(rows[1000][1].I)), functions.Null(functions.Int64), sv(rows[1000][3].Text())}
		if !slices.Equal(recs[0].Row, want) {
			t.Errorf("got %v, want %v", recs[0].Row, want)
		}
	})
	t.Run("bad row group range", func(t *testing.T) {
		data := writeAll(t, "parquet", allTypes, rows[:10], WriterOptions{})
		if _, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{FirstRowGroup: 1, LastRowGroup: 5}); err == nil {
			t.Error("nil error")
		}
	})
	t.Run("incompatible schema type", func(t *testing.T) {
		data := writeAll(t, "parquet", allTypes, rows[:10], WriterOptions{})
		s := &functions.Schema{Columns: []functions.Column{{Name: "s", Type: functions.Int64}}}
		if _, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Schema: s}); err == nil || !strings.Contains(err.Error(), `"s" is string`) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		data := writeAll(t, "parquet", allTypes, nil, WriterOptions{})
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if recs, err := readAll(in); err != nil || len(recs) != 0 {
			t.Errorf("got %v, %v", recs, err)
		}
	})
}

func TestParquetRowGroupBytes(t *testing.T) {
	s := &functions.Schema{Columns: []functions.Column{{Name: "s", Type: functions.String}}}
	big := strings.Repeat("x", 10_000)
	var rows []functions.Row
	for i := 0; i < 100; i++ {
		rows = append(rows, functions.Row{sv(big + fmt.Sprint(i))})
	}
	data := writeAll(t, "parquet", s, rows, WriterOptions{RowGroupBytes: 100_000})
	_, sizes, err := ParquetSchema(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) < 9 {
		t.Errorf("%d row groups, want about 10", len(sizes))
	}
	// Long strings make long page headers (their statistics): read back.
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(in)
	if err != nil || len(recs) != len(rows) || !slices.Equal(recs[99].Row, rows[99]) {
		t.Fatalf("%d rows, %v", len(recs), err)
	}
}

// BenchmarkParquetWriter reports rows/s for a five-column schema.
func BenchmarkParquetWriter(b *testing.B) {
	rows := make([]functions.Row, 4096)
	for i := range rows {
		rows[i] = functions.Row{sv(fmt.Sprint("key-", i%500)), iv(int64(i)), fv(float64(i) * 1.5), bv(i%3 == 0), functions.TimeValue(time.Unix(int64(i), 0))}
	}
	const perOp = 100_000
	b.ReportAllocs()
	for b.Loop() {
		w, err := NewWriter(io.Discard, "parquet", allTypes, WriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < perOp; i++ {
			if err := w.Write(rows[i%len(rows)]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkParquetInput(b *testing.B) {
	rows := make([]functions.Row, 100_000)
	for i := range rows {
		rows[i] = functions.Row{sv(fmt.Sprint("key-", i%500)), iv(int64(i)), fv(float64(i) * 1.5), bv(i%3 == 0), functions.TimeValue(time.Unix(int64(i), 0))}
	}
	data := writeAll(b, "parquet", allTypes, rows, WriterOptions{})
	b.ResetTimer()
	for b.Loop() {
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := in.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
