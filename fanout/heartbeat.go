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
	timer  *time.Timer      // starts the heartbeats when the first is due
	done   chan struct{}    // closed when the heartbeats end (or by stop, never started)
	now    func() time.Time // the local clock
	dur    time.Duration
	// fresher is the lease duration fresh counts on (freshFor): zero,
	// never fresh, when the queue's deadline does not agree with dur.
	fresher time.Duration
	mu      sync.Mutex
	lost    bool
	// lastOK is the lease's latest confirmation on the local clock: a
	// time before its claim was answered, then each successful heartbeat.
	// It only shortens how long we trust a lease we cannot confirm, never
	// lengthens it.
	lastOK time.Time
}

// freshFor is the lease duration a lease of the job's duration dur
// counts on for fresh, from the deadline the queue gave it (expires, on
// the queue's clock) and when its claim or renewal was sent (sent, on
// the local clock): dur when the two agree within an eighth of dur, zero
// (never fresh) when they do not or either is unknown. The difference of
// two clocks only tells whether they agree: a lease shortened since the
// engine read the job's spec, or a clock far from the queue's, is
// confirmed before its marker as before, and a lease trusted for a
// quarter of dur has at least about five eighths of it left.
func freshFor(dur time.Duration, expires, sent time.Time) time.Duration {
	if expires.IsZero() || sent.IsZero() {
		return 0
	}
	if d := expires.Sub(sent) - dur; d > dur/8 || d < -dur/8 {
		return 0
	}
	return dur
}

// freshLease is the part of a lease's duration within which, counted
// from its latest confirmation, an attempt publishes without confirming
// it again (heartbeat.fresh).
const freshLease = 4

// fresh reports whether the lease was confirmed (claimed or renewed)
// less than a quarter of its duration ago, so that it has not expired
// unless the queue's clock jumped ahead, the queue lost the claim (a
// failover to a replica behind), or this host was suspended meanwhile
// (the monotonic clock stops). Then another attempt may run the chunk
// too, as after any lease lost, and the marker's create-only write
// decides which one's output counts: the heartbeat just before the
// marker (publish) is a hint, which a fresh lease skips. What it would
// tell more: that the job was cancelled since (cancel.go), which a
// marker of a cancelled job survives harmlessly (under
// <out>/_fanout/<job>/, never committed; its open uploads are the job's
// garbage for `fanout gc`). A chunk of the scale simulation publishes
// some tens of milliseconds after its claim, so it saves a round trip a
// chunk (docs/scale.md).
func (hb *heartbeat) fresh() bool {
	if hb == nil {
		return false
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return !hb.lost && hb.now().Sub(hb.lastOK) < hb.fresher/freshLease
}

// startHeartbeat heartbeats lease, of duration dur, whose claim was sent
// at claimed (local clock; zero when not known) or later. Nothing runs
// until the first heartbeat is due (a third of dur): most chunks end
// before, and a goroutine and a ticker an attempt were a percent of the
// scale simulation's CPU.
func (e *Engine) startHeartbeat(parent context.Context, lease Lease, dur time.Duration, claimed time.Time) (*heartbeat, context.Context) {
	q, log, localNow := e.cfg.Queue, e.log, e.cfg.Clock
	ctx, cancel := context.WithCancelCause(parent)
	if dur <= 0 {
		dur = time.Minute
	}
	fresher := freshFor(dur, lease.Expires, claimed)
	if claimed.IsZero() {
		claimed = localNow() // trusted for dur from now, as before fresh leases
	}
	hb := &heartbeat{cancel: cancel, done: make(chan struct{}), now: localNow, dur: dur, fresher: fresher, lastOK: claimed}
	interval := dur / 3
	hb.timer = time.AfterFunc(interval, func() {
		defer close(hb.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		first := true
		for {
			if !first {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			first = false
			if ctx.Err() != nil {
				return
			}
			hctx, hcancel := context.WithTimeout(ctx, interval)
			sent := localNow()
			next, err := q.Heartbeat(hctx, lease)
			hcancel()
			switch {
			case err == nil:
				lease = next
				hb.mu.Lock()
				hb.lastOK = sent
				hb.fresher = min(hb.fresher, freshFor(dur, next.Expires, sent)) // the queue's lease may have been shortened
				hb.mu.Unlock()
			case errors.Is(err, ErrLeaseLost):
				hb.markLost()
				cancel(err) // the queue's words: the job may have left it (ErrUnknownJob)
				return
			case ctx.Err() != nil:
				return
			default:
				log.Warn("heartbeat failed", "chunk", lease.Chunk, "err", err)
				hb.mu.Lock()
				stale := localNow().Sub(hb.lastOK) >= dur-interval/2
				hb.mu.Unlock()
				if stale {
					// We can no longer know whether we hold the lease: stop.
					hb.markLost()
					cancel(ErrLeaseLost)
					return
				}
			}
		}
	})
	return hb, ctx
}

func (hb *heartbeat) markLost() {
	hb.mu.Lock()
	hb.lost = true
	hb.mu.Unlock()
}

// stop ends the heartbeat and reports whether the lease was lost. It may
// be called more than once.
func (hb *heartbeat) stop() bool {
	hb.cancel(nil)
	if hb.timer.Stop() {
		close(hb.done) // it never ran, and now never will
	} else {
		<-hb.done // it ran: it ends now that its context is done
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return hb.lost
}
