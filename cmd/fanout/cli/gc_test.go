package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
)

// TestGCBesideALiveJob runs fanout gc on MinIO and Redis while a job runs
// on the output: job A is interrupted (its worker killed after some
// chunks), a --rerun B takes the output over, and while B has outputs (open
// uploads of final keys) whose marker is held back, gc --dry-run lists A's
// leftovers and removes nothing, then gc removes every key and open upload
// of A and nothing of B; B then commits (completing those uploads), and
// the oracle finds every record once with its values. A gc after the
// commit leaves the committed output exactly as it was.
func TestGCBesideALiveJob(t *testing.T) {
	j := newFaultJob(t, faultSetup{})
	// A runs in a Redis namespace of its own, so that B's worker never
	// picks up A's remaining chunks (which it would write under A's
	// prefix after gc removed it).
	envA := func() []string {
		env := j.env("")
		for i, kv := range env {
			if strings.HasPrefix(kv, "FANOUT_REDIS_PREFIX=") {
				env[i] = kv + "-a"
			}
		}
		return env
	}()
	stdout, stderr, err := localstack.Run(context.Background(), envA, fanoutBinary(t), append([]string{"submit", "--json"}, j.jobArgs()...)...)
	if err != nil {
		t.Fatalf("fanout submit (A): %v\n%s%s", err, stdout, stderr)
	}
	var sub struct {
		Job string `json:"job"`
	}
	if err := json.Unmarshal([]byte(stdout), &sub); err != nil {
		t.Fatal(err)
	}
	jobA := sub.Job
	layout := manifest.NewLayout("out")
	wa := localstack.Start(t, "worker-a", envA, fanoutBinary(t), "work", "--concurrency", "1")
	localstack.Poll(t, 60*time.Second, "3 markers of job A", func() bool {
		n := 0
		for range j.store.List(context.Background(), layout.MarkerPrefix(jobA), nil) {
			n++
		}
		return n >= 3
	})
	wa.Kill()
	wa.Wait(t, 10*time.Second)
	keysA := j.keysUnder(layout.JobPrefix(jobA))
	uploadsA := j.uploadsOf(jobA) // the no-copy commit's outputs: open uploads of final keys
	if len(uploadsA) == 0 {
		t.Fatal("job A left no open upload")
	}

	j.submit("--rerun")
	jobB := j.job
	if jobB == jobA {
		t.Fatalf("--rerun planned the same job %s", jobA)
	}
	// B's first marker waits until gc has run: its chunk's files are then
	// staged and unpublished while gc looks at the output.
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	release := make(chan struct{})
	var held atomic.Int32
	proxy.Before(func(r *http.Request) error {
		if faulttest.IsMarkerPut(r) && strings.Contains(faulttest.ObjectKey(r), jobB) && held.CompareAndSwap(0, 1) {
			return hold(r, proxy, release)
		}
		return nil
	})
	j.worker("worker-b", proxy.URL, 2)
	localstack.Poll(t, 60*time.Second, "a held marker of job B", func() bool { return held.Load() == 1 })
	uploadsB := j.uploadsOf(jobB)
	if len(uploadsB) == 0 {
		t.Fatal("job B has no open upload while its marker is held")
	}

	dry := j.gc(t, "--dry-run")
	a := dry.job(t, jobA)
	if a.Action != fanout.GCWouldRemove || a.Objects != len(keysA) || a.Uploads != len(uploadsA) {
		t.Errorf("gc --dry-run says job A: %+v; want %q %d objects and %d uploads", a, fanout.GCWouldRemove, len(keysA), len(uploadsA))
	}
	if got, up := j.keysUnder(layout.JobPrefix(jobA)), j.uploadsOf(jobA); len(got) != len(keysA) || len(up) != len(uploadsA) {
		t.Fatalf("gc --dry-run removed something: %d of job A's %d keys and %d of its %d uploads left", len(got), len(keysA), len(up), len(uploadsA))
	}
	beforeB := j.keysUnder(layout.JobPrefix(jobB))

	res := j.gc(t)
	if a := res.job(t, jobA); a.Action != fanout.GCRemoved || a.Objects != len(keysA) || a.Uploads != len(uploadsA) {
		t.Errorf("gc says job A: %+v; want %q %d objects and %d uploads", a, fanout.GCRemoved, len(keysA), len(uploadsA))
	}
	if left := j.uploadsOf(jobA); len(left) != 0 {
		t.Errorf("gc left %d open uploads of job A", len(left))
	}
	afterUploads := map[string]bool{}
	for _, u := range j.uploadsOf(jobB) {
		afterUploads[u] = true
	}
	for _, u := range uploadsB {
		if !afterUploads[u] {
			t.Errorf("gc aborted the upload %s of the running job B", u)
		}
	}
	if b := res.job(t, jobB); b.Action != fanout.GCKept || res.Owner != jobB {
		t.Errorf("gc says job B: %+v, owner %s; want kept, owner %s", b, res.Owner, jobB)
	}
	// But its tombstone, which keeps job A from ever taking the output
	// back (fanout/gc.go, gcFence).
	if left := j.keysUnder(layout.JobPrefix(jobA)); len(left) != 1 || left[0] != layout.RemovedKey(jobA) {
		t.Errorf("gc left %d keys of job A: %q; want only %s", len(left), left[:min(len(left), 5)], layout.RemovedKey(jobA))
	}
	afterB := map[string]bool{}
	for _, k := range j.keysUnder(layout.JobPrefix(jobB)) {
		afterB[k] = true
	}
	for _, k := range beforeB {
		if !afterB[k] {
			t.Errorf("gc removed %s of the running job B", k)
		}
	}

	close(release)
	j.committed(j.driver(""), 2*time.Minute)
	j.check()

	before := j.snapshot()
	res = j.gc(t)
	if diff := snapshotDiff(before, j.snapshot()); diff != "" {
		t.Errorf("gc after the commit changed the output:\n%s", diff)
	}
	if res.Objects != 0 || res.OwnerState != fanout.StateCommitted {
		t.Errorf("gc after the commit: %+v; want nothing removed, owner committed", res)
	}
	t.Logf("gc removed %d keys and %d open uploads of interrupted job A beside running job B (its %d open uploads kept); B committed %d records", len(keysA), len(uploadsA), len(uploadsB), len(j.ids))
}

// keysUnder lists the keys under prefix.
func (j *faultJob) keysUnder(prefix string) []string {
	j.t.Helper()
	var keys []string
	for info, err := range j.store.List(context.Background(), prefix, nil) {
		if err != nil {
			j.t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// uploadsOf lists job's open uploads as "key upload-id".
func (j *faultJob) uploadsOf(job string) []string {
	j.t.Helper()
	var ups []string
	for u, err := range fanout.JobUploads(context.Background(), j.store, manifest.NewLayout("out"), job) {
		if err != nil {
			j.t.Fatal(err)
		}
		ups = append(ups, u.Key+" "+u.ID)
	}
	return ups
}

type gcResult struct{ fanout.GCInfo }

// gc runs fanout gc --out --json with extra flags and decodes its report.
func (j *faultJob) gc(t *testing.T, extra ...string) gcResult {
	t.Helper()
	stdout, stderr, err := localstack.Run(context.Background(), j.env(""), fanoutBinary(t), append([]string{"gc", "--out", j.out(), "--json"}, extra...)...)
	if err != nil {
		t.Fatalf("fanout gc %q: %v\n%s%s", extra, err, stdout, stderr)
	}
	var res gcResult
	if err := json.Unmarshal([]byte(stdout), &res.GCInfo); err != nil {
		t.Fatalf("fanout gc --json: %v: %s", err, stdout)
	}
	return res
}

// job returns what gc reported of job.
func (r gcResult) job(t *testing.T, job string) fanout.GCJob {
	t.Helper()
	for _, j := range r.Jobs {
		if j.Job == job {
			return j
		}
	}
	t.Fatalf("gc reported nothing of job %s: %+v", job, r.Jobs)
	return fanout.GCJob{}
}
