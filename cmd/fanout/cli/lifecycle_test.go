package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/minio/minio-go/v7"
)

// minioJobEnv puts n small line objects under in/ of a fresh MinIO bucket
// and returns the bucket, a client, the environment of a fanout process
// on that bucket and a fresh Redis namespace, and the number of lines.
func minioJobEnv(t *testing.T, n int) (string, *minio.Client, []string, int) {
	t.Helper()
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for i := range n {
		var b strings.Builder
		for j := range 50 + i {
			fmt.Fprintf(&b, "object %d line %d\n", i, j)
			lines++
		}
		body := []byte(b.String())
		if _, err := client.PutObject(context.Background(), bucket, fmt.Sprintf("in/o%02d.txt", i), bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")
	return bucket, client, env, lines
}

// After the commit Redis forgets the job but keeps a record of its
// output, so that status finds the commit record without --out.
func TestStatusAfterCommitWithoutOut(t *testing.T) {
	bucket, _, env, lines := minioJobEnv(t, 6)
	res := runFanout(t, env, "run", "--in", "s3://"+bucket+"/in/", "--fn", "grep", "--arg", "pattern=line",
		"--out", "s3://"+bucket+"/out/", "--out-format", "jsonl", "--chunk-size", "1KiB", "--workers", "2", "--json", "-q")
	if res.State != "committed" || res.RecordsOut != int64(lines) {
		t.Fatalf("run: %+v, want committed with %d records out", res, lines)
	}

	code, stdout, stderr := runIn(t, t.TempDir(), env, "status", res.Job, "--json")
	if code != exitOK {
		t.Fatalf("status --json without --out: exit code %d; stderr:\n%s", code, stderr)
	}
	var st runJSON
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status --json: %v: %s", err, stdout)
	}
	if st.Job != res.Job || st.State != "committed" || st.Chunks != res.Chunks || st.RecordsIn != int64(lines) ||
		st.RecordsOut != int64(lines) || st.Output != res.Output || st.Files != res.Files {
		t.Errorf("status --json = %+v, want the run's %+v", st, res)
	}

	code, stdout, stderr = runIn(t, t.TempDir(), env, "status", res.Job)
	if code != exitOK {
		t.Fatalf("status without --out: exit code %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{`(?m)^job ` + res.Job + `: committed$`, fmt.Sprintf(`(?m)^\s+records\s+%d in, %d out$`, lines, lines),
		`(?m)^\s+output\s+` + regexp.QuoteMeta(res.Output) + `$`} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("status does not match %s:\n%s", want, stdout)
		}
	}

	// A job the queue never knew still asks for --out.
	code, _, stderr = runIn(t, t.TempDir(), env, "status", "j0123456789abcdef")
	if code != exitFailed || !strings.Contains(stderr, "pass --out URL") {
		t.Errorf("status of an unknown job: exit code %d, stderr:\n%s", code, stderr)
	}
}

// run --dry-run and submit --dry-run plan without writing to the output
// or touching the queue, and print the numbers the real run then has; a
// misspelt partition column fails the dry run as it fails a run.
func TestDryRunWritesNothingAndMatchesTheRun(t *testing.T) {
	bucket, client, env, lines := minioJobEnv(t, 6)
	job := []string{"--in", "s3://" + bucket + "/in/", "--fn", "grep", "--arg", "pattern=line",
		"--out", "s3://" + bucket + "/out/", "--out-format", "jsonl", "--chunk-size", "1KiB"}
	type planJSON struct {
		Job      string `json:"job"`
		DryRun   bool   `json:"dry_run"`
		Objects  int64  `json:"objects"`
		Chunks   int    `json:"chunks"`
		BytesIn  int64  `json:"bytes_in"`
		Reducers int    `json:"reducers"`
		Requests int64  `json:"s3_requests_estimate"`
		Layout   string `json:"layout"`
		Compacts bool   `json:"compaction"`
		Target   int64  `json:"target_file_size"`
	}
	dry := func(cmd string, extra ...string) (int, string, string) {
		return runIn(t, t.TempDir(), env, append(append([]string{cmd, "--dry-run"}, job...), extra...)...)
	}
	code, stdout, stderr := dry("run", "--json")
	if code != exitOK {
		t.Fatalf("run --dry-run --json: exit code %d; stderr:\n%s", code, stderr)
	}
	var plan planJSON
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatalf("run --dry-run --json: %v: %s", err, stdout)
	}
	wantLayout := "s3://" + bucket + "/out/part-" + plan.Job + "-<task>-<n>.jsonl"
	if !plan.DryRun || plan.Objects != 6 || plan.Chunks < 6 || plan.Reducers != 0 || plan.Requests < int64(3*plan.Chunks) || plan.Layout != wantLayout {
		t.Errorf("run --dry-run --json = %+v; want 6 objects, at least 6 chunks, no reducers, an estimate of at least 3 requests a chunk, layout %s", plan, wantLayout)
	}
	if plan.Compacts || plan.Target != 0 {
		t.Errorf("run --dry-run --json of a map-only JSONL job: compaction %v, target %d; want none", plan.Compacts, plan.Target)
	}
	// Partitioned Parquet is right-sized by default: the dry run says so.
	csvDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(csvDir, "a.csv"), []byte("region,n\neu,1\nus,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sizedJob := []string{"run", "--dry-run", "--in", csvDir + "/", "--fn", "convert", "--out", filepath.Join(t.TempDir(), "out"), "--out-format", "parquet", "--partition-by", "region"}
	code, stdout, stderr = runIn(t, t.TempDir(), env, append(sizedJob, "--json")...)
	var sized planJSON
	if err := json.Unmarshal([]byte(stdout), &sized); code != exitOK || err != nil || !sized.Compacts || sized.Target != 128<<20 {
		t.Errorf("run --dry-run of partitioned Parquet: exit code %d, %v, %+v; want a compaction stage to 128 MiB files; stderr:\n%s", code, err, sized, stderr)
	}
	code, stdout, _ = runIn(t, t.TempDir(), env, sizedJob...)
	if !regexp.MustCompile(`(?m)^\s+compaction\s+each partition's map files under 64.0 MiB merged into files of about 128.0 MiB`).MatchString(stdout) {
		t.Errorf("run --dry-run of partitioned Parquet says no compaction:\n%s", stdout)
	}
	code, stdout, stderr = dry("submit")
	if code != exitOK {
		t.Fatalf("submit --dry-run: exit code %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{`(?m)^dry run: job ` + plan.Job + ` \(nothing written, nothing queued\)$`,
		`(?m)^\s+input\s+6 objects, .* \(lines\)$`, fmt.Sprintf(`(?m)^\s+chunks\s+%d$`, plan.Chunks),
		`(?m)^\s+reduce\s+none \(map only\)$`, fmt.Sprintf(`(?m)^\s+requests\s+at least ~%d S3 requests$`, plan.Requests),
		`(?m)^\s+output\s+` + regexp.QuoteMeta(wantLayout) + `$`} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("submit --dry-run does not match %s:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = dry("run", "--partition-by", "lien")
	if code != exitFailed || !strings.Contains(stderr, `--partition-by lien: the output of grep has no column "lien"`) {
		t.Errorf("run --dry-run --partition-by lien: exit code %d, want %d; stderr:\n%s", code, exitFailed, stderr)
	}
	if keys := listKeys(t, client, bucket, "out/"); len(keys) != 0 {
		t.Fatalf("the dry runs wrote to the output: %v", keys)
	}
	code, stdout, stderr = runIn(t, t.TempDir(), env, "jobs", "--json")
	if code != exitOK || strings.Contains(stdout, plan.Job) {
		t.Errorf("jobs after the dry runs: exit code %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = runIn(t, t.TempDir(), env, append(append([]string{"run"}, job...), "--workers", "2", "--json", "-q")...)
	if code != exitOK {
		t.Fatalf("run: exit code %d; stderr:\n%s", code, stderr)
	}
	var res struct {
		planJSON
		State      string `json:"state"`
		RecordsOut int64  `json:"records_out"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("run --json: %v: %s", err, stdout)
	}
	if res.State != "committed" || res.RecordsOut != int64(lines) || res.Job != plan.Job || res.Objects != plan.Objects ||
		res.Chunks != plan.Chunks || res.BytesIn != plan.BytesIn {
		t.Errorf("run --json = %+v; want committed, %d records, and the dry run's job, objects, chunks and bytes %+v", res, lines, plan)
	}
}

// wait's summary gives the job's time, from its planning to its commit
// (the commit record's wall time, which status shows too), not the time
// wait itself ran: a job submitted a while before it is waited for took
// at least that while.
func TestWaitReportsTheJobsTimeNotItsOwn(t *testing.T) {
	bucket, _, env, lines := minioJobEnv(t, 4)
	dir := t.TempDir()
	code, stdout, stderr := runIn(t, dir, env, "submit", "--in", "s3://"+bucket+"/in/", "--fn", "grep", "--arg", "pattern=line",
		"--out", "s3://"+bucket+"/out/", "--out-format", "jsonl", "--chunk-size", "1KiB")
	if code != exitOK {
		t.Fatalf("submit: exit code %d; stderr:\n%s", code, stderr)
	}
	job := strings.TrimSpace(stdout)
	submitted := time.Now()
	// The job ages before anyone runs it (no worker serves this namespace).
	const age = 2 * time.Second
	time.Sleep(age)
	code, stdout, stderr = runIn(t, dir, env, "wait", job, "--workers", "2", "--json", "-q")
	if code != exitOK {
		t.Fatalf("wait: exit code %d; stderr:\n%s", code, stderr)
	}
	var waited struct {
		runJSON
		Elapsed time.Duration `json:"elapsed_ns"`
	}
	if err := json.Unmarshal([]byte(stdout), &waited); err != nil {
		t.Fatalf("wait --json: %v: %s", err, stdout)
	}
	if waited.State != "committed" || waited.RecordsOut != int64(lines) {
		t.Fatalf("wait --json: %+v, want committed with %d records", waited, lines)
	}
	code, stdout, stderr = runIn(t, dir, env, "status", job, "--json")
	if code != exitOK {
		t.Fatalf("status: exit code %d; stderr:\n%s", code, stderr)
	}
	var st struct {
		Elapsed time.Duration `json:"elapsed_ns"`
		Timings struct {
			Wall string `json:"wall"`
		} `json:"timings"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status --json: %v: %s", err, stdout)
	}
	if waited.Elapsed < age || waited.Elapsed != st.Elapsed {
		t.Errorf("wait's elapsed_ns %v, want the job's wall time (status: %v, %s), at least the %v it waited before wait ran",
			waited.Elapsed, st.Elapsed, st.Timings.Wall, age)
	}
	// The text summary says the same; waiting again (committed before) too.
	code, stdout, stderr = runIn(t, dir, env, "wait", job)
	if code != exitOK {
		t.Fatalf("wait again: exit code %d; stderr:\n%s", code, stderr)
	}
	m := regexp.MustCompile(`(?m)^\s+time\s+(\S+) \(`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("wait's summary has no time line:\n%s", stdout)
	}
	if d, err := time.ParseDuration(m[1]); err != nil || d != st.Elapsed.Round(time.Millisecond) || d > time.Since(submitted) {
		t.Errorf("wait's summary time %s, want the job's %v", m[1], st.Elapsed.Round(time.Millisecond))
	}
}

// A submitted job commits without anyone running wait: the `fanout work`
// process that settles its last chunk commits it. submit says so; status,
// run in processes of their own, sees the job committed; jobs lists it;
// the output holds every input line once and _SUCCESS.
func TestSubmittedJobCommitsWithoutWait(t *testing.T) {
	bucket, client, env, lines := minioJobEnv(t, 5)
	bin := fanoutBinary(t)
	dir := t.TempDir()
	code, stdout, stderr := runIn(t, dir, env, "submit", "--in", "s3://"+bucket+"/in/", "--fn", "grep", "--arg", "pattern=line",
		"--out", "s3://"+bucket+"/out/", "--out-format", "jsonl", "--chunk-size", "1KiB")
	if code != exitOK {
		t.Fatalf("submit: exit code %d; stderr:\n%s", code, stderr)
	}
	job := strings.TrimSpace(stdout)
	if !strings.Contains(stderr, bin+" work processes run them and commit the job when the last one settles") {
		t.Errorf("submit does not say who commits the job:\n%s", stderr)
	}
	w := localstack.Start(t, "worker", env, bin, "work", "-v", "--concurrency", "2", "--grace", "1s")
	t.Cleanup(w.Kill)
	var st runJSON
	waitFor(t, "the job committed, seen by status", 2*time.Minute, func() bool {
		code, stdout, _ := runIn(t, dir, env, "status", job, "--json")
		return code == exitOK && json.Unmarshal([]byte(stdout), &st) == nil && st.State == "committed"
	}, w.Stderr)
	if st.RecordsOut != int64(lines) || st.Chunks < 2 {
		t.Errorf("status: %+v, want %d records out of several chunks", st, lines)
	}
	// The worker's -v log, text (not a terminal: no colours), has each
	// chunk's claim and its end with counts and duration.
	claimed := regexp.MustCompile(`(?m)^time=\S+ level=DEBUG msg="chunk claimed" job=` + job + ` chunk=(c[0-9]+) attempt=1 worker=\S+$`)
	done := regexp.MustCompile(`(?m)^time=\S+ level=INFO msg="chunk done" job=` + job + ` chunk=(c[0-9]+) duration=[0-9.]+m?s records_in=([0-9]+) records_out=([0-9]+) bytes_in=[1-9][0-9]*$`)
	var dones [][]string
	waitFor(t, "every chunk's end in the worker's log", 30*time.Second, func() bool {
		dones = done.FindAllStringSubmatch(w.Stderr(), -1)
		return len(dones) >= st.Chunks
	}, w.Stderr)
	claims := claimed.FindAllStringSubmatch(w.Stderr(), -1)
	var logged int64
	for _, d := range dones {
		n, _ := strconv.ParseInt(d[2], 10, 64)
		logged += n
	}
	if len(claims) != st.Chunks || len(dones) != st.Chunks || logged != int64(lines) {
		t.Errorf("the worker's -v log: %d claims and %d ends with %d records, want %d chunks and %d records:\n%s", len(claims), len(dones), logged, st.Chunks, lines, w.Stderr())
	}
	code, stdout, _ = runIn(t, dir, env, "jobs")
	if code != exitOK || !regexp.MustCompile(`(?m)^`+job+` +committed +`).MatchString(stdout) {
		t.Errorf("jobs: exit code %d:\n%s\nwant the job committed", code, stdout)
	}
	local := t.TempDir()
	keys := download(t, client, bucket, "out/", local)
	if !slices.Contains(keys, "_SUCCESS") {
		t.Errorf("no _SUCCESS among %q", keys)
	}
	var got []string
	for _, l := range readLines(t, local) {
		var rec struct{ Line string }
		if err := json.Unmarshal(l, &rec); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		got = append(got, rec.Line)
	}
	var want []string
	for i := range 5 {
		for j := range 50 + i {
			want = append(want, fmt.Sprintf("object %d line %d", i, j))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("output: %d lines, want the %d input lines once each", len(got), len(want))
	}
}
