package profile_test

import (
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/profile"
)

// chunkBlocks makes n chunk summaries of one text column, a few records
// each, as level-0 blocks.
func chunkBlocks(t *testing.T, n int) []profile.Block {
	t.Helper()
	one := &functions.Schema{Columns: []functions.Column{{Name: "v", Type: functions.String}}}
	blocks := make([]profile.Block, n)
	for i := range blocks {
		a := profile.NewAccumulator(one)
		for j := range 1 + i%3 {
			a.Add("obj-"+strconv.Itoa(i/100), functions.Row{functions.StringValue(strconv.FormatFloat(float64((i*7+j*13)%1009)/3, 'f', 3, 64))})
		}
		b, err := json.Marshal(a.Summary())
		if err != nil {
			t.Fatal(err)
		}
		blocks[i] = profile.Block{Start: uint64(i), Summary: string(b)}
	}
	return blocks
}

// folded is the JSON of the Summary a state folds to.
func folded(t *testing.T, state []profile.Block) string {
	t.Helper()
	s, err := profile.FoldBlocks(state)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stepFold folds chunks as the engine's reduce merge delivers them: map
// files in chunk order, merged width at a time, the values within a step
// in any order (the merge heap's), the steps' runs merged in order. It
// returns the state left and the most summaries the states held at once
// after any merge.
func stepFold(t *testing.T, chunks []profile.Block, width int, seed uint64) (state []profile.Block, maxHeld int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	for lo := 0; lo < len(chunks); lo += width {
		var step []profile.Block
		for _, i := range r.Perm(min(width, len(chunks)-lo)) {
			var err error
			if step, err = profile.MergeBlocks(step, chunks[lo+i:lo+i+1]); err != nil {
				t.Fatal(err)
			}
			maxHeld = max(maxHeld, len(step)+len(state))
		}
		var err error
		if state, err = profile.MergeBlocks(state, step); err != nil {
			t.Fatal(err)
		}
		maxHeld = max(maxHeld, len(state))
	}
	return state, maxHeld
}

// TestBlocksHeldStayBounded folds 20,000 chunk summaries as the engine's
// reduce merge delivers them and counts the summaries the states hold
// after every merge: at most a step's width plus two per level (2·log2
// of the chunks), where a list of every chunk's summary held 20,000; the
// state left is one block per bit of 20,000. Two arrival orders of 2,000
// chunks fold to the same bytes.
func TestBlocksHeldStayBounded(t *testing.T) {
	const width = 62 // fanout.DefaultMergeFanIn - 2
	for _, n := range []int{20_000, 2_000} {
		chunks := chunkBlocks(t, n)
		bound := width + 2*bits.Len(uint(n))
		var first string
		for seed := range uint64(2) {
			if n == 20_000 && seed > 0 {
				break // one order is enough to count; folds cost time
			}
			state, maxHeld := stepFold(t, chunks, width, seed)
			if maxHeld > bound {
				t.Errorf("n=%d seed %d: %d summaries held at once, want at most %d", n, seed, maxHeld, bound)
			}
			if len(state) != bits.OnesCount(uint(n)) {
				t.Errorf("n=%d seed %d: %d blocks left, want %d (one per bit of %d)", n, seed, len(state), bits.OnesCount(uint(n)), n)
			}
			t.Logf("n=%d seed %d: at most %d summaries held at once", n, seed, maxHeld)
			got := folded(t, state)
			if seed == 0 {
				first = got
			} else if got != first {
				t.Errorf("n=%d: arrival orders %d and 0 fold to different summaries", n, seed)
			}
		}
	}
}

// TestBlocksOrderFree merges chunk summaries in shuffled orders, in
// random groupings, with some chunks twice (retried), and gets
// byte-identical folds; and every chunk is counted once.
func TestBlocksOrderFree(t *testing.T) {
	const n = 300
	chunks := chunkBlocks(t, n)
	var want string
	var rows int64
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 11))
		// Each chunk a state of its own, some twice; then random pairs
		// of states merged until one is left.
		var states [][]profile.Block
		for _, i := range r.Perm(n) {
			states = append(states, chunks[i:i+1])
			if r.IntN(10) == 0 {
				states = append(states, chunks[i:i+1])
			}
		}
		for len(states) > 1 {
			i, j := r.IntN(len(states)), r.IntN(len(states)-1)
			if j >= i {
				j++
			}
			merged, err := profile.MergeBlocks(states[i], states[j])
			if err != nil {
				t.Fatal(err)
			}
			states[i] = merged
			states[j] = states[len(states)-1]
			states = states[:len(states)-1]
		}
		got := folded(t, states[0])
		if seed == 0 {
			want = got
			var s profile.Summary
			if err := json.Unmarshal([]byte(got), &s); err != nil {
				t.Fatal(err)
			}
			rows = s.Rows
			continue
		}
		if got != want {
			t.Errorf("seed %d: the fold differs from seed 0's", seed)
		}
	}
	if wantRows := int64(2 * n); rows != wantRows { // 1 + i%3 records a chunk: 1, 2, 3, ...
		t.Errorf("folded %d rows, want %d", rows, wantRows)
	}
}

// TestMergeBlocksRefusesMisaligned: a block whose start is not a multiple
// of its size is corrupt state, not folded.
func TestMergeBlocksRefusesMisaligned(t *testing.T) {
	chunks := chunkBlocks(t, 2)
	bad := []profile.Block{{Start: 1, Level: 1, Summary: chunks[0].Summary}}
	if _, err := profile.MergeBlocks(chunks[:1], bad); err == nil {
		t.Error("a misaligned block was merged")
	}
}
