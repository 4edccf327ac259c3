package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
)

// streamProgram writes a program for exec's streaming mode into dir: a
// shell script that notes its start (one line in the file it returns)
// and runs examples/exec-stream/upper.py with python3. It skips (fails
// when required) without python3.
func streamProgram(t *testing.T, dir string) (program, starts string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		localstack.Missing(t, "python3 (scripts/tools.sh installs it)")
	}
	upper, err := filepath.Abs("../../../examples/exec-stream/upper.py")
	if err != nil {
		t.Fatal(err)
	}
	starts = filepath.Join(dir, "starts")
	program = filepath.Join(dir, "upper-stream")
	script := fmt.Sprintf("#!/bin/sh\necho $$ >> %s\nexec %s %s\n", starts, py, upper)
	if err := os.WriteFile(program, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return program, starts
}

// countLines counts the lines of a file ("" when it does not exist: 0).
func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// TestExecStreamOnWorkProcesses runs an exec job in streaming mode
// (mode=stream: a Python program, standard library only, serving chunk
// after chunk over JSON lines) on two `fanout work` processes on MinIO
// and Redis, admitted by --allow-exec naming the program. The committed
// output is every input line upper-cased, once (the oracle:
// strings.ToUpper over the generated lines), and the programs started
// are at most one per worker slot (2 processes x 2), fewer than the
// chunks they served.
func TestExecStreamOnWorkProcesses(t *testing.T) {
	bucket, client, env, _ := minioJobEnv(t, 30)
	program, starts := streamProgram(t, t.TempDir())
	var want []string
	for _, l := range localstack.OutputLines(t, client, bucket, "in/") { // the generated input
		want = append(want, strings.ToUpper(l))
	}
	slices.Sort(want)

	bin := fanoutBinary(t)
	for _, name := range []string{"worker-a", "worker-b"} {
		localstack.Start(t, name, env, bin, "work", "--concurrency", "2", "--allow-exec", program, "--grace", "1s")
	}
	code, stdout, stderr := runIn(t, t.TempDir(), env, "submit", "--in", "s3://"+bucket+"/in/", "--fn", "exec", "--arg", "cmd="+program,
		"--arg", "mode=stream", "--out", "s3://"+bucket+"/out/", "--out-format", "lines", "--chunk-size", "1KiB")
	if code != exitOK {
		t.Fatalf("submit: exit %d\n%s", code, stderr)
	}
	job := strings.TrimSpace(stdout)
	code, stdout, stderr = runIn(t, t.TempDir(), env, "wait", job, "--out", "s3://"+bucket+"/out/", "--json", "-q")
	var res runJSON
	if code != exitOK || json.Unmarshal([]byte(stdout), &res) != nil || res.State != "committed" {
		t.Fatalf("wait: exit %d: %s\n%s", code, stdout, stderr)
	}
	if got := localstack.OutputLines(t, client, bucket, "out/"); !slices.Equal(got, want) {
		t.Fatalf("output has %d lines, want %d (every input line upper-cased once)", len(got), len(want))
	}
	n := countLines(t, starts)
	if n < 1 || n > 4 || n >= res.Chunks {
		t.Errorf("%d programs started for %d chunks; want 1 to 4 (one per worker slot), fewer than the chunks", n, res.Chunks)
	}
	t.Logf("%d chunks, %d lines served by %d program starts", res.Chunks, len(want), n)
}
