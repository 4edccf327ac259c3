package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/localstack"
)

// generate runs scripts/gen into a fresh directory.
func generate(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"run", "../../../scripts/gen"}, append(args, "-out", dir)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/gen %v: %v\n%s", args, err, out)
	}
	return dir
}

// serialWordCount is the independent oracle: a straightforward count of
// maximal runs of Unicode letters or digits, lowercased.
func serialWordCount(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	counts := map[string]int64{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			for _, w := range strings.FieldsFunc(sc.Text(), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
				counts[strings.ToLower(w)]++
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return counts
}

// readWordCounts reads word/count rows from committed JSONL under dir.
func readWordCounts(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "_") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".jsonl") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var row struct {
				Word  string `json:"word"`
				Count int64  `json:"count"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				return err
			}
			if _, dup := got[row.Word]; dup {
				t.Errorf("word %q appears twice in the output", row.Word)
			}
			got[row.Word] = row.Count
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func compareCounts(t *testing.T, got, want map[string]int64) {
	t.Helper()
	bad := 0
	for w, n := range want {
		if got[w] != n {
			if bad < 5 {
				t.Errorf("word %q: got %d, want %d", w, got[w], n)
			}
			bad++
		}
	}
	if len(got) != len(want) || bad > 0 {
		t.Fatalf("got %d distinct words, want %d; %d counts differ", len(got), len(want), bad)
	}
}

// TestWordCountGiBExactEmbeddedAndDistributedWithKilledReducer counts the
// words of a generated 1 GiB corpus in embedded mode and on MinIO + Redis
// with two worker processes, one killed with SIGKILL during the reduce
// stage, and compares both with a serial count.
func TestWordCountGiBExactEmbeddedAndDistributedWithKilledReducer(t *testing.T) {
	size := "1GiB"
	if testing.Short() {
		size = "64MiB"
	}
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	corpus := generate(t, "text", "-size", size, "-files", "16")
	want := serialWordCount(t, corpus)

	// Embedded.
	out := filepath.Join(t.TempDir(), "out")
	res := runFanout(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()},
		"run", "--in", corpus+"/", "--fn", "wordcount", "--out", out+"/", "--out-format", "jsonl", "--reducers", "4", "--json", "--quiet")
	if res.State != "committed" {
		t.Fatalf("embedded run: %+v", res)
	}
	compareCounts(t, readWordCounts(t, out), want)

	// MinIO + Redis, two worker processes.
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entries, _ := os.ReadDir(corpus)
	for _, e := range entries {
		if _, err := client.FPutObject(ctx, bucket, "corpus/"+e.Name(), filepath.Join(corpus, e.Name()), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")
	var mu sync.Mutex
	var workers []*exec.Cmd
	startWorker := func() *exec.Cmd {
		w := exec.Command(fanoutBinary(t), "work", "--concurrency", "2")
		w.Env = env
		var logs bytes.Buffer
		w.Stderr = &logs
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		workers = append(workers, w)
		mu.Unlock()
		t.Cleanup(func() {
			w.Process.Kill()
			w.Wait()
			if t.Failed() {
				t.Logf("worker log:\n%s", logs.String())
			}
		})
		return w
	}
	victim := startWorker()
	startWorker()
	info := submit(t, env, "--in", "s3://"+bucket+"/corpus/", "--fn", "wordcount", "--out", "s3://"+bucket+"/wc/",
		"--out-format", "jsonl", "--reducers", "48", "--lease", "3s", "--chunk-size", "32MiB")

	// Kill a worker as soon as the reduce stage starts (the shuffle index
	// appears), then let a replacement join.
	deadline := time.Now().Add(5 * time.Minute)
	shuffleKey := "wc/_fanout/" + info + "/shuffle.idx"
	for {
		if _, err := client.StatObject(ctx, bucket, shuffleKey, minio.StatObjectOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reduce stage never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim.Process.Signal(syscall.SIGKILL)
	reduced := 0
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "wc/_fanout/" + info + "/reduce/", Recursive: true}) {
		if obj.Err == nil {
			reduced++
		}
	}
	t.Logf("killed a worker with %d of 48 reduce tasks done", reduced)
	if reduced == 48 {
		t.Errorf("the kill came after the reduce stage: make the stage longer")
	}
	startWorker()
	res = runFanout(t, env, "wait", info, "--json", "--quiet")
	if res.State != "committed" {
		t.Fatalf("distributed run: %+v", res)
	}
	local := t.TempDir()
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "wc/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if strings.HasPrefix(obj.Key, "wc/_") {
			continue
		}
		if err := client.FGetObject(ctx, bucket, obj.Key, filepath.Join(local, strings.TrimPrefix(obj.Key, "wc/")), minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	compareCounts(t, readWordCounts(t, local), want)
}

// submit runs `fanout submit` and returns the job ID.
func submit(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(fanoutBinary(t), append([]string{"submit"}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // what to do next, for people; stdout is the job ID
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fanout submit: %v\n%s%s", err, out, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// TestGroupByEqualsDuckDB aggregates generated sales CSV with fanout and
// compares every group with DuckDB's result on the same files.
func TestGroupByEqualsDuckDB(t *testing.T) {
	sales := generate(t, "sales", "-size", "48MiB", "-files", "6")
	out := filepath.Join(t.TempDir(), "out")
	res := runFanout(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()},
		"run", "--in", sales+"/", "--fn", "aggregate", "--arg", "by=region,quantity",
		"--arg", "agg=count,sum(quantity),sum(price),min(price),max(price),avg(discount),min(ordered_at)",
		"--out", out+"/", "--chunk-size", "4MiB", "--reducers", "3", "--json", "--quiet")
	if res.State != "committed" {
		t.Fatalf("run: %+v", res)
	}
	cols := "region, quantity, count, sum_quantity, sum_price, min_price, max_price, avg_discount, min_ordered_at"
	got := localstack.DuckDB(t, fmt.Sprintf(`SELECT %s FROM read_parquet('%s/**/*.parquet') ORDER BY region, quantity`, cols, out))
	want := localstack.DuckDB(t, fmt.Sprintf(`SELECT region, quantity, count(*) AS count, sum(quantity) AS sum_quantity,
		sum(price) AS sum_price, min(price) AS min_price, max(price) AS max_price, avg(discount) AS avg_discount,
		min(ordered_at) AS min_ordered_at FROM read_csv('%s/*.csv', header=true) GROUP BY region, quantity ORDER BY region, quantity`, sales))
	if len(got) != len(want) || len(want) < 100 {
		t.Fatalf("got %d groups, want %d (and at least 100)", len(got), len(want))
	}
	for i := range want {
		for _, c := range strings.Split(cols, ", ") {
			g, w := fmt.Sprint(got[i][c]), fmt.Sprint(want[i][c])
			if g == w {
				continue
			}
			gf, err1 := strconv.ParseFloat(g, 64)
			wf, err2 := strconv.ParseFloat(w, 64)
			if err1 == nil && err2 == nil && math.Abs(gf-wf) <= 1e-9*math.Max(1, math.Abs(wf)) {
				continue
			}
			if c == "min_ordered_at" && sameInstant(g, w) {
				continue
			}
			t.Fatalf("group %v/%v column %s: got %s, want %s", want[i]["region"], want[i]["quantity"], c, g, w)
		}
	}
	_ = sort.Strings
}

// sameInstant compares DuckDB's renderings of a timestamp with and
// without a time zone.
func sameInstant(a, b string) bool {
	parse := func(s string) (time.Time, bool) {
		for _, layout := range []string{"2006-01-02 15:04:05Z07", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05", time.RFC3339} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	ta, ok1 := parse(a)
	tb, ok2 := parse(b)
	return ok1 && ok2 && ta.Equal(tb)
}
