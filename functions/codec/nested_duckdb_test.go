package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// nestedJSONL generates n JSON lines with nulls at every level, empty
// lists, missing keys, maps (objects of more than 200 distinct keys
// across the sample), lists of lists, int and float mixed in one field,
// a column of conflicting shapes and field names that need quoting.
func nestedJSONL(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	var b bytes.Buffer
	first := true // the first record has every key, so that the inferred order is known
	pick := func(p float64) bool { return r.Float64() < p && !first }
	str := func() any {
		if pick(0.1) {
			return nil
		}
		return []string{"a", "b,c", `q"uote`, "ünï", "", "line\nbreak"}[r.IntN(6)]
	}
	for i := range n {
		rec := []kv{{"id", i}}
		if !pick(0.1) { // user missing in a tenth of the records
			var user any
			if !pick(0.1) {
				u := []kv{{"name", str()}}
				if !pick(0.3) {
					u = append(u, kv{"age", r.IntN(90)})
				}
				var tags any
				switch r.IntN(4) {
				case 0:
					tags = nil
				case 1:
					tags = []any{}
				default:
					ts := []any{}
					for range 1 + r.IntN(4) {
						ts = append(ts, str())
					}
					tags = ts
				}
				u = append(u, kv{"tags", tags})
				if !pick(0.2) {
					var addr any
					if !pick(0.2) {
						addr = obj{{"city", str()}, {"zip", r.IntN(99999)}}
					}
					u = append(u, kv{"addr", addr})
				}
				user = obj(u)
			}
			rec = append(rec, kv{"user", user})
		}
		var events any
		switch r.IntN(5) {
		case 0:
			events = nil
		case 1:
			events = []any{}
		default:
			es := []any{}
			for range 1 + r.IntN(3) {
				if pick(0.1) {
					es = append(es, nil)
					continue
				}
				var v any = r.IntN(1000)
				if pick(0.5) {
					v = json.Number(strconv.FormatFloat(float64(r.IntN(100000))/100, 'f', -1, 64))
				}
				es = append(es, obj{{"t", str()}, {"v", v}})
			}
			events = es
		}
		rec = append(rec, kv{"events", events})
		if !pick(0.2) {
			var attrs any
			if !pick(0.1) {
				a := obj{}
				for range r.IntN(4) {
					var v any = r.IntN(50)
					if pick(0.2) {
						v = nil
					}
					a = append(a, kv{fmt.Sprintf("k%03d", r.IntN(300)), v})
				}
				attrs = a
			}
			rec = append(rec, kv{"attrs", attrs})
		}
		var matrix any
		if !pick(0.1) {
			m := []any{}
			for range r.IntN(3) {
				row := []any{}
				for range r.IntN(3) {
					if pick(0.2) {
						row = append(row, nil)
					} else {
						row = append(row, r.IntN(10)-5)
					}
				}
				m = append(m, row)
			}
			matrix = m
		}
		rec = append(rec, kv{"matrix", matrix})
		var mixed any = r.IntN(10)
		if pick(0.3) {
			mixed = obj{{"a", r.IntN(10)}}
		}
		rec = append(rec, kv{"mixed", mixed})
		rec = append(rec, kv{"odd", obj{{"a b.c", r.IntN(3)}, {`"`, pick(0.5)}}})
		line, err := json.Marshal(obj(rec))
		if err != nil {
			panic(err)
		}
		b.Write(line)
		b.WriteByte('\n')
		first = false
	}
	return b.Bytes()
}

// kv and obj keep a generated JSON object's keys in order.
type kv struct {
	k string
	v any
}

type obj []kv

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

const nestedSchema = `id:int64,user:struct(name string, age int64, tags list(string), addr struct(city string, zip int64)),` +
	`events:list(struct(t string, v float64)),attrs:map(string, int64),matrix:list(list(int64)),mixed:string,` +
	`odd:struct("a b.c" int64, """" bool)`

// convertNested reads JSONL data with schema and writes it in format.
func convertNested(t *testing.T, data []byte, schema *functions.Schema, format string, opts WriterOptions) []byte {
	t.Helper()
	in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, format, schema, opts)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := in.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rec.Row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestNestedJSONLInference(t *testing.T) {
	data := nestedJSONL(3000, 1)
	s, err := inferJSONL(bytes.NewReader(data), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != nestedSchema {
		t.Errorf("inferred\n %s\nwant\n %s", got, nestedSchema)
	}
	// Few records: an all-empty list is a list of strings, an object never
	// holding a key a map, a column of nulls a string.
	s, err = inferJSONL(strings.NewReader(`{"a":[],"b":{},"c":null,"d":[1,2.5],"e":[{"x":1},{"y":[true]}],"f":{"g":[[{}]]}}`+"\n"+`{"a":null,"d":[null]}`), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), `a:list(string),b:map(string, string),c:string,d:list(float64),e:list(struct(x int64, y list(bool))),f:struct(g list(list(map(string, string))))`; got != want {
		t.Errorf("inferred %s, want %s", got, want)
	}
}

// TestNestedJSONLToJSONL reads generated nested JSONL and writes it back:
// every value is the one read (a missing key is a null, the column of
// conflicting shapes holds each value's JSON text, counted per column),
// and writing the output again gives the same bytes.
func TestNestedJSONLToJSONL(t *testing.T) {
	data := nestedJSONL(3000, 2)
	schema, err := functions.ParseSchema(nestedSchema)
	if err != nil {
		t.Fatal(err)
	}
	out := convertNested(t, data, schema, "jsonl", WriterOptions{})
	in, out2 := strings.Split(strings.TrimSpace(string(data)), "\n"), strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(in) != len(out2) {
		t.Fatalf("%d lines in, %d out", len(in), len(out2))
	}
	for i := range in {
		a, b := decodeNumbers(t, in[i]), decodeNumbers(t, out2[i])
		a["mixed"] = compactJSON(t, a["mixed"])
		if !reflect.DeepEqual(dropNulls(a), dropNulls(b)) {
			t.Fatalf("line %d:\n in %s\nout %s", i+1, in[i], out2[i])
		}
	}
	if again := convertNested(t, out, schema, "jsonl", WriterOptions{}); !bytes.Equal(again, out) {
		t.Errorf("JSONL written again differs")
	}
	// The drift counts: every object of mixed was kept as JSON text.
	rd, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := rd.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	want := int64(strings.Count(string(data), `"mixed":{`))
	if got := rd.(DriftInput).Drift().AsJSON; got["mixed"] != want || len(got) != 1 {
		t.Errorf("AsJSON = %v, want mixed: %d", got, want)
	}
}

// decodeNumbers decodes a JSON object, numbers as float64 of their text
// (1 and 1.0 are one value).
func decodeNumbers(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return m
}

func compactJSON(t *testing.T, v any) any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dropNulls removes null members of objects at every level: a missing
// key and a null are one value.
func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e != nil {
				out[k] = dropNulls(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = dropNulls(e)
		}
		return out
	}
	return v
}

// duckType spells a column's type as DuckDB does.
func duckType(c functions.Column) string {
	switch c.Type.Kind() {
	case functions.KindList:
		return duckType(c.Elem()) + "[]"
	case functions.KindMap:
		return "MAP(" + duckType(c.MapKey()) + ", " + duckType(c.MapValue()) + ")"
	case functions.KindStruct:
		parts := make([]string, len(c.Fields))
		for i, f := range c.Fields {
			parts[i] = `"` + strings.ReplaceAll(f.Name, `"`, `""`) + `" ` + duckType(f)
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	}
	return map[functions.Type]string{functions.Int64: "BIGINT", functions.String: "VARCHAR", functions.Float64: "DOUBLE", functions.Bool: "BOOLEAN"}[c.Type]
}

// TestNestedJSONLToParquetMatchesDuckDB converts generated nested JSONL to
// Parquet (several row groups and pages) and has DuckDB read both: the
// Parquet file's columns are STRUCT, LIST and MAP of the schema's types,
// and its rows are the rows DuckDB reads from the JSONL itself with the
// same column types (EXCEPT ALL empty both ways).
func TestNestedJSONLToParquetMatchesDuckDB(t *testing.T) {
	data := nestedJSONL(20000, 3)
	schema, err := inferJSONL(bytes.NewReader(data), 10000, true)
	if err != nil {
		t.Fatal(err)
	}
	if schema.String() != nestedSchema {
		t.Fatalf("inferred %s", schema)
	}
	dir := t.TempDir()
	for _, codec := range []string{"zstd", "snappy"} {
		pq := convertNested(t, data, schema, "parquet", WriterOptions{RowGroupRows: 3000, Compression: codec})
		if err := os.WriteFile(filepath.Join(dir, codec+".parquet"), pq, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var cols, names []string
	for _, c := range schema.Columns {
		cols = append(cols, fmt.Sprintf("%q: '%s'", c.Name, strings.ReplaceAll(duckType(c), "'", "''")))
		names = append(names, strconv.Quote(c.Name))
	}
	js := fmt.Sprintf("SELECT %s FROM read_json('%s', format='newline_delimited', columns={%s})", strings.Join(names, ", "), filepath.Join(dir, "in.jsonl"), strings.Join(cols, ", "))
	for _, codec := range []string{"zstd", "snappy"} {
		pq := fmt.Sprintf("SELECT %s FROM read_parquet('%s')", strings.Join(names, ", "), filepath.Join(dir, codec+".parquet"))
		out := duckDB(t, fmt.Sprintf(`SELECT (SELECT count(*) FROM (%s EXCEPT ALL %s)) AS a, (SELECT count(*) FROM (%s EXCEPT ALL %s)) AS b, (SELECT count(*) FROM (%s)) AS n,
			(SELECT string_agg(column_type, '|' ORDER BY column_name) FROM (DESCRIBE %s)) AS types`, js, pq, pq, js, pq, pq))
		var res []struct {
			A, B, N string
			Types   string
		}
		if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
			t.Fatalf("duckdb: %s (%v)", out, err)
		}
		if res[0].A != "0" || res[0].B != "0" || res[0].N != "20000" {
			t.Errorf("%s: JSONL except Parquet %s rows, Parquet except JSONL %s, Parquet rows %s (want 0, 0, 20000)", codec, res[0].A, res[0].B, res[0].N)
		}
		for _, want := range []string{"MAP(VARCHAR, BIGINT)", "BIGINT[][]", "STRUCT(t VARCHAR, v DOUBLE)[]", `STRUCT("a b.c" BIGINT, """" BOOLEAN)`} {
			if !strings.Contains(res[0].Types, want) {
				t.Errorf("%s: DuckDB's types %s lack %s", codec, res[0].Types, want)
			}
		}
	}
}

// BenchmarkNestedJSONLToParquet: the generated nested JSONL of the tests
// read with its schema and written as Parquet.
func BenchmarkNestedJSONLToParquet(b *testing.B) {
	data := nestedJSONL(40000, 5)
	schema, err := functions.ParseSchema(nestedSchema)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		w, err := NewWriter(io.Discard, "parquet", schema, WriterOptions{})
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
			if err := w.Write(rec.Row); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
