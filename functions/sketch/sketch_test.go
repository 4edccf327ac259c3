package sketch_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/fanout-dev/fanout/functions/sketch"
)

// roundTrip marshals d and reads it back.
func roundTrip(t *testing.T, d *sketch.Distinct) *sketch.Distinct {
	t.Helper()
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sketch.DistinctFrom(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDistinctWithinItsErrorWhateverTheMergeOrder: n distinct values
// (each added several times) spread over parts, each part's sketch
// marshalled and read back, merged forwards and backwards: both merges
// give the same estimate, which is within three times DistinctError of
// the exact count (the oracle: a map).
func TestDistinctWithinItsErrorWhateverTheMergeOrder(t *testing.T) {
	for _, n := range []int{10, 300, 5_000, 60_000} {
		for _, dense := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d dense=%v", n, dense), func(t *testing.T) {
				rnd := rand.New(rand.NewPCG(uint64(n), 7))
				const parts = 7
				sk := make([]*sketch.Distinct, parts)
				for i := range sk {
					if dense {
						sk[i] = sketch.NewDenseDistinct()
					} else {
						sk[i] = sketch.NewDistinct()
					}
				}
				exact := map[string]bool{}
				for i := range 3 * n {
					v := fmt.Sprintf("10.%d.%d.%d", i%n/65536, i%n/256%256, i%n%256)
					exact[v] = true
					sk[rnd.IntN(parts)].Add(v)
				}
				forward, backward := sketch.NewDistinct(), sketch.NewDistinct()
				for i := range sk {
					if err := forward.Merge(roundTrip(t, sk[i])); err != nil {
						t.Fatal(err)
					}
					if err := backward.Merge(roundTrip(t, sk[parts-1-i])); err != nil {
						t.Fatal(err)
					}
				}
				got, back := forward.Estimate(), backward.Estimate()
				if got != back {
					t.Errorf("merged forwards %d, backwards %d; want the same estimate", got, back)
				}
				want := float64(len(exact))
				if rel := math.Abs(float64(got)-want) / want; rel > 3*sketch.DistinctError {
					t.Errorf("estimate %d, exact %d: relative error %.4f beyond 3x%.4f", got, len(exact), rel, sketch.DistinctError)
				}
			})
		}
	}
}

// TestQuantilesWithinTheirRankError: a skewed distribution split over
// parts, each digest marshalled and read back and merged: the rank of
// each estimated quantile among the sorted values (the oracle) is within
// 1% of the quantile asked for, and the count is exact.
func TestQuantilesWithinTheirRankError(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 9))
	const n, parts = 50_000, 5
	ds := make([]*sketch.Quantiles, parts)
	for i := range ds {
		ds[i] = sketch.NewQuantiles()
	}
	values := make([]float64, n)
	for i := range values {
		values[i] = math.Exp(rnd.NormFloat64()) * 1000 // log-normal: bytes of responses, say
		ds[rnd.IntN(parts)].Add(values[i], 1)
	}
	ds[0].Add(math.NaN(), 1) // ignored
	slices.Sort(values)
	all := sketch.NewQuantiles()
	for _, d := range ds {
		b, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back, err := sketch.QuantilesFrom(b)
		if err != nil {
			t.Fatal(err)
		}
		all.Merge(back)
	}
	if all.Count() != n {
		t.Errorf("count %v, want %d", all.Count(), n)
	}
	for _, p := range []float64{0.01, 0.1, 0.5, 0.9, 0.95, 0.99} {
		est := all.Quantile(p)
		rank := float64(sort.SearchFloat64s(values, est)) / n
		if math.Abs(rank-p) > 0.01 {
			t.Errorf("p%v: estimate %.2f has rank %.4f, want within 0.01", p*100, est, rank)
		}
	}
	if _, err := sketch.QuantilesFrom(make([]byte, 17)); err == nil {
		t.Errorf("QuantilesFrom(17 bytes): no error")
	}
	if _, err := sketch.DistinctFrom([]byte{0xff, 1, 2}); err == nil {
		t.Errorf("DistinctFrom(garbage): no error")
	}
}

// ExampleDistinct counts distinct values in two parts and merges their
// states as an aggregating function's Merge does.
func ExampleDistinct() {
	a, b := sketch.NewDistinct(), sketch.NewDistinct()
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1"} {
		a.Add(ip)
	}
	for _, ip := range []string{"10.0.0.2", "10.0.0.3"} {
		b.Add(ip)
	}
	state, _ := b.MarshalBinary() // what a partial row carries
	fromRow, _ := sketch.DistinctFrom(state)
	a.Merge(fromRow)
	fmt.Println(a.Estimate())
	// Output: 3
}
