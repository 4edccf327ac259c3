package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// commitParallelism bounds the server-side copies and marker reads a
// commit runs at once.
const commitParallelism = 16

// JobFailedError reports a job that cannot commit: more chunks failed than
// its tolerance allows. Nothing was published.
type JobFailedError struct {
	Job     string
	Failed  []manifest.FailedChunk
	Allowed int
}

func (e *JobFailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s failed: %d chunk(s) failed (tolerated: %d)", e.Job, len(e.Failed), e.Allowed)
	for i, f := range e.Failed {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-5)
			break
		}
		// A worker's reason names its chunk already.
		fmt.Fprintf(&b, "; %s: %s", f.Chunk, strings.TrimPrefix(f.Reason, "chunk "+f.Chunk+": "))
	}
	return b.String()
}

// ErrNotFinished reports a commit attempted while chunks are still missing
// their markers.
var ErrNotFinished = errors.New("fanout: job not finished")

// markerScan is what the bucket says about a job's chunks.
type markerScan struct {
	done    map[string]bool
	failed  map[string]bool
	missing []string
}

// scanMarkers lists the job's markers and names the chunks without one.
func (e *Engine) scanMarkers(ctx context.Context, js *jobState) (markerScan, error) {
	s := markerScan{done: map[string]bool{}, failed: map[string]bool{}}
	seen := make([]bool, js.m.Chunks)
	for info, err := range js.out.List(ctx, js.layout.MarkerPrefix(js.job), nil) {
		if err != nil {
			return s, fmt.Errorf("listing markers: %w", err)
		}
		chunk, ok := js.layout.ChunkFromMarkerKey(js.job, info.Key)
		if !ok {
			continue
		}
		i, err := manifest.ChunkIndex(chunk)
		if err != nil || i < 0 || i >= len(seen) {
			continue
		}
		seen[i] = true
		s.done[chunk] = true
	}
	for i, ok := range seen {
		if !ok {
			s.missing = append(s.missing, manifest.ChunkID(i))
		}
	}
	return s, nil
}

// readMarkers reads every map chunk's marker (in parallel).
func (e *Engine) readMarkers(ctx context.Context, js *jobState) ([]*manifest.ChunkMarker, error) {
	return e.readMarkersOf(ctx, js, js.allChunkIDs(), func(id string) string { return js.layout.MarkerKey(js.job, id) })
}

// readReduceMarkers reads every reduce task's marker of the job's current
// shuffle index, and refuses one that names another index: its attempt
// merged map outputs that are no longer the job's (read before a
// redrive).
func (e *Engine) readReduceMarkers(ctx context.Context, js *jobState) ([]*manifest.ChunkMarker, error) {
	shuffle, err := e.shuffleID(ctx, js)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: the reduce stage has no shuffle index", ErrNotFinished)
	} else if err != nil {
		return nil, err
	}
	markers, err := e.readMarkersOf(ctx, js, js.reduceIDs(), func(id string) string { return js.layout.ReduceMarkerKey(js.job, shuffle, id) })
	if err != nil {
		return nil, err
	}
	for _, m := range markers {
		if m.Shuffle != shuffle {
			return nil, fmt.Errorf("reduce task %s's marker names shuffle index %q, the job's is %q: refusing it", m.Chunk, m.Shuffle, shuffle)
		}
	}
	return markers, nil
}

func (e *Engine) readMarkersOf(ctx context.Context, js *jobState, ids []string, keyOf func(string) string) ([]*manifest.ChunkMarker, error) {
	markers := make([]*manifest.ChunkMarker, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(commitParallelism)
	for i, id := range ids {
		g.Go(func() error {
			body, err := readAll(gctx, js.out, keyOf(id), 256<<20)
			if errors.Is(err, objstore.ErrNotFound) {
				return fmt.Errorf("%w: chunk %s has no marker", ErrNotFinished, id)
			}
			if err != nil {
				return err
			}
			m, err := manifest.DecodeMarker(body)
			if err != nil {
				return fmt.Errorf("marker of %s: %w", id, err)
			}
			markers[i] = m
			return nil
		})
	}
	return markers, g.Wait()
}

// Commit publishes a finished job: it copies every winning attempt's files
// into the final layout, creates the commit record once (If-None-Match: *),
// writes _SUCCESS and removes the staging prefix. Run on a committed job it
// verifies the committed files and changes nothing. It returns
// ErrNotFinished (wrapped) when chunks lack markers and *JobFailedError
// when more chunks failed than tolerated.
func (e *Engine) Commit(ctx context.Context, js *jobState, wall time.Duration) (*manifest.CommitRecord, error) {
	if rec, err := e.readCommit(ctx, js); err == nil {
		return rec, e.verifyCommitted(ctx, js, rec)
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return nil, err
	}
	markers, err := e.readMarkers(ctx, js)
	if err != nil {
		return nil, err
	}
	rec := &manifest.CommitRecord{Version: manifest.Version, Job: js.job, Chunks: js.m.Chunks}
	var durations []time.Duration
	for _, m := range markers {
		if m.State == manifest.MarkerFailed {
			rec.Failed = append(rec.Failed, manifest.FailedChunk{Chunk: m.Chunk, Reason: m.Reason})
			continue
		}
		if js.m.Reducers == 0 {
			rec.Files = append(rec.Files, m.Files...)
			rec.RecordsOut += m.RecordsOut
		}
		rec.RecordsIn += m.RecordsIn
		rec.Rejections.Add(m.Rejections)
		rec.BytesIn += m.BytesIn
		if !m.Started.IsZero() {
			durations = append(durations, m.Finished.Sub(m.Started))
		}
	}
	account(rec, markers)
	allowed, err := manifest.ParseMaxFailed(js.m.Spec.MaxFailed, js.m.Chunks)
	if err != nil {
		return nil, functions.Permanent(err)
	}
	if len(rec.Failed) > allowed {
		return nil, &JobFailedError{Job: js.job, Failed: rec.Failed, Allowed: allowed}
	}
	if err := checkRejected(js, rec); err != nil {
		return nil, err // --max-rejected passed: nothing is published
	}
	if js.m.Reducers > 0 {
		// The reduce tasks' files are the job's output; none may fail.
		reduced, err := e.readReduceMarkers(ctx, js)
		if err != nil {
			return nil, err
		}
		var failed []manifest.FailedChunk
		for _, m := range reduced {
			if m.State != manifest.MarkerDone {
				failed = append(failed, manifest.FailedChunk{Chunk: m.Chunk, Reason: m.Reason})
				continue
			}
			rec.Files = append(rec.Files, m.Files...)
			rec.RecordsOut += m.RecordsOut
			durations = append(durations, m.Finished.Sub(m.Started))
		}
		account(rec, reduced)
		rec.S3Requests += int64(len(reduced)) * int64(js.m.Chunks) // each reads every map chunk's shuffle file
		if len(failed) > 0 {
			return nil, &JobFailedError{Job: js.job, Failed: append(rec.Failed, failed...), Allowed: allowed}
		}
	}
	// Nothing is published before the output is fenced for this job: a
	// --rerun that took it over has then refused us, or is refused.
	if err := e.fenceOutput(ctx, js); err != nil {
		return nil, err
	}
	// Copy staged files into place. A reader listing the prefix may see
	// these files before _SUCCESS exists: see the README's "Guarantees".
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(commitParallelism)
	for i := range rec.Files {
		f := &rec.Files[i]
		g.Go(func() error {
			dst := finalKey(js.layout, *f)
			info, err := js.out.Copy(gctx, dst, f.Key, &objstore.CopyOptions{IfMatch: f.ETag})
			if err != nil {
				return fmt.Errorf("copying %s to %s: %w", f.Key, dst, err)
			}
			f.Key, f.ETag = dst, info.ETag
			return nil
		})
	}
	copyRejected(gctx, g, js, rec) // to <out>/_rejected/
	if err := g.Wait(); err != nil {
		// A concurrent committer may have finished and removed staging.
		if rec2, rerr := e.readCommit(ctx, js); rerr == nil {
			return rec2, e.verifyCommitted(ctx, js, rec2)
		}
		return nil, err
	}
	sort.Slice(rec.Files, func(i, j int) bool { return rec.Files[i].Key < rec.Files[j].Key })
	sortRejected(rec)
	for _, f := range rec.Files {
		rec.BytesOut += f.Size
	}
	rec.Timings = summarise(durations, wall)
	rec.S3Requests += commitRequests(js, rec)
	rec.Committed = time.Now().UTC()
	body, err := manifest.Encode(rec)
	if err != nil {
		return nil, err
	}
	_, err = js.out.Put(ctx, js.layout.CommitKey(js.job), strings.NewReader(string(body)),
		&objstore.PutOptions{IfNoneMatch: true, ContentType: "application/json", Size: int64(len(body))})
	if errors.Is(err, objstore.ErrPrecondition) {
		// Another committer won; its record is the job's.
		won, rerr := e.readCommit(ctx, js)
		if rerr != nil {
			return nil, rerr
		}
		return won, e.verifyCommitted(ctx, js, won)
	}
	if err != nil {
		return nil, fmt.Errorf("writing the commit record: %w", err)
	}
	return rec, e.finishCommit(ctx, js)
}

// finishCommit writes _SUCCESS and removes staging; both are idempotent.
func (e *Engine) finishCommit(ctx context.Context, js *jobState) error {
	body := fmt.Sprintf("{\"job\":%q}\n", js.job)
	if _, err := js.out.Put(ctx, js.layout.SuccessKey(), strings.NewReader(body), &objstore.PutOptions{Size: int64(len(body)), ContentType: "application/json"}); err != nil {
		return fmt.Errorf("writing _SUCCESS: %w", err)
	}
	e.removePrefix(ctx, js.out, js.layout.StagingRoot(js.job))
	return nil
}

func (e *Engine) readCommit(ctx context.Context, js *jobState) (*manifest.CommitRecord, error) {
	body, err := readAll(ctx, js.out, js.layout.CommitKey(js.job), 1<<30)
	if err != nil {
		return nil, err
	}
	return manifest.DecodeCommit(body)
}

// verifyCommitted checks that every committed file is in place with its
// size, then completes an interrupted commit (_SUCCESS, staging removal).
func (e *Engine) verifyCommitted(ctx context.Context, js *jobState, rec *manifest.CommitRecord) error {
	var mu sync.Mutex
	var bad []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(commitParallelism)
	for _, f := range append(slices.Clone(rec.Files), rec.RejectedFiles...) {
		g.Go(func() error {
			info, err := js.out.Stat(gctx, f.Key)
			if err != nil || info.Size != f.Size {
				mu.Lock()
				bad = append(bad, f.Key)
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("job %s is committed but %d file(s) are missing or changed: %s", js.job, len(bad), strings.Join(bad[:min(len(bad), 5)], ", "))
	}
	if _, err := js.out.Stat(ctx, js.layout.SuccessKey()); err == nil {
		// Fully committed: leave everything published as it is, but
		// finish removing staging, which a committer stopped after
		// _SUCCESS left behind (one listing when there is nothing).
		e.removePrefix(ctx, js.out, js.layout.StagingRoot(js.job))
		return nil
	}
	return e.finishCommit(ctx, js)
}

// account adds the markers' retries, backups, Lambda GB-seconds and
// S3 requests to the record. A winning attempt makes a GET per input
// object (more for a ranged read retried), a PUT per output file
// (multipart uploads more), and the marker's PUT, after a HEAD (is the
// chunk done?) when it was a redelivery; a map attempt of an aggregating
// job writes one shuffle file.
func account(rec *manifest.CommitRecord, markers []*manifest.ChunkMarker) {
	for _, m := range markers {
		if m.Attempts > 1 {
			rec.Retries += m.Attempts - 1
		}
		if m.Backup {
			rec.Backups++
		}
		if m.MemoryMB > 0 && !m.Started.IsZero() {
			rec.LambdaGBSeconds += m.Finished.Sub(m.Started).Seconds() * float64(m.MemoryMB) / 1024
		}
		if m.State != manifest.MarkerDone {
			continue
		}
		rec.S3Requests += 1 + int64(len(m.Inputs)) // the marker's PUT, a GET per input
		if m.Attempts > 1 {
			rec.S3Requests++ // a redelivery first checks for a marker
		}
		for _, f := range append(slices.Clone(m.Files), m.RejectedFiles...) {
			rec.S3Requests += putRequests(f.Size)
		}
	}
}

// putRequests is what uploading size bytes costs: one PUT, or a
// multipart upload (create, a part per 16 MiB, complete).
func putRequests(size int64) int64 {
	const part = 16 << 20
	if size <= part {
		return 1
	}
	return 2 + (size+part-1)/part
}

// commitRequests estimates planning's and the commit's requests: listing
// the input (1,000 keys a page), the manifest and its shards, reading
// every marker, a COPY per published file, the commit record, _SUCCESS,
// and listing and deleting staging.
func commitRequests(js *jobState, rec *manifest.CommitRecord) int64 {
	tasks := int64(js.m.Chunks + js.m.Reducers)
	staged := int64(len(rec.Files) + len(rec.RejectedFiles))
	if js.m.Reducers > 0 {
		staged += int64(js.m.Chunks) // shuffle files
	}
	return js.m.Objects/1000 + 1 + // listing the input
		1 + int64(js.m.Shards) + // manifest and shards
		tasks + tasks/1000 + 1 + // listing and reading markers
		int64(len(rec.Files)+len(rec.RejectedFiles)) + 2 + // copies, commit record, _SUCCESS
		staged/1000 + 1 + staged // listing and deleting staging
}

func summarise(ds []time.Duration, wall time.Duration) manifest.Timings {
	t := manifest.Timings{Wall: manifest.Duration(wall)}
	if len(ds) == 0 {
		return t
	}
	slices.Sort(ds)
	at := func(q float64) manifest.Duration { return manifest.Duration(ds[int(q*float64(len(ds)-1))]) }
	t.ChunkP50, t.ChunkP95, t.ChunkMax = at(0.5), at(0.95), manifest.Duration(ds[len(ds)-1])
	return t
}
