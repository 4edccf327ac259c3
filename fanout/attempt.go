package fanout

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/fanout-dev/fanout/manifest"
)

// publish is the last step of every attempt, map chunk or reduce task:
// it creates the task's marker m at key create-only (If-None-Match: *),
// the fence that lets exactly one attempt's output into the commit, and
// reports whether this attempt won. A loser's staged files under staging
// and its open uploads are garbage no marker names: it removes and aborts
// them itself, since the commit that cleans up may be over, and counts
// itself skipped. A marker write that failed leaves them unless the
// marker exists and names none of them (discardBeaten): the write may
// still land.
//
// Just before the marker write the attempt confirms its lease with a
// heartbeat (lease is the attempt's, a backup's task named by its chunk)
// unless the lease is fresh (claimed or renewed less than a quarter of
// its duration before: heartbeat.fresh, it has not expired):
// an attempt whose lease is lost, or whose job was cancelled and dropped
// from the queue (cancel.go), publishes nothing and returns an error
// matching ErrLeaseLost. A queue that does not answer does not stop it:
// the queue holds hints, the marker's create-only write is the fence.
func (e *Engine) publish(ctx context.Context, js *jobState, lease Lease, key, staging string, m *manifest.ChunkMarker, stats *WorkStats, ev *ChunkEvent) (bool, error) {
	task := lease
	if ev.Backup {
		task.Chunk = BackupTask(lease.Chunk)
	}
	if !ev.hb.fresh() {
		if _, err := e.cfg.Queue.Heartbeat(ctx, task); errors.Is(err, ErrLeaseLost) {
			e.discardAttempt(ctx, js, staging, m.Files, m.RejectedFiles)
			return false, err
		}
	}
	won, err := e.createMarker(ctx, js, key, m)
	if err != nil {
		e.discardBeaten(context.WithoutCancel(ctx), js, key, staging, m)
		return false, err
	}
	if !won {
		e.discardAttempt(ctx, js, staging, m.Files, m.RejectedFiles)
		// Another attempt finished first, or the task failed for good
		// under the job's current redrive generation (a failed marker
		// from before a redrive was replaced: createMarkerTag).
		stats.Skipped.Add(1)
		ev.Outcome = OutcomeSkipped
		return false, nil
	}
	stats.Chunks.Add(1)
	e.countTask(ctx, js, m, ev)
	return true, nil
}

// countTask adds a published task's records and bytes to its job's
// counts in the queue (TaskCounter), for every process's progress: a map
// chunk's input, and the job's output records (a map chunk's of a
// map-only job, a reduce task's of an aggregating one). Best effort: the
// counts are hints, the commit record holds the truth. A queue that acks
// and counts in one round trip (AckCounter) gets them with the ack: they
// wait in ev until the attempt settles (settle, or countLeft when the
// lease is lost before).
func (e *Engine) countTask(ctx context.Context, js *jobState, m *manifest.ChunkMarker, ev *ChunkEvent) {
	counter, ok := e.cfg.Queue.(TaskCounter)
	_, acks := e.cfg.Queue.(AckCounter)
	if !ok && !acks {
		return
	}
	var c TaskCounts
	switch {
	case manifest.IsCompactTask(m.Chunk):
		return // its rows were counted by their map chunks
	case manifest.IsReduceTask(m.Chunk):
		c.RecordsOut = m.RecordsOut
	case js.m.Reducers > 0:
		c.RecordsIn, c.BytesIn = m.RecordsIn, m.BytesIn
	default:
		c.RecordsIn, c.RecordsOut, c.BytesIn = m.RecordsIn, m.RecordsOut, m.BytesIn
	}
	if acks {
		ev.counts = &c
		return
	}
	if err := counter.CountTask(ctx, js.job, m.Chunk, c); err != nil {
		e.log.Debug("counting the task's records in the queue failed", "job", js.job, "chunk", m.Chunk, "err", err)
	}
}

// discardBeaten removes an attempt's staged files after its marker write
// failed, when the marker exists and names none of them: nothing can
// commit those files, and the commit that removes staging may be over. A
// missing marker leaves them, since the write may still land (a request
// cut off in flight); the commit removes them otherwise.
func (e *Engine) discardBeaten(ctx context.Context, js *jobState, markerKey, staging string, mine *manifest.ChunkMarker) {
	body, err := readAll(ctx, js.out, markerKey, 256<<20)
	if err != nil {
		return
	}
	m, err := manifest.DecodeMarker(body)
	if err != nil {
		return
	}
	ours := map[string]bool{}
	for _, f := range append(slices.Clone(mine.Files), mine.RejectedFiles...) {
		if f.Upload != nil {
			ours[f.Upload.ID] = true
		}
	}
	for _, f := range append(m.Files, m.Rejections.RejectedFiles...) {
		if strings.HasPrefix(f.Key, staging) || f.Upload != nil && ours[f.Upload.ID] {
			return // this attempt's marker after all
		}
	}
	e.discardAttempt(ctx, js, staging, mine.Files, mine.RejectedFiles)
}

// countLeft counts a published task whose counts wait for an ack that
// will not come (the lease was lost after the marker was written).
func (e *Engine) countLeft(ctx context.Context, lease Lease, ev *ChunkEvent) {
	counter, ok := e.cfg.Queue.(TaskCounter)
	if !ok || ev.counts == nil {
		return
	}
	chunk := lease.Chunk
	if base, ok := BackupOf(chunk); ok {
		chunk = base
	}
	if err := counter.CountTask(ctx, lease.Job, chunk, *ev.counts); err != nil {
		e.log.Debug("counting the task's records in the queue failed", "job", lease.Job, "chunk", chunk, "err", err)
	}
}
