package main

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestHeapAttribution checks the classes of the heap attribution on
// allocations whose owner is known: an object stored in a simulated
// bucket is the bucket's, a buffer this test holds is the driver's
// (anything that no worker, Redis client or bucket allocated).
func TestHeapAttribution(t *testing.T) {
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = memProfileRate
	const size = 8 << 20
	store := simstore.New(simstore.Config{Name: "heap", LargeObject: 2 * size})
	if _, err := store.Put(context.Background(), "big", bytes.NewReader(make([]byte, size)), nil); err != nil {
		t.Fatal(err)
	}
	held := make([]byte, size)
	// The profile is that of the last completed cycle; two make sure.
	runtime.GC()
	runtime.GC()
	h := &heapSampler{}
	h.sample()
	peaks, all := h.peaks()
	if peaks[heapBucket] < size/(1<<20) {
		t.Errorf("got %.1f MiB for the bucket, want at least the %d MiB object it holds", peaks[heapBucket], size>>20)
	}
	if peaks[heapDriver] < size/(1<<20) {
		t.Errorf("got %.1f MiB for the driver, want at least the %d MiB buffer the test holds", peaks[heapDriver], size>>20)
	}
	if all < peaks[heapDriver] || all >= peaks[heapDriver]+peaks[heapBucket] {
		t.Errorf("got %.1f MiB for all but the bucket, want the driver's %.1f MiB and less than it plus the bucket's %.1f MiB", all, peaks[heapDriver], peaks[heapBucket])
	}
	runtime.KeepAlive(held)
	runtime.KeepAlive(store)
}
