package dashboard

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/fanout"
)

// sample is one look at a job's counts, for the charts.
type sample struct {
	At       time.Time `json:"t"`
	Done     int       `json:"done"`
	Running  int       `json:"running"`
	Retrying int       `json:"retrying"`
	Pending  int       `json:"pending"` // waiting, not retrying
	Dead     int       `json:"dead"`
}

// historyLen bounds a job's samples: when full, every other one goes, so
// that a long job keeps its whole history at a coarser grain.
const historyLen = 600

// entry is what the sampler knows of one job.
type entry struct {
	ov      fanout.Overview
	err     string
	history []sample
	// inQueue is true while the queue lists the job; seen is when it last
	// did (or when the job was last found under an output prefix).
	inQueue bool
	seen    time.Time
	// markers is a sample of the job's chunk markers (records, Lambda
	// time), read at sampledAt when sampledDone tasks were done.
	markers     fanout.MarkerSample
	sampledAt   time.Time
	sampledDone int
	// changed is when the last look found the job's state or counts
	// different from the look before.
	changed time.Time
	// partitions summarises the commit record's files per partition
	// (ov.Commit keeps only what slimCommit leaves of the record).
	partitions     []Partition
	partitionCount int
}

// markerSample is how many markers a sample reads; a full sample is
// read again every resampleFull, a partial one every resamplePartial,
// and only when more tasks are done than at the last.
const (
	markerSample    = 16
	resampleFull    = time.Minute
	resamplePartial = 5 * time.Second
)

// wantsSample reports whether the job's markers are worth sampling now.
func (e *entry) wantsSample(now time.Time) bool {
	ov := e.ov
	if ov.Final() || ov.Done <= e.sampledDone || ov.MapChunks == 0 {
		return false
	}
	every := resampleFull
	if e.markers.Markers < markerSample {
		every = resamplePartial
	}
	return now.Sub(e.sampledAt) >= every
}

// settledAfter is how long a job the queue holds stays failed or
// committing, unchanged, before it is looked at every ownerEvery looks
// rather than every look: each look at it reads the commit and owner
// records (two GETs), and it changes only when something commits or
// redrives it.
const settledAfter = 30 * time.Second

// settled reports whether the job has sat failed or committing,
// unchanged, for settledAfter.
func (e *entry) settled(now time.Time) bool {
	return (e.ov.State == fanout.StateFailed || e.ov.State == fanout.StateCommitting) && e.err == "" &&
		!e.changed.IsZero() && now.Sub(e.changed) >= settledAfter
}

// record adds s to the history, halving it when full.
func (e *entry) record(s sample) {
	if n := len(e.history); n > 0 && s.At.Sub(e.history[n-1].At) < time.Second/2 {
		e.history[n-1] = s // a second look within the same beat replaces it
		return
	}
	if len(e.history) == historyLen {
		kept := e.history[:0]
		for i := 0; i < historyLen; i += 2 {
			kept = append(kept, e.history[i])
		}
		e.history = kept
	}
	e.history = append(e.history, s)
}

// sampler looks at every job every interval, so that what the pages show
// costs the same whoever watches: requests are served from its last
// look. It is the dashboard's only goroutine; Run owns it.
type sampler struct {
	cfg  Config
	wake chan struct{}

	// children maps the output directories found under cfg.Outputs to
	// the job owning each ("" when none did when last read); discovered
	// is when they were last listed. Only look touches them.
	children   map[string]string
	discovered time.Time

	mu   sync.Mutex
	jobs map[string]*entry
	// errs says what the last look could not do (the queue was down).
	errs string
	at   time.Time
}

func newSampler(cfg Config) *sampler {
	return &sampler{cfg: cfg, wake: make(chan struct{}, 1), jobs: map[string]*entry{}, children: map[string]string{}}
}

// poke makes the next look happen now and look at job (after an
// action on it).
func (s *sampler) poke(job string) {
	s.mu.Lock()
	if e := s.jobs[job]; e != nil {
		e.changed = time.Now()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run looks every interval until ctx ends.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	n := 0
	for {
		s.look(ctx, n%ownerEvery == 0)
		n++
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// ownerEvery is how many looks pass between two reads of the owner
// records of the output prefixes (a GET each); childrenEvery is how
// often the directories under them are listed again (a LIST per 1,000,
// and a GET per directory not seen before or without an owner then).
const (
	ownerEvery    = 5
	childrenEvery = 30 * time.Second
)

// lookParallelism bounds the jobs looked at at once.
const lookParallelism = 8

// look refreshes every job the queue holds, every job it held that has
// not committed, and (when owners is set) the owner jobs of the output
// prefixes.
func (s *sampler) look(ctx context.Context, owners bool) {
	specs, qerr := s.cfg.Admin.Jobs(ctx)
	type target struct {
		spec fanout.JobQueueSpec
		out  string // set for a job looked at by its output
	}
	var targets []target
	inQueue := map[string]bool{}
	now := time.Now()
	s.mu.Lock()
	for _, sp := range specs {
		inQueue[sp.Job] = true
		if e := s.jobs[sp.Job]; e == nil || owners || !e.settled(now) {
			targets = append(targets, target{spec: sp})
		}
	}
	for job, e := range s.jobs {
		if qerr != nil && e.inQueue {
			inQueue[job] = true // as far as anyone knows
		}
		// A job the queue no longer holds is looked at by its output
		// (three GETs) at once when it leaves the queue, then every
		// ownerEvery looks: only a redrive, which queues it again,
		// changes a failed job.
		if !inQueue[job] && !e.ov.Final() && e.ov.Output != "" && (owners || e.inQueue) {
			targets = append(targets, target{spec: fanout.JobQueueSpec{Job: job}, out: e.ov.Output})
		}
	}
	s.mu.Unlock()
	if owners {
		for _, out := range s.cfg.Outputs {
			job, err := s.cfg.Engine.OutputOwner(ctx, out)
			if err != nil || inQueue[job] {
				continue
			}
			s.mu.Lock()
			e := s.jobs[job]
			if e != nil {
				e.seen = time.Now()
			}
			s.mu.Unlock()
			if e == nil {
				targets = append(targets, target{spec: fanout.JobQueueSpec{Job: job}, out: out})
			}
		}
		if time.Since(s.discovered) >= childrenEvery {
			s.discovered = time.Now()
			for _, c := range s.discover(ctx, inQueue) {
				targets = append(targets, target{spec: fanout.JobQueueSpec{Job: c.job}, out: c.out})
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lookParallelism)
	for _, tg := range targets {
		g.Go(func() error {
			var ov fanout.Overview
			var err error
			if tg.out == "" {
				ov, err = s.cfg.Engine.Overview(gctx, tg.spec)
			} else {
				ov, err = s.cfg.Engine.OverviewAt(gctx, tg.out, tg.spec.Job)
			}
			s.update(tg.spec.Job, ov, err, inQueue[tg.spec.Job])
			if err == nil {
				s.sample(gctx, tg.spec.Job)
			}
			return nil
		})
	}
	g.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs, s.at = "", time.Now()
	if qerr != nil {
		// What the queue held before still stands: an outage is not a
		// job leaving the queue.
		s.errs = "listing the queue's jobs: " + s.cfg.Engine.Redact(qerr.Error())
		return
	}
	for job, e := range s.jobs {
		e.inQueue = inQueue[job]
	}
	s.trim()
}

// child is a job found by its output directory under an output prefix.
type child struct{ out, job string }

// discover lists the last cfg.Recent directories under each output
// prefix that is not itself a job's output and returns the jobs that own those not seen before (or without
// an owner record when last seen), unless the queue holds them. It
// forgets the directories that left the window.
func (s *sampler) discover(ctx context.Context, inQueue map[string]bool) []child {
	window := map[string]bool{}
	var found []child
	for _, base := range s.cfg.Outputs {
		if !strings.HasSuffix(base, "/") {
			continue
		}
		if _, err := s.cfg.Engine.OutputOwner(ctx, base); err == nil {
			continue // a job's output: its directories are partitions
		}
		outs, err := s.cfg.Engine.OutputsUnder(ctx, base, s.cfg.Recent)
		if err != nil {
			s.cfg.Logger.Warn("dashboard: listing the outputs under a prefix", "prefix", base, "error", s.cfg.Engine.Redact(err.Error()))
			continue
		}
		for _, out := range outs {
			window[out] = true
			if job, ok := s.children[out]; ok && job != "" {
				continue
			}
			job, err := s.cfg.Engine.OutputOwner(ctx, out)
			if err != nil {
				s.children[out] = ""
				continue
			}
			s.children[out] = job
			if !inQueue[job] {
				found = append(found, child{out: out, job: job})
			}
		}
	}
	for out := range s.children {
		if !window[out] {
			delete(s.children, out)
		}
	}
	return found
}

// update stores one look at a job.
func (s *sampler) update(job string, ov fanout.Overview, err error, inQueue bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.jobs[job]
	if e == nil {
		if err != nil && errors.Is(err, fanout.ErrUnknownJob) {
			return
		}
		e = &entry{}
		s.jobs[job] = e
	}
	e.seen, e.inQueue = now, inQueue
	if err != nil {
		e.err = s.cfg.Engine.Redact(err.Error())
		if e.ov.Job == "" {
			e.ov = ov
		}
		return
	}
	if ov.Commit != nil {
		e.partitions, e.partitionCount = partitions(ov.Commit)
		ov.Commit = slimCommit(ov.Commit)
	}
	if ov.State != e.ov.State || ov.Queue != e.ov.Queue || e.changed.IsZero() {
		e.changed = now
	}
	e.ov, e.err = ov, ""
	q := ov.Queue
	e.record(sample{At: now, Done: ov.Done, Running: q.Running, Retrying: q.Retrying, Pending: q.Pending - q.Retrying, Dead: q.Dead})
}

// sample reads a few of the job's markers when they are due.
func (s *sampler) sample(ctx context.Context, job string) {
	now := time.Now()
	s.mu.Lock()
	e := s.jobs[job]
	if e == nil || !e.wantsSample(now) {
		s.mu.Unlock()
		return
	}
	out, done := e.ov.Output, e.ov.Done
	e.sampledAt = now // also when it fails: not again at once
	s.mu.Unlock()
	m, err := s.cfg.Engine.SampleMarkers(ctx, out, job, markerSample)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e.markers, e.sampledDone = m, done
}

// trim forgets the jobs beyond cfg.Recent that the queue no longer
// holds, least recently seen first.
func (s *sampler) trim() {
	var gone []string
	for job, e := range s.jobs {
		if !e.inQueue {
			gone = append(gone, job)
		}
	}
	if len(gone) <= s.cfg.Recent {
		return
	}
	slices.SortFunc(gone, func(a, b string) int { return s.jobs[b].seen.Compare(s.jobs[a].seen) })
	for _, job := range gone[s.cfg.Recent:] {
		delete(s.jobs, job)
	}
}

// get returns a copy of a job's entry.
func (s *sampler) get(job string) (entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.jobs[job]
	if e == nil {
		return entry{}, false
	}
	c := *e
	c.history = slices.Clone(e.history)
	return c, true
}

// all returns a copy of every entry (without histories) and the last
// look's error and time.
func (s *sampler) all() ([]entry, string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]entry, 0, len(s.jobs))
	for _, e := range s.jobs {
		c := *e
		c.history = slices.Clone(e.history[max(len(e.history)-rateSamples, 0):])
		out = append(out, c)
	}
	return out, s.errs, s.at
}
