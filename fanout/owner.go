package fanout

// One owner per output prefix.
//
// Two jobs committing into one prefix interleave their files (the copies
// of one land among, or over, the other's, and each writes _SUCCESS), so
// a prefix belongs to one job at a time, named by its owner record
// <out>/_fanout/OWNER (manifest.Owner). The record only ever changes by
// conditional writes on it: created with If-None-Match: *, replaced with
// If-Match on the ETag just read. The store serialises those writes, so
// of two changes made from the same read exactly one succeeds; that is
// the whole protocol's source of truth. Every write carries a fresh
// random token, so no two writers send identical bytes (a backend resolves
// a retried If-Match write by comparing ETags: identical bodies could let
// two writers both believe they won).
//
// The steps:
//
//  1. Claim (claimOutput, at plan time, before any listing or work): a
//     missing record is created naming the job, state running. A record
//     naming the job itself passes (a resubmitted spec, resume). A record
//     naming another job refuses the job with *OutputOwnedError naming
//     that job and its state, unless the new job is a --rerun (its spec
//     has a nonce) and the owner is neither committing nor committed: then
//     the record is replaced If-Match, naming the new job and the one it
//     took over from. A takeover whose If-Match fails looks again and
//     refuses if by then a third job holds the output (two --reruns
//     racing: one wins, the other is refused; neither steals back). A
//     job that was cancelled, or whose leftovers `fanout gc` removes (its
//     tombstone, manifest.Layout.RemovedKey, exists), never takes an
//     output over: gc's removal is fenced against it (gc.go, gcFence).
//  2. Fence (fenceOutput, in Commit, after every check that can fail the
//     job and before the first byte is published): the committer replaces
//     the record If-Match with the same job in state committing. Then it
//     copies, creates the commit record and writes _SUCCESS.
//
// Why a late committer of a job that lost its output cannot interleave
// with the new owner: publishing (the copies into the final layout, the
// commit record, _SUCCESS) only happens after a fence write that named
// the committer's job succeeded. A takeover and a fence both write the
// record If-Match on the ETag they read. If the takeover's write came
// first, the fence's If-Match fails (or its re-read shows another job),
// and the old committer publishes nothing: it returns *OutputOwnedError.
// If the fence came first, the record says committing, which a takeover
// never replaces: the new job is refused and the old one's publication
// (however slowly its copies arrive, a paused process included) is the
// only one. There is no moment at which both hold the output. A committer
// that fenced and then crashed leaves the record committing: any process
// committing the same job (Wait, TryCommit, an idle worker) finishes it,
// since committing is idempotent; the output is never taken over from it.
//
// A job whose planning failed before its manifest existed (a bad
// argument, a misspelt column, no input objects) sets its record to
// failed (releaseUnplanned). Such an owner never ran a chunk and has
// nothing to commit, so any job may take the output over from it without
// --rerun (the corrected command is a job of its own). The takeover
// checks that the owner still has no manifest; if a second process of the
// owner job planned it after all, the takeover is refused like any
// other, and if that planner wins the manifest race after the takeover,
// its commit's fence finds the record naming another job and publishes
// nothing.
//
// A failed commit (too many failed chunks or rejected records) sets the
// record to failed, and redrive back to running, both If-Match and only
// while it names the job: the state is for people and for Redrive's
// check, not for the fence, which only needs "names me" (and the
// generation, below).
//
// A redrive and a commit of the same job. A commit publishes what the
// job's markers said when it read them; a redrive changes what they say
// (it raises the redrive generation, which makes failed markers stale
// and their tasks run again, and for a second stage removes its index or
// plan and markers). Were both to go ahead, a commit could publish part
// of one set of files and, crashed, be finished by a commit that reads
// the changed markers and publishes another set over the same keys,
// leaving files the second does not name visible. So they exclude each
// other through this record, the one object both write conditionally:
//
//   - The redrive first takes hold of the job (holdForRedrive): an
//     If-Match write of the record naming the job, state running,
//     Redriving set to the redrive's token; refused when the record is
//     committing (or names another job, or is cancelled). Only then does
//     it make the queue forget the job, raise the generation and reset
//     the second stage. When it is done it writes the record again
//     (releaseRedrive): Redriving cleared, Generation set to the
//     generation it raised.
//   - The commit reads the record before it reads any marker
//     (commitGeneration): Redriving set refuses at once; otherwise it
//     remembers Generation, g. Its fence (an If-Match write, like the
//     hold) goes through only when the record, read just before it,
//     still has no Redriving and Generation g.
//
// The hold and the fence are If-Match writes on one record, so one of
// them comes first. Fence first: the record says committing, the hold is
// refused and the redrive has changed nothing; the commit (and whoever
// finishes it) publishes the markers as they were. Hold first: a fence
// before the release finds Redriving and refuses; a fence after it finds
// the released generation, which is g only when the commit's first read
// came after the release (the release is the only write that changes
// Generation, and Redriving is set from the hold to the release): the
// commit then read every marker after the redrive was done. Either way
// nothing is published from markers read across a redrive. Redrive also
// reads the record again after raising the generation, before it resets
// anything, and stops when it no longer holds the job: committing (which
// the hold makes impossible unless another redrive took the hold over
// and released it, and a commit fenced since), another redrive's hold,
// another job's output.
//
// A refused fence writes nothing, so a job whose commit was refused is as
// the redrive left it: its next commit (Wait, TryCommit, an idle worker)
// reads the markers again. A redrive that stops between its hold and its
// release (killed, or an error) leaves Redriving set: every commit of the
// job says so and publishes nothing, and `fanout redrive` run again takes
// the hold over and finishes. What is not fenced: two redrives of one job
// at the same moment, the later taking the hold from the earlier while
// the earlier still resets the second stage; run one redrive at a time.
//
// A cancelled job (cancel.go) has its record moved to cancelled by a write
// conditional like the fence's, so the cancel and the fence serialise:
// one wins. A cancelled owner never publishes (its fence refuses), and any
// other job takes the output from it without --rerun.
//
// A committed owner gives its output up only to a job with --overwrite
// (replace.go), and only once its commit is complete (_SUCCESS names it):
// the record then names the new job with Replaces, which a later
// takeover inherits (and which only a job with --overwrite may take).
//
// Outputs written before owner records existed have none: their committed
// job is the one _SUCCESS names, and such an output is refused to other
// jobs as before; a job planned before then claims the output at its
// fence (create-only) if nobody else did.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// ownerRetries bounds how often one claim or fence reads the owner record
// again after a conditional write lost to another writer. Each loss means
// the record changed; it changes a handful of times in a job's life.
const ownerRetries = 8

// Owner states reported by OutputOwnedError beside the record's own
// (manifest.OwnerRunning, OwnerFailed, OwnerCommitting).
const (
	// ownerPlanning: the owner has no manifest yet (being planned, or its
	// planning failed or was interrupted).
	ownerPlanning = "planning"
)

// OutputOwnedError refuses a job an output prefix that another job owns:
// at plan time before any work, or at commit time (AtCommit) when a
// --rerun took the output over while the job ran; nothing of Job is then
// published.
type OutputOwnedError struct {
	Output string // the output URL
	Job    string // the job refused
	Owner  string // the job that owns the output
	// State is the owner's: planning, running, failed, committing or
	// committed.
	State    string
	AtCommit bool
	// Replacing is the committed job whose output the owner replaces at
	// its commit (--overwrite): only a job with --overwrite takes over.
	Replacing string
}

func (e *OutputOwnedError) Error() string {
	if e.AtCommit {
		return fmt.Sprintf("output %s was taken over by job %s (%s): nothing of job %s was published", e.Output, e.Owner, e.State, e.Job)
	}
	hint := "choose another output prefix"
	switch {
	case e.Replacing != "":
		hint += fmt.Sprintf(", or run with --overwrite --rerun to take it over (it replaces job %s's committed output)", e.Replacing)
	case e.State == StateCommitted:
		hint += ", or run with --overwrite to replace its output when this job commits"
	case e.State != manifest.OwnerCommitting:
		hint += ", or run with --rerun to take it over (the owner's commit is then refused)"
	}
	return fmt.Sprintf("output %s is owned by job %s (%s): %s", e.Output, e.Owner, e.State, hint)
}

// readOwner reads the output's owner record and its ETag; ErrNotFound
// when there is none.
func readOwner(ctx context.Context, out objstore.Bucket, layout manifest.Layout) (*manifest.Owner, string, error) {
	rc, info, err := out.Get(ctx, layout.OwnerKey(), nil)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", layout.OwnerKey(), err)
	}
	o, err := manifest.DecodeOwner(body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", layout.OwnerKey(), err)
	}
	return o, info.ETag, nil
}

// writeOwner writes the owner record create-only (ifMatch "") or over the
// version with ETag ifMatch. A lost race is ErrPrecondition (or
// ErrNotFound for If-Match on a record that vanished).
func writeOwner(ctx context.Context, out objstore.Bucket, layout manifest.Layout, o *manifest.Owner, ifMatch string) error {
	o.Since = time.Now().UTC()
	return putOwner(ctx, out, layout, o, ifMatch)
}

// putOwner is writeOwner keeping o.Since: a write that changes nothing
// but the record's version (gc's fence, gcFence).
func putOwner(ctx context.Context, out objstore.Bucket, layout manifest.Layout, o *manifest.Owner, ifMatch string) error {
	o.Version = manifest.Version
	o.Token = randomHex(8)
	body, err := manifest.Encode(o)
	if err != nil {
		return err
	}
	opts := &objstore.PutOptions{IfNoneMatch: ifMatch == "", IfMatch: ifMatch, ContentType: "application/json", Size: int64(len(body))}
	if _, err := out.Put(ctx, layout.OwnerKey(), strings.NewReader(string(body)), opts); err != nil {
		return fmt.Errorf("writing %s: %w", layout.OwnerKey(), err)
	}
	return nil
}

// lostRace reports whether a conditional owner write failed because the
// record changed since it was read.
func lostRace(err error) bool {
	return errors.Is(err, objstore.ErrPrecondition) || errors.Is(err, objstore.ErrNotFound)
}

// specOf is the job ID spec would have without its nonce.
func specOf(spec manifest.JobSpec) string {
	spec.Nonce = ""
	return manifest.JobID(spec, "")
}

// claimOutput makes job the owner of its output prefix before it is
// planned (step 1 above), or refuses it with *OutputOwnedError.
func (e *Engine) claimOutput(ctx context.Context, out objstore.Bucket, layout manifest.Layout, spec manifest.JobSpec, job string) error {
	tookFrom := ""
	for range ownerRetries {
		cur, etag, err := readOwner(ctx, out, layout)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			replaces := ""
			if other, err := successJob(ctx, out, layout); err != nil {
				return err
			} else if other != "" && other != job {
				// Committed before owner records existed.
				if !spec.Overwrite || !manifest.ValidJobID(other) {
					return functions.Permanent(&OutputOwnedError{Output: spec.Output, Job: job, Owner: other, State: StateCommitted})
				}
				replaces = other
			}
			err := writeOwner(ctx, out, layout, &manifest.Owner{Job: job, Spec: specOf(spec), State: manifest.OwnerRunning, Replaces: replaces}, "")
			if lostRace(err) {
				continue // another job claimed it first: look at it
			}
			return err
		case err != nil:
			return fmt.Errorf("checking the output's owner: %w", err)
		case cur.Job == job:
			if cur.State == manifest.OwnerCancelled {
				// Cancelled is final: the same spec again is the same job.
				return functions.Permanent(fmt.Errorf("%w; run with --rerun to run it again as a new job",
					&JobCancelledError{Job: job, Reason: cur.Reason, At: cur.Since}))
			}
			if cur.State == manifest.OwnerFailed {
				// Its earlier plan failed (or its commit did): running again.
				unplanned, err := neverPlanned(ctx, out, layout, cur.Job)
				if err != nil {
					return err
				}
				if unplanned {
					next := *cur
					next.State, next.Reason = manifest.OwnerRunning, ""
					if err := writeOwner(ctx, out, layout, &next, etag); lostRace(err) {
						continue
					} else if err != nil {
						return err
					}
				}
			}
			return nil
		}
		state, err := ownerState(ctx, out, layout, cur)
		if err != nil {
			return err
		}
		refused := functions.Permanent(&OutputOwnedError{Output: spec.Output, Job: job, Owner: cur.Job, State: state})
		// A cancelled owner gave the output back.
		abandoned := state == StateCancelled
		if state == manifest.OwnerFailed {
			if abandoned, err = neverPlanned(ctx, out, layout, cur.Job); err != nil {
				return err
			}
		}
		// A job taking over from one that replaces a committed output
		// (--overwrite) inherits the replacing.
		replaces := cur.Replaces
		takeover := spec.Nonce != "" || abandoned
		switch {
		case state == StateCommitted && spec.Overwrite:
			// Replaced at this job's commit, once the owner's commit is
			// complete: its _SUCCESS is what this job's replaces.
			if done, err := successJob(ctx, out, layout); err != nil {
				return err
			} else if done != cur.Job {
				return functions.Permanent(&OutputOwnedError{Output: spec.Output, Job: job, Owner: cur.Job, State: manifest.OwnerCommitting})
			}
			replaces, takeover = cur.Job, true
		case state == StateCommitted || state == manifest.OwnerCommitting:
			return refused
		}
		if !takeover {
			return refused
		}
		if replaces != "" && !spec.Overwrite {
			return functions.Permanent(&OutputOwnedError{Output: spec.Output, Job: job, Owner: cur.Job, State: state, Replacing: replaces})
		}
		if tookFrom != "" && tookFrom != cur.Job {
			return refused // another --rerun took it over first
		}
		// Checked between the read of the record and the write on it (see
		// gcFence): a job cancelled, or whose leftovers gc removes, never
		// takes an output over.
		if err := cancelled(ctx, out, layout, job); err != nil {
			return fmt.Errorf("%w; run with --rerun to run it again as a new job", err)
		}
		if gone, err := exists(ctx, out, layout.RemovedKey(job)); err != nil {
			return fmt.Errorf("checking the output's owner: %w", err)
		} else if gone {
			return functions.Permanent(fmt.Errorf("job %s lost this output before, and `fanout gc` removed what it left; run it again with --rerun (a new job): %w", job, refused))
		}
		tookFrom = cur.Job
		err = writeOwner(ctx, out, layout, &manifest.Owner{Job: job, Spec: specOf(spec), State: manifest.OwnerRunning, Previous: cur.Job, Replaces: replaces}, etag)
		if lostRace(err) {
			continue // the owner changed its record (fenced?) or was taken over: look again
		}
		if err != nil {
			return err
		}
		e.log.Info("took the output over", "output", spec.Output, "job", job, "from", cur.Job, "state", state)
		return nil
	}
	return fmt.Errorf("claiming output %s: its owner record kept changing", spec.Output)
}

// ownerState names what the owner record's job is doing: committed (its
// commit record exists), committing, failed, planning (no manifest yet)
// or running.
// neverPlanned reports whether job has no manifest under the output.
func neverPlanned(ctx context.Context, out objstore.Bucket, layout manifest.Layout, job string) (bool, error) {
	_, err := out.Stat(ctx, layout.ManifestKey(job))
	if errors.Is(err, objstore.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking the output's owner: %w", err)
	}
	return false, nil
}

// releaseUnplanned sets the owner record of job, whose plan failed with
// cause, to failed when it still names job as running and job has no
// manifest: the output is then free for another job (see the top of this
// file). It runs on a context of its own (the plan's may be cancelled)
// and only logs what goes wrong: the plan's own error is what the caller
// reports.
func (e *Engine) releaseUnplanned(ctx context.Context, out objstore.Bucket, layout manifest.Layout, job string, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for range ownerRetries {
		cur, etag, err := readOwner(ctx, out, layout)
		if err != nil || cur.Job != job || cur.State != manifest.OwnerRunning {
			return
		}
		if unplanned, err := neverPlanned(ctx, out, layout, job); err != nil || !unplanned {
			return
		}
		next := *cur
		next.State, next.Reason = manifest.OwnerFailed, "planning failed: "+e.Redact(cause.Error())
		err = writeOwner(ctx, out, layout, &next, etag)
		if !lostRace(err) {
			if err != nil {
				e.log.Warn("giving the output back after a failed plan failed", "job", job, "err", err)
			}
			return
		}
	}
}

func ownerState(ctx context.Context, out objstore.Bucket, layout manifest.Layout, o *manifest.Owner) (string, error) {
	if _, err := out.Stat(ctx, layout.CommitKey(o.Job)); err == nil {
		return StateCommitted, nil
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return "", fmt.Errorf("checking the output's owner: %w", err)
	}
	if o.State != manifest.OwnerRunning {
		return o.State, nil
	}
	if _, err := out.Stat(ctx, layout.ManifestKey(o.Job)); errors.Is(err, objstore.ErrNotFound) {
		return ownerPlanning, nil
	} else if err != nil {
		return "", fmt.Errorf("checking the output's owner: %w", err)
	}
	return StateRunning, nil
}

// redriveUnderway is the error of a commit that found js's redrive
// holding the job (o.Redriving): it wraps errRedriven, so that the step
// is not done and the commit comes again.
func redriveUnderway(js *jobState, o *manifest.Owner) error {
	by := ""
	if o.RedrivingBy != "" {
		by = " (taken by " + o.RedrivingBy + ")"
	}
	return fmt.Errorf("%w: a redrive of job %s holds it since %s%s (under way, or interrupted: then run `fanout redrive` again); its commit publishes nothing until it is done",
		errRedriven, js.job, o.Since.Format(time.RFC3339), by)
}

// RedriveHold says that a redrive holds a job (see "A redrive and a
// commit" above): it took hold at Since and has not let go, because it
// is under way or because it was interrupted (killed) between its hold
// and its end. Until it lets go, the job's commits publish nothing; a
// redrive run again takes the hold over and finishes.
type RedriveHold struct {
	Since time.Time `json:"since"`
	// By names the process that took hold: its engine's WorkerName
	// (host:pid by default); empty for a hold taken before it was
	// recorded.
	By string `json:"by,omitempty"`
	// Hint says what to do.
	Hint string `json:"hint"`
}

// redriveHoldOf is the redrive hold the owner record o shows on job, or
// nil when there is none.
func redriveHoldOf(job string, o *manifest.Owner) *RedriveHold {
	if o == nil || o.Job != job || o.Redriving == "" || o.State != manifest.OwnerRunning {
		return nil
	}
	return &RedriveHold{Since: o.Since, By: o.RedrivingBy, Hint: fmt.Sprintf("a redrive took hold of job %s and has not let go: "+
		"it is under way, or it was interrupted (killed); until it lets go, the job's commits publish nothing. "+
		"If no redrive of the job is running, run `fanout redrive %s` again to finish it", job, job)}
}

// commitGeneration reads the owner record of js's output before the
// commit reads any marker (see "A redrive and a commit" above) and
// returns the generation its fence must find. A redrive under way is
// redriveUnderway. A record that names another job, or none, is 0: the
// fence decides about those.
func (e *Engine) commitGeneration(ctx context.Context, js *jobState) (int64, error) {
	cur, _, err := readOwner(ctx, js.out, js.layout)
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("checking the output's owner: %w", err)
	case cur.Job != js.job:
		return 0, nil
	case cur.Redriving != "":
		return 0, redriveUnderway(js, cur)
	}
	return cur.Generation, nil
}

// fenceOutput makes js's job the committing owner of its output (step 2
// above) and returns the owner record; Commit publishes nothing before it
// returns. gen is the generation commitGeneration returned before the
// commit read the markers: a record with another one, or a redrive under
// way, refuses the fence with errRedriven (wrapped), writing nothing. A
// job that no longer owns its output gets *OutputOwnedError (permanent),
// a cancelled one *JobCancelledError.
func (e *Engine) fenceOutput(ctx context.Context, js *jobState, gen int64) (*manifest.Owner, error) {
	for range ownerRetries {
		cur, etag, err := readOwner(ctx, js.out, js.layout)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			// A job planned before owner records existed.
			if other, err := successJob(ctx, js.out, js.layout); err != nil {
				return nil, err
			} else if other != "" && other != js.job {
				return nil, functions.Permanent(&OutputOwnedError{Output: js.m.Spec.Output, Job: js.job, Owner: other, State: StateCommitted, AtCommit: true})
			}
			if gen != 0 {
				return nil, fmt.Errorf("%w: the output's owner record of job %s is gone since its commit read it", errRedriven, js.job)
			}
			o := &manifest.Owner{Job: js.job, Spec: specOf(js.m.Spec), State: manifest.OwnerCommitting}
			err := writeOwner(ctx, js.out, js.layout, o, "")
			if lostRace(err) {
				continue
			}
			return o, err
		case err != nil:
			return nil, fmt.Errorf("checking the output's owner: %w", err)
		case cur.Job != js.job:
			state, err := ownerState(ctx, js.out, js.layout, cur)
			if err != nil {
				return nil, err
			}
			return nil, functions.Permanent(&OutputOwnedError{Output: js.m.Spec.Output, Job: js.job, Owner: cur.Job, State: state, AtCommit: true})
		case cur.Redriving != "":
			return nil, redriveUnderway(js, cur)
		case cur.Generation != gen:
			// Redriven since the commit read the owner record: the
			// markers it read may be stale (a committing record's
			// generation never changes: no redrive holds it).
			return nil, fmt.Errorf("%w: job %s was redriven (generation %d, the commit read its markers under %d): it reads them again",
				errRedriven, js.job, cur.Generation, gen)
		case cur.State == manifest.OwnerCommitting:
			return cur, nil // fenced by this or another committer of the job
		case cur.State == manifest.OwnerCancelled:
			// Cancelled before this fence: nothing is published.
			return nil, functions.Permanent(&JobCancelledError{Job: js.job, Reason: cur.Reason, At: cur.Since})
		}
		next := *cur
		next.State, next.Reason = manifest.OwnerCommitting, ""
		if err := writeOwner(ctx, js.out, js.layout, &next, etag); !lostRace(err) {
			return &next, err
		}
	}
	return nil, fmt.Errorf("fencing output %s: its owner record kept changing", js.m.Spec.Output)
}

// ownerFailed sets the owner record of js's output from running to
// failed with reason, for a commit that found too many failed chunks or
// rejected records after reading the record's generation gen
// (commitGeneration): only while the record names the job, no redrive
// holds it and its generation is still gen. A commit that read the
// markers before a redrive does not mark the redriven job failed: it gets
// errRedriven (wrapped) instead, and its failure is stale.
func (e *Engine) ownerFailed(ctx context.Context, js *jobState, gen int64, reason string) error {
	for range ownerRetries {
		cur, etag, err := readOwner(ctx, js.out, js.layout)
		switch {
		case errors.Is(err, objstore.ErrNotFound):
			return nil
		case err != nil:
			return err
		case cur.Job != js.job:
			return nil
		case cur.Redriving != "":
			return redriveUnderway(js, cur)
		case cur.Generation != gen:
			return fmt.Errorf("%w: job %s was redriven (generation %d, the commit read its markers under %d): its failure is stale",
				errRedriven, js.job, cur.Generation, gen)
		case cur.State != manifest.OwnerRunning:
			return nil
		}
		next := *cur
		next.State, next.Reason = manifest.OwnerFailed, reason
		if err := writeOwner(ctx, js.out, js.layout, &next, etag); !lostRace(err) {
			return err
		}
	}
	return fmt.Errorf("output %s: its owner record kept changing", js.m.Spec.Output)
}
