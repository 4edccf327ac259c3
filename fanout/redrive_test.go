package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// TestRedriveRerunsOnlyTheFailedChunksEmbedded fails one chunk for good,
// fixes its cause, and redrives the job with a fresh embedded engine (an
// in-memory queue that never knew the job): only the failed chunk runs
// again, and the job commits exactly. A committed job is refused.
func TestRedriveRerunsOnlyTheFailedChunksEmbedded(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	files := map[string][]byte{}
	var want []string
	for o := range 5 {
		var b strings.Builder
		for i := range 20 {
			line := fmt.Sprintf("o%d-l%02d", o, i)
			b.WriteString(line + "\n")
			want = append(want, line)
		}
		files[fmt.Sprintf("f%d.txt", o)] = []byte(b.String())
	}
	writeFiles(t, in, files)
	var broken atomic.Bool
	broken.Store(true)
	var runs atomic.Int64
	reg := registryWith(copyFn{hook: func(ctx context.Context, first *functions.Record) error {
		runs.Add(1)
		if first.Object == "f3.txt" && broken.Load() {
			return functions.Permanent(errors.New("the downstream service refused f3"))
		}
		return nil
	}})
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "copy", Output: "file://" + out + "/",
		OutputFormat: "lines", MaxObjectsPerChunk: 1}.WithDefaults()
	_, err := newEngine(t, reg).Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) || len(jf.Failed) != 1 || jf.Failed[0].Chunk != "c00000003" {
		t.Fatalf("got %v, want c00000003 failed", err)
	}
	job := manifest.JobID(spec, "")
	broken.Store(false)
	runs.Store(0)
	e := newEngine(t, reg)
	info, err := e.Redrive(context.Background(), spec.Output, job)
	if err != nil || len(info.Chunks) != 1 || info.Chunks[0] != "c00000003" || info.Enqueued != 1 {
		t.Fatalf("Redrive: %v %+v; want c00000003 enqueued again", err, info)
	}
	res, err := e.Wait(context.Background(), spec.Output, job, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted || len(res.Failed) != 0 {
		t.Fatalf("Wait after redrive: %v %+v", err, res)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("%d chunks ran after the redrive, want only the failed one", n)
	}
	b, _, err := bucketurl.Open(context.Background(), "file://"+out, bucketurl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	faulttest.CheckCommitted(t, b, "", job, faulttest.Line, want)
	if _, err := e.Redrive(context.Background(), spec.Output, job); err == nil || !strings.Contains(err.Error(), "is committed") {
		t.Errorf("redrive of a committed job: %v, want a refusal", err)
	}
}
