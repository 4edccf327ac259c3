package codec

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestStrTableRecent checks strTable.lookup, whose recent cache answers
// repeated values, against a map: every string gets one id, the first
// free one, whatever else shares its recent slot (strings of one length
// ending alike, the empty string, one column's few values between many
// distinct ones) and however the arena grows.
func TestStrTableRecent(t *testing.T) {
	st := NewStringTable()
	tab := st.current()
	want := map[string]int32{}
	r := rand.New(rand.NewPCG(3, 4))
	var vals []string
	for i := range 3000 {
		vals = append(vals, fmt.Sprintf("p%04d", i), fmt.Sprintf("%dx%04d", i%7, i%50), "", "s0"+fmt.Sprint(i%10))
	}
	slots := map[uint32]map[string]bool{}
	for range 200_000 {
		s := vals[r.IntN(len(vals))]
		if r.IntN(4) == 0 {
			s = vals[r.IntN(40)] // a few hot values
		}
		id, ok := tab.lookup(s)
		if !ok {
			t.Fatalf("lookup(%q): table full", s)
		}
		w, seen := want[s]
		if !seen {
			w = int32(len(want))
			want[s] = w
		}
		if id != w {
			t.Fatalf("lookup(%q) = %d, want %d", s, id, w)
		}
		if got := tab.str(id); got != s {
			t.Fatalf("str(%d) = %q, want %q", id, got, s)
		}
		if slots[recentSlot(s)] == nil {
			slots[recentSlot(s)] = map[string]bool{}
		}
		slots[recentSlot(s)][s] = true
	}
	shared := 0
	for _, m := range slots {
		if len(m) > 1 {
			shared++
		}
	}
	if shared == 0 {
		t.Fatal("no two strings shared a recent slot: the test does not reach the comparison")
	}
}
