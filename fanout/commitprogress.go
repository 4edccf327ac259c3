package fanout

import (
	"context"
	"sync/atomic"
	"time"
)

// CommitProgress is how far this engine's commit of a job has got: the
// step it is in and, where the step goes over many items (chunk markers,
// files), how many of them it has done.
type CommitProgress struct {
	// Step is what the commit does now: "reading chunk markers",
	// "merging small files", "publishing files", "writing the commit
	// record" or "writing _SUCCESS".
	Step  string `json:"step"`
	Done  int    `json:"done,omitempty"`
	Total int    `json:"total,omitempty"` // 0: the step has no count
}

// commitSteps holds a job's CommitProgress while this engine commits it.
type commitSteps struct {
	step        atomic.Pointer[string]
	done, total atomic.Int64
}

// begin starts a step of total items (0: not counted).
func (c *commitSteps) begin(step string, total int) {
	c.done.Store(0)
	c.total.Store(int64(total))
	c.step.Store(&step)
}

// add counts n items of the step done.
func (c *commitSteps) add(n int) { c.done.Add(int64(n)) }

// end clears the progress: the commit is over.
func (c *commitSteps) end() { c.step.Store(nil) }

// CommitProgress returns how far the commit of job has got; ok is false
// when nobody is known to commit it. This engine's own commit is read in
// memory; another process's from the queue, when it shares it
// (CommitProgressSharer): a hint, at most a second or so old.
func (e *Engine) CommitProgress(job string) (p CommitProgress, ok bool) {
	if p, ok := e.localCommitProgress(job); ok {
		return p, true
	}
	s, has := e.cfg.Admin.(CommitProgressSharer)
	if !has {
		return p, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p, ok, err := s.SharedCommitProgress(ctx, job)
	if err != nil {
		e.log.Debug("reading the shared commit progress failed", "job", job, "err", err)
		return p, false
	}
	// An empty step is a commit that ended (as an older committer
	// dropped it: shared with a 1ms TTL).
	return p, ok && p.Step != ""
}

// localCommitProgress is how far this engine's commit of job has got; ok
// is false when this engine is not committing it.
func (e *Engine) localCommitProgress(job string) (p CommitProgress, ok bool) {
	js := e.jobs.get(job)
	if js == nil {
		return p, false
	}
	step := js.commitSteps.step.Load()
	if step == nil {
		return p, false
	}
	return CommitProgress{Step: *step, Done: int(js.commitSteps.done.Load()), Total: int(js.commitSteps.total.Load())}, true
}

// commitProgressEvery is how often a committer shares its progress in
// the queue; commitProgressTTL how long what it shared lasts there: as
// long as the commit lease, so that a committer that stops (crash,
// failed commit) is no longer shown once another may commit.
const (
	commitProgressEvery = time.Second
	commitProgressTTL   = commitLeaseTTL
)

// shareCommitProgress shares this engine's progress of js's commit in the
// queue (CommitProgressSharer) now and about once a second until stop is
// called: one small write a second, best effort.
func (e *Engine) shareCommitProgress(ctx context.Context, js *jobState) (stop func()) {
	s, has := e.cfg.Admin.(CommitProgressSharer)
	if !has {
		return func() {}
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	var shared atomic.Bool
	go func() {
		defer close(done)
		t := time.NewTicker(commitProgressEvery)
		defer t.Stop()
		for {
			if p, ok := e.localCommitProgress(js.job); ok {
				shared.Store(true)
				wctx, wcancel := context.WithTimeout(sctx, 2*time.Second)
				if err := s.ShareCommitProgress(wctx, js.job, p, commitProgressTTL); err != nil && sctx.Err() == nil {
					e.log.Debug("sharing the commit progress failed", "job", js.job, "err", err)
				}
				wcancel()
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
		if !shared.Load() {
			return
		}
		// The commit is over (done, refused or failed): what was shared
		// goes now, best effort, not when its TTL ends; else every other
		// process showed a stale step for up to commitProgressTTL. An
		// empty step is the interface's way to drop it (shared with a
		// TTL of 1ms instead, as before, a process reading within that
		// millisecond showed a commit of no step).
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer wcancel()
		if err := s.ShareCommitProgress(wctx, js.job, CommitProgress{}, commitProgressTTL); err != nil {
			e.log.Debug("clearing the shared commit progress failed", "job", js.job, "err", err)
		}
	}
}
