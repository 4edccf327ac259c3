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
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/fanout-dev/fanout/functions"
)

// nestedJSON renders a value of column c as DuckDB's to_json does
// (structs and maps as objects, map keys as text, timestamps as DuckDB
// prints them), for a comparison independent of fanout's JSON writer.
func nestedJSON(c functions.Column, x functions.Value) any {
	if !x.Valid {
		return nil
	}
	items := x.Items()
	switch c.Type.Kind() {
	case functions.KindList:
		out := make([]any, len(items))
		for i, e := range items {
			out[i] = nestedJSON(c.Elem(), e)
		}
		return out
	case functions.KindStruct:
		out := map[string]any{}
		for i, f := range c.Fields {
			out[f.Name] = nestedJSON(f, items[i])
		}
		return out
	case functions.KindMap:
		out := map[string]any{}
		for i := 0; i < len(items); i += 2 {
			out[items[i].Text()] = nestedJSON(c.MapValue(), items[i+1])
		}
		return out
	}
	switch {
	case x.Type == functions.Bool:
		return x.I != 0
	case x.Type.IsNumeric():
		return json.Number(x.Text())
	case x.Type.Kind() == functions.KindTimestamp:
		return strings.TrimSuffix(strings.Replace(x.Text(), "T", " ", 1), "Z")
	}
	return x.Text()
}

var nestedCorpus = []string{
	"data/datapage_v2.snappy.parquet",
	"data/incorrect_map_schema.parquet",
	"data/list_columns.parquet",
	"data/nested_lists.snappy.parquet",
	"data/null_list.parquet",
	"data/nested_maps.snappy.parquet",
	"data/nested_structs.rust.parquet",
	"data/nonnullable.impala.parquet",
	"data/nullable.impala.parquet",
	"data/nulls.snappy.parquet",
	"data/old_list_structure.parquet",
	"data/repeated_no_annotation.parquet",
	"data/repeated_primitive_no_list.parquet",
}

// TestParquetNestedRefusals: nested files of the corpus that are
// refused, each for its reason.
func TestParquetNestedRefusals(t *testing.T) {
	for f, want := range map[string]string{
		// The repetition levels of its list start at 1 (bad_data).
		"bad_data/ARROW-GH-45185.parquet": "starts with repetition level 1, not a new row",
		// A page of 1 GiB, more than a page may hold in fanout by default
		// (TestParquetLargeStringMap reads it with max_page_size=2GiB).
		"data/large_string_map.brotli.parquet": "unsupported Parquet feature: page at 4 claims 1627 bytes (1073741828 uncompressed), more than the 268435456 allowed (a page is held whole in memory; raise it with --arg max_page_size=2GiB)",
		// Its page holds 21 levels where its column chunk claims 1
		// value (bad_data).
		"bad_data/ARROW-RS-GH-6229-LEVELS.parquet": "pages hold 21 values, the chunk claims 1",
	} {
		data, err := os.ReadFile(filepath.Join("../../testdata/parquet-testing", f))
		if err != nil {
			t.Fatal(err)
		}
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: f})
		if err == nil {
			_, err = readAll(in)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error saying %q", f, err, want)
		}
	}
}

// TestParquetNestedAssemblyVsDuckDB assembles every nested file of the
// corpus from its levels and compares each row with DuckDB's to_json of
// the same row.
func TestParquetNestedAssemblyVsDuckDB(t *testing.T) {
	dir, _ := filepath.Abs("../../testdata/parquet-testing")
	for _, f := range nestedCorpus {
		t.Run(f, func(t *testing.T) {
			compareNestedWithDuckDB(t, filepath.Join(dir, f))
		})
	}
}

// compareNestedWithDuckDB reads the file at path with nested columns
// and compares every row with DuckDB's to_json of it.
func compareNestedWithDuckDB(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: filepath.Base(path)})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for {
		rec, err := in.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		row := map[string]any{}
		for i, c := range in.Schema().Columns {
			row[c.Name] = nestedJSON(c, rec.Row[i])
		}
		got = append(got, row)
	}
	out := duckDB(t, "SELECT to_json(_row)::VARCHAR AS j FROM read_parquet('"+path+"') _row")
	var rows []struct{ J string }
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(got) {
		t.Fatalf("%d rows, DuckDB %d", len(got), len(rows))
	}
	bad := 0
	for i := range rows {
		var want any
		if err := json.Unmarshal([]byte(rows[i].J), &want); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(got[i])
		var g any
		_ = json.Unmarshal(b, &g)
		if reflect.DeepEqual(g, want) {
			continue
		}
		if bad++; bad > 5 {
			t.Fatalf("more rows differ")
		}
		wm, ok := want.(map[string]any)
		if !ok {
			t.Errorf("row %d: got %s, want %s", i, b, rows[i].J)
			continue
		}
		for k, wv := range wm {
			if gv := g.(map[string]any)[k]; !reflect.DeepEqual(gv, wv) {
				t.Errorf("row %d column %s: got %v, want %v", i, k, gv, wv)
			}
		}
	}
}

type genInner struct {
	A *int64   `parquet:"a,optional"`
	B []string `parquet:"b,list"`
}

type genRow struct {
	ID int64             `parquet:"id"`
	L  []int32           `parquet:"l,list"`
	LL [][]int32         `parquet:"ll,list"`
	M  map[string]*int64 `parquet:"m"`
	S  *genInner         `parquet:"s,optional"`
	R  []genInner        `parquet:"r"`
	T  *string           `parquet:"t,optional"`
}

// TestParquetNestedGenerated writes random nested rows (lists of lists,
// maps with null values, optional structs holding lists, repeated
// groups, empty lists and maps, nulls) in small pages of V1 and of V2,
// in row groups bigger than a batch, and compares each row with DuckDB.
func TestParquetNestedGenerated(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	ptr := func(v int64) *int64 { return &v }
	rows := make([]genRow, 5000)
	for i := range rows {
		r := &rows[i]
		r.ID = int64(i)
		for range rnd.IntN(4) {
			r.L = append(r.L, rnd.Int32N(100))
		}
		for range rnd.IntN(3) {
			var inner []int32
			for range rnd.IntN(3) {
				inner = append(inner, rnd.Int32N(10))
			}
			r.LL = append(r.LL, inner)
		}
		if rnd.IntN(4) > 0 {
			r.M = map[string]*int64{}
			for j := range rnd.IntN(3) {
				var v *int64
				if rnd.IntN(3) > 0 {
					v = ptr(rnd.Int64())
				}
				r.M[fmt.Sprint("k", j)] = v
			}
		}
		if rnd.IntN(3) > 0 {
			r.S = &genInner{}
			if rnd.IntN(2) > 0 {
				r.S.A = ptr(int64(i))
			}
			for range rnd.IntN(3) {
				r.S.B = append(r.S.B, strings.Repeat("x", rnd.IntN(5)))
			}
		}
		for range rnd.IntN(3) {
			r.R = append(r.R, genInner{B: []string{fmt.Sprint(i)}})
		}
		if rnd.IntN(2) > 0 {
			s := fmt.Sprint("t", i)
			r.T = &s
		}
	}
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			var buf bytes.Buffer
			w := parquet.NewGenericWriter[genRow](&buf, parquet.PageBufferSize(300), parquet.MaxRowsPerRowGroup(2500), parquet.DataPageVersion(version))
			if _, err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "gen.parquet")
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			compareNestedWithDuckDB(t, path)
		})
	}
}

type bigListRow struct {
	ID int64   `parquet:"id"`
	L  []int32 `parquet:"l,list"`
}

// TestParquetNestedBigRowsShrinkBatches: rows of 1,000 elements make the
// reader decode fewer rows a batch (maxBatchEntries), and every row still
// reads back as written.
func TestParquetNestedBigRowsShrinkBatches(t *testing.T) {
	rows := make([]bigListRow, 3000)
	for i := range rows {
		rows[i].ID = int64(i)
		rows[i].L = make([]int32, 1000)
		for j := range rows[i].L {
			rows[i].L[j] = int32(i ^ j)
		}
	}
	data := writeStructs(t, rows)
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "big"})
	if err != nil {
		t.Fatal(err)
	}
	smallest := parquetBatch
	for i := 0; ; i++ {
		rec, err := in.Next()
		if err == io.EOF {
			if i != len(rows) {
				t.Fatalf("%d rows, want %d", i, len(rows))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		smallest = min(smallest, in.(*parquetInput).batchRows)
		items := rec.Row[1].Items()
		if rec.Row[0].I != int64(i) || len(items) != 1000 || items[999].I != int64(i^999) {
			t.Fatalf("row %d: id %v, %d items", i, rec.Row[0], len(items))
		}
	}
	if smallest > maxBatchEntries/1000 {
		t.Errorf("batches of %d rows at the smallest, want at most %d", smallest, maxBatchEntries/1000)
	}
}
