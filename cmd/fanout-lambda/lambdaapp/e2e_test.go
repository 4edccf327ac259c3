package lambdaapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/fanout/lambdafan"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/localstack/lambdaemu"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds the bootstrap (as scripts/package-lambda.sh does, for
// this machine) and the fanout CLI once per test run.
func binaries(t *testing.T) (bootstrap, cli string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "fanout-lambda-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range [][]string{
			{"build", "-tags", "lambda.norpc", "-o", filepath.Join(binDir, "bootstrap"), ".."},
			{"build", "-o", filepath.Join(binDir, "fanout"), "../../fanout"},
		} {
			if out, err := exec.Command("go", b...).CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(b, " "), err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "bootstrap"), filepath.Join(binDir, "fanout")
}

// TestFanOutOverEmulatedLambda runs `fanout run --invoke lambda:worker`
// against the emulator running the real bootstrap: at least 4 instances
// work at once, one is killed mid-chunk, one invocation hits its deadline
// mid-chunk, and the committed output equals a serial computation.
func TestFanOutOverEmulatedLambda(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, redisPrefix := localstack.RedisNamespace(t)
	bootstrap, cli := binaries(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Input: 6 objects of lines; the serial computation is upper-casing.
	var want []string
	for f := range 6 {
		var b strings.Builder
		for i := range 150 + 20*f {
			line := fmt.Sprintf("object %d, line %d: %s", f, i, strings.Repeat("abc", i%7))
			b.WriteString(line + "\n")
			want = append(want, strings.ToUpper(line))
		}
		body := b.String()
		if _, err := client.PutObject(ctx, bucket, fmt.Sprintf("in/part-%d.txt", f), strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)

	s3env := []string{"AWS_ENDPOINT_URL_S3=" + s3.Endpoint, "AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey,
		"AWS_REGION=" + s3.Region, "FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + redisPrefix}
	emu, err := lambdaemu.Start(lambdaemu.Config{Functions: []lambdaemu.Function{{
		Name: "worker", Command: []string{bootstrap}, Timeout: time.Minute, MaxInstances: 6,
		Env: append(slices.Clone(s3env), "FANOUT_DEADLINE_MARGIN=300ms", "FANOUT_GRACE=300ms", "FANOUT_OUT_BASES=s3://"+bucket+"/out/",
			"FANOUT_ALLOW_EXEC=*"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("instance logs:\n%s", emu.Logs(""))
		}
		emu.Close()
	}()
	// The first invocation gets 1.2s: it stops claiming at 0.6s, and its
	// chunk (a second of work) is cut at 0.9s and released.
	emu.SetNextTimeout("worker", 1200*time.Millisecond)

	// Once the short invocation is over, kill one instance while at
	// least 4 work at once.
	var maxBusy int
	killed := make(chan lambdaemu.InstanceInfo, 1)
	killCtx, stopKiller := context.WithCancel(ctx)
	defer stopKiller()
	go func() {
		defer close(killed)
		// short is the short invocation's request ID once it has ended.
		short := func() string {
			for _, inv := range emu.Invocations("worker") {
				if inv.Deadline.Sub(inv.Start) == 1200*time.Millisecond && inv.Outcome != "" {
					return inv.RequestID
				}
			}
			return ""
		}
		// outcome is how the invocation with that request ID ended
		// ("" while it runs).
		outcome := func(id string) string {
			for _, inv := range emu.Invocations("worker") {
				if inv.RequestID == id {
					return inv.Outcome
				}
			}
			return ""
		}
		for {
			var victim lambdaemu.InstanceInfo
			err := emu.Await(killCtx, func() bool {
				// The short invocation's end first: its instance can still
				// look busy with it for a moment, and killing it then kills
				// no invocation (seen under load). An instance looks busy
				// from its invocation's start until it asks for the next
				// one, holding none after it answered: only one that holds
				// an invocation (a request ID) is a victim.
				done := short()
				n, found := 0, false
				for _, in := range emu.Instances("worker") {
					if in.State == "busy" {
						n++
						if done != "" && in.RequestID != "" && in.RequestID != done {
							victim, found = in, true
						}
					}
				}
				maxBusy = max(maxBusy, n)
				return n >= 4 && found
			})
			if err != nil {
				return
			}
			if err := emu.Kill(victim.ID); err != nil {
				return
			}
			// The invocation may have ended between the look and the
			// kill (a loaded machine): then the kill hit an instance
			// between invocations, and another busy one is killed.
			if outcome(victim.RequestID) == lambdaemu.OutcomeExit {
				killed <- victim
				return
			}
		}
	}()

	start := time.Now()
	cmd := exec.CommandContext(ctx, cli, "run", "--in", "s3://"+bucket+"/in/", "--fn", "exec", "--arg", "cmd=sleep 1; tr a-z A-Z",
		"--arg", "shell=true", "--out", "s3://"+bucket+"/out/", "--out-format", "lines", "--chunk-size", "1KiB", "--lease", "3s",
		"--invoke", "lambda:worker", "--concurrency", "5", "--invoke-start-grace", "3s", "--json")
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, s3env...), "AWS_ENDPOINT_URL_LAMBDA="+emu.Endpoint())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fanout run --invoke: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	elapsed := time.Since(start)
	stopKiller()
	var res struct {
		State      string  `json:"state"`
		Chunks     int     `json:"chunks"`
		RecordsIn  int64   `json:"records_in"`
		RecordsOut int64   `json:"records_out"`
		GBSeconds  float64 `json:"lambda_gb_seconds"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json output %q: %v", stdout.String(), err)
	}
	if res.State != "committed" || res.RecordsIn != int64(len(want)) || res.RecordsOut != int64(len(want)) || res.GBSeconds <= 0 {
		t.Fatalf("result %+v: want committed with %d records in and out, and Lambda GB-seconds estimated", res, len(want))
	}

	// Exact output: every line once, as the serial computation has it.
	got := localstack.OutputLines(t, client, bucket, "out/")
	if !slices.Equal(got, want) {
		t.Fatalf("output has %d lines, want %d (the serial computation)", len(got), len(want))
	}

	// The faults happened as planned.
	info, ok := <-killed
	if !ok {
		t.Fatalf("never saw 4 busy instances (at most %d)", maxBusy)
	}
	var exit, deadlineHit, invocations int
	var released int64
	for _, inv := range emu.Invocations("worker") {
		invocations++
		if inv.Outcome == lambdaemu.OutcomeExit && inv.Instance == info.ID && inv.RequestID == info.RequestID {
			exit++
		}
		if inv.Deadline.Sub(inv.Start) == 1200*time.Millisecond {
			var sum lambdafan.WorkSummary
			if inv.Outcome != lambdaemu.OutcomeSuccess || json.Unmarshal(inv.Response, &sum) != nil {
				t.Errorf("the short invocation ended %s: %s", inv.Outcome, inv.Response)
				continue
			}
			if sum.Stopped == "deadline" && sum.Released >= 1 {
				deadlineHit++
				released += sum.Released
			}
		}
	}
	if exit != 1 {
		t.Errorf("killed instance %d holding invocation %s: %d invocations ended with Runtime.ExitError, want that one", info.ID, info.RequestID, exit)
	}
	if deadlineHit != 1 {
		t.Errorf("no invocation released its chunk at the deadline")
	}
	t.Logf("%d chunks, %d lines in %s: %d invocations on %d instances, at least %d busy at once; instance %d killed mid-chunk, %d lease(s) released at a deadline",
		res.Chunks, len(want), elapsed.Round(time.Millisecond), invocations, len(emu.Instances("worker")), maxBusy, info.ID, released)
	if !strings.Contains(stderr.String(), "invocations of lambda:worker") {
		t.Errorf("run did not report its invocations: %s", stderr.String())
	}
}

// TestExecStreamOverEmulatedLambda runs an exec job in streaming mode
// (mode=stream: examples/exec-stream/upper.py, Python's standard library
// only, behind a script that notes each start) with `fanout run --invoke
// lambda:worker` over the real bootstrap under the emulator, at most two
// instances, the program admitted by FANOUT_ALLOW_EXEC naming it, twice
// (two jobs, one after the other, into two outputs). Each committed
// output is every input line upper-cased, once (the oracle:
// strings.ToUpper over the generated lines); a warm instance keeps its
// program between invocations, so the programs started over both jobs
// are at most one per instance, fewer than the chunks.
func TestExecStreamOverEmulatedLambda(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, redisPrefix := localstack.RedisNamespace(t)
	bootstrap, cli := binaries(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		localstack.Missing(t, "python3 (scripts/tools.sh installs it)")
	}
	upper, err := filepath.Abs("../../../examples/exec-stream/upper.py")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	starts, program := filepath.Join(dir, "starts"), filepath.Join(dir, "upper-stream")
	if err := os.WriteFile(program, []byte(fmt.Sprintf("#!/bin/sh\necho $$ >> %s\nexec %s %s\n", starts, py, upper)), 0o755); err != nil {
		t.Fatal(err)
	}
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var want []string
	for f := range 12 {
		var b strings.Builder
		for i := range 40 + f {
			line := fmt.Sprintf("object %d, line %d: %s", f, i, strings.Repeat("xyz", i%5))
			b.WriteString(line + "\n")
			want = append(want, strings.ToUpper(line))
		}
		body := b.String()
		if _, err := client.PutObject(ctx, bucket, fmt.Sprintf("in/part-%02d.txt", f), strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)

	s3env := []string{"AWS_ENDPOINT_URL_S3=" + s3.Endpoint, "AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey,
		"AWS_REGION=" + s3.Region, "FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + redisPrefix}
	emu, err := lambdaemu.Start(lambdaemu.Config{Functions: []lambdaemu.Function{{
		Name: "worker", Command: []string{bootstrap}, Timeout: time.Minute, MaxInstances: 2,
		Env: append(slices.Clone(s3env), "FANOUT_OUT_BASES=s3://"+bucket+"/out/", "FANOUT_ALLOW_EXEC="+program),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("instance logs:\n%s", emu.Logs(""))
		}
		emu.Close()
	}()
	chunks := 0
	for _, out := range []string{"out/a/", "out/b/"} {
		cmd := exec.CommandContext(ctx, cli, "run", "--in", "s3://"+bucket+"/in/", "--fn", "exec", "--arg", "cmd="+program, "--arg", "mode=stream",
			"--out", "s3://"+bucket+"/"+out, "--out-format", "lines", "--chunk-size", "1KiB", "--invoke", "lambda:worker", "--concurrency", "2", "--json")
		cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, s3env...), "AWS_ENDPOINT_URL_LAMBDA="+emu.Endpoint())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("fanout run --invoke: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
		var res struct {
			State  string `json:"state"`
			Chunks int    `json:"chunks"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.State != "committed" {
			t.Fatalf("--json output %q: %v; want committed", stdout.String(), err)
		}
		chunks += res.Chunks
		got := localstack.OutputLines(t, client, bucket, out)
		if !slices.Equal(got, want) {
			t.Fatalf("%s has %d lines, want %d (every input line upper-cased once)", out, len(got), len(want))
		}
	}
	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	n, instances := bytes.Count(b, []byte("\n")), len(emu.Instances("worker"))
	invocations := len(emu.Invocations("worker"))
	if n < 1 || n > instances || n >= chunks {
		t.Errorf("%d programs started for %d chunks on %d instances; want at most one per instance, fewer than the chunks", n, chunks, instances)
	}
	if invocations <= instances {
		t.Errorf("%d invocations on %d instances: no instance served a second invocation (warm), which the test is about", invocations, instances)
	}
	t.Logf("%d chunks over %d invocations on %d instances, served by %d program starts", chunks, invocations, instances, n)
}
