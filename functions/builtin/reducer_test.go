package builtin_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// mapReduce runs fn over in the way the engine does, with its freedom
// exercised at random: in is split into chunks of random sizes (some
// empty), each mapped by its own prepared task; the partial rows of each
// key are merged in a random grouping and order; each merged row is
// finished. It checks that every row is laid out as its schema says and
// returns the final rows.
func mapReduce(t *testing.T, rng *rand.Rand, fn functions.Function, args map[string]string, in *sliceInput) ([]functions.Row, error) {
	t.Helper()
	prepare := func() (functions.Task, functions.Reducer) {
		t.Helper()
		task, err := fn.Prepare(functions.Params{Args: args, Input: in.schema, InputFormat: "test"})
		if err != nil {
			t.Fatal(err)
		}
		red, ok := task.(functions.Reducer)
		if !ok {
			t.Fatalf("%s: task %T is not a functions.Reducer", fn.Name(), task)
		}
		return task, red
	}
	task, red := prepare()
	nk := red.KeyColumns()
	byKey := map[string][]functions.Row{}
	recs := in.recs
	for first := true; first || len(recs) > 0; first = false {
		n := rng.IntN(len(recs) + 1)
		if rng.IntN(4) == 0 {
			n = min(len(recs), 1+rng.IntN(3))
		}
		chunk := &sliceInput{schema: in.schema, recs: recs[:n]}
		recs = recs[n:]
		task, _ := prepare()
		out := &sliceOutput{}
		if err := task.Map(context.Background(), chunk, out); err != nil {
			return nil, err
		}
		for _, row := range out.rows {
			checkLayout(t, "partial", task.Output(), row)
			k := keyText(row[:nk])
			byKey[k] = append(byKey[k], row)
		}
	}
	var final []functions.Row
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		rows := byKey[k]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		for len(rows) > 1 {
			i := rng.IntN(len(rows))
			j := rng.IntN(len(rows) - 1)
			if j >= i {
				j++
			}
			acc := slices.Clone(rows[i])
			if err := red.Merge(acc, rows[j]); err != nil {
				return nil, err
			}
			checkLayout(t, "merged", task.Output(), acc)
			if got, want := keyText(acc[:nk]), k; got != want {
				t.Fatalf("Merge changed the key: got %s, want %s", got, want)
			}
			rows[i] = acc
			rows = slices.Delete(rows, j, j+1)
		}
		out := &sliceOutput{}
		if err := red.Finish(rows[0], out); err != nil {
			return nil, err
		}
		for _, row := range out.rows {
			checkLayout(t, "final", red.Final(), row)
		}
		final = append(final, out.rows...)
	}
	return final, nil
}

// checkLayout fails unless row has the columns and types of s.
func checkLayout(t *testing.T, what string, s *functions.Schema, row functions.Row) {
	t.Helper()
	if len(row) != len(s.Columns) {
		t.Fatalf("%s row %v has %d columns, want %d (%s)", what, row, len(row), len(s.Columns), s)
	}
	for i, c := range s.Columns {
		if row[i].Type != c.Type {
			t.Fatalf("%s row column %s: got type %s, want %s", what, c.Name, row[i].Type, c.Type)
		}
	}
}

// keyText renders key values the way the engine groups them: nulls are
// equal, -0 is 0, NaNs are equal.
func keyText(key functions.Row) string {
	var b strings.Builder
	for _, v := range key {
		switch {
		case !v.Valid:
			b.WriteString("∅")
		case v.Type == functions.Float64 && v.F == 0:
			b.WriteString("f0")
		default:
			fmt.Fprintf(&b, "%c%q", v.Type.String()[0], v.Text())
		}
		b.WriteByte('|')
	}
	return b.String()
}

// texts renders rows as their values' text joined by commas, sorted.
func texts(rows []functions.Row) []string {
	out := &sliceOutput{rows: rows}
	got := out.texts()
	slices.Sort(got)
	return got
}

// runTimes calls mapReduce with several seeds and checks that the results
// agree with each other; it returns them as texts, sorted, or the error.
func runTimes(t *testing.T, fn functions.Function, args map[string]string, in *sliceInput) ([]string, error) {
	t.Helper()
	var first []string
	for seed := range uint64(8) {
		rows, err := mapReduce(t, rand.New(rand.NewPCG(seed, 42)), fn, args, in)
		if err != nil {
			return nil, err
		}
		got := texts(rows)
		if seed == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("seed %d: got %q, want %q as with seed 0", seed, got, first)
		}
	}
	return first, nil
}

func TestReducerArgErrors(t *testing.T) {
	tests := []struct {
		fn   functions.Function
		args map[string]string
		want string
	}{
		{builtin.WordCount{}, map[string]string{"col": "name"}, `wordcount: unknown argument "col" (did you mean column? valid: column, delim, escape, header, max_page_size, nullstr, quote, schema)`},
		{builtin.WordCount{}, map[string]string{"column": "nope"}, `wordcount: column="nope": unknown column "nope" (columns: name, age, vip)`},
		{builtin.Aggregate{}, map[string]string{"group": "name"}, `aggregate: unknown argument "group" (valid: agg, by, delim, escape, header, max_page_size, nullstr, quote, schema)`},
		{builtin.Aggregate{}, map[string]string{"by": "nope"}, `aggregate: by="nope": unknown column "nope"`},
		{builtin.Aggregate{}, map[string]string{"by": "name,name"}, `aggregate: by="name,name": column "name" selected twice`},
		{builtin.Aggregate{}, map[string]string{"agg": ""}, `aggregate: agg="": no aggregates`},
		{builtin.Aggregate{}, map[string]string{"agg": "median(age)"}, `aggregate: agg="median(age)": unknown aggregate "median(age)" (want count, sum(col), min(col), max(col) or avg(col))`},
		{builtin.Aggregate{}, map[string]string{"agg": "sum(age"}, `aggregate: agg="sum(age": "sum(age": missing )`},
		{builtin.Aggregate{}, map[string]string{"agg": "sum"}, `aggregate: agg="sum": "sum": sum needs a column: sum(col)`},
		{builtin.Aggregate{}, map[string]string{"agg": "count(age)"}, `"count(age)": count takes no column (it counts rows)`},
		{builtin.Aggregate{}, map[string]string{"agg": "max(nope)"}, `aggregate: agg="max(nope)": max(nope): unknown column "nope" (columns: name, age, vip)`},
		{builtin.Aggregate{}, map[string]string{"agg": "sum(name)"}, `aggregate: agg="sum(name)": sum(name): column "name" is string, want a number (an integer, a decimal or a float)`},
		{builtin.Aggregate{}, map[string]string{"agg": "count, avg(vip)"}, `avg(vip): column "vip" is bool, want a number (an integer, a decimal or a float)`},
		{builtin.Aggregate{}, map[string]string{"agg": "sum(age),SUM(age)"}, `aggregate: agg="sum(age),SUM(age)": the output would have two columns "sum_age"`},
		{builtin.Aggregate{}, map[string]string{"agg": "count,count(*)"}, `the output would have two columns "count"`},
		{builtin.Distinct{}, map[string]string{"key": "name"}, `distinct: unknown argument "key" (valid: by, delim, escape, header, max_page_size, nullstr, quote, schema)`},
		{builtin.Distinct{}, map[string]string{"by": "name,nope"}, `distinct: by="name,nope": unknown column "nope"`},
		{builtin.TopK{}, map[string]string{"order": "age"}, "topk: missing argument k"},
		{builtin.TopK{}, map[string]string{"k": "3"}, "topk: missing argument order"},
		{builtin.TopK{}, map[string]string{"k": "0", "order": "age"}, `topk: k="0": want an integer from 1 to 100000`},
		{builtin.TopK{}, map[string]string{"k": "100001", "order": "age"}, `topk: k="100001": want an integer from 1 to 100000`},
		{builtin.TopK{}, map[string]string{"k": "x", "order": "age"}, `topk: k="x": want an integer`},
		{builtin.TopK{}, map[string]string{"k": "1", "order": "nope"}, `topk: order="nope": unknown column "nope"`},
		{builtin.TopK{}, map[string]string{"k": "1", "order": "age", "by": "nope"}, `topk: by="nope": unknown column "nope"`},
		{builtin.TopK{}, map[string]string{"k": "1", "order": "age", "limit": "2"}, `topk: unknown argument "limit" (valid: by, delim, escape, header, k, max_page_size, nullstr, order, quote, schema)`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			task, err := tt.fn.Prepare(functions.Params{Args: tt.args, Input: people})
			if err == nil {
				t.Fatalf("got task %v, want an error", task)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if !functions.IsPermanent(err) {
				t.Errorf("got a retryable error %q, want a permanent one", err)
			}
		})
	}
}
