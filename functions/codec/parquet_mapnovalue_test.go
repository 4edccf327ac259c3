package codec

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"testing"
)

// TestParquetMapWithoutValues reads parquet-testing's
// data/map_no_value.parquet, whose MAP my_map_no_v holds keys and no
// values (DuckDB refuses the file). Like Arrow, fanout reads such a map as
// the list of its keys. The oracle is the file's documented content
// (parquet-testing data/README.md and arrow-rs's test_map_no_value): 3
// rows; my_list holds the same values as my_map_no_v's keys, in order;
// my_map holds those keys with null values.
func TestParquetMapWithoutValues(t *testing.T) {
	data, err := os.ReadFile("../../testdata/parquet-testing/data/map_no_value.parquet")
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "map_no_value.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	cols := in.Schema().Columns
	var got []string
	for _, c := range cols {
		got = append(got, c.Name+" "+c.TypeString())
	}
	want := []string{"my_map map(int32, int32)", "my_map_no_v list(int32)", "my_list list(int32)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("columns %q, want %q", got, want)
	}
	rows := 0
	for {
		rec, err := in.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows++
		m, keys, list := nestedJSON(cols[0], rec.Row[0]), nestedJSON(cols[1], rec.Row[1]), nestedJSON(cols[2], rec.Row[2])
		if !reflect.DeepEqual(keys, list) {
			t.Errorf("row %d: my_map_no_v %v, my_list %v: want the same values", rows, keys, list)
		}
		entries, _ := m.(map[string]any)
		items, _ := list.([]any)
		if len(entries) != len(items) || len(items) == 0 {
			t.Errorf("row %d: my_map %v, my_list %v: want the same keys", rows, m, list)
		}
		for _, k := range items {
			v, ok := entries[fmt.Sprint(k)]
			if !ok || v != nil {
				t.Errorf("row %d: my_map %v: want key %v with a null value", rows, m, k)
			}
		}
	}
	if rows != 3 {
		t.Fatalf("%d rows, want 3", rows)
	}
}
