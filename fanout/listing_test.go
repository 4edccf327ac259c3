package fanout

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestParallelListIsTheListing lists prefixes of a few shapes (dense
// numbered keys, hashed keys, a wide tree, a deep one, keys past printable
// ASCII, a wide tree of such keys, fewer keys than a split needs) with
// parallelList, by directory and not, and with one listing: the same keys
// in the same order, and more LIST requests than one listing makes
// (ranges listed at once) where the listing is long enough to split and
// it has printable ASCII keys or sub-prefixes to split at. The
// sub-prefixes are listed when asked and when the first page spans more
// than one, and not otherwise; asked, ranges start at them.
func TestParallelListIsTheListing(t *testing.T) {
	ctx := context.Background()
	sim := simstore.New(simstore.Config{Name: "list"})
	put := func(key string) {
		if _, err := sim.Put(ctx, key, strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 9000 {
		put(fmt.Sprintf("dense/%08d.txt", i))
		put(fmt.Sprintf("hashed/%016x", r.Uint64()))
		put(fmt.Sprintf("tree/year=%d/month=%02d/part-%04d.csv", 2000+i%17, i%12+1, i))
		put(fmt.Sprintf("deep/%d/part-%05d.csv", 2020+i/1800, i))
		put(fmt.Sprintf("wideodd/\u00e9t\u00e9-%02d/%d", i%40, i))
	}
	for i := range 2500 {
		put(fmt.Sprintf("odd/%c%d", []rune("é~ aZ\u00ff\U0001F600")[i%7], i))
		put(fmt.Sprintf("odd/~%d", i))
	}
	for i := range 1500 {
		put(fmt.Sprintf("small/%d", i))
	}
	b := &dirWatch{Store: sim}
	for _, prefix := range []string{"dense/", "hashed/", "tree/", "deep/", "odd/", "wideodd/", "small/", "", "nothing/"} {
		for _, byDir := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s by dir %v", strings.TrimSuffix(prefix, "/"), byDir), func(t *testing.T) {
				var want, got []string
				for info, err := range sim.List(ctx, prefix, nil) {
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, info.Key)
				}
				b.reset()
				before := sim.Stats().Requests[simstore.KindList]
				for info, err := range parallelList(ctx, b, prefix, byDir) {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, info.Key)
				}
				lists := sim.Stats().Requests[simstore.KindList] - before
				if !slices.Equal(got, want) {
					t.Fatalf("parallelList gave %d keys, the listing %d; first difference at %d", len(got), len(want), firstDiff(got, want))
				}
				// Keys past printable ASCII without sub-prefixes ("odd/")
				// are listed without a split.
				if seq := int64(len(want)/listPageKeys + 1); prefix != "odd/" && len(want) > 4*listPageKeys && lists <= seq {
					t.Errorf("%d LIST requests for %d keys: it did not split (one listing makes %d)", lists, len(want), seq)
				}
				dirCalls, startedAtDir := b.seen()
				wantDirs := byDir || prefix == "tree/" || prefix == "wideodd/" // asked, or the first page spans sub-prefixes
				if got := dirCalls > 0; got != wantDirs {
					t.Errorf("sub-prefixes listed: %v, want %v", got, wantDirs)
				}
				hasDirs := prefix == "tree/" || prefix == "deep/" || prefix == "wideodd/" || prefix == ""
				if byDir && hasDirs && !startedAtDir {
					t.Errorf("asked to list by sub-prefix, no range started at one")
				}
				t.Logf("%d keys, %d LIST requests (sub-prefixes listed %d times)", len(want), lists, dirCalls)
			})
		}
	}
	t.Run("a store that ignores StartAfter", func(t *testing.T) {
		var want, got []string
		for info, err := range b.List(ctx, "dense/", nil) {
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, info.Key)
		}
		for info, err := range parallelList(ctx, noStartAfter{sim}, "dense/", false) {
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
		for _, err := range parallelList(ctx, b, "dense/", true) {
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

// dirWatch counts ListDirs calls and notes whether a listing started
// after one of the sub-prefixes they gave.
type dirWatch struct {
	*simstore.Store
	mu         sync.Mutex
	calls      int
	dirs       map[string]bool
	startedDir bool
	starts     []string
}

func (d *dirWatch) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls, d.dirs, d.startedDir, d.starts = 0, map[string]bool{}, false, nil
}

func (d *dirWatch) seen() (calls int, startedAtDir bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.starts {
		if d.dirs[s] {
			startedAtDir = true
		}
	}
	return d.calls, startedAtDir
}

func (d *dirWatch) ListDirs(ctx context.Context, prefix string) iter.Seq2[string, error] {
	d.mu.Lock()
	d.calls++
	d.mu.Unlock()
	return func(yield func(string, error) bool) {
		for dir, err := range d.Store.ListDirs(ctx, prefix) {
			if err == nil {
				d.mu.Lock()
				d.dirs[dir] = true
				d.mu.Unlock()
			}
			if !yield(dir, err) {
				return
			}
		}
	}
}

func (d *dirWatch) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	if opts != nil && opts.StartAfter != "" {
		d.mu.Lock()
		d.starts = append(d.starts, opts.StartAfter)
		d.mu.Unlock()
	}
	return d.Store.List(ctx, prefix, opts)
}
