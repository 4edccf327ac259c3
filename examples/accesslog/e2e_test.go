package accesslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/localstack/lambdaemu"
)

// userModule is the import path the example gets when a test builds it
// as a user's own module, outside this repository.
const userModule = "example.com/accesslog"

var (
	buildOnce sync.Once
	bins      map[string]string
	buildDir  string
	buildErr  error
)

// TestMain removes the user's module and binaries (about 170 MB) that
// the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// userBinaries builds the example as a user would: its files copied into
// a module of their own (example.com/accesslog) that requires fanout
// through a replace directive pointing at this repository, then go build
// of its CLI (accesslog), Lambda bootstrap (accesslog-lambda) and one-call
// program (accesslog-adhoc), and fanout's own stock CLI (fanout), once per
// test run.
func userBinaries(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() { bins, buildErr = buildUserModule() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bins
}

func buildUserModule() (map[string]string, error) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fanout-user-module-")
	if err != nil {
		return nil, err
	}
	buildDir = dir
	src := filepath.Join(dir, "src")
	err = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte(`"github.com/fanout-dev/fanout/examples/accesslog"`), []byte(`"`+userModule+`"`))
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(src, p), b, 0o644)
	})
	if err != nil {
		return nil, err
	}
	gomod := fmt.Sprintf("module %s\n\ngo 1.26.0\n\nrequire github.com/fanout-dev/fanout v0.0.0\n\nreplace github.com/fanout-dev/fanout => %s\n", userModule, repo)
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, err
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "go.sum"), sum, 0o644); err != nil {
		return nil, err
	}
	out := map[string]string{}
	steps := []struct {
		dir  string
		args []string
	}{
		{src, []string{"mod", "tidy"}},
		{src, []string{"build", "-o", filepath.Join(dir, "accesslog"), "./cmd/accesslog"}},
		{src, []string{"build", "-tags", "lambda.norpc", "-o", filepath.Join(dir, "accesslog-lambda"), "./cmd/accesslog-lambda"}},
		{src, []string{"build", "-o", filepath.Join(dir, "accesslog-adhoc"), "./cmd/accesslog-adhoc"}},
		{repo, []string{"build", "-o", filepath.Join(dir, "fanout"), "./cmd/fanout"}},
	}
	for _, s := range steps {
		cmd := exec.Command("go", s.args...)
		cmd.Dir = s.dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(s.args, " "), s.dir, err, b)
		}
	}
	for _, name := range []string{"accesslog", "accesslog-lambda", "accesslog-adhoc", "fanout"} {
		out[name] = filepath.Join(dir, name)
	}
	return out, nil
}

// stackEnv is the environment of the processes of a test on the local
// MinIO and Redis.
func stackEnv(s3 localstack.S3Config, redisURL, prefix string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_ENDPOINT_URL_S3=" + s3.Endpoint, "AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey,
		"AWS_REGION=" + s3.Region, "FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + prefix}
}

// putLogs writes the generated objects under in/.
func putLogs(t *testing.T, client *minio.Client, bucket string, bodies []string) {
	t.Helper()
	for i, b := range bodies {
		if _, err := client.PutObject(context.Background(), bucket, fmt.Sprintf("in/access-%d.log", i), strings.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// s3Files returns the bodies of the output files under prefix with ext.
func s3Files(t *testing.T, client *minio.Client, bucket, prefix, ext string) []string {
	t.Helper()
	var bodies []string
	for o := range client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if strings.Contains(o.Key, "/_") || !strings.HasSuffix(o.Key, ext) {
			continue
		}
		obj, err := client.GetObject(context.Background(), bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, buf.String())
	}
	return bodies
}

// markerWorkers reads the chunk markers (kind "chunks") and reduce
// markers ("reduce") under a job's _fanout/<job>/ prefix and returns the
// worker each names.
func markerWorkers(t *testing.T, client *minio.Client, bucket, prefix string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for o := range client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		kind, _, _ := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if (kind != "chunks" && kind != "reduce") || !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		obj, err := client.GetObject(context.Background(), bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Worker string `json:"worker"`
			State  string `json:"state"`
		}
		err = json.NewDecoder(obj).Decode(&m)
		obj.Close()
		if err != nil {
			t.Fatalf("marker %s: %v", o.Key, err)
		}
		if m.State != "done" {
			t.Errorf("marker %s: state %q, want done", o.Key, m.State)
		}
		out[kind] = append(out[kind], m.Worker)
	}
	return out
}

// workerPid is the process ID in a worker's name (host:pid/slot), or -1.
func workerPid(w string) int {
	_, rest, ok := strings.Cut(w, ":")
	pid, _, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(pid)
	if !ok || err != nil {
		return -1
	}
	return n
}

// run runs a command to its end and returns its stdout.
func run(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	p := localstack.Start(t, filepath.Base(bin)+" "+args[0], env, bin, args...)
	if err := p.Wait(t, 3*time.Minute); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, p.Stderr())
	}
	return p.Stdout()
}

// TestUserBinaryInAMixedFleetOnMinIOAndRedis builds the example as a
// user's own program and runs its two jobs (visitors, an aggregation
// with a reduce stage, and accesslog, a map) with two `work` processes of
// that program, while a stock `fanout work` process serves the same
// Redis and runs a built-in job submitted at the same time. Every job
// commits with the serial computation's output; every map and reduce
// marker of the user's jobs names one of the user's work processes (the
// stock worker does not have their function and never claimed a chunk of
// them), and nothing failed.
func TestUserBinaryInAMixedFleetOnMinIOAndRedis(t *testing.T) {
	bins := userBinaries(t)
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	bodies, all := genLogs(2, 5, 400)
	putLogs(t, client, bucket, bodies)
	env := stackEnv(s3, redisURL, prefix)
	in := "s3://" + bucket + "/in/"
	common := []string{"--in", in, "--format", "lines", "--chunk-size", "8KiB", "--lease", "10s"}

	submit := func(bin, fn, out, outFormat string, extra ...string) string {
		args := append(append([]string{"submit"}, common...), append([]string{"--fn", fn, "--out", "s3://" + bucket + "/" + out, "--out-format", outFormat}, extra...)...)
		return strings.TrimSpace(run(t, env, bin, args...))
	}
	visitors := submit(bins["accesslog"], "visitors", "visitors/", "csv", "--reducers", "3")
	parsed := submit(bins["accesslog"], "accesslog", "parsed/", "jsonl")
	grep := submit(bins["fanout"], "grep", "grep/", "lines", "--arg", "pattern=POST")

	stock := localstack.Start(t, "fanout work", env, bins["fanout"], "-v", "work", "--concurrency", "2", "--out-base", "s3://"+bucket+"/")
	userPids := map[int]bool{}
	for i := range 2 {
		p := localstack.Start(t, fmt.Sprintf("accesslog work %d", i), env, bins["accesslog"], "-v", "work", "--concurrency", "2", "--out-base", "s3://"+bucket+"/")
		userPids[p.Pid()] = true
	}
	wait := func(bin, job, out string) {
		run(t, env, bin, "wait", job, "--out", "s3://"+bucket+"/"+out)
	}
	wait(bins["accesslog"], visitors, "visitors/")
	wait(bins["accesslog"], parsed, "parsed/")
	wait(bins["fanout"], grep, "grep/")

	checkVisitors(t, csvRows(t, s3Files(t, client, bucket, "visitors/", ".csv")), all)
	if got, want := jsonRows(t, s3Files(t, client, bucket, "parsed/", ".jsonl")), parsedOracle(all); !slices.Equal(got, want) {
		t.Errorf("parsed output has %d rows, want %d (serial); first got %q, want %q", len(got), len(want), first(got), first(want))
	}
	var wantPost []string
	for _, l := range all {
		if strings.Contains(l.text, "POST") {
			wantPost = append(wantPost, l.text)
		}
	}
	var gotPost []string
	for _, b := range s3Files(t, client, bucket, "grep/", "") {
		gotPost = append(gotPost, strings.Split(strings.TrimSuffix(b, "\n"), "\n")...)
	}
	slices.Sort(gotPost)
	slices.Sort(wantPost)
	if !slices.Equal(gotPost, wantPost) {
		t.Errorf("grep output has %d lines, want %d", len(gotPost), len(wantPost))
	}

	// Each chunk ran on a worker that has its function: every map and
	// reduce marker of the user's jobs names one of the user's work
	// processes (worker host:pid/slot), none the stock worker.
	for _, j := range []struct{ job, out string }{{visitors, "visitors/"}, {parsed, "parsed/"}} {
		markers := markerWorkers(t, client, bucket, j.out+"_fanout/"+j.job+"/")
		if len(markers["chunks"]) == 0 || (j.job == visitors && len(markers["reduce"]) == 0) {
			t.Errorf("job %s: markers %v; want map markers (and reduce markers for visitors)", j.job, markers)
		}
		for kind, workers := range markers {
			for _, w := range workers {
				if pid := workerPid(w); !userPids[pid] {
					t.Errorf("job %s: a %s marker names worker %q (pid %d), not one of the user's work processes %v (stock worker: %d)", j.job, kind, w, pid, userPids, stock.Pid())
				}
			}
		}
	}
	if n := len(markerWorkers(t, client, bucket, "grep/_fanout/"+grep+"/")["chunks"]); n == 0 {
		t.Errorf("the built-in job has no chunk markers")
	}

	log := stock.Stderr()
	for _, job := range []string{visitors, parsed} {
		if strings.Contains(log, job) {
			t.Errorf("the stock fanout worker's log mentions the user's job %s (it must never claim its chunks):\n%s", job, log)
		}
	}
	if !strings.Contains(log, grep) {
		t.Logf("the stock worker ran no chunk of the built-in job (the user's workers took them all)")
	}
	var status struct {
		State  string `json:"state"`
		Failed []any  `json:"failed"`
	}
	for _, j := range []struct{ job, out string }{{visitors, "visitors/"}, {parsed, "parsed/"}} {
		out := run(t, env, bins["accesslog"], "status", j.job, "--out", "s3://"+bucket+"/"+j.out, "--json")
		if err := json.Unmarshal([]byte(out), &status); err != nil || status.State != "committed" || len(status.Failed) != 0 {
			t.Errorf("status %s: %s (%v); want committed, nothing failed", j.job, out, err)
		}
	}
}

// TestAdhocRunJoinedByUserWorkers runs the example's one-call program
// (accesslog-adhoc: adhoc.Run of visitors) distributed: with
// FANOUT_REDIS_URL set, two `accesslog work` processes of the same user
// module join in. The job commits with the serial computation's output;
// the work processes ran some of its chunks (their markers name them:
// the program and the CLI, built from one module, carry one version of
// the function) and every marker names one of the three processes.
func TestAdhocRunJoinedByUserWorkers(t *testing.T) {
	bins := userBinaries(t)
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	bodies, all := genLogs(4, 24, 120)
	putLogs(t, client, bucket, bodies)
	env := stackEnv(s3, redisURL, prefix)
	workers := map[int]bool{}
	for i := range 2 {
		p := localstack.Start(t, fmt.Sprintf("accesslog work %d", i), env, bins["accesslog"], "work", "--concurrency", "2", "--out-base", "s3://"+bucket+"/")
		p.WaitLog(t, "work: serving", 30*time.Second)
		workers[p.Pid()] = true
	}
	adhoc := localstack.Start(t, "accesslog-adhoc", env, bins["accesslog-adhoc"], "-chunk-size", "4KiB", "s3://"+bucket+"/in/", "s3://"+bucket+"/visitors/")
	if err := adhoc.Wait(t, 3*time.Minute); err != nil {
		t.Fatalf("accesslog-adhoc: %v\n%s", err, adhoc.Stderr())
	}
	if got, want := strings.TrimSpace(adhoc.Stdout()), fmt.Sprintf("committed %d lines,", len(all)); !strings.HasPrefix(got, want) {
		t.Errorf("accesslog-adhoc printed %q, want it to begin %q", got, want)
	}
	checkVisitors(t, csvRows(t, s3Files(t, client, bucket, "visitors/", ".csv")), all)

	var job string
	for o := range client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "visitors/_fanout/"}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if name := strings.TrimSuffix(strings.TrimPrefix(o.Key, "visitors/_fanout/"), "/"); strings.HasPrefix(name, "j") {
			job = name
		}
	}
	if job == "" {
		t.Fatal("no job under visitors/_fanout/")
	}
	byWorkers := 0
	markers := markerWorkers(t, client, bucket, "visitors/_fanout/"+job+"/")
	for _, w := range markers["chunks"] {
		pid := workerPid(w)
		switch {
		case workers[pid]:
			byWorkers++
		case pid != adhoc.Pid():
			t.Errorf("a chunk marker names worker %q: neither accesslog-adhoc (%d) nor a work process %v", w, adhoc.Pid(), workers)
		}
	}
	if len(markers["chunks"]) < len(bodies) || byWorkers == 0 {
		t.Errorf("%d chunk markers, %d of them by the work processes; want at least %d, some by the work processes (they did not join in)",
			len(markers["chunks"]), byWorkers, len(bodies))
	}
	t.Logf("%d chunks: %d by the work processes, %d by accesslog-adhoc", len(markers["chunks"]), byWorkers, len(markers["chunks"])-byWorkers)
}

// TestUserBootstrapUnderTheLambdaEmulator runs the user's visitors job
// with `accesslog run --invoke lambda:worker`: the chunks and reduce
// tasks run in invocations of the user's own bootstrap (lambdaapp.Start)
// under the project's Lambda emulator, and the output equals the serial
// computation.
func TestUserBootstrapUnderTheLambdaEmulator(t *testing.T) {
	bins := userBinaries(t)
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	bodies, all := genLogs(3, 4, 300)
	putLogs(t, client, bucket, bodies)
	env := stackEnv(s3, redisURL, prefix)
	emu, err := lambdaemu.Start(lambdaemu.Config{Functions: []lambdaemu.Function{{
		Name: "worker", Command: []string{bins["accesslog-lambda"]}, Timeout: time.Minute, MaxInstances: 3,
		Env: append(slices.Clone(env[2:]), "FANOUT_OUT_BASES=s3://"+bucket+"/"),
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
	out := run(t, append(env, "AWS_ENDPOINT_URL_LAMBDA="+emu.Endpoint()), bins["accesslog"], "run", "--in", "s3://"+bucket+"/in/",
		"--format", "lines", "--fn", "visitors", "--out", "s3://"+bucket+"/visitors/", "--out-format", "csv", "--chunk-size", "8KiB",
		"--reducers", "2", "--invoke", "lambda:worker", "--concurrency", "3", "--json")
	var res struct {
		State     string `json:"state"`
		Chunks    int    `json:"chunks"`
		RecordsIn int64  `json:"records_in"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.State != "committed" || res.RecordsIn != int64(len(all)) {
		t.Fatalf("run --invoke: %s (%v); want committed with %d records in", out, err, len(all))
	}
	checkVisitors(t, csvRows(t, s3Files(t, client, bucket, "visitors/", ".csv")), all)
	if n := len(emu.Invocations("worker")); n == 0 {
		t.Errorf("no invocation of the user's bootstrap")
	}
	t.Logf("%d chunks over %d invocations of the user's bootstrap", res.Chunks, len(emu.Invocations("worker")))
}

// TestUserBinarySaysItsOwnName: the user's binary (cli.Main without a
// name) names itself after its executable in its version, errors, usage
// lines and help, never "fanout".
func TestUserBinarySaysItsOwnName(t *testing.T) {
	bin := userBinaries(t)["accesslog"]
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cases := []struct {
		name     string
		args     []string
		exit     int
		stdout   []string // each must appear
		stderr   []string
		noFanout bool // the output must not name the program fanout
	}{
		{"version", []string{"--version"}, 0, []string{"accesslog (devel)"}, nil, true},
		{"unknown command", []string{"bogus"}, 2, nil, []string{`accesslog: unknown command "bogus"; see accesslog --help`}, true},
		{"unknown function", []string{"run", "--in", "file:///nonexistent/", "--fn", "visitr", "--out", "file:///nonexistent-out/"}, 2, nil,
			[]string{"accesslog: --fn visitr: unknown function (did you mean visitors?); accesslog functions lists them"}, true},
		{"missing argument", []string{"wait"}, 2, nil, []string{"accesslog: wait: accepts 1 arg(s), received 0 (usage: accesslog wait JOB [flags])"}, true},
		{"help", []string{"--help"}, 0, []string{"Usage:\n  accesslog [command]", `"accesslog work" processes join in`}, nil, true},
		{"flag help", []string{"run", "--help"}, 0, []string{"accesslog run", "as listed by accesslog functions"}, nil, true},
		{"functions", []string{"functions"}, 0, []string{"visitors", "accesslog", "e.g. accesslog run --fn"}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, err := localstack.Run(context.Background(), env, bin, c.args...)
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.exit {
				t.Errorf("exit status %d, want %d; stderr %q", code, c.exit, stderr)
			}
			for _, w := range c.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout %q\nlacks %q", stdout, w)
				}
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q\nlacks %q", stderr, w)
				}
			}
			if c.noFanout {
				for _, bad := range []string{"fanout:", "fanout --help", "fanout functions", "fanout work", "fanout run", "  fanout [command]"} {
					if strings.Contains(stdout+stderr, bad) {
						t.Errorf("output names the program fanout (%q):\n%s%s", bad, stdout, stderr)
					}
				}
			}
		})
	}
}
