package profile

import (
	"encoding/json"
	"errors"
	"fmt"
)

// A Block is the encoded Summary of an aligned block of chunks: chunks
// [Start, Start+2^Level), by the chunks' indexes (functions.ChunkInput).
// A chunk's own summary is a block of level 0.
//
// The partial state of a profile is the set of maximal blocks of the
// chunks seen so far, sorted by Start: two sibling blocks (Start/2^Level
// even and odd, same level) are folded into their parent as soon as both
// are there, left then right. So a block's summary is always the same
// binary tree fold of its chunks, and the state is a function of the set
// of chunks seen, whatever the order and grouping they were merged in:
// the profile is deterministic although t-digest and Misra-Gries merges
// depend on order. And the state stays small: the chunks of a contiguous
// range [a, b) make at most 2·log2(b-a) maximal blocks (the engine merges
// map files in chunk order, in steps of bounded fan-in), instead of one
// summary per chunk.
type Block struct {
	Start uint64
	Level uint8
	// Summary is the block's Summary as JSON.
	Summary string
}

// end is the index just past the block's last chunk.
func (b Block) end() uint64 { return b.Start + 1<<b.Level }

// maxLevel is the highest level a block can have (chunk indexes are below
// 2^63).
const maxLevel = 62

var errBlock = errors.New("profile: a block that is not aligned")

// MergeBlocks merges two block lists, each sorted by Start and made of
// disjoint aligned blocks, into the maximal blocks of their union: a block
// in both (a retried chunk's, say) or inside a larger one is kept once,
// and siblings are folded into their parent until none are left.
func MergeBlocks(a, b []Block) ([]Block, error) {
	out := make([]Block, 0, len(a)+len(b))
	var covered uint64 // chunks below this are in out
	push := func(x Block) error {
		if x.Level > maxLevel || x.Start&(1<<x.Level-1) != 0 {
			return errBlock
		}
		if x.Start < covered {
			if x.end() > covered {
				return errBlock // overlaps without containment: not aligned
			}
			return nil // inside a block already kept
		}
		covered = x.end()
		out = append(out, x)
		// Fold siblings: the new block may complete its parent, and that
		// its grandparent, and so on.
		for len(out) >= 2 {
			l, r := out[len(out)-2], out[len(out)-1]
			if l.Level != r.Level || l.Level == maxLevel || (l.Start>>l.Level)&1 != 0 || l.end() != r.Start {
				break
			}
			s, err := foldPair(l.Summary, r.Summary)
			if err != nil {
				return err
			}
			out = out[:len(out)-2]
			out = append(out, Block{Start: l.Start, Level: l.Level + 1, Summary: s})
		}
		return nil
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var x Block
		// By Start, the larger block first when both start together.
		if j == len(b) || (i < len(a) && (a[i].Start < b[j].Start || (a[i].Start == b[j].Start && a[i].Level >= b[j].Level))) {
			x = a[i]
			i++
		} else {
			x = b[j]
			j++
		}
		if err := push(x); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// foldPair folds two encoded summaries, left then right.
func foldPair(l, r string) (string, error) {
	var sl, sr Summary
	if err := json.Unmarshal([]byte(l), &sl); err != nil {
		return "", fmt.Errorf("profile: decoding a summary: %w", err)
	}
	if err := json.Unmarshal([]byte(r), &sr); err != nil {
		return "", fmt.Errorf("profile: decoding a summary: %w", err)
	}
	s, err := Fold([]*Summary{&sl, &sr})
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// FoldBlocks folds the blocks of a state, in the order given (by Start),
// into one Summary.
func FoldBlocks(blocks []Block) (*Summary, error) {
	parts := make([]*Summary, len(blocks))
	for i, b := range blocks {
		parts[i] = new(Summary)
		if err := json.Unmarshal([]byte(b.Summary), parts[i]); err != nil {
			return nil, fmt.Errorf("profile: decoding a summary: %w", err)
		}
	}
	return Fold(parts)
}
