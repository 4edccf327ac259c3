package builtin_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// serialDistinct is the reference: the text of the first row of each key.
func serialDistinct(in *sliceInput, by []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, rec := range in.recs {
		var key functions.Row
		for _, name := range by {
			key = append(key, rec.Row[in.schema.Index(name)])
		}
		if k := keyText(key); !seen[k] {
			seen[k] = true
			out = append(out, texts([]functions.Row{key})[0])
		}
	}
	slices.Sort(out)
	return out
}

func TestDistinctRandom(t *testing.T) {
	tests := []struct {
		name string
		by   []string
	}{
		{"one column", []string{"region"}},
		{"two columns", []string{"region", "year"}},
		{"bool and timestamp", []string{"ok", "at"}},
		{"all columns", sales.Names()},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			in := randomSales(rng, 200)
			for range 200 { // repeat whole rows too
				in.recs = append(in.recs, in.recs[rng.IntN(len(in.recs))])
			}
			args := map[string]string{"by": strings.Join(tt.by, ",")}
			if len(tt.by) == len(sales.Columns) && i%2 == 1 {
				args = nil // the default
			}
			got, err := runTimes(t, builtin.Distinct{}, args, in)
			if err != nil {
				t.Fatal(err)
			}
			if want := serialDistinct(in, tt.by); !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestDistinctCases(t *testing.T) {
	negZero := math.Copysign(0, -1)
	tests := []struct {
		name   string
		in     *sliceInput
		args   map[string]string
		schema string
		want   []string
	}{
		{"all columns by default", numRows([3]any{"a", 1, 1.0}, [3]any{"a", 1, 1.0}, [3]any{"a", 2, 1.0}), nil,
			"g:string,x:int64,f:float64", []string{"a,1,1.0", "a,2,1.0"}},
		{"nulls are one key", numRows([3]any{nil, 1}, [3]any{nil, 2}, [3]any{"", 3}), map[string]string{"by": "g"},
			"g:string", []string{"", ""}},
		{"-0 is 0 and NaNs are one", numRows([3]any{"a", 1, negZero}, [3]any{"a", 1, 0.0}, [3]any{"a", 1, math.NaN()}, [3]any{"a", 1, -math.NaN()}),
			map[string]string{"by": "f"}, "f:float64", []string{"0.0", "NaN"}},
		{"order of by", numRows([3]any{"a", 1}, [3]any{"b", 1}), map[string]string{"by": "x,g"},
			"x:int64,g:string", []string{"1,a", "1,b"}},
		{"empty", numRows(), map[string]string{"by": "g"}, "g:string", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := builtin.Distinct{}.Prepare(functions.Params{Args: tt.args, Input: tt.in.schema})
			if err != nil {
				t.Fatal(err)
			}
			if got := task.(functions.Reducer).Final().String(); got != tt.schema {
				t.Errorf("got schema %s, want %s", got, tt.schema)
			}
			got, err := runTimes(t, builtin.Distinct{}, tt.args, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDistinctFlush maps more keys than Map remembers: it writes some keys
// twice, and no key is lost.
func TestDistinctFlush(t *testing.T) {
	const distinct = 150_000
	var ls []string
	for i := range 2 * distinct {
		ls = append(ls, fmt.Sprint(i%distinct))
	}
	task, err := builtin.Distinct{}.Prepare(functions.Params{Input: functions.LinesSchema})
	if err != nil {
		t.Fatal(err)
	}
	out := &sliceOutput{}
	if err := task.Map(context.Background(), lines(ls...), out); err != nil {
		t.Fatal(err)
	}
	if len(out.rows) <= distinct {
		t.Errorf("got %d rows, want more than %d (the table flushed)", len(out.rows), distinct)
	}
	seen := map[string]bool{}
	for _, r := range out.rows {
		seen[r[0].S] = true
	}
	if len(seen) != distinct {
		t.Errorf("got %d keys, want %d", len(seen), distinct)
	}
}
