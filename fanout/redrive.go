package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// RedriveInfo says what Redrive did.
type RedriveInfo struct {
	Job string `json:"job"`
	// Chunks are the failed chunks (then reduce tasks) whose failed
	// markers were removed so that they run again.
	Chunks []string `json:"chunks"`
	// Redriven is the number of dead-lettered tasks the queue held; the
	// queue is rebuilt from the bucket.
	Redriven int `json:"redriven"`
	// Enqueued is the number of chunks without a marker (re)enqueued.
	Enqueued int `json:"enqueued"`
}

// Redrive runs the failed chunks of a job that has not committed again,
// and only them: the queue forgets the job, the job's redrive generation
// goes up, which makes every failed marker there is stale (for an
// aggregating job the reduce stage's shuffle index and markers go too, so
// that it runs again over every map chunk), and the queue is rebuilt from
// the bucket: every chunk without a marker or with a stale failed one is
// enqueued. Chunks that finished keep their markers and output. Workers
// then run the chunks, their markers replace the stale ones, and Wait
// commits the job. The redrive holds the job through the owner record
// from before it changes anything to its end, and no commit of the job
// publishes markers read across it (owner.go, "A redrive and a commit");
// a job whose commit has fenced the output is refused.
//
// Run it once the job has failed (its driver reported the failure and
// returned), after fixing what made the chunks fail. A committed job cannot
// be redriven: its commit is final, including the chunks its failure
// tolerance left out.
func (e *Engine) Redrive(ctx context.Context, outURL, job string) (_ RedriveInfo, err error) {
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
	if err := cancelled(ctx, js.out, js.layout, job); err != nil {
		return info, err
	}
	// The redrive holds the job from here to its end: no commit of it
	// publishes meanwhile, nor afterwards one that read a marker before
	// the end (owner.go, "A redrive and a commit"). A commit that fenced
	// first refuses the hold.
	token := randomHex(8)
	if err := e.holdForRedrive(ctx, js, token); err != nil {
		return info, err
	}
	held := true
	defer func() {
		if !held {
			return
		}
		// A redrive that stops on an error gives its hold up as well:
		// whatever it changed is in the bucket, which the next commit
		// reads as a whole (failed markers it made stale settle again,
		// a shuffle index without a rerun chunk restarts the reduce
		// stage). A redrive killed leaves its hold: the commit waits
		// for the next redrive.
		if rerr := e.releaseRedrive(context.WithoutCancel(ctx), js, token); rerr != nil {
			if err == nil {
				err = rerr
			} else {
				e.log.Warn("the redrive stopped and could not give its hold of the job up: its commit waits until `fanout redrive` runs again",
					"job", job, "err", rerr)
			}
		}
	}()
	if dead, err := e.cfg.Admin.DeadLetters(ctx, job); err == nil {
		info.Redriven = len(dead)
	} else if !errors.Is(err, ErrUnknownJob) {
		return info, fmt.Errorf("redrive: %w", err)
	}
	// The queue forgets the job first, and is then rebuilt from the
	// bucket, as after a Redis restart. Moving its dead letters back
	// instead does not converge:
	//   - a chunk still a dead letter gets a failed marker from any
	//     process settling the job meanwhile (settleMissing writes one for
	//     every dead letter without a marker);
	//   - a dead chunk whose backup twin wrote a done marker would run
	//     again for nothing: rebuilt from the bucket, only chunks without
	//     a marker, or with a failed one, are enqueued;
	//   - reduce tasks that succeeded sit in the queue's done set, where
	//     enqueueing them again does nothing: their markers go below, and
	//     a queue without the job takes them as new once the reduce stage
	//     is prepared again.
	// Forgetting is safe: the queue holds hints only. Attempts still
	// running lose their leases and stop; whatever they publish is
	// fenced by the create-only markers.
	if err := e.cfg.Admin.Finish(ctx, job); err != nil {
		return info, fmt.Errorf("redrive: %w", err)
	}
	// Then the generation goes up, before any task runs again: every
	// failed marker of an older one is stale, including one whose writer
	// saw its chunk dead before the Finish above and writes it only now,
	// after the failed markers were read below (generation.go). None is
	// deleted: the rerun's marker replaces it.
	gen, err := e.raiseGeneration(ctx, js)
	if err != nil {
		return info, fmt.Errorf("redrive: %w", err)
	}
	// Before anything is reset, the hold is checked again: another
	// redrive may have taken the job over (it finishes the job), a
	// --rerun its output.
	if cur, _, err := readOwner(ctx, js.out, js.layout); err != nil {
		// Not read (a transient error): the hold is still this
		// redrive's, and the deferred release gives it up.
		return info, fmt.Errorf("redrive: checking the output's owner: %w", err)
	} else if err := e.notHolding(ctx, js, cur, token); err != nil {
		held = false // another redrive, the commit or a --rerun has it
		return info, err
	}
	failed, err := e.failedChunks(ctx, js, gen, js.layout.MarkerPrefix(js.job), func(key string) bool {
		_, ok := js.layout.ChunkFromMarkerKey(js.job, key)
		return ok
	})
	if err != nil {
		return info, err
	}
	// The failed tasks of the second stage (reduce or compaction), under
	// its current index or plan.
	var failedReduce []string
	stagePrefix := func(id string) string { return js.layout.ReduceIndexPrefix(js.job, id) }
	stageID := e.shuffleID
	if js.compacts() {
		stagePrefix = func(id string) string { return js.layout.CompactMarkerPrefix(js.job) + id + "/" }
		stageID = e.compactPlanID
	}
	if js.m.Reducers > 0 || js.compacts() {
		if id, err := stageID(ctx, js); err == nil {
			prefix := stagePrefix(id)
			if failedReduce, err = e.failedChunks(ctx, js, gen, prefix, func(key string) bool {
				return strings.HasSuffix(key, ".json") && !strings.Contains(strings.TrimPrefix(key, prefix), "/")
			}); err != nil {
				return info, err
			}
		} else if !errors.Is(err, objstore.ErrNotFound) {
			return info, err
		}
	}
	info.Chunks = slices.Concat(failed, failedReduce)
	if js.m.Reducers > 0 {
		// The reduce stage starts over from the map markers as they will
		// be: its shuffle index and reduce markers (failed ones included)
		// go, so that rerun map chunks are merged and their records
		// counted. Nothing of the job is published before its commit. A
		// reduce attempt still running from before publishes its marker
		// under the old index's ID, where the commit does not look unless
		// the new index is the same (then its result is as good; a failed
		// marker of it is stale by its generation).
		if err := e.restartReduce(ctx, js); err != nil {
			return info, fmt.Errorf("redrive: %w", err)
		}
	}
	if js.compacts() {
		// The compaction stage starts over the same way: its plan names
		// the map files as they were (compactor.go).
		if err := e.restartCompaction(ctx, js); err != nil {
			return info, fmt.Errorf("redrive: %w", err)
		}
	}
	e.forgetJob(job)
	e.failedJobs.Delete(job)
	// Read again on a new variable: the deferred release needs js
	// when this fails.
	reopened, err := e.openJob(ctx, outURL, job)
	if err != nil {
		return info, err
	}
	js = reopened
	if info.Enqueued, err = e.enqueueMissing(ctx, js); err != nil {
		return info, err
	}
	// The failed chunks keep their (now stale) markers: enqueueMissing
	// left them out.
	spec := js.queueSpec()
	for i := 0; i < len(failed); i += 1000 {
		if err := e.cfg.Queue.Enqueue(ctx, spec, failed[i:min(i+1000, len(failed))]); err != nil {
			return info, fmt.Errorf("enqueueing job %s: %w", job, err)
		}
	}
	info.Enqueued += len(failed)
	return info, nil
}

// errCommitting refuses a redrive of a job whose commit has fenced its
// output: the commit publishes what the markers said, and a redrive
// would change that under it.
func errCommitting(job string) error {
	return functions.Permanent(fmt.Errorf("job %s is committing: its commit publishes what its chunks wrote, and a redrive would change that under it; let the commit finish (fanout wait, or any idle worker)", job))
}

// holdForRedrive takes hold of js's job for the redrive whose token is
// token (owner.go, "A redrive and a commit"): the owner record names the
// job running, Redriving token. It refuses a job that is committing,
// cancelled, or whose output another job owns. A hold of an earlier
// redrive (under way, or interrupted) is taken over.
func (e *Engine) holdForRedrive(ctx context.Context, js *jobState, token string) error {
	for range ownerRetries {
		cur, etag, err := readOwner(ctx, js.out, js.layout)
		var next manifest.Owner
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			// A job planned before owner records existed: claimed as its
			// fence would.
			if other, err := successJob(ctx, js.out, js.layout); err != nil {
				return err
			} else if other != "" && other != js.job {
				return functions.Permanent(&OutputOwnedError{Output: js.m.Spec.Output, Job: js.job, Owner: other, State: StateCommitted, AtCommit: true})
			}
			next = manifest.Owner{Job: js.job, Spec: specOf(js.m.Spec)}
		case err != nil:
			return fmt.Errorf("redrive: checking the output's owner: %w", err)
		case cur.Job != js.job:
			// A --rerun took the output over: this job can never commit.
			return e.ownedByOther(ctx, js, cur)
		case cur.State == manifest.OwnerCommitting:
			return errCommitting(js.job)
		case cur.State == manifest.OwnerCancelled:
			return functions.Permanent(&JobCancelledError{Job: js.job, Reason: cur.Reason, At: cur.Since})
		default:
			if cur.Redriving != "" {
				e.log.Warn("another redrive holds the job (under way, or interrupted): this one takes it over", "job", js.job, "since", cur.Since)
			}
			next = *cur
		}
		next.State, next.Reason, next.Redriving, next.RedrivingBy = manifest.OwnerRunning, "", token, e.cfg.WorkerName
		if err := writeOwner(ctx, js.out, js.layout, &next, etag); !lostRace(err) {
			return err
		}
	}
	return fmt.Errorf("redrive: output %s: its owner record kept changing", js.m.Spec.Output)
}

// ownedByOther is the *OutputOwnedError of js's job, whose output cur's
// job owns.
func (e *Engine) ownedByOther(ctx context.Context, js *jobState, cur *manifest.Owner) error {
	state, err := ownerState(ctx, js.out, js.layout, cur)
	if err != nil {
		return err
	}
	return functions.Permanent(&OutputOwnedError{Output: js.m.Spec.Output, Job: js.job, Owner: cur.Job, State: state, AtCommit: true})
}

// notHolding says why the owner record cur shows that the redrive whose
// token is token does not hold js's job (nil: it does).
func (e *Engine) notHolding(ctx context.Context, js *jobState, cur *manifest.Owner, token string) error {
	switch {
	case cur.Job != js.job:
		return e.ownedByOther(ctx, js, cur)
	case cur.State == manifest.OwnerCommitting:
		return errCommitting(js.job)
	case cur.State == manifest.OwnerCancelled:
		return functions.Permanent(&JobCancelledError{Job: js.job, Reason: cur.Reason, At: cur.Since})
	case cur.Redriving != token:
		return functions.Permanent(fmt.Errorf("job %s: another redrive took it over from this one (since %s); that one finishes it", js.job, cur.Since.Format(time.RFC3339)))
	}
	return nil
}

// releaseRedrive ends the hold of the redrive whose token is token on
// js's job: Redriving cleared, Generation the job's redrive generation
// now (the one the redrive raised, read again: a raise whose response
// was lost counts). From then on the job commits again.
func (e *Engine) releaseRedrive(ctx context.Context, js *jobState, token string) error {
	ctx, cancel := context.WithTimeout(ctx, finishTimeout)
	defer cancel()
	gen, err := e.redriveGeneration(ctx, js)
	if err != nil {
		return fmt.Errorf("redrive: %w", err)
	}
	for range ownerRetries {
		cur, etag, err := readOwner(ctx, js.out, js.layout)
		if err != nil {
			return fmt.Errorf("redrive: checking the output's owner: %w", err)
		}
		if err := e.notHolding(ctx, js, cur, token); err != nil {
			return err
		}
		next := *cur
		next.Redriving, next.RedrivingBy, next.Generation = "", "", gen
		if err := writeOwner(ctx, js.out, js.layout, &next, etag); !lostRace(err) {
			return err
		}
	}
	return fmt.Errorf("redrive: output %s: its owner record kept changing", js.m.Spec.Output)
}

// failedChunks reads every marker under prefix (the job's map or reduce
// markers; isMarker tells a marker's key from other keys there) and
// returns the tasks whose failed marker is of an older generation than
// gen, sorted.
func (e *Engine) failedChunks(ctx context.Context, js *jobState, gen int64, prefix string, isMarker func(key string) bool) ([]string, error) {
	var (
		mu     sync.Mutex
		failed []string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(commitParallelism)
	for info, err := range js.out.List(ctx, prefix, nil) {
		if err != nil {
			g.Wait()
			return nil, fmt.Errorf("listing markers: %w", err)
		}
		if !isMarker(info.Key) {
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
			if m.StaleFailure(gen) {
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
