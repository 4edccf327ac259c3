package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// RedriveInfo says what Redrive did.
type RedriveInfo struct {
	Job string `json:"job"`
	// Chunks are the failed chunks whose failed markers were removed so
	// that they run again.
	Chunks []string `json:"chunks"`
	// Redriven is the number of dead-lettered chunks the queue moved back
	// to pending.
	Redriven int `json:"redriven"`
	// Enqueued is the number of chunks without a marker (re)enqueued.
	Enqueued int `json:"enqueued"`
}

// Redrive runs the failed chunks of a job that has not committed again,
// and only them: it deletes their failed markers, moves the queue's dead
// letters back to pending with their counters reset (QueueAdmin.Redrive),
// and enqueues every chunk without a marker (which also rebuilds a queue
// that lost the job). Chunks that finished keep their markers and output.
// Workers then run the chunks and Wait commits the job.
//
// Run it once the job has failed (its driver reported the failure and
// returned), after fixing what made the chunks fail. A committed job cannot
// be redriven: its commit is final, including the chunks its failure
// tolerance left out.
func (e *Engine) Redrive(ctx context.Context, outURL, job string) (RedriveInfo, error) {
	info := RedriveInfo{Job: job}
	js, err := e.openJob(ctx, outURL, job)
	if err != nil {
		return info, err
	}
	if _, err := e.readCommit(ctx, js); err == nil {
		return info, functions.Permanent(fmt.Errorf("job %s is committed: its result (and what it left out) is final; run it again with --rerun to a new output", job))
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return info, err
	}
	// A job whose output a --rerun took over can never commit.
	if other, err := e.setOwnerState(ctx, js, manifest.OwnerFailed, manifest.OwnerRunning, ""); err != nil {
		return info, err
	} else if other != nil {
		state, err := ownerState(ctx, js.out, js.layout, other)
		if err != nil {
			return info, err
		}
		return info, functions.Permanent(&OutputOwnedError{Output: js.m.Spec.Output, Job: job, Owner: other.Job, State: state, AtCommit: true})
	}
	failed, err := e.failedChunks(ctx, js)
	if err != nil {
		return info, err
	}
	// The markers go first: a chunk back in the queue while its failed
	// marker still exists would be skipped as already settled.
	for _, c := range failed {
		if err := js.out.Delete(ctx, js.layout.MarkerKey(js.job, c)); err != nil {
			return info, fmt.Errorf("redrive: deleting the failed marker of %s: %w", c, err)
		}
		info.Chunks = append(info.Chunks, c)
	}
	if js.m.Reducers > 0 {
		// The reduce stage starts over from the map markers as they will
		// be: its shuffle index and reduce markers (failed ones included)
		// go, so that rerun map chunks are merged and their records
		// counted. Nothing of the job is published before its commit.
		for _, key := range []string{js.layout.ShuffleIndexKey(js.job)} {
			if err := js.out.Delete(ctx, key); err != nil {
				return info, fmt.Errorf("redrive: deleting %s: %w", key, err)
			}
		}
		e.removePrefix(ctx, js.out, js.layout.ReduceMarkerPrefix(js.job))
		e.forgetJob(job)
		if js, err = e.openJob(ctx, outURL, job); err != nil {
			return info, err
		}
	}
	n, err := e.cfg.Admin.Redrive(ctx, job)
	if err != nil && !errors.Is(err, ErrUnknownJob) {
		return info, fmt.Errorf("redrive: %w", err)
	}
	info.Redriven = n
	info.Enqueued, err = e.enqueueMissing(ctx, js)
	return info, err
}

// failedChunks reads every marker of the job and returns the chunks whose
// marker says failed, sorted.
func (e *Engine) failedChunks(ctx context.Context, js *jobState) ([]string, error) {
	var (
		mu     sync.Mutex
		failed []string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(commitParallelism)
	for info, err := range js.out.List(ctx, js.layout.MarkerPrefix(js.job), nil) {
		if err != nil {
			g.Wait()
			return nil, fmt.Errorf("listing markers: %w", err)
		}
		if _, ok := js.layout.ChunkFromMarkerKey(js.job, info.Key); !ok {
			continue
		}
		g.Go(func() error {
			body, err := readAll(gctx, js.out, info.Key, 256<<20)
			if errors.Is(err, objstore.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			m, err := manifest.DecodeMarker(body)
			if err != nil {
				return fmt.Errorf("marker %s: %w", info.Key, err)
			}
			if m.State == manifest.MarkerFailed {
				mu.Lock()
				failed = append(failed, m.Chunk)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.Sort(failed)
	return failed, nil
}
