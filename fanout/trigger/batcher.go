package trigger

import (
	"context"
	"errors"
	"sync"
	"time"
)

// BatcherConfig configures a Batcher. Flush is required.
type BatcherConfig struct {
	// Window is how long a batch stays open after its first event
	// (default 30s): events arriving meanwhile join it.
	Window time.Duration
	// MaxObjects closes a batch as soon as it holds this many distinct
	// objects (default DefaultMaxObjects).
	MaxObjects int
	// Flush receives each closed batch, one batch at a time, from Run's
	// goroutine. Its error is handed to the Add calls whose events were
	// in the batch.
	Flush func(ctx context.Context, events []ObjectEvent) error
	// Recent is how many identities of flushed objects the batcher
	// remembers to drop repeats without calling Flush (default 10,000).
	Recent int
	// FinalFlush bounds the flush of the last open batch when Run's
	// context ends (default 30s).
	FinalFlush time.Duration
}

// Batcher groups events into batches by time window and size, so that a
// burst of uploads becomes one job. It drops events repeated within a
// batch or among recently flushed ones (the claims in the bucket catch the
// rest).
type Batcher struct {
	cfg   BatcherConfig
	ready chan *batch

	mu      sync.Mutex
	open    *batch
	recent  map[string]bool
	order   []string // recent identities, oldest first
	stopped bool
}

type batch struct {
	events  []ObjectEvent
	ids     map[string]bool
	waiters []*waiter
	timer   *time.Timer
	sealed  bool
}

// waiter collects the outcome of every batch that holds some of one Add
// call's events.
type waiter struct {
	mu      sync.Mutex
	pending int
	errs    []error
	done    chan error
}

func (w *waiter) finish(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending--
	if err != nil {
		w.errs = append(w.errs, err)
	}
	if w.pending == 0 {
		w.done <- errors.Join(w.errs...)
	}
}

// ErrStopped is what Add reports once Run has returned.
var ErrStopped = errors.New("trigger: batcher stopped")

// NewBatcher returns a Batcher; start Run to flush its batches.
func NewBatcher(cfg BatcherConfig) *Batcher {
	if cfg.Window <= 0 {
		cfg.Window = 30 * time.Second
	}
	if cfg.MaxObjects <= 0 {
		cfg.MaxObjects = DefaultMaxObjects
	}
	if cfg.Recent <= 0 {
		cfg.Recent = 10000
	}
	if cfg.FinalFlush <= 0 {
		cfg.FinalFlush = 30 * time.Second
	}
	return &Batcher{cfg: cfg, ready: make(chan *batch, 64), recent: map[string]bool{}}
}

// Add puts events into the open batch (opening one when needed) and
// returns a channel that receives, once, the outcome of flushing every
// batch that holds them: nil when they were flushed (or were repeats of
// flushed events), an error otherwise.
func (b *Batcher) Add(events ...ObjectEvent) <-chan error {
	w := &waiter{done: make(chan error, 1), pending: 1} // one for Add itself
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		w.done <- ErrStopped
		return w.done
	}
	var sealed []*batch
	for _, ev := range events {
		id := ev.Identity()
		if b.recent[id] {
			continue
		}
		if b.open == nil {
			b.open = &batch{ids: map[string]bool{}}
			bt := b.open
			bt.timer = time.AfterFunc(b.cfg.Window, func() { b.seal(bt) })
		}
		bt := b.open
		if !bt.ids[id] {
			bt.ids[id] = true
			bt.events = append(bt.events, ev)
		}
		if len(bt.waiters) == 0 || bt.waiters[len(bt.waiters)-1] != w {
			bt.waiters = append(bt.waiters, w)
			w.mu.Lock()
			w.pending++
			w.mu.Unlock()
		}
		if len(bt.events) >= b.cfg.MaxObjects {
			bt.timer.Stop()
			bt.sealed = true
			b.open = nil
			sealed = append(sealed, bt)
		}
	}
	b.mu.Unlock()
	for _, bt := range sealed {
		b.ready <- bt
	}
	w.finish(nil)
	return w.done
}

// seal closes a batch whose window ended.
func (b *Batcher) seal(bt *batch) {
	b.mu.Lock()
	if bt.sealed || b.stopped {
		b.mu.Unlock()
		return
	}
	bt.sealed = true
	if b.open == bt {
		b.open = nil
	}
	b.mu.Unlock()
	b.ready <- bt
}

// Run flushes closed batches until ctx ends; then it closes and flushes
// the open batch (within FinalFlush), fails later Add calls with
// ErrStopped and returns.
func (b *Batcher) Run(ctx context.Context) {
	for {
		select {
		case bt := <-b.ready:
			b.flush(ctx, bt)
		case <-ctx.Done():
			b.mu.Lock()
			b.stopped = true
			last := b.open
			b.open = nil
			if last != nil {
				last.timer.Stop()
				last.sealed = true
			}
			b.mu.Unlock()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.FinalFlush)
			defer cancel()
			for {
				select {
				case bt := <-b.ready:
					b.flush(fctx, bt)
					continue
				default:
				}
				break
			}
			if last != nil {
				b.flush(fctx, last)
			}
			return
		}
	}
}

func (b *Batcher) flush(ctx context.Context, bt *batch) {
	err := b.cfg.Flush(ctx, bt.events)
	if err == nil {
		b.mu.Lock()
		for _, ev := range bt.events {
			id := ev.Identity()
			if !b.recent[id] {
				b.recent[id] = true
				b.order = append(b.order, id)
			}
		}
		for len(b.order) > b.cfg.Recent {
			delete(b.recent, b.order[0])
			b.order = b.order[1:]
		}
		b.mu.Unlock()
	}
	for _, w := range bt.waiters {
		w.finish(err)
	}
}
