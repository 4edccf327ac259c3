package cli

// This file holds `fanout serve` and what the bucket-event commands
// (serve, watch) and `run --invoke` share: the trigger flags, the runner
// that works on or drives triggered jobs to their commit, and the Lambda
// fan-out wiring.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/dashboard"
	"github.com/fanout-dev/fanout/fanout/lambdafan"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/fanout/trigger"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// invokeFlags choose Lambda as the workers: --invoke lambda:FUNCTION.
type invokeFlags struct {
	target      string
	concurrency int
	perInvoke   int
	startGrace  time.Duration
}

func (f *invokeFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.target, "invoke", "", "fan chunks out over asynchronous invocations of a Lambda function: `lambda:FUNCTION` (name or ARN; AWS_ENDPOINT_URL_LAMBDA for an emulator)")
	fl.IntVar(&f.concurrency, "concurrency", 10, "with --invoke: most invocations in flight per job, `N`")
	fl.IntVar(&f.perInvoke, "invoke-chunks", 1, "with --invoke: `N` chunks one invocation processes at once")
	fl.DurationVar(&f.startGrace, "invoke-start-grace", 15*time.Second, "with --invoke: how long (`DURATION`) a sent invocation counts as in flight before its leases show")
}

// function returns the Lambda function named by --invoke.
func (f *invokeFlags) function() (string, error) {
	name, ok := strings.CutPrefix(f.target, "lambda:")
	if !ok || name == "" {
		return "", fmt.Errorf("--invoke %q: want lambda:FUNCTION", f.target)
	}
	return name, nil
}

// driver builds the Lambda fan-out driver.
func (f *invokeFlags) driver(ctx context.Context, eng *fanout.Engine, admin fanout.QueueAdmin, log *slog.Logger) (*lambdafan.Driver, error) {
	name, err := f.function()
	if err != nil {
		return nil, err
	}
	client, err := lambdafan.NewClientFromEnv(ctx, "")
	if err != nil {
		return nil, err
	}
	return lambdafan.New(lambdafan.Config{Invoker: client, Function: name, Engine: eng, Admin: admin, Concurrency: f.concurrency,
		PerInvocation: f.perInvoke, StartGrace: f.startGrace, Logger: log})
}

// queueAdmin opens the Redis queue's admin side next to an app's engine
// (stats, reclaims and the job list the Lambda driver and the runner need).
func queueAdmin(ctx context.Context, g *globalFlags, a *app) (fanout.QueueAdmin, error) {
	q, err := redisqueue.New(ctx, redisqueue.Config{URL: g.redisURL, Prefix: g.redisNS})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, q)
	return q, nil
}

// withLambdaInvoke adds --invoke to the run command: the job's chunks then
// run in Lambda invocations that this process keeps in flight.
func withLambdaInvoke(g *globalFlags, run *cobra.Command) *cobra.Command {
	var inv invokeFlags
	inv.register(run.Flags())
	plain := run.RunE
	run.RunE = func(cmd *cobra.Command, args []string) error {
		if inv.target == "" {
			return plain(cmd, args)
		}
		// The job flags live in run's own jobFlags: copy them into ours.
		jf := jobFlags{functions: g.functions, prog: g.prog}
		if err := copyJobFlags(cmd, &jf); err != nil {
			return err
		}
		spec, err := jf.spec()
		if err != nil {
			return err
		}
		jsonOut, _ := cmd.Flags().GetBool("json")
		ctx := cmd.Context()
		a, err := newApp(ctx, g, true)
		if err != nil {
			return fmt.Errorf("--invoke: %w (the invocations share their queue through Redis)", err)
		}
		defer a.Close()
		admin, err := queueAdmin(ctx, g, a)
		if err != nil {
			return err
		}
		d, err := inv.driver(ctx, a.engine, admin, a.log)
		if err != nil {
			return err
		}
		start := time.Now()
		info, err := a.engine.Submit(ctx, spec)
		if err != nil {
			return a.report(fanout.Result{State: fanout.StateFailed}, err, jsonOut)
		}
		if workers, _ := cmd.Flags().GetInt("workers"); cmd.Flags().Changed("workers") && workers > 0 {
			wctx, stop := context.WithCancel(ctx)
			defer stop()
			go a.engine.Work(wctx, fanout.WorkOptions{Concurrency: workers, Job: info.Job, Grace: time.Second})
		}
		res, err := d.Run(ctx, info.Manifest.Spec.Output, info.Job)
		res.Existing, res.Elapsed = info.Existing, time.Since(start)
		st := d.Stats()
		if !g.quiet {
			fmt.Fprintf(os.Stderr, "%s: %d invocations of %s (%d throttled)\n", g.prog, st.Invoked.Load(), inv.target, st.Throttled.Load())
		}
		return a.report(res, err, jsonOut)
	}
	return run
}

// copyJobFlags fills jf from the job flags set on cmd, whatever they are:
// it registers jf's flags on a scratch set and copies every flag that cmd
// had set by name.
func copyJobFlags(cmd *cobra.Command, jf *jobFlags) error {
	scratch := &cobra.Command{Use: "scratch"}
	jf.register(scratch)
	var err error
	scratch.Flags().VisitAll(func(dst *pflag.Flag) {
		src := cmd.Flags().Lookup(dst.Name)
		if err != nil || src == nil || !src.Changed {
			return
		}
		if s, ok := src.Value.(pflag.SliceValue); ok {
			if d, ok := dst.Value.(pflag.SliceValue); ok {
				err = d.Replace(s.GetSlice())
				return
			}
		}
		err = dst.Value.Set(src.Value.String())
	})
	return err
}

// triggerFlags are what serve and watch share: the job template (the run
// flags, with --out as the output base and --in as a filter), batching,
// and who works.
type triggerFlags struct {
	job         jobFlags
	window      time.Duration
	maxObjects  int
	workers     int
	invoke      invokeFlags
	trustEvents bool
	// admit says which other jobs in the queue the workers run beside
	// those under --out.
	admit admitFlags
}

func (f *triggerFlags) register(cmd *cobra.Command) {
	f.job.register(cmd)
	fl := cmd.Flags()
	fl.Lookup("out").Usage = "output base `URL`: each triggered job commits under <out>/<batch>/, a prefix of its own"
	fl.Lookup("in").Usage = "accept only objects under this `URL` (glob allowed in the last element); repeatable; default: objects in the --out bucket (an event may name any bucket the credentials read)"
	fl.MarkHidden("rerun")
	fl.DurationVar(&f.window, "window", 30*time.Second, "batch the objects of this `DURATION` into one job (from the batch's first event)")
	fl.IntVar(&f.maxObjects, "max-objects", trigger.DefaultMaxObjects, "most objects in one job, `N` (a fuller batch closes at once)")
	fl.IntVar(&f.workers, "workers", runtime.NumCPU(), "`N` chunks this process works on at once, for any job in the queue (0: leave the work to fanout work processes or --invoke)")
	fl.BoolVar(&f.trustEvents, "trust-events", false, "do not check that an event's object still has the event's ETag (saves a HEAD per object)")
	f.invoke.register(fl)
	f.admit.register(fl)
	fl.Lookup("out-base").Usage = "also run jobs in the queue whose output lies under this `URL` (those under --out are run anyway); repeatable"
}

// admission sets the workers' Admission on g: jobs under --out, and under
// --out-base.
func (f *triggerFlags) admission(g *globalFlags) error {
	admit, err := f.admit.admission(g, f.job.out)
	if err != nil {
		return err
	}
	// The function and arguments this command was started with run
	// whatever --allow-exec says: the operator chose them.
	tmpl, _, err := f.template()
	if err != nil {
		return err
	}
	check := admit.Function
	admit.Function = func(spec manifest.JobSpec) error {
		if spec.Function == tmpl.Spec.Function && maps.Equal(spec.Args, tmpl.Spec.Args) {
			return nil
		}
		return check(spec)
	}
	g.admit = admit
	return nil
}

// template builds the trigger template and the input filter.
func (f *triggerFlags) template(extraInputs ...string) (trigger.Template, []string, error) {
	inputs := append(append([]string{}, f.job.inputs...), extraInputs...)
	if len(f.job.inventories)+len(f.job.keyLists) > 0 {
		return trigger.Template{}, nil, usageError{errors.New("--in-inventory and --in-keys plan one job: a trigger's jobs take the objects of their events (use --in to filter them)")}
	}
	jf := f.job
	jf.inputs = []string{"s3://placeholder-bucket/"} // spec() wants one; triggered jobs get theirs per batch
	jf.rerun = false
	spec, err := jf.spec()
	if err != nil {
		return trigger.Template{}, nil, err
	}
	spec.Inputs = nil
	if _, err := f.job.functions.Lookup(spec.Function); err != nil {
		return trigger.Template{}, nil, fmt.Errorf("--fn: %w", err)
	}
	if loc, err := objstore.ParseURL(spec.Output); err != nil || loc.Scheme != "s3" {
		return trigger.Template{}, nil, fmt.Errorf("--out %q: want s3://bucket/prefix/ (triggered jobs write next to their bucket)", f.job.out)
	}
	return trigger.Template{Spec: spec}, inputs, nil
}

// triggerService is a trigger with its batcher and runner: the part of
// serve and watch after events are decoded.
type triggerService struct {
	trig    *trigger.Trigger
	inbox   *trigger.Inbox
	batcher *trigger.Batcher
	runner  *jobRunner
	log     *slog.Logger
	window  time.Duration

	settling sync.WaitGroup
}

// settle removes an inbox entry once the batches holding its events are
// settled; a failed batch leaves it for replayInbox.
func (s *triggerService) settle(id string, done <-chan error) {
	s.settling.Add(1)
	go func() {
		defer s.settling.Done()
		if err := <-done; err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.inbox.Delete(ctx, id); err != nil {
			s.log.Warn("removing a settled inbox entry failed; it will be replayed (harmless)", "entry", id, "err", err)
		}
	}()
}

// replayInbox adds the inbox entries written before the given time again:
// at start, those a previous process left; later, those whose batch
// failed.
func (s *triggerService) replayInbox(ctx context.Context, before time.Time) {
	n := 0
	for e, err := range s.inbox.Entries(ctx, before) {
		if err != nil {
			s.log.Warn("reading the inbox failed", "err", err)
			return
		}
		s.settle(e.ID, s.batcher.Add(e.Events...))
		n++
	}
	if n > 0 {
		s.log.Info("replayed inbox entries", "entries", n)
	}
}

// replayLoop replays stale inbox entries until ctx ends.
func (s *triggerService) replayLoop(ctx context.Context) {
	every := max(2*s.window, 30*time.Second)
	s.replayInbox(ctx, time.Now())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.replayInbox(ctx, time.Now().Add(-every))
		}
	}
}

// newTriggerService wires the trigger, its batcher and the job runner on
// an app (which needs Redis).
func newTriggerService(ctx context.Context, g *globalFlags, a *app, f *triggerFlags, extraInputs ...string) (*triggerService, error) {
	tmpl, inputs, err := f.template(extraInputs...)
	if err != nil {
		return nil, err
	}
	admin, err := queueAdmin(ctx, g, a)
	if err != nil {
		return nil, err
	}
	level := slog.LevelInfo
	if g.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts, err := g.bucketOptions()
	if err != nil {
		return nil, err
	}
	open := func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
		b, _, err := bucketurl.Open(ctx, storeURL, opts)
		return b, s3Hint(err)
	}
	trig, err := trigger.New(trigger.Config{Template: tmpl, Inputs: inputs, Open: open, Submitter: a.engine,
		MaxObjects: f.maxObjects, TrustEvents: f.trustEvents, Logger: log})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, closerFunc(trig.Close))
	r := &jobRunner{engine: a.engine, admin: admin, log: log, workers: f.workers, running: map[string]bool{}, metrics: newMetrics()}
	if f.invoke.target != "" {
		if r.driver, err = f.invoke.driver(ctx, a.engine, admin, log); err != nil {
			return nil, err
		}
	}
	s := &triggerService{trig: trig, inbox: trig.Inbox(), runner: r, log: log, window: f.window}
	s.batcher = trigger.NewBatcher(trigger.BatcherConfig{Window: f.window, MaxObjects: f.maxObjects, Flush: s.flush})
	return s, nil
}

type closerFunc func() error

func (c closerFunc) Close() error { return c() }

// flush turns one batch of events into jobs and starts running them.
func (s *triggerService) flush(ctx context.Context, events []trigger.ObjectEvent) error {
	rep, err := s.trig.Process(ctx, events)
	for _, j := range rep.Jobs {
		switch {
		case j.Error != "":
			s.log.Warn("batch cannot run", "batch", j.Batch, "err", j.Error)
		case j.Job != "":
			s.log.Info("job for batch", "batch", j.Batch, "job", j.Job, "objects", j.Objects, "new", j.New, "duplicate", j.Duplicate, "output", j.Output)
			s.runner.start(j.Output, j.Job)
		}
	}
	if rep.Duplicates > 0 || rep.Superseded > 0 {
		s.log.Info("events dropped", "duplicates", rep.Duplicates, "superseded", rep.Superseded)
	}
	if err != nil {
		s.log.Warn("batch failed; its events will be retried", "err", err)
	}
	return err
}

// run starts the runner's workers, resumes unfinished jobs under the
// output base and runs the batcher until ctx ends.
func (s *triggerService) run(ctx context.Context, base string) {
	s.runner.run(ctx)
	s.runner.resume(ctx, base)
	s.batcher.Run(ctx)
}

// jobRunner takes triggered jobs to their commit: local workers serve the
// queue while a goroutine per job waits for it (and commits), or a Lambda
// driver per job keeps invocations in flight.
type jobRunner struct {
	engine  *fanout.Engine
	admin   fanout.QueueAdmin
	driver  *lambdafan.Driver
	log     *slog.Logger
	workers int
	// metrics count the local workers' chunks and the queue's depth
	// (served on serve's /metrics).
	metrics *metrics

	ctx     context.Context
	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// run starts the local workers; they stop when ctx ends (after letting
// running chunks finish for a grace period).
func (r *jobRunner) run(ctx context.Context) {
	r.ctx = ctx
	go r.metrics.pollQueue(ctx, r.admin, 5*time.Second)
	if r.workers > 0 {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.engine.Work(ctx, fanout.WorkOptions{Concurrency: r.workers, Grace: 10 * time.Second, Observe: r.metrics.observe})
		}()
	}
}

// resume picks up jobs in the queue whose output lies under base: jobs a
// previous run of this command submitted but did not see commit.
func (r *jobRunner) resume(ctx context.Context, base string) {
	jobs, err := r.admin.Jobs(ctx)
	if err != nil {
		r.log.Warn("listing the queue's jobs failed; unfinished jobs are not resumed", "err", err)
		return
	}
	prefix := strings.TrimSuffix(base, "/") + "/"
	for _, j := range jobs {
		out, err := r.engine.OutputOf(ctx, j.Job)
		if err == nil && strings.HasPrefix(out, prefix) {
			r.log.Info("resuming a job", "job", j.Job, "output", out)
			r.start(out, j.Job)
		}
	}
}

// start runs a job to its commit unless it is running already.
func (r *jobRunner) start(out, job string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[job] || r.ctx == nil || r.ctx.Err() != nil {
		return
	}
	r.running[job] = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		var res fanout.Result
		var err error
		if r.driver != nil {
			res, err = r.driver.Run(r.ctx, out, job)
		} else {
			res, err = r.engine.Wait(r.ctx, out, job, fanout.RunOptions{Poll: time.Second})
		}
		r.mu.Lock()
		delete(r.running, job)
		r.mu.Unlock()
		switch {
		case r.ctx.Err() != nil:
			r.log.Info("stopped waiting for a job; it stays in the queue", "job", job)
		case err != nil:
			r.log.Error("job failed", "job", job, "output", out, "err", err)
		default:
			r.log.Info("job committed", "job", job, "output", out, "records_in", res.RecordsIn, "records_out", res.RecordsOut, "files", res.Files)
		}
	}()
}

// wait waits for the runner's goroutines after ctx ended.
func (r *jobRunner) wait() { r.wg.Wait() }

func newServeCommand(g *globalFlags) *cobra.Command {
	f := triggerFlags{job: jobFlags{functions: g.functions, prog: g.prog}}
	var listen, secret, tlsCert, tlsKey string
	var limits webhookLimits
	var ui uiFlags
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR --fn NAME --out s3://bucket/base/ [flags]",
		Short: "Receive bucket event notifications over HTTP (MinIO's webhook target, S3 event JSON) and run a job per batch of new objects",
		Long: `serve accepts POSTed bucket notifications, as MinIO's webhook target sends them
(MINIO_NOTIFY_WEBHOOK_ENDPOINT_<ID>=http://host:port/, with
MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID> set to the shared secret), or any S3 event
JSON (direct, SQS, SNS or EventBridge shaped). Each request must carry
"Authorization: Bearer <secret>". New objects (ObjectCreated:*) are batched per
--window into one job each, with an output prefix of its own under --out; a
repeated event (same bucket, key and ETag or version) never starts a second job.
Events are recorded in the bucket (an inbox under <out>/_fanout/trigger/) before
the request is answered, so a failure answers 503 (MinIO with a queue_dir sends
the event again) and a restarted serve picks up what it had not settled.

The same listener serves the dashboard of fanout ui at /ui/ (its actions take
--ui-token, or the shared secret; it lists the queue's jobs and those of the last
100 batches under --out), and Prometheus metrics at /metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("secret") {
				secret = os.Getenv("FANOUT_WEBHOOK_SECRET")
			}
			if secret == "" {
				return errors.New("--secret (or FANOUT_WEBHOOK_SECRET) is required: the webhook accepts only requests carrying it as a bearer token")
			}
			g.secrets = append(g.secrets, secret)
			if err := ui.resolveToken(cmd, g); err != nil {
				return err
			}
			if err := f.admission(g); err != nil {
				return err
			}
			ctx := cmd.Context()
			a, err := newApp(context.WithoutCancel(ctx), g, true)
			if err != nil {
				return err
			}
			defer a.Close()
			svc, err := newTriggerService(context.WithoutCancel(ctx), g, a, &f)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			// Every phase of a request is bounded in time, and idle
			// keep-alive connections are closed, so that clients cannot
			// hold this process's file descriptors.
			// The dashboard's actions take --ui-token, or the webhook's
			// secret (when it is long enough to be one).
			uiToken := ui.token
			if uiToken == "" && len(secret) >= fanout.MinSecretLen {
				uiToken = secret
			}
			// The batches' jobs that committed or failed before this
			// process started are found under --out (<out>/<batch>/).
			ui.outputs = []string{strings.TrimSuffix(f.job.out, "/") + "/"}
			dash, err := ui.dashboard(a, svc.runner.admin, uiToken, ln, svc.log)
			if err != nil {
				ln.Close()
				return err
			}
			srv := &http.Server{Handler: svc.webhook(secret, limits, dash.Handler()), ReadHeaderTimeout: 10 * time.Second,
				ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
			scheme := "http"
			if tlsCert != "" || tlsKey != "" {
				if tlsCert == "" || tlsKey == "" {
					ln.Close()
					return errors.New("--tls-cert and --tls-key go together")
				}
				scheme = "https"
			}
			svc.log.Info("serving bucket notifications", "address", scheme+"://"+ln.Addr().String()+"/", "window", f.window, "output", f.job.out)
			srvDone := make(chan error, 1)
			go func() {
				if scheme == "https" {
					srvDone <- srv.ServeTLS(ln, tlsCert, tlsKey)
					return
				}
				srvDone <- srv.Serve(ln)
			}()

			runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
			batcherDone := make(chan struct{})
			go func() {
				defer close(batcherDone)
				svc.run(runCtx, f.job.out)
			}()
			go svc.replayLoop(runCtx)
			go dash.Run(runCtx)
			select {
			case <-ctx.Done():
			case err = <-srvDone:
			}
			// Stop taking requests, flush the open batch (which answers the
			// requests waiting for it), then stop the workers.
			shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- srv.Shutdown(shutdownCtx) }()
			stopRun()
			<-batcherDone
			<-shut
			svc.settling.Wait()
			svc.runner.wait()
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9080", "`ADDR` to listen on")
	// --help prints a flag's default: $FANOUT_WEBHOOK_SECRET is read in RunE.
	cmd.Flags().StringVar(&secret, "secret", "", "shared `SECRET` expected as \"Authorization: Bearer <secret>\"; default $FANOUT_WEBHOOK_SECRET (prefer the variable: flags show in ps)")
	cmd.Flags().Int64Var(&limits.maxBody, "max-body", 1<<20, "largest request body accepted, in `BYTES`")
	cmd.Flags().IntVar(&limits.maxEvents, "max-events", 10000, "most events (records) in one request, `N`")
	cmd.Flags().IntVar(&limits.maxRequests, "max-requests", 64, "most requests handled at once, `N` (more are answered 503 and sent again by MinIO)")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this certificate `FILE` (PEM; with --tls-key)")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "the private key `FILE` of --tls-cert (PEM)")
	ui.register(cmd)
	return cmd
}

// webhookReply is serve's answer to a notification.
type webhookReply struct {
	Accepted int            `json:"accepted"`
	Ignored  map[string]int `json:"ignored,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// webhook is serve's HTTP handler.
// webhookLimits bound what one client can make serve hold.
type webhookLimits struct {
	maxBody     int64
	maxEvents   int
	maxRequests int
}

func (s *triggerService) webhook(secret string, limits webhookLimits, ui http.Handler) http.Handler {
	want := []byte("Bearer " + secret)
	slots := make(chan struct{}, max(limits.maxRequests, 1))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /metrics", s.runner.metrics.handler()) // no secret: Prometheus scrapes it
	if ui != nil {
		mux.Handle(dashboard.Prefix, ui) // the dashboard checks its own token
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply := func(status int, body webhookReply) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(body)
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			reply(http.StatusMethodNotAllowed, webhookReply{Error: "POST bucket notifications here"})
			return
		}
		got := r.Header.Get("Authorization")
		if got == "" {
			reply(http.StatusUnauthorized, webhookReply{Error: "missing Authorization: Bearer <secret>"})
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			reply(http.StatusForbidden, webhookReply{Error: "wrong secret"})
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			w.Header().Set("Retry-After", "1")
			reply(http.StatusServiceUnavailable, webhookReply{Error: fmt.Sprintf("busy: %d requests in progress (--max-requests)", cap(slots))})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limits.maxBody))
		if err != nil {
			reply(http.StatusRequestEntityTooLarge, webhookReply{Error: err.Error() + " (--max-body)"})
			return
		}
		events, err := trigger.ParseLimit(body, limits.maxEvents)
		if errors.Is(err, trigger.ErrTooManyEvents) {
			reply(http.StatusRequestEntityTooLarge, webhookReply{Error: fmt.Sprintf("%v: more than %d (--max-events)", err, limits.maxEvents)})
			return
		}
		if err != nil {
			reply(http.StatusBadRequest, webhookReply{Error: err.Error()})
			return
		}
		var accepted []trigger.ObjectEvent
		var rep webhookReply
		for _, ev := range events {
			if reason := s.trig.Check(ev); reason != "" {
				if rep.Ignored == nil {
					rep.Ignored = map[string]int{}
				}
				rep.Ignored[reason]++
				continue
			}
			accepted = append(accepted, ev)
		}
		rep.Accepted = len(accepted)
		s.log.Info("notification", "events", len(events), "accepted", len(accepted), "keys", sampleKeys(events, 5))
		if len(accepted) > 0 {
			// Recorded in the bucket before the answer, so that nothing
			// is lost if this process dies before the batch settles; the
			// sender does not wait for the window.
			id, err := s.inbox.Put(r.Context(), accepted)
			if err != nil {
				rep.Error = err.Error()
				reply(http.StatusServiceUnavailable, rep)
				return
			}
			s.settle(id, s.batcher.Add(accepted...))
		}
		reply(http.StatusOK, rep)
	})
	return mux
}

// sampleKeys names the first n objects of events for a log line.
func sampleKeys(events []trigger.ObjectEvent, n int) string {
	var keys []string
	for i, ev := range events {
		if i == n {
			keys = append(keys, fmt.Sprintf("and %d more", len(events)-n))
			break
		}
		keys = append(keys, ev.Bucket+"/"+ev.Key)
	}
	return strings.Join(keys, " ")
}
