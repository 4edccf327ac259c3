package trigger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

type flushLog struct {
	mu      sync.Mutex
	batches [][]ObjectEvent
	err     error
}

func (f *flushLog) flush(_ context.Context, evs []ObjectEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, evs)
	return f.err
}

func (f *flushLog) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []int
	for _, b := range f.batches {
		s = append(s, len(b))
	}
	return s
}

func wait(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no flush outcome within 10s")
		return nil
	}
}

func TestBatcherWindow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &flushLog{}
	b := NewBatcher(BatcherConfig{Window: 50 * time.Millisecond, Flush: log.flush})
	go b.Run(ctx)
	c1 := b.Add(ev("a", "1"), ev("b", "1"))
	c2 := b.Add(ev("a", "1")) // a repeat within the window
	if err := wait(t, c1); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, c2); err != nil {
		t.Fatal(err)
	}
	if got := log.sizes(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("flushed batches of %v, want one of 2", got)
	}
	// A repeat of a flushed event is dropped at once.
	if err := wait(t, b.Add(ev("b", "1"))); err != nil {
		t.Fatal(err)
	}
	if got := log.sizes(); len(got) != 1 {
		t.Fatalf("a repeat of a flushed event was flushed again: %v", got)
	}
}

func TestBatcherMaxObjects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &flushLog{}
	b := NewBatcher(BatcherConfig{Window: time.Hour, MaxObjects: 2, Flush: log.flush})
	go b.Run(ctx)
	var evs []ObjectEvent
	for i := range 4 {
		evs = append(evs, ev(fmt.Sprint(i), "1"))
	}
	if err := wait(t, b.Add(evs...)); err != nil {
		t.Fatal(err)
	}
	if got := log.sizes(); len(got) != 2 || got[0] != 2 || got[1] != 2 {
		t.Fatalf("flushed %v, want two batches of 2 without waiting for the window", got)
	}
}

func TestBatcherErrorAndStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	log := &flushLog{err: errors.New("queue down")}
	b := NewBatcher(BatcherConfig{Window: time.Hour, Flush: log.flush})
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	ch := b.Add(ev("a", "1"))
	cancel() // stopping flushes the open batch
	if err := wait(t, ch); err == nil || err.Error() != "queue down" {
		t.Fatalf("got %v, want the flush error", err)
	}
	<-done
	if err := wait(t, b.Add(ev("a", "1"))); !errors.Is(err, ErrStopped) {
		t.Fatalf("Add after stop: got %v, want ErrStopped", err)
	}
	// A failed batch is not remembered as flushed.
	if b.recent[ev("a", "1").Identity()] {
		t.Errorf("a failed flush marked its events as done")
	}
}
