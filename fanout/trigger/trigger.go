package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// DefaultMaxObjects bounds the objects of one triggered job when
// Config.MaxObjects is zero.
const DefaultMaxObjects = 1000

// parallelism bounds the concurrent store calls of one Process call.
const parallelism = 16

// Submitter plans a job and enqueues its chunks; fanout.Engine is one.
type Submitter interface {
	Submit(ctx context.Context, spec manifest.JobSpec) (fanout.PlanInfo, error)
}

// Config wires a Trigger. Template, Open and Submitter are required.
type Config struct {
	// Template fixes everything about the triggered jobs but their inputs;
	// Template.Spec.Output is the output base.
	Template Template
	// Inputs, when set, restrict which objects trigger (see NewFilter).
	Inputs []string
	// Open opens a store by URL (s3://bucket) for the claims and for
	// checking that an event's object is still current.
	Open fanout.OpenFunc
	// Submitter submits the jobs.
	Submitter Submitter
	// MaxObjects bounds the objects of one job (DefaultMaxObjects when 0);
	// a larger batch becomes several jobs.
	MaxObjects int
	// TrustEvents skips the check that an event's object still exists
	// with the event's ETag. Without the check, a job may read a newer
	// version of an object than its event announced (the newer version's
	// own event then starts a second job over it).
	TrustEvents bool
	// Logger receives what was left out and why; nil discards.
	Logger *slog.Logger
}

// Trigger turns object events into jobs, at most one per object version.
//
// The bucket holds the truth here too. Under the output base, in
// _fanout/trigger/, Process keeps:
//
//	batches/<batch>.json  the batch record: its objects (written first)
//	objects/<digest>.json the claim of one object version (bucket, key,
//	                      ETag or version): created once, If-None-Match: *,
//	                      naming the batch that owns it
//	jobs/<batch>.json     the job the batch was submitted as
//
// A batch owns the objects whose claim names it; its job reads exactly
// those, under its own output prefix <base>/<batch>/, with the batch ID as
// the spec's nonce. Any caller that holds a batch record can complete it
// (claim what is unclaimed, read who owns the rest, submit): every step is
// idempotent and gives every caller the same answer, so a duplicate event,
// a retried invocation or a batch cut differently by another window ends
// in the one job that owns the object.
type Trigger struct {
	cfg    Config
	filter *Filter
	out    objstore.Location
	prefix string // bookkeeping prefix in the output store
	log    *slog.Logger
	stores sync.Map // store URL -> objstore.Bucket
}

// New validates cfg and returns a Trigger.
func New(cfg Config) (*Trigger, error) {
	switch {
	case cfg.Open == nil:
		return nil, errors.New("trigger: Config.Open is required")
	case cfg.Submitter == nil:
		return nil, errors.New("trigger: Config.Submitter is required")
	}
	if err := cfg.Template.Validate(); err != nil {
		return nil, fmt.Errorf("trigger: Config.Template: %w", err)
	}
	if cfg.MaxObjects <= 0 {
		cfg.MaxObjects = DefaultMaxObjects
	}
	filter, err := NewFilter(cfg.Template.Spec.Output, cfg.Inputs)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Trigger{cfg: cfg, filter: filter, out: filter.out, prefix: filter.out.Prefix + "_fanout/trigger/", log: log}, nil
}

// Check returns "" when the event may start a job and the reason it may
// not otherwise (see Filter.Check).
func (t *Trigger) Check(ev ObjectEvent) string { return t.filter.Check(ev) }

// JobInfo describes one job that Process submitted or found.
type JobInfo struct {
	Batch   string `json:"batch"`
	Job     string `json:"job,omitempty"`
	Output  string `json:"output,omitempty"`
	Objects int    `json:"objects"`
	// New is true when this call planned the job (it did not exist).
	New bool `json:"new,omitempty"`
	// Duplicate is true when the job was found through objects that
	// another batch owned (the events were duplicates).
	Duplicate bool `json:"duplicate,omitempty"`
	// Error is why the batch could not become a job (a permanent error:
	// the objects stay claimed by it, so the batch is not retried).
	Error string `json:"error,omitempty"`
}

// Report is what Process did with a set of events.
type Report struct {
	Jobs []JobInfo `json:"jobs,omitempty"`
	// Ignored counts the events Filter left out, by reason.
	Ignored map[string]int `json:"ignored,omitempty"`
	// Duplicates counts objects already owned by another batch.
	Duplicates int `json:"duplicates,omitempty"`
	// Superseded counts objects deleted or rewritten since their event.
	Superseded int `json:"superseded,omitempty"`
}

func (r *Report) ignore(reason string) {
	if r.Ignored == nil {
		r.Ignored = map[string]int{}
	}
	r.Ignored[reason]++
}

// Process turns events into jobs: it filters them, drops duplicates and
// objects that changed since their event, groups the rest by input format
// (one job reads one format) into batches of at most MaxObjects, claims
// each batch's objects and submits a job per batch. Objects owned by
// another batch are duplicates; that batch is completed too when its job
// was never submitted (its submitter died), and reported with Duplicate
// set. The error is non-nil when some batch could not be settled for a
// reason that may pass (store or queue unavailable): the caller should
// retry the events, which is safe.
func (t *Trigger) Process(ctx context.Context, events []ObjectEvent) (Report, error) {
	var rep Report
	seen := map[string]bool{}
	var fresh []ObjectEvent
	for _, ev := range events {
		if reason := t.filter.Check(ev); reason != "" {
			rep.ignore(reason)
			t.log.Debug("event ignored", "bucket", ev.Bucket, "key", ev.Key, "event", ev.Name, "reason", reason)
			continue
		}
		if seen[ev.Identity()] {
			rep.Duplicates++
			continue
		}
		seen[ev.Identity()] = true
		fresh = append(fresh, ev)
	}
	if !t.cfg.TrustEvents {
		current, superseded, ignored, err := t.current(ctx, fresh)
		if err != nil {
			return rep, err
		}
		fresh, rep.Superseded = current, superseded
		for _, reason := range ignored {
			rep.ignore(reason)
		}
	}
	groups := map[string][]ObjectEvent{}
	for _, ev := range fresh {
		format, _, err := manifest.DetectFormat(ev.Key, t.cfg.Template.Spec.Format)
		if err != nil {
			rep.ignore("input format: " + err.Error())
			continue
		}
		groups[format] = append(groups[format], ev)
	}
	var errs []error
	owners := map[string]bool{}
	for _, format := range slices.Sorted(maps.Keys(groups)) {
		g := groups[format]
		slices.SortFunc(g, func(a, b ObjectEvent) int { return strings.Compare(a.Identity(), b.Identity()) })
		for part := range slices.Chunk(g, t.cfg.MaxObjects) {
			info, dups, err := t.runBatch(ctx, part)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if info.Objects > 0 || info.Error != "" {
				rep.Jobs = append(rep.Jobs, info)
			}
			for owner, n := range dups {
				rep.Duplicates += n
				owners[owner] = true
			}
		}
	}
	for _, owner := range slices.Sorted(maps.Keys(owners)) {
		info, err := t.ensureBatch(ctx, owner)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info.Duplicate = true
		rep.Jobs = append(rep.Jobs, info)
	}
	return rep, errors.Join(errs...)
}

// current drops the events whose object was deleted or rewritten since
// (stat, in parallel) and fills in a missing ETag. An event whose object
// cannot be read for a reason that concerns it alone (its bucket does not
// exist, access is denied, the key as sent is filtered out) is left out
// with its reason in ignored; only an error that may pass (the store is
// unavailable) fails the call, and with it the batch.
func (t *Trigger) current(ctx context.Context, events []ObjectEvent) (kept []ObjectEvent, superseded int, ignored []string, err error) {
	keep := make([]bool, len(events))
	reasons := make([]string, len(events))
	out := slices.Clone(events)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for i := range out {
		g.Go(func() error {
			ev := &out[i]
			leaveOut := func(reason string, err error) error {
				reasons[i] = reason
				t.log.Warn("event left out", "bucket", ev.Bucket, "key", ev.Key, "reason", reason, "err", err)
				return nil
			}
			b, err := t.open(gctx, "s3://"+ev.Bucket, ev.Key)
			switch {
			case errors.Is(err, objstore.ErrNotFound):
				return leaveOut(ReasonNoBucket, err)
			case errors.Is(err, objstore.ErrAccessDenied):
				return leaveOut(ReasonAccessDenied, err)
			case err != nil:
				return err
			}
			info, err := b.Stat(gctx, ev.Key)
			if errors.Is(err, objstore.ErrNotFound) && ev.RawKey != "" && ev.RawKey != ev.Key {
				// A sender that did not encode the key: take it as sent,
				// if the filter lets the key as sent through too.
				raw := *ev
				raw.Key = ev.RawKey
				if reason := t.filter.Check(raw); reason != "" {
					return leaveOut(reason, nil)
				}
				if info, err = b.Stat(gctx, ev.RawKey); err == nil {
					ev.Key = ev.RawKey
				}
			}
			switch {
			case errors.Is(err, objstore.ErrNotFound):
				t.log.Info("object deleted since its event", "bucket", ev.Bucket, "key", ev.Key)
				return nil
			case errors.Is(err, objstore.ErrAccessDenied):
				return leaveOut(ReasonAccessDenied, err)
			case err != nil:
				return fmt.Errorf("trigger: stat s3://%s/%s: %w", ev.Bucket, ev.Key, err)
			case ev.ETag != "" && info.ETag != ev.ETag,
				ev.VersionID != "" && info.VersionID != "" && info.VersionID != ev.VersionID:
				t.log.Info("object rewritten since its event; the newer event covers it", "bucket", ev.Bucket, "key", ev.Key,
					"event_etag", ev.ETag, "current_etag", info.ETag)
				return nil
			}
			if ev.ETag == "" {
				ev.ETag = info.ETag
			}
			if ev.Size == 0 {
				ev.Size = info.Size
			}
			keep[i] = true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, nil, err
	}
	for i, ev := range out {
		switch {
		case keep[i]:
			kept = append(kept, ev)
		case reasons[i] != "":
			ignored = append(ignored, reasons[i])
		default:
			superseded++
		}
	}
	return kept, superseded, ignored, nil
}

// objectRef is how a batch record lists an object.
type objectRef struct {
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	ETag      string    `json:"etag,omitempty"`
	VersionID string    `json:"version_id,omitempty"`
	Size      int64     `json:"size,omitempty"`
	Sequencer string    `json:"sequencer,omitempty"`
	Time      time.Time `json:"time,omitzero"`
}

func (o objectRef) event() ObjectEvent {
	return ObjectEvent{Source: SourceListing, Name: "ObjectCreated:", Bucket: o.Bucket, Key: o.Key, ETag: o.ETag,
		VersionID: o.VersionID, Size: o.Size, Sequencer: o.Sequencer, Time: o.Time}
}

// batchRecord is written before any claim names the batch, so that
// whoever finds a claim can complete its batch.
type batchRecord struct {
	Version int         `json:"version"`
	Batch   string      `json:"batch"`
	Objects []objectRef `json:"objects"`
}

// claimRecord is one object version's claim.
type claimRecord struct {
	Version int    `json:"version"`
	Batch   string `json:"batch"`
	Bucket  string `json:"bucket"`
	Key     string `json:"key"`
}

// jobRecord says what a batch was submitted as.
type jobRecord struct {
	Version int    `json:"version"`
	Batch   string `json:"batch"`
	Job     string `json:"job,omitempty"`
	Output  string `json:"output,omitempty"`
	Objects int    `json:"objects"`
	Error   string `json:"error,omitempty"`
}

func (t *Trigger) batchKey(b string) string { return t.prefix + "batches/" + b + ".json" }
func (t *Trigger) claimKey(d string) string { return t.prefix + "objects/" + d + ".json" }
func (t *Trigger) jobKey(b string) string   { return t.prefix + "jobs/" + b + ".json" }

func (t *Trigger) store(ctx context.Context) (objstore.Bucket, error) {
	return t.open(ctx, t.out.StoreURL(), t.out.Prefix)
}

// open opens a store once and keeps it for the trigger's lifetime. An S3
// store is opened with the URL of prefix, where the trigger works, so that
// it checks the bucket by listing there (a least-privilege policy refuses
// a listing of the whole bucket).
func (t *Trigger) open(ctx context.Context, storeURL, prefix string) (objstore.Bucket, error) {
	if b, ok := t.stores.Load(storeURL); ok {
		return b.(objstore.Bucket), nil
	}
	b, err := t.cfg.Open(ctx, objstore.OpenURL(storeURL, prefix))
	if err != nil {
		return nil, fmt.Errorf("trigger: opening %s: %w", storeURL, err)
	}
	if actual, loaded := t.stores.LoadOrStore(storeURL, b); loaded {
		if c, ok := b.(objstore.Closer); ok {
			c.Close()
		}
		return actual.(objstore.Bucket), nil
	}
	return b, nil
}

// Close releases the stores the trigger opened.
func (t *Trigger) Close() error {
	var errs []error
	t.stores.Range(func(k, v any) bool {
		if c, ok := v.(objstore.Closer); ok {
			errs = append(errs, c.Close())
		}
		t.stores.Delete(k)
		return true
	})
	return errors.Join(errs...)
}

// runBatch records a new batch and completes it.
func (t *Trigger) runBatch(ctx context.Context, events []ObjectEvent) (JobInfo, map[string]int, error) {
	rec := batchRecord{Version: 1, Batch: BatchID(events)}
	for _, ev := range events {
		rec.Objects = append(rec.Objects, objectRef{Bucket: ev.Bucket, Key: ev.Key, ETag: ev.ETag, VersionID: ev.VersionID, Size: ev.Size,
			Sequencer: ev.Sequencer, Time: ev.Time})
	}
	b, err := t.store(ctx)
	if err != nil {
		return JobInfo{}, nil, err
	}
	created, err := createJSON(ctx, b, t.batchKey(rec.Batch), rec)
	if err != nil {
		return JobInfo{}, nil, fmt.Errorf("trigger: recording batch %s: %w", rec.Batch, err)
	}
	if !created {
		// The same objects were batched before (a retried delivery): if
		// that batch was submitted, this is the answer.
		var jr jobRecord
		err := readJSON(ctx, b, t.jobKey(rec.Batch), &jr)
		if err == nil {
			return JobInfo{Batch: rec.Batch, Job: jr.Job, Output: jr.Output, Objects: jr.Objects, Error: jr.Error}, nil, nil
		}
		if !errors.Is(err, objstore.ErrNotFound) {
			return JobInfo{}, nil, fmt.Errorf("trigger: reading job of batch %s: %w", rec.Batch, err)
		}
		if err := readJSON(ctx, b, t.batchKey(rec.Batch), &rec); err != nil {
			return JobInfo{}, nil, fmt.Errorf("trigger: reading batch %s: %w", rec.Batch, err)
		}
	}
	return t.completeBatch(ctx, b, rec)
}

// ensureBatch makes sure a batch found through a claim was submitted.
func (t *Trigger) ensureBatch(ctx context.Context, batch string) (JobInfo, error) {
	b, err := t.store(ctx)
	if err != nil {
		return JobInfo{}, err
	}
	var jr jobRecord
	err = readJSON(ctx, b, t.jobKey(batch), &jr)
	if err == nil {
		return JobInfo{Batch: batch, Job: jr.Job, Output: jr.Output, Objects: jr.Objects, Error: jr.Error}, nil
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		return JobInfo{}, fmt.Errorf("trigger: reading job of batch %s: %w", batch, err)
	}
	var rec batchRecord
	if err := readJSON(ctx, b, t.batchKey(batch), &rec); err != nil {
		return JobInfo{}, fmt.Errorf("trigger: reading batch %s: %w", batch, err)
	}
	t.log.Info("completing a batch whose submitter did not finish", "batch", batch)
	info, _, err := t.completeBatch(ctx, b, rec)
	return info, err
}

// completeBatch claims the batch's objects (or learns their owners) and
// submits the job over the objects it owns.
func (t *Trigger) completeBatch(ctx context.Context, b objstore.Bucket, rec batchRecord) (JobInfo, map[string]int, error) {
	owner := make([]string, len(rec.Objects))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism)
	for i, o := range rec.Objects {
		g.Go(func() error {
			key := t.claimKey(o.event().Digest())
			claim := claimRecord{Version: 1, Batch: rec.Batch, Bucket: o.Bucket, Key: o.Key}
			created, err := createJSON(gctx, b, key, claim)
			if err != nil {
				return fmt.Errorf("trigger: claiming s3://%s/%s: %w", o.Bucket, o.Key, err)
			}
			if !created {
				if err := readJSON(gctx, b, key, &claim); err != nil {
					return fmt.Errorf("trigger: reading the claim of s3://%s/%s: %w", o.Bucket, o.Key, err)
				}
			}
			owner[i] = claim.Batch
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return JobInfo{}, nil, err
	}
	var mine []ObjectEvent
	dups := map[string]int{}
	for i, o := range rec.Objects {
		if owner[i] == rec.Batch {
			mine = append(mine, o.event())
		} else {
			dups[owner[i]]++
		}
	}
	info := JobInfo{Batch: rec.Batch, Objects: len(mine)}
	if len(mine) == 0 {
		return info, dups, nil
	}
	spec := t.cfg.Template.JobSpec(rec.Batch, mine)
	plan, err := t.cfg.Submitter.Submit(ctx, spec)
	jr := jobRecord{Version: 1, Batch: rec.Batch, Objects: len(mine), Output: spec.Output}
	switch {
	case err != nil && !functions.IsPermanent(err):
		return JobInfo{}, nil, fmt.Errorf("trigger: submitting batch %s: %w", rec.Batch, err)
	case err != nil:
		// Retrying cannot help (no input left, a bad argument): record
		// it so that duplicates do not try again.
		jr.Error = err.Error()
		info.Error = jr.Error
		t.log.Warn("batch cannot run", "batch", rec.Batch, "err", err)
	default:
		jr.Job = plan.Job
		info.Job, info.Output, info.New = plan.Job, spec.Output, !plan.Existing
	}
	if _, err := putJSON(ctx, b, t.jobKey(rec.Batch), jr); err != nil {
		return JobInfo{}, nil, fmt.Errorf("trigger: recording the job of batch %s: %w", rec.Batch, err)
	}
	return info, dups, nil
}

// createJSON writes v at key create-only and reports whether this call
// created it.
func createJSON(ctx context.Context, b objstore.Bucket, key string, v any) (bool, error) {
	created, err := putJSONOpts(ctx, b, key, v, true)
	return created, err
}

func putJSON(ctx context.Context, b objstore.Bucket, key string, v any) (bool, error) {
	return putJSONOpts(ctx, b, key, v, false)
}

func putJSONOpts(ctx context.Context, b objstore.Bucket, key string, v any, createOnly bool) (bool, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	_, err = b.Put(ctx, key, bytes.NewReader(body), &objstore.PutOptions{IfNoneMatch: createOnly, ContentType: "application/json", Size: int64(len(body))})
	if createOnly && errors.Is(err, objstore.ErrPrecondition) {
		return false, nil
	}
	return err == nil, err
}

// maxRecord bounds what readJSON reads (a batch of 10,000 objects with
// long keys stays well below it).
const maxRecord = 64 << 20

func readJSON(ctx context.Context, b objstore.Bucket, key string, v any) (err error) {
	rc, _, err := b.Get(ctx, key, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	body, err := io.ReadAll(io.LimitReader(rc, maxRecord+1))
	if err != nil {
		return err
	}
	if len(body) > maxRecord {
		return fmt.Errorf("%s is larger than %d bytes", key, maxRecord)
	}
	return json.Unmarshal(body, v)
}
