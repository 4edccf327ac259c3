package fanout

// Garbage collection of an output prefix (fanout gc).
//
// A job that failed, was interrupted, or lost its output to a --rerun
// leaves its bookkeeping under <out>/_fanout/<job>/ (manifest, markers,
// staged files, shuffle index) and, on S3 stores, open multipart uploads
// of final keys (part-<job>-...). None of it is visible to a reader of the
// output (staged names end in .staged, uploads are invisible), but it
// costs storage. GC removes it while another job may run on the same
// output, so it decides from the owner record (owner.go) what may go:
//
//   - The owner job is never touched while it is planning, running,
//     failed (fanout redrive needs its markers and staged files) or
//     committing: its staged files and open uploads are what its commit
//     publishes. A cancelled owner can never commit: all of it goes but
//     its _CANCELLED record. Once it has committed, only its staging root,
//     its open uploads and the file lists (commit/<token>/) its commit
//     record does not name go (losers' garbage a crashed committer left),
//     under the job's commit lease so that no committer runs meanwhile;
//     its manifest, markers, commit record and the file lists it names
//     stay (status and verification read them).
//   - A job the owner record does not name lost the output (a --rerun took
//     it over) or was refused it: it cannot publish (its commit's fence
//     fails), so all of it goes (but a _CANCELLED record and gc's
//     tombstone) unless it takes the output back while gc runs (its
//     command run again, when the owner was cancelled: any job may take a
//     cancelled output). gcFence settles that race before anything goes:
//     either the job took the output first (it is kept) or it never will.
//   - Without an owner record (outputs written before owner records
//     existed) a job's state is unknown, since any job may still claim the
//     output at its fence: a job without a commit record goes only when
//     nothing of it was written for GCOptions.OlderThan; a committed one
//     loses only its staging root, open uploads and unnamed file lists.
//
// A job's prefix is removed in key order, so its markers (chunks/) go
// before its staged files: a removal that stops half way never leaves a
// marker whose files are gone. Workers of a removed job that still run
// may write again; their writes are garbage a later gc removes.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// DefaultGCOlderThan is GCOptions.OlderThan's default.
const DefaultGCOlderThan = 24 * time.Hour

// GCOptions are the settings of one GC.
type GCOptions struct {
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
	// Job, when set, restricts GC to that job.
	Job string
	// OlderThan is how long a job whose state is unknown (the output has
	// no owner record) must have written nothing before it is removed;
	// zero means DefaultGCOlderThan.
	OlderThan time.Duration
}

// GC actions of a GCJob.
const (
	GCRemoved     = "removed"
	GCWouldRemove = "would remove"
	GCKept        = "kept"
)

// GCJob is what GC found and did for one job of the output.
type GCJob struct {
	Job string `json:"job"`
	// Action is GCRemoved, GCWouldRemove (DryRun) or GCKept.
	Action string `json:"action"`
	// Why says what the job is and so why it was removed or kept.
	Why string `json:"why"`
	// Prefix is the key prefix removed (the job's, or its staging root).
	Prefix string `json:"prefix,omitempty"`
	// Objects and Uploads count the objects under Prefix and the job's
	// open uploads removed (or that would be).
	Objects int `json:"objects"`
	Uploads int `json:"uploads"`
}

// GCInfo is what GC found and did.
type GCInfo struct {
	Output string `json:"output"`
	// Owner and OwnerState name the output's owner job and its state
	// (empty without an owner record).
	Owner      string  `json:"owner,omitempty"`
	OwnerState string  `json:"owner_state,omitempty"`
	DryRun     bool    `json:"dry_run"`
	Jobs       []GCJob `json:"jobs"`
	Objects    int     `json:"objects"`
	Uploads    int     `json:"uploads"`
}

// GC removes the leftovers of failed, interrupted and abandoned jobs under
// the output outURL (see the comment at the top of gc.go for what goes and
// what stays). Objects or uploads it could not remove make it return an
// error together with what it did.
func (e *Engine) GC(ctx context.Context, outURL string, opts GCOptions) (GCInfo, error) {
	info := GCInfo{Output: outURL, DryRun: opts.DryRun, Jobs: []GCJob{}}
	if opts.OlderThan <= 0 {
		opts.OlderThan = DefaultGCOlderThan
	}
	if opts.Job != "" && !manifest.ValidJobID(opts.Job) {
		return info, fmt.Errorf("gc: %q is not a job ID", opts.Job)
	}
	out, _, layout, err := e.output(ctx, outURL)
	if err != nil {
		return info, err
	}
	jobs := []string{opts.Job}
	if opts.Job == "" {
		if jobs, err = listJobs(ctx, out, layout); err != nil {
			return info, fmt.Errorf("gc: %w", err)
		}
	}
	// The owner is read after the listing: a job claims the output before
	// it writes anything, so a listed job that the record does not name
	// had lost the output (or never held it) before this read.
	owner, _, err := readOwner(ctx, out, layout)
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		owner = nil
	case err != nil:
		return info, fmt.Errorf("gc: %w", err)
	default:
		info.Owner = owner.Job
		if info.OwnerState, err = ownerState(ctx, out, layout, owner); err != nil {
			return info, fmt.Errorf("gc: %w", err)
		}
	}
	uploads, err := openUploads(ctx, out, layout)
	if err != nil {
		return info, fmt.Errorf("gc: %w", err)
	}
	if opts.Job == "" {
		for job := range uploads {
			if !slices.Contains(jobs, job) {
				jobs = append(jobs, job) // uploads left, its prefix gone
			}
		}
		slices.Sort(jobs)
	}
	var errs []error
	for _, job := range jobs {
		j, err := e.gcJob(ctx, gcTarget{out: out, layout: layout, job: job, owner: owner, ownerState: info.OwnerState,
			uploads: uploads[job]}, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("gc: job %s: %w", job, err))
		}
		if j.Action == "" {
			continue // nothing of the job here
		}
		info.Jobs = append(info.Jobs, j)
		if j.Action != GCKept {
			info.Objects += j.Objects
			info.Uploads += j.Uploads
		}
	}
	return info, errors.Join(errs...)
}

// gcTarget is one job GC looks at, with what it read of the output.
type gcTarget struct {
	out        objstore.Bucket
	layout     manifest.Layout
	job        string
	owner      *manifest.Owner // nil: no owner record
	ownerState string
	uploads    []objstore.Upload // the job's open uploads
}

// gcJob decides about one job and removes what may go.
func (e *Engine) gcJob(ctx context.Context, t gcTarget, opts GCOptions) (GCJob, error) {
	j := GCJob{Job: t.job}
	committed, err := exists(ctx, t.out, t.layout.CommitKey(t.job))
	if err != nil {
		return j, err
	}
	jobPrefix := t.layout.JobPrefix(t.job)
	owns := t.owner != nil && t.owner.Job == t.job
	// A removed job keeps its _CANCELLED record (status and a resubmitted
	// spec read why it stopped) and gc's tombstone (gcFence).
	keep := func(key string) bool { return key == t.layout.CancelKey(t.job) || key == t.layout.RemovedKey(t.job) }
	switch {
	case owns && t.ownerState != StateCommitted && t.ownerState != StateCancelled:
		j.Action, j.Why = GCKept, "owns the output ("+t.ownerState+")"
		if t.ownerState == manifest.OwnerFailed {
			unplanned, err := neverPlanned(ctx, t.out, t.layout, t.job)
			if err != nil {
				return j, err
			}
			if unplanned {
				j.Why += ": its planning failed; the same command plans it again, and any other job takes the output over, which makes this removable"
			} else {
				j.Why += ": fanout redrive needs what it left; a --rerun that takes the output over makes it removable"
			}
		}
		if n, _, err := countListed(t.out.List(ctx, jobPrefix, nil)); err != nil || n == 0 && len(t.uploads) == 0 {
			j.Action = "" // nothing here
			return j, err
		}
		return j, nil
	case committed:
		j.Why, j.Prefix = "committed: its staging, open uploads and file lists its commit record does not name are a crashed committer's leftovers", t.layout.StagingRoot(t.job)
	case owns:
		j.Why, j.Prefix = "cancelled: it can never commit", jobPrefix
	case t.owner != nil:
		j.Why, j.Prefix = "lost the output to job "+t.owner.Job+": it can never commit", jobPrefix
	default:
		j.Why, j.Prefix = "no owner record: state unknown, nothing written for "+opts.OlderThan.String(), jobPrefix
	}
	// A committed job's file lists that its record does not name (a
	// losing or crashed committer's) go too; the record's stay.
	var rec *manifest.CommitRecord
	if committed {
		body, err := readAll(ctx, t.out, t.layout.CommitKey(t.job), 1<<30)
		if err != nil {
			return j, fmt.Errorf("reading the commit record: %w", err)
		}
		if rec, err = manifest.DecodeCommit(body); err != nil {
			return j, err
		}
	}
	removable := func(yield func(objstore.ObjectInfo, error) bool) {
		for info, err := range t.out.List(ctx, j.Prefix, nil) {
			if err == nil && keep(info.Key) {
				continue
			}
			if !yield(info, err) {
				return
			}
		}
		if rec == nil {
			return
		}
		for info, err := range unreferencedParts(ctx, t.out, t.layout, rec) {
			if !yield(info, err) {
				return
			}
		}
	}
	n, newest, err := countListed(removable)
	if err != nil {
		return j, err
	}
	if n == 0 && len(t.uploads) == 0 {
		return j, nil // nothing to remove
	}
	j.Objects, j.Uploads = n, len(t.uploads)
	if t.owner == nil && !committed {
		for _, u := range t.uploads {
			newest = later(newest, u.Initiated)
		}
		if age := time.Since(newest); age < opts.OlderThan {
			j.Action = GCKept
			j.Why = fmt.Sprintf("no owner record: state unknown, last write %s ago (--older-than %s)", age.Round(time.Second), opts.OlderThan)
			return j, nil
		}
	}
	if opts.DryRun {
		j.Action = GCWouldRemove
		return j, nil
	}
	switch {
	case committed:
		// A committer of the job may be running (removing the staging
		// root itself): take the commit lease so that none starts.
		release, ok, err := e.leaseCommit(ctx, t.job)
		if err != nil {
			return j, err
		}
		defer release()
		if !ok {
			j.Action, j.Why = GCKept, "committed, and a committer holds its commit lease: try again later"
			return j, nil
		}
	case t.owner != nil && !owns:
		// The record must still name another job, and go on doing so.
		if took, err := gcFence(ctx, t); err != nil {
			return j, err
		} else if took {
			j.Action, j.Why = GCKept, "took the output back while gc ran"
			return j, nil
		}
	}
	j.Action = GCRemoved
	if j.Objects, err = objstore.DeleteListed(ctx, t.out, removable); err != nil {
		return j, err
	}
	// Listed again: uploads started since the first listing go too.
	j.Uploads, err = AbortJobUploads(ctx, t.out, t.layout, t.job)
	return j, err
}

// gcFence makes removing the leftovers of t.job, which lost the output,
// safe against t.job taking it back meanwhile (claimOutput: from a
// cancelled owner, or with a --rerun's spec), and reports whether it took
// it back before. It creates t.job's tombstone (manifest.Layout.RemovedKey),
// which a takeover checks between its read of the owner record and its
// write on it, and then writes the record again, unchanged, If-Match on a
// read that named another job. The store orders that write and a
// takeover's (If-Match too): if the takeover's comes first, the record
// names t.job (took: the tombstone goes again); if gc's does, the
// takeover's fails, and its next read finds the tombstone and refuses.
// Either way no takeover by t.job succeeds once gc has fenced, however
// long the removal takes; without the fence, a takeover between gc's
// last look at the record and its removal lost the new owner its
// manifest, markers and uploads.
func gcFence(ctx context.Context, t gcTarget) (took bool, err error) {
	body, err := manifest.Encode(&manifest.RemovedRecord{Version: manifest.Version, Job: t.job, Removed: time.Now().UTC(), Owner: t.owner.Job})
	if err != nil {
		return false, err
	}
	key := t.layout.RemovedKey(t.job)
	_, err = t.out.Put(ctx, key, strings.NewReader(string(body)),
		&objstore.PutOptions{IfNoneMatch: true, ContentType: "application/json", Size: int64(len(body))})
	if err != nil && !errors.Is(err, objstore.ErrPrecondition) {
		return false, fmt.Errorf("writing %s: %w", key, err)
	}
	for range ownerRetries {
		cur, etag, err := readOwner(ctx, t.out, t.layout)
		if err != nil {
			return false, err
		}
		if cur.Job == t.job {
			if err := t.out.Delete(ctx, key); err != nil {
				return true, fmt.Errorf("removing %s: %w", key, err)
			}
			return true, nil
		}
		if err := putOwner(ctx, t.out, t.layout, cur, etag); !lostRace(err) {
			return false, err
		}
	}
	return false, fmt.Errorf("fencing the removal of job %s: the output's owner record kept changing", t.job)
}

// listJobs returns the job IDs that have keys under the output's
// _fanout/, one listing request per job: after a job's first key the
// listing starts again past every key of that job.
func listJobs(ctx context.Context, out objstore.Bucket, layout manifest.Layout) ([]string, error) {
	prefix := layout.FanoutPrefix()
	var jobs []string
	after := ""
	for {
		var key string
		for info, err := range out.List(ctx, prefix, &objstore.ListOptions{StartAfter: after, PageSize: 1}) {
			if err != nil {
				return nil, fmt.Errorf("listing %s: %w", prefix, err)
			}
			key = info.Key
			break
		}
		if key == "" {
			return jobs, nil
		}
		name, _, dir := strings.Cut(strings.TrimPrefix(key, prefix), "/")
		if !dir {
			after = key // OWNER, a probe
			continue
		}
		if manifest.ValidJobID(name) {
			jobs = append(jobs, name)
		}
		after = prefix + name + "0" // '0' follows '/': past every key under name/
	}
}

// openUploads returns the open uploads under the output, by the job whose
// final file (part-<job>-...) each would become; nil when the store has
// no uploads.
func openUploads(ctx context.Context, out objstore.Bucket, layout manifest.Layout) (map[string][]objstore.Upload, error) {
	up, ok := out.(objstore.Uploader)
	if !ok {
		return nil, nil
	}
	byJob := map[string][]objstore.Upload{}
	for u, err := range up.ListUploads(ctx, layout.Prefix) {
		if err != nil {
			return nil, fmt.Errorf("listing open uploads: %w", err)
		}
		rest, ok := strings.CutPrefix(path.Base(u.Key), "part-")
		if !ok {
			continue
		}
		if job, _, ok := strings.Cut(rest, "-"); ok && manifest.ValidJobID(job) {
			byJob[job] = append(byJob[job], u)
		}
	}
	return byJob, nil
}

// countListed counts the objects of a listing and returns the newest
// modification time among them.
func countListed(listing iter.Seq2[objstore.ObjectInfo, error]) (int, time.Time, error) {
	n, newest := 0, time.Time{}
	for info, err := range listing {
		if err != nil {
			return 0, newest, fmt.Errorf("listing: %w", err)
		}
		n++
		newest = later(newest, info.ModTime)
	}
	return n, newest, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// exists reports whether key exists.
func exists(ctx context.Context, out objstore.Bucket, key string) (bool, error) {
	_, err := out.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, objstore.ErrNotFound):
		return false, nil
	}
	return false, err
}
