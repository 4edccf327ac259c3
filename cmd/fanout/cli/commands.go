package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
)

func newRunCommand(g *globalFlags, submitOnly bool) *cobra.Command {
	jf := jobFlags{functions: g.functions, prog: g.prog}
	var workers int
	var grace time.Duration
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "run --in URL --fn NAME --out URL [flags]",
		Short: "Plan, run and commit a job; exits 0 only when the job committed",
		Args:  cobra.NoArgs,
	}
	if submitOnly {
		cmd.Use = "submit --in URL --fn NAME --out URL [flags]"
		cmd.Short = "Plan a job and enqueue its chunks in Redis; prints the job ID and returns"
	}
	jf.register(cmd)
	if !submitOnly {
		cmd.Flags().IntVar(&workers, "workers", runtime.NumCPU(), "chunks this process works on at once, `N` (0: leave the work to fanout work processes)")
		cmd.Flags().DurationVar(&grace, "grace", defaultGrace, "on Ctrl-C or SIGTERM, how long (`DURATION`) running chunks may finish before they go back to the queue")
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object describing the job at the end")
	var dryRun bool
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "plan only and print objects, chunks, bytes, reduce tasks, estimated requests and the output layout; writes nothing, queues nothing")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		spec, err := jf.spec()
		if err != nil {
			return err
		}
		if dryRun {
			return dryRunJob(ctx, g, spec, jsonOut)
		}
		a, err := newApp(ctx, g, submitOnly)
		if err != nil {
			return err
		}
		defer a.Close()
		if submitOnly {
			info, err := a.engine.Submit(ctx, spec)
			if err != nil {
				return err
			}
			if !g.quiet {
				// stderr: stdout is the job ID alone, for scripts.
				before := ""
				if info.Existing {
					before = " (submitted before: chunks with a marker are not run again)"
				}
				// Every command suggested names the program as it was
				// called, with this command line's global flags.
				g.console.println(fmt.Sprintf(g.prog+": job %s: %d chunk(s) queued%s; %s processes run them and commit the job when the last one settles; %s waits for the commit, %s shows progress",
					info.Job, info.Manifest.Chunks, before, progCommand(cmd, "work"), jobCommand(cmd, "wait", info.Job, "", false, 0),
					jobCommand(cmd, "status", info.Job, "", false, 0)))
			}
			if jsonOut {
				return printJSON(os.Stdout, map[string]any{"job": info.Job, "chunks": info.Manifest.Chunks, "existing": info.Existing, "output": info.Manifest.Spec.Output})
			}
			fmt.Println(info.Job)
			return nil
		}
		if a.embedded && workers <= 0 {
			return usagef("--workers 0 needs --redis: in embedded mode this process is the only worker")
		}
		setMemoryLimit(workers)
		resume := func(job string) []string {
			var cmds []string
			if !jf.rerun { // --rerun would make a new job
				cmds = append(cmds, shellQuote(redactArgs(os.Args)))
			}
			if job != "" {
				cmds = append(cmds, waitCommand(cmd, job, spec.Output, a.embedded, workers))
			}
			return cmds
		}
		return runJob(ctx, g, a, jobRun{cmd: cmd, out: spec.Output, workers: workers, grace: grace, jsonOut: jsonOut, rerunnable: true, resume: resume},
			func(ctx context.Context, opts fanout.RunOptions) (fanout.Result, error) {
				return a.engine.Run(ctx, spec, opts)
			})
	}
	return cmd
}

// dryRunJob plans spec without writing to the output or touching the
// queue (the engine gets the in-memory queue, whatever --redis says) and
// prints what the job would be.
func dryRunJob(ctx context.Context, g *globalFlags, spec manifest.JobSpec, jsonOut bool) error {
	g.redisURL = "" // the queue is not touched: the plan needs none
	a, err := newApp(ctx, g, false)
	if err != nil {
		return err
	}
	defer a.Close()
	info, err := a.engine.PlanWith(ctx, spec, fanout.PlanOptions{DryRun: true})
	if err != nil {
		return err
	}
	m := info.Manifest
	layout := fanout.OutputLayout(m.Spec, info.Job)
	compacts := fanout.HasCompactionStage(m)
	if jsonOut {
		return printJSON(os.Stdout, map[string]any{
			"job": info.Job, "dry_run": true, "existing": info.Existing, "objects": m.Objects, "chunks": m.Chunks,
			"bytes_in": m.Bytes, "format": m.Format, "reducers": m.Reducers, "s3_requests_estimate": info.RequestsEstimate(),
			"output": m.Spec.Output, "layout": layout, "compaction": compacts, "target_file_size": m.TargetFileSize,
		})
	}
	planned := "nothing written, nothing queued"
	if info.Existing {
		planned = "planned before: its manifest is in the output; nothing written, nothing queued"
	}
	fmt.Printf("dry run: job %s (%s)\n", info.Job, planned)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "  input\t%d objects, %s (%s)\n", m.Objects, humanBytes(m.Bytes), m.Format)
	fmt.Fprintf(w, "  chunks\t%d\n", m.Chunks)
	if m.Reducers > 0 {
		fmt.Fprintf(w, "  reduce\t%d tasks\n", m.Reducers)
	} else {
		fmt.Fprintf(w, "  reduce\tnone (map only)\n")
	}
	if compacts {
		fmt.Fprintf(w, "  compaction\teach partition's map files under %s merged into files of about %s before the commit (--target-file-size; off skips it)\n",
			humanBytes(m.TargetFileSize/2), humanBytes(m.TargetFileSize))
	}
	fmt.Fprintf(w, "  requests\tat least ~%d S3 requests\n", info.RequestsEstimate())
	fmt.Fprintf(w, "  output\t%s\n", layout)
	return w.Flush()
}

// defaultGrace is how long run's and wait's running chunks may finish
// after the first Ctrl-C.
const defaultGrace = 5 * time.Second

// jobRun describes one run or wait of a job in this process.
type jobRun struct {
	cmd     *cobra.Command
	out     string // the job's output URL
	workers int
	grace   time.Duration
	jsonOut bool
	// rerunnable is true for run: a job submitted before is resumed (or
	// found committed) rather than run again.
	rerunnable bool
	// resume returns the commands that resume the job once its ID is
	// known (job is empty while it is being planned).
	resume func(job string) []string
}

// runJob runs do (the engine's Run or Wait) with a progress display, chunk
// logs, and the interrupt handling: the first signal cancels ctx, and the
// job's state and the commands that resume it are printed (exit 130).
func runJob(ctx context.Context, g *globalFlags, a *app, jr jobRun, do func(context.Context, fanout.RunOptions) (fanout.Result, error)) error {
	prog, err := newProgress(g.progressMode(), g.console)
	if err != nil {
		return err
	}
	prog.commitInfo = a.engine.CommitProgress
	stopping := "stopping: no new chunks are claimed"
	if jr.workers > 0 {
		stopping += fmt.Sprintf("; running ones get %s (--grace) to finish, then go back to the queue", jr.grace)
	}
	g.sig.setStopping(stopping + " (press Ctrl-C again to exit at once)")
	g.sig.setResume(jr.resume("")...)
	var known string
	idle := idleWatch{since: time.Now()}
	opts := fanout.RunOptions{
		Workers: jr.workers,
		Grace:   jr.grace,
		Stats:   &fanout.WorkStats{},
		Progress: func(s fanout.Progress) {
			if s.Job != known {
				known = s.Job
				g.sig.setResume(jr.resume(s.Job)...)
			}
			prog.update(s)
			if jr.workers == 0 && jr.cmd != nil && idle.stalled(s, time.Now()) {
				g.console.println(fmt.Sprintf(g.prog+": no worker has claimed a chunk of job %s for %s; start one: %s (or run with --workers N)",
					s.Job, idleHintAfter, workCommand(jr.cmd, jr.out)))
			}
		},
		Observe: func(ev fanout.ChunkEvent) {
			prog.chunk(ev)
			logChunk(a.log, ev)
		},
	}
	res, err := do(ctx, opts)
	if err != nil && jr.cmd != nil && res.Job != "" {
		err = failureHint(err, res.Job, redriveCommand(jr.cmd, res.Job, jr.out, a.embedded, jr.workers))
	}
	interrupted := g.sig.interrupted() && res.State != fanout.StateCommitted
	prog.finish(res, err, interrupted)
	if interrupted {
		return reportInterrupted(g, a, jr, prog, res)
	}
	out := jobResult{Result: res}
	if res.State == fanout.StateCommitted && jr.rerunnable && res.Existing {
		if before, looked := prog.resumedAt(); looked {
			// The job had been planned before but not committed: this
			// run finished it.
			s, _ := prog.snapshot()
			out.Resumed, out.Existing = true, false
			out.DoneBefore, out.Tasks = before, s.Chunks
		}
	}
	return a.reportResult(out, err, jr.jsonOut)
}

// jobResult is a job's result as the CLI prints it.
type jobResult struct {
	fanout.Result
	// Resumed is true when run found the job planned before and finished
	// it; DoneBefore of its Tasks were done then.
	Resumed    bool `json:"resumed,omitempty"`
	DoneBefore int  `json:"done_before,omitempty"`
	Tasks      int  `json:"-"`
}

// reportInterrupted says where an interrupted job stands and how to
// resume it; exit status 130.
func reportInterrupted(g *globalFlags, a *app, jr jobRun, prog *progress, res fanout.Result) error {
	s, seen := prog.snapshot()
	var msg string
	switch {
	case !seen:
		msg = g.prog + ": interrupted while planning the job; no chunk ran"
	default:
		// The last snapshot is older than the chunks that finished in the
		// grace: count the markers.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if st, err := a.engine.Status(ctx, jr.out, s.Job); err == nil && st.State != fanout.StateCommitted && s.Chunks == s.MapChunks {
			s.Done = st.Markers
		}
		cancel()
		msg = fmt.Sprintf(g.prog+": interrupted: job %s has %d of %d chunks done", s.Job, s.Done, s.Chunks)
		if s.Dead > 0 {
			msg += fmt.Sprintf(" (%d failed)", s.Dead)
		}
		msg += "; nothing was committed, finished chunks keep their markers"
		if !a.embedded {
			msg += "; the job stays queued in Redis (running `" + g.prog + " work` processes go on with it)"
		}
	}
	if jsonOut := jr.jsonOut; jsonOut {
		res.Job, res.State, res.Error = s.Job, "interrupted", "interrupted"
		printJSON(os.Stdout, res)
	}
	g.console.println(msg)
	if cmds := jr.resume(s.Job); len(cmds) > 0 {
		g.console.println(resumeHint(cmds))
	}
	return exitError{exitInterrupted}
}

// waitCommand renders the `fanout wait` command that finishes a job, with
// the global flags given on this command line.
func waitCommand(cmd *cobra.Command, job, out string, embedded bool, workers int) string {
	return jobCommand(cmd, "wait", job, out, embedded, workers)
}

// redriveCommand renders the commands that run a failed job's failed
// chunks again and commit it.
func redriveCommand(cmd *cobra.Command, job, out string, embedded bool, workers int) string {
	return jobCommand(cmd, "redrive", job, out, embedded, 0) + " && " + jobCommand(cmd, "wait", job, out, embedded, workers)
}

// idleHintAfter is how long a job waits for its first worker before run
// --workers 0 says that no worker claims its chunks.
const idleHintAfter = 15 * time.Second

// idleWatch notices a job that no worker works on.
type idleWatch struct {
	since  time.Time // of the last sign of a worker
	done   int
	hinted bool
}

// stalled reports, once, that no chunk has run or finished for
// idleHintAfter.
func (w *idleWatch) stalled(s fanout.Progress, now time.Time) bool {
	if s.Running > 0 || s.Done != w.done {
		w.since, w.done = now, s.Done
		return false
	}
	if w.hinted || now.Sub(w.since) < idleHintAfter || s.Pending == 0 {
		return false
	}
	w.hinted = true
	return true
}

// workCommand renders a `fanout work` command that serves jobs writing
// under out, with the global flags given on this command line.
func workCommand(cmd *cobra.Command, out string) string {
	return progCommand(cmd, "work", "--out-base", out)
}

// progCommand renders a command of this program as it was called
// (os.Args[0]) with the global flags given on this command line, then
// args: every command a hint suggests names the program the same way.
func progCommand(cmd *cobra.Command, args ...string) string {
	return shellQuote(append(append([]string{os.Args[0]}, globalArgs(cmd)...), args...))
}

// globalArgs are the global flags given on this command line that another
// command on the same job needs.
func globalArgs(cmd *cobra.Command) []string {
	var args []string
	cmd.Flags().Visit(func(f *pflag.Flag) { // the flags set, inherited ones too
		switch f.Name {
		case "redis", "redis-prefix", "s3-backend", "sse":
			args = append(args, "--"+f.Name, redactURL(f.Value.String()))
		}
	})
	return args
}

// jobCommand renders `fanout VERB JOB` with the global flags given on this
// command line, --out when the queue does not remember the job, and
// --workers.
func jobCommand(cmd *cobra.Command, verb, job, out string, embedded bool, workers int) string {
	args := []string{verb, job}
	if embedded {
		args = append(args, "--out", out)
	}
	if workers > 0 {
		args = append(args, "--workers", strconv.Itoa(workers))
	}
	return progCommand(cmd, args...)
}

// redactArgs hides the passwords of URLs among args (a Redis URL with
// AUTH): a hint printed to a terminal or a CI log must not carry one.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = redactURL(a)
	}
	return out
}

func redactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); !ok {
		return s
	}
	return u.Redacted()
}

// report prints a job's result and turns a job that did not commit into a
// non-zero exit. Failure reasons are printed with the process's secrets
// redacted (a program's stderr may have quoted them).
func (a *app) report(res fanout.Result, err error, jsonOut bool) error {
	return a.reportResult(jobResult{Result: res}, err, jsonOut)
}

func (a *app) reportResult(res jobResult, err error, jsonOut bool) error {
	if err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	res.Error = a.engine.Redact(res.Error)
	for i := range res.Failed {
		res.Failed[i].Reason = a.engine.Redact(res.Failed[i].Reason)
	}
	if err != nil {
		err = redactedError{err, a.engine.Redact(err.Error())}
	}
	if jsonOut {
		if perr := printJSON(os.Stdout, res); perr != nil {
			return perr
		}
	} else {
		printSummary(res)
	}
	if err != nil {
		if jsonOut {
			fmt.Fprintln(os.Stderr, a.prog+":", errorText(err))
			return exitError{exitFailed}
		}
		return err
	}
	if res.State != fanout.StateCommitted {
		return exitError{exitFailed}
	}
	return nil
}

// redactedError is an error whose message had secrets redacted.
type redactedError struct {
	err error
	msg string
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

func printSummary(res jobResult) {
	if res.State != fanout.StateCommitted {
		return
	}
	note := ""
	switch {
	case res.Resumed:
		note = fmt.Sprintf(" (resumed: %d of its %d tasks were done before)", res.DoneBefore, res.Tasks)
	case res.Existing:
		note = " (committed before: nothing new to do; --rerun runs it again)"
	}
	fmt.Printf("job %s committed%s\n", res.Job, note)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "  output\t%s\n", res.Output)
	if res.Replaces != "" {
		fmt.Fprintf(w, "  replaced\tjob %s's output (its files are deleted)\n", res.Replaces)
	}
	fmt.Fprintf(w, "  files\t%d (%s)\n", res.Files, humanBytes(res.BytesOut))
	printPartitions(w, res.Result)
	fmt.Fprintf(w, "  chunks\t%d\n", res.Chunks)
	fmt.Fprintf(w, "  records\t%d in, %d out\n", res.RecordsIn, res.RecordsOut)
	fmt.Fprintf(w, "  input\t%s in %d objects\n", humanBytes(res.BytesIn), res.Objects)
	if res.Elapsed > 0 {
		fmt.Fprintf(w, "  time\t%s (%s/s)\n", res.Elapsed.Round(time.Millisecond), humanBytes(int64(float64(res.BytesIn)/res.Elapsed.Seconds())))
	}
	for _, f := range res.Failed {
		fmt.Fprintf(w, "  left out\t%s: %s\n", f.Chunk, userText(f.Reason))
	}
	printCosts(w, res.Result)
	printRejections(w, res.Result)
	w.Flush()
}

// printPartitions prints how a committed job's files spread over its
// partitions, and says so when it committed many small files.
func printPartitions(w io.Writer, res fanout.Result) {
	if len(res.Partitions) > 1 {
		least, most := res.Partitions[0].Files, res.Partitions[0].Files
		for _, p := range res.Partitions {
			least, most = min(least, p.Files), max(most, p.Files)
		}
		spread := fmt.Sprintf("%d file(s) each", least)
		if least != most {
			spread = fmt.Sprintf("%d to %d files each", least, most)
		}
		fmt.Fprintf(w, "  partitions\t%d (%s)\n", len(res.Partitions), spread)
	}
	if res.Compacted > 0 {
		fmt.Fprintf(w, "  compacted\t%d small map files merged\n", res.Compacted)
	}
	if res.ManySmallFiles {
		// In the summary, not on stderr: the commit's own warning is
		// there already, in the log's format (JSON lines with
		// --log-format json).
		fmt.Fprintf(w, "  small files\t%d of %d under half the target file size (or 64 MiB); readers pay a request and a footer per file: --target-file-size merges them (docs/filesizing.md)\n",
			res.SmallFiles, res.Files)
	}
}

// printCosts prints a committed job's chunk timings, retries, backups
// and request and Lambda estimates.
func printCosts(w io.Writer, res fanout.Result) {
	if t := res.Timings; t != nil {
		fmt.Fprintf(w, "  chunk time\tp50 %s, p95 %s, max %s\n", time.Duration(t.ChunkP50).Round(time.Millisecond),
			time.Duration(t.ChunkP95).Round(time.Millisecond), time.Duration(t.ChunkMax).Round(time.Millisecond))
	}
	if res.Retries > 0 || res.Backups > 0 {
		fmt.Fprintf(w, "  retries\t%d (%d chunk(s) won by a backup attempt)\n", res.Retries, res.Backups)
	}
	if res.S3Requests > 0 {
		cost := fmt.Sprintf("~%d S3 requests", res.S3Requests)
		if res.LambdaGBSeconds > 0 {
			cost += fmt.Sprintf(", ~%.1f Lambda GB-seconds", res.LambdaGBSeconds)
		}
		fmt.Fprintf(w, "  cost\t%s\n", cost)
	}
}

// printProgress prints a running job's throughput, ETA and slowest
// running tasks.
func printProgress(w io.Writer, res fanout.Result) {
	if res.TasksPerSecond > 0 {
		fmt.Fprintf(w, "  throughput\t%.2f chunks/s, %s/s since planning\n", res.TasksPerSecond, humanBytes(int64(res.BytesPerSecond)))
		fmt.Fprintf(w, "  eta\t%s (map chunks, at that pace)\n", res.ETA.Round(time.Second))
	}
	for i, t := range res.Slowest {
		label := ""
		if i == 0 {
			label = "slowest"
		}
		fmt.Fprintf(w, "  %s\t%s running %s on %s (attempt %d)\n", label, t.Chunk, t.Running.Round(time.Millisecond), t.Worker, t.Epoch)
	}
}

// setMemoryLimit gives the Go runtime a soft memory limit that follows
// the engine's budgets, unless GOMEMLIMIT sets one: a base for the
// process plus, per chunk processed at once, the map-side combiner's and
// the output buffers' share. Under that limit the collector may let the
// heap grow further between collections (GOGC 400 unless GOGC is set):
// record-at-a-time functions make much short-lived garbage, and
// collecting it at GOGC's default 100 took a third of a grep's time; near
// the limit the collector runs as often as it must, so resident memory
// stays bounded either way.
func setMemoryLimit(concurrency int) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(memoryLimitBase + int64(max(concurrency, 1))*memoryLimitPerChunk)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

const (
	gcPercent           = 400
	memoryLimitBase     = 64 << 20
	memoryLimitPerChunk = 64 << 20
)

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func newWorkCommand(g *globalFlags) *cobra.Command {
	var concurrency int
	var job string
	var grace time.Duration
	var metricsAddr string
	var af admitFlags
	cmd := &cobra.Command{
		Use:   "work --redis URL --out-base s3://bucket/prefix/ [--concurrency N]",
		Short: "Serve the jobs in Redis under the output bases given (or signed with the spec key) until SIGTERM: claim chunks, run them, publish their markers",
		Long: `work serves the jobs in Redis until SIGTERM. Anyone who can write to fanout's Redis keys
names the manifest a job's chunks come from, and so the function workers run: a worker
runs only jobs whose output lies under an --out-base, or, with a spec key
(--spec-key-file or $FANOUT_SPEC_KEY), only jobs signed with it; and exec, the function
that runs programs, only with --allow-exec PROGRAM or --allow-exec-any. Chunks of a job
a worker may not run are released for workers that may, and the worker says why once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			admit, err := af.admission(g)
			if err != nil {
				return err
			}
			g.admit = admit
			a, err := newApp(context.WithoutCancel(ctx), g, true)
			if err != nil {
				return err
			}
			defer a.Close()
			stats := &fanout.WorkStats{}
			setMemoryLimit(concurrency)
			g.console.println(workBanner(g, admit, job, concurrency, grace))
			g.sig.setStopping(fmt.Sprintf("stopping: no new chunks are claimed; running ones get %s (--grace) to finish, then go back to the queue (press Ctrl-C again to exit at once)", grace))
			opts := fanout.WorkOptions{Concurrency: concurrency, Job: job, Grace: grace, Stats: stats,
				Observe: func(ev fanout.ChunkEvent) { logChunk(a.log, ev) }}
			if metricsAddr != "" {
				m := newMetrics()
				addr, err := m.serve(ctx, metricsAddr)
				if err != nil {
					return fmt.Errorf("--metrics-addr: %w", err)
				}
				fmt.Fprintf(os.Stderr, g.prog+" work: metrics on http://%s/metrics\n", addr)
				go m.pollQueue(ctx, a.admin, 5*time.Second)
				opts.Observe = func(ev fanout.ChunkEvent) {
					m.observe(ev)
					logChunk(a.log, ev)
				}
			}
			err = a.engine.Work(ctx, opts)
			fmt.Fprintf(os.Stderr, g.prog+" work: stopped after %d chunks (%d skipped, %d failed, %d leases lost)\n",
				stats.Chunks.Load(), stats.Skipped.Load(), stats.Failed.Load(), stats.LeasesLost.Load())
			return err
		},
	}
	cmd.Flags().IntVar(&concurrency, "concurrency", runtime.NumCPU(), "`N` chunks processed at once (each slot publishes the chunk it finished while it runs the next)")
	cmd.Flags().StringVar(&job, "job", "", "serve only this `JOB`")
	cmd.Flags().DurationVar(&grace, "grace", 30*time.Second, "on SIGTERM, how long (`DURATION`) running chunks may finish before they are released")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics on `ADDR` (e.g. :9090) at /metrics")
	af.register(cmd.Flags())
	return cmd
}

// workBanner says at start what a worker serves and how it stops.
func workBanner(g *globalFlags, admit *fanout.Admission, job string, concurrency int, grace time.Duration) string {
	what := "every job"
	if job != "" {
		what = "job " + job
	}
	var whose []string
	if len(admit.Outputs) > 0 {
		whose = append(whose, "with output under "+strings.Join(admit.Outputs, ", "))
	}
	if admit.SpecKey != nil {
		whose = append(whose, "signed with the spec key")
	}
	chunks := fmt.Sprintf("%d chunks at once", concurrency)
	if concurrency == 1 {
		chunks = "1 chunk at a time"
	}
	return fmt.Sprintf(g.prog+" work: serving %s %s in Redis at %s (key prefix %s), %s; Ctrl-C or SIGTERM stops (running chunks get %s)",
		what, strings.Join(whose, " or "), redactURL(redisURL(g.redisURL)), g.redisNS, chunks, grace)
}

// openJobApp wires an app for a command about one job and finds the job's
// output URL (--out, or the queue's record). The caller closes the app.
func openJobApp(ctx context.Context, g *globalFlags, job, out string, needRedis bool) (*app, string, error) {
	if needRedis && out == "" && g.redisURL == "" {
		// Without a queue only --out finds the job (embedded mode).
		return nil, "", errors.New("the job's output is needed: pass --out URL, or --redis URL (or FANOUT_REDIS_URL) for the queue that ran the job")
	}
	a, err := newApp(ctx, g, needRedis)
	if err != nil {
		return nil, "", err
	}
	o, err := jobOutput(ctx, a, job, out)
	if err != nil {
		a.Close()
		return nil, "", err
	}
	return a, o, nil
}

// jobOutput finds a job's output URL: --out, or the queue's record.
func jobOutput(ctx context.Context, a *app, job, out string) (string, error) {
	if out != "" {
		return absURL(out), nil
	}
	o, err := a.engine.OutputOf(ctx, job)
	if err != nil {
		return "", fmt.Errorf("%w (pass --out URL: the queue does not know the job)", err)
	}
	return o, nil
}

func newWaitCommand(g *globalFlags) *cobra.Command {
	var out string
	var jsonOut bool
	var workers int
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "wait JOB",
		Short: "Wait until a submitted job commits (reclaiming expired leases), then print its result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, o, err := openJobApp(ctx, g, args[0], out, out == "")
			if err != nil {
				return err
			}
			defer a.Close()
			if a.embedded && workers == 0 {
				workers = runtime.NumCPU()
			}
			if workers > 0 {
				setMemoryLimit(workers)
			}
			resume := func(string) []string { return []string{shellQuote(redactArgs(os.Args))} }
			return runJob(ctx, g, a, jobRun{cmd: cmd, out: o, workers: workers, grace: grace, jsonOut: jsonOut, resume: resume},
				func(ctx context.Context, opts fanout.RunOptions) (fanout.Result, error) {
					return a.engine.Wait(ctx, o, args[0], opts)
				})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the job's output `URL` (needed when Redis lost the job)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	cmd.Flags().IntVar(&workers, "workers", 0, "also work on the job with `N` local workers")
	cmd.Flags().DurationVar(&grace, "grace", defaultGrace, "on Ctrl-C or SIGTERM, how long (`DURATION`) running chunks may finish before they go back to the queue")
	return cmd
}

func newStatusCommand(g *globalFlags) *cobra.Command {
	var out string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status JOB",
		Short: "Show a job's state: chunks per state, markers in the bucket, the commit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, o, err := openJobApp(ctx, g, args[0], out, out == "")
			if err != nil {
				return err
			}
			defer a.Close()
			res, err := a.engine.Status(ctx, o, args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(os.Stdout, res)
			}
			fmt.Printf("job %s: %s\n", res.Job, res.State)
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			if h := res.RedriveHold; h != nil {
				printRedriveHold(w, h, progCommand(cmd, "redrive", res.Job, "--out", res.Output))
			}
			fmt.Fprintf(w, "  output\t%s\n", res.Output)
			fmt.Fprintf(w, "  chunks\t%d (%d with a marker)\n", res.Chunks, res.Markers)
			fmt.Fprintf(w, "  queue\tpending %d (retrying %d), running %d, done %d, dead %d\n",
				res.Queue.Pending, res.Queue.Retrying, res.Queue.Running, res.Queue.Done, res.Queue.Dead)
			if res.State == fanout.StateCommitted {
				if res.ReplacedBy != "" {
					fmt.Fprintf(w, "  replaced\tby job %s (--overwrite): the output holds that job's result now\n", res.ReplacedBy)
				}
				fmt.Fprintf(w, "  records\t%d in, %d out\n", res.RecordsIn, res.RecordsOut)
				fmt.Fprintf(w, "  files\t%d\n", res.Files)
				printCosts(w, res)
				printRejections(w, res)
			} else if res.State == fanout.StateCancelled {
				fmt.Fprintf(w, "  cancelled\t%s\n", userText(res.Error))
			} else if res.State == fanout.StateFailed {
				fmt.Fprintf(w, "  failed\t%s\n", userText(res.Error))
				fmt.Fprintf(w, "  records\t%d in, %d out, %s read (every worker's published chunks)\n", res.RecordsIn, res.RecordsOut, humanBytes(res.BytesIn))
			} else {
				fmt.Fprintf(w, "  records\t%d in, %d out, %s read so far (every worker's published chunks)\n", res.RecordsIn, res.RecordsOut, humanBytes(res.BytesIn))
				printProgress(w, res)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the job's output `URL` (needed when Redis does not know the job; it keeps a committed job's output for 7 days)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// printRedriveHold says that a redrive holds the job (killed, or under
// way), since when and by whom, and what to do: redrive is the command
// that finishes it.
func printRedriveHold(w io.Writer, h *fanout.RedriveHold, redrive string) {
	by := ""
	if h.By != "" {
		by = " by " + h.By
	}
	fmt.Fprintf(w, "  redrive\theld by a redrive since %s (%s ago)%s: under way, or killed before it let go; the job's commits publish nothing until it is done\n",
		h.Since.UTC().Format(time.RFC3339), time.Since(h.Since).Round(time.Second), by)
	fmt.Fprintf(w, "  \tif no redrive of the job is running, run it again to finish it: %s\n", redrive)
}

func newJobsCommand(g *globalFlags) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List the jobs in Redis: state, tasks done, running and failed, age, output; then the recently committed and cancelled",
		Long: `jobs lists the jobs the queue holds (submitted and not yet committed), with each job's
state, tasks done of all, running and failed, its age since planning and its output; then
the jobs that left the queue in the last 7 days (committed or cancelled) with their state,
age and output. A job is queued when none of its tasks runs now. fanout status JOB shows one job in full.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a, err := newApp(ctx, g, true)
			if err != nil {
				return err
			}
			defer a.Close()
			specs, err := a.admin.Jobs(ctx)
			if err != nil {
				return err
			}
			var list []fanout.Result
			for _, s := range specs {
				out, err := a.engine.OutputOf(ctx, s.Job)
				if err != nil {
					list = append(list, fanout.Result{Job: s.Job, State: "unknown", Error: err.Error()})
					continue
				}
				res, err := a.engine.Status(ctx, out, s.Job)
				if err != nil {
					res.Job, res.State, res.Error = s.Job, "unknown", err.Error()
				}
				list = append(list, res)
			}
			// Then the jobs that left the queue lately (committed,
			// cancelled), as the queue remembers them.
			if l, ok := a.admin.(fanout.FinishedLister); ok {
				recent, err := l.RecentFinished(ctx)
				if err != nil {
					return err
				}
				active := map[string]bool{}
				for _, r := range list {
					active[r.Job] = true
				}
				for _, f := range recent {
					if !active[f.Job] {
						list = append(list, fanout.Result{Job: f.Job, State: f.State, Output: f.Output, Planned: f.Planned})
					}
				}
			}
			for i, r := range list {
				if r.State == fanout.StateRunning && r.Queue.Running == 0 {
					list[i].State = "queued" // no worker holds a task of it now
				}
			}
			if jsonOut {
				return printJSON(os.Stdout, list)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "JOB\tSTATE\tDONE\tRUNNING\tFAILED\tAGE\tOUTPUT")
			for _, r := range list {
				state := r.State
				if r.RedriveHold != nil {
					state += " (held by a redrive)"
				}
				age := "-"
				if !r.Planned.IsZero() {
					age = time.Since(r.Planned).Round(time.Second).String()
				}
				if r.Chunks == 0 { // left the queue: see fanout status JOB
					fmt.Fprintf(w, "%s\t%s\t-\t-\t-\t%s\t%s\n", r.Job, state, age, r.Output)
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%d/%d\t%d\t%d\t%s\t%s\n", r.Job, state, r.Markers, r.Chunks, r.Queue.Running, r.Queue.Dead, age, r.Output)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print a JSON array of the jobs' status")
	return cmd
}

func newCancelCommand(g *globalFlags) *cobra.Command {
	var out, reason string
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "cancel JOB [--out URL]",
		Short: "Stop a job that has not committed: its chunks are dropped, its workers stop, its output is given back",
		Long: `cancel stops a job for good. The job's output owner record moves to cancelled (a
conditional write: if the job's commit has already fenced the output, the cancel is
refused and the commit completes), the queue drops its pending chunks, running attempts
stop at their next heartbeat, fanout wait exits 1 naming the cancel, and nothing of the job
is ever committed. Another job may then use the output without --rerun; what the
cancelled job left under <out>/_fanout/JOB/ is for fanout gc. Exit status 0 when the job is
cancelled (also when it was before), 1 when it committed or is committing, or is unknown.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, o, err := openJobApp(ctx, g, args[0], out, out == "")
			if err != nil {
				return err
			}
			defer a.Close()
			info, err := a.engine.Cancel(ctx, o, args[0], fanout.CancelOptions{Reason: reason})
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(os.Stdout, info)
			}
			switch {
			case info.Already:
				fmt.Printf("job %s was cancelled before; nothing of it was committed\n", info.Job)
			default:
				fmt.Printf("job %s cancelled: %d pending chunk(s) dropped, %d running attempt(s) stop at their next heartbeat; nothing of it was committed\n",
					info.Job, info.Dropped, info.Stopping)
			}
			if info.OwnedBy != "" {
				fmt.Printf("  its output %s was already owned by job %s\n", info.Output, info.OwnedBy)
			} else {
				fmt.Printf("  its output %s is free for another job; %s gc removes what the job left under _fanout/%s/\n", info.Output, g.prog, info.Job)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the job's output `URL` (needed when Redis does not know the job)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the cancel (`TEXT`)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON: job, output, state, already, dropped, stopping, owned_by")
	return cmd
}

func newResumeCommand(g *globalFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "resume JOB --out URL",
		Short: "Rebuild a job's queue from its manifest minus the chunk markers in the bucket (after Redis lost it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, o, err := openJobApp(ctx, g, args[0], out, true)
			if err != nil {
				return err
			}
			defer a.Close()
			n, err := a.engine.Resume(ctx, o, args[0])
			if err != nil {
				return err
			}
			fmt.Printf("job %s: %d chunk(s) without a marker enqueued\n", args[0], n)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the job's output `URL`")
	return cmd
}

func newFunctionsCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "functions [NAME]",
		Short: "List the functions and their arguments (--arg K=V), or describe one",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := g.functions
			names := reg.Names()
			if len(args) == 1 {
				if _, err := reg.Lookup(args[0]); err != nil {
					if c := functions.Closest(args[0], names); c != "" {
						return usagef("unknown function %q (did you mean %s?); %s functions lists them", args[0], c, g.prog)
					}
					return usagef("unknown function %q; %s functions lists them (%s)", args[0], g.prog, strings.Join(names, ", "))
				}
				names = args[:1]
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			for _, name := range names {
				f, _ := reg.Lookup(name)
				fmt.Fprintf(w, "%s\t%s\n", name, strings.TrimSpace(f.Describe()))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Printf("\nEvery function also takes %s.\nPass arguments as --arg K=V, e.g. %s run --fn %s --arg K=V ...\n", builtin.CommonArgs, g.prog, names[0])
			return nil
		},
	}
}
