package fanout

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// commitParallelism bounds the requests a commit runs at once: marker
// reads, completions (or copies), verifications. At 16 the commit of the
// scale simulation's 10,000 chunks took 40-48 s, most of it waiting on
// one request after another (12 s reading markers, 12 s completing, 11 s
// verifying); 128 requests of ~20 ms each are about 6,400 a second,
// above one S3 prefix partition's 3,500 writes and 5,500 reads: the
// backends retry SlowDown, and S3 splits a prefix that stays that busy.
const commitParallelism = 128

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

// markerScan is what the bucket says about a job's chunks: how many have
// a marker, and which have none. It holds no entry per marked chunk: at a
// million chunks a set of their IDs was some 50 MB of the driver's heap
// at every progress report.
type markerScan struct {
	done    int
	missing []string
}

// scanMarkers lists the job's markers and names the chunks without one.
func (e *Engine) scanMarkers(ctx context.Context, js *jobState) (markerScan, error) {
	var s markerScan
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
		if !seen[i] {
			seen[i] = true
			s.done++
		}
	}
	for i, ok := range seen {
		if !ok {
			s.missing = append(s.missing, manifest.ChunkID(i))
		}
	}
	return s, nil
}

// markerWindow is how many markers a walk reads ahead of the one it
// hands on: what it holds at once, whatever the number of tasks.
const markerWindow = 1000

// walkMarkers reads the markers of tasks 0..n-1 (task i is idOf(i), its
// marker at keyOf(id)), commitParallelism at once, and calls fn on each
// in task order, at most markerWindow read ahead of the one fn has, so
// that the commit's memory does not grow with the number of tasks (the
// files go into lists in the bucket: commitfiles.go). A read starts as soon as one
// ends: no page waits for its slowest read (pages of 1,000 read 16 at a
// time took 12 s for the 10,000 markers of the scale simulation). A
// missing marker is ErrNotFinished.
func (e *Engine) walkMarkers(ctx context.Context, js *jobState, n int, idOf func(int) string, keyOf func(string) string, fn func(*manifest.ChunkMarker) error) error {
	type read struct {
		m   *manifest.ChunkMarker
		err error
	}
	// The readers are waited for after ctx is cancelled (defers run last
	// first): until then the feeder may wait to hand them more, and they
	// for it, when fn panicked with a window's reads ahead.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// ahead holds the reads in task order; its capacity is the window.
	ahead := make(chan chan read, markerWindow)
	// The reads run on commitParallelism goroutines that each take the
	// next task: a goroutine a marker grew its stack anew each time (the
	// decoding runs deep), some 5 µs a chunk of the scale simulation.
	type task struct {
		i int
		r chan read
	}
	tasks := make(chan task)
	for range min(n, commitParallelism) {
		wg.Go(func() {
			for t := range tasks {
				m, err := e.readMarker(ctx, js, idOf(t.i), keyOf)
				t.r <- read{m, err}
			}
		})
	}
	go func() {
		defer close(ahead)
		defer close(tasks)
		for i := range n {
			r := make(chan read, 1)
			select {
			case ahead <- r:
			case <-ctx.Done():
				return
			}
			select {
			case tasks <- task{i, r}:
			case <-ctx.Done():
				r <- read{err: ctx.Err()}
				return
			}
		}
	}()
	for r := range ahead {
		got := <-r
		if got.err == nil {
			got.err = fn(got.m)
		}
		if got.err != nil {
			cancel()
			for r := range ahead { // let the reader stop
				<-r
			}
			return got.err
		}
	}
	return ctx.Err()
}

// walkReduceMarkers walks every reduce task's marker of the shuffle index
// whose ID is shuffle, the job's (walkMarkers), and refuses one that names
// another index: its attempt merged map outputs that are no longer the
// job's (read before a redrive).
func (e *Engine) walkReduceMarkers(ctx context.Context, js *jobState, shuffle string, fn func(*manifest.ChunkMarker) error) error {
	return e.walkMarkers(ctx, js, js.m.Reducers, manifest.ReduceTaskID,
		func(id string) string { return js.layout.ReduceMarkerKey(js.job, shuffle, id) },
		func(m *manifest.ChunkMarker) error {
			if m.Shuffle != shuffle {
				return fmt.Errorf("reduce task %s's marker names shuffle index %q, the job's is %q: refusing it", m.Chunk, m.Shuffle, shuffle)
			}
			return fn(m)
		})
}

// readMarker reads and decodes the marker of task id (at keyOf(id)).
func (e *Engine) readMarker(ctx context.Context, js *jobState, id string, keyOf func(string) string) (*manifest.ChunkMarker, error) {
	body, err := readAll(ctx, js.out, keyOf(id), 256<<20)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: chunk %s has no marker", ErrNotFinished, id)
	}
	if err != nil {
		return nil, err
	}
	m, err := manifest.DecodeMarker(body)
	if err != nil {
		return nil, fmt.Errorf("marker of %s: %w", id, err)
	}
	return m, nil
}

// Commit publishes a finished job: it puts every winning attempt's files
// in place (completes their uploads, or links or copies staged files: see
// publishing.go), creates the commit record once (If-None-Match: *),
// writes _SUCCESS and cleans up (staging, the job's other open uploads).
// Every step is idempotent, so a commit killed between any two steps is
// finished by the next one (publishing.go lists the cases). Run on a
// committed job it verifies the committed files and changes nothing. It
// reads the markers in a sliding window (walkMarkers) and spills their
// files into parts in the bucket (commitfiles.go), so that its memory
// does not grow with the job's files. It returns ErrNotFinished (wrapped)
// when chunks lack markers and *JobFailedError when more chunks failed
// than tolerated.
func (e *Engine) Commit(ctx context.Context, js *jobState, wall time.Duration) (_ *manifest.CommitRecord, err error) {
	if rec, err := e.readCommit(ctx, js); err == nil {
		return rec, e.verifyCommitted(ctx, js, rec)
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return nil, err
	}
	// Read before any marker: the fence refuses when a redrive holds the
	// job or has changed it since (owner.go, "A redrive and a commit").
	gen, err := e.commitGeneration(ctx, js)
	if err != nil {
		if errors.Is(err, errRedriven) {
			e.log.Info("the job's commit waits for its redrive", "job", js.job, "why", err)
		}
		return nil, err
	}
	defer func() {
		var jf *JobFailedError
		var tr *TooManyRejectedError
		if errors.As(err, &jf) || errors.As(err, &tr) {
			// For people and for a --rerun's message; best effort.
			if oerr := e.ownerFailed(ctx, js, gen, err.Error()); errors.Is(oerr, errRedriven) {
				// Redriven since the markers were read: the failure is
				// stale, the job not finished.
				err = oerr
			} else if oerr != nil {
				e.log.Warn("recording the failure in the output's owner record failed", "job", js.job, "err", oerr)
			}
		}
	}()
	rec := &manifest.CommitRecord{Version: manifest.CommitVersion, Job: js.job, Chunks: js.m.Chunks}
	defer js.commitSteps.end()
	js.commitSteps.begin("reading chunk markers", js.m.Chunks)
	defer e.shareCommitProgress(ctx, js)() // for the progress of other processes
	// This commit's parts are garbage until its record names them, and
	// the pending ones once it ends: removed here, best effort (fanout gc
	// and the next verification remove what is left).
	token := randomHex(8)
	pending := e.newPartWriter(js, func(i int) string { return js.layout.CommitPendingKey(js.job, token, i) })
	// The markers' rejected-record files are spilled the same way, into
	// lists of their own (one a chunk that rejected records).
	pendingRejected := e.newPartWriter(js, func(i int) string { return js.layout.CommitPendingRejectedKey(js.job, token, i) })
	var committed bool
	defer func() {
		if committed {
			if err := objstore.DeleteKeys(ctx, js.out, append(pending.keys(), pendingRejected.keys()...)); err != nil {
				e.log.Debug("removing the commit's pending file lists failed", "job", js.job, "err", err)
			}
			return
		}
		e.removePrefix(ctx, js.out, js.layout.CommitPartsPrefix(js.job)+token+"/")
	}()
	var durations []time.Duration
	compact, err := e.openCompaction(ctx, js) // nil unless the job compacts (compactor.go)
	if err != nil {
		return nil, err
	}
	stale := staleFailures{e: e, js: js}
	// shuffled[i] says map chunk i's marker names shuffle output: the
	// shuffle index must have it (commitShuffle).
	var shuffled []bool
	if js.m.Reducers > 0 {
		shuffled = make([]bool, js.m.Chunks)
	}
	err = e.walkMarkers(ctx, js, js.m.Chunks, manifest.ChunkID,
		func(id string) string { return js.layout.MarkerKey(js.job, id) },
		func(m *manifest.ChunkMarker) error {
			js.commitSteps.add(1)
			if s, err := stale.stale(ctx, m); err != nil || s {
				return err // from before a redrive: its chunk runs again
			}
			accountMarker(rec, m)
			if m.State == manifest.MarkerFailed {
				rec.Failed = append(rec.Failed, manifest.FailedChunk{Chunk: m.Chunk, Reason: m.Reason})
				return nil
			}
			if js.m.Reducers == 0 {
				if err := pending.add(ctx, compact.keep(m.Files)...); err != nil {
					return err
				}
				rec.RecordsOut += m.RecordsOut
			} else if shuffles(m.Files, js.m.Reducers) {
				i, err := manifest.ChunkIndex(m.Chunk)
				if err != nil || i < 0 || i >= len(shuffled) {
					return fmt.Errorf("marker of %s: not a chunk of the job", m.Chunk)
				}
				shuffled[i] = true
			}
			rec.RecordsIn += m.RecordsIn
			rejections := m.Rejections
			rejections.RejectedFiles = nil
			rec.Rejections.Add(rejections)
			if err := pendingRejected.add(ctx, m.RejectedFiles...); err != nil {
				return err
			}
			rec.BytesIn += m.BytesIn
			if !m.Started.IsZero() {
				durations = append(durations, m.Finished.Sub(m.Started))
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if err := stale.settle(ctx); err != nil {
		return nil, err
	}
	allowed, err := manifest.ParseMaxFailed(js.m.Spec.MaxFailed, js.m.Chunks)
	if err != nil {
		return nil, functions.Permanent(err)
	}
	if len(rec.Failed) > allowed {
		return nil, &JobFailedError{Job: js.job, Failed: rec.Failed, Allowed: allowed}
	}
	if err := checkRejected(js, rec, pendingRejected.count+len(pendingRejected.files)); err != nil {
		return nil, err // --max-rejected passed: nothing is published
	}
	if compact != nil {
		js.commitSteps.begin("merging small files", 0)
		if err := e.commitCompaction(ctx, js, compact, rec, pending, &durations); err != nil {
			return nil, err
		}
	}
	if js.m.Reducers > 0 {
		js.commitSteps.begin("reading reduce markers", 0)
		shuffle, err := e.commitShuffle(ctx, js, &stale, shuffled)
		if err != nil {
			return nil, err
		}
		// The reduce tasks' files are the job's output; none may fail.
		var failed []manifest.FailedChunk
		staleReduce := staleFailures{e: e, js: js}
		err = e.walkReduceMarkers(ctx, js, shuffle, func(m *manifest.ChunkMarker) error {
			if s, err := staleReduce.stale(ctx, m); err != nil || s {
				return err // from before a redrive: the task runs again
			}
			accountMarker(rec, m)
			if m.State != manifest.MarkerDone {
				failed = append(failed, manifest.FailedChunk{Chunk: m.Chunk, Reason: m.Reason})
				return nil
			}
			if err := pending.add(ctx, m.Files...); err != nil {
				return err
			}
			rec.RecordsOut += m.RecordsOut
			durations = append(durations, m.Finished.Sub(m.Started))
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := staleReduce.settle(ctx); err != nil {
			return nil, err
		}
		rec.S3Requests += int64(js.m.Reducers) * int64(js.m.Chunks) // each reads every map chunk's shuffle file
		if len(failed) > 0 {
			return nil, &JobFailedError{Job: js.job, Failed: append(rec.Failed, failed...), Allowed: allowed}
		}
	}
	if err := pending.flush(ctx); err != nil {
		return nil, err
	}
	if err := pendingRejected.flush(ctx); err != nil {
		return nil, err
	}
	// Nothing is published before the output is fenced for this job: a
	// --rerun that took it over has then refused us, or is refused.
	owner, err := e.fenceOutput(ctx, js, gen)
	if err != nil {
		if errors.Is(err, errRedriven) {
			e.log.Info("the job's commit publishes nothing: a redrive holds the job or changed it since the commit read its markers", "job", js.job, "why", err)
		}
		return nil, err
	}
	if owner.Replaces != js.job {
		rec.Replaces = owner.Replaces // --overwrite (replace.go)
	}
	// Put the files in place. A reader listing the prefix may see these
	// files before _SUCCESS exists: see the README's "Guarantees".
	files := e.newPartWriter(js, func(i int) string { return js.layout.CommitPartKey(js.job, token, i) })
	rejected := e.newPartWriter(js, func(i int) string { return js.layout.CommitRejectedPartKey(js.job, token, i) })
	sums := newFileSums(js.m.TargetFileSize, js.m.MaxRowsPerFile)
	js.commitSteps.begin("publishing files", pending.count)
	err = e.publishFiles(ctx, js, pending.parts, files, sums)
	if err == nil {
		js.commitSteps.begin("publishing rejected-record files", pendingRejected.count)
		err = e.publishRejected(ctx, js, pendingRejected.parts, rejected)
	}
	if err != nil {
		// A concurrent committer may have finished and removed staging.
		if rec2, rerr := e.readCommit(ctx, js); rerr == nil {
			return rec2, e.verifyCommitted(ctx, js, rec2)
		}
		var lost *LostUploadError
		if errors.As(err, &lost) {
			e.giveBackLost(ctx, js, lost)
		}
		return nil, err
	}
	rec.FileParts, rec.FileCount = files.parts, files.count
	rec.RejectedParts, rec.RejectedCount = rejected.parts, rejected.count
	rec.BytesOut = sums.bytes
	rec.Partitions = sums.partitions()
	if small, many := SmallFiles(rec.Partitions); many {
		e.log.Warn("the job commits many small files", "job", js.job, "files", rec.FileCount, "small", small,
			"partitions", len(rec.Partitions), "hint", "--target-file-size merges them (docs/filesizing.md)")
	}
	js.commitSteps.begin("writing the commit record", 0)
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
	committed = true
	js.commitSteps.begin("writing _SUCCESS", 0)
	return rec, e.finishCommit(ctx, js, rec)
}

// publishFiles puts every data file of the pending parts in place
// (publishFile), a part at a time, and adds them, published (final keys
// and ETags), to files and sums.
func (e *Engine) publishFiles(ctx context.Context, js *jobState, pending []manifest.FilePart, files *partWriter, sums *fileSums) error {
	err := eachFilePart(ctx, js.out, js.job, pending, func(batch []manifest.OutputFile) error {
		if err := publishAll(ctx, js, batch, func(f manifest.OutputFile) string { return finalKey(js.layout, f) }); err != nil {
			return err
		}
		for _, f := range batch {
			sums.add(f)
		}
		return files.add(ctx, batch...)
	})
	if err != nil {
		return err
	}
	return files.flush(ctx)
}

// publishRejected puts the rejected-record files of the pending parts in
// place at <out>/_rejected/, a part at a time, and adds them, published,
// to files.
func (e *Engine) publishRejected(ctx context.Context, js *jobState, pending []manifest.FilePart, files *partWriter) error {
	err := eachFilePart(ctx, js.out, js.job, pending, func(batch []manifest.OutputFile) error {
		err := publishAll(ctx, js, batch, func(f manifest.OutputFile) string {
			return js.layout.RejectedKey(manifest.PublishedName(f.Key))
		})
		if err != nil {
			return err
		}
		return files.add(ctx, batch...)
	})
	if err != nil {
		return err
	}
	return files.flush(ctx)
}

// publishAll publishes the files of batch (publishFile), commitParallelism
// at a time, each at dst(file), and replaces each in batch by its
// published description. A publication in flight is never cut short, not
// by another's failure nor by ctx: MinIO leaves an upload whose completion
// was cut off mid-request listed as open, and answers its next completion
// with InvalidPart (measured); once one fails, no more start.
func publishAll(ctx context.Context, js *jobState, batch []manifest.OutputFile, dst func(manifest.OutputFile) string) error {
	var failed atomic.Bool
	wctx := context.WithoutCancel(ctx)
	// commitParallelism goroutines each take the next file (a goroutine
	// a file grew its stack anew each time).
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(len(batch), commitParallelism) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batch) || failed.Load() || ctx.Err() != nil {
					return // the first error is the commit's
				}
				pub, err := publishFile(wctx, js.out, batch[i], dst(batch[i]))
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
					return
				}
				batch[i] = pub
				js.commitSteps.add(1)
			}
		})
	}
	wg.Wait()
	if first == nil {
		return ctx.Err()
	}
	return first
}

// finishCommit makes _SUCCESS name the job (switchSuccess), removes the
// files of the job it replaced (--overwrite), and removes staging; each
// is idempotent.
func (e *Engine) finishCommit(ctx context.Context, js *jobState, rec *manifest.CommitRecord) error {
	switched, err := e.switchSuccess(ctx, js, rec)
	if err != nil {
		return err
	}
	if switched {
		e.removeReplaced(ctx, js, rec)
	}
	e.cleanUp(ctx, js, rec)
	return nil
}

// cleanUp removes what a committed job leaves besides its output, best
// effort: the staging prefix, and every open upload of the job (with the
// commit record written, each is a loser's: an attempt that lost the
// marker race and did not abort its own, or one killed with uploads
// open). An attempt still running after the commit (a backup) may leave
// uploads behind; `fanout gc` and the bucket's lifecycle rule remove them.
// It also removes the file lists no commit record names (unreferencedParts).
func (e *Engine) cleanUp(ctx context.Context, js *jobState, rec *manifest.CommitRecord) {
	e.removePrefix(ctx, js.out, js.layout.StagingRoot(js.job))
	if n, err := AbortJobUploads(ctx, js.out, js.layout, js.job); err != nil {
		e.log.Debug("aborting the job's open uploads failed", "job", js.job, "aborted", n, "err", err)
	}
	if _, err := objstore.DeleteListed(ctx, js.out, unreferencedParts(ctx, js.out, js.layout, rec)); err != nil {
		e.log.Debug("removing file lists the commit record does not name failed", "job", js.job, "err", err)
	}
}

// unreferencedParts lists the objects under the job's commit parts
// prefix that rec does not name: a losing or crashed committer's parts,
// and the pending ones.
func unreferencedParts(ctx context.Context, out objstore.Bucket, layout manifest.Layout, rec *manifest.CommitRecord) iter.Seq2[objstore.ObjectInfo, error] {
	named := make(map[string]bool, len(rec.FileParts)+len(rec.RejectedParts))
	for _, p := range append(slices.Clone(rec.FileParts), rec.RejectedParts...) {
		named[p.Key] = true
	}
	return func(yield func(objstore.ObjectInfo, error) bool) {
		for info, err := range out.List(ctx, layout.CommitPartsPrefix(rec.Job), nil) {
			if err == nil && named[info.Key] {
				continue
			}
			if !yield(info, err) {
				return
			}
		}
	}
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
	named, _, err := readSuccess(ctx, js.out, js.layout)
	if err != nil {
		return err
	}
	if named != "" && named != js.job && named != rec.Replaces {
		// Replaced since by a job with --overwrite (replace.go), which
		// deletes this job's files: nothing of it is to verify.
		return nil
	}
	bad, n, err := e.missingFiles(ctx, js, rec)
	if err != nil {
		return fmt.Errorf("job %s is committed; checking its files: %w", js.job, err)
	}
	if n > 0 {
		return fmt.Errorf("job %s is committed but %d file(s) are missing or changed: %s", js.job, n, strings.Join(bad[:min(len(bad), 5)], ", "))
	}
	if named == js.job {
		// Fully committed: leave everything published as it is, but
		// finish cleaning up, which a committer stopped after _SUCCESS
		// left undone (a listing each when there is nothing).
		e.removeReplaced(ctx, js, rec)
		e.cleanUp(ctx, js, rec)
		return nil
	}
	return e.finishCommit(ctx, js, rec)
}

// verifyHeadMax is the most files missingFiles checks with a HEAD each;
// it checks more against a listing, a LIST request per 1,000 keys
// instead of a request per file.
const verifyHeadMax = 1000

// missingNamed bounds the keys of missing files missingFiles returns.
const missingNamed = 100

// missingFiles returns the keys of rec's files (data and rejected records)
// that are not in place with their size, sorted (at most missingNamed of
// them), and how many there are. It reads the record's parts one at a
// time.
func (e *Engine) missingFiles(ctx context.Context, js *jobState, rec *manifest.CommitRecord) ([]string, int, error) {
	if rec.NumFiles()+rec.NumRejectedFiles() <= verifyHeadMax {
		var files []manifest.OutputFile
		err := eachRecordPart(ctx, js.out, rec, func(part []manifest.OutputFile) error {
			files = append(files, part...)
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		bad, err := e.statFiles(ctx, js, files)
		return bad[:min(len(bad), missingNamed)], len(bad), err
	}
	// The files, 8 bytes each (fileSet), merged with a listing of the
	// keys between the first and the last (the job's files share the
	// output's prefix, and most of the time a longer one; under it the
	// listing may meet other keys, which it passes by).
	set := newFileSet()
	var first, last string
	add := func(part []manifest.OutputFile) error {
		for _, f := range part {
			set.add(f.Key, f.Size)
			if first == "" || f.Key < first {
				first = f.Key
			}
			last = max(last, f.Key)
		}
		return nil
	}
	if err := eachRecordPart(ctx, js.out, rec, add); err != nil {
		return nil, 0, err
	}
	set.seal()
	n := 0
	for n < len(first) && n < len(last) && first[n] == last[n] {
		n++
	}
	for info, err := range parallelList(ctx, js.out, first[:n], false) {
		if err != nil {
			return nil, 0, fmt.Errorf("listing the output: %w", err)
		}
		if info.Key > last {
			break
		}
		if info.Key >= first {
			set.mark(info.Key, info.Size)
		}
	}
	missing := set.missing()
	if missing == 0 {
		return nil, 0, nil
	}
	// Name them: the parts again.
	var bad []string
	name := func(part []manifest.OutputFile) error {
		for _, f := range part {
			if !set.isFound(f.Key, f.Size) {
				bad = append(bad, f.Key)
			}
		}
		slices.Sort(bad)
		bad = bad[:min(len(bad), missingNamed)]
		return nil
	}
	if err := eachRecordPart(ctx, js.out, rec, name); err != nil {
		return nil, 0, err
	}
	return bad, missing, nil
}

// statFiles returns the keys of files that are not in place with their
// size (a HEAD each), sorted.
func (e *Engine) statFiles(ctx context.Context, js *jobState, files []manifest.OutputFile) ([]string, error) {
	var bad []string
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(commitParallelism)
	for _, f := range files {
		g.Go(func() error {
			info, err := js.out.Stat(ctx, f.Key)
			if err != nil || info.Size != f.Size {
				mu.Lock()
				bad = append(bad, f.Key)
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	slices.Sort(bad)
	return bad, ctx.Err()
}

// accountMarker adds the marker's retries, backups, Lambda GB-seconds and
// S3 requests to the record. A winning attempt makes a GET per input
// object (more for a ranged read retried), a PUT per output file
// (multipart uploads more), and the marker's PUT, after a HEAD (is the
// chunk done?) when it was a redelivery; a map attempt of an aggregating
// job writes one shuffle file.
func accountMarker(rec *manifest.CommitRecord, m *manifest.ChunkMarker) {
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
		return
	}
	rec.S3Requests += 1 + int64(len(m.Inputs)) // the marker's PUT, a GET per input
	if m.Attempts > 1 {
		rec.S3Requests++ // a redelivery first checks for a marker
	}
	for _, f := range append(slices.Clone(m.Files), m.RejectedFiles...) {
		if f.Upload != nil {
			rec.S3Requests += 1 + int64(len(f.Upload.Parts)) // create, parts
			continue
		}
		rec.S3Requests += putRequests(f.Size)
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
// every marker, a COPY (or a completion) per published file, the commit
// record and its file lists, _SUCCESS, listing and deleting staging, and
// listing the open uploads.
func commitRequests(js *jobState, rec *manifest.CommitRecord) int64 {
	tasks := int64(js.m.Chunks + js.m.Reducers)
	files := int64(rec.NumFiles() + rec.NumRejectedFiles())
	staged := files
	if js.m.Reducers > 0 {
		staged += int64(js.m.Chunks) // shuffle files
	}
	return js.m.Objects/1000 + 1 + // listing the input
		1 + int64(js.m.Shards) + // manifest and shards
		tasks + tasks/1000 + 1 + // listing and reading markers
		files + 2 + // copies or completions, commit record, _SUCCESS
		3*int64(len(rec.FileParts)+len(rec.RejectedParts)) + // the file lists: pending (written, read, removed) and final
		staged/1000 + 1 + staged + // listing and deleting staging
		1 // listing open uploads
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

// giveBackLost gives the task of a file whose upload is gone back to the
// queue (LostUploadError), as Redrive does: the queue forgets the job
// before the task's marker goes (a queue that still held the task as done
// would never run it again), and is then given the task again (Enqueue),
// as a queue rebuilt from the bucket would have it. The
// output stays fenced for this job (owner record committing), and the
// files completed so far stay in place: the next commit recognises them
// and completes the new attempt's uploads of the same names.
//
// A map chunk's marker goes from a map-only job. A reduce task's goes
// from under the shuffle index it names, which stays: the task merges the
// same map outputs again (the map markers and shuffle files are
// untouched). A map chunk of an aggregating job (a lost rejected-records
// file) is given back with the reduce stage (restartReduce: its shuffle
// index names the chunk's shuffle file, which the next attempt writes
// under another key), and one of a job with a compaction stage with that
// stage (restartCompaction: the plan names the chunk's small files). The
// stage's tasks then write their files again under the same names,
// completed over those the commit completed before (the same rows: a
// function that is not deterministic may leave a file of the first
// commit's that the second does not name, as for any task given back).
// A compaction task's marker goes from under its plan (compactor.go),
// and the task merges the same staged files again.
func (e *Engine) giveBackLost(ctx context.Context, js *jobState, lost *LostUploadError) {
	name, ok := strings.CutPrefix(path.Base(lost.Key), fileStem(js.job, "")) // part-<job>-<task>-<n>.<ext>
	task, _, cut := strings.Cut(name, "-")
	if !ok || !cut {
		return
	}
	var marker string
	reduce := manifest.IsReduceTask(task)
	switch {
	case manifest.IsCompactTask(task) && js.compacts():
		plan, err := e.compactPlanID(ctx, js)
		if err != nil {
			e.log.Warn("giving a compaction task whose upload is gone back: no compaction plan", "job", js.job, "task", task, "err", err)
			return
		}
		marker = js.layout.CompactMarkerKey(js.job, plan, task)
	case reduce && js.m.Reducers > 0:
		shuffle, err := e.shuffleID(ctx, js)
		if err != nil {
			e.log.Warn("giving a reduce task whose upload is gone back: no shuffle index", "job", js.job, "task", task, "err", err)
			return
		}
		marker = js.layout.ReduceMarkerKey(js.job, shuffle, task)
	case !reduce && !manifest.IsCompactTask(task):
		marker = js.layout.MarkerKey(js.job, task)
	default:
		return
	}
	// A committer that read the markers before another one gave this
	// task back must not give back the attempt that ran since: its
	// upload is not lost. Only a marker that still names the lost upload
	// goes; one gone or naming another upload means the task runs or ran
	// again, and the commit follows.
	if names, err := markerNamesUpload(ctx, js, marker, lost); err != nil {
		e.log.Warn("giving a task whose upload is gone back: its marker unread", "job", js.job, "task", task, "err", err)
		return
	} else if !names {
		lost.Task, lost.Requeued = task, true
		e.log.Warn("a winning upload is gone; its task was given back by another committer", "job", js.job, "task", task, "file", lost.Key)
		return
	}
	if err := e.cfg.Admin.Finish(ctx, js.job); err != nil {
		e.log.Warn("giving a task whose upload is gone back: the queue did not forget the job", "job", js.job, "task", task, "err", err)
		return
	}
	if err := objstore.DeleteKeys(ctx, js.out, []string{marker}); err != nil {
		e.log.Warn("giving a task whose upload is gone back: its marker stays", "job", js.job, "task", task, "err", err)
		return
	}
	// The second stage's plan names the map chunk's files as the marker
	// just removed did (the compaction plan its small files, the shuffle
	// index its shuffle file): the stage starts over from the map
	// markers once the chunk has one again, as after a redrive. It goes
	// after the marker, so that no plan or index is made again from the
	// old one.
	if !manifest.IsCompactTask(task) && !reduce {
		var err error
		switch {
		case js.m.Reducers > 0:
			err = e.restartReduce(ctx, js)
		case js.compacts():
			err = e.restartCompaction(ctx, js)
		}
		if err != nil {
			e.log.Warn("giving a map chunk whose upload is gone back: the second stage's plan stays; the commit refuses it", "job", js.job, "task", task, "err", err)
		}
	}
	e.forgetJob(js.job)
	lost.Task, lost.Requeued = task, true
	e.log.Warn("a winning upload is gone; its task runs again", "job", js.job, "task", task, "file", lost.Key)
	// The queue knows the job again at once, with the task pending: idle
	// workers serving every job (fanout work, Lambda) find jobs through
	// the queue, and no driver may be looking at this one. Failing that,
	// the next step of a driver rebuilds it (advance: enqueueMissing).
	if err := e.cfg.Queue.Enqueue(ctx, js.queueSpec(), []string{task}); err != nil {
		e.log.Warn("enqueueing the task given back failed; the job's next step enqueues it", "job", js.job, "task", task, "err", err)
	}
}

// markerNamesUpload reports whether the marker at key still names the
// lost upload (false when the marker is gone).
func markerNamesUpload(ctx context.Context, js *jobState, key string, lost *LostUploadError) (bool, error) {
	if lost.Upload == "" {
		return true, nil
	}
	body, err := readAll(ctx, js.out, key, 256<<20)
	if errors.Is(err, objstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, err := manifest.DecodeMarker(body)
	if err != nil {
		return false, fmt.Errorf("%s: %w", key, err)
	}
	for _, f := range append(slices.Clone(m.Files), m.RejectedFiles...) {
		if f.Key == lost.Key && f.Upload != nil && f.Upload.ID == lost.Upload {
			return true, nil
		}
	}
	return false, nil
}
