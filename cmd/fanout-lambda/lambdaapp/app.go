package lambdaapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	stdmaps "maps" // the tests have a helper named maps
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/lambdafan"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/fanout/trigger"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// app is one process's wiring; a warm instance reuses it across
// invocations (one at a time).
type app struct {
	cfg     *config
	log     *slog.Logger
	engine  *fanout.Engine
	queue   *countingQueue
	admin   fanout.QueueAdmin
	trig    *trigger.Trigger
	self    string // this function's name, for hand-overs
	invoker func(context.Context) (lambdafan.Invoker, error)
}

// newApp connects to Redis and wires the engine over the functions of
// fns (exec, when fns has the built-in one, configured by cfg). wrap, when
// set, wraps every store the engine opens (tests record the S3 calls).
func newApp(ctx context.Context, cfg *config, fns *functions.Registry, log *slog.Logger, wrap ...func(objstore.Bucket) objstore.Bucket) (*app, error) {
	q, err := redisqueue.New(ctx, redisqueue.Config{URL: cfg.RedisURL, Prefix: cfg.RedisPrefix})
	if err != nil {
		return nil, err
	}
	open := func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
		b, _, err := bucketurl.Open(ctx, storeURL, cfg.Bucket)
		for _, w := range wrap {
			if err == nil {
				b = w(b)
			}
		}
		return b, err
	}
	cq := &countingQueue{Queue: q}
	cq.counts.Store(&queueCounts{})
	name := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	worker := name + ":" + os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME")
	reg := functions.NewRegistry()
	for _, name := range fns.Names() {
		f, _ := fns.Lookup(name)
		if _, ok := f.(builtin.Exec); ok {
			// mode=stream programs live as long as the instance: a
			// warm instance's next invocations reuse them.
			f = builtin.Exec{Env: cfg.ExecEnv, Pool: builtin.NewExecPool()}
		}
		reg.Register(f)
	}
	secrets := append(fanout.SecretValues(os.Environ()), fanout.URLSecrets(cfg.RedisURL)...)
	if cfg.SpecKey != nil {
		secrets = append(secrets, string(cfg.SpecKey))
	}
	admit := &fanout.Admission{Outputs: cfg.OutBases, SpecKey: cfg.SpecKey, Function: func(spec manifest.JobSpec) error {
		if t := cfg.Trigger; t != nil && spec.Function == t.Function && stdmaps.Equal(spec.Args, t.Args) {
			return nil // what FANOUT_FUNCTION and FANOUT_FUNCTION_ARGS say runs
		}
		return cfg.AllowExec.Check(spec.Function, spec.Args)
	}}
	eng, err := fanout.New(fanout.Config{Queue: cq, Admin: q, Open: open, Functions: reg, Secrets: secrets, Logger: log, WorkerName: worker,
		MemoryMB: cfg.MemoryMB, SpecKey: cfg.SpecKey, Admit: admit})
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, engine: eng, queue: cq, admin: q, self: name}
	var once sync.Once
	var inv lambdafan.Invoker
	var invErr error
	a.invoker = func(ctx context.Context) (lambdafan.Invoker, error) {
		once.Do(func() { inv, invErr = lambdafan.NewClientFromEnv(ctx, "") })
		return inv, invErr
	}
	if cfg.Trigger != nil {
		if _, err := reg.Lookup(cfg.Trigger.Function); err != nil {
			return nil, fmt.Errorf("FANOUT_FUNCTION: %w", err)
		}
		a.trig, err = trigger.New(trigger.Config{
			Template: trigger.Template{Spec: *cfg.Trigger}, Inputs: cfg.Inputs, Open: open, Submitter: eng,
			MaxObjects: cfg.MaxObjects, Logger: log,
		})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// queueCounts is what one invocation's workers did with leases.
type queueCounts struct {
	claimed, released atomic.Int64
}

// countingQueue counts claims and releases for the work summary.
type countingQueue struct {
	fanout.Queue
	counts atomic.Pointer[queueCounts]
}

func (q *countingQueue) Claim(ctx context.Context, job, worker string, runs fanout.Runs) (fanout.Lease, error) {
	l, err := q.Queue.Claim(ctx, job, worker, runs)
	if err == nil {
		q.counts.Load().claimed.Add(1)
	}
	return l, err
}

func (q *countingQueue) Release(ctx context.Context, l fanout.Lease) error {
	err := q.Queue.Release(ctx, l)
	if err == nil {
		q.counts.Load().released.Add(1)
	}
	return err
}

// handle routes one invocation by its payload.
func (a *app) handle(ctx context.Context, payload json.RawMessage) (any, error) {
	req, ok, err := lambdafan.DecodeRequest(payload)
	if err != nil {
		return nil, err
	}
	if ok {
		switch req.Fanout {
		case lambdafan.OpWork:
			return a.work(ctx, req)
		case lambdafan.OpCommit:
			return a.commit(ctx, req)
		case lambdafan.OpDrive:
			return a.drive(ctx, req)
		}
	}
	events, err := trigger.Parse(payload)
	if err != nil {
		return nil, fmt.Errorf("fanout-lambda: %w (want a bucket event or {\"fanout\":\"work\"|\"commit\"|\"drive\",...})", err)
	}
	return a.triggered(ctx, events)
}

// budget splits the time left before the invocation's deadline: workers
// stop claiming at stopClaiming, running chunks may go on for grace, and
// margin is kept to release leases and answer.
func (a *app) budget(ctx context.Context) (stopClaiming time.Time, grace, margin time.Duration) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(15 * time.Minute)
	}
	left := time.Until(deadline)
	margin, grace = a.cfg.Margin, a.cfg.Grace
	if margin == 0 {
		margin = min(max(left/20, 200*time.Millisecond), 20*time.Second)
	}
	if grace == 0 {
		grace = min(left/6, 2*time.Minute)
	}
	return deadline.Add(-margin - grace), grace, margin
}

// work is a work invocation.
func (a *app) work(ctx context.Context, req lambdafan.Request) (lambdafan.WorkSummary, error) {
	counts := &queueCounts{}
	a.queue.counts.Store(counts)
	stop, grace, _ := a.budget(ctx)
	wctx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()
	conc := req.Concurrency
	if conc <= 0 {
		conc = a.cfg.WorkConc
	}
	stats := &fanout.WorkStats{}
	err := a.engine.Work(wctx, fanout.WorkOptions{Concurrency: conc, Job: req.Job, ExitWhenIdle: true, Grace: grace, Stats: stats})
	sum := lambdafan.WorkSummary{Job: req.Job, Claimed: counts.claimed.Load(), Chunks: stats.Chunks.Load(), Skipped: stats.Skipped.Load(),
		Failed: stats.Failed.Load(), LeasesLost: stats.LeasesLost.Load(), Released: counts.released.Load(),
		RecordsIn: stats.RecordsIn.Load(), RecordsOut: stats.RecordsOut.Load(), BytesIn: stats.BytesIn.Load(), Stopped: "idle"}
	if wctx.Err() != nil {
		sum.Stopped = "deadline"
	}
	a.log.Info("work invocation done", "job", req.Job, "claimed", sum.Claimed, "chunks", sum.Chunks, "released", sum.Released, "stopped", sum.Stopped)
	if err != nil {
		return sum, err
	}
	// The invocation that finished the last chunk commits, so that a job
	// completes even when its driver is gone.
	if req.Job != "" && sum.Stopped == "idle" && ctx.Err() == nil {
		st, err := a.admin.Stats(ctx, req.Job)
		switch {
		case err == nil && st.Pending == 0 && st.Running == 0:
			out, oerr := a.outputOf(ctx, req)
			if oerr == nil {
				res, cerr := a.engine.TryCommit(ctx, out, req.Job)
				sum.State = res.State
				if cerr != nil {
					a.log.Warn("commit failed", "job", req.Job, "err", cerr)
				}
			}
		case errors.Is(err, fanout.ErrUnknownJob):
			// Finished in the queue: committed already, by this
			// invocation's idle workers (Work's last look at the job)
			// or by another; the commit record says which state.
			if out, oerr := a.outputOf(ctx, req); oerr == nil {
				if res, serr := a.engine.Status(ctx, out, req.Job); serr == nil {
					sum.State = res.State
				}
			}
		}
	}
	return sum, nil
}

func (a *app) outputOf(ctx context.Context, req lambdafan.Request) (string, error) {
	if req.Output != "" {
		return req.Output, nil
	}
	return a.engine.OutputOf(ctx, req.Job)
}

// commitSummary is what a commit invocation returns.
type commitSummary struct {
	Jobs []fanout.Result `json:"jobs"`
}

// commit commits one job, or sweeps every job in the queue: reclaim,
// top up work invocations (with a worker function), commit what is done.
func (a *app) commit(ctx context.Context, req lambdafan.Request) (commitSummary, error) {
	sum := commitSummary{Jobs: []fanout.Result{}}
	if req.Job != "" {
		out, err := a.outputOf(ctx, req)
		if err != nil {
			return sum, err
		}
		res, err := a.engine.TryCommit(ctx, out, req.Job)
		sum.Jobs = append(sum.Jobs, res)
		return sum, err
	}
	jobs, err := a.admin.Jobs(ctx)
	if err != nil {
		return sum, err
	}
	var errs []error
	for _, j := range jobs {
		out, err := a.engine.OutputOf(ctx, j.Job)
		if errors.Is(err, fanout.ErrNotAdmitted) {
			continue // a job this function does not run (FANOUT_OUT_BASES, FANOUT_SPEC_KEY): not its to drive
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var res fanout.Result
		if a.cfg.WorkerFunction != "" {
			d, derr := a.driver(ctx, a.cfg.WorkerFunction, a.cfg.Concurrency)
			if derr != nil {
				return sum, derr
			}
			res, _, err = d.Step(ctx, out, j.Job)
		} else {
			res, err = a.engine.TryCommit(ctx, out, j.Job)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", j.Job, err))
		}
		sum.Jobs = append(sum.Jobs, res)
	}
	return sum, errors.Join(errs...)
}

func (a *app) driver(ctx context.Context, function string, concurrency int) (*lambdafan.Driver, error) {
	inv, err := a.invoker(ctx)
	if err != nil {
		return nil, err
	}
	if concurrency <= 0 {
		concurrency = a.cfg.Concurrency
	}
	return lambdafan.New(lambdafan.Config{Invoker: inv, Function: function, Engine: a.engine, Admin: a.admin,
		Concurrency: concurrency, PerInvocation: a.cfg.WorkConc, StartGrace: a.cfg.StartGrace, Logger: a.log})
}

// jobOutcome is what a triggering or drive invocation reports per job.
type jobOutcome struct {
	Job    string `json:"job"`
	Output string `json:"output"`
	State  string `json:"state"`
	// HandedOver is true when the job was still running at the deadline
	// and a drive invocation took over.
	HandedOver bool   `json:"handed_over,omitempty"`
	Error      string `json:"error,omitempty"`
}

// drive is a drive invocation.
func (a *app) drive(ctx context.Context, req lambdafan.Request) (jobOutcome, error) {
	out, err := a.outputOf(ctx, req)
	if err != nil {
		return jobOutcome{Job: req.Job}, err
	}
	return a.driveJob(ctx, req.Function, req.Concurrency, out, req.Job)
}

// driveJob fans a job out until it commits or this invocation's deadline
// is near; then a new drive invocation of this function takes over.
func (a *app) driveJob(ctx context.Context, function string, concurrency int, out, job string) (jobOutcome, error) {
	o := jobOutcome{Job: job, Output: out}
	d, err := a.driver(ctx, function, concurrency)
	if err != nil {
		return o, err
	}
	_, _, margin := a.budget(ctx)
	deadline, _ := ctx.Deadline()
	dctx, cancel := context.WithDeadline(ctx, deadline.Add(-margin))
	defer cancel()
	res, err := d.Run(dctx, out, job)
	o.State = res.State
	if err == nil || dctx.Err() == nil {
		if err != nil {
			o.Error = err.Error()
		}
		return o, err
	}
	// Out of time: hand over to a fresh drive invocation.
	inv, ierr := a.invoker(ctx)
	if ierr == nil {
		req := lambdafan.Request{Fanout: lambdafan.OpDrive, Job: job, Output: out, Function: function, Concurrency: concurrency}
		ierr = inv.InvokeAsync(context.WithoutCancel(ctx), a.self, req.Encode())
	}
	if ierr != nil {
		return o, fmt.Errorf("fanout-lambda: job %s still running at the deadline and the hand-over failed: %w", job, ierr)
	}
	o.HandedOver = true
	a.log.Info("handed the job over to a new drive invocation", "job", job)
	return o, nil
}

// triggerSummary is what a bucket-event invocation returns.
type triggerSummary struct {
	trigger.Report
	Outcomes []jobOutcome `json:"outcomes,omitempty"`
}

// triggered starts jobs over the events' objects and runs them.
func (a *app) triggered(ctx context.Context, events []trigger.ObjectEvent) (triggerSummary, error) {
	var sum triggerSummary
	if len(events) == 0 {
		return sum, nil // S3's test event
	}
	if a.trig == nil {
		return sum, errors.New("fanout-lambda: a bucket event arrived but FANOUT_FUNCTION and FANOUT_OUTPUT are not set")
	}
	rep, err := a.trig.Process(ctx, events)
	sum.Report = rep
	if err != nil {
		// Some batch could not be settled: fail so that Lambda (or SQS)
		// delivers the events again; what was settled is not redone.
		return sum, err
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, j := range rep.Jobs {
		// A duplicate's job belongs to whoever submitted it (and to the
		// scheduled sweep); a retry of this very batch runs it again.
		if j.Job == "" || j.Duplicate && !j.New {
			continue
		}
		g.Go(func() error {
			var o jobOutcome
			var err error
			if a.cfg.WorkerFunction != "" {
				o, err = a.driveJob(gctx, a.cfg.WorkerFunction, a.cfg.Concurrency, j.Output, j.Job)
			} else {
				o, err = a.workJob(gctx, j.Output, j.Job)
			}
			mu.Lock()
			sum.Outcomes = append(sum.Outcomes, o)
			mu.Unlock()
			return err
		})
	}
	return sum, g.Wait()
}

// workJob works on a job in this invocation until it commits. A job not
// done by the deadline fails the invocation, so that Lambda's retry of
// the event (which finds the same batch) carries on with it.
func (a *app) workJob(ctx context.Context, out, job string) (jobOutcome, error) {
	o := jobOutcome{Job: job, Output: out}
	stop, _, _ := a.budget(ctx)
	for {
		sum, err := a.work(ctx, lambdafan.Request{Job: job, Output: out})
		if err != nil {
			return o, err
		}
		if sum.State == fanout.StateCommitted {
			o.State = sum.State
			return o, nil
		}
		res, err := a.engine.TryCommit(ctx, out, job)
		o.State = res.State
		if err != nil {
			o.Error = err.Error()
			return o, err
		}
		if res.State != fanout.StateRunning {
			return o, nil
		}
		if time.Now().After(stop) {
			err := fmt.Errorf("fanout-lambda: job %s not finished before the deadline; a retry of the event continues it", job)
			o.Error = err.Error()
			return o, err
		}
		// Chunks held by others (a concurrent retry) or backing off.
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
