package fanout_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type nestedA struct {
	ID int64   `parquet:"id"`
	L  []int32 `parquet:"l,list"`
	S  struct {
		X int32 `parquet:"x"`
	} `parquet:"s"`
}

type nestedB struct {
	ID int64   `parquet:"id"`
	L  []int64 `parquet:"l,list"`
	S  struct {
		X int64  `parquet:"x"`
		Y string `parquet:"y"`
	} `parquet:"s"`
}

func parquetOf[T any](t *testing.T, rows []T) []byte {
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

// TestParquetNestedSchemaDriftAcrossFiles: two Parquet files whose nested
// columns differ (list(int32) and list(int64); a struct with one field and
// one with two) convert together: the planner's union widens the nested
// types, the reader reads each file as the wider type (a field a file
// lacks null), and every row of both files is in the JSONL output with
// its values.
func TestParquetNestedSchemaDriftAcrossFiles(t *testing.T) {
	a := nestedA{ID: 1, L: []int32{1, 2}}
	a.S.X = 5
	b := nestedB{ID: 2, L: []int64{1 << 40}}
	b.S.X, b.S.Y = 6, "y"
	work := t.TempDir()
	in, out := filepath.Join(work, "in"), filepath.Join(work, "out")
	writeFiles(t, in, map[string][]byte{"a.parquet": parquetOf(t, []nestedA{a}), "b.parquet": parquetOf(t, []nestedB{b})})
	if err := corpusConvert(t, in, out, "jsonl"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.jsonl"))
	var got []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var v any // compare as JSON values, whatever the key order
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatal(err)
			}
			norm, _ := json.Marshal(v)
			got = append(got, string(norm))
		}
	}
	slices.Sort(got)
	want := []string{
		`{"id":1,"l":[1,2],"s":{"x":5,"y":null}}`,
		`{"id":2,"l":[1099511627776],"s":{"x":6,"y":"y"}}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
