package fanout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// errStageNotReady reports a reduce or compaction task claimed before
// its job's shuffle index or compaction plan exists; the lease is given
// back without a failure.
var errStageNotReady = errors.New("fanout: reduce or compaction stage not ready")

// defaultReducers picks the number of reduce partitions from the input
// size: one per 512 MiB, at least 1, at most 256.
func defaultReducers(bytes int64) int {
	return int(min(max(1, (bytes+(512<<20)-1)/(512<<20)), 256))
}

// reducerOf returns the task's Reducer when the function aggregates.
func reducerOf(t functions.Task) (functions.Reducer, bool) {
	r, ok := t.(functions.Reducer)
	return r, ok
}

// reduceIDs lists the job's reduce task IDs.
func (js *jobState) reduceIDs() []string {
	ids := make([]string, js.m.Reducers)
	for i := range ids {
		ids[i] = manifest.ReduceTaskID(i)
	}
	return ids
}

// shuffleID names the version of the job's shuffle index that exists now
// (ErrNotFound when none does): a short hash of its ETag, safe in a key.
// The index is created once (If-None-Match: *) and only a redrive
// deletes it, so its ETag tells one preparation of the reduce stage from
// the next. Reduce markers live under their index's ID
// (Layout.ReduceMarkerKey): an attempt paused across a redrive that
// publishes what it merged from the old index publishes where no one
// looks.
func (e *Engine) shuffleID(ctx context.Context, js *jobState) (string, error) {
	info, err := js.out.Stat(ctx, js.layout.ShuffleIndexKey(js.job))
	if err != nil {
		return "", err
	}
	return shuffleIDOf(info.ETag), nil
}

func shuffleIDOf(etag string) string {
	sum := sha256.Sum256([]byte(etag))
	return "s" + hex.EncodeToString(sum[:8])
}

// prepareReduce creates the shuffle index (once, with If-None-Match: *)
// from the map markers. It reports tooMany, creating nothing, when more
// map chunks failed than the job tolerates.
func (e *Engine) prepareReduce(ctx context.Context, js *jobState) (tooMany bool, err error) {
	key := js.layout.ShuffleIndexKey(js.job)
	// The index builder spills past its budget, so that memory does not
	// grow with the number of map chunks.
	idx := newIndexBuilder(js.m.Reducers, indexBuildBudget)
	defer idx.close()
	exists, tooMany, err := e.walkDoneMapMarkers(ctx, js, key, func(m *manifest.ChunkMarker) error {
		for _, f := range m.Files {
			if err := idx.add(m.Chunk, f); err != nil {
				return functions.Permanent(fmt.Errorf("job %s: %w", js.job, err))
			}
		}
		return nil
	})
	if exists || tooMany || err != nil {
		return tooMany, err
	}
	_, err = idx.put(ctx, js.out, key)
	if err != nil && !errors.Is(err, objstore.ErrPrecondition) { // 412: another driver wrote the index
		return false, fmt.Errorf("writing the shuffle index: %w", err)
	}
	return false, nil
}

// restartReduce removes the job's shuffle index, then every reduce
// marker, so that the reduce stage is prepared again from the map markers
// as they will be (a redrive, a map chunk given back at the commit). A
// reduce attempt that read the old index publishes under its ID, where
// the commit does not look unless the new index is the same.
func (e *Engine) restartReduce(ctx context.Context, js *jobState) error {
	if err := js.out.Delete(ctx, js.layout.ShuffleIndexKey(js.job)); err != nil {
		return fmt.Errorf("deleting %s: %w", js.layout.ShuffleIndexKey(js.job), err)
	}
	e.removePrefix(ctx, js.out, js.layout.ReduceMarkerPrefix(js.job))
	return nil
}

// walkDoneMapMarkers is the first half of preparing a stage that is built
// once from the map markers (the shuffle index, the compaction plan),
// whose object is key: it reports exists when key is there already;
// otherwise it calls each with every done map marker, a page at a time
// (walkMarkers), counts the failed ones on the way, and reports tooMany
// when more map chunks failed than the job tolerates. Failed markers from
// before a redrive make it settle their chunks again and return
// errRedriven (generation.go).
func (e *Engine) walkDoneMapMarkers(ctx context.Context, js *jobState, key string, each func(*manifest.ChunkMarker) error) (exists, tooMany bool, err error) {
	if _, err := js.out.Stat(ctx, key); err == nil {
		return true, false, nil
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return false, false, err
	}
	allowed, err := manifest.ParseMaxFailed(js.m.Spec.MaxFailed, js.m.Chunks)
	if err != nil {
		return false, false, functions.Permanent(err)
	}
	failed := 0
	stale := staleFailures{e: e, js: js}
	err = e.walkMarkers(ctx, js, js.m.Chunks, manifest.ChunkID, func(id string) string { return js.layout.MarkerKey(js.job, id) },
		func(m *manifest.ChunkMarker) error {
			if m.State != manifest.MarkerDone {
				if s, err := stale.stale(ctx, m); err != nil || s {
					return err // from before a redrive: its chunk runs again
				}
				failed++
				return nil
			}
			return each(m)
		})
	if err != nil {
		return false, false, err
	}
	if err := stale.settle(ctx); err != nil {
		return false, false, err
	}
	return false, failed > allowed, nil
}

// prepareAndOpenShuffle creates the shuffle index from the map markers
// and opens partition part's slice of it. Map chunks still without a
// marker (running again after a redrive) give errStageNotReady, which
// releases the task; more failed map chunks than the job tolerates fail
// it for good (the commit reports them).
func (e *Engine) prepareAndOpenShuffle(ctx context.Context, js *jobState, part int) (*shuffleSlice, string, error) {
	tooMany, err := e.prepareReduce(ctx, js)
	switch {
	case errors.Is(err, ErrNotFinished):
		return nil, "", errStageNotReady
	case err != nil:
		return nil, "", err
	case tooMany:
		return nil, "", functions.Permanent(fmt.Errorf("job %s: more map chunks failed than --max-failed allows: nothing to reduce", js.job))
	}
	return e.openShuffleSlice(ctx, js, part)
}

// processReduce merges one reduce partition over every map chunk's shuffle
// file, finishes the merged rows into the job's output format under the
// attempt's staging prefix, and publishes the task's marker.
func (e *Engine) processReduce(ctx context.Context, js *jobState, lease Lease, stats *WorkStats, ev *ChunkEvent) error {
	started := time.Now().UTC()
	part, err := manifest.ReduceIndex(lease.Chunk)
	if err != nil || part >= js.m.Reducers {
		return functions.Permanent(fmt.Errorf("job %s has no reduce task %q", js.job, lease.Chunk))
	}
	spec := js.m.Spec
	task, err := js.fn.Prepare(functions.Params{Args: spec.Args, Input: js.schema, InputFormat: js.m.Format})
	if err != nil {
		return functionError(spec.Function, err)
	}
	red, ok := reducerOf(task)
	if !ok {
		return functions.Permanent(fmt.Errorf("function %s does not aggregate", spec.Function))
	}
	slice, shuffle, err := e.openShuffleSlice(ctx, js, part)
	if errors.Is(err, objstore.ErrNotFound) {
		// Not prepared yet (a redrive removed it, or the task was
		// enqueued by a process that saw the index before): prepare it
		// here when the map stage is complete, so that a reduce task
		// never waits for a driver that only looks while nothing is
		// pending.
		slice, shuffle, err = e.prepareAndOpenShuffle(ctx, js, part)
	}
	if err != nil {
		return err
	}
	defer slice.Close()
	// The marker names the index this attempt merges.
	markerKey := js.layout.ReduceMarkerKey(js.job, shuffle, lease.Chunk)
	if has, err := e.hasMarker(ctx, js, markerKey); err != nil {
		return err
	} else if has { // a failed marker from before a redrive does not count
		stats.Skipped.Add(1)
		ev.Outcome = OutcomeSkipped
		return nil
	}
	codec := rowCodec{schema: task.Output(), keys: red.KeyColumns()}
	merger := newGroupMerger(codec, red)
	streams, err := mergeSlice(ctx, js, part, e.cfg.MergeFanIn, merger, slice)
	if err != nil {
		if errors.Is(err, errCorruptShuffle) {
			err = functions.Permanent(err)
		}
		return fmt.Errorf("reduce %s: %w", lease.Chunk, err)
	}
	staging := attemptPrefix(js, lease)
	out, err := newStagedOutput(ctx, js, e.outputTask(staging, lease.Chunk, red.Final()))
	if err != nil {
		for _, s := range streams {
			s.Close()
		}
		return err
	}
	var groups int64
	err = mergeStreams(streams, func(_ int, key []byte, vals func(func([]byte) bool)) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := merger.fold(key, vals); err != nil {
			return err
		}
		groups++
		return red.Finish(merger.acc, out)
	})
	if err != nil {
		out.Abort()
		e.removePrefix(context.WithoutCancel(ctx), js.out, staging)
		if errors.Is(err, errCorruptShuffle) {
			err = functions.Permanent(err)
		}
		return fmt.Errorf("reduce %s: %w", lease.Chunk, err)
	}
	files, err := out.Close()
	if err != nil {
		e.removePrefix(context.WithoutCancel(ctx), js.out, staging)
		return fmt.Errorf("reduce %s: %w", lease.Chunk, err)
	}
	if err := ctx.Err(); err != nil {
		e.discardAttempt(ctx, js, staging, files) // see processChunk
		return err
	}
	m := &manifest.ChunkMarker{
		Version: manifest.Version, Job: js.job, Chunk: lease.Chunk, Epoch: lease.Epoch, Worker: lease.Worker,
		State: manifest.MarkerDone, Files: files, RecordsIn: groups, RecordsOut: out.rows,
		Started: started, Finished: time.Now().UTC(), Attempts: lease.Deliveries,
		Backup: ev.Backup, MemoryMB: e.cfg.MemoryMB, Shuffle: shuffle,
	}
	if won, err := e.publish(ctx, js, lease, markerKey, staging, m, stats, ev); !won {
		return err
	}
	ev.RecordsIn, ev.RecordsOut = groups, out.rows
	return nil
}
