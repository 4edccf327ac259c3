package fanout_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/miniostore"
)

// syncBuffer is a log destination written by many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWorkerThatCannotReadTheJobReleasesIt: on real Redis and MinIO, a
// worker with the wrong secret key and one with an endpoint nothing
// listens on claim the job's chunks before its real worker starts. They
// release them without failing any (the job used to lose a chunk after
// three tries per chunk), each logs why once, and the real worker
// commits the job exactly (faulttest oracle).
func TestWorkerThatCannotReadTheJobReleasesIt(t *testing.T) {
	r := newFaultRig(t, 8, 50)
	driver := r.engine(engineOptions{name: "driver"})
	spec := r.spec("out/", 10*time.Second, "convert")
	info, err := driver.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	job := info.Job
	const wrongSecret = "not-the-secret-0123456789"
	wrong := map[string]miniostore.Config{
		"credentials": {Endpoint: r.s3.Endpoint, Bucket: r.bucket, AccessKey: r.s3.AccessKey, SecretKey: wrongSecret, Region: r.s3.Region},
		"endpoint":    {Endpoint: "127.0.0.1:1", Bucket: r.bucket, AccessKey: r.s3.AccessKey, SecretKey: r.s3.SecretKey, Region: r.s3.Region},
	}
	logs := map[string]*syncBuffer{}
	stats := map[string]*fanout.WorkStats{}
	var stops []func()
	for name, cfg := range wrong {
		logs[name], stats[name] = &syncBuffer{}, &fanout.WorkStats{}
		q := r.queue()
		e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(), WorkerName: name,
			Logger: slog.New(slog.NewTextHandler(logs[name], nil)),
			Open: func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
				return miniostore.New(ctx, cfg)
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		stops = append(stops, work(t, e, job, 2, stats[name]))
	}
	// Both wrong workers have claimed a chunk and given it back before the
	// job's worker starts.
	deadline := time.Now().Add(60 * time.Second)
	for name, l := range logs {
		for !strings.Contains(l.String(), "refusing a job") {
			if time.Now().After(deadline) {
				t.Fatalf("the worker with the wrong %s never said why it does not run the job; its log:\n%s", name, l)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var good fanout.WorkStats
	work(t, r.engine(engineOptions{name: "good"}), job, 2, &good)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := driver.Wait(ctx, spec.Output, job, fanout.RunOptions{})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("the job: %v, %+v", err, res)
	}
	for _, stop := range stops {
		stop()
	}
	c := r.check("out/", job)
	if len(c.Failed) != 0 {
		t.Errorf("failed chunks in the commit record: %v", c.Failed)
	}
	for name, l := range logs {
		text := l.String()
		if n := strings.Count(text, "refusing a job"); n != 1 {
			t.Errorf("the worker with the wrong %s said why %d times, want once per job:\n%s", name, n, text)
		}
		if !strings.Contains(text, "cannot read its manifest") || !strings.Contains(text, job) {
			t.Errorf("the worker with the wrong %s does not say it cannot read job %s's manifest:\n%s", name, job, text)
		}
		if strings.Contains(text, wrongSecret) || strings.Contains(text, r.s3.SecretKey) {
			t.Errorf("the worker with the wrong %s logged a secret key:\n%s", name, text)
		}
		if s := stats[name]; s.Failed.Load() != 0 || s.Chunks.Load() != 0 {
			t.Errorf("the worker with the wrong %s ran %d chunks, %d failed; want none", name, s.Chunks.Load(), s.Failed.Load())
		}
	}
	if good.Failed.Load() != 0 {
		t.Errorf("the job's worker failed %d chunks", good.Failed.Load())
	}
}
