package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
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

	"github.com/parquet-go/parquet-go"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
)

// The README's shell blocks are run by TestREADME. Each ```sh block is
// preceded by a marker comment, which GitHub does not render:
//
//	<!-- readme-test: NAME -->              run, then checked by readmeBlocks[NAME]
//	<!-- readme-test: not run: REASON -->   not run, for the reason given
//
// A shell block without a marker, a marker the test does not know, or a
// known block missing from the README fails the test.

// readmeBlock is what the test knows about one runnable README block.
type readmeBlock struct {
	// services: the block starts MinIO and Redis with scripts/services.sh.
	services bool
	// check verifies the block's outcome in the clone.
	check func(t *testing.T, r *readmeRun)
}

// readmeBlocks are the runnable blocks, in the order the README has them.
var readmeBlocks = map[string]readmeBlock{
	"demo":    {check: checkDemoBlock},
	"by-hand": {check: checkByHandBlock},
	"minio":   {services: true, check: checkMinIOBlock},
}

// readmeDemoRows is how many rows the README says the demo writes.
const readmeDemoRows = 200000

// mdBlock is one fenced shell block of a Markdown file.
type mdBlock struct {
	line   int    // 1-based line of the opening fence
	marker string // the marker's text after "readme-test:", trimmed
	body   string
}

var (
	markerRE   = regexp.MustCompile(`^<!--\s*readme-test:\s*(.*?)\s*-->\s*$`)
	shellFence = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true, "zsh": true}
)

// parseShellBlocks returns the shell blocks of a Markdown text with their
// markers, and a problem for every shell block without a marker, every
// marker that is not right before a shell block, and every "not run"
// without a reason.
func parseShellBlocks(md string) (blocks []mdBlock, problems []string) {
	lines := strings.Split(md, "\n")
	pending, pendingLine := "", 0 // a marker waiting for its block
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if m := markerRE.FindStringSubmatch(trimmed); m != nil {
			if pending != "" {
				problems = append(problems, fmt.Sprintf("line %d: marker %q is not followed by a shell block", pendingLine, pending))
			}
			pending, pendingLine = m[1], i+1
			continue
		}
		if !strings.HasPrefix(trimmed, "```") {
			if trimmed != "" && pending != "" {
				problems = append(problems, fmt.Sprintf("line %d: marker %q is not followed by a shell block", pendingLine, pending))
				pending = ""
			}
			continue
		}
		info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
		start := i + 1
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		if len(info) == 0 || !shellFence[info[0]] {
			if pending != "" {
				problems = append(problems, fmt.Sprintf("line %d: marker %q is followed by a block that is not a shell block", pendingLine, pending))
				pending = ""
			}
			continue
		}
		switch {
		case pending == "":
			problems = append(problems, fmt.Sprintf("line %d: shell block without a marker: put <!-- readme-test: NAME --> (run by TestREADME) or <!-- readme-test: not run: REASON --> before it", start))
		case strings.HasPrefix(pending, "not run") && strings.TrimSpace(strings.TrimLeft(strings.TrimPrefix(pending, "not run"), ":")) == "":
			problems = append(problems, fmt.Sprintf("line %d: %q gives no reason", pendingLine, pending))
		}
		blocks = append(blocks, mdBlock{line: start, marker: pending, body: strings.Join(body, "\n") + "\n"})
		pending = ""
	}
	if pending != "" {
		problems = append(problems, fmt.Sprintf("line %d: marker %q is not followed by a shell block", pendingLine, pending))
	}
	return blocks, problems
}

func notRun(marker string) bool { return strings.HasPrefix(marker, "not run") }

// runnableBlocks parses README.md and fails the test unless every shell
// block is marked, every runnable marker is one readmeBlocks knows and
// every block readmeBlocks knows is in the README once.
func runnableBlocks(t *testing.T, readme string) []mdBlock {
	t.Helper()
	blocks, problems := parseShellBlocks(readme)
	var run []mdBlock
	seen := map[string]int{}
	for _, b := range blocks {
		if b.marker == "" || notRun(b.marker) {
			continue
		}
		if _, ok := readmeBlocks[b.marker]; !ok {
			problems = append(problems, fmt.Sprintf("line %d: marker %q names no block TestREADME knows (cmd/fanout/cli/readme_test.go: readmeBlocks)", b.line, b.marker))
			continue
		}
		if prev, ok := seen[b.marker]; ok {
			problems = append(problems, fmt.Sprintf("line %d: block %q is marked twice (first at line %d)", b.line, b.marker, prev))
			continue
		}
		seen[b.marker] = b.line
		run = append(run, b)
	}
	for name := range readmeBlocks {
		if _, ok := seen[name]; !ok {
			problems = append(problems, fmt.Sprintf("the README has no block marked <!-- readme-test: %s --> any more: update cmd/fanout/cli/readme_test.go with it", name))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("README.md:\n  %s", strings.Join(problems, "\n  "))
	}
	return run
}

// TestREADMEBlocksAreMarked checks the markers alone (fast; TestREADME
// runs the blocks).
func TestREADMEBlocksAreMarked(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if got := runnableBlocks(t, string(readme)); len(got) != len(readmeBlocks) {
		t.Fatalf("%d runnable blocks, want %d", len(got), len(readmeBlocks))
	}
}

// TestParseShellBlocksFindsUnmarkedBlocks shows that the drift check
// catches what it should.
func TestParseShellBlocksFindsUnmarkedBlocks(t *testing.T) {
	md := "# x\n\n<!-- readme-test: demo -->\n```sh\necho a\n```\n\n```bash\necho unmarked\n```\n\n" +
		"<!-- readme-test: not run -->\n```sh\necho b\n```\n\n<!-- readme-test: stray -->\ntext\n\n" +
		"<!-- readme-test: on-text -->\n```\nplain\n```\n\n<!-- readme-test: not run: needs AWS -->\n```console\necho c\n```\n"
	blocks, problems := parseShellBlocks(md)
	var lines []int
	for _, b := range blocks {
		lines = append(lines, b.line)
	}
	if !slices.Equal(lines, []int{4, 8, 13, 26}) {
		t.Errorf("blocks at lines %v, want [4 8 13 26]", lines)
	}
	if blocks[0].marker != "demo" || blocks[0].body != "echo a\n" {
		t.Errorf("first block %+v", blocks[0])
	}
	want := []string{"line 8: shell block without a marker", `line 12: "not run" gives no reason`,
		`line 17: marker "stray" is not followed`, `line 20: marker "on-text" is followed by a block that is not a shell block`}
	if len(problems) != len(want) {
		t.Fatalf("problems %q, want %d", problems, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d: %q, want it to start with %q", i, problems[i], w)
		}
	}
}

// readmeRun is one run of the README's blocks in a clone of the working
// tree.
type readmeRun struct {
	root  string   // the checkout the test runs in
	clone string   // the temporary copy the blocks run in
	env   []string // a new user's environment
	// stdout and stderr of the block that just ran.
	stdout, stderr string
}

// TestREADME runs the README's marked shell blocks literally, in order, in
// a temporary copy of the working tree (what `git ls-files` lists, with
// uncommitted edits), in a new user's environment: the quick start on the
// embedded default, then the MinIO block with a MinIO and a Redis of its
// own (scripts/services.sh on free ports, reusing the cached MinIO
// binary). After each block it checks the outcome the README describes.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("testing.Short: TestREADME builds fanout in a copy of the tree and runs the demo twice (scripts/test.sh runs it)")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := runnableBlocks(t, string(readme))
	r := &readmeRun{root: root, clone: copyWorkTree(t, root)}
	r.env = newUserEnv(t)
	for _, b := range blocks {
		spec := readmeBlocks[b.marker]
		ok := t.Run(b.marker, func(t *testing.T) {
			if spec.services {
				r.withPrivateServices(t)
			}
			r.runBlock(t, b)
			spec.check(t, r)
		})
		if !ok {
			break // later blocks build on this one
		}
	}
}

// copyWorkTree copies the files git knows in root (tracked, and untracked
// ones that are not ignored) into a temporary directory, as a fresh clone
// with the working tree's edits.
func copyWorkTree(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v (TestREADME copies the files of a git checkout)", root, err)
	}
	dst := filepath.Join(t.TempDir(), "fanout")
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		st, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err == nil {
				err = os.Symlink(target, to)
			}
			if err != nil {
				t.Fatal(err)
			}
		case st.Mode().IsRegular():
			body, err := os.ReadFile(src)
			if err == nil {
				err = os.WriteFile(to, body, st.Mode().Perm())
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// newUserEnv is this process's environment without fanout's and AWS's
// settings (scripts/test.sh exports those of its own services), with the
// go command on PATH.
func newUserEnv(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "FANOUT_") {
			continue
		}
		env = append(env, kv)
	}
	if _, err := exec.LookPath("go"); err != nil {
		env = append(env, "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return env
}

// withPrivateServices makes the services block start a MinIO and a Redis
// of its own (scripts/services.sh up in the clone, on free ports) with the
// MinIO binary already built, and stops them when the test ends, whatever
// the block did. Without redis-server, curl or the MinIO binary the test
// skips naming scripts/test.sh (fails under FANOUT_REQUIRE_SERVICES=1).
func (r *readmeRun) withPrivateServices(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"redis-server", "redis-cli", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			localstack.Missing(t, tool)
		}
	}
	// services.sh in the clone looks for $FANOUT_CACHE_DIR/bin/minio-<the
	// version it pins>: a link there to the binary, wherever it was found,
	// keeps it from building one (5 minutes).
	bin := localstack.MinIOBinary(t)
	script, err := os.ReadFile(filepath.Join(r.clone, "scripts", "services.sh"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^MINIO_VERSION="([^"]+)"`).FindSubmatch(script)
	if version == nil {
		t.Fatal("scripts/services.sh pins no MINIO_VERSION")
	}
	cache := filepath.Join(r.clone, ".cache")
	if err := os.MkdirAll(filepath.Join(cache, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(cache, "bin", "minio-"+string(version[1]))); err != nil {
		t.Fatal(err)
	}
	minioPort := freePortPair(t)
	env := append(slices.Clip(r.env), "FANOUT_CACHE_DIR="+cache, "FANOUT_MINIO_PORT="+strconv.Itoa(minioPort),
		"FANOUT_REDIS_PORT="+strconv.Itoa(localstack.FreePort(t)))
	r.env = env
	t.Cleanup(func() {
		cmd := exec.Command("scripts/services.sh", "down")
		cmd.Dir, cmd.Env = r.clone, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("scripts/services.sh down in the clone: %v\n%s", err, out)
		}
	})
}

// freePortPair returns a port p such that p and p+1 (MinIO's console, as
// scripts/services.sh starts it) were free a moment ago.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		p := localstack.FreePort(t)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1)); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no two adjacent free ports on 127.0.0.1")
	return 0
}

// runBlock runs one block's text, as it is in the README, with bash in the
// clone: stopping at the first command that fails, and naming it with its
// README line and the output's tail. Whatever the block leaves running in
// its process group is killed when it ends.
func (r *readmeRun) runBlock(t *testing.T, b mdBlock) {
	t.Helper()
	// One line before the block's text, so that README line = fence line
	// + LINENO - 1.
	const prologue = `set -eo pipefail; trap 'echo "readme-test: line $LINENO exit $?: $BASH_COMMAND" >&2' ERR` + "\n"
	dir := t.TempDir()
	script := filepath.Join(dir, "block.sh")
	if err := os.WriteFile(script, []byte(prologue+b.body), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = r.clone, r.env, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	runErr := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what the block left running
	}
	out, _ := os.ReadFile(stdout.Name())
	errOut, _ := os.ReadFile(stderr.Name())
	r.stdout, r.stderr = string(out), string(errOut)
	t.Logf("README block %q (README.md:%d) ran in %s", b.marker, b.line, time.Since(start).Round(time.Millisecond))
	if runErr == nil {
		return
	}
	where := "a command"
	if m := regexp.MustCompile(`readme-test: line (\d+) exit (\d+): (.*)`).FindStringSubmatch(r.stderr); m != nil {
		n, _ := strconv.Atoi(m[1])
		where = fmt.Sprintf("README.md:%d `%s` (exit %s)", b.line+n-1, m[3], m[2])
	}
	if ctx.Err() != nil {
		where += " (timed out)"
	}
	t.Fatalf("README block %q (README.md:%d): %s failed: %v\n%s", b.marker, b.line, where, runErr, r.outputTail())
}

// outputTail is the end of the last block's output, for failure messages.
func (r *readmeRun) outputTail() string {
	return fmt.Sprintf("--- stderr (tail) ---\n%s\n--- stdout (tail) ---\n%s", lastLines(r.stderr, 40), lastLines(r.stdout, 30))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// checkDemoBlock: the demo committed its one output directory with the
// rows of its input that have amount > 0.
func checkDemoBlock(t *testing.T, r *readmeRun) {
	outs, _ := filepath.Glob(filepath.Join(r.clone, "fanout-demo", "output-*"))
	if len(outs) != 1 {
		t.Fatalf("the demo left %d output directories under fanout-demo/ (%q), want 1\n%s", len(outs), outs, r.outputTail())
	}
	checkLocalCommit(t, r, outs[0])
}

// checkByHandBlock: the same job by hand committed the same rows under
// fanout-demo/by-region/.
func checkByHandBlock(t *testing.T, r *readmeRun) {
	checkLocalCommit(t, r, filepath.Join(r.clone, "fanout-demo", "by-region"))
}

// demoInput counts the demo input's rows, all and per region with
// amount > 0, reading the CSV with encoding/csv.
func demoInput(t *testing.T, clone string) (total int64, positive map[string]int64) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(clone, "fanout-demo", "input", "*.csv"))
	if len(files) == 0 {
		t.Fatal("no CSV under fanout-demo/input/")
	}
	positive = map[string]int64{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		rd := csv.NewReader(bufio.NewReader(f))
		header, err := rd.Read()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		region, amount := slices.Index(header, "region"), slices.Index(header, "amount")
		if region < 0 || amount < 0 {
			t.Fatalf("%s: header %q has no region or amount", name, header)
		}
		for {
			rec, err := rd.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			total++
			a, err := strconv.ParseFloat(rec[amount], 64)
			if err != nil {
				t.Fatalf("%s: amount %q: %v", name, rec[amount], err)
			}
			if a > 0 {
				positive[rec[region]]++
			}
		}
		f.Close()
	}
	return total, positive
}

// checkLocalCommit checks a committed local output against the demo's
// input: _SUCCESS, one commit record, exactly its files on disk with their
// sizes and checksums, their Parquet footers' row counts per region equal
// to the input's rows with amount > 0, in one file per region (the
// README: the compaction stage merges the chunks' small files).
func checkLocalCommit(t *testing.T, r *readmeRun, out string) {
	t.Helper()
	total, positive := demoInput(t, r.clone)
	if total != readmeDemoRows {
		t.Errorf("the demo wrote %d rows, the README says %d", total, readmeDemoRows)
	}
	if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); err != nil {
		t.Fatalf("%s: no _SUCCESS: %v\n%s", out, err, r.outputTail())
	}
	recs, _ := filepath.Glob(filepath.Join(out, "_fanout", "*", "_COMMITTED"))
	if len(recs) != 1 {
		t.Fatalf("%s: %d commit records, want 1", out, len(recs))
	}
	body, err := os.ReadFile(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec manifest.CommitRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		t.Fatalf("%s: %v", recs[0], err)
	}
	var want int64
	for _, n := range positive {
		want += n
	}
	if rec.RecordsIn != total || rec.RecordsOut != want {
		t.Errorf("commit record: %d records in, %d out; the input has %d rows, %d with amount > 0", rec.RecordsIn, rec.RecordsOut, total, want)
	}
	listed := map[string]bool{}
	got := map[string]int64{}
	perRegion := map[string]int{}
	for _, f := range recordFiles(t, &rec, func(key string) ([]byte, error) { return os.ReadFile(filepath.Join(out, filepath.FromSlash(key))) }) {
		perRegion[f.Partition]++
		listed[f.Key] = true
		path := filepath.Join(out, filepath.FromSlash(f.Key))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("committed file %s: %v", f.Key, err)
			continue
		}
		if sum := sha256.Sum256(data); int64(len(data)) != f.Size || (f.SHA256 != "" && hex.EncodeToString(sum[:]) != f.SHA256) {
			t.Errorf("%s: %d bytes, sha256 %x; the commit record says %d, %s", f.Key, len(data), sum, f.Size, f.SHA256)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Errorf("%s: not Parquet: %v", f.Key, err)
			continue
		}
		if pf.NumRows() != f.Rows {
			t.Errorf("%s: %d rows in its footer, %d in the commit record", f.Key, pf.NumRows(), f.Rows)
		}
		value, ok := strings.CutPrefix(f.Partition, "region=")
		if !ok {
			t.Errorf("%s: partition %q, want region=...", f.Key, f.Partition)
		}
		if v, err := url.PathUnescape(value); err == nil {
			value = v
		}
		got[value] += pf.NumRows()
	}
	if !mapsEqual(got, positive) {
		t.Errorf("rows per region read back from the Parquet files %v, the input's with amount > 0 %v", got, positive)
	}
	for region, n := range perRegion {
		if n != 1 {
			t.Errorf("%s: %d files committed, the README says one per region", region, n)
		}
	}
	// Nothing else is published: every data file on disk is in the record.
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if d.IsDir() && rel != "." && (strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && rel != "_SUCCESS" && !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s: %s is not in the commit record", out, rel)
		}
		return nil
	})
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkMinIOBlock: the job on MinIO committed every row, and both worker
// processes ran chunks of it: their "stopped after N chunks" lines, which
// the README tells the reader to look at, add up to the job's chunks.
func checkMinIOBlock(t *testing.T, r *readmeRun) {
	total, _ := demoInput(t, r.clone)
	// The --json result is the stdout's only object printed from a "{"
	// line to a "}" line.
	var res struct {
		State        string `json:"state"`
		Chunks       int    `json:"chunks"`
		CompactTasks int    `json:"compact_tasks"`
		RecordsIn    int64  `json:"records_in"`
		RecordsOut   int64  `json:"records_out"`
		Output       string `json:"output"`
	}
	out := "\n" + r.stdout
	start := strings.Index(out, "\n{\n")
	end := strings.Index(out[max(start, 0):], "\n}\n")
	if start < 0 || end < 0 {
		t.Fatalf("no --json result in the block's output\n%s", r.outputTail())
	}
	if err := json.Unmarshal([]byte(out[start+1:start+end+2]), &res); err != nil {
		t.Fatalf("--json result: %v\n%s", err, r.outputTail())
	}
	if res.State != "committed" || res.Output != "s3://data/out/" || res.RecordsIn != total || res.RecordsOut != total {
		t.Errorf("job result %+v, want committed to s3://data/out/ with %d records in and out\n%s", res, total, r.outputTail())
	}
	if res.Chunks < 2 {
		t.Errorf("the job has %d chunk(s): two workers cannot share it", res.Chunks)
	}
	stops := regexp.MustCompile(`(?m)^fanout work: stopped after (\d+) chunks`).FindAllStringSubmatch(r.stderr, -1)
	if len(stops) != 2 {
		t.Fatalf("%d \"fanout work: stopped after N chunks\" lines, want one from each of the two workers\n%s", len(stops), r.outputTail())
	}
	sum := 0
	for _, s := range stops {
		n, _ := strconv.Atoi(s[1])
		if n == 0 {
			t.Errorf("a worker ran no chunk: %q; the README says the two workers share the job\n%s", s[0], r.outputTail())
		}
		sum += n
	}
	if sum != res.Chunks+res.CompactTasks {
		t.Errorf("the workers ran %d chunks together, the job has %d and %d compaction tasks\n%s", sum, res.Chunks, res.CompactTasks, r.outputTail())
	}
}

// markdownLink is a Markdown link or image target: ](target) or
// ](target "title").
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocsLinksResolve: every relative link and image in README.md and
// docs/*.md names a file of the repository (an image the README shows,
// such as docs/images/profile-report.png, cannot go missing).
func TestDocsLinksResolve(t *testing.T) {
	docs, _ := filepath.Glob("../../../docs/*.md")
	docs = append(docs, "../../../README.md")
	checked := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markdownLink.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			if _, err := os.Stat(filepath.Join(filepath.Dir(doc), target)); err != nil {
				t.Errorf("%s links to %s, which is not in the repository", filepath.Base(doc), m[1])
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found: the pattern is wrong")
	}
}
