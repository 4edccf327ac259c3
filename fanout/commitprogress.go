package fanout

import "sync/atomic"

// CommitProgress is how far this engine's commit of a job has got: the
// step it is in and, where the step goes over many items (chunk markers,
// files), how many of them it has done.
type CommitProgress struct {
	// Step is what the commit does now: "reading chunk markers",
	// "merging small files", "publishing files", "writing the commit
	// record" or "writing _SUCCESS".
	Step  string
	Done  int
	Total int // 0: the step has no count
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

// CommitProgress returns how far this engine's commit of job has got; ok
// is false when this engine is not committing it (another process may be).
func (e *Engine) CommitProgress(job string) (p CommitProgress, ok bool) {
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
