package fanout

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestAPanicInAMarkerWalkIsNotAHang: a walk over more markers than its
// window whose fn panics ends, passing the panic on, instead of waiting
// forever for its readers (which waited for a feeder that only a
// cancelled context, deferred behind them, would have stopped).
func TestAPanicInAMarkerWalkIsNotAHang(t *testing.T) {
	ctx := context.Background()
	sim := simstore.New(simstore.Config{Name: "walk"})
	job := manifest.JobID(manifest.JobSpec{}, "walk")
	body, err := manifest.Encode(&manifest.ChunkMarker{Version: manifest.Version, Job: job, Chunk: manifest.ChunkID(0),
		Epoch: 1, State: manifest.MarkerDone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Put(ctx, "marker", bytes.NewReader(body), nil); err != nil {
		t.Fatal(err)
	}
	js := &jobState{job: job, out: sim}
	n := 4 * (markerWindow + commitParallelism)
	got := make(chan any, 1)
	go func() {
		defer func() { got <- recover() }()
		_ = (&Engine{}).walkMarkers(ctx, js, n, manifest.ChunkID, func(string) string { return "marker" },
			func(*manifest.ChunkMarker) error { panic("fn panicked") })
	}()
	select {
	case p := <-got:
		if p != "fn panicked" {
			t.Fatalf("walkMarkers ended with %v, want fn's panic", p)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("walkMarkers did not end within 20 s of fn's panic: its readers wait for a feeder nothing stops")
	}
}
