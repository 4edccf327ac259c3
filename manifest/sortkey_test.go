package manifest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSortBy(t *testing.T) {
	tests := []struct {
		in   string
		want []SortKey
	}{
		{"", nil},
		{"region", []SortKey{{Column: "region"}}},
		{" region ,amount desc", []SortKey{{Column: "region"}, {Column: "amount", Desc: true}}},
		{"ts DESC NULLS FIRST, id asc nulls last", []SortKey{{Column: "ts", Desc: true, NullsFirst: true}, {Column: "id"}}},
		{"a NULLS FIRST", []SortKey{{Column: "a", NullsFirst: true}}},
		{`"unit, price" DESC, "say ""hi"""`, []SortKey{{Column: "unit, price", Desc: true}, {Column: `say "hi"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSortBy(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for _, k := range got { // String reads back as the same key
				back, err := ParseSortKey(k.String())
				if err != nil || back != k {
					t.Errorf("%q reads back as %+v (%v), want %+v", k.String(), back, err, k)
				}
			}
		})
	}
	for _, bad := range []string{"a,,b", "a,", "a DESCENDING", "a NULLS", "a NULLS MIDDLE", `"a`, `"a"b`, "a ASC DESC"} {
		if _, err := ParseSortBy(bad); err == nil {
			t.Errorf("ParseSortBy(%q) = nil error, want one", bad)
		}
	}
}

// TestSortByInTheSpec: the keys travel in JSON as their text, a spec
// without them (written before they existed) reads as unsorted with the
// same job ID, and Validate refuses repeated and partition columns.
func TestSortByInTheSpec(t *testing.T) {
	spec := JobSpec{Inputs: []string{"s3://b/in/"}, Function: "convert", Output: "s3://b/out/", PartitionBy: []string{"region"},
		SortBy: []SortKey{{Column: "ts", Desc: true}, {Column: "id", NullsFirst: true}}, RowGroupRows: 5000}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"sort_by":["ts DESC NULLS LAST","id ASC NULLS FIRST"]`) || !strings.Contains(string(b), `"row_group_rows":5000`) {
		t.Fatalf("got %s, want sort_by as text and row_group_rows", b)
	}
	var back JobSpec
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.SortBy, spec.SortBy) {
		t.Fatalf("read back %+v (%v), want %+v", back.SortBy, err, spec.SortBy)
	}
	old := spec
	old.SortBy, old.RowGroupRows = nil, 0
	ob, _ := json.Marshal(old)
	if strings.Contains(string(ob), "sort_by") || strings.Contains(string(ob), "row_group") {
		t.Fatalf("an unsorted spec encodes %s, want no sort_by or row_group fields (old manifests and job IDs unchanged)", ob)
	}
	if JobID(old, "d") != JobID(JobSpec{Inputs: old.Inputs, Function: old.Function, Output: old.Output, PartitionBy: old.PartitionBy, SortBy: []SortKey{}}, "d") {
		t.Error("an empty SortBy changes the job ID")
	}
	if JobID(old, "d") == JobID(spec, "d") {
		t.Error("sorting does not change the job ID")
	}
	bad := spec.WithDefaults()
	bad.SortBy = []SortKey{{Column: "ts"}, {Column: "ts"}, {Column: "region"}}
	bad.RowGroupBytes = -1
	err = bad.Validate()
	for _, field := range []string{"sort_by[1]", "sort_by[2]", "row_group_bytes"} {
		var fe *FieldError
		found := false
		for _, e := range unwrapAll(err) {
			if errors.As(e, &fe) && fe.Field == field {
				found = true
			}
		}
		if !found {
			t.Errorf("Validate: %v, want an error for %s", err, field)
		}
	}
	var k SortKey
	if err := json.Unmarshal([]byte(`"x SIDEWAYS"`), &k); err == nil {
		t.Error("a bad key in JSON decoded without error")
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
