package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// Job states an Overview reports beside StateRunning, StateCommitted and
// StateFailed.
const (
	// StateQueued: the job has tasks waiting and none running.
	StateQueued = "queued"
	// StateCommitting: every task has settled and the commit is due or
	// under way.
	StateCommitting = "committing"
)

// overviewListed bounds the running tasks and dead letters an Overview
// carries.
const overviewListed = 50

// Overview is a look at one job for dashboards: its plan, the queue's
// counts, its running tasks and recent task times, its dead letters and,
// once it has committed, its commit record. It is built from the queue's
// counters, the manifest (cached) and a few reads of single objects, never
// from a listing of the job's markers, so that looking at a job of 100,000
// chunks costs what looking at one of ten does.
type Overview struct {
	Job      string `json:"job"`
	State    string `json:"state"`
	Output   string `json:"output"`
	Function string `json:"function"`
	// Planned is when the manifest was written.
	Planned time.Time `json:"planned"`
	// Tasks counts map chunks and reduce tasks; MapChunks of them are map
	// chunks.
	Tasks     int   `json:"tasks"`
	MapChunks int   `json:"map_chunks"`
	Objects   int64 `json:"objects"`
	Bytes     int64 `json:"bytes"`
	// Done counts the tasks that settled with output (as progress lines
	// count them); Queue is the queue's counts.
	Done  int        `json:"done"`
	Queue QueueStats `json:"queue"`
	// Running lists the leased tasks, longest running first (at most 50);
	// Recent how long the most recently finished tasks ran.
	Running []RunningTask   `json:"running,omitempty"`
	Recent  []time.Duration `json:"recent_ns,omitempty"`
	// BackupAfter is the job's straggler factor (0: no backups).
	BackupAfter float64 `json:"backup_after,omitempty"`
	// DeadLetters lists dead-lettered tasks with their reasons (at most
	// 50, reasons redacted); Queue.Dead counts them all.
	DeadLetters []DeadLetter `json:"dead_letters,omitempty"`
	// Failure is why the job failed (StateFailed), redacted.
	Failure string `json:"failure,omitempty"`
	// RedriveHold, when set, says that a redrive holds the job: under
	// way, or killed before it let go, and the job's commits publish
	// nothing until it is done. It is looked for once the queue runs
	// none of the job's tasks (when the commit is due, or the queue
	// forgot the job), with the owner record read then anyway.
	RedriveHold *RedriveHold `json:"redrive_hold,omitempty"`
	// RequestsFloor is the plan's floor on the job's S3 requests
	// (PlanInfo.RequestsEstimate); the commit record counts them.
	RequestsFloor int64 `json:"s3_requests_floor"`
	// Commit is the job's commit record once it committed (failure
	// reasons redacted).
	Commit *manifest.CommitRecord `json:"commit,omitempty"`
}

// Final reports whether the overview can no longer change (a committed
// or cancelled job).
func (o Overview) Final() bool { return o.State == StateCommitted || o.State == StateCancelled }

// Overview looks at a job the queue holds (spec from QueueAdmin.Jobs).
func (e *Engine) Overview(ctx context.Context, spec JobQueueSpec) (Overview, error) {
	js, err := e.loadJob(ctx, spec.Job, spec.Manifest)
	if err != nil {
		return Overview{Job: spec.Job}, err
	}
	return e.overview(ctx, js, true)
}

// OverviewAt looks at a job by its output URL, whether or not the queue
// still holds it.
func (e *Engine) OverviewAt(ctx context.Context, outURL, job string) (Overview, error) {
	js, err := e.openJob(ctx, outURL, job)
	if err != nil {
		return Overview{Job: job}, err
	}
	return e.overview(ctx, js, false)
}

// OutputOwner returns the job that owns an output prefix (its owner
// record); ErrUnknownJob when the prefix has none.
func (e *Engine) OutputOwner(ctx context.Context, outURL string) (string, error) {
	out, _, layout, err := e.output(ctx, outURL)
	if err != nil {
		return "", err
	}
	o, _, err := readOwner(ctx, out, layout)
	if errors.Is(err, objstore.ErrNotFound) {
		return "", fmt.Errorf("%w: %s has no owner record", ErrUnknownJob, outURL)
	}
	if err != nil {
		return "", err
	}
	return o.Job, nil
}

// OutputsUnder returns the URLs of the last n (in key order) directories
// right under baseURL, such as the outputs a trigger gives each batch
// under its --out (<base>/<batch>/, named by time): a listing with the
// delimiter "/" (objstore.ListDirs), its memory bounded by n. The
// base's own _fanout/ directory is left out. baseURL must end in "/".
func (e *Engine) OutputsUnder(ctx context.Context, baseURL string, n int) ([]string, error) {
	if !strings.HasSuffix(baseURL, "/") {
		return nil, fmt.Errorf("outputs under %q: the URL does not end in /", baseURL)
	}
	b, loc, layout, err := e.output(ctx, baseURL)
	if err != nil {
		return nil, err
	}
	var last []string
	for dir, err := range objstore.ListDirs(ctx, b, loc.Prefix) {
		if err != nil {
			return nil, fmt.Errorf("outputs under %s: %w", baseURL, err)
		}
		if dir == layout.FanoutPrefix() || n <= 0 {
			continue
		}
		if len(last) == n {
			last = append(last[:0], last[1:]...)
		}
		last = append(last, loc.StoreURL()+"/"+dir)
	}
	return last, nil
}

func (e *Engine) overview(ctx context.Context, js *jobState, queued bool) (Overview, error) {
	m := js.m
	o := Overview{Job: js.job, State: StateRunning, Output: m.Spec.Output, Function: m.Spec.Function, Planned: m.Created,
		Tasks: m.Chunks + m.Reducers, MapChunks: m.Chunks, Objects: m.Objects, Bytes: m.Bytes, BackupAfter: m.Spec.BackupAfter,
		RequestsFloor: PlanInfo{Manifest: m}.RequestsEstimate()}
	stats, err := e.cfg.Admin.Stats(ctx, js.job)
	switch {
	case errors.Is(err, ErrUnknownJob):
		queued = false
	case err != nil:
		return o, err
	default:
		o.Queue = stats
		o.Done = js.progress(stats, 0).Done
	}
	settled := queued && o.Queue.Pending == 0 && o.Queue.Running == 0
	if !queued || settled {
		// Only a job the queue no longer runs can have committed; a GET
		// that finds nothing is cheap, but not worth making per running
		// job per refresh.
		rec, err := e.readCommit(ctx, js)
		switch {
		case err == nil:
			e.redactCommit(rec)
			o.State, o.Commit, o.Done = StateCommitted, rec, o.Tasks-len(rec.Failed)
			o.Queue = QueueStats{Done: o.Done, Dead: len(rec.Failed)}
			return o, nil
		case !errors.Is(err, objstore.ErrNotFound):
			return o, err
		}
	}
	if queued {
		a, err := e.cfg.Admin.Activity(ctx, js.job)
		if err != nil && !errors.Is(err, ErrUnknownJob) {
			return o, err
		}
		o.Running, o.Recent = a.Running[:min(len(a.Running), overviewListed)], a.Recent
		if o.Queue.Running == 0 && o.Queue.Pending > 0 {
			o.State = StateQueued
		}
	}
	if o.Queue.Dead > 0 {
		var dead []DeadLetter
		var err error
		if p, ok := e.cfg.Admin.(DeadLetterPeeker); ok {
			dead, err = p.PeekDeadLetters(ctx, js.job, overviewListed)
		} else {
			dead, err = e.cfg.Admin.DeadLetters(ctx, js.job)
		}
		if err != nil && !errors.Is(err, ErrUnknownJob) {
			return o, err
		}
		for _, d := range dead[:min(len(dead), overviewListed)] {
			d.Reason = e.Redact(d.Reason)
			o.DeadLetters = append(o.DeadLetters, d)
		}
	}
	if !queued {
		// The queue dropped it: committed (above), cancelled, or
		// forgotten by a Redis that lost its data.
		var jc *JobCancelledError
		if err := cancelled(ctx, js.out, js.layout, js.job); errors.As(err, &jc) {
			o.State, o.Failure = StateCancelled, e.Redact(jc.Error())
			return o, nil
		} else if err != nil {
			return o, err
		}
	}
	if settled || !queued {
		if settled {
			o.State = StateCommitting
		}
		owner, _, err := readOwner(ctx, js.out, js.layout)
		switch {
		case err == nil && owner.Job == js.job && owner.State == manifest.OwnerFailed:
			o.State, o.Failure = StateFailed, e.Redact(owner.Reason)
		case err == nil:
			// Held by a redrive, the job does not commit: running, as
			// Status says, until the redrive lets go.
			if o.RedriveHold = redriveHoldOf(js.job, owner); o.RedriveHold != nil {
				o.State = StateRunning
			}
		case !errors.Is(err, objstore.ErrNotFound):
			return o, err
		}
	}
	return o, nil
}

// redactCommit redacts the failure reasons of a commit record.
func (e *Engine) redactCommit(rec *manifest.CommitRecord) {
	for i := range rec.Failed {
		rec.Failed[i].Reason = e.Redact(rec.Failed[i].Reason)
	}
}

// MarkerSample sums a few of a job's chunk markers, to estimate what the
// queue does not count while the job runs: records, and Lambda time.
type MarkerSample struct {
	// Markers is how many done markers were read.
	Markers    int   `json:"markers"`
	RecordsIn  int64 `json:"records_in"`
	RecordsOut int64 `json:"records_out"`
	BytesIn    int64 `json:"bytes_in"`
	// LambdaGBSeconds sums the sampled attempts that ran on Lambda
	// (chunk time times memory, as the commit record counts it).
	LambdaGBSeconds float64 `json:"lambda_gb_seconds"`
	// Rejected sums the records the sampled chunks rejected, per rule and
	// per column.
	Rejected         int64            `json:"rejected,omitempty"`
	RejectedByRule   map[string]int64 `json:"rejected_by_rule,omitempty"`
	RejectedByColumn map[string]int64 `json:"rejected_by_column,omitempty"`
}

// SampleMarkers reads at most n of the job's done map-chunk markers: the
// first ones of one listing page, so that it costs the same whatever the
// job's size (a LIST and n GETs).
func (e *Engine) SampleMarkers(ctx context.Context, outURL, job string, n int) (MarkerSample, error) {
	var s MarkerSample
	js := e.jobs.get(job)
	if js == nil {
		var err error
		if js, err = e.openJob(ctx, outURL, job); err != nil {
			return s, err
		}
	}
	var keys []string
	for info, err := range js.out.List(ctx, js.layout.MarkerPrefix(job), &objstore.ListOptions{PageSize: n}) {
		if err != nil {
			return s, fmt.Errorf("sampling markers: %w", err)
		}
		if _, ok := js.layout.ChunkFromMarkerKey(job, info.Key); ok {
			keys = append(keys, info.Key)
		}
		if len(keys) == n {
			break
		}
	}
	for _, key := range keys {
		body, err := readAll(ctx, js.out, key, 1<<20)
		if errors.Is(err, objstore.ErrNotFound) {
			continue // removed by a redrive meanwhile
		} else if err != nil {
			return s, fmt.Errorf("sampling markers: %w", err)
		}
		m, err := manifest.DecodeMarker(body)
		if err != nil || m.State != manifest.MarkerDone {
			continue
		}
		s.Markers++
		s.RecordsIn += m.RecordsIn
		s.RecordsOut += m.RecordsOut
		s.BytesIn += m.BytesIn
		if m.MemoryMB > 0 {
			s.LambdaGBSeconds += m.Finished.Sub(m.Started).Seconds() * float64(m.MemoryMB) / 1024
		}
		s.Rejected += m.Rejected
		s.RejectedByRule = addCounts(s.RejectedByRule, m.RejectedByRule)
		s.RejectedByColumn = addCounts(s.RejectedByColumn, m.RejectedByColumn)
	}
	return s, nil
}

// addCounts adds b's counts to a (made when needed) and returns it.
func addCounts(a, b map[string]int64) map[string]int64 {
	for k, v := range b {
		if a == nil {
			a = map[string]int64{}
		}
		a[k] += v
	}
	return a
}
