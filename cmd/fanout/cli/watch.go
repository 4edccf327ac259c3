package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/fanout-dev/fanout/fanout/trigger"
	"github.com/fanout-dev/fanout/fanout/trigger/miniowatch"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
	"github.com/fanout-dev/fanout/objstore/miniostore"
)

func newWatchCommand(g *globalFlags) *cobra.Command {
	f := triggerFlags{job: jobFlags{functions: g.functions, prog: g.prog}}
	var rescan, overlap, since time.Duration
	cmd := &cobra.Command{
		Use:   "watch s3://bucket/prefix/ --fn NAME --out s3://bucket/base/ [flags]",
		Short: "Watch a MinIO prefix for new objects (listen API plus periodic listing) and run a job per batch of them",
		Long: `watch follows a bucket prefix on MinIO with its bucket notification stream
(ListenBucketNotification), reconnecting when it breaks, and lists the prefix
every --rescan (and after every reconnect) to catch what the stream missed:
objects written since a little (--rescan-overlap) before the previous listing
began. New objects are batched per --window into one job each, with an output
prefix of its own under --out; an object seen twice (stream and listing, or a
repeated event) never starts a second job. Objects written before watch started
are left alone unless --since reaches back to them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := objstore.ParseURL(args[0])
			if err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			if loc.Scheme != "s3" {
				return fmt.Errorf("watch %q: want s3://bucket/prefix/ (MinIO's listen API)", args[0])
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
			svc, err := newTriggerService(context.WithoutCancel(ctx), g, a, &f, loc.String())
			if err != nil {
				return err
			}
			opts, err := g.bucketOptions()
			if err != nil {
				return err
			}
			// The listen API needs minio-go itself, so watch opens MinIO
			// directly, behind the same endpoint guard as bucketurl.Open.
			wcfg := miniostore.Config{Endpoint: opts.Endpoint, Region: opts.Region, Bucket: loc.Bucket}
			if !opts.AllowMetadataEndpoint {
				if err := bucketurl.CheckEndpoint(ctx, opts.Endpoint); err != nil {
					return err
				}
				wcfg.DialControl = objstore.RefuseMetadataDial
			}
			store, err := miniostore.New(ctx, wcfg)
			if err != nil {
				return err
			}

			runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
			runDone := make(chan struct{})
			go func() {
				defer close(runDone)
				svc.run(runCtx, f.job.out)
			}()
			var wg sync.WaitGroup
			w := &watcher{svc: svc, store: store, bucket: loc.Bucket, prefix: loc.Prefix, overlap: overlap,
				watermark: time.Now().Add(-since), gap: make(chan struct{}, 1)}
			w.gap <- struct{}{} // the first listing: what --since reaches back to
			wg.Add(1)
			go func() {
				defer wg.Done()
				miniowatch.Watch(ctx, miniowatch.Config{Client: store.Client(), Bucket: loc.Bucket, Prefix: loc.Prefix,
					Emit: w.emit, OnGap: w.signal, Logger: svc.log})
			}()
			svc.log.Info("watching", "prefix", loc.String(), "window", f.window, "rescan", rescan, "output", f.job.out)
			w.rescanLoop(ctx, rescan)
			wg.Wait() // the stream has stopped: nothing more is added
			stopRun() // flushes the open batch
			<-runDone
			svc.runner.wait()
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&rescan, "rescan", time.Minute, "list the prefix every `DURATION` to catch events the stream missed")
	cmd.Flags().DurationVar(&overlap, "rescan-overlap", 2*time.Minute, "how far (`DURATION`) before the previous listing's start a listing reaches back (clock skew, slow uploads)")
	cmd.Flags().DurationVar(&since, "since", 0, "also run over objects written up to `DURATION` before watch started")
	return cmd
}

// watcher feeds the batcher from the notification stream and from
// listings.
type watcher struct {
	svc     *triggerService
	store   objstore.Bucket
	bucket  string
	prefix  string
	overlap time.Duration
	gap     chan struct{}

	mu        sync.Mutex
	watermark time.Time // listings report objects written since
}

// signal asks for a listing soon (the stream reconnected).
func (w *watcher) signal() {
	select {
	case w.gap <- struct{}{}:
	default:
	}
}

// emit adds the stream's events; a batch that fails to flush lowers the
// watermark so that the next listing brings its objects back.
func (w *watcher) emit(events []trigger.ObjectEvent) {
	var ok []trigger.ObjectEvent
	for _, ev := range events {
		if w.svc.trig.Check(ev) == "" {
			ok = append(ok, ev)
		}
	}
	if len(ok) == 0 {
		return
	}
	ch := w.svc.batcher.Add(ok...)
	go func() {
		if err := <-ch; err != nil && !errors.Is(err, trigger.ErrStopped) {
			w.lower(ok)
		}
	}()
}

func (w *watcher) lower(events []trigger.ObjectEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range events {
		if !ev.Time.IsZero() && ev.Time.Before(w.watermark) {
			w.watermark = ev.Time
		}
	}
	w.signal()
}

// rescanLoop lists the prefix on every tick and gap until ctx ends.
func (w *watcher) rescanLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.gap:
		}
		if err := w.scan(ctx); err != nil && ctx.Err() == nil {
			w.svc.log.Warn("listing failed; will list again", "prefix", w.prefix, "err", err)
		}
	}
}

// scan lists the objects written since the watermark (less the overlap)
// and adds them; the watermark moves to the listing's start once every
// batch holding them flushed.
func (w *watcher) scan(ctx context.Context) error {
	start := time.Now()
	w.mu.Lock()
	since := w.watermark
	w.mu.Unlock()
	var pending []<-chan error
	var batch []trigger.ObjectEvent
	add := func() {
		if len(batch) > 0 {
			pending = append(pending, w.svc.batcher.Add(batch...))
			batch = nil
		}
	}
	n := 0
	for ev, err := range trigger.Scan(ctx, w.store, w.bucket, w.prefix, since.Add(-w.overlap)) {
		if err != nil {
			return err
		}
		if w.svc.trig.Check(ev) != "" {
			continue
		}
		n++
		batch = append(batch, ev)
		if len(batch) >= 1000 {
			add()
		}
	}
	add()
	var errs []error
	for _, ch := range pending {
		select {
		case err := <-ch:
			errs = append(errs, err)
		case <-ctx.Done():
			return nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	w.mu.Lock()
	if w.watermark.Equal(since) {
		w.watermark = start
	}
	w.mu.Unlock()
	if n > 0 {
		w.svc.log.Debug("listing found objects", "prefix", w.prefix, "objects", n)
	}
	return nil
}
