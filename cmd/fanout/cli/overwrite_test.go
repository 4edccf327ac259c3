package cli

import (
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestOverwriteOnMinIOAndRedis runs a job into an output, then another job
// into the same output: refused without --overwrite (the message names
// it, exit 1), committed with it, replacing the first job's files (none of
// them is left outside _fanout/, _SUCCESS names the new job, whose records
// are the output's); status of the first job says it was replaced, and the
// same --overwrite command again finds its job committed before.
func TestOverwriteOnMinIOAndRedis(t *testing.T) {
	bucket, client, env, lines := minioJobEnv(t, 4)
	out := "s3://" + bucket + "/out/"
	first := runFanout(t, env, "run", "--in", "s3://"+bucket+"/in/", "--fn", "grep", "--arg", "pattern=line",
		"--out", out, "--out-format", "lines", "--workers", "2", "--json", "-q")
	if first.State != "committed" || first.RecordsOut != int64(lines) {
		t.Fatalf("the first job: %+v", first)
	}
	second := []string{"run", "--in", "s3://" + bucket + "/in/", "--fn", "grep", "--arg", "pattern=line 1",
		"--out", out, "--out-format", "lines", "--workers", "2", "-q"}
	code, _, stderr := runIn(t, t.TempDir(), env, second...)
	want := "fanout: output " + out + " is owned by job " + first.Job + " (committed): choose another output prefix, or run with --overwrite to replace its output when this job commits"
	if code != exitFailed || !strings.Contains(stderr, want) {
		t.Fatalf("another job without --overwrite: exit code %d, stderr:\n%s\nwant %q", code, stderr, want)
	}

	code, stdout, stderr := runIn(t, t.TempDir(), env, append(second, "--overwrite", "--json")...)
	var res struct {
		runJSON
		Replaces string `json:"replaces"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &res) != nil || res.State != "committed" || res.Replaces != first.Job {
		t.Fatalf("--overwrite: exit code %d, stdout:\n%s\nstderr:\n%s\nwant committed, replaces %s", code, stdout, stderr, first.Job)
	}
	var records int64
	for o := range client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "out/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if strings.HasPrefix(o.Key, "out/_") {
			continue
		}
		if !strings.Contains(o.Key, "part-"+res.Job+"-") {
			t.Errorf("left in the output: %s (the replaced job's?)", o.Key)
			continue
		}
		obj, err := client.GetObject(context.Background(), bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if !strings.Contains(l, "line 1") {
				t.Errorf("%s holds %q, which the new job's grep does not match", o.Key, l)
			}
			records++
		}
	}
	if records != res.RecordsOut || records == 0 {
		t.Errorf("the output holds %d records, the new job committed %d", records, res.RecordsOut)
	}
	obj, err := client.GetObject(context.Background(), bucket, "out/_SUCCESS", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(obj)
	obj.Close()
	if !strings.Contains(string(b), res.Job) {
		t.Errorf("_SUCCESS holds %q, want the new job %s", b, res.Job)
	}

	code, stdout, _ = runIn(t, t.TempDir(), env, "status", first.Job)
	if code != exitOK || !regexp.MustCompile(`(?m)^\s+replaced\s+by job `+res.Job+` \(--overwrite\)`).MatchString(stdout) {
		t.Errorf("status of the replaced job: exit code %d:\n%s", code, stdout)
	}
	code, stdout, _ = runIn(t, t.TempDir(), env, append(second[:len(second)-1], "--overwrite")...)
	if code != exitOK || !strings.Contains(stdout, "job "+res.Job+" committed (committed before: nothing new to do; --rerun runs it again)") {
		t.Errorf("the same --overwrite command again: exit code %d:\n%s", code, stdout)
	}
}
