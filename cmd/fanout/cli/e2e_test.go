package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/localstack"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes what the tests built once per run (the fanout binary) from the
// temporary directory when they are done: left there, every run of the
// package's tests kept its 50 MB on the disk.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// fanoutBinary builds cmd/fanout once per test run.
func fanoutBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fanout-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "fanout")
		out, err := exec.Command("go", "build", "-o", binPath, "..").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// hostileRegions are partition values that must neither escape the output
// prefix nor come back changed.
var hostileRegions = []string{"eu-west", "../x", "a/b", "x=y", "%2e%2e", "..", "Zürich 日本", "semi;colon", "back\\slash", "with space"}

// saleRow is one generated input row; the generator is the oracle.
type saleRow struct {
	ID       int64
	Region   string
	Product  string
	Quantity int64
	Amount   float64
	Note     string
}

// generateSales makes files of CSV rows with quoted fields, commas and
// quotes inside fields, lines of very different lengths.
func generateSales(seed uint64, files, rowsPerFile int) (map[string][]byte, []saleRow) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	out := map[string][]byte{}
	var rows []saleRow
	id := int64(0)
	for f := range files {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{"id", "region", "product", "quantity", "amount", "note"})
		for range rowsPerFile {
			row := saleRow{
				ID: id, Region: hostileRegions[r.IntN(len(hostileRegions))], Product: fmt.Sprintf("p%03d", r.IntN(50)),
				Quantity: int64(1 + r.IntN(20)), Amount: float64(r.IntN(1000000)) / 100,
				Note: strings.Repeat("x", r.IntN(40)) + `, "quoted"` + strings.Repeat("y", r.IntN(3)*r.IntN(500)),
			}
			if id == 1234 {
				row.Note = strings.Repeat("a record longer than a chunk ", 10000) // 290 KB
			}
			id++
			rows = append(rows, row)
			w.Write([]string{strconv.FormatInt(row.ID, 10), row.Region, row.Product, strconv.FormatInt(row.Quantity, 10),
				strconv.FormatFloat(row.Amount, 'f', 2, 64), row.Note})
		}
		w.Flush()
		name := fmt.Sprintf("in/sales-%02d.csv", f)
		if f == files-1 {
			// One compressed object, read whole.
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write(buf.Bytes())
			zw.Close()
			out[name+".gz"] = gz.Bytes()
			continue
		}
		out[name] = buf.Bytes()
	}
	return out, rows
}

// checkAgainstOracle reads the output under dir with DuckDB (hive
// partitioning) and compares every row with the generated ones.
func checkAgainstOracle(t *testing.T, dir string, want []saleRow) {
	t.Helper()
	got := localstack.DuckDB(t, fmt.Sprintf(
		`SELECT id, region, product, quantity, amount, note FROM read_parquet('%s/**/*.parquet', hive_partitioning=true, hive_types={'region': VARCHAR}) ORDER BY id`, dir))
	if len(got) != len(want) {
		t.Fatalf("DuckDB read %d rows, want %d", len(got), len(want))
	}
	bad := 0
	for i, g := range got {
		w := want[i]
		gotRow := fmt.Sprint(g["id"], "|", g["region"], "|", g["product"], "|", g["quantity"], "|", g["amount"], "|", g["note"])
		wantRow := fmt.Sprint(w.ID, "|", w.Region, "|", w.Product, "|", w.Quantity, "|", strconv.FormatFloat(w.Amount, 'f', -1, 64), "|", w.Note)
		if gotRow != wantRow {
			if bad < 5 {
				t.Errorf("row %d: got %q, want %q", i, gotRow, wantRow)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d rows differ", bad, len(want))
	}
	// Per-region totals from DuckDB against a serial computation.
	sums := map[string]float64{}
	counts := map[string]int64{}
	for _, w := range want {
		sums[w.Region] += w.Amount
		counts[w.Region]++
	}
	agg := localstack.DuckDB(t, fmt.Sprintf(
		`SELECT region, count(*) AS n FROM read_parquet('%s/**/*.parquet', hive_partitioning=true, hive_types={'region': VARCHAR}) GROUP BY region ORDER BY region`, dir))
	if len(agg) != len(counts) {
		t.Fatalf("DuckDB found %d regions, want %d: %v", len(agg), len(counts), agg)
	}
	for _, a := range agg {
		region := fmt.Sprint(a["region"])
		if fmt.Sprint(a["n"]) != strconv.FormatInt(counts[region], 10) {
			t.Errorf("region %q: got %v rows, want %d", region, a["n"], counts[region])
		}
	}
}

type runJSON struct {
	Job        string `json:"job"`
	State      string `json:"state"`
	Chunks     int    `json:"chunks"`
	RecordsIn  int64  `json:"records_in"`
	RecordsOut int64  `json:"records_out"`
	BytesIn    int64  `json:"bytes_in"`
	Output     string `json:"output"`
	Files      int    `json:"files"`
	Backups    int    `json:"backups"`
	// Partitions are the files per partition (right-sized output).
	Partitions []struct {
		Partition string `json:"partition"`
		Files     int    `json:"files"`
	} `json:"partitions"`
}

func runFanout(t *testing.T, env []string, args ...string) runJSON {
	t.Helper()
	cmd := exec.Command(fanoutBinary(t), args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fanout %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
	}
	var res runJSON
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("fanout --json output: %v: %s", err, out)
	}
	return res
}

// salesJobEnv puts generateSales(seed, files, rows) under in/ of a fresh
// MinIO bucket and returns the bucket, a client, the environment of a
// fanout process on that bucket and a fresh Redis namespace, and the rows.
func salesJobEnv(t *testing.T, seed uint64, files, rows int) (string, *minio.Client, []string, []saleRow) {
	t.Helper()
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	objects, want := generateSales(seed, files, rows)
	for key, body := range objects {
		if _, err := client.PutObject(context.Background(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")
	return bucket, client, env, want
}

func TestEndToEndCSVToPartitionedParquetOnMinIOAndRedis(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	files, want := generateSales(7, 5, 2000)
	var inputBytes int
	for key, body := range files {
		inputBytes += len(body)
		if _, err := client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")

	// Two separate worker processes.
	var workers []*exec.Cmd
	for i := range 2 {
		w := exec.Command(fanoutBinary(t), "work", "--concurrency", "2")
		w.Env = env
		var logs bytes.Buffer
		w.Stderr = &logs
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
		t.Cleanup(func() {
			w.Process.Kill()
			w.Wait()
			if t.Failed() {
				t.Logf("worker %d log:\n%s", i, logs.String())
			}
		})
	}

	t0 := time.Now()
	res := runFanout(t, env, "run", "--in", "s3://"+bucket+"/in/", "--fn", "convert", "--out", "s3://"+bucket+"/out/",
		"--partition-by", "region", "--chunk-size", "64KiB", "--workers", "0", "--json", "--quiet")
	if res.State != "committed" || res.RecordsIn != int64(len(want)) || res.RecordsOut != int64(len(want)) {
		t.Fatalf("run: got %+v, want committed with %d records in and out", res, len(want))
	}
	if res.Chunks < 10 {
		t.Fatalf("got %d chunks, want many (chunk boundaries inside objects)", res.Chunks)
	}

	t.Logf("distributed run took %s", time.Since(t0))
	t0 = time.Now()
	// Every output key stays under out/, no staging data remains, and
	// _SUCCESS exists.
	local := t.TempDir()
	var sawSuccess bool
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		switch {
		case strings.HasPrefix(obj.Key, "in/"):
			continue
		case !strings.HasPrefix(obj.Key, "out/"):
			t.Errorf("key %q escaped the output prefix", obj.Key)
			continue
		case obj.Key == "out/_SUCCESS":
			sawSuccess = true
			continue
		case strings.HasPrefix(obj.Key, "out/_fanout/"):
			if strings.Contains(obj.Key, "/staging/") {
				t.Errorf("staging file left after commit: %s", obj.Key)
			}
			continue
		}
		dst := filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(obj.Key, "out/")))
		if !strings.HasPrefix(dst, local+string(filepath.Separator)) {
			t.Fatalf("key %q maps outside the download dir", obj.Key)
		}
		if err := client.FGetObject(ctx, bucket, obj.Key, dst, minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if !sawSuccess {
		t.Fatal("no out/_SUCCESS after commit")
	}
	t.Logf("download took %s", time.Since(t0))
	t0 = time.Now()
	checkAgainstOracle(t, local, want)
	t.Logf("oracle took %s", time.Since(t0))

	// The same job in embedded mode on local files gives the same result.
	inDir, outDir := t.TempDir(), filepath.Join(t.TempDir(), "out")
	for key, body := range files {
		p := filepath.Join(inDir, filepath.FromSlash(key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	embeddedEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	res2 := runFanout(t, embeddedEnv, "run", "--in", filepath.Join(inDir, "in")+"/", "--fn", "convert", "--out", outDir+"/",
		"--partition-by", "region", "--chunk-size", "64KiB", "--json", "--quiet")
	if res2.State != "committed" || res2.RecordsOut != res.RecordsOut || res2.Files == 0 {
		t.Fatalf("embedded run: got %+v, want committed like %+v", res2, res)
	}
	checkAgainstOracle(t, outDir, want)
	t.Logf("embedded run and oracle took %s", time.Since(t0))
	t0 = time.Now()

	// Workers stop cleanly on SIGTERM.
	for _, w := range workers {
		w.Process.Signal(syscall.SIGTERM)
	}
	for i, w := range workers {
		done := make(chan error, 1)
		go func() { done <- w.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker %d exited with %v after SIGTERM", i, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("worker %d did not stop within 30s of SIGTERM", i)
		}
	}
	t.Logf("worker shutdown took %s", time.Since(t0))
	_ = sort.Strings
	_ = inputBytes
}
