package dashboard_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/dashboard"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

var errKilled = errors.New("injected: the redriving process was killed")

// killedAdmin is the queue of a redrive killed once it holds the job:
// its first step after the hold (the queue forgetting the job) fails.
type killedAdmin struct{ *memqueue.Queue }

func (killedAdmin) Finish(context.Context, string) error { return errKilled }

// ownerFrozen is a store on which no owner record write goes through
// after the first (the killed redrive's hold): its hold is never given up,
// as a process killed outright gives nothing up.
type ownerFrozen struct {
	objstore.Bucket
	writes *atomic.Int64
}

func (s ownerFrozen) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if strings.HasSuffix(key, "_fanout/OWNER") && s.writes.Add(1) > 1 {
		return objstore.ObjectInfo{}, errKilled
	}
	return s.Bucket.Put(ctx, key, r, opts)
}

// TestDashboardShowsAKilledRedrivesHold: a redrive killed between taking
// hold of a failed job and letting go leaves the job held, and its
// commits publish nothing. The job's view says so (redrive_hold: since
// when, by which process, what to do) and offers the redrive action,
// which finishes it: the hold is gone and the job commits.
func TestDashboardShowsAKilledRedrivesHold(t *testing.T) {
	p := newPoisonedJob(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := p.eng.Submit(ctx, p.spec)
	if err != nil {
		t.Fatal(err)
	}
	job, out := info.Job, p.spec.Output
	var jf *fanout.JobFailedError
	if _, err := p.eng.Wait(ctx, out, job, fanout.RunOptions{Workers: 2}); !errors.As(err, &jf) {
		t.Fatalf("the poisoned job: %v; want it failed", err)
	}
	if err := os.WriteFile(p.healed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var ownerWrites atomic.Int64
	killed, err := fanout.New(fanout.Config{Queue: p.q, Admin: killedAdmin{p.q}, Functions: builtin.Registry(), WorkerName: "host-a:4242",
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			if err != nil {
				return nil, err
			}
			return ownerFrozen{Bucket: b, writes: &ownerWrites}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer killed.Close()
	before := time.Now()
	if _, err := killed.Redrive(ctx, out, job); !errors.Is(err, errKilled) {
		t.Fatalf("the killed redrive: got %v, want %v", err, errKilled)
	}

	d, err := dashboard.New(dashboard.Config{Engine: p.eng, Admin: p.q, Token: token, LoopbackOnly: true, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go d.Run(ctx)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	r, body := waitFor(t, srv, job, "held by a redrive", func(r dashboard.JobReply) bool { return r.Job.RedriveHold != nil })
	h := r.Job.RedriveHold
	if h.By != "host-a:4242" || h.Since.Before(before.Add(-time.Second)) || h.Since.After(time.Now()) ||
		!strings.Contains(h.Hint, "run `fanout redrive "+job+"` again") || !strings.Contains(body, `"redrive_hold":{"since":`) {
		t.Errorf("redrive hold %+v: want by host-a:4242, since the killed redrive, and what to do", *h)
	}
	if r.Row.State != fanout.StateRunning || !slices.Equal(r.Actions, []string{"redrive", "cancel"}) {
		t.Errorf("state %s, actions %v: want running (not committing: its commits publish nothing), the redrive that finishes the job and cancel",
			r.Row.State, r.Actions)
	}
	status, b := send(t, srv, "POST", srv.URL+"/ui/api/jobs/"+job+"/redrive", map[string]string{dashboard.TokenHeader: token, "Sec-Fetch-Site": "same-origin"}, "")
	if status != http.StatusOK {
		t.Fatalf("redrive from the dashboard: %d %s", status, b)
	}
	if _, err := p.eng.Wait(ctx, out, job, fanout.RunOptions{Workers: 2}); err != nil {
		t.Fatalf("the job redriven again: %v", err)
	}
	r, _ = waitFor(t, srv, job, "committed", func(r dashboard.JobReply) bool { return r.Row.State == fanout.StateCommitted })
	if r.Job.RedriveHold != nil || r.Row.RecordsIn != int64(p.lines) {
		t.Errorf("committed: hold %+v, %d records in; want no hold and %d records", r.Job.RedriveHold, r.Row.RecordsIn, p.lines)
	}
}
