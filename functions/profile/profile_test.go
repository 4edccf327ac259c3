package profile_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/profile"
)

var schema = &functions.Schema{Columns: []functions.Column{
	{Name: "id", Type: functions.String},
	{Name: "amount", Type: functions.String},
	{Name: "word", Type: functions.String},
	{Name: "typed", Type: functions.Int64},
}}

// data is n records: a unique id, an amount with some missing, a word of
// a skewed distribution over many values, a typed integer.
func data(n int) []functions.Row {
	r := rand.New(rand.NewPCG(1, 2))
	var rows []functions.Row
	for i := range n {
		amount := functions.StringValue(strconv.FormatFloat(math.Round(r.NormFloat64()*1000)/100+50, 'f', -1, 64))
		if i%17 == 0 {
			amount = functions.StringValue("")
		}
		w := int(math.Floor(math.Exp(r.Float64() * 8))) // 1..2980, small ones common
		rows = append(rows, functions.Row{
			functions.StringValue(strconv.Itoa(i + 1)), amount,
			functions.StringValue(fmt.Sprintf("w%d", w)), functions.IntValue(int64(r.IntN(1000)) - 500),
		})
	}
	return rows
}

// summarise splits rows into chunks of the given sizes and folds them as
// the reduce does: each chunk's summary a block (through JSON, as between
// map and reduce), merged in chunk order.
func summarise(t *testing.T, rows []functions.Row, chunk int) *profile.Profile {
	t.Helper()
	var state []profile.Block
	for i := 0; i < len(rows); i += chunk {
		a := profile.NewAccumulator(schema)
		for j, r := range rows[i:min(i+chunk, len(rows))] {
			a.Add(fmt.Sprintf("obj-%d", (i+j)/5000), r)
		}
		b, err := json.Marshal(a.Summary())
		if err != nil {
			t.Fatal(err)
		}
		if state, err = profile.MergeBlocks(state, []profile.Block{{Start: uint64(i / chunk), Summary: string(b)}}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := profile.FoldBlocks(state)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Build(s, schema)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProfileAgainstExactOracle compares each statistic with one computed
// here directly from the values, for several chunkings: exact ones
// exactly, estimates within their stated errors.
func TestProfileAgainstExactOracle(t *testing.T) {
	rows := data(50_000)
	// The oracle.
	var amounts []float64
	var sumTyped int64
	words := map[string]int64{}
	for _, r := range rows {
		if r[1].S != "" {
			f, _ := strconv.ParseFloat(r[1].S, 64)
			amounts = append(amounts, f)
		}
		sumTyped += r[3].I
		words[r[2].S]++
	}
	var mean float64
	for _, a := range amounts {
		mean += a
	}
	mean /= float64(len(amounts))
	var ss float64
	for _, a := range amounts {
		ss += (a - mean) * (a - mean)
	}
	sd := math.Sqrt(ss / float64(len(amounts)-1))
	sorted := slices.Clone(amounts)
	sort.Float64s(sorted)

	for _, chunk := range []int{50_000, 7_000, 999} {
		t.Run(fmt.Sprintf("chunks of %d", chunk), func(t *testing.T) {
			p := summarise(t, rows, chunk)
			id, amount, word, typed := p.Columns[0], p.Columns[1], p.Columns[2], p.Columns[3]
			if p.Rows != 50_000 || id.Count != 50_000 || id.Nulls != 0 {
				t.Errorf("rows %d, id count %d nulls %d; want 50000, 50000, 0", p.Rows, id.Count, id.Nulls)
			}
			if id.InferredType != "int64" || id.Min != "1" || id.Max != "50000" || id.Sum != "1250025000" || !id.SumExact {
				t.Errorf("id: got %s [%s, %s] sum %s exact %v; want int64 [1, 50000] sum 1250025000 exact", id.InferredType, id.Min, id.Max, id.Sum, id.SumExact)
			}
			if d := math.Abs(float64(id.Distinct)-50_000) / 50_000; d > 3*profile.DistinctError {
				t.Errorf("id distinct: got %d, want 50000 within 3 standard errors", id.Distinct)
			}
			if int(amount.Count) != len(amounts) || amount.Nulls != int64(50_000-len(amounts)) || amount.InferredType != "float64" {
				t.Errorf("amount: got %d values %d nulls %s; want %d, %d, float64", amount.Count, amount.Nulls, amount.InferredType, len(amounts), 50_000-len(amounts))
			}
			if amount.Min != strconv.FormatFloat(sorted[0], 'g', -1, 64) || amount.Max != strconv.FormatFloat(sorted[len(sorted)-1], 'g', -1, 64) {
				t.Errorf("amount range: got [%s, %s], want [%v, %v]", amount.Min, amount.Max, sorted[0], sorted[len(sorted)-1])
			}
			if math.Abs(*amount.Mean-mean) > 1e-9*math.Abs(mean) || math.Abs(*amount.Stddev-sd) > 1e-9*sd {
				t.Errorf("amount mean, stddev: got %v, %v; want %v, %v", *amount.Mean, *amount.Stddev, mean, sd)
			}
			if got, err := strconv.ParseFloat(amount.Sum, 64); err != nil || amount.SumExact || math.Abs(got-mean*float64(len(amounts))) > 1e-9*math.Abs(mean*float64(len(amounts))) {
				t.Errorf("amount sum: got %q (exact %v), want %v marked inexact", amount.Sum, amount.SumExact, mean*float64(len(amounts)))
			} else if digits := len(strings.TrimLeft(strings.NewReplacer(".", "", "-", "").Replace(strings.Split(amount.Sum, "e")[0]), "0")); digits > 12 {
				t.Errorf("amount sum %q: %d significant digits, more than a float sum holds", amount.Sum, digits)
			}
			for name, q := range map[string]float64{"p01": 0.01, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p99": 0.99} {
				got := amount.Quantiles[name]
				rank := float64(sort.SearchFloat64s(sorted, got)) / float64(len(sorted))
				if math.Abs(rank-q) > 0.01 {
					t.Errorf("amount %s: got %v at rank %.4f, want rank %v within 0.01", name, got, rank, q)
				}
			}
			var hist float64
			for _, b := range amount.Histogram {
				hist += b.Count
			}
			if math.Abs(hist-float64(len(amounts))) > float64(len(amount.Histogram)) {
				t.Errorf("histogram holds %v values, want %d", hist, len(amounts))
			}
			if typed.Sum != strconv.FormatInt(sumTyped, 10) || typed.InferredType != "int64" {
				t.Errorf("typed sum: got %s (%s), want %d", typed.Sum, typed.InferredType, sumTyped)
			}
			// Misra-Gries: each reported count within [true - TopError, true].
			if word.TopError == 0 || word.TopError > 50_000/(profile.TopCounters+1)+1 {
				t.Errorf("word top error %d: want > 0 (more values than counters) and at most n/(k+1)", word.TopError)
			}
			for _, vc := range word.Top {
				if vc.Count > words[vc.Value] || vc.Count < words[vc.Value]-word.TopError {
					t.Errorf("top %s: got %d, true count %d, error bound %d", vc.Value, vc.Count, words[vc.Value], word.TopError)
				}
			}
			if len(p.Objects) != 10 || p.Objects[0].Rows != 5000 {
				t.Errorf("objects: got %v", p.Objects)
			}
		})
	}
}

// TestSumOverflowFallsBack: an int64 sum that overflows is given as a
// float and marked inexact, whether the overflow happens within a chunk
// or in the merge.
func TestSumOverflowFallsBack(t *testing.T) {
	big := strconv.FormatInt(math.MaxInt64-10, 10)
	rows := []functions.Row{}
	for range 4 {
		rows = append(rows, functions.Row{functions.StringValue(big), functions.StringValue("1"), functions.StringValue("x"), functions.IntValue(math.MaxInt64)})
	}
	for _, chunk := range []int{4, 1} {
		p := summarise(t, rows, chunk)
		for _, c := range []profile.Column{p.Columns[0], p.Columns[3]} {
			if c.SumExact || c.Sum == "" {
				t.Errorf("chunks of %d, %s: got sum %q exact %v, want a float sum marked inexact", chunk, c.Name, c.Sum, c.SumExact)
			}
		}
		if c := p.Columns[1]; !c.SumExact || c.Sum != "4" {
			t.Errorf("chunks of %d: got sum %q exact %v, want 4 exact", chunk, c.Sum, c.SumExact)
		}
	}
}

// TestFoldIsDeterministic: the same summaries folded in the same order
// give byte-identical profiles.
func TestFoldIsDeterministic(t *testing.T) {
	rows := data(20_000)
	a, _ := json.Marshal(summarise(t, rows, 3000))
	b, _ := json.Marshal(summarise(t, rows, 3000))
	if string(a) != string(b) {
		t.Error("two folds of the same summaries differ")
	}
}

// TestDistinctNeverAboveCount: the distinct estimate is clamped to the
// values counted. Ids 0..n-1 (the demo's order_id) are a case where the
// HyperLogLog alone overshoots (by about 1% at 20,000); several sizes so
// that some overshoot whatever the hash.
func TestDistinctNeverAboveCount(t *testing.T) {
	for _, n := range []int{5_000, 20_000, 50_000, 100_000} {
		rows := make([]functions.Row, n)
		for i := range rows {
			rows[i] = functions.Row{functions.StringValue(strconv.Itoa(i)), functions.StringValue("1"), functions.StringValue("x"), functions.IntValue(int64(i))}
		}
		p := summarise(t, rows, 7_000)
		for _, c := range []profile.Column{p.Columns[0], p.Columns[3]} {
			if c.Distinct > c.Count {
				t.Errorf("n=%d %s: distinct %d above the %d values", n, c.Name, c.Distinct, c.Count)
			}
			if d := math.Abs(float64(c.Distinct)-float64(n)) / float64(n); d > 3*profile.DistinctError {
				t.Errorf("n=%d %s: distinct %d, want %d within 3 standard errors", n, c.Name, c.Distinct, n)
			}
		}
	}
}
