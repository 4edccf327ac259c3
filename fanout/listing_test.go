package fanout

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestParallelListIsTheListing lists prefixes of a few shapes (dense
// numbered keys, hashed keys, a wide tree, keys past printable ASCII,
// fewer keys than a split needs) with parallelList and with one
// listing: the same keys in the same order, and more LIST requests than
// one listing makes (ranges listed at once) where the listing is long
// enough to split and its keys are printable ASCII.
func TestParallelListIsTheListing(t *testing.T) {
	ctx := context.Background()
	b := simstore.New(simstore.Config{Name: "list"})
	put := func(key string) {
		if _, err := b.Put(ctx, key, strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 9000 {
		put(fmt.Sprintf("dense/%08d.txt", i))
		put(fmt.Sprintf("hashed/%016x", r.Uint64()))
		put(fmt.Sprintf("tree/year=%d/month=%02d/part-%04d.csv", 2000+i%17, i%12+1, i))
	}
	for i := range 2500 {
		put(fmt.Sprintf("odd/%c%d", []rune("é~ aZ\u00ff\U0001F600")[i%7], i))
		put(fmt.Sprintf("odd/~%d", i))
	}
	for i := range 1500 {
		put(fmt.Sprintf("small/%d", i))
	}
	for _, prefix := range []string{"dense/", "hashed/", "tree/", "odd/", "small/", "", "nothing/"} {
		t.Run(strings.TrimSuffix(prefix, "/"), func(t *testing.T) {
			var want, got []string
			for info, err := range b.List(ctx, prefix, nil) {
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, info.Key)
			}
			before := b.Stats().Requests[simstore.KindList]
			for info, err := range parallelList(ctx, b, prefix) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, info.Key)
			}
			lists := b.Stats().Requests[simstore.KindList] - before
			if !slices.Equal(got, want) {
				t.Fatalf("parallelList gave %d keys, the listing %d; first difference at %d", len(got), len(want), firstDiff(got, want))
			}
			// Keys past printable ASCII ("odd/") are listed without a split.
			if seq := int64(len(want)/listPageKeys + 1); prefix != "odd/" && len(want) > 4*listPageKeys && lists <= seq {
				t.Errorf("%d LIST requests for %d keys: it did not split (one listing makes %d)", lists, len(want), seq)
			}
			t.Logf("%d keys, %d LIST requests", len(want), lists)
		})
	}
	t.Run("a store that ignores StartAfter", func(t *testing.T) {
		var want, got []string
		for info, err := range b.List(ctx, "dense/", nil) {
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, info.Key)
		}
		for info, err := range parallelList(ctx, noStartAfter{b}, "dense/") {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, info.Key)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("parallelList gave %d keys, the listing %d; first difference at %d", len(got), len(want), firstDiff(got, want))
		}
	})
	t.Run("stops early", func(t *testing.T) {
		n := 0
		for _, err := range parallelList(ctx, b, "dense/") {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 4321 {
				break
			}
		}
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestMidKey: a key strictly between its bounds, or none.
func TestMidKey(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		ok   bool
	}{
		{"in/00001999.txt", "in/~", true},
		{"a", "b", true},
		{"a", "a ", false},
		{"a", "a!", true},
		{"abc", "abd", true},
		{"in/é", "in/~", false},
		{"x", "x", false},
	} {
		m, ok := midKey(tt.a, tt.b)
		if ok != tt.ok || ok && !(tt.a < m && m < tt.b) {
			t.Errorf("midKey(%q, %q) = %q, %v; want ok %v and a key between", tt.a, tt.b, m, ok, tt.ok)
		}
	}
}

// noStartAfter lists every key of the prefix whatever StartAfter says.
type noStartAfter struct{ *simstore.Store }

func (n noStartAfter) List(ctx context.Context, prefix string, _ *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	return n.Store.List(ctx, prefix, nil)
}
