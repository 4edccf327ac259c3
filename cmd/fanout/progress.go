package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/fanout-dev/fanout/fanout"
)

// progress shows a job's progress on stderr: a live bar on a terminal,
// a plain line every few seconds otherwise.
type progress struct {
	enabled bool
	tty     bool
	stats   *fanout.WorkStats

	mu        sync.Mutex
	p         *mpb.Progress
	bar       *mpb.Bar
	lastPrint time.Time
	last      fanout.Progress
}

func newProgress(enabled bool, stats *fanout.WorkStats) *progress {
	fi, err := os.Stderr.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	return &progress{enabled: enabled, tty: tty, stats: stats}
}

func (p *progress) update(s fanout.Progress) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = s
	if p.tty {
		if p.bar == nil {
			p.p = mpb.New(mpb.WithOutput(os.Stderr), mpb.WithWidth(40))
			p.bar = p.p.AddBar(int64(s.Chunks),
				mpb.PrependDecorators(decor.Name("job "+s.Job+" "), decor.CountersNoUnit("%d/%d chunks")),
				mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return p.detail() + p.eta() })),
			)
		}
		p.bar.SetCurrent(int64(s.Done + s.Dead))
		return
	}
	if time.Since(p.lastPrint) < 5*time.Second {
		return
	}
	p.lastPrint = time.Now()
	fmt.Fprintf(os.Stderr, "job %s: %d/%d chunks done, %d running, %d failed; %s%s\n",
		s.Job, s.Done, s.Chunks, s.Running, s.Dead, p.detail(), p.eta())
}

// detail renders this process's record and byte rates.
func (p *progress) detail() string {
	el := p.last.Elapsed.Seconds()
	if el <= 0 {
		el = 1
	}
	recs := p.stats.RecordsIn.Load()
	bytes := p.stats.BytesIn.Load()
	return fmt.Sprintf("%d records, %s (%s/s)", recs, humanBytes(bytes), humanBytes(int64(float64(bytes)/el)))
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.SetTotal(-1, true)
		p.p.Wait()
	}
}

// eta estimates the time left from the chunks done so far.
func (p *progress) eta() string {
	done := p.last.Done + p.last.Dead
	if done == 0 || done >= p.last.Chunks {
		return ""
	}
	left := time.Duration(float64(p.last.Elapsed) / float64(done) * float64(p.last.Chunks-done))
	return ", ETA " + left.Round(time.Second).String()
}
