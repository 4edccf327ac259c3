package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/localstack"
)

// TestCancelStopsAJobOnMinIOAndRedis submits a job of slow chunks, lets a
// `fanout work` process run two of them while `fanout wait` waits, and
// cancels it with `fanout cancel`: cancel exits 0 saying what it dropped,
// wait exits 1 naming the cancel, the worker's attempts stop (its -v log
// says the job left the queue) and nothing of the job reaches the output;
// status and jobs say cancelled; cancelling again exits 0; another job
// then takes the output without --rerun, and cancelling that committed
// job exits 1.
func TestCancelStopsAJobOnMinIOAndRedis(t *testing.T) {
	bucket, client, env, lines := minioJobEnv(t, 6)
	out := "s3://" + bucket + "/out/"
	code, stdout, stderr := runIn(t, t.TempDir(), env, "submit", "--in", "s3://"+bucket+"/in/", "--fn", "exec",
		"--arg", "cmd=sleep 60; cat", "--arg", "shell=true", "--out", out, "--out-format", "lines", "--chunk-size", "1KiB", "--lease", "3s", "-q")
	if code != exitOK {
		t.Fatalf("submit: exit code %d: %s", code, stderr)
	}
	job := strings.TrimSpace(stdout)
	bin := fanoutBinary(t)
	worker := localstack.Start(t, "worker", env, bin, "work", "-v", "--concurrency", "2", "--allow-exec-any", "--grace", "1s")
	wait := localstack.Start(t, "wait", env, bin, "wait", job, "-q")

	var st struct {
		State  string `json:"state"`
		Chunks int    `json:"chunks"`
		Queue  struct {
			Pending int `json:"pending"`
			Running int `json:"running"`
		} `json:"queue"`
	}
	status := func() string {
		code, stdout, stderr := runIn(t, t.TempDir(), env, "status", job, "--json")
		if code != exitOK {
			t.Fatalf("status: exit code %d: %s", code, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &st); err != nil {
			t.Fatalf("status --json: %v: %s", err, stdout)
		}
		return stdout
	}
	waitFor(t, "two running chunks", time.Minute, func() bool { status(); return st.Queue.Running == 2 }, worker.Stderr)
	pending := st.Chunks - 2

	code, stdout, stderr = runIn(t, t.TempDir(), env, "cancel", job, "--reason", "wrong input")
	if code != exitOK {
		t.Fatalf("cancel: exit code %d: %s%s", code, stdout, stderr)
	}
	want := fmt.Sprintf(`(?m)^job %s cancelled: %d pending chunk\(s\) dropped, 2 running attempt\(s\) stop at their next heartbeat; nothing of it was committed\n`+
		`\s+its output %s is free for another job; fanout gc removes what the job left under _fanout/%s/$`, job, pending, regexp.QuoteMeta(out), job)
	if !regexp.MustCompile(want).MatchString(stdout) {
		t.Errorf("cancel printed:\n%s\nwant to match %s", stdout, want)
	}

	if err := wait.Wait(t, time.Minute); err == nil {
		t.Errorf("wait exited 0 after the cancel; stderr:\n%s", wait.Stderr())
	} else if ee := new(exec.ExitError); !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Errorf("wait: %v, want exit status 1", err)
	}
	if want := "fanout: job " + job + " was cancelled at "; !strings.Contains(wait.Stderr(), want) || !strings.Contains(wait.Stderr(), "(wrong input): nothing of it was committed") {
		t.Errorf("wait's stderr:\n%s\nwant %q ... (wrong input): nothing of it was committed", wait.Stderr(), want)
	}
	waitFor(t, "the worker's attempts to stop", time.Minute, func() bool {
		return strings.Count(worker.Stderr(), "the job left the queue") == 2
	}, worker.Stderr)

	status()
	if st.State != "cancelled" || st.Queue.Pending != 0 || st.Queue.Running != 0 {
		t.Errorf("status after the cancel: %+v, want cancelled with nothing pending or running", st)
	}
	code, stdout, _ = runIn(t, t.TempDir(), env, "jobs")
	if code != exitOK || !regexp.MustCompile(`(?m)^`+job+` +cancelled +- +- +- +[0-9][0-9a-z.]* +`+regexp.QuoteMeta(out)+`$`).MatchString(stdout) {
		t.Errorf("jobs: exit code %d:\n%s\nwant the job listed as cancelled, with its age", code, stdout)
	}
	for _, k := range listKeys(t, client, bucket, "out/") {
		if !strings.HasPrefix(k, "out/_fanout/") || strings.Contains(k, "/chunks/") {
			t.Errorf("the cancelled job left %s", k)
		}
	}

	code, stdout, _ = runIn(t, t.TempDir(), env, "cancel", job)
	if code != exitOK || stdout != "job "+job+" was cancelled before; nothing of it was committed\n"+
		"  its output "+out+" is free for another job; fanout gc removes what the job left under _fanout/"+job+"/\n" {
		t.Errorf("cancel again: exit code %d:\n%s", code, stdout)
	}

	// The output is free: another job takes it without --rerun.
	res := runFanout(t, env, "run", "--in", "s3://"+bucket+"/in/", "--fn", "grep", "--arg", "pattern=line",
		"--out", out, "--out-format", "lines", "--workers", "2", "--json", "-q")
	if res.State != "committed" || res.RecordsOut != int64(lines) {
		t.Fatalf("another job on the cancelled job's output: %+v, want committed with %d records", res, lines)
	}
	code, _, stderr = runIn(t, t.TempDir(), env, "cancel", res.Job)
	if code != exitFailed || !strings.Contains(stderr, "fanout: job "+res.Job+" is committed: there is nothing to cancel") {
		t.Errorf("cancel of a committed job: exit code %d, stderr:\n%s", code, stderr)
	}
	worker.Signal(syscall.SIGTERM)
}
