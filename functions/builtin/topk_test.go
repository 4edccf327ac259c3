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

// serialTopK is the reference: per group, the rows sorted by the order
// column, largest first and nulls last, cut to k. Rows whose order values
// tie may be cut differently from topk's; the order values are not.
func serialTopK(in *sliceInput, by []string, order string, k int) map[string][]functions.Row {
	o := in.schema.Index(order)
	groups := map[string][]functions.Row{}
	for _, rec := range in.recs {
		var key functions.Row
		for _, name := range by {
			key = append(key, rec.Row[in.schema.Index(name)])
		}
		groups[keyText(key)] = append(groups[keyText(key)], rec.Row)
	}
	for key, rows := range groups {
		slices.SortStableFunc(rows, func(a, b functions.Row) int {
			switch {
			case !a[o].Valid || !b[o].Valid:
				return functions.Compare(b[o], a[o]) // nulls last
			}
			return -functions.Compare(a[o], b[o])
		})
		groups[key] = rows[:min(k, len(rows))]
	}
	return groups
}

// groupRows collects rows by the text of their by columns, in order.
func groupRows(schema *functions.Schema, rows []functions.Row, by []string) map[string][]functions.Row {
	groups := map[string][]functions.Row{}
	for _, r := range rows {
		var key functions.Row
		for _, name := range by {
			key = append(key, r[schema.Index(name)])
		}
		groups[keyText(key)] = append(groups[keyText(key)], r)
	}
	return groups
}

func TestTopKRandom(t *testing.T) {
	tests := []struct {
		name   string
		by     []string
		order  string
		k      int
		unique bool // order values do not repeat: the rows are known
	}{
		{"unique ints by region", []string{"region"}, "qty", 3, true},
		{"unique ints overall", nil, "qty", 10, true},
		{"k above group size", []string{"region", "year"}, "qty", 1000, true},
		{"floats", []string{"region"}, "price", 5, false},
		{"strings with ties", []string{"year"}, "note", 7, false},
		{"timestamps", []string{"ok"}, "at", 4, false},
		{"bools: all ties", []string{"region"}, "ok", 6, false},
		{"by the order column", []string{"year"}, "year", 2, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			in := randomSales(rng, 400)
			if tt.unique {
				for j, v := range rng.Perm(len(in.recs)) {
					if in.recs[j].Row[2].Valid {
						in.recs[j].Row[2].I = int64(v) - 200
					}
				}
			}
			args := map[string]string{"order": tt.order, "k": fmt.Sprint(tt.k)}
			if tt.by != nil {
				args["by"] = strings.Join(tt.by, ",")
			}
			rows, err := mapReduce(t, rand.New(rand.NewPCG(uint64(i), 12)), builtin.TopK{}, args, in)
			if err != nil {
				t.Fatal(err)
			}
			got, want := groupRows(sales, rows, tt.by), serialTopK(in, tt.by, tt.order, tt.k)
			if len(got) != len(want) {
				t.Errorf("got %d groups, want %d", len(got), len(want))
			}
			o := sales.Index(tt.order)
			orderTexts := func(rows []functions.Row) []string {
				var out []string
				for _, r := range rows {
					out = append(out, r[o].Text())
				}
				return out
			}
			for key, w := range want {
				g := got[key]
				if !slices.Equal(orderTexts(g), orderTexts(w)) {
					t.Errorf("group %s: got order values %q, want %q", key, orderTexts(g), orderTexts(w))
				}
				if tt.unique && !slices.Equal(texts(g), texts(w)) {
					t.Errorf("group %s: got %q, want %q", key, texts(g), texts(w))
				}
				inputs := texts(groupRows(sales, rowsOf(in), tt.by)[key])
				for _, r := range texts(g) {
					if _, found := slices.BinarySearch(inputs, r); !found {
						t.Errorf("group %s: got row %q, which is not an input row", key, r)
					}
				}
			}
			// Which tied rows are kept depends neither on the chunks and
			// merges (runTimes) nor on the order of the input.
			first, err := runTimes(t, builtin.TopK{}, args, in)
			if err != nil {
				t.Fatal(err)
			}
			rng.Shuffle(len(in.recs), func(i, j int) { in.recs[i], in.recs[j] = in.recs[j], in.recs[i] })
			if again, err := runTimes(t, builtin.TopK{}, args, in); err != nil || !slices.Equal(again, first) {
				t.Errorf("shuffled input: got %q, %v, want %q", again, err, first)
			}
		})
	}
}

func rowsOf(in *sliceInput) []functions.Row {
	var out []functions.Row
	for _, r := range in.recs {
		out = append(out, r.Row)
	}
	return out
}

// TestTopKCases checks the rank, including the order of rows within a
// group (largest first).
func TestTopKCases(t *testing.T) {
	inf, nan, negZero := math.Inf(1), math.NaN(), math.Copysign(0, -1)
	tests := []struct {
		name string
		in   *sliceInput
		args map[string]string
		want []string // in output order
	}{
		{"ints", numRows([3]any{"a", 1}, [3]any{"a", 3}, [3]any{"a", -5}, [3]any{"a", 2}), map[string]string{"k": "2", "order": "x"},
			[]string{"a,3,", "a,2,"}},
		{"nulls last", numRows([3]any{"a"}, [3]any{"b", 1}, [3]any{"c"}), map[string]string{"k": "2", "order": "x"},
			[]string{"b,1,", "a,,"}},
		{"only nulls", numRows([3]any{"a"}, [3]any{"b"}), map[string]string{"k": "5", "order": "x"},
			[]string{"a,,", "b,,"}},
		{"negative ints", numRows([3]any{"a", int64(math.MinInt64)}, [3]any{"b", -1}, [3]any{"c", int64(math.MaxInt64)}, [3]any{"d", 0}),
			map[string]string{"k": "4", "order": "x"}, []string{"c,9223372036854775807,", "d,0,", "b,-1,", "a,-9223372036854775808,"}},
		{"floats", numRows([3]any{"a", 0, -inf}, [3]any{"b", 0, nan}, [3]any{"c", 0, 1.5}, [3]any{"d", 0, -2.5}, [3]any{"e", 0, inf}, [3]any{"f"}),
			map[string]string{"k": "6", "order": "f"}, []string{"b,0,NaN", "e,0,+Inf", "c,0,1.5", "d,0,-2.5", "a,0,-Inf", "f,,"}},
		{"zeros tie", numRows([3]any{"b", 0, negZero}, [3]any{"a", 0, 0.0}, [3]any{"c", 0, -1.0}), map[string]string{"k": "2", "order": "f"},
			[]string{"a,0,0.0", "b,0,-0.0"}},
		{"strings", numRows([3]any{"a"}, [3]any{"ab"}, [3]any{"b"}, [3]any{""}, [3]any{"a\x00"}, [3]any{"a\x01"}, [3]any{nil}), map[string]string{"k": "7", "order": "g"},
			[]string{"b,,", "ab,,", "a\x01,,", "a\x00,,", "a,,", ",,", ",,"}},
		{"by", numRows([3]any{"a", 1}, [3]any{"b", 5}, [3]any{"a", 3}, [3]any{"b", 4}, [3]any{"b", 6}), map[string]string{"k": "2", "order": "x", "by": "g"},
			[]string{"a,3,", "a,1,", "b,6,", "b,5,"}},
		{"k=1 with ties", numRows([3]any{"b", 1, 2.0}, [3]any{"a", 1, 1.0}, [3]any{"c", 1, 3.0}), map[string]string{"k": "1", "order": "x"},
			[]string{"a,1,1.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(8) {
				rows, err := mapReduce(t, rand.New(rand.NewPCG(seed, 5)), builtin.TopK{}, tt.args, tt.in)
				if err != nil {
					t.Fatal(err)
				}
				if got := (&sliceOutput{rows: rows}).texts(); !slices.Equal(got, tt.want) {
					t.Fatalf("seed %d: got %q, want %q", seed, got, tt.want)
				}
			}
		})
	}
}

func TestTopKSchemas(t *testing.T) {
	task, err := builtin.TopK{}.Prepare(functions.Params{Input: nums, Args: map[string]string{"k": "2", "order": "f", "by": "x,g"}})
	if err != nil {
		t.Fatal(err)
	}
	red := task.(functions.Reducer)
	if got, want := task.Output().String(), "x:int64,g:string,__topk:string"; got != want {
		t.Errorf("got partial schema %s, want %s", got, want)
	}
	if got, want := red.KeyColumns(), 2; got != want {
		t.Errorf("got %d key columns, want %d", got, want)
	}
	if got := red.Final(); got != nums {
		t.Errorf("got final schema %s, want the input's %s", got, nums)
	}
}

// TestTopKCorruptState checks that a partial row topk did not write fails
// permanently instead of panicking.
func TestTopKCorruptState(t *testing.T) {
	task, err := builtin.TopK{}.Prepare(functions.Params{Input: nums, Args: map[string]string{"k": "2", "order": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	red := task.(functions.Reducer)
	out := &sliceOutput{}
	if err := task.Map(context.Background(), numRows([3]any{"a", 1}), out); err != nil {
		t.Fatal(err)
	}
	good := out.rows[0][0].S
	tests := []struct {
		state   string
		framing bool // the list itself is corrupt, not only an element
	}{
		{"\x05ab", true},
		{"\xff", true},
		{good[:len(good)-1], true},
		{good + "\x01", true},
		{"\x01\x07", false},
		{good[:len(good)-1] + "\x09", false},
	}
	for _, tt := range tests {
		err := red.Finish(functions.Row{functions.StringValue(tt.state)}, &sliceOutput{})
		if err == nil || !functions.IsPermanent(err) {
			t.Errorf("Finish %q: got %v, want a permanent error", tt.state, err)
		}
		// Merge reads the lists but not their elements.
		acc := functions.Row{functions.StringValue(tt.state)}
		err = red.Merge(acc, functions.Row{functions.StringValue(good)})
		if tt.framing && (err == nil || !functions.IsPermanent(err)) {
			t.Errorf("Merge %q: got %v, want a permanent error", tt.state, err)
		}
	}
}

// TestTopKFlush maps more groups than Map keeps.
func TestTopKFlush(t *testing.T) {
	const groups = 120_000
	var rs [][3]any
	for i := range 2 * groups {
		rs = append(rs, [3]any{fmt.Sprint(i % groups), i})
	}
	got, err := mapReduce(t, rand.New(rand.NewPCG(1, 1)), builtin.TopK{}, map[string]string{"k": "1", "order": "x", "by": "g"}, numRows(rs...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != groups {
		t.Fatalf("got %d rows, want %d", len(got), groups)
	}
	for _, r := range got {
		if want := fmt.Sprint(r[1].I - groups); r[0].S != want {
			t.Fatalf("got %q, want group %s's second row", texts([]functions.Row{r}), want)
		}
	}
}

// BenchmarkTopKMap measures Map's throughput (rows/s): the 10 largest
// quantities in each of a few groups.
func BenchmarkTopKMap(b *testing.B) {
	in := &cycleInput{sample: randomSales(rand.New(rand.NewPCG(1, 1)), 4096), n: 1_000_000}
	task, err := builtin.TopK{}.Prepare(functions.Params{Input: sales, Args: map[string]string{
		"by": "region", "order": "qty", "k": "10"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		in.i = 0
		if err := task.Map(context.Background(), in, &sliceOutput{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(in.n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
