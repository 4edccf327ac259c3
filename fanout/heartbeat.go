package fanout

import (
	"context"
	"errors"
	"sync"
	"time"
)

// heartbeat extends one lease every third of its duration while a chunk
// runs. When the queue says the lease is lost, or no heartbeat succeeded
// before the lease would have expired, it cancels the chunk's context: the
// attempt stops and its marker is never written. It is owned by runLease
// and stopped by stop.
type heartbeat struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
	mu     sync.Mutex
	lost   bool
}

func (e *Engine) startHeartbeat(parent context.Context, lease Lease, dur time.Duration) (*heartbeat, context.Context) {
	q, log, localNow := e.cfg.Queue, e.log, e.cfg.Clock
	ctx, cancel := context.WithCancelCause(parent)
	hb := &heartbeat{cancel: cancel, done: make(chan struct{})}
	if dur <= 0 {
		dur = time.Minute
	}
	go func() {
		defer close(hb.done)
		interval := dur / 3
		t := time.NewTicker(interval)
		defer t.Stop()
		// lastOK is on the local clock; it only shortens how long we trust a
		// lease we cannot confirm, never lengthens it.
		lastOK := localNow()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			hctx, hcancel := context.WithTimeout(ctx, interval)
			next, err := q.Heartbeat(hctx, lease)
			hcancel()
			switch {
			case err == nil:
				lease = next
				lastOK = localNow()
			case errors.Is(err, ErrLeaseLost):
				hb.markLost()
				cancel(err) // the queue's words: the job may have left it (ErrUnknownJob)
				return
			case ctx.Err() != nil:
				return
			default:
				log.Warn("heartbeat failed", "chunk", lease.Chunk, "err", err)
				if localNow().Sub(lastOK) >= dur-interval/2 {
					// We can no longer know whether we hold the lease: stop.
					hb.markLost()
					cancel(ErrLeaseLost)
					return
				}
			}
		}
	}()
	return hb, ctx
}

func (hb *heartbeat) markLost() {
	hb.mu.Lock()
	hb.lost = true
	hb.mu.Unlock()
}

// stop ends the heartbeat and reports whether the lease was lost.
func (hb *heartbeat) stop() bool {
	hb.cancel(nil)
	<-hb.done
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.lost
}
