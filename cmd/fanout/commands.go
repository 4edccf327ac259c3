package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions/builtin"
)

func newRunCommand(g *globalFlags, submitOnly bool) *cobra.Command {
	var jf jobFlags
	var workers int
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
		cmd.Flags().IntVar(&workers, "workers", runtime.NumCPU(), "chunks this process works on at once (0: leave the work to `fanout work` processes)")
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object describing the job at the end")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		spec, err := jf.spec()
		if err != nil {
			return err
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
			if jsonOut {
				return printJSON(os.Stdout, map[string]any{"job": info.Job, "chunks": info.Manifest.Chunks, "existing": info.Existing, "output": info.Manifest.Spec.Output})
			}
			fmt.Println(info.Job)
			return nil
		}
		if a.embedded && workers <= 0 {
			return errors.New("--workers 0 needs --redis: in embedded mode this process is the only worker")
		}
		setMemoryLimit(workers)
		stats := &fanout.WorkStats{}
		prog := newProgress(!g.quiet, stats)
		res, err := a.engine.Run(ctx, spec, fanout.RunOptions{Workers: workers, Progress: prog.update, Stats: stats})
		prog.done()
		return a.report(res, err, jsonOut)
	}
	return cmd
}

// report prints a job's result and turns a job that did not commit into a
// non-zero exit. Failure reasons are printed with the process's secrets
// redacted (a program's stderr may have quoted them).
func (a *app) report(res fanout.Result, err error, jsonOut bool) error {
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
			fmt.Fprintln(os.Stderr, "fanout:", err)
			return exitError{1}
		}
		return err
	}
	if res.State != fanout.StateCommitted {
		return exitError{1}
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

func printSummary(res fanout.Result) {
	if res.State != fanout.StateCommitted {
		return
	}
	note := ""
	if res.Existing {
		note = " (submitted before: nothing new to do; --rerun runs it again)"
	}
	fmt.Printf("job %s committed%s\n", res.Job, note)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "  output\t%s\n", res.Output)
	fmt.Fprintf(w, "  files\t%d (%s)\n", res.Files, humanBytes(res.BytesOut))
	fmt.Fprintf(w, "  chunks\t%d\n", res.Chunks)
	fmt.Fprintf(w, "  records\t%d in, %d out\n", res.RecordsIn, res.RecordsOut)
	fmt.Fprintf(w, "  input\t%s in %d objects\n", humanBytes(res.BytesIn), res.Objects)
	if res.Elapsed > 0 {
		fmt.Fprintf(w, "  time\t%s (%s/s)\n", res.Elapsed.Round(time.Millisecond), humanBytes(int64(float64(res.BytesIn)/res.Elapsed.Seconds())))
	}
	for _, f := range res.Failed {
		fmt.Fprintf(w, "  left out\t%s: %s\n", f.Chunk, f.Reason)
	}
	printCosts(w, res)
	printRejections(w, res)
	w.Flush()
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
	cmd := &cobra.Command{
		Use:   "work --redis URL [--concurrency N]",
		Short: "Serve every job in Redis until SIGTERM: claim chunks, run them, publish their markers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a, err := newApp(context.WithoutCancel(ctx), g, true)
			if err != nil {
				return err
			}
			defer a.Close()
			stats := &fanout.WorkStats{}
			setMemoryLimit(concurrency)
			opts := fanout.WorkOptions{Concurrency: concurrency, Job: job, Grace: grace, Stats: stats}
			if metricsAddr != "" {
				m := newMetrics()
				addr, err := m.serve(ctx, metricsAddr)
				if err != nil {
					return fmt.Errorf("--metrics-addr: %w", err)
				}
				fmt.Fprintf(os.Stderr, "fanout work: metrics on http://%s/metrics\n", addr)
				go m.pollQueue(ctx, a.admin, 5*time.Second)
				opts.Observe = m.observe
			}
			err = a.engine.Work(ctx, opts)
			fmt.Fprintf(os.Stderr, "fanout work: stopped after %d chunks (%d skipped, %d failed, %d leases lost)\n",
				stats.Chunks.Load(), stats.Skipped.Load(), stats.Failed.Load(), stats.LeasesLost.Load())
			return err
		},
	}
	cmd.Flags().IntVar(&concurrency, "concurrency", runtime.NumCPU(), "chunks processed at once")
	cmd.Flags().StringVar(&job, "job", "", "serve only this job")
	cmd.Flags().DurationVar(&grace, "grace", 30*time.Second, "on SIGTERM, how long running chunks may finish before they are released")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. :9090) at /metrics")
	return cmd
}

// openJobApp wires an app for a command about one job and finds the job's
// output URL (--out, or the queue's record). The caller closes the app.
func openJobApp(ctx context.Context, g *globalFlags, job, out string, needRedis bool) (*app, string, error) {
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
			stats := &fanout.WorkStats{}
			prog := newProgress(!g.quiet, stats)
			res, err := a.engine.Wait(ctx, o, args[0], fanout.RunOptions{Workers: workers, Progress: prog.update, Stats: stats})
			prog.done()
			return a.report(res, err, jsonOut)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the job's output URL (needed when Redis lost the job)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	cmd.Flags().IntVar(&workers, "workers", 0, "also work on the job with N local workers")
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
			fmt.Fprintf(w, "  output\t%s\n", res.Output)
			fmt.Fprintf(w, "  chunks\t%d (%d with a marker)\n", res.Chunks, res.Markers)
			fmt.Fprintf(w, "  queue\tpending %d (retrying %d), running %d, done %d, dead %d\n",
				res.Queue.Pending, res.Queue.Retrying, res.Queue.Running, res.Queue.Done, res.Queue.Dead)
			if res.State == fanout.StateCommitted {
				fmt.Fprintf(w, "  records\t%d in, %d out\n", res.RecordsIn, res.RecordsOut)
				fmt.Fprintf(w, "  files\t%d\n", res.Files)
				printCosts(w, res)
				printRejections(w, res)
			} else {
				printProgress(w, res)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the job's output URL (needed when Redis does not know the job)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
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
	cmd.Flags().StringVar(&out, "out", "", "the job's output URL")
	return cmd
}

func newFunctionsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "functions",
		Short: "List the built-in functions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg := builtin.Registry()
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			for _, name := range reg.Names() {
				f, _ := reg.Lookup(name)
				fmt.Fprintf(w, "%s\t%s\n", name, strings.TrimSpace(f.Describe()))
			}
			return w.Flush()
		},
	}
}
