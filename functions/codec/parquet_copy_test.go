package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/fanout-dev/fanout/functions"
)

// mergePart is one input of mergeParquet: a Parquet file appended with
// CopyRowGroups, or (rows set, data nil) rows written one by one.
type mergePart struct {
	data []byte
	rows []functions.Row
}

// mergeParquet writes parts into one Parquet file of schema with opts;
// every copy must succeed.
func mergeParquet(t *testing.T, schema *functions.Schema, opts WriterOptions, parts ...mergePart) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "parquet", schema, opts)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for i, p := range parts {
		if p.data == nil {
			for _, r := range p.rows {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			want += int64(len(p.rows))
			continue
		}
		src, err := OpenParquetRowGroups(bytes.NewReader(p.data), int64(len(p.data)), fmt.Sprint("part", i))
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		n, err := w.(RowGroupCopier).CopyRowGroups(src)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if n != src.Rows() {
			t.Fatalf("part %d: copied %d rows, the file holds %d", i, n, src.Rows())
		}
		want += n
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != want {
		t.Errorf("Rows() = %d, want %d", w.Rows(), want)
	}
	return buf.Bytes()
}

// rowGroupsOf reads a file's row groups with parquet-go (the second
// reader): their rows, and each column chunk's statistics.
func rowGroupsOf(t *testing.T, data []byte) (rows []int64, stats []string) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range f.Metadata().RowGroups {
		rows = append(rows, rg.NumRows)
		var s []string
		for _, cc := range rg.Columns {
			st := cc.MetaData.Statistics
			s = append(s, fmt.Sprintf("%x/%x/%d/%d", st.MinValue, st.MaxValue, st.NullCount, cc.MetaData.NumValues))
		}
		stats = append(stats, strings.Join(s, " "))
	}
	return rows, stats
}

// duckSame has DuckDB compare the rows of merged with those of parts read
// as one table, both ways (EXCEPT ALL), and count merged's rows; cols
// selects the columns (to_json of a nested one compares it whole).
func duckSame(t *testing.T, cols string, merged []byte, parts ...[]byte) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return "'" + p + "'"
	}
	m := write("merged.parquet", merged)
	var ps []string
	for i, p := range parts {
		ps = append(ps, write(fmt.Sprintf("p%d.parquet", i), p))
	}
	a := fmt.Sprintf("SELECT %s FROM read_parquet(%s)", cols, m)
	b := fmt.Sprintf("SELECT %s FROM read_parquet([%s])", cols, strings.Join(ps, ", "))
	out := duckDB(t, fmt.Sprintf(`SELECT (SELECT count(*) FROM (%s EXCEPT ALL %s)) AS a, (SELECT count(*) FROM (%s EXCEPT ALL %s)) AS b,
		(SELECT count(*) FROM (%s)) AS n, (SELECT count(*) FROM (%s)) AS want`, a, b, b, a, a, b))
	var res []struct{ A, B, N, Want string }
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		t.Fatalf("duckdb: %s (%v)", out, err)
	}
	if r := res[0]; r.A != "0" || r.B != "0" || r.N != r.Want {
		t.Errorf("DuckDB: merged except parts %s rows, parts except merged %s, merged %s rows, parts %s; want 0, 0 and equal counts", r.A, r.B, r.N, r.Want)
	}
}

// TestCopyRowGroupsFlat appends two files' row groups to a writer, with
// rows written between them: the merged file reads back as the rows of
// the parts in order (this package's reader), holds each copied row group
// as it was (parquet-go's reading of rows and statistics), and DuckDB
// finds the same rows in it as in the parts. The rows take every path of
// the writer: dictionaries (each part's own), plain fallback, nulls in
// runs, NaN, zeros of both signs, a long string without statistics.
func TestCopyRowGroupsFlat(t *testing.T) {
	rows := encoderRows(30_000)
	a := writeAll(t, "parquet", encoderSchema, rows[:12_000], WriterOptions{RowGroupRows: 5000})
	c := writeAll(t, "parquet", encoderSchema, rows[20_000:], WriterOptions{RowGroupRows: 4000})
	merged := mergeParquet(t, encoderSchema, WriterOptions{RowGroupRows: 8000},
		mergePart{data: a}, mergePart{rows: rows[12_000:20_000]}, mergePart{data: c})

	recs := readParquet(t, merged)
	if len(recs) != len(rows) {
		t.Fatalf("%d rows, want %d", len(recs), len(rows))
	}
	for i, r := range recs {
		for col := range r.Row {
			if !sameValue(r.Row[col], rows[i][col]) {
				t.Fatalf("row %d column %s: got %v, want %v", i, encoderSchema.Columns[col].Name, r.Row[col], rows[i][col])
			}
		}
	}
	gotRows, gotStats := rowGroupsOf(t, merged)
	aRows, aStats := rowGroupsOf(t, a)
	cRows, cStats := rowGroupsOf(t, c)
	wantRows := append(append(append([]int64{}, aRows...), 8000), cRows...)
	if fmt.Sprint(gotRows) != fmt.Sprint(wantRows) {
		t.Fatalf("row groups of %v rows, want %v", gotRows, wantRows)
	}
	for i, s := range aStats {
		if gotStats[i] != s {
			t.Errorf("row group %d: statistics %s, the copied one's %s", i, gotStats[i], s)
		}
	}
	for i, s := range cStats {
		if g := gotStats[len(aStats)+1+i]; g != s {
			t.Errorf("row group %d: statistics %s, the copied one's %s", len(aStats)+1+i, g, s)
		}
	}
	b := writeAll(t, "parquet", encoderSchema, rows[12_000:20_000], WriterOptions{RowGroupRows: 8000})
	duckSame(t, "*", merged, a, b, c)
}

// TestCopyRowGroupsNested does the same with nested columns (structs
// holding lists and structs, lists of structs, maps, lists of lists,
// nulls and empty lists at every level) in several row groups, the parts
// written from different data (different dictionaries).
func TestCopyRowGroupsNested(t *testing.T) {
	schema, err := functions.ParseSchema(nestedSchema)
	if err != nil {
		t.Fatal(err)
	}
	x := convertNested(t, nestedJSONL(5000, 3), schema, "parquet", WriterOptions{RowGroupRows: 1500})
	y := convertNested(t, nestedJSONL(4000, 4), schema, "parquet", WriterOptions{RowGroupRows: 1000})
	merged := mergeParquet(t, schema, WriterOptions{}, mergePart{data: x}, mergePart{data: y})

	jsonl := func(recs ...[]rec) []byte {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, "jsonl", schema, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range recs {
			for _, r := range rs {
				if err := w.Write(r.Row); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	got, want := jsonl(readParquet(t, merged)), jsonl(readParquet(t, x), readParquet(t, y))
	if !bytes.Equal(got, want) {
		t.Fatalf("the merged file's rows differ from the parts' (%d and %d bytes of JSONL)", len(got), len(want))
	}
	gotRows, _ := rowGroupsOf(t, merged)
	xRows, _ := rowGroupsOf(t, x)
	yRows, _ := rowGroupsOf(t, y)
	if fmt.Sprint(gotRows) != fmt.Sprint(append(xRows, yRows...)) {
		t.Errorf("row groups of %v rows, want the parts' %v then %v", gotRows, xRows, yRows)
	}
	var cols []string
	for _, c := range schema.Columns {
		cols = append(cols, fmt.Sprintf("to_json(%q)::VARCHAR", c.Name))
	}
	duckSame(t, strings.Join(cols, ", "), merged, x, y)
}

// TestCopyRowGroupsRefusesOtherFiles: a file whose row groups do not fit
// the writer is refused with ErrNotCopyable before anything of it is
// written (the writer's file then holds only what it was given), and a
// file that is not a Parquet file this package wrote is never copied.
func TestCopyRowGroupsRefusesOtherFiles(t *testing.T) {
	rows := encoderRows(3000)
	renamed := &functions.Schema{Columns: append([]functions.Column{}, encoderSchema.Columns...)}
	renamed.Columns[2].Name = "m"
	retyped := &functions.Schema{Columns: append([]functions.Column{}, encoderSchema.Columns...)}
	retyped.Columns[6].Type = functions.Int64
	nullRows := make([]functions.Row, 100)
	for i := range nullRows {
		nullRows[i] = append(functions.Row{}, rows[i]...)
		nullRows[i][6] = functions.Null(functions.Int64)
	}
	var pg bytes.Buffer
	type pgRow struct {
		Low string `parquet:"low,optional"`
	}
	gw := parquet.NewGenericWriter[pgRow](&pg)
	if _, err := gw.Write([]pgRow{{Low: "a"}}); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	good := writeAll(t, "parquet", encoderSchema, rows[:500], WriterOptions{})
	for _, tc := range []struct {
		name string
		data []byte
		// open: OpenParquetRowGroups refuses it; else CopyRowGroups does.
		open    bool
		notCopy bool // the refusal is ErrNotCopyable (else another error)
	}{
		{"renamed column", writeAll(t, "parquet", renamed, rows[:500], WriterOptions{}), false, true},
		{"another type", writeAll(t, "parquet", retyped, nullRows, WriterOptions{}), false, true},
		{"another codec", writeAll(t, "parquet", encoderSchema, rows[:500], WriterOptions{Compression: "snappy"}), false, true},
		{"written by parquet-go", pg.Bytes(), true, true},
		{"truncated", good[:len(good)-1], true, true},
		{"footer length past the start", append(append([]byte{}, good[:len(good)-8]...), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1'), true, false},
		{"not parquet", []byte("id,name\n1,a\n2,b\n3,c\n"), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, "parquet", encoderSchema, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows[:700] {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			src, err := OpenParquetRowGroups(bytes.NewReader(tc.data), int64(len(tc.data)), "x")
			if err == nil {
				if tc.open {
					t.Fatalf("OpenParquetRowGroups accepted it")
				}
				_, err = w.(RowGroupCopier).CopyRowGroups(src)
			} else if !tc.open {
				t.Fatalf("OpenParquetRowGroups: %v", err)
			}
			if err == nil {
				t.Fatalf("copied")
			}
			if errors.Is(err, ErrNotCopyable) != tc.notCopy {
				t.Fatalf("got %v; ErrNotCopyable: %v, want %v", err, errors.Is(err, ErrNotCopyable), tc.notCopy)
			}
			for _, r := range rows[700:1000] {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			recs := readParquet(t, buf.Bytes())
			if len(recs) != 1000 {
				t.Fatalf("%d rows after the refusal, want the 1000 written", len(recs))
			}
			for i, r := range recs {
				for col := range r.Row {
					if !sameValue(r.Row[col], rows[i][col]) {
						t.Fatalf("row %d column %d: got %v, want %v", i, col, r.Row[col], rows[i][col])
					}
				}
			}
		})
	}
}
