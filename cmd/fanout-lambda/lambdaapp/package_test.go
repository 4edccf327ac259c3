package lambdaapp

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/localstack/lambdaemu"
)

// TestExecProgramShippedInTheZip ships a program that exec runs in the
// function's zip, as a user would: scripts/package-lambda.sh --include
// examples/exec-stream (paths relative to where it is called, --out a
// directory of the test's) builds the stock bootstrap for this machine's
// architecture with upper.py beside it. The zip holds bootstrap and
// upper.py, both executable; unpacked into a task root (/var/task on
// Lambda: the function's working directory), it runs under the emulator,
// which allows only ./upper.py (FANOUT_ALLOW_EXEC), and an exec job in
// streaming mode (cmd=./upper.py, a path that exists only in the task
// root, not where the CLI runs) commits every input line upper-cased once
// (the oracle: strings.ToUpper over the generated lines).
func TestExecProgramShippedInTheZip(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("package-lambda.sh builds for arm64 and amd64, not %s (scripts/test.sh runs this test on both)", runtime.GOARCH)
	}
	for _, tool := range []string{"zip", "unzip", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			localstack.Missing(t, tool+" (scripts/tools.sh installs it)")
		}
	}
	bucket, s3 := localstack.Bucket(t)
	redisURL, redisPrefix := localstack.RedisNamespace(t)
	_, cli := binaries(t)

	dist := t.TempDir()
	pkg := exec.Command("bash", "../../../scripts/package-lambda.sh", "--include", "../../../examples/exec-stream",
		"--out", dist, "--name", "exec-shipped", runtime.GOARCH)
	if out, err := pkg.CombinedOutput(); err != nil {
		t.Fatalf("package-lambda.sh: %v\n%s", err, out)
	}
	taskRoot := t.TempDir()
	entries := unzip(t, filepath.Join(dist, "exec-shipped-"+runtime.GOARCH+".zip"), taskRoot)
	for _, name := range []string{"bootstrap", "upper.py"} {
		mode, ok := entries[name]
		if !ok {
			t.Fatalf("the zip holds %v; want %s in it", entries, name)
		}
		if mode&0o111 == 0 {
			t.Errorf("%s in the zip has mode %v; want it executable", name, mode)
		}
	}

	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var want []string
	for f := range 5 {
		var b strings.Builder
		for i := range 60 + 7*f {
			line := fmt.Sprintf("shipped %d, line %d: %s", f, i, strings.Repeat("qrs", i%4))
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
		Name: "worker", Command: []string{filepath.Join(taskRoot, "bootstrap")}, Dir: taskRoot, Timeout: time.Minute, MaxInstances: 2,
		Env: append(slices.Clone(s3env), "FANOUT_OUT_BASES=s3://"+bucket+"/", "FANOUT_ALLOW_EXEC=./upper.py"),
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
	run := func(out, program string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, cli, "run", "--in", "s3://"+bucket+"/in/", "--fn", "exec", "--arg", "cmd="+program, "--arg", "mode=stream",
			"--out", "s3://"+bucket+"/"+out, "--out-format", "lines", "--chunk-size", "1KiB",
			"--invoke", "lambda:worker", "--concurrency", "2", "--json")
		cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, s3env...), "AWS_ENDPOINT_URL_LAMBDA="+emu.Endpoint())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String() + stderr.String(), err
	}
	if _, err := os.Stat("upper.py"); err == nil {
		t.Fatal("upper.py is in the CLI's working directory: the test would not show that the function found it in its task root")
	}
	out, err := run("out/", "./upper.py")
	if err != nil {
		t.Fatalf("fanout run --invoke: %v\n%s", err, out)
	}
	var res struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &res); err != nil || res.State != "committed" {
		t.Fatalf("fanout run --invoke: %s (%v); want committed", out, err)
	}
	if got := localstack.OutputLines(t, client, bucket, "out/"); !slices.Equal(got, want) {
		t.Fatalf("output has %d lines, want %d (every input line upper-cased once)", len(got), len(want))
	}

}

// unzip extracts the zip at path into dir, keeping each file's mode, and
// returns the modes by name.
func unzip(t *testing.T, path, dir string) map[string]os.FileMode {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	modes := map[string]os.FileMode{}
	for _, f := range r.File {
		modes[f.Name] = f.Mode()
		if f.FileInfo().IsDir() {
			continue
		}
		src, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(f.Name)), os.O_CREATE|os.O_WRONLY|os.O_EXCL, f.Mode().Perm())
		if err == nil {
			_, err = io.Copy(dst, src)
			err = errors.Join(err, dst.Close())
		}
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return modes
}
