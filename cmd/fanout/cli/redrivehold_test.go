package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
)

// TestStatusShowsAKilledRedrivesHold: a `fanout redrive` killed outright
// (SIGKILL) between taking hold of the job (the owner record names it
// redriving) and letting go keeps its hold, and the job's commits
// publish nothing until a redrive runs again. fanout status says so,
// since when and by which process, and what to do; --json carries the
// same as redrive_hold. Running the redrive again finishes the job: the
// hold is gone and the job commits exactly.
func TestStatusShowsAKilledRedrivesHold(t *testing.T) {
	j := newFaultJob(t, faultSetup{objects: 1, rows: 1})
	bin := fanoutBinary(t)
	ctx := context.Background()
	healed := t.TempDir() + "/healed"
	var want []string
	for o := range 4 {
		var b strings.Builder
		for i := range 20 {
			line := fmt.Sprintf("obj%02d-line%03d", o, i)
			if o == 2 && i == 7 {
				line += " POISON"
			}
			b.WriteString(line + "\n")
			want = append(want, line)
		}
		j.put(fmt.Sprintf("text/obj-%02d.txt", o), []byte(b.String()))
	}
	out := "s3://" + j.bucket + "/out/"
	cmd := `data=$(cat); case "$data" in *POISON*) [ -e '` + healed + `' ] || { echo "poisoned record" >&2; exit 3; };; esac; printf '%s\n' "$data"`
	stdout, stderr, err := localstack.Run(ctx, j.env(""), bin, "run", "--in", "s3://"+j.bucket+"/text/", "--fn", "exec", "--arg", "shell=true",
		"--arg", "cmd="+cmd, "--out", out, "--out-format", "lines", "--max-objects-per-chunk", "1", "--max-attempts", "1", "--lease", "10s",
		"--workers", "2", "--json", "--quiet")
	var res struct {
		Job   string `json:"job"`
		State string `json:"state"`
	}
	if jerr := json.Unmarshal([]byte(stdout), &res); jerr != nil || err == nil || res.State != "failed" {
		t.Fatalf("fanout run: %v, %v: %s%s; want the job failed on its poisoned chunk", err, jerr, stdout, stderr)
	}
	job := res.Job
	if err := os.WriteFile(healed, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	by := killRedriveHolding(t, j, job, out)

	stdout, stderr, err = localstack.Run(ctx, j.env(""), bin, "status", job, "--out", out)
	if err != nil {
		t.Fatalf("fanout status: %v\n%s%s", err, stdout, stderr)
	}
	t.Logf("fanout status of the held job:\n%s", stdout)
	for _, s := range []string{"job " + job + ": running\n", "held by a redrive since ", " by " + by + ": ",
		"the job's commits publish nothing until it is done", "run it again to finish it: " + bin + " redrive " + job + " --out " + out + "\n"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("fanout status lacks %q:\n%s", s, stdout)
		}
	}
	var st struct {
		State       string `json:"state"`
		RedriveHold *struct {
			Since time.Time `json:"since"`
			By    string    `json:"by"`
			Hint  string    `json:"hint"`
		} `json:"redrive_hold"`
	}
	stdout, stderr, err = localstack.Run(ctx, j.env(""), bin, "status", job, "--out", out, "--json")
	if err != nil || json.Unmarshal([]byte(stdout), &st) != nil || st.RedriveHold == nil {
		t.Fatalf("fanout status --json: %v: %s%s; want a redrive_hold", err, stdout, stderr)
	}
	var raw any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "status --json of a held job", raw)
	h := st.RedriveHold
	// The owner record's time is the writer's (rounded by JSON to the
	// second at worst).
	if h.By != by || h.Since.Before(before.Add(-time.Second)) || h.Since.After(time.Now()) ||
		!strings.Contains(h.Hint, "run `fanout redrive "+job+"` again to finish it") {
		t.Errorf("redrive_hold %+v: want by %s, since between %v and now, and a hint naming the redrive to run", *h, by, before)
	}
	if _, err := j.store.Stat(ctx, "out/_SUCCESS"); err == nil {
		t.Fatal("the job committed while a killed redrive held it")
	}

	// Run again, the redrive takes the hold over and lets go at its end.
	stdout, stderr, err = localstack.Run(ctx, j.env(""), bin, "redrive", job, "--out", out, "--json")
	if err != nil {
		t.Fatalf("the second redrive: %v\n%s%s", err, stdout, stderr)
	}
	stdout, stderr, err = localstack.Run(ctx, j.env(""), bin, "status", job, "--out", out, "--json")
	st.RedriveHold = nil
	if err != nil || json.Unmarshal([]byte(stdout), &st) != nil || st.RedriveHold != nil {
		t.Fatalf("fanout status --json after the second redrive: %v: %s%s; want no redrive_hold", err, stdout, stderr)
	}
	stdout, stderr, err = localstack.Run(ctx, j.env(""), bin, "wait", job, "--out", out, "--workers", "2", "--json", "--quiet")
	if err != nil || !strings.Contains(stdout, `"state": "committed"`) && !strings.Contains(stdout, `"state":"committed"`) {
		t.Fatalf("fanout wait after the second redrive: %v\n%s%s", err, stdout, stderr)
	}
	faulttest.CheckCommitted(t, j.store, "out/", job, faulttest.Line, want)
}

// killRedriveHolding starts `fanout redrive job --out out` with its S3
// requests through a proxy that holds the answer to its first
// conditional write of the owner record (its hold, which MinIO has then
// made), kills it there with SIGKILL, and returns the name the hold
// carries: host:pid of the killed process.
func killRedriveHolding(t *testing.T, j *faultJob, job, out string) string {
	t.Helper()
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	held := make(chan struct{})
	var once sync.Once
	proxy.After(func(r *http.Request, _ *http.Response) error {
		if r.Method == http.MethodPut && strings.HasSuffix(faulttest.ObjectKey(r), "_fanout/OWNER") && r.Header.Get("If-Match") != "" {
			once.Do(func() { close(held) })
			<-proxy.Closed()
		}
		return nil
	})
	redrive := localstack.Start(t, "redrive", j.env(proxy.URL), fanoutBinary(t), "redrive", job, "--out", out)
	select {
	case <-held:
	case <-redrive.Done():
		t.Fatalf("the redrive ended before it took hold of the job: %v\n%s", redrive.Err(), redrive.Stderr())
	case <-time.After(2 * time.Minute):
		t.Fatal("the redrive did not take hold of the job within 2 minutes")
	}
	redrive.Kill()
	redrive.Wait(t, time.Minute)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return host + ":" + strconv.Itoa(redrive.Pid())
}
