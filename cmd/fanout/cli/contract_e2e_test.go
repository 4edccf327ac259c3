package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/functions/contract"
	"github.com/fanout-dev/fanout/functions/contract/contracttest"
	"github.com/fanout-dev/fanout/localstack"
)

// qualityJSON is the --json result of a validate or duplicates run.
type qualityJSON struct {
	Job              string           `json:"job"`
	State            string           `json:"state"`
	Chunks           int              `json:"chunks"`
	RecordsIn        int64            `json:"records_in"`
	RecordsOut       int64            `json:"records_out"`
	Error            string           `json:"error"`
	Rejected         int64            `json:"rejected"`
	RejectedByRule   map[string]int64 `json:"rejected_by_rule"`
	RejectedByColumn map[string]int64 `json:"rejected_by_column"`
	RejectedFiles    int              `json:"rejected_files"`
	Counters         map[string]int64 `json:"counters"`
}

// runQuality runs the fanout binary and decodes its --json output; it
// returns the exit error too (a failed job exits 1 and still prints JSON).
func runQuality(t *testing.T, env []string, args ...string) (qualityJSON, error) {
	t.Helper()
	cmd := exec.Command(fanoutBinary(t), args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var res qualityJSON
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("fanout %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), runErr, out, stderr.String())
	}
	if runErr != nil {
		runErr = fmt.Errorf("%w: %s", runErr, stderr.String())
	}
	return res, runErr
}

func sameCounts(got, want map[string]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, n := range want {
		if got[k] != n {
			return false
		}
	}
	return true
}

// checkReport compares a validate run's report with the oracle.
func checkReport(t *testing.T, res qualityJSON, d *contracttest.Dataset) {
	t.Helper()
	if res.State != "committed" || res.RecordsIn != int64(d.Records) || res.RecordsOut != int64(len(d.Valid)) || res.Rejected != int64(len(d.Defects)) {
		t.Errorf("got %s with records in %d, out %d, rejected %d; want committed with %d, %d, %d",
			res.State, res.RecordsIn, res.RecordsOut, res.Rejected, d.Records, len(d.Valid), len(d.Defects))
	}
	if !sameCounts(res.RejectedByRule, d.ByRule()) {
		t.Errorf("by rule: got %v, want %v", res.RejectedByRule, d.ByRule())
	}
	if !sameCounts(res.RejectedByColumn, d.ByColumn()) {
		t.Errorf("by column: got %v, want %v", res.RejectedByColumn, d.ByColumn())
	}
	if !sameCounts(res.Counters, d.Counters) {
		t.Errorf("cleansing counters: got %v, want %v", res.Counters, d.Counters)
	}
}

// checkValidOutput reads the Parquet output under dir with DuckDB and
// compares its records with the oracle's valid records.
func checkValidOutput(t *testing.T, dir string, d *contracttest.Dataset) {
	t.Helper()
	rows := localstack.DuckDB(t, fmt.Sprintf(`SELECT CAST(id AS VARCHAR) AS id, region, sku, CAST(quantity AS VARCHAR) AS quantity,
		CAST(CAST(round(amount * 100) AS BIGINT) AS VARCHAR) AS cents, CAST(epoch_us(sold_at) AS VARCHAR) AS sold,
		status, CAST(epoch_us(shipped_at) AS VARCHAR) AS shipped, note
		FROM read_parquet('%s/**/*.parquet', hive_partitioning=true, hive_types={'region': VARCHAR})`, dir))
	num := func(v any) int64 {
		n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		if err != nil {
			t.Fatalf("DuckDB value %v: %v", v, err)
		}
		return n
	}
	var got []string
	for _, r := range rows {
		var shipped *int64
		var note *string
		if r["shipped"] != nil {
			s := num(r["shipped"])
			shipped = &s
		}
		if r["note"] != nil {
			s := fmt.Sprint(r["note"])
			note = &s
		}
		got = append(got, contracttest.KeyOfValues(num(r["id"]), fmt.Sprint(r["region"]), fmt.Sprint(r["sku"]), num(r["quantity"]),
			num(r["cents"]), num(r["sold"]), fmt.Sprint(r["status"]), shipped, note))
	}
	slices.Sort(got)
	want := d.ValidKeys()
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		g, w := "", ""
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		t.Fatalf("DuckDB read %d valid records, want %d; first difference at %d: got %q, want %q", len(got), len(want), i, g, w)
	}
}

// readLines reads every .jsonl file under dir/sub.
func readLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	var lines [][]byte
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(p, ".jsonl") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	return lines
}

// checkDuplicates compares the duplicates function's JSONL output with the
// oracle: every duplicated key once, with its count and places.
func checkDuplicates(t *testing.T, lines [][]byte, d *contracttest.Dataset) {
	t.Helper()
	got := map[int64]int{}
	for _, l := range lines {
		var row struct {
			ID        int64  `json:"id"`
			Count     int    `json:"count"`
			Locations string `json:"locations"`
		}
		if err := json.Unmarshal(l, &row); err != nil {
			t.Fatalf("duplicates line %q: %v", l, err)
		}
		if _, dup := got[row.ID]; dup {
			t.Errorf("key %d reported twice", row.ID)
		}
		got[row.ID] = row.Count
		var locs []struct {
			Object string `json:"object"`
			Offset int64  `json:"offset"`
		}
		if err := json.Unmarshal([]byte(row.Locations), &locs); err != nil || len(locs) != row.Count {
			t.Errorf("key %d: locations %s for count %d (%v)", row.ID, row.Locations, row.Count, err)
		}
	}
	if len(got) != len(d.Duplicates) {
		t.Errorf("got %d duplicated keys, want %d", len(got), len(d.Duplicates))
	}
	for id, n := range d.Duplicates {
		if got[id] != n {
			t.Errorf("key %d: got count %d, want %d", id, got[id], n)
		}
	}
}

// download copies every object under prefix to dir (keys relative to the
// prefix), refusing keys that would leave dir.
func download(t *testing.T, client *minio.Client, bucket, prefix, dir string) []string {
	t.Helper()
	var keys []string
	ctx := context.Background()
	for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		rel := strings.TrimPrefix(obj.Key, prefix)
		keys = append(keys, rel)
		if strings.HasPrefix(rel, "_fanout/") {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if !strings.HasPrefix(dst, dir+string(filepath.Separator)) {
			t.Fatalf("key %q maps outside %s", obj.Key, dir)
		}
		if err := client.FGetObject(ctx, bucket, obj.Key, dst, minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestDataContractsOnMinIOAndRedis runs validate, duplicates, a failing
// --max-rejected run, status and infer with the built binary against
// MinIO and Redis, chunks run by two `fanout work` processes, on data
// with known defects; then the same validate run in embedded mode. Each
// defect must be found exactly once with its reason, and the valid output
// (read by DuckDB) must be the input minus the defective records.
func TestDataContractsOnMinIOAndRedis(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := contracttest.Generate(21, "csv", 5, 1500)
	for key, body := range d.Files {
		if _, err := client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	contractFile := filepath.Join(t.TempDir(), "sales.yaml")
	if err := os.WriteFile(contractFile, []byte(contracttest.Contract), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records: %d valid, %d defects %v, %d duplicated keys", d.Records, len(d.Valid), len(d.Defects), d.ByRule(), len(d.Duplicates))
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")
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
	in := "s3://" + bucket + "/in/"

	t.Run("validate", func(t *testing.T) {
		res, err := runQuality(t, env, "run", "--in", in, "--fn", "validate", "--contract", contractFile,
			"--out", "s3://"+bucket+"/valid/", "--partition-by", "region", "--chunk-size", "32KiB", "--max-rejected", "10%",
			"--workers", "0", "--json", "--quiet")
		if err != nil {
			t.Fatal(err)
		}
		if res.Chunks < 10 {
			t.Errorf("got %d chunks, want many", res.Chunks)
		}
		checkReport(t, res, d)
		local := t.TempDir()
		keys := download(t, client, bucket, "valid/", local)
		for _, k := range keys {
			if strings.Contains(k, "/staging/") {
				t.Errorf("staging left after the commit: %s", k)
			}
		}
		for _, p := range d.CheckRejected(readLines(t, filepath.Join(local, "_rejected"))) {
			t.Error(p)
		}
		checkValidOutput(t, local, d)

		// fanout status reports the same counts from the commit record.
		st, err := runQuality(t, env, "status", res.Job, "--out", "s3://"+bucket+"/valid/", "--json")
		if err != nil {
			t.Fatal(err)
		}
		if st.Rejected != res.Rejected || !sameCounts(st.RejectedByRule, res.RejectedByRule) || !sameCounts(st.RejectedByColumn, res.RejectedByColumn) {
			t.Errorf("status: got %+v, want the run's counts %+v", st, res)
		}
	})

	t.Run("duplicates", func(t *testing.T) {
		res, err := runQuality(t, env, "run", "--in", in, "--fn", "duplicates", "--contract", contractFile,
			"--out", "s3://"+bucket+"/dups/", "--out-format", "jsonl", "--chunk-size", "32KiB", "--reducers", "3",
			"--workers", "0", "--json", "--quiet")
		if err != nil {
			t.Fatal(err)
		}
		if res.Counters["invalid"] != int64(len(d.Defects)) {
			t.Errorf("got counters %v, want invalid %d", res.Counters, len(d.Defects))
		}
		local := t.TempDir()
		download(t, client, bucket, "dups/", local)
		checkDuplicates(t, readLines(t, local), d)
	})

	t.Run("max-rejected", func(t *testing.T) {
		res, err := runQuality(t, env, "run", "--in", in, "--fn", "validate", "--contract", contractFile,
			"--out", "s3://"+bucket+"/strict/", "--chunk-size", "32KiB", "--max-rejected", "5",
			"--workers", "0", "--json", "--quiet")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("got %v, want exit status 1", err)
		}
		if res.State != "failed" || res.Rejected != int64(len(d.Defects)) || !strings.Contains(res.Error, "--max-rejected 5") {
			t.Errorf("got %+v, want failed with %d rejected", res, len(d.Defects))
		}
		// What to do next: a redrive runs failed chunks, and none failed.
		if msg := err.Error(); strings.Contains(msg, " redrive ") || !strings.Contains(msg, "--rerun") {
			t.Errorf("stderr %q: want the way out (--rerun), not a redrive", msg)
		}
		// status says failed afterwards, with the reason.
		st, err := runQuality(t, env, "status", res.Job, "--out", "s3://"+bucket+"/strict/", "--json")
		if err != nil {
			t.Fatal(err)
		}
		if st.State != "failed" || !strings.Contains(st.Error, "--max-rejected 5") {
			t.Errorf("status: got state %q, error %q; want failed naming --max-rejected 5", st.State, st.Error)
		}
		for obj := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "strict/", Recursive: true}) {
			if !strings.HasPrefix(obj.Key, "strict/_fanout/") {
				t.Errorf("%s published although the job failed", obj.Key)
			}
		}
	})

	t.Run("infer", func(t *testing.T) {
		infer := func(in, rows string) ([]byte, string) {
			cmd := exec.Command(fanoutBinary(t), "infer", "--in", in, "--sample-rows", rows)
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("infer: %v: %s", err, stderr.String())
			}
			return out, stderr.String()
		}
		// The defective input: malformed records are left out, and said so.
		if _, stderr := infer(in, "800"); !strings.Contains(stderr, "malformed record(s) in the sample were left out") {
			t.Errorf("infer did not say it left out the malformed records: %s", stderr)
		}
		clean := contracttest.Clean(22, "csv", 2, 500)
		for key, body := range clean.Files {
			key = "clean/" + strings.TrimPrefix(key, "in/")
			if _, err := client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// Sampled whole, the proposal's ranges cover the data.
		out, _ := infer("s3://"+bucket+"/clean/", "5000")
		c, err := contract.Parse(out)
		if err != nil {
			t.Fatalf("the proposed contract does not parse: %v\n%s", err, out)
		}
		types := map[string]string{}
		for _, col := range c.Columns {
			types[col.Name] = col.Type
		}
		want := map[string]string{"id": "int64", "region": "string", "sku": "string", "quantity": "int64",
			"amount": "float64", "sold_at": "timestamptz", "status": "string", "shipped_at": "timestamptz", "note": "string"}
		for k, w := range want {
			if types[k] != w {
				t.Errorf("column %s: got type %q, want %q\n%s", k, types[k], w, out)
			}
		}
		if !slices.Equal(c.PrimaryKey, []string{"id"}) || !c.Columns[0].Required || c.Columns[7].Required {
			t.Errorf("got primary key %v, id required %v, shipped_at required %v; want [id], true, false\n%s",
				c.PrimaryKey, c.Columns[0].Required, c.Columns[7].Required, out)
		}
		if got := c.Columns[6].Allowed; !slices.Equal(got, []contract.Literal{"open", "shipped"}) {
			t.Errorf("status: got allowed %v, want open, shipped", got)
		}
		// The proposal accepts the sample it came from.
		proposal := filepath.Join(t.TempDir(), "proposal.yaml")
		os.WriteFile(proposal, out, 0o644)
		res, err := runQuality(t, env, "run", "--in", "s3://"+bucket+"/clean/", "--fn", "validate", "--contract", proposal,
			"--out", "s3://"+bucket+"/clean-out/", "--workers", "0", "--json", "--quiet")
		if err != nil || res.Rejected != 0 || res.RecordsOut != int64(clean.Records) {
			t.Errorf("validating the sample against its proposal: %+v, %v", res, err)
		}
	})

	t.Run("embedded", func(t *testing.T) {
		dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
		for key, body := range d.Files {
			p := filepath.Join(dir, filepath.FromSlash(key))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		embeddedEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		res, err := runQuality(t, embeddedEnv, "run", "--in", filepath.Join(dir, "in")+"/", "--fn", "convert", "--contract", contractFile,
			"--out", out+"/", "--partition-by", "region", "--chunk-size", "32KiB", "--json", "--quiet")
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, res, d)
		for _, p := range d.CheckRejected(readLines(t, filepath.Join(out, "_rejected"))) {
			t.Error(p)
		}
		checkValidOutput(t, out, d)
		dres, err := runQuality(t, embeddedEnv, "run", "--in", filepath.Join(dir, "in")+"/", "--fn", "duplicates", "--contract", contractFile,
			"--out", out+"-dups/", "--out-format", "jsonl", "--chunk-size", "32KiB", "--json", "--quiet")
		if err != nil || dres.State != "committed" {
			t.Fatalf("duplicates: %+v, %v", dres, err)
		}
		checkDuplicates(t, readLines(t, out+"-dups"), d)
	})

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
}
