package fanout

// The redrive generation: what makes a failed marker written late harmless.
//
// A failed marker is written by whoever sees its task dead in the queue (the
// worker whose Queue.Fail dead-lettered it, or a settle reading the dead
// letters), some requests after it saw it. A redrive may run in between: it
// makes the queue forget the job and enqueues the failed tasks again. A
// failed marker landing after that would take the rerun's place (markers are
// create-only) and fail the job again with the old reason. Checking the
// queue after the write (the mitigation before this one) left a window of a
// few requests.
//
// The fence: the job has a redrive generation in the bucket
// (manifest.RedriveRecord, 0 when absent). Redrive raises it after the queue
// has forgotten the job and before any task runs again. A writer of a failed
// marker reads the generation *before* it looks at the queue (before
// Queue.Fail, before DeadLetters) and writes it into the marker. So a marker
// whose writer saw the task dead before a redrive carries an older
// generation than the job's: it looked at the queue before the redrive's
// Finish, hence read the generation before the raise. A writer that read the
// raised generation looked at the queue after the Finish, where a lease from
// before is lost and only a task dead again since can be dead.
//
// A failed marker of an older generation than the job's is stale
// (ChunkMarker.StaleFailure), wherever and whenever it landed:
//   - a marker write that finds it in the way replaces it (If-Match on its
//     ETag): a done marker always (the attempt's result is the task's), a
//     failed marker when its own generation is newer (createMarkerTag);
//   - a worker about to skip a redelivered task for its marker runs it
//     (hasMarker);
//   - the commit (of map, reduce and compaction markers) and the
//     preparation of the reduce and compaction stages, which read every
//     marker, do not count it: they settle its task again
//     (a failed marker of the current generation when the queue holds it
//     dead, else enqueued) and report errRedriven, not finished
//     (staleFailures).
// No failed marker is ever deleted for being stale, so no delete can race a
// rerun's marker taking the key.

import (
	"bufio"
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

// errRedriven reports a walk of a job's markers that found failed markers
// from before the job's last redrive: their tasks were settled again, and
// the job is not finished.
var errRedriven = fmt.Errorf("%w: failed markers from before a redrive", ErrNotFinished)

// redriveGeneration reads js's redrive generation from the bucket: 0 for
// a job never redriven.
func (e *Engine) redriveGeneration(ctx context.Context, js *jobState) (int64, error) {
	r, _, err := readRedrive(ctx, js)
	if errors.Is(err, objstore.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return r.Generation, nil
}

// readRedrive reads js's redrive record and its ETag.
func readRedrive(ctx context.Context, js *jobState) (*manifest.RedriveRecord, string, error) {
	key := js.layout.RedriveKey(js.job)
	body, etag, err := readAllTag(ctx, js.out, key, 1<<20)
	if err != nil {
		return nil, "", err
	}
	r, err := manifest.DecodeRedrive(body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", key, err)
	}
	return r, etag, nil
}

// raiseGeneration raises js's redrive generation by one and returns the
// new one. The write is conditional on the version read (create-only when
// there is none), so two redrives at once raise it twice.
func (e *Engine) raiseGeneration(ctx context.Context, js *jobState) (int64, error) {
	key := js.layout.RedriveKey(js.job)
	for range ownerRetries {
		cur, etag, err := readRedrive(ctx, js)
		if errors.Is(err, objstore.ErrNotFound) {
			cur = &manifest.RedriveRecord{}
		} else if err != nil {
			return 0, err
		}
		next := manifest.RedriveRecord{Version: manifest.Version, Job: js.job, Generation: cur.Generation + 1,
			Redriven: time.Now().UTC(), Token: randomHex(8)}
		body, err := manifest.Encode(&next)
		if err != nil {
			return 0, err
		}
		_, err = js.out.Put(ctx, key, strings.NewReader(string(body)), &objstore.PutOptions{
			IfNoneMatch: etag == "", IfMatch: etag, ContentType: "application/json", Size: int64(len(body))})
		if lostRace(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("writing %s: %w", key, err)
		}
		return next.Generation, nil
	}
	return 0, fmt.Errorf("raising the redrive generation of job %s: %s kept changing", js.job, key)
}

// markerRetries bounds the rounds of a marker write that keeps finding a
// stale failed marker replaced under it.
const markerRetries = 4

// createMarkerTag creates the marker m at key create-only and returns
// its ETag, and whether this call created it. A failed marker from
// before a redrive in the way is replaced (If-Match on its ETag): by a
// done marker always, by a failed one of a newer generation. Any other
// marker there wins: created is false.
func (e *Engine) createMarkerTag(ctx context.Context, js *jobState, key string, m *manifest.ChunkMarker) (string, bool, error) {
	m.Reason = e.Redact(m.Reason) // a dead letter's reason may come from a worker that knew other secrets
	body, err := manifest.Encode(m)
	if err != nil {
		return "", false, err
	}
	opts := objstore.PutOptions{IfNoneMatch: true, ContentType: "application/json", Size: int64(len(body))}
	for range markerRetries {
		info, err := js.out.Put(ctx, key, strings.NewReader(string(body)), &opts)
		if err == nil {
			return info.ETag, true, nil
		}
		if !lostRace(err) {
			return "", false, fmt.Errorf("writing marker of %s: %w", m.Chunk, err)
		}
		// Something is there (or went while an If-Match write was sent):
		// replace it only when it is a stale failed marker.
		old, etag, err := readMarkerTag(ctx, js, key)
		if errors.Is(err, objstore.ErrNotFound) {
			opts.IfNoneMatch, opts.IfMatch = true, ""
			continue
		}
		if err != nil {
			return "", false, err
		}
		if old.State != manifest.MarkerFailed {
			return "", false, nil
		}
		below := m.Generation
		if m.State != manifest.MarkerFailed {
			if below, err = e.redriveGeneration(ctx, js); err != nil {
				return "", false, err
			}
		}
		if !old.StaleFailure(below) {
			return "", false, nil
		}
		e.log.Info("replacing a failed marker from before a redrive", "job", js.job, "task", m.Chunk,
			"its_generation", old.Generation, "state", m.State)
		opts.IfNoneMatch, opts.IfMatch = false, etag
	}
	return "", false, fmt.Errorf("writing marker of %s: its key kept changing", m.Chunk)
}

// readMarkerTag reads and decodes the marker at key, with its ETag.
func readMarkerTag(ctx context.Context, js *jobState, key string) (*manifest.ChunkMarker, string, error) {
	body, etag, err := readAllTag(ctx, js.out, key, 256<<20)
	if err != nil {
		return nil, "", err
	}
	m, err := manifest.DecodeMarker(body)
	if err != nil {
		return nil, "", fmt.Errorf("marker %s: %w", key, err)
	}
	return m, etag, nil
}

// hasMarker reports whether the task whose marker is at key has a marker
// that counts: a failed marker from before a redrive does not.
func (e *Engine) hasMarker(ctx context.Context, js *jobState, key string) (bool, error) {
	m, _, err := readMarkerTag(ctx, js, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if m.State != manifest.MarkerFailed {
		return true, nil
	}
	gen, err := e.redriveGeneration(ctx, js)
	if err != nil {
		return false, err
	}
	return !m.StaleFailure(gen), nil
}

// staleFailures collects, during one walk of a job's markers, the tasks
// whose failed marker is from before the job's last redrive. The
// generation is read at the first failed marker, after that marker was
// read: a redrive since then only makes more of them stale.
type staleFailures struct {
	e     *Engine
	js    *jobState
	gen   int64
	read  bool
	tasks []string
}

// stale reports whether m is a stale failed marker, and collects its
// task.
func (s *staleFailures) stale(ctx context.Context, m *manifest.ChunkMarker) (bool, error) {
	if m.State != manifest.MarkerFailed {
		return false, nil
	}
	if !s.read {
		gen, err := s.e.redriveGeneration(ctx, s.js)
		if err != nil {
			return false, err
		}
		s.gen, s.read = gen, true
	}
	if !m.StaleFailure(s.gen) {
		return false, nil
	}
	s.tasks = append(s.tasks, m.Chunk)
	return true, nil
}

// settle settles the collected tasks again (settleMissing: a failed
// marker of the current generation for a task the queue holds dead, an
// enqueue for the others) and returns errRedriven, or nil when the walk
// found none.
func (s *staleFailures) settle(ctx context.Context) error {
	if len(s.tasks) == 0 {
		return nil
	}
	s.e.log.Info("failed markers from before a redrive: their tasks are settled again", "job", s.js.job,
		"tasks", len(s.tasks), "first", s.tasks[0], "generation", s.gen)
	if _, err := s.e.settleMissing(ctx, s.js, s.tasks); err != nil {
		return err
	}
	return fmt.Errorf("%w: %d task(s), the first %s, under generation %d", errRedriven, len(s.tasks), s.tasks[0], s.gen)
}

// commitShuffle returns the ID of the shuffle index whose reduce markers
// the commit of js publishes. For a job that was redriven it first reads
// the whole index and checks that it has every map chunk with shuffle
// output (shuffled, from the commit's walk of the map markers): an index
// built while a map chunk's failed marker was current, before a redrive
// made it stale, lacks that chunk's records (a redrive killed between
// raising the generation and removing the index, or a driver preparing
// the stage while a redrive ran). Such an index and its reduce markers go
// (restartReduce) and the commit returns errRedriven: the stage is
// prepared again over every map chunk. A job never redriven pays one
// request (its missing redrive record).
func (e *Engine) commitShuffle(ctx context.Context, js *jobState, stale *staleFailures, shuffled []bool) (string, error) {
	gen := stale.gen
	if !stale.read {
		var err error
		if gen, err = e.redriveGeneration(ctx, js); err != nil {
			return "", err
		}
	}
	if gen == 0 {
		shuffle, err := e.shuffleID(ctx, js)
		if errors.Is(err, objstore.ErrNotFound) {
			return "", fmt.Errorf("%w: the reduce stage has no shuffle index", ErrNotFinished)
		}
		return shuffle, err
	}
	shuffle, missing, err := e.shuffleLacks(ctx, js, shuffled)
	if errors.Is(err, objstore.ErrNotFound) {
		return "", fmt.Errorf("%w: the reduce stage has no shuffle index", ErrNotFinished)
	} else if err != nil {
		return "", err
	}
	if missing < 0 {
		return shuffle, nil
	}
	e.log.Info("the shuffle index lacks a map chunk that ran again after a redrive: the reduce stage starts over", "job", js.job,
		"chunk", manifest.ChunkID(missing), "index", shuffle)
	if err := e.restartReduce(ctx, js); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%w: shuffle index %s lacks map chunk %s", errRedriven, shuffle, manifest.ChunkID(missing))
}

// shuffleLacks reads js's whole shuffle index, streaming, and returns its
// ID and the first map chunk i with shuffled[i] that it has no entry of
// (-1: none).
func (e *Engine) shuffleLacks(ctx context.Context, js *jobState, shuffled []bool) (_ string, missing int, err error) {
	key := js.layout.ShuffleIndexKey(js.job)
	rc, info, err := js.out.Get(ctx, key, nil)
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("reading the shuffle index %s: %w", key, cerr)
		}
	}()
	// One buffer for the header and every section: the section readers
	// take it as it is (bufio.NewReaderSize of a big enough *bufio.Reader).
	br := bufio.NewReaderSize(rc, 64<<10)
	header := make([]byte, manifest.ShuffleIndexHeaderSize(js.m.Reducers))
	if _, err := io.ReadFull(br, header); err != nil {
		return "", 0, fmt.Errorf("reading the shuffle index %s: %w", key, err)
	}
	offsets, err := manifest.DecodeShuffleIndexHeader(header, js.m.Reducers, info.Size)
	if err != nil {
		return "", 0, functions.Permanent(fmt.Errorf("reading the shuffle index %s: %w", key, err))
	}
	has := make([]bool, len(shuffled))
	for p := range js.m.Reducers {
		sr := manifest.NewShuffleSectionReader(br, offsets[p], offsets[p+1])
		for {
			en, err := sr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", 0, functions.Permanent(fmt.Errorf("reading the shuffle index %s: %w", key, err))
			}
			if en.Chunk < len(has) {
				has[en.Chunk] = true
			}
		}
	}
	for i, want := range shuffled {
		if want && !has[i] {
			return shuffleIDOf(info.ETag), i, nil
		}
	}
	return shuffleIDOf(info.ETag), -1, nil
}

// shuffles reports whether a map chunk's files hold records of some of
// the r reduce partitions: the shuffle index then has an entry of it
// (indexBuilder.add).
func shuffles(files []manifest.OutputFile, r int) bool {
	for _, f := range files {
		for p := 0; p < r && p+1 < len(f.Partitions); p++ {
			if f.Partitions[p+1] > f.Partitions[p] {
				return true
			}
		}
	}
	return false
}
