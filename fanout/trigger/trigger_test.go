package trigger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/filestore"
)

// fakeSubmitter records submitted specs; fail, when set, decides an error
// per call.
type fakeSubmitter struct {
	mu    sync.Mutex
	specs []manifest.JobSpec
	jobs  map[string]bool
	fail  func(spec manifest.JobSpec) error
}

func (f *fakeSubmitter) Submit(_ context.Context, spec manifest.JobSpec) (fanout.PlanInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(spec); err != nil {
			return fanout.PlanInfo{}, err
		}
	}
	if f.jobs == nil {
		f.jobs = map[string]bool{}
	}
	job := manifest.JobID(spec, "")
	existing := f.jobs[job]
	f.jobs[job] = true
	f.specs = append(f.specs, spec)
	return fanout.PlanInfo{Job: job, Existing: existing}, nil
}

func (f *fakeSubmitter) distinctJobs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

// newFileTrigger returns a trigger whose bookkeeping lives in a local
// directory and which trusts the events (no stat of the inputs).
func newFileTrigger(t *testing.T, sub Submitter, maxObjects int) (*Trigger, objstore.Bucket) {
	t.Helper()
	dir := t.TempDir()
	store, err := filestore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{
		Template: Template{Spec: manifest.JobSpec{Function: "count", Output: "file://" + filepath.ToSlash(dir)}},
		Open: func(_ context.Context, storeURL string) (objstore.Bucket, error) {
			if strings.HasPrefix(storeURL, "file://") {
				return store, nil
			}
			return nil, fmt.Errorf("unexpected store %s", storeURL)
		},
		Submitter: sub, MaxObjects: maxObjects, TrustEvents: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr, store
}

func ev(key, etag string) ObjectEvent {
	return ObjectEvent{Source: SourceS3, Name: "ObjectCreated:Put", Bucket: "data", Key: key, ETag: etag,
		Time: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)}
}

func TestProcessDuplicates(t *testing.T) {
	ctx := context.Background()
	sub := &fakeSubmitter{}
	tr, _ := newFileTrigger(t, sub, 0)

	rep, err := tr.Process(ctx, []ObjectEvent{ev("in/a.csv", "1"), ev("in/b.csv", "1"), ev("in/a.csv", "1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Jobs) != 1 || !rep.Jobs[0].New || rep.Jobs[0].Objects != 2 || rep.Duplicates != 1 {
		t.Fatalf("first delivery: got %+v, want one new job over 2 objects and 1 duplicate", rep)
	}
	first := rep.Jobs[0]

	// The same event again, alone: no new job, the owner's job reported.
	rep, err = tr.Process(ctx, []ObjectEvent{ev("in/a.csv", "1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Jobs) != 1 || rep.Jobs[0].Job != first.Job || !rep.Jobs[0].Duplicate || rep.Jobs[0].New || rep.Duplicates != 1 {
		t.Fatalf("repeat: got %+v, want only the first job, as a duplicate", rep)
	}
	// A batch cut differently: b is a duplicate, c is new, a rewritten a
	// (new ETag) is new too.
	rep, err = tr.Process(ctx, []ObjectEvent{ev("in/b.csv", "1"), ev("in/c.csv", "1"), ev("in/a.csv", "2")})
	if err != nil {
		t.Fatal(err)
	}
	var fresh []JobInfo
	for _, j := range rep.Jobs {
		if !j.Duplicate {
			fresh = append(fresh, j)
		}
	}
	if len(fresh) != 1 || fresh[0].Objects != 2 || !fresh[0].New || rep.Duplicates != 1 {
		t.Fatalf("overlap: got %+v, want one new job over c and the new a, b a duplicate", rep)
	}
	if n := sub.distinctJobs(); n != 2 {
		t.Errorf("got %d distinct jobs, want 2", n)
	}
	last := sub.specs[len(sub.specs)-1]
	if !slices.Equal(last.Inputs, []string{ExactInput("data", "in/a.csv"), ExactInput("data", "in/c.csv")}) {
		t.Errorf("second job inputs: got %q, want a and c only", last.Inputs)
	}
}

func TestProcessCompletesAnAbandonedBatch(t *testing.T) {
	ctx := context.Background()
	down := true
	sub := &fakeSubmitter{fail: func(manifest.JobSpec) error {
		if down {
			return errors.New("redis: connection refused")
		}
		return nil
	}}
	tr, _ := newFileTrigger(t, sub, 0)
	// The submitter dies after claiming a and b (the queue is down).
	if _, err := tr.Process(ctx, []ObjectEvent{ev("in/a.csv", "1"), ev("in/b.csv", "1")}); err == nil {
		t.Fatal("Process succeeded with the queue down")
	}
	down = false
	// A later batch holding a (cut differently, as another window or an
	// SQS redelivery would) finds a claimed by the first batch and
	// completes it: one job over a and b, one over d.
	rep, err := tr.Process(ctx, []ObjectEvent{ev("in/a.csv", "1"), ev("in/d.csv", "1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Jobs) != 2 {
		t.Fatalf("got %+v, want the new batch and the completed one", rep)
	}
	var recovered JobInfo
	for _, j := range rep.Jobs {
		if j.Duplicate {
			recovered = j
		}
	}
	if recovered.Objects != 2 || !recovered.New || recovered.Job == "" {
		t.Fatalf("recovered batch: got %+v, want a new job over a and b", recovered)
	}
	// Seen again: nothing new.
	rep, err = tr.Process(ctx, []ObjectEvent{ev("in/b.csv", "1")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Jobs) != 1 || rep.Jobs[0].New || rep.Jobs[0].Job != recovered.Job {
		t.Fatalf("got %+v, want the recovered job, not new", rep)
	}
	if n := sub.distinctJobs(); n != 2 {
		t.Errorf("got %d jobs, want 2", n)
	}
}

func TestProcessPermanentErrorIsRecorded(t *testing.T) {
	ctx := context.Background()
	calls := 0
	sub := &fakeSubmitter{fail: func(manifest.JobSpec) error {
		calls++
		return functions.Permanent(errors.New("plan: no input objects found"))
	}}
	tr, _ := newFileTrigger(t, sub, 0)
	rep, err := tr.Process(ctx, []ObjectEvent{ev("in/a.csv", "1")})
	if err != nil {
		t.Fatalf("a permanent error was returned as retryable: %v", err)
	}
	if len(rep.Jobs) != 1 || rep.Jobs[0].Error == "" {
		t.Fatalf("got %+v, want the batch with its error", rep)
	}
	rep, err = tr.Process(ctx, []ObjectEvent{ev("in/a.csv", "1")})
	if err != nil || calls != 1 || len(rep.Jobs) != 1 || rep.Jobs[0].Error == "" {
		t.Fatalf("duplicate of a failed batch: %+v, %v, %d submits; want the recorded error and no second submit", rep, err, calls)
	}
}

func TestProcessGroupsByFormatAndSize(t *testing.T) {
	ctx := context.Background()
	sub := &fakeSubmitter{}
	tr, _ := newFileTrigger(t, sub, 2)
	events := []ObjectEvent{ev("in/1.csv", "1"), ev("in/2.csv", "1"), ev("in/3.csv", "1"), ev("in/4.jsonl", "1"),
		ev("out/x.csv", "1"), {Name: "ObjectRemoved:Delete", Bucket: "data", Key: "in/5.csv"}, ev("in/_fanout/x.csv", "1")}
	// The output base is a file directory, so nothing in "data" is output.
	rep, err := tr.Process(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, j := range rep.Jobs {
		sizes = append(sizes, j.Objects)
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1, 2, 2}) {
		t.Errorf("job sizes %v, want [1 2 2] (4 csv cut at 2, 1 jsonl)", sizes)
	}
	if rep.Ignored[ReasonNotCreated] != 1 || rep.Ignored[ReasonBookkeep] != 1 {
		t.Errorf("ignored %v, want one delete and one bookkeeping key", rep.Ignored)
	}
	for _, s := range sub.specs {
		var formats []string
		for _, in := range s.Inputs {
			f, _, _ := manifest.DetectFormat(in, "")
			formats = append(formats, f)
		}
		if len(slices.Compact(formats)) != 1 {
			t.Errorf("job %v mixes formats", s.Inputs)
		}
	}
}
