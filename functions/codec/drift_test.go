package codec

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// drain reads every record of in, skipping the malformed ones it can go
// past, and returns its drift.
func drain(t *testing.T, in functions.Input) Drift {
	t.Helper()
	for {
		_, err := in.Next()
		if err == io.EOF {
			break
		}
		var re *functions.RecordError
		if err != nil && !(errors.As(err, &re) && re.CanSkip()) {
			t.Fatal(err)
		}
	}
	d, ok := in.(DriftInput)
	if !ok {
		t.Fatalf("%T does not report drift", in)
	}
	return d.Drift()
}

// TestReadersCountDrift checks each reader's counts against the records
// written: a schema column the object lacks is filled in every record
// returned (a JSON object without the key counts, a malformed record does
// not), a column of the object the schema lacks is dropped from each.
func TestReadersCountDrift(t *testing.T) {
	schema, err := functions.ParseSchema("id:int64,quantity:int64,note:string")
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ filled, dropped map[string]int64 }
	check := func(t *testing.T, got Drift, w want) {
		t.Helper()
		if !maps.Equal(got.Filled, w.filled) || !maps.Equal(got.Dropped, w.dropped) {
			t.Errorf("got filled %v dropped %v, want filled %v dropped %v", got.Filled, got.Dropped, w.filled, w.dropped)
		}
	}
	t.Run("csv", func(t *testing.T) {
		data := "id,qty,note,discount\n1,2,a,0.5\n2,3,b,0.1\nnot,enough\n3,4,c,0.2\n"
		in, err := NewInput(strings.NewReader(data), InputOptions{Format: "csv", Object: "b.csv", End: -1, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		check(t, drain(t, in), want{map[string]int64{"quantity": 3}, map[string]int64{"qty": 3, "discount": 3}})
	})
	t.Run("csv without drift", func(t *testing.T) {
		in, err := NewInput(strings.NewReader("id,quantity,note\n1,2,a\n"), InputOptions{Format: "csv", Object: "a.csv", End: -1, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		check(t, drain(t, in), want{})
	})
	t.Run("jsonl", func(t *testing.T) {
		data := `{"id": 1, "quantity": 2, "note": "a"}
{"id": 2, "qty": 3}
{"id": 3, "qty": 4, "qty": 5, "quantity": null}
{"id": 4, "qty": 1, "quantity": "not a number"}
{"id": 5, "extra": {"a": 1}}
`
		in, err := NewInput(strings.NewReader(data), InputOptions{Format: "jsonl", Object: "b.jsonl", End: -1, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		// Record 4 is malformed: neither its quantity nor its qty counts.
		check(t, drain(t, in), want{map[string]int64{"quantity": 2, "note": 3}, map[string]int64{"qty": 3, "extra": 1}})
	})
	t.Run("parquet", func(t *testing.T) {
		type row struct {
			ID       int64   `parquet:"id"`
			Qty      int64   `parquet:"qty"`
			Discount float64 `parquet:"discount"`
		}
		data := writeStructs(t, []row{{1, 2, 0.5}, {2, 3, 0.1}})
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "b.parquet", Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		check(t, drain(t, in), want{map[string]int64{"quantity": 2, "note": 2}, map[string]int64{"qty": 2, "discount": 2}})
	})
}
