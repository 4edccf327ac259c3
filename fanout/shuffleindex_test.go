package fanout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestIndexBuilderSpillsInOrder: an index built with a budget so small
// that it spills after every file is the same object as one built in
// memory, and each section lists its files in the order they were added.
func TestIndexBuilderSpillsInOrder(t *testing.T) {
	const parts, files = 5, 200
	ctx := context.Background()
	store := simstore.New(simstore.Config{})
	build := func(budget int) []byte {
		b := newIndexBuilder(parts, budget)
		defer b.close()
		for i := range files {
			offsets := make([]int64, parts+1)
			for p := 1; p <= parts; p++ {
				offsets[p] = offsets[p-1] + int64((i+p)%3) // some partitions empty
			}
			f := manifest.OutputFile{Key: fmt.Sprintf("out/_fanout/j/staging/%s/1/shuffle.bin", manifest.ChunkID(i)),
				ETag: fmt.Sprintf("etag%d", i), Size: offsets[parts], Partitions: offsets}
			if err := b.add(manifest.ChunkID(i), f); err != nil {
				t.Fatal(err)
			}
		}
		key := fmt.Sprintf("idx-%d", budget)
		if _, err := b.put(ctx, store, key); err != nil {
			t.Fatal(err)
		}
		if budget == 1 && len(b.runs) != files {
			t.Fatalf("budget 1 spilled %d runs, want one a file (%d)", len(b.runs), files)
		}
		rc, _, err := store.Get(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		body, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	inMemory, spilled := build(1<<20), build(1)
	if !bytes.Equal(inMemory, spilled) {
		t.Fatalf("the spilled index (%d bytes) differs from the one built in memory (%d bytes)", len(spilled), len(inMemory))
	}
	offsets, err := manifest.DecodeShuffleIndexHeader(spilled[:manifest.ShuffleIndexHeaderSize(parts)], parts, int64(len(spilled)))
	if err != nil {
		t.Fatal(err)
	}
	for p := range parts {
		r := manifest.NewShuffleSectionReader(bytes.NewReader(spilled[offsets[p]:offsets[p+1]]), offsets[p], offsets[p+1])
		var got []int
		for {
			e, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := int64((e.Chunk + p + 1) % 3); e.Length != want || e.ETag != fmt.Sprintf("etag%d", e.Chunk) {
				t.Fatalf("partition %d: entry %+v; want length %d, its chunk's ETag", p, e, want)
			}
			got = append(got, e.Chunk)
		}
		var want []int
		for i := range files {
			if (i+p+1)%3 != 0 {
				want = append(want, i)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("partition %d lists chunks %v, want %v", p, got, want)
		}
	}
}
