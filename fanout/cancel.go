package fanout

// Cancelling a job.
//
// A job is cancelled by moving its output's owner record (owner.go) to
// state cancelled with a write conditional on the ETag read, the same
// way a commit fences the output (running -> committing). The store
// serialises the two writes, so exactly one wins:
//
//   - the cancel first: the commit's fence finds the record cancelled and
//     publishes nothing (*JobCancelledError, permanent). A committer that
//     had started reading markers before the cancel is stopped there,
//     before its first copy.
//   - the fence first: the record says committing, which a cancel never
//     replaces: the cancel is refused (*CancelRefusedError) and the
//     commit, however slow, is the job's only outcome.
//
// Then the cancel writes the job's cancel record (<out>/_fanout/<job>/
// _CANCELLED, create-only: the job's own note, which outlives the owner
// record once another job takes the output), and drops the job from the
// queue (QueueAdmin.Finish): its pending chunks are gone, claims find no
// work, and running attempts learn at their next heartbeat, or at the
// lease check just before they write their marker, that their lease is
// lost, and stop. An attempt that confirmed its lease shortly before the
// cancel (within a quarter of the lease: such an attempt skips the check,
// heartbeat.fresh) may still write its chunk marker, under
// <out>/_fanout/<job>/ only: nothing of a cancelled job ever reaches the
// output. The queue
// keeps a finished record (JobRecorder) with state cancelled, for status
// and jobs.
//
// A cancelled job stays cancelled: Submit, Resume and every driver that
// rebuilds a queue (enqueueMissing) refuse it, and the same spec
// submitted again is refused with a hint to --rerun (a new job). Its
// output is free: any other job claims it without --rerun. What the
// cancelled job left under <out>/_fanout/<job>/ is garbage for
// `fanout gc`.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// StateCancelled is the state of a cancelled job (Result.State,
// FinishedJob.State).
const StateCancelled = "cancelled"

// JobCancelledError reports that a job was cancelled: its commit is
// refused and nothing of it was published.
type JobCancelledError struct {
	Job    string
	Reason string
	At     time.Time // zero when unknown
}

func (e *JobCancelledError) Error() string {
	msg := fmt.Sprintf("job %s was cancelled", e.Job)
	if !e.At.IsZero() {
		msg += " at " + e.At.UTC().Format(time.RFC3339)
	}
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg + ": nothing of it was committed"
}

// CancelRefusedError reports a job that can no longer be cancelled: its
// commit has fenced the output (State committing) or is complete
// (committed).
type CancelRefusedError struct {
	Job   string
	State string
}

func (e *CancelRefusedError) Error() string {
	if e.State == StateCommitted {
		return fmt.Sprintf("job %s is committed: there is nothing to cancel", e.Job)
	}
	return fmt.Sprintf("job %s is %s: its commit has fenced the output and will complete; it can no longer be cancelled", e.Job, e.State)
}

// CancelOptions are the settings of Cancel.
type CancelOptions struct {
	// Reason is recorded in the owner record and the cancel record.
	Reason string
}

// CancelInfo is what Cancel did.
type CancelInfo struct {
	Job    string `json:"job"`
	Output string `json:"output"`
	State  string `json:"state"` // StateCancelled
	// Already is true when the job had been cancelled before.
	Already bool `json:"already,omitempty"`
	// Dropped counts the tasks the queue held as pending; Stopping the
	// attempts running then, which stop at their next heartbeat.
	Dropped  int `json:"dropped"`
	Stopping int `json:"stopping"`
	// OwnedBy names the job that owned the output already (a --rerun took
	// it over): the cancelled job could not have committed anyway.
	OwnedBy string `json:"owned_by,omitempty"`
}

// Cancel stops a job that has not committed (see the top of this file):
// its owner record moves to cancelled, its cancel record is written and
// the queue drops it. Cancelling a cancelled job again succeeds (Already).
// A committed or committing job is refused with *CancelRefusedError; a
// job with neither an owner record nor a manifest under outURL is
// ErrUnknownJob.
func (e *Engine) Cancel(ctx context.Context, outURL, job string, opts CancelOptions) (CancelInfo, error) {
	info := CancelInfo{Job: job, Output: outURL, State: StateCancelled}
	if !manifest.ValidJobID(job) {
		return info, fmt.Errorf("%q is not a job ID", job)
	}
	out, _, layout, err := e.output(ctx, outURL)
	if err != nil {
		return info, err
	}
	if _, err := out.Stat(ctx, layout.CommitKey(job)); err == nil {
		return info, &CancelRefusedError{Job: job, State: StateCommitted}
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return info, fmt.Errorf("cancel: %w", err)
	}
	reason := opts.Reason
	if reason == "" {
		reason = "cancelled by fanout cancel"
	}
	// Counted before the owner record changes: a driver that sees the
	// change may drop the job from the queue first.
	stats, statsErr := e.cfg.Admin.Stats(ctx, job)
	already, ownedBy, err := e.cancelOwner(ctx, out, layout, job, reason)
	if errors.Is(err, ErrUnknownJob) {
		// Named as the user gave it (a local output's key prefix is
		// empty).
		return info, fmt.Errorf("%w under %s", err, outURL)
	} else if err != nil {
		return info, err
	}
	info.Already, info.OwnedBy = already, ownedBy
	if err := writeCancelRecord(ctx, out, layout, job, reason); err != nil {
		return info, err
	}
	if statsErr == nil && !already {
		info.Dropped, info.Stopping = stats.Pending, stats.Running
	}
	var planned time.Time
	if js := e.jobs.get(job); js != nil {
		planned = js.m.Created
	} else if m, err := e.readManifest(ctx, out, layout, job); err == nil {
		planned = m.Created // for fanout jobs (best effort: a job cancelled while planning has none)
	}
	e.dropCancelled(ctx, job, outURL, planned)
	return info, nil
}

// cancelOwner moves the owner record of job to cancelled (If-Match). It
// reports whether it was cancelled already, or the job that owns the
// output instead (nothing is written then: the output is not job's).
func (e *Engine) cancelOwner(ctx context.Context, out objstore.Bucket, layout manifest.Layout, job, reason string) (already bool, ownedBy string, err error) {
	for range ownerRetries {
		cur, etag, err := readOwner(ctx, out, layout)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			if other, err := successJob(ctx, out, layout); err != nil {
				return false, "", err
			} else if other == job {
				return false, "", &CancelRefusedError{Job: job, State: StateCommitted}
			}
			if unplanned, err := neverPlanned(ctx, out, layout, job); err != nil {
				return false, "", err
			} else if unplanned {
				return false, "", fmt.Errorf("%w: job %s has neither an owner record nor a manifest", ErrUnknownJob, job)
			}
			// A job planned before owner records existed: claim the
			// output cancelled, create-only, as its fence would.
			err := writeOwner(ctx, out, layout, &manifest.Owner{Job: job, State: manifest.OwnerCancelled, Reason: reason}, "")
			if lostRace(err) {
				continue
			}
			return false, "", err
		case err != nil:
			return false, "", fmt.Errorf("cancel: checking the output's owner: %w", err)
		case cur.Job != job:
			if unplanned, err := neverPlanned(ctx, out, layout, job); err != nil {
				return false, "", err
			} else if unplanned {
				return false, "", fmt.Errorf("%w: no manifest of job %s (the output's owner is job %s)", ErrUnknownJob, job, cur.Job)
			}
			return false, cur.Job, nil
		case cur.State == manifest.OwnerCancelled:
			return true, "", nil
		case cur.State == manifest.OwnerCommitting:
			state, err := ownerState(ctx, out, layout, cur)
			if err != nil {
				return false, "", err
			}
			return false, "", &CancelRefusedError{Job: job, State: state}
		}
		next := *cur
		next.State, next.Reason = manifest.OwnerCancelled, reason
		if err := writeOwner(ctx, out, layout, &next, etag); !lostRace(err) {
			return false, "", err
		}
	}
	return false, "", fmt.Errorf("cancelling job %s: the output's owner record kept changing", job)
}

// writeCancelRecord creates job's cancel record unless it exists.
func writeCancelRecord(ctx context.Context, out objstore.Bucket, layout manifest.Layout, job, reason string) error {
	body, err := manifest.Encode(&manifest.CancelRecord{Version: manifest.Version, Job: job, Cancelled: time.Now().UTC(), Reason: reason})
	if err != nil {
		return err
	}
	_, err = out.Put(ctx, layout.CancelKey(job), strings.NewReader(string(body)),
		&objstore.PutOptions{IfNoneMatch: true, ContentType: "application/json", Size: int64(len(body))})
	if err != nil && !errors.Is(err, objstore.ErrPrecondition) {
		return fmt.Errorf("writing %s: %w", layout.CancelKey(job), err)
	}
	return nil
}

// dropCancelled removes a cancelled job from the queue and leaves a
// finished record of it (best effort: the owner record is the truth, and
// every driver that would enqueue the job again refuses it).
func (e *Engine) dropCancelled(ctx context.Context, job, outURL string, planned time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := e.cfg.Admin.Finish(ctx, job); err != nil {
		e.log.Warn("removing the cancelled job from the queue failed", "job", job, "err", err)
	}
	if r, ok := e.cfg.Admin.(JobRecorder); ok {
		if err := r.RecordFinished(ctx, FinishedJob{Job: job, Output: outURL, State: StateCancelled, Planned: planned, Ended: time.Now().UTC()}, FinishedJobTTL); err != nil {
			e.log.Warn("recording the cancelled job in the queue failed", "job", job, "err", err)
		}
	}
	e.forgetJob(job)
}

// cancelled returns a *JobCancelledError when job was cancelled: its
// cancel record exists, or its owner record says so (a cancel that
// stopped between the two). Other errors are the store's.
func cancelled(ctx context.Context, out objstore.Bucket, layout manifest.Layout, job string) error {
	body, err := readAll(ctx, out, layout.CancelKey(job), 1<<20)
	if err == nil {
		c, err := manifest.DecodeCancel(body)
		if err != nil {
			return fmt.Errorf("%s: %w", layout.CancelKey(job), err)
		}
		return functions.Permanent(&JobCancelledError{Job: job, Reason: c.Reason, At: c.Cancelled})
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("checking whether job %s was cancelled: %w", job, err)
	}
	o, _, err := readOwner(ctx, out, layout)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("checking whether job %s was cancelled: %w", job, err)
	}
	if o.Job == job && o.State == manifest.OwnerCancelled {
		return functions.Permanent(&JobCancelledError{Job: job, Reason: o.Reason, At: o.Since})
	}
	return nil
}
