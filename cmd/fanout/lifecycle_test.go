package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

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
