package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
)

// A job run again after an interruption (a new process: its queue knows
// nothing) reports its marked chunks as done from the first snapshot,
// and its local workers run, and report through RunOptions.Observe,
// exactly the chunks without a marker.
func TestProgressOfAResumedJobStartsAtItsMarkedChunks(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	var b strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	writeFiles(t, in, map[string][]byte{"a.txt": []byte(b.String())})
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "1"},
		Output: "file://" + out + "/", OutputFormat: "lines", ChunkBytes: 4096}.WithDefaults()

	// The first process finishes three chunks and stops: the chunk its
	// slot began while the third published behind it finishes too.
	first := newEngine(t, nil)
	info, err := first.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	const stopAfter = 3
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	finished := 0
	err = first.Work(ctx, fanout.WorkOptions{Concurrency: 1, Job: info.Job, Observe: func(ev fanout.ChunkEvent) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Outcome == fanout.OutcomeDone {
			if finished++; finished == stopAfter {
				cancel()
			}
		}
	}})
	cancel()
	if err != nil || finished < stopAfter || finished > stopAfter+1 {
		t.Fatalf("first process: %d chunks done, %v; want %d, or one more begun behind the last", finished, err, stopAfter)
	}
	if info.Manifest.Chunks < 2*finished {
		t.Fatalf("the job has %d chunks, want many", info.Manifest.Chunks)
	}

	// The second process resumes it.
	var snaps []fanout.Progress
	ran := map[string]int{}
	res, err := newEngine(t, nil).Run(context.Background(), spec, fanout.RunOptions{Workers: 2,
		Progress: func(p fanout.Progress) {
			mu.Lock()
			snaps = append(snaps, p)
			mu.Unlock()
		},
		Observe: func(ev fanout.ChunkEvent) {
			mu.Lock()
			ran[ev.Chunk+" "+ev.Outcome]++
			mu.Unlock()
		}})
	if err != nil || res.State != fanout.StateCommitted || !res.Existing {
		t.Fatalf("resumed run: %+v, %v; want committed, existing", res, err)
	}
	if len(snaps) == 0 {
		t.Fatal("no progress snapshot")
	}
	// The local workers start with the job, so a chunk or two of theirs
	// may be done by the first snapshot (on a loaded machine, one was):
	// the snapshot counts the marked chunks and no fewer, never 0.
	if s := snaps[0]; s.Done < finished || s.Done >= info.Manifest.Chunks || s.Chunks != info.Manifest.Chunks || s.MapChunks != info.Manifest.Chunks || s.Job != info.Job {
		t.Errorf("first snapshot: got %+v, want at least the %d marked of %d chunks done, not all", s, finished, info.Manifest.Chunks)
	}
	for i := 1; i < len(snaps); i++ {
		if snaps[i].Done < snaps[i-1].Done {
			t.Errorf("snapshot %d: done went back from %d to %d", i, snaps[i-1].Done, snaps[i].Done)
		}
	}
	if len(ran) != info.Manifest.Chunks-finished {
		t.Errorf("the resumed run reported %d attempts, want one done per unmarked chunk (%d): %v", len(ran), info.Manifest.Chunks-finished, ran)
	}
	for k, n := range ran {
		if !strings.HasSuffix(k, " "+fanout.OutcomeDone) || n != 1 {
			t.Errorf("attempt %q reported %d times, want once, done", k, n)
		}
	}
}

// Status of a committed job reports its tasks as done, the job's own
// wall time, and snake_case JSON keys like every other key; so does the
// result of the run that committed it.
func TestStatusOfACommittedJob(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte(strings.Repeat("some line\n", 2000))})
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "some"},
		Output: "file://" + out + "/", OutputFormat: "lines", ChunkBytes: 4096}.WithDefaults()
	res, err := newEngine(t, nil).Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("run: %+v, %v", res, err)
	}
	st, err := newEngine(t, nil).Status(context.Background(), spec.Output, res.Job)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != fanout.StateCommitted || st.Queue != (fanout.QueueStats{Done: res.Chunks, RecordsIn: res.RecordsIn, RecordsOut: res.RecordsOut, BytesIn: res.BytesIn}) || st.Elapsed <= 0 || st.Elapsed > res.Elapsed+time.Second {
		t.Errorf("status: got state %s, queue %+v, elapsed %s; want committed, %d done with the commit record's counts, the job's wall time (run took %s)",
			st.State, st.Queue, st.Elapsed, res.Chunks, res.Elapsed)
	}
	// The run's own result (fanout run --json) says the same: before, its
	// queue said 0 done once the queue had forgotten the committed job.
	if res.Queue != st.Queue {
		t.Errorf("run's result: queue %+v; want the committed job's, as status reports it: %+v", res.Queue, st.Queue)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"queue":{"pending":0,"running":0,"done":%d,"dead":0,"retrying":0,"records_in":%d,"records_out":%d,"bytes_in":%d}`,
		res.Chunks, res.RecordsIn, res.RecordsOut, res.BytesIn); !strings.Contains(string(b), want) {
		t.Errorf("status JSON %s lacks %s", b, want)
	}
}
