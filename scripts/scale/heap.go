package main

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// memProfileRate samples one allocation in this many bytes for the heap
// attribution (Go's default is 512 KiB: too coarse for the small objects
// a driver's bookkeeping is made of). Set before the simulation
// allocates.
const memProfileRate = 64 << 10

// Heap classes: who allocated the live bytes of the process, by the
// allocating call stack (the 32 innermost frames runtime.MemProfile
// keeps).
const (
	heapBucket = "bucket"  // objstore/simstore: the simulated S3
	heapRedis  = "redis"   // go-redis clients: connection buffers of the driver's and every worker's
	heapWorker = "workers" // the simulated workers' tasks: Engine.Work and what it calls
	heapDriver = "driver"  // the rest: the planner, the driver's Wait, the committer, the runtime's own
)

// committerFrames mark a stack as the committer's, whichever engine
// commits: in the simulation an idle worker that holds the commit lease
// commits as often as the driver does (workLoop -> advance -> Commit),
// and what the commit holds is the driver's side of the budget (a
// committer runs on one host), not a worker's.
var committerFrames = []string{"fanout.(*Engine).Commit", "fanout.(*Engine).verifyCommitted"}

// heapShare is the live heap attributed to each class at one sample.
type heapShare map[string]float64

// workerFrames mark a stack as a worker's: the loop of Engine.Work, the
// task it runs, and the manifest shards and shard blocks its tasks read
// (read by a goroutine of their own, so that concurrent misses read one
// once; only a task reads them). A committer's stacks and Engine.Wait's
// run none of these (but a worker's commit: committerFrames).
var workerFrames = []string{
	"fanout.(*Engine).Work", "fanout.(*Engine).workLoop", "fanout.(*Engine).runLease",
	"fanout.(*Engine).processChunk", "fanout.(*Engine).heartbeat", "fanout.(*jobState).readShard",
	"fanout.(*jobState).readBlock",
}

// classify names the class of an allocation's stack.
func classify(stk []uintptr) string {
	frames := runtime.CallersFrames(stk)
	class := heapDriver
	committer := false
	for {
		f, more := frames.Next()
		switch {
		case strings.Contains(f.Function, "objstore/simstore."):
			return heapBucket
		case strings.Contains(f.Function, "redis/go-redis/"):
			class = heapRedis
		case class == heapDriver && !committer:
			for _, c := range committerFrames {
				if strings.HasSuffix(f.Function, c) || strings.Contains(f.Function, c+".") {
					committer = true
				}
			}
			if committer {
				break
			}
			for _, w := range workerFrames {
				if strings.HasSuffix(f.Function, w) || strings.Contains(f.Function, w+".") {
					class = heapWorker
				}
			}
		}
		if !more {
			return class
		}
	}
}

// attributeHeap reads the heap profile (as of the last garbage
// collection) and sums its live bytes per class, scaled as pprof scales
// sampled records.
func attributeHeap(records []runtime.MemProfileRecord) heapShare {
	share := heapShare{}
	for _, r := range records {
		count, bytes := r.InUseObjects(), r.InUseBytes()
		if count == 0 || bytes == 0 {
			continue
		}
		scale := 1.0
		if avg := float64(bytes) / float64(count); memProfileRate > 1 {
			scale = 1 / (1 - math.Exp(-avg/memProfileRate))
		}
		share[classify(r.Stack())] += float64(bytes) * scale
	}
	return share
}

// heapSampler keeps the peak of each heap class over samples taken every
// interval.
type heapSampler struct {
	// peakProfile, when set, is where a heap profile is written each
	// time the heap but the bucket's reaches a new peak.
	peakProfile string
	// driverTop, when set, is where the largest allocating stacks of the
	// driver and committer class are written (as text) each time that
	// class reaches a new peak.
	driverTop string

	mu      sync.Mutex
	peak    heapShare
	peakAll float64 // the peak of the whole heap less the bucket
	records []runtime.MemProfileRecord
}

func (h *heapSampler) sample() {
	n, ok := runtime.MemProfile(h.records, false)
	for !ok {
		h.records = make([]runtime.MemProfileRecord, n+n/4+64)
		n, ok = runtime.MemProfile(h.records, false)
	}
	share := attributeHeap(h.records[:n])
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.peak == nil {
		h.peak = heapShare{}
	}
	if h.driverTop != "" && share[heapDriver] > h.peak[heapDriver] {
		writeTopStacks(h.driverTop, h.records[:n], heapDriver, share[heapDriver])
	}
	var engine float64
	for k, v := range share {
		h.peak[k] = max(h.peak[k], v)
		if k != heapBucket {
			engine += v
		}
	}
	if engine > h.peakAll {
		h.peakAll = engine
		if h.peakProfile != "" {
			writeHeapProfile(h.peakProfile)
		}
	}
}

// run samples every interval until stop is called.
func (h *heapSampler) run(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				h.sample()
				return
			case <-t.C:
				h.sample()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// peaks returns the peak of each class and of all but the bucket, in MiB.
func (h *heapSampler) peaks() (map[string]float64, float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]float64{}
	for k, v := range h.peak {
		out[k] = v / (1 << 20)
	}
	return out, h.peakAll / (1 << 20)
}

// writeTopStacks writes the 20 allocating stacks of class that hold the
// most live bytes, with their functions innermost first, to file.
func writeTopStacks(file string, records []runtime.MemProfileRecord, class string, total float64) {
	type stack struct {
		bytes  float64
		frames []string
	}
	var top []stack
	for _, r := range records {
		count, bytes := r.InUseObjects(), r.InUseBytes()
		if count == 0 || bytes == 0 || classify(r.Stack()) != class {
			continue
		}
		scale := 1 / (1 - math.Exp(-float64(bytes)/float64(count)/memProfileRate))
		var names []string
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			names = append(names, f.Function)
			if !more {
				break
			}
		}
		top = append(top, stack{float64(bytes) * scale, names})
	}
	slices.SortFunc(top, func(a, b stack) int { return cmp.Compare(b.bytes, a.bytes) })
	var b strings.Builder
	fmt.Fprintf(&b, "%s class: %.1f MiB live\n", class, total/(1<<20))
	for _, s := range top[:min(20, len(top))] {
		fmt.Fprintf(&b, "\n%.1f MiB\n", s.bytes/(1<<20))
		for _, f := range s.frames[:min(12, len(s.frames))] {
			fmt.Fprintf(&b, "    %s\n", f)
		}
	}
	os.WriteFile(file, []byte(b.String()), 0o644)
}
