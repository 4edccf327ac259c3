package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/redis/go-redis/v9"
)

// The tests in this file run the real binary as a person would, on a
// pseudo-terminal where a terminal matters, and pin its exit codes and
// messages.

// waitFor polls until cond holds, failing the test at the deadline.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool, output func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s; output so far:\n%s", what, timeout, output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitWithin waits for cmd to exit and returns its exit code; a process
// still running at the deadline is killed and fails the test (a hang).
func exitWithin(t *testing.T, cmd *exec.Cmd, timeout time.Duration, output func() string) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("wait: %v", err)
			}
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("fanout did not exit within %s (hung); output:\n%s", timeout, output())
		return -1
	}
}

// slowJob is an embedded job of many chunks that each take a while
// (exec sleeps, then passes its records through), over lines whose
// multiset is the oracle of the output.
type slowJob struct {
	dir   string
	lines []string
	args  []string
}

func newSlowJob(t *testing.T, sleep string, extra ...string) *slowJob {
	t.Helper()
	dir := t.TempDir()
	j := &slowJob{dir: dir}
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for f := range 10 {
		var b strings.Builder
		for i := range 1000 {
			line := fmt.Sprintf("file %d line %d", f, i)
			j.lines = append(j.lines, line)
			b.WriteString(line + "\n")
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("f%02d.txt", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// About 40 chunks of 4 KiB.
	j.args = append([]string{"run", "--in", "in/", "--fn", "exec", "--arg", "cmd=sleep " + sleep + "; cat", "--arg", "shell=true",
		"--out", "out/", "--out-format", "lines", "--chunk-size", "4KiB", "--workers", "2"}, extra...)
	return j
}

func (j *slowJob) command(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(fanoutBinary(t), args...)
	cmd.Dir = j.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TERM=xterm"}
	return cmd
}

// checkOutput compares the committed output's lines with the input's:
// every line exactly once.
func (j *slowJob) checkOutput(t *testing.T) {
	t.Helper()
	var got []string
	err := filepath.WalkDir(filepath.Join(j.dir, "out"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".txt") || strings.Contains(p, "/_fanout/") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got = append(got, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(j.lines)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("output: got %d lines, want the %d input lines once each", len(got), len(want))
	}
	if _, err := os.Stat(filepath.Join(j.dir, "out", "_SUCCESS")); err != nil {
		t.Fatalf("no _SUCCESS after the commit: %v", err)
	}
}

// ansi matches the terminal control sequences of the live line.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]|\r`)

func TestCtrlCOnATerminalStopsWithAResumeHintAndTheSameCommandResumes(t *testing.T) {
	j := newSlowJob(t, "0.3")
	cmd := j.command(t, j.args...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out lockedBuffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, tty) // ends with EIO once the process closed the terminal
		close(copied)
	}()
	text := func() string { return ansi.ReplaceAllString(out.String(), "\n") }

	// Ctrl-C once some chunks are done and others run.
	someDone := regexp.MustCompile(`job j[0-9a-f]+: [1-9][0-9]*/[0-9]+ chunks done, [1-9] running`)
	waitFor(t, "progress line with chunks done", 2*time.Minute, func() bool { return someDone.MatchString(text()) }, text)
	if _, err := tty.Write([]byte{3}); err != nil { // ^C: the terminal sends SIGINT
		t.Fatal(err)
	}
	code := exitWithin(t, cmd, time.Minute, text)
	select { // the process's last words may still be in the terminal
	case <-copied:
	case <-time.After(30 * time.Second):
		t.Fatalf("the terminal did not close within 30s of the exit; output:\n%s", text())
	}
	got := text()
	if code != exitInterrupted {
		t.Fatalf("exit code %d, want %d; output:\n%s", code, exitInterrupted, got)
	}
	for _, want := range []string{
		"fanout: interrupt: stopping: no new chunks are claimed; running ones get 5s (--grace) to finish, then go back to the queue (press Ctrl-C again to exit at once)",
		"; nothing was committed, finished chunks keep their markers",
		"resume with: " + shellQuote(append([]string{fanoutBinary(t)}, j.args...)),
		"         or: " + fanoutBinary(t) + " wait j",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if m := regexp.MustCompile(`interrupted: job j[0-9a-f]+ has ([0-9]+) of ([0-9]+) chunks done`).FindStringSubmatch(got); m == nil || m[1] == "0" || m[1] == m[2] {
		t.Errorf("output lacks the interrupted job's chunk counts (some but not all done): %v\n%s", m, got)
	}
	if strings.Contains(got, "context canceled") {
		t.Errorf("output shows an internal error:\n%s", got)
	}

	// The same command resumes the job and commits it.
	again := j.command(t, j.args...)
	var stdout, stderr lockedBuffer
	again.Stdout, again.Stderr = &stdout, &stderr
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitWithin(t, again, 2*time.Minute, func() string { return stdout.String() + stderr.String() }); code != exitOK {
		t.Fatalf("the same command again: exit code %d, want 0\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if !regexp.MustCompile(`job j[0-9a-f]+ committed \(resumed: [1-9][0-9]* of its [0-9]+ tasks were done before\)`).MatchString(stdout.String()) {
		t.Errorf("the resumed run does not say it resumed:\n%s", stdout.String())
	}
	j.checkOutput(t)
}

func TestInterruptWithPipedOutput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sleep string
		extra []string
		// second sends SIGTERM after the first SIGINT's notice.
		second bool
		want   []string
	}{
		{name: "once", sleep: "0.3", want: []string{
			"fanout: interrupt: stopping: no new chunks are claimed; running ones get 5s (--grace) to finish, then go back to the queue (press Ctrl-C again to exit at once)\n",
			"; nothing was committed, finished chunks keep their markers\n",
		}},
		// Chunks that outlive a long grace: the first signal waits for
		// them, the second exits at once.
		{name: "twice", sleep: "20", extra: []string{"--grace", "10m"}, second: true, want: []string{
			"fanout: SIGTERM again: exiting now; the chunks still running go back to the queue when their leases expire, finished chunks keep their markers\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newSlowJob(t, tc.sleep, tc.extra...)
			cmd := j.command(t, j.args...)
			var stdout, stderr lockedBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			text := func() string { return stdout.String() + stderr.String() }
			waitFor(t, "progress line", 2*time.Minute, func() bool { return strings.Contains(stderr.String(), " running") }, text)
			cmd.Process.Signal(syscall.SIGINT)
			if tc.second {
				waitFor(t, "stopping notice", time.Minute, func() bool { return strings.Contains(stderr.String(), "fanout: interrupt: stopping") }, text)
				cmd.Process.Signal(syscall.SIGTERM)
			}
			if code := exitWithin(t, cmd, time.Minute, text); code != exitInterrupted {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, exitInterrupted, text())
			}
			got := stderr.String()
			want := append(tc.want, "resume with: "+shellQuote(append([]string{fanoutBinary(t)}, j.args...))+"\n")
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("stderr lacks %q:\n%s", w, got)
				}
			}
			if strings.Contains(got, "context canceled") || strings.Contains(got, "\x1b[") {
				t.Errorf("stderr shows an internal error or terminal codes on a pipe:\n%s", got)
			}
		})
	}
}

// runIn runs the binary in dir and returns its exit code, stdout and
// stderr; a run that does not end within a minute fails the test.
func runIn(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(fanoutBinary(t), args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code := exitWithin(t, cmd, time.Minute, func() string { return stdout.String() + stderr.String() })
	return code, stdout.String(), stderr.String()
}

func TestUsageMistakesAndFailuresSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "a.txt"), []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"dup/x.csv":         "a,b,a\n1,2,3\n",
		"noname/y.csv":      "a,,c\n1,2,3\n",
		"parquet/p.parquet": "not parquet",
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	bin := fanoutBinary(t)
	out := "file://" + filepath.Join(dir, "failed")
	for _, tc := range []struct {
		name string
		args []string
		code int
		// stderr is the whole of stderr, or (with contains) a part.
		stderr   string
		contains bool
	}{
		{name: "misspelt flag", args: []string{"run", "--wokers", "2"}, code: exitUsage,
			stderr: "fanout: unknown flag --wokers (did you mean --workers?); see fanout run --help\n"},
		{name: "bad flag value", args: []string{"run", "--workers", "x"}, code: exitUsage,
			stderr: "fanout: --workers \"x\": want a whole number; see fanout run --help\n"},
		{name: "negative workers", args: []string{"--redis", "127.0.0.1:1", "run", "--in", "in/", "--fn", "grep", "--arg", "pattern=o", "--out", "o5/", "--workers", "-1"}, code: exitUsage,
			stderr: "fanout: --workers -1: want 0 or more (0: leave the chunks to worker processes)\n"},
		{name: "worker without slots", args: []string{"--redis", "127.0.0.1:1", "work", "--out-base", "o/", "--concurrency", "0"}, code: exitUsage,
			stderr: "fanout: --concurrency 0: want 1 or more\n"},
		{name: "wrong input scheme", args: []string{"run", "--in", "gs://b/in/", "--fn", "grep", "--arg", "pattern=o", "--out", "o6/"}, code: exitUsage,
			stderr: "fanout: --in \"gs://b/in/\": unsupported scheme \"gs\" (want s3://, file:// or a local path)\n"},
		{name: "wrong output scheme", args: []string{"run", "--in", "in/", "--fn", "grep", "--arg", "pattern=o", "--out", "ftp://h/o/"}, code: exitUsage,
			stderr: "fanout: --out \"ftp://h/o/\": unsupported scheme \"ftp\" (want s3://, file:// or a local path)\n"},
		{name: "bad bucket name", args: []string{"run", "--in", "s3://B_d/in/", "--fn", "grep", "--arg", "pattern=o", "--out", "o7/"}, code: exitUsage, contains: true,
			stderr: "fanout: --in \"s3://B_d/in/\": "},
		{name: "bad failure tolerance", args: []string{"run", "--in", "in/", "--fn", "grep", "--arg", "pattern=o", "--out", "o8/", "--max-failed", "5x"}, code: exitUsage,
			stderr: "fanout: --max-failed: \"5x\": want N or P% with N a non-negative integer\n"},
		{name: "embedded job without its output", args: []string{"wait", "j0123456789abcdef0123"}, code: exitFailed,
			stderr: "fanout: the job's output is needed: pass --out URL, or --redis URL (or FANOUT_REDIS_URL) for the queue that ran the job\n"},
		{name: "short dashboard token", args: []string{"--redis", "127.0.0.1:1", "ui", "--ui-token", "abc"}, code: exitUsage,
			stderr: "fanout: --ui-token (or FANOUT_UI_TOKEN): 3 characters; want at least 6 (openssl rand -hex 16 makes one)\n"},
		{name: "dashboard without Redis", args: []string{"ui"}, code: exitFailed,
			stderr: "fanout: ui: this command needs Redis: pass --redis URL or set FANOUT_REDIS_URL (the dashboard shows the jobs of a Redis queue)\n"},
		{name: "misspelt command", args: []string{"stauts"}, code: exitUsage,
			stderr: "fanout: unknown command \"stauts\" (did you mean status?); see fanout --help\n"},
		{name: "missing argument", args: []string{"status"}, code: exitUsage,
			stderr: "fanout: status: accepts 1 arg(s), received 0 (usage: fanout status JOB [flags])\n"},
		{name: "missing flag", args: []string{"run", "--fn", "grep", "--out", "o/"}, code: exitUsage,
			stderr: "fanout: --in is required (or --in-inventory, --in-keys)\n"},
		{name: "misspelt function", args: []string{"run", "--in", "in/", "--fn", "convrt", "--out", "o/"}, code: exitUsage,
			stderr: "fanout: --fn convrt: unknown function (did you mean convert?); fanout functions lists them\n"},
		{name: "unknown function described", args: []string{"functions", "grp"}, code: exitUsage,
			stderr: "fanout: unknown function \"grp\" (did you mean grep?); fanout functions lists them\n"},
		{name: "bad output format", args: []string{"run", "--in", "in/", "--fn", "convert", "--out", "o/", "--out-format", "xml"}, code: exitUsage,
			stderr: "fanout: --out-format: unknown output format \"xml\" (want parquet, jsonl, csv or lines)\n"},
		{name: "misspelt column", args: []string{"run", "--in", "in/", "--fn", "convert", "--arg", "select=lien", "--out", "o1/"}, code: exitFailed,
			stderr: "fanout: convert: select=\"lien\": unknown column \"lien\" (did you mean \"line\"? columns: line)\n"},
		{name: "misspelt argument", args: []string{"run", "--in", "in/", "--fn", "grep", "--arg", "patern=o", "--out", "o2/"}, code: exitFailed,
			stderr: "fanout: grep: unknown argument \"patern\" (did you mean pattern? valid: column, delim, escape, header, invert, max_page_size, nullstr, pattern, quote, schema)\n"},
		{name: "misspelt partition column", args: []string{"run", "--in", "in/", "--fn", "grep", "--arg", "pattern=o", "--out", "o3/", "--partition-by", "lien"}, code: exitFailed,
			stderr: "fanout: --partition-by lien: the output of grep has no column \"lien\" (did you mean \"line\"? columns: line)\n"},
		{name: "Redis down", args: []string{"--redis", "127.0.0.1:1", "status", "j0123456789abcdef0123"}, code: exitFailed,
			stderr: "fanout: cannot reach Redis at 127.0.0.1:1 (dial tcp 127.0.0.1:1: connect: connection refused): start it, or run without --redis and FANOUT_REDIS_URL (embedded mode)\n"},
		{name: "Redis Cluster with a database", args: []string{"--redis", "redis+cluster://127.0.0.1:1,127.0.0.1:2/3", "status", "j0123456789abcdef0123"}, code: exitFailed,
			stderr: "fanout: --redis (or FANOUT_REDIS_URL) redis+cluster://127.0.0.1:1,127.0.0.1:2/3: a Redis Cluster has only database 0, not \"/3\"\n"},
		{name: "unknown job", args: []string{"status", "j0123456789abcdef0123", "--out", "nojob/"}, code: exitFailed,
			stderr: "fanout: unknown job: no manifest of job J under file://" + filepath.Join(dir, "nojob") + "\n"},
		{name: "unknown job redriven", args: []string{"redrive", "j0123456789abcdef0123", "--out", "nojob/"}, code: exitFailed,
			stderr: "fanout: unknown job: no manifest of job J under file://" + filepath.Join(dir, "nojob") + "\n"},
		{name: "unknown job cancelled", args: []string{"cancel", "j0123456789abcdef0123", "--out", "nojob/"}, code: exitFailed,
			stderr: "fanout: unknown job: job J has neither an owner record nor a manifest under file://" + filepath.Join(dir, "nojob") + "\n"},
		{name: "repeated CSV column", args: []string{"run", "--in", "dup/", "--fn", "convert", "--out", "o9/"}, code: exitFailed,
			stderr: "fanout: x.csv: the CSV header names column \"a\" twice (columns 1 and 3): fix the header in the file, or read the header line as data with --arg header=false (columns column0, column1, ...)\n"},
		{name: "CSV column without a name", args: []string{"run", "--in", "noname/", "--fn", "convert", "--out", "o10/"}, code: exitFailed,
			stderr: "fanout: y.csv: the CSV header's column 2 has no name: fix the header in the file, or read the header line as data with --arg header=false (columns column0, column1, ...)\n"},
		{name: "repeated CSV column inferred", args: []string{"infer", "--in", "dup/"}, code: exitFailed,
			stderr: "fanout: x.csv: the CSV header names column \"a\" twice (columns 1 and 3): fix the header in the file, or read the header line as data with --arg header=false (columns column0, column1, ...)\n"},
		{name: "CSV column without a name inferred", args: []string{"infer", "--in", "noname/"}, code: exitFailed,
			stderr: "fanout: y.csv: the CSV header's column 2 has no name: fix the header in the file, or read the header line as data with --arg header=false (columns column0, column1, ...)\n"},
		{name: "repeated CSV column profiled", args: []string{"profile", "--in", "dup/", "--out", "o12/"}, code: exitFailed, contains: true,
			stderr: "fanout: x.csv: the CSV header names column \"a\" twice (columns 1 and 3): fix the header in the file, or read the header line as data with --arg header=false (columns column0, column1, ...)\n"},
		{name: "not Parquet", args: []string{"run", "--in", "parquet/", "--fn", "convert", "--out", "o11/"}, code: exitFailed,
			stderr: "fanout: input p.parquet: parquet: corrupt Parquet file: 11 bytes is too small for a Parquet file\n"},
		{name: "a job commits into a local output", args: []string{"run", "--in", "in/", "--fn", "grep", "--arg", "pattern=o", "--out", "owned/", "-q"}, code: exitOK, stderr: ""},
		{name: "another job into that output", args: []string{"run", "--in", "in/", "--fn", "grep", "--arg", "pattern=t", "--out", "owned/", "-q"}, code: exitFailed,
			stderr: "fanout: output file://" + filepath.Join(dir, "owned") + " is owned by job J (committed): choose another output prefix, or run with --overwrite to replace its output when this job commits\n"},
		{name: "failed job", args: []string{"run", "--in", "in/", "--fn", "exec", "--arg", "cmd=false", "--out", "failed/", "--max-attempts", "1", "--workers", "1", "-q"},
			code: exitFailed, contains: true,
			stderr: "c00000000: exec: \"false\": exit status 1; after fixing the cause: " + bin + " redrive J --out " + out + " && " + bin + " wait J --out " + out + " --workers 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runIn(t, dir, env, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			got := regexp.MustCompile(`\bj[0-9a-f]{20}\b`).ReplaceAllString(stderr, "J")
			if tc.contains && !strings.Contains(got, tc.stderr) || !tc.contains && got != tc.stderr {
				t.Errorf("stderr:\n%s\nwant (contains: %v):\n%s", got, tc.contains, tc.stderr)
			}
			for _, bad := range []string{"chunk c00000000: chunk", "function convert: convert:", "manifest: spec:", "pool.go", "fanout: fanout:", "objstore:", "manifest:",
				"codec:", "miniostore:", "s3store:", "filestore:"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr repeats an internal prefix %q:\n%s", bad, stderr)
				}
			}
		})
	}
}

// hostPortRedisAndInput gives a test's Redis as host:port (no scheme), its
// key prefix, and a directory holding in/a.txt with content.
func hostPortRedisAndInput(t *testing.T, content []byte) (host, prefix, dir string) {
	t.Helper()
	redisURL, prefix := localstack.RedisNamespace(t)
	u, err := url.Parse(redisURL)
	if err != nil || u.User != nil {
		localstack.Missing(t, "a Redis URL without credentials (this test passes Redis as host:port; scripts/test.sh's has none)")
	}
	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "a.txt"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	return u.Host, prefix, dir
}

// A Redis address without a scheme is accepted, and a job whose input
// changed after it was planned fails saying that --rerun plans the
// changed input.
func TestRedisHostPortAndTheRerunHint(t *testing.T) {
	host, prefix, dir := hostPortRedisAndInput(t, []byte("one\ntwo\n"))
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	global := []string{"--redis", host, "--redis-prefix", prefix}
	code, stdout, stderr := runIn(t, dir, env, append(global, "submit", "--in", "in/", "--fn", "grep", "--arg", "pattern=o", "--out", "out/", "--max-attempts", "1")...)
	if code != exitOK {
		t.Fatalf("submit with --redis %s: exit code %d; stderr:\n%s", host, code, stderr)
	}
	job := strings.TrimSpace(stdout)
	if err := os.WriteFile(filepath.Join(dir, "in", "a.txt"), []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runIn(t, dir, env, append(global, "wait", job, "--workers", "1", "-q")...)
	if code != exitFailed {
		t.Fatalf("wait: exit code %d, want %d; stderr:\n%s", code, exitFailed, stderr)
	}
	for _, want := range []string{"a.txt changed after the job was planned", "; the job reads the input as it was planned: run it again with --rerun to plan the changed input as a new job\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// run --workers 0 with no worker says after a while how to start one;
// the command it prints starts a worker that says what it serves, and
// the job commits.
func TestRunWithoutWorkersSaysHowToStartOne(t *testing.T) {
	host, prefix, dir := hostPortRedisAndInput(t, []byte("one\ntwo\nthree\n"))
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	run := exec.Command(fanoutBinary(t), "--redis", host, "--redis-prefix", prefix, "run", "--in", "in/", "--fn", "grep",
		"--arg", "pattern=o", "--out", "out/", "--workers", "0")
	run.Dir, run.Env = dir, env
	var stdout, stderr lockedBuffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Process.Kill()
	hint := regexp.MustCompile(`fanout: no worker has claimed a chunk of job j[0-9a-f]+ for 15s; start one: (.*) \(or run with --workers N\)\n`)
	waitFor(t, "the no-worker hint", 2*time.Minute, func() bool { return hint.MatchString(stderr.String()) }, stderr.String)
	workArgs := strings.Fields(hint.FindStringSubmatch(stderr.String())[1])
	if want := []string{fanoutBinary(t), "--redis", host, "--redis-prefix", prefix, "work", "--out-base", "file://" + filepath.Join(dir, "out")}; !slices.Equal(workArgs, want) {
		t.Fatalf("hint's command %q, want %q", workArgs, want)
	}
	work := exec.Command(workArgs[0], workArgs[1:]...)
	work.Dir, work.Env = dir, env
	var workErr lockedBuffer
	work.Stderr = &workErr
	if err := work.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		work.Process.Signal(syscall.SIGTERM)
		exitWithin(t, work, time.Minute, workErr.String)
	}()
	if code := exitWithin(t, run, 2*time.Minute, func() string { return stdout.String() + stderr.String() }); code != exitOK {
		t.Fatalf("run: exit code %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), " committed\n") || !regexp.MustCompile(`\n  records +3 in, 2 out\n`).MatchString(stdout.String()) {
		t.Errorf("run's summary:\n%s", stdout.String())
	}
	chunks := fmt.Sprintf("%d chunks at once", runtime.NumCPU())
	if runtime.NumCPU() == 1 {
		chunks = "1 chunk at a time"
	}
	banner := fmt.Sprintf("fanout work: serving every job with output under file://%s in Redis at redis://%s (key prefix %s), %s; Ctrl-C or SIGTERM stops (running chunks get 30s)\n",
		filepath.Join(dir, "out"), host, prefix, chunks)
	if !strings.HasPrefix(workErr.String(), banner) {
		t.Errorf("worker's stderr does not start with %q:\n%s", banner, workErr.String())
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runIn(t, t.TempDir(), nil, "--version")
	want := regexp.MustCompile(`^fanout \S.*; go1\.[0-9.]+\S* ` + runtime.GOOS + `/` + runtime.GOARCH + "\n$")
	if code != exitOK || !want.MatchString(stdout) {
		t.Errorf("--version: exit code %d, stdout %q, stderr %q; want 0 and %s", code, stdout, stderr, want)
	}
}

func TestJobsListsTheQueuedJobs(t *testing.T) {
	redisURL, prefix := localstack.RedisNamespace(t)
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "x.txt"), []byte("one\ntwo\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + prefix}
	want := map[string]string{}
	for _, d := range []string{"a", "b"} {
		code, stdout, stderr := runIn(t, dir, env, "submit", "--in", d+"/", "--fn", "grep", "--arg", "pattern=o", "--out", "out-"+d+"/")
		if code != exitOK {
			t.Fatalf("submit: exit code %d: %s", code, stderr)
		}
		job := strings.TrimSpace(stdout)
		want[job] = "file://" + filepath.Join(dir, "out-"+d)
		// Every command the note suggests names the program the same
		// way, as it was called, with the global flags given (none here).
		bin := fanoutBinary(t)
		if note := fmt.Sprintf("fanout: job %s: 1 chunk(s) queued; %s work processes run them and commit the job when the last one settles; %s wait %s waits for the commit, %s status %s shows progress\n",
			job, bin, bin, job, bin, job); stderr != note {
			t.Errorf("submit's stderr:\n%s\nwant:\n%s", stderr, note)
		}
	}
	code, stdout, stderr := runIn(t, dir, env, "jobs")
	if code != exitOK {
		t.Fatalf("jobs: exit code %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^JOB +STATE +DONE +RUNNING +FAILED +AGE +OUTPUT$`).MatchString(lines[0]) {
		t.Fatalf("jobs printed:\n%s\nwant a header and 2 jobs", stdout)
	}
	var jobs []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 7 || want[f[0]] != f[6] || f[1] != "queued" || f[2] != "0/1" || f[3] != "0" || f[4] != "0" {
			t.Errorf("jobs line %q: want one of %v, queued, 0/1 done, none running or failed", l, want)
		}
		if _, err := time.ParseDuration(f[5]); err != nil {
			t.Errorf("jobs line %q: age %q: %v", l, f[5], err)
		}
		jobs = append(jobs, f[0])
	}
	var listed []struct {
		Job, State string
	}
	code, stdout, stderr = runIn(t, dir, env, "jobs", "--json")
	if err := json.Unmarshal([]byte(stdout), &listed); code != exitOK || err != nil || len(listed) != 2 || listed[0].State != "queued" || listed[1].State != "queued" {
		t.Fatalf("jobs --json: exit code %d, %v, stdout:\n%s\nstderr: %s; want the 2 jobs queued", code, err, stdout, stderr)
	}

	// One commits, the other is cancelled: both are listed after the
	// queue forgot them, with their state, age and output.
	if code, _, stderr := runIn(t, dir, env, "wait", jobs[0], "--workers", "1", "-q"); code != exitOK {
		t.Fatalf("wait: exit code %d: %s", code, stderr)
	}
	if code, _, stderr := runIn(t, dir, env, "cancel", jobs[1]); code != exitOK {
		t.Fatalf("cancel: exit code %d: %s", code, stderr)
	}
	code, stdout, stderr = runIn(t, dir, env, "jobs")
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitOK || len(lines) != 3 {
		t.Fatalf("jobs after the commit and the cancel: exit code %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
	states := map[string]string{jobs[0]: "committed", jobs[1]: "cancelled"}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 7 || states[f[0]] != f[1] || want[f[0]] != f[6] {
			t.Errorf("jobs line %q: want %v with its output", l, states)
			continue
		}
		if _, err := time.ParseDuration(f[5]); err != nil {
			t.Errorf("jobs line %q: age %q: %v", l, f[5], err)
		}
	}
}

// --progress json writes NDJSON events: planned first, one chunk event
// per chunk, the commit, done last; -v --log-format json logs each chunk's
// claim and its end with counts, as JSON lines on the same stderr.
func TestProgressJSONAndChunkLogs(t *testing.T) {
	j := newSlowJob(t, "0")
	args := append(slices.Clone(j.args), "--progress", "json", "-v", "--log-format", "json")
	code, stdout, stderr := runIn(t, j.dir, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, args...)
	if code != exitOK {
		t.Fatalf("exit code %d\n%s%s", code, stdout, stderr)
	}
	j.checkOutput(t)
	var events []map[string]any
	claimed, logged := map[string]bool{}, map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		switch {
		case m["event"] != nil:
			events = append(events, m)
		case m["msg"] == "chunk claimed":
			claimed[m["chunk"].(string)] = true
		case m["msg"] == "chunk done":
			logged[m["chunk"].(string)] = m["records_in"].(float64)
		}
	}
	if len(events) < 4 || events[0]["event"] != "planned" || events[len(events)-1]["event"] != "done" ||
		events[len(events)-1]["state"] != "committed" || events[len(events)-2]["event"] != "commit" && events[len(events)-2]["event"] != "chunk" {
		t.Fatalf("events: %v", events)
	}
	chunks := int(events[0]["chunks"].(float64))
	var chunkEvents, records int
	for _, e := range events {
		if e["event"] == "chunk" && e["outcome"] == "done" {
			chunkEvents++
			records += int(e["records_in"].(float64))
		}
	}
	var logRecords float64
	for _, n := range logged {
		logRecords += n
	}
	if chunks < 2 || chunkEvents != chunks || records != len(j.lines) || len(claimed) != chunks || len(logged) != chunks || int(logRecords) != len(j.lines) ||
		events[len(events)-1]["records_in"].(float64) != float64(len(j.lines)) {
		t.Errorf("%d chunks planned: %d chunk events with %d records, %d claims and %d done logs with %v records, done event %v; want every chunk and the %d records once",
			chunks, chunkEvents, records, len(claimed), len(logged), logRecords, events[len(events)-1], len(j.lines))
	}
}

// fanout wait of a submitted job, on a terminal: the first Ctrl-C stops
// it with status 130, the chunks done so far, that the job stays queued
// and the wait command that goes on; a second Ctrl-C, while chunks
// outlive a long grace, exits at once. The job then commits with the
// printed command.
func TestCtrlCOnWaitOnATerminal(t *testing.T) {
	redisURL, prefix := localstack.RedisNamespace(t)
	j := newSlowJob(t, "0.3")
	dir := j.dir
	global := []string{"--redis", redisURL, "--redis-prefix", prefix}
	submitArgs := append(slices.Clone(global), "submit")
	for i := 1; i < len(j.args); i++ {
		if j.args[i] == "--workers" {
			i++ // not a flag of submit
			continue
		}
		submitArgs = append(submitArgs, j.args[i])
	}
	submit := j.command(t, submitArgs...)
	out, err := submit.Output()
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	job := strings.TrimSpace(string(out))
	for _, tc := range []struct {
		name  string
		args  []string
		twice bool
	}{
		{name: "once", args: []string{"wait", job, "--workers", "2"}},
		{name: "twice", args: []string{"wait", job, "--workers", "2", "--grace", "10m"}, twice: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := j.command(t, append(slices.Clone(global), tc.args...)...)
			tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 400})
			if err != nil {
				t.Fatal(err)
			}
			defer tty.Close()
			var buf lockedBuffer
			copied := make(chan struct{})
			go func() {
				io.Copy(&buf, tty)
				close(copied)
			}()
			text := func() string { return ansi.ReplaceAllString(buf.String(), "\n") }
			waitFor(t, "a progress line with chunks running", 2*time.Minute, func() bool {
				return regexp.MustCompile(`job ` + job + `: [0-9]+/[0-9]+ chunks done, [1-9] running`).MatchString(text())
			}, text)
			tty.Write([]byte{3})
			if tc.twice {
				waitFor(t, "the stopping notice", time.Minute, func() bool { return strings.Contains(text(), "fanout: interrupt: stopping") }, text)
				tty.Write([]byte{3})
			}
			code := exitWithin(t, cmd, time.Minute, text)
			select {
			case <-copied:
			case <-time.After(30 * time.Second):
				t.Fatalf("the terminal did not close within 30s of the exit; output:\n%s", text())
			}
			got := text()
			if code != exitInterrupted {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, exitInterrupted, got)
			}
			want := []string{"resume with: " + shellQuote(append(append([]string{fanoutBinary(t)}, global...), "wait", job, "--workers", "2"))}
			if tc.twice {
				want = append(want, "fanout: interrupt again: exiting now; the chunks still running go back to the queue when their leases expire, finished chunks keep their markers")
			} else {
				want = append(want, "fanout: interrupt: stopping: no new chunks are claimed; running ones get 5s (--grace) to finish, then go back to the queue (press Ctrl-C again to exit at once)",
					"; nothing was committed, finished chunks keep their markers; the job stays queued in Redis (running `fanout work` processes go on with it)")
			}
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			if strings.Contains(got, "context canceled") {
				t.Errorf("output shows an internal error:\n%s", got)
			}
		})
	}
	// The printed command commits the job.
	code, stdout, stderr := runIn(t, dir, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, append(slices.Clone(global), "wait", job, "--workers", "2", "-q")...)
	if code != exitOK || !strings.Contains(stdout, "job "+job+" committed") {
		t.Fatalf("wait after the interrupts: exit code %d\n%s%s", code, stdout, stderr)
	}
	j.checkOutput(t)
}

// On a terminal, the commit is a phase of its own with its own progress:
// the live line names the commit's step and counts its items (the chunk
// markers read, the files published) while this process commits a job
// of many files on MinIO.
func TestCommitProgressOnATerminal(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("id,p\n")
	for i := range 30000 {
		fmt.Fprintf(&b, "%d,p%d\n", i, i%6)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "a.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fanoutBinary(t), "run", "--in", "in/", "--fn", "convert", "--out", "s3://"+bucket+"/out/", "--out-format", "jsonl",
		"--partition-by", "p", "--chunk-size", "1KiB", "--target-file-size", "off", "--workers", "2")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TERM=xterm", "AWS_ENDPOINT_URL_S3=" + s3.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey, "AWS_REGION=" + s3.Region}
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out lockedBuffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, tty)
		close(copied)
	}()
	text := func() string { return ansi.ReplaceAllString(out.String(), "\n") }
	if code := exitWithin(t, cmd, 5*time.Minute, text); code != exitOK {
		t.Fatalf("exit code %d; output:\n%s", code, text())
	}
	select {
	case <-copied:
	case <-time.After(30 * time.Second):
	}
	got := text()
	files := regexp.MustCompile(`(?m)^\s+files\s+([0-9]+) `).FindStringSubmatch(got)
	if files == nil {
		t.Fatalf("no summary:\n%s", got)
	}
	steps := regexp.MustCompile(`committing: (reading chunk markers|publishing files) ([0-9]+)/([0-9]+) \([0-9]+s\)`).FindAllStringSubmatch(got, -1)
	if len(steps) == 0 {
		t.Fatalf("the live line never showed the commit's step and count:\n%s", got)
	}
	for _, s := range steps {
		done, _ := strconv.Atoi(s[2])
		total, _ := strconv.Atoi(s[3])
		if done > total || s[1] == "publishing files" && s[3] != files[1] {
			t.Errorf("commit progress %q: want at most its total, and the job's %s files to publish", s[0], files[1])
		}
	}
}

// A process that does not commit the job shows the committer's step and
// count too: a fanout work commits a job of many files on MinIO, shares
// its progress in Redis, and a fanout wait --workers 0 on a terminal
// shows it. The committer is stopped (SIGSTOP) while it is in a counted
// step, so the test knows what the viewer must show: the step and count
// the committer last shared, its total the files the job committed (or
// its chunks, for the markers).
func TestCommitProgressOfAnotherProcess(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("id,p\n")
	for i := range 30000 {
		fmt.Fprintf(&b, "%d,p%d\n", i, i%12)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "a.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TERM=xterm", "AWS_ENDPOINT_URL_S3=" + s3.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey, "AWS_REGION=" + s3.Region,
		"FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + prefix}
	code, stdout, stderr := runIn(t, dir, env, "submit", "--in", "in/", "--fn", "convert", "--out", "s3://"+bucket+"/out/", "--out-format", "jsonl",
		"--partition-by", "p", "--chunk-size", "1KiB", "--target-file-size", "off")
	if code != exitOK {
		t.Fatalf("submit: exit code %d: %s", code, stderr)
	}
	job := strings.TrimSpace(stdout)

	work := exec.Command(fanoutBinary(t), "work", "--out-base", "s3://"+bucket+"/")
	work.Dir, work.Env = dir, env
	var workErr lockedBuffer
	work.Stderr = &workErr
	if err := work.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if stopped {
			work.Process.Signal(syscall.SIGCONT)
		}
		work.Process.Signal(syscall.SIGTERM)
		exitWithin(t, work, time.Minute, workErr.String)
	}()
	// The committer's shared progress, read as the viewer reads it.
	key := prefix + ":{" + job + "}:commitprogress"
	var shared fanout.CommitProgress
	sharedNow := func() bool {
		v, err := rdb.Get(t.Context(), key).Bytes()
		if err != nil {
			return false
		}
		shared = fanout.CommitProgress{}
		if err := json.Unmarshal(v, &shared); err != nil {
			t.Fatalf("commit progress %q: %v", v, err)
		}
		return shared.Total > 0
	}
	waitFor(t, "the committer's progress in a counted step", 5*time.Minute, sharedNow, workErr.String)
	if err := work.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped = true
	// Stopped now: what it shared last stays (its TTL is the lease's).
	waitFor(t, "the stopped committer's progress", time.Minute, sharedNow, workErr.String)
	want := fmt.Sprintf("committing: %s %d/%d (", shared.Step, shared.Done, shared.Total)

	view := exec.Command(fanoutBinary(t), "wait", job, "--workers", "0")
	view.Dir, view.Env = dir, env
	tty, err := pty.StartWithSize(view, &pty.Winsize{Rows: 40, Cols: 400})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out lockedBuffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, tty)
		close(copied)
	}()
	text := func() string { return ansi.ReplaceAllString(out.String(), "\n") }
	waitFor(t, "the viewer's line with "+want, 2*time.Minute, func() bool { return strings.Contains(text(), want) }, text)
	if err := work.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	if code := exitWithin(t, view, 5*time.Minute, text); code != exitOK {
		t.Fatalf("wait: exit code %d; output:\n%s", code, text())
	}
	select {
	case <-copied:
	case <-time.After(30 * time.Second):
	}
	got := text()
	oracle := map[string]string{"publishing files": `files`, "reading chunk markers": `chunks`}[shared.Step]
	if oracle == "" {
		t.Fatalf("the committer was stopped in step %q, want one counting files or chunk markers", shared.Step)
	}
	n := regexp.MustCompile(`(?m)^\s+` + oracle + `\s+([0-9]+)`).FindStringSubmatch(got)
	if n == nil || n[1] != strconv.Itoa(shared.Total) {
		t.Errorf("the viewer showed %q, want its total the job's %s in the summary (%v):\n%s", want, oracle, n, got)
	}
	if shared.Done > shared.Total {
		t.Errorf("the viewer showed %q: more done than its total", want)
	}
}
