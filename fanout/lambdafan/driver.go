package lambdafan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/objstore"
)

// Config wires a Driver. Invoker, Function, Engine and Admin are required.
type Config struct {
	Invoker Invoker
	// Function is the worker function's name or ARN.
	Function string
	// Engine commits the job once every chunk has a marker.
	Engine *fanout.Engine
	// Admin is the queue the engine uses, for stats and reclaims.
	Admin fanout.QueueAdmin
	// Concurrency is the most work invocations kept in flight (default 10).
	Concurrency int
	// PerInvocation is how many chunks one work invocation processes at
	// once (default 1).
	PerInvocation int
	// StartGrace is how long an invocation counts as in flight before its
	// leases show in the queue (default 15s): an asynchronous invocation
	// may wait in Lambda's queue and cold-start first. One that never
	// shows up is taken as dead and replaced.
	StartGrace time.Duration
	// Poll is the interval between looks at the queue (default 1s).
	Poll time.Duration
	// BackoffBase and BackoffMax shape the jittered exponential pause after
	// a throttled or failed invocation (defaults 500ms and 30s).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Stall gives up when chunks are waiting but no invocation has held a
	// lease or finished a chunk for this long (default 10m): the worker
	// function is failing before it can claim (check its logs).
	Stall time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Stats counts what a Driver did. Fields are updated atomically.
type Stats struct {
	Invoked   atomic.Int64
	Throttled atomic.Int64
	Errors    atomic.Int64
}

// Driver fans one job out over asynchronous Lambda invocations: it keeps
// up to Concurrency work invocations in flight while chunks wait, backs
// off when Lambda throttles, notices invocations that die (their leases
// expire, the queue reclaims the chunks, and the driver invokes again),
// and commits the job when every chunk has a marker.
//
// In-flight invocations are estimated from the queue, not tracked: the
// leases held (divided by PerInvocation) plus the invocations sent but not
// seen yet (no new lease appeared for them) within the last StartGrace.
// Several drivers of one job therefore cooperate rather than multiply.
type Driver struct {
	cfg   Config
	log   *slog.Logger
	stats Stats
}

// New validates cfg and returns a Driver.
func New(cfg Config) (*Driver, error) {
	switch {
	case cfg.Invoker == nil:
		return nil, errors.New("lambdafan: Config.Invoker is required")
	case cfg.Function == "":
		return nil, errors.New("lambdafan: Config.Function is required")
	case cfg.Engine == nil:
		return nil, errors.New("lambdafan: Config.Engine is required")
	case cfg.Admin == nil:
		return nil, errors.New("lambdafan: Config.Admin is required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 10
	}
	if cfg.PerInvocation <= 0 {
		cfg.PerInvocation = 1
	}
	if cfg.StartGrace <= 0 {
		cfg.StartGrace = 15 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 500 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 10 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{cfg: cfg, log: log}, nil
}

// Stats returns the driver's counters.
func (d *Driver) Stats() *Stats { return &d.stats }

// run is the state of one Run.
type run struct {
	job, out     string
	sent         []time.Time // invocations not yet seen, oldest first
	prevRunning  int
	backoff      objstore.Backoff
	pauseUntil   time.Time
	lastProgress time.Time
	lastDone     int
	failures     int // consecutive failed commits or invocations
}

func (d *Driver) newRun(outURL, job string) *run {
	return &run{job: job, out: outURL, backoff: objstore.Backoff{Base: d.cfg.BackoffBase, Max: d.cfg.BackoffMax}, lastProgress: time.Now(), lastDone: -1}
}

// Run drives the job until it commits (or fails, or ctx ends). outURL is
// the job's output URL. It returns the job's result.
func (d *Driver) Run(ctx context.Context, outURL, job string) (fanout.Result, error) {
	r := d.newRun(outURL, job)
	for {
		res, done, err := d.step(ctx, r)
		if done {
			return res, err
		}
		wait := d.cfg.Poll
		if until := time.Until(r.pauseUntil); until > 0 && until < wait {
			wait = until
		}
		select {
		case <-ctx.Done():
			return fanout.Result{Job: job, State: fanout.StateRunning, Output: outURL, Error: ctx.Err().Error()}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Step does one round of Run for a driver that is not running (a
// scheduled sweep): reclaim, invoke what is missing, commit when ready.
// done is true when the job committed or failed.
func (d *Driver) Step(ctx context.Context, outURL, job string) (res fanout.Result, done bool, err error) {
	r := d.newRun(outURL, job)
	return d.step(ctx, r)
}

func (d *Driver) step(ctx context.Context, r *run) (fanout.Result, bool, error) {
	// The engine's one step: reclaim, rebuild a queue that forgot the job,
	// backups, settle dead tasks, start the reduce stage, commit.
	a, err := d.cfg.Engine.Advance(ctx, r.out, r.job)
	running := fanout.Result{Job: r.job, State: fanout.StateRunning, Output: r.out, Queue: a.Queue}
	switch {
	case ctx.Err() != nil:
		return fanout.Result{}, false, nil
	case a.Done:
		var failed *fanout.JobFailedError
		switch {
		case err == nil, errors.As(err, &failed), functions.IsPermanent(err), errors.Is(err, fanout.ErrUnknownJob):
			return a.Result, true, err
		}
		r.failures++
		if r.failures >= 5 {
			return a.Result, true, err
		}
		d.log.Warn("commit failed; will retry", "job", r.job, "err", err)
		return a.Result, false, nil
	case a.Busy, errors.Is(a.QueueErr, fanout.ErrUnknownJob):
		return running, false, nil // committing elsewhere; or the queue was rebuilt: look again
	case a.QueueErr != nil:
		d.log.Warn("queue stats failed", "job", r.job, "err", a.QueueErr)
		return fanout.Result{}, false, nil
	}
	st := a.Queue
	if st.Pending == 0 && st.Running == 0 {
		return running, false, nil // the step settled or enqueued what was left
	}
	now := time.Now()
	if st.Running > 0 || st.Done != r.lastDone {
		r.lastProgress, r.lastDone = now, st.Done
	}
	if now.Sub(r.lastProgress) > d.cfg.Stall {
		err := fmt.Errorf("lambdafan: job %s: %d chunks wait but no invocation of %s held a lease for %s (see the function's logs)",
			r.job, st.Pending, d.cfg.Function, d.cfg.Stall)
		return fanout.Result{Job: r.job, State: fanout.StateRunning, Output: r.out, Queue: st, Error: err.Error()}, true, err
	}
	per := d.cfg.PerInvocation
	ready := st.Pending - st.Retrying
	need := min(ceilDiv(ready+st.Running, per), d.cfg.Concurrency)
	// Invocations sent but not seen yet: leases that appeared since the
	// last look are taken as the oldest sends starting; a send not seen
	// within StartGrace is taken as dead.
	if grew := st.Running - r.prevRunning; grew > 0 {
		r.sent = r.sent[min(ceilDiv(grew, per), len(r.sent)):]
	}
	r.prevRunning = st.Running
	live := r.sent[:0]
	for _, t := range r.sent {
		if now.Sub(t) < d.cfg.StartGrace {
			live = append(live, t)
		}
	}
	r.sent = live
	have := ceilDiv(st.Running, per) + len(r.sent)
	payload := Request{Fanout: OpWork, Job: r.job, Output: r.out, Concurrency: per}.Encode()
	for have < need && !time.Now().Before(r.pauseUntil) {
		err := d.cfg.Invoker.InvokeAsync(ctx, d.cfg.Function, payload)
		if err == nil {
			d.stats.Invoked.Add(1)
			r.sent = append(r.sent, time.Now())
			have++
			r.failures = 0
			r.backoff.Reset()
			continue
		}
		if ctx.Err() != nil {
			return fanout.Result{}, false, nil
		}
		if errors.Is(err, ErrFunctionNotFound) {
			return fanout.Result{Job: r.job, State: fanout.StateRunning, Output: r.out, Error: err.Error()}, true, err
		}
		// Jittered: a fleet of drivers does not retry in step.
		pause := r.backoff.Next()
		r.pauseUntil = time.Now().Add(pause)
		if errors.Is(err, ErrThrottled) {
			d.stats.Throttled.Add(1)
			d.log.Debug("throttled; backing off", "function", d.cfg.Function, "pause", pause)
		} else {
			d.stats.Errors.Add(1)
			r.failures++
			d.log.Warn("invocation failed", "function", d.cfg.Function, "err", err)
			if r.failures >= 10 {
				return fanout.Result{Job: r.job, State: fanout.StateRunning, Output: r.out, Error: err.Error()}, true, err
			}
		}
		break
	}
	return fanout.Result{Job: r.job, State: fanout.StateRunning, Output: r.out, Queue: st}, false, nil
}

func ceilDiv(a, b int) int {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}
