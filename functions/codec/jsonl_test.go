package codec

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

func TestJSONLInput(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{
		{Name: "s", Type: functions.String},
		{Name: "n", Type: functions.Int64},
		{Name: "f", Type: functions.Float64},
		{Name: "b", Type: functions.Bool},
		{Name: "t", Type: functions.Timestamp},
	}}
	null := func(tp functions.Type) functions.Value { return functions.Null(tp) }
	ts := functions.TimeValue(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	allNull := functions.Row{null(functions.String), null(functions.Int64), null(functions.Float64), null(functions.Bool), null(functions.Timestamp)}
	with := func(i int, v functions.Value) functions.Row {
		r := slices.Clone(allNull)
		r[i] = v
		return r
	}
	tests := []struct {
		name    string
		line    string
		want    functions.Row
		wantErr string
	}{
		{"all types", `{"s":"x","n":42,"f":1.5,"b":true,"t":"2024-05-01T12:00:00Z"}`, functions.Row{sv("x"), iv(42), fv(1.5), bv(true), ts}, ""},
		{"missing keys null, unknown ignored", `{"zzz":[1,2,{"a":"}"}],"n":7}`, with(1, iv(7)), ""},
		{"explicit null", `{"s":null}`, allNull, ""},
		{"nested into string is compact json", `{"s": { "a" : [1, 2] } }`, with(0, sv(`{"a":[1,2]}`)), ""},
		{"number into string is its text", `{"s":1e3}`, with(0, sv("1e3")), ""},
		{"escapes", `{"s":"a\"b\u00e9\n"}`, with(0, sv("a\"bé\n")), ""},
		{"escaped key", `{"\u0073":"k"}`, with(0, sv("k")), ""},
		{"duplicate key last wins", `{"n":1,"n":2}`, with(1, iv(2)), ""},
		{"integral exponent into int", `{"n":1e3}`, with(1, iv(1000)), ""},
		{"integral decimal into int", `{"n":10.0}`, with(1, iv(10)), ""},
		{"quoted number into int", `{"n":"12"}`, with(1, iv(12)), ""},
		{"int into float", `{"f":3}`, with(2, fv(3)), ""},
		{"date only", `{"t":"2024-05-01"}`, with(4, functions.TimeValue(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC))), ""},
		{"empty object", `{}`, allNull, ""},
		{"fraction into int", `{"n":1.5}`, nil, `column "n": "1.5" is not an integer in int64 range`},
		{"int out of range", `{"n":9223372036854775808}`, nil, "not an integer in int64 range"},
		{"huge exponent", `{"n":1e999999999}`, nil, "not an integer"},
		{"float out of range", `{"f":1e400}`, nil, "out of float64 range"},
		{"bool from number", `{"b":1}`, nil, `column "b"`},
		{"array is not an object", `[1,2]`, nil, "not a JSON object"},
		{"invalid json", `{"s":}`, nil, "invalid JSON"},
		{"trailing garbage", `{"s":"x"} x`, nil, "invalid JSON"},
		{"invalid utf8", "{\"s\":\"\xff\"}", nil, "not valid UTF-8"},
		{"timestamp as number", `{"t":17}`, nil, "is not a timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := NewInput(strings.NewReader(tt.line+"\n"), InputOptions{Format: "jsonl", Object: "j", End: -1, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			r, err := in.Next()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || asRecordError(err) == nil {
					t.Fatalf("got %v, %v; want a RecordError containing %q", r, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Row, tt.want) {
				t.Errorf("got %v, want %v", r.Row, tt.want)
			}
			if string(r.Raw) != tt.line {
				t.Errorf("raw %q, want %q", r.Raw, tt.line)
			}
		})
	}
}

func TestJSONLBlankLinesAndOffsets(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "a", Type: functions.Int64}}}
	data := "\xef\xbb\xbf{\"a\":1}\n\n  \r\n{\"a\":2}\r\n{\"a\":3}"
	in, _ := NewInput(strings.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
	recs, err := readAll(in)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	var vals []int64
	for _, r := range recs {
		offs = append(offs, r.Offset)
		vals = append(vals, r.Row[0].I)
	}
	if !slices.Equal(vals, []int64{1, 2, 3}) || !slices.Equal(offs, []int64{0, 16, 25}) {
		t.Errorf("values %v at %v, want [1 2 3] at [0 16 25]", vals, offs)
	}
}

func TestJSONLOwnershipProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	schema := &functions.Schema{Columns: []functions.Column{{Name: "i", Type: functions.Int64}, {Name: "s", Type: functions.String}}}
	var b bytes.Buffer
	for i := 0; i < 500; i++ {
		if rng.IntN(8) == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, `{"i":%d,"s":%q}`+"\n", i, strings.Repeat("x\n", rng.IntN(100)))
	}
	data := b.Bytes()
	opts := InputOptions{Format: "jsonl", Schema: schema}
	whole, err := readAll(chunkInput(t, data, opts, 0, -1))
	if err != nil || len(whole) != 500 {
		t.Fatalf("%d records, %v", len(whole), err)
	}
	for k := 0; k < 100; k++ {
		cuts := randomCuts(rng, int64(len(data)), 1+rng.IntN(40))
		got, err := readChunks(t, data, opts, cuts)
		if err != nil {
			t.Fatal(err)
		}
		if !equalRecs(got, whole) {
			t.Fatalf("cuts %v: %d records, want %d", cuts, len(got), len(whole))
		}
	}
}

func FuzzJSONLReader(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":"x","c":[1,{"d":null}]}` + "\n" + `{"a":1e5}`))
	f.Add([]byte("{\"b\":\"\\u00e9\\\"\"}\r\n\n{}"))
	f.Add([]byte(`{"a":-0.0e-0,"t":"2024-01-01 10:00:00.5"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		schema := &functions.Schema{Columns: []functions.Column{
			{Name: "a", Type: functions.Int64}, {Name: "b", Type: functions.String},
			{Name: "c", Type: functions.String}, {Name: "f", Type: functions.Float64},
			{Name: "t", Type: functions.Timestamp}, {Name: "x", Type: functions.Bool}}}
		in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", Object: "fuzz", End: -1, Schema: schema, MaxRecordBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(data)+1; i++ {
			_, err := in.Next()
			if err == io.EOF {
				return
			}
			if err != nil && asRecordError(err) == nil {
				t.Fatalf("error %v is not a RecordError", err)
			}
		}
		t.Fatal("no end")
	})
}

func BenchmarkJSONLInput(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; buf.Len() < 16<<20; i++ {
		fmt.Fprintf(&buf, `{"id":%d,"name":"name %d","score":%d.5,"ok":true,"extra":{"a":[1,2,3]}}`+"\n", i, i, i%1000)
	}
	schema := &functions.Schema{Columns: []functions.Column{
		{Name: "id", Type: functions.Int64}, {Name: "name", Type: functions.String},
		{Name: "score", Type: functions.Float64}, {Name: "ok", Type: functions.Bool}}}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		in, _ := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
		for {
			if _, err := in.Next(); err != nil {
				break
			}
		}
	}
}
