package builtin_test

import (
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// Keys, sort orders and aggregates over nested columns are refused at
// Prepare, naming the column and its type, never computed on a value the
// shuffle cannot carry.
func TestNestedColumnsAreRefusedAsKeys(t *testing.T) {
	in, err := functions.ParseSchema("id:int64,tags:list(string),s:struct(a int64)")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fn   functions.Function
		args map[string]string
		want string
	}{
		{builtin.Aggregate{}, map[string]string{"by": "tags"}, `column "tags" is list(string): grouping`},
		{builtin.Aggregate{}, map[string]string{"agg": "max(s)"}, `column "s" is struct(a int64): max`},
		{builtin.Distinct{}, map[string]string{}, `column "tags" is list(string): distinct`},
		{builtin.Distinct{}, map[string]string{"by": "s"}, `column "s" is struct(a int64): distinct`},
		{builtin.TopK{}, map[string]string{"k": "1", "order": "id"}, `column "tags" is list(string): topk`},
	} {
		if _, err := tc.fn.Prepare(functions.Params{Input: in, Args: tc.args}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%T %v: %v, want an error saying %q", tc.fn, tc.args, err, tc.want)
		}
	}
	// Counting rows and grouping by a flat column of a schema with nested
	// columns is fine.
	if _, err := (builtin.Aggregate{}).Prepare(functions.Params{Input: in, Args: map[string]string{"by": "id"}}); err != nil {
		t.Errorf("aggregate by a flat column: %v", err)
	}
}
