package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/dashboard"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

const token = "tok-0123456789"

// poisonedJob is an embedded job over six objects, one of which holds a
// record that makes exec's command fail until the file healed exists.
type poisonedJob struct {
	eng    *fanout.Engine
	q      *memqueue.Queue
	spec   manifest.JobSpec
	healed string
	lines  int
}

func newPoisonedJob(t *testing.T) *poisonedJob {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &poisonedJob{healed: filepath.Join(dir, "healed")}
	for o := range 6 {
		var b strings.Builder
		for i := range 20 {
			fmt.Fprintf(&b, "obj%d-line%02d", o, i)
			if o == 3 && i == 7 {
				b.WriteString(" POISON")
			}
			b.WriteString("\n")
			p.lines++
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("obj-%d.txt", o)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.q = memqueue.New(memqueue.Config{})
	eng, err := fanout.New(fanout.Config{Queue: p.q, Admin: p.q, Functions: builtin.Registry(), Secrets: []string{token},
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	p.eng = eng
	cmd := `data=$(cat); case "$data" in *POISON*) [ -e '` + p.healed + `' ] || { echo "poisoned record, cannot go on" >&2; exit 3; };; esac; printf '%s\n' "$data"`
	p.spec = manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "exec", Args: map[string]string{"shell": "true", "cmd": cmd},
		Output: "file://" + out + "/", OutputFormat: "lines", MaxObjectsPerChunk: 1, MaxAttempts: 1, Lease: manifest.Duration(10 * time.Second)}
	return p
}

// getJSON fetches a dashboard API path into v and returns the body.
func getJSON(t *testing.T, srv *httptest.Server, path string, v any) string {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, res.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return string(body)
}

// send makes a request with the given headers (and Host, when set) and
// returns the status and body.
func send(t *testing.T, srv *httptest.Server, method, url string, header map[string]string, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if host != "" {
		req.Host = host
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitFor polls the job's API until cond holds (deadline 30s).
func waitFor(t *testing.T, srv *httptest.Server, job string, what string, cond func(dashboard.JobReply) bool) (dashboard.JobReply, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r dashboard.JobReply
		res, err := srv.Client().Get(srv.URL + "/ui/api/jobs/" + job)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK && json.Unmarshal(body, &r) == nil && cond(r) {
			return r, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never became %s; last answer %s: %s", job, what, res.Status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDashboardShowsAFailedJobAndRedrivesIt runs an embedded job whose
// poisoned chunk fails, and checks what the API says of it (its state,
// the chunk's reason, the redrive action), that the actions refuse every
// request without the token or from another site (and change nothing),
// that a request with the token redrives it, and that the job, committed
// after the cause is fixed, shows its records and files per partition.
// No answer holds the token.
func TestDashboardShowsAFailedJobAndRedrivesIt(t *testing.T) {
	p := newPoisonedJob(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := p.eng.Submit(ctx, p.spec)
	if err != nil {
		t.Fatal(err)
	}
	job, out := info.Job, p.spec.Output
	var jf *fanout.JobFailedError
	if _, err := p.eng.Wait(ctx, out, job, fanout.RunOptions{Workers: 2}); !errors.As(err, &jf) || len(jf.Failed) != 1 {
		t.Fatalf("the poisoned job: %v; want it failed with one chunk", err)
	}
	failed := jf.Failed[0].Chunk

	d, err := dashboard.New(dashboard.Config{Engine: p.eng, Admin: p.q, Token: token, LoopbackOnly: true, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go d.Run(ctx)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	var bodies []string

	r, body := waitFor(t, srv, job, "failed", func(r dashboard.JobReply) bool { return r.Row.State == fanout.StateFailed })
	bodies = append(bodies, body)
	if len(r.Job.DeadLetters) != 1 || r.Job.DeadLetters[0].Chunk != failed || !strings.Contains(r.Job.DeadLetters[0].Reason, "poisoned record, cannot go on") {
		t.Errorf("dead letters: got %+v, want %s with its reason", r.Job.DeadLetters, failed)
	}
	if !strings.Contains(r.Job.Failure, failed) || r.Row.Dead != 1 || r.Row.Done != 5 || r.Row.Tasks != 6 {
		t.Errorf("row %+v, failure %q: want 5 of 6 done, 1 dead, the failure naming %s", r.Row, r.Job.Failure, failed)
	}
	// The records are the queue's counts of the five done chunks (5
	// objects of 20 lines), exact; the markers are sampled all the same
	// (Lambda GB-seconds, rejected records).
	r, _ = waitFor(t, srv, job, "sampled", func(r dashboard.JobReply) bool { return r.Row.SampledMarkers == 5 })
	if !r.Row.RecordsCounted || r.Row.RecordsEstimated || r.Row.RecordsIn != 100 || r.Row.RecordsOut != 100 {
		t.Errorf("records %d in, %d out (counted %v, estimated %v); want 100 and 100 counted by the queue",
			r.Row.RecordsIn, r.Row.RecordsOut, r.Row.RecordsCounted, r.Row.RecordsEstimated)
	}
	if !slices.Equal(r.Actions, []string{"redrive", "cancel"}) || !r.TokenRequired {
		t.Errorf("actions: got %v (token required %v), want [redrive cancel] behind the token", r.Actions, r.TokenRequired)
	}
	var jobs dashboard.JobsReply
	bodies = append(bodies, getJSON(t, srv, "/ui/api/jobs", &jobs))
	if len(jobs.Jobs) != 1 || jobs.Jobs[0].Job != job || jobs.Jobs[0].State != fanout.StateFailed || !jobs.Actions {
		t.Errorf("jobs: got %+v, want job %s failed, actions on", jobs, job)
	}

	redrive := srv.URL + "/ui/api/jobs/" + job + "/redrive"
	for _, c := range []struct {
		name   string
		method string
		header map[string]string
		host   string
		want   int
	}{
		{"no token", "POST", nil, "", http.StatusUnauthorized},
		{"wrong token", "POST", map[string]string{dashboard.TokenHeader: token + "x"}, "", http.StatusForbidden},
		{"token as a query parameter", "POST", nil, "", http.StatusUnauthorized},
		{"cross-site fetch", "POST", map[string]string{dashboard.TokenHeader: token, "Sec-Fetch-Site": "cross-site"}, "", http.StatusForbidden},
		{"another origin", "POST", map[string]string{dashboard.TokenHeader: token, "Origin": "http://evil.example"}, "", http.StatusForbidden},
		{"GET", "GET", map[string]string{dashboard.TokenHeader: token}, "", http.StatusMethodNotAllowed},
		{"foreign Host (DNS rebinding)", "POST", map[string]string{dashboard.TokenHeader: token}, "evil.example", http.StatusMisdirectedRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := redrive
			if strings.Contains(c.name, "query") {
				u += "?token=" + token
			}
			status, b := send(t, srv, c.method, u, c.header, c.host)
			bodies = append(bodies, b)
			if status != c.want {
				t.Errorf("got %d %s, want %d", status, b, c.want)
			}
		})
	}
	if dead, err := p.q.DeadLetters(ctx, job); err != nil || len(dead) != 1 {
		t.Fatalf("after the refused requests: dead letters %v %v; want the chunk still dead", dead, err)
	}

	// A dashboard without a token takes no action at all.
	ro, err := dashboard.New(dashboard.Config{Engine: p.eng, Admin: p.q})
	if err != nil {
		t.Fatal(err)
	}
	roSrv := httptest.NewServer(ro.Handler())
	defer roSrv.Close()
	if status, b := send(t, roSrv, "POST", roSrv.URL+"/ui/api/jobs/"+job+"/redrive", map[string]string{dashboard.TokenHeader: token}, ""); status != http.StatusForbidden {
		t.Fatalf("redrive on a dashboard without a token: %d %s; want 403", status, b)
	}

	// Fixed, redriven with the token, committed.
	if err := os.WriteFile(p.healed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	status, b := send(t, srv, "POST", redrive, map[string]string{dashboard.TokenHeader: token, "Sec-Fetch-Site": "same-origin"}, "")
	bodies = append(bodies, b)
	var rd fanout.RedriveInfo
	if status != http.StatusOK || json.Unmarshal([]byte(b), &rd) != nil || !slices.Equal(rd.Chunks, []string{failed}) {
		t.Fatalf("redrive: %d %s; want chunk %s run again", status, b, failed)
	}
	if _, err := p.eng.Wait(ctx, out, job, fanout.RunOptions{Workers: 2}); err != nil {
		t.Fatalf("the redriven job: %v", err)
	}
	r, body = waitFor(t, srv, job, "committed", func(r dashboard.JobReply) bool { return r.Row.State == fanout.StateCommitted })
	bodies = append(bodies, body)
	if r.Row.RecordsIn != int64(p.lines) || r.Row.Done != 6 || r.Row.Dead != 0 || r.Job.Commit == nil || r.Timings == nil {
		t.Errorf("committed row %+v: want %d records in, 6 of 6 done", r.Row, p.lines)
	}
	if len(r.Partitions) != 1 || r.Partitions[0].Rows != int64(p.lines) || r.Partitions[0].Files < 1 {
		t.Errorf("partitions: got %+v, want one unpartitioned with %d rows", r.Partitions, p.lines)
	}
	if len(r.Actions) != 0 {
		t.Errorf("a committed job offers %v", r.Actions)
	}
	// A dashboard started after the commit (the queue no longer holds the
	// job) finds it through its output's owner record.
	later, err := dashboard.New(dashboard.Config{Engine: p.eng, Admin: p.q, Outputs: []string{out}, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go later.Run(ctx)
	laterSrv := httptest.NewServer(later.Handler())
	defer laterSrv.Close()
	r, _ = waitFor(t, laterSrv, job, "committed", func(r dashboard.JobReply) bool { return r.Row.State == fanout.StateCommitted })
	if r.Row.RecordsIn != int64(p.lines) || r.Row.Output != out {
		t.Errorf("the job found under its output: %+v; want %d records in %s", r.Row, p.lines, out)
	}
	for _, b := range bodies {
		if strings.Contains(b, token) {
			t.Errorf("an answer holds the token: %s", b)
		}
	}
}

// TestDashboardPagesAreSelfContained checks what every page carries: a
// content security policy that allows nothing from elsewhere, assets
// served from the binary, and an unknown or malformed job answered 404.
func TestDashboardPagesAreSelfContained(t *testing.T) {
	p := newPoisonedJob(t)
	d, err := dashboard.New(dashboard.Config{Engine: p.eng, Admin: p.q})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	for _, c := range []struct {
		path, contentType, holds string
		status                   int
	}{
		{"/ui/", "text/html", `src="/ui/static/app.js"`, 200},
		{"/ui/jobs/j0123456789abcdef0123", "text/html", `src="/ui/static/app.js"`, 200},
		{"/ui/static/app.js", "javascript", "textContent", 200},
		{"/ui/static/style.css", "text/css", ".state.failed", 200},
		{"/ui/api/jobs/j0123456789abcdef0123", "application/json", "no job", 404},
		{"/ui/jobs/..%2f..%2fetc", "", "", 404},
	} {
		res, err := srv.Client().Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status || !strings.Contains(res.Header.Get("Content-Type"), c.contentType) || !strings.Contains(string(body), c.holds) {
			t.Errorf("GET %s: got %s %q (%d bytes), want %d %s holding %q", c.path, res.Status, res.Header.Get("Content-Type"), len(body), c.status, c.contentType, c.holds)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: security headers %v", c.path, res.Header)
		}
		text := strings.ReplaceAll(string(body), "http://www.w3.org/2000/svg", "") // SVG's namespace, not a fetch
		for _, bad := range []string{"http://", "https://", "<iframe", "innerHTML", "eval("} {
			if strings.Contains(text, bad) && !strings.Contains(c.path, "api") {
				t.Errorf("GET %s holds %q: the assets fetch nothing from elsewhere and build no markup from data", c.path, bad)
			}
		}
	}
}

// TestDashboardCancelsARunningJob cancels a running job (its chunks held
// at a gate) with the token: the job turns cancelled on the dashboard,
// which then offers no action, and nothing of it is ever committed, even
// once its chunks could finish.
func TestDashboardCancelsARunningJob(t *testing.T) {
	p := newPoisonedJob(t)
	gate := filepath.Join(filepath.Dir(p.healed), "gate")
	p.spec.Args["cmd"] = `while [ ! -e '` + gate + `' ]; do sleep 0.05; done; cat`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := p.eng.Submit(ctx, p.spec)
	if err != nil {
		t.Fatal(err)
	}
	job := info.Job
	wctx, stopWork := context.WithCancel(ctx)
	workDone := make(chan error, 1)
	go func() { workDone <- p.eng.Work(wctx, fanout.WorkOptions{Concurrency: 2, Grace: time.Second}) }()
	defer func() {
		stopWork()
		<-workDone
	}()
	d, err := dashboard.New(dashboard.Config{Engine: p.eng, Admin: p.q, Token: token, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go d.Run(ctx)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	r, _ := waitFor(t, srv, job, "running", func(r dashboard.JobReply) bool { return r.Row.State == fanout.StateRunning && r.Row.Running == 2 })
	if !slices.Equal(r.Actions, []string{"cancel"}) || len(r.Job.Running) != 2 {
		t.Fatalf("a running job: actions %v, running %+v; want [cancel] and two running tasks", r.Actions, r.Job.Running)
	}
	status, body := send(t, srv, "POST", srv.URL+"/ui/api/jobs/"+job+"/cancel", map[string]string{dashboard.TokenHeader: token}, "")
	var ci fanout.CancelInfo
	if status != http.StatusOK || json.Unmarshal([]byte(body), &ci) != nil || ci.State != fanout.StateCancelled || ci.Stopping != 2 {
		t.Fatalf("cancel: %d %s; want the job cancelled with 2 attempts stopping", status, body)
	}
	r, _ = waitFor(t, srv, job, "cancelled", func(r dashboard.JobReply) bool { return r.Row.State == fanout.StateCancelled })
	if len(r.Actions) != 0 || !strings.Contains(r.Job.Failure, "cancelled from the dashboard") {
		t.Errorf("a cancelled job: actions %v, failure %q", r.Actions, r.Job.Failure)
	}
	if status, body := send(t, srv, "POST", srv.URL+"/ui/api/jobs/"+job+"/cancel", map[string]string{dashboard.TokenHeader: token}, ""); status != http.StatusConflict {
		t.Errorf("cancelling a cancelled job: %d %s; want 409", status, body)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var jc *fanout.JobCancelledError
	if _, err := p.eng.Wait(ctx, p.spec.Output, job, fanout.RunOptions{Workers: 2}); !errors.As(err, &jc) {
		t.Fatalf("waiting for the cancelled job: %v; want JobCancelledError", err)
	}
	out := strings.TrimPrefix(p.spec.Output, "file://")
	if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("_SUCCESS of a cancelled job: %v", err)
	}
}
