package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fanout-dev/fanout/fanout"
)

// Progress modes (--progress).
const (
	progressAuto  = "auto"  // live on a terminal, plain otherwise
	progressLive  = "live"  // one status line redrawn in place
	progressPlain = "plain" // a line every few seconds
	progressJSON  = "json"  // NDJSON events
	progressNone  = "none"
)

// progress shows a job's progress on stderr from the queue's snapshots
// (every worker's chunks, not only this process's): a live status line
// on a terminal, a plain line every few seconds otherwise, or NDJSON
// events for scripts. The commit is its own phase: once every task has
// settled the line says so and counts the commit's seconds.
type progress struct {
	mode    string
	console *console
	every   time.Duration
	// commitInfo, when set, says how far this process's commit of a job
	// has got (the engine's CommitProgress).
	commitInfo func(job string) (fanout.CommitProgress, bool)

	mu        sync.Mutex
	seen      bool
	first     fanout.Progress
	last      fanout.Progress
	lastAt    time.Time // when last arrived
	commitAt  time.Time // when every task had settled
	lastPrint time.Time
	lastEvent fanout.Progress
	// commit is what commitInfo said at the last tick (commitOK: it knew
	// of a commit); tick asks outside mu, as it may read the queue.
	commit     fanout.CommitProgress
	commitOK   bool
	stop       chan struct{}
	stopped    sync.WaitGroup
	finishOnce sync.Once
}

// newProgress returns a display in mode (progressAuto and friends).
func newProgress(mode string, c *console) (*progress, error) {
	switch mode {
	case progressAuto, "":
		mode = progressPlain
		if c.tty {
			mode = progressLive
		}
	case progressLive, progressPlain, progressJSON, progressNone:
	default:
		return nil, usagef("--progress %q: want auto, live, plain, json or none", mode)
	}
	p := &progress{mode: mode, console: c, every: plainEvery, stop: make(chan struct{})}
	if mode == progressLive || mode == progressPlain {
		tick := time.Second
		if mode == progressPlain {
			tick = plainEvery
		}
		p.stopped.Add(1)
		go p.tick(tick)
	}
	return p, nil
}

// plainEvery is the interval of plain progress lines.
const plainEvery = 3 * time.Second

// tick redraws the line between snapshots (the commit sends none).
func (p *progress) tick(every time.Duration) {
	defer p.stopped.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			job, committing := p.last.Job, p.seen && !p.commitAt.IsZero()
			p.mu.Unlock()
			var c fanout.CommitProgress
			ok := false
			if committing && p.commitInfo != nil {
				c, ok = p.commitInfo(job) // may be a Redis GET: not under mu
			}
			p.mu.Lock()
			p.commit, p.commitOK = c, ok
			p.showLocked(false)
			p.mu.Unlock()
		}
	}
}

// update takes a snapshot of the job (called after each look at it).
func (p *progress) update(s fanout.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !p.seen {
		p.seen, p.first = true, s
		p.emitLocked(map[string]any{"event": "planned", "job": s.Job, "chunks": s.Chunks, "map_chunks": s.MapChunks,
			"bytes": s.BytesTotal, "done": s.Done})
	}
	p.last, p.lastAt = s, now
	if settled(s) && p.commitAt.IsZero() {
		p.commitAt = now
		p.emitCountsLocked(s)
		p.emitLocked(map[string]any{"event": "commit", "job": s.Job})
	} else if !settled(s) {
		p.commitAt = time.Time{}
		p.emitCountsLocked(s)
	}
	p.showLocked(true)
}

// settled reports whether every task has settled: what is left is the
// commit.
func settled(s fanout.Progress) bool {
	return mapSettled(s) && !s.CompactionAhead
}

// mapSettled reports whether every task counted so far has settled (a
// compaction stage may still come).
func mapSettled(s fanout.Progress) bool {
	return s.Chunks > 0 && s.Pending == 0 && s.Running == 0 && s.Done+s.Dead >= s.Chunks
}

// chunk reports one of this process's attempts (mode json).
func (p *progress) chunk(ev fanout.ChunkEvent) {
	if p.mode != progressJSON {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emitLocked(map[string]any{"event": "chunk", "job": ev.Job, "chunk": ev.Chunk, "outcome": ev.Outcome,
		"records_in": ev.RecordsIn, "records_out": ev.RecordsOut, "bytes_in": ev.BytesIn,
		"duration_ms": ev.Duration.Milliseconds(), "retry": ev.Retry, "backup": ev.Backup})
}

func (p *progress) emitCountsLocked(s fanout.Progress) {
	l := p.lastEvent
	if l.Chunks == s.Chunks && l.CompactionAhead == s.CompactionAhead && l.Done == s.Done && l.Dead == s.Dead && l.Running == s.Running && l.Retrying == s.Retrying && l.Pending == s.Pending &&
		l.RecordsIn == s.RecordsIn && l.RecordsOut == s.RecordsOut && l.BytesIn == s.BytesIn {
		return
	}
	p.lastEvent = s
	p.emitLocked(map[string]any{"event": "progress", "job": s.Job, "chunks": s.Chunks, "done": s.Done, "failed": s.Dead,
		"running": s.Running, "retrying": s.Retrying, "pending": s.Pending, "records_in": s.RecordsIn, "records_out": s.RecordsOut,
		"bytes_in": s.BytesIn, "compact_tasks": s.CompactTasks, "compaction_ahead": s.CompactionAhead, "elapsed_ms": s.Elapsed.Milliseconds()})
}

func (p *progress) emitLocked(ev map[string]any) {
	if p.mode != progressJSON {
		return
	}
	ev["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(ev)
	p.console.Write(append(b, '\n'))
}

// showLocked draws the line: always on a terminal, and in plain mode
// when the interval has passed (or, when fresh, at the first snapshot).
func (p *progress) showLocked(fresh bool) {
	if !p.seen {
		return
	}
	switch p.mode {
	case progressLive:
		p.console.status(p.lineLocked())
	case progressPlain:
		if fresh && !p.lastPrint.IsZero() && time.Since(p.lastPrint) < p.every {
			return
		}
		if !fresh && time.Since(p.lastPrint) < p.every {
			return
		}
		p.lastPrint = time.Now()
		p.console.println(p.lineLocked())
	}
}

// lineLocked renders the last snapshot.
func (p *progress) lineLocked() string {
	s := p.last
	if !p.commitAt.IsZero() {
		unit := "chunks"
		if s.CompactTasks > 0 {
			unit = "tasks"
		}
		step := ""
		if c := p.commit; p.commitOK {
			step = ": " + c.Step
			if c.Total > 0 {
				step += fmt.Sprintf(" %d/%d", c.Done, c.Total)
			}
		}
		return fmt.Sprintf("job %s: %d/%d %s done%s, %d records in, %d out; committing%s (%s)", s.Job, s.Done, s.Chunks, unit,
			failedNote(s.Dead), s.RecordsIn, s.RecordsOut, step, time.Since(p.commitAt).Round(time.Second))
	}
	if mapSettled(s) && s.CompactionAhead {
		return fmt.Sprintf("job %s: %d/%d chunks done%s, %d records in, %d out; planning the compaction stage (merging small files)", s.Job, s.Done, s.Chunks,
			failedNote(s.Dead), s.RecordsIn, s.RecordsOut)
	}
	var b strings.Builder
	if s.CompactTasks > 0 {
		// The compaction stage, planned at the map stage's end, adds its
		// tasks to the total.
		fmt.Fprintf(&b, "job %s: %d/%d tasks done (%d chunks, %d compaction tasks), %d running", s.Job, s.Done, s.Chunks,
			s.Chunks-s.CompactTasks, s.CompactTasks, s.Running)
	} else {
		fmt.Fprintf(&b, "job %s: %d/%d chunks done, %d running", s.Job, s.Done, s.Chunks, s.Running)
	}
	if s.Retrying > 0 {
		fmt.Fprintf(&b, ", %d retrying", s.Retrying)
	}
	b.WriteString(failedNote(s.Dead))
	switch {
	case s.BytesIn > 0 || s.RecordsIn > 0:
		// Every worker's, counted as their chunks publish.
		fmt.Fprintf(&b, "; %d records in, %d out, %s of %s read", s.RecordsIn, s.RecordsOut, humanBytes(s.BytesIn), humanBytes(s.BytesTotal))
	case s.MapChunks > 0 && s.BytesTotal > 0:
		mapDone := min(s.Done, s.MapChunks)
		fmt.Fprintf(&b, "; ~%s of %s read", humanBytes(s.BytesTotal*int64(mapDone)/int64(s.MapChunks)), humanBytes(s.BytesTotal))
	}
	if eta := p.etaLocked(); eta != "" {
		b.WriteString("; ETA " + eta)
	}
	if p.first.Done > 0 {
		fmt.Fprintf(&b, " (resumed at %d)", p.first.Done)
	}
	return b.String()
}

func failedNote(dead int) string {
	if dead == 0 {
		return ""
	}
	return fmt.Sprintf(", %d failed", dead)
}

// etaLocked estimates the time left from this run's pace (a resumed
// job's chunks done before do not count).
func (p *progress) etaLocked() string {
	s := p.last
	done := s.Done + s.Dead - p.first.Done - p.first.Dead
	el := s.Elapsed - p.first.Elapsed
	left := s.Chunks - s.Done - s.Dead
	if done <= 0 || el <= 0 || left <= 0 {
		return ""
	}
	return time.Duration(float64(el) / float64(done) * float64(left)).Round(time.Second).String()
}

// resumedAt returns how many tasks were done when this process first
// looked at the job, and whether it looked at all (a job committed
// before is never looked at while running).
func (p *progress) resumedAt() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first.Done, p.seen
}

// snapshot returns the last snapshot, and whether there was one.
func (p *progress) snapshot() (fanout.Progress, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.seen
}

// finish removes the live line and stops redrawing; in mode json it
// writes the last event. It never blocks on the display.
func (p *progress) finish(res fanout.Result, err error, interrupted bool) {
	p.finishOnce.Do(func() {
		close(p.stop)
		p.stopped.Wait()
		p.console.endStatus()
		ev := map[string]any{"event": "done", "job": res.Job, "state": res.State}
		if interrupted && res.State != fanout.StateCommitted {
			ev["state"] = "interrupted"
		}
		if res.State == fanout.StateCommitted {
			ev["records_in"], ev["records_out"], ev["files"] = res.RecordsIn, res.RecordsOut, res.Files
		}
		if err != nil {
			ev["error"] = err.Error()
		}
		p.mu.Lock()
		p.emitLocked(ev)
		p.mu.Unlock()
	})
}
