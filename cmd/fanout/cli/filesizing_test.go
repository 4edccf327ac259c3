package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
)

// sizedTarget is the target file size of the right-sized fault job: its
// chunks (8 KiB of JSONL over 4 groups) write files far under half of it.
const (
	sizedTarget     = 16 << 10
	sizedTargetFlag = "16KiB"
)

// checkSized reads the job's commit record and checks, from the files it
// lists, that each partition holds at most one file under half the
// target, that the map stage's small files were merged, and that the
// --json result counts the same files per partition.
func (j *faultJob) checkSized(res runJSON) *manifest.CommitRecord {
	j.t.Helper()
	rec, files := j.checkRightSized(sizedTarget)
	if len(res.Partitions) != len(files) {
		j.t.Fatalf("--json counts %d partitions, the commit record's files are in %d", len(res.Partitions), len(files))
	}
	for _, p := range res.Partitions {
		if files[p.Partition] != p.Files {
			j.t.Errorf("--json: partition %s has %d files, the commit record %d", p.Partition, p.Files, files[p.Partition])
		}
	}
	return rec
}

// checkRightSized is checkSized without the --json result: from the
// commit record's files, each partition holds at most one file under half
// of target, and the map stage's small files were merged. It returns the
// record and the number of files of each partition.
func (j *faultJob) checkRightSized(target int64) (*manifest.CommitRecord, map[string]int) {
	j.t.Helper()
	rec, err := manifest.DecodeCommit(j.read("out/_fanout/" + j.job + "/_COMMITTED"))
	if err != nil {
		j.t.Fatal(err)
	}
	committed := recordFiles(j.t, rec, func(key string) ([]byte, error) { return j.read(key), nil })
	small, files := map[string]int{}, map[string]int{}
	for _, f := range committed {
		dir := path.Dir(strings.TrimPrefix(f.Key, "out/"))
		files[dir]++
		if f.Size < target/2 {
			small[dir]++
		}
	}
	for dir, n := range small {
		if n > 1 {
			j.t.Errorf("partition %s: %d committed files under half the target, want at most 1", dir, n)
		}
	}
	if rec.Compacted == 0 || len(committed) >= j.chunks {
		j.t.Errorf("%d files committed for %d chunks, %d merged: want the chunks' small files merged", len(committed), j.chunks, rec.Compacted)
	}
	return rec, files
}

// read reads an object of the job's bucket.
// recordFiles returns the data files of a commit record: inline in a
// record of version 1, in the parts a record of version 2 names (each
// read with read, its job and number checked).
func recordFiles(t testing.TB, rec *manifest.CommitRecord, read func(key string) ([]byte, error)) []manifest.OutputFile {
	t.Helper()
	files := rec.Files
	for i, p := range rec.FileParts {
		body, err := read(p.Key)
		if err != nil {
			t.Fatalf("the commit record's file part %s: %v", p.Key, err)
		}
		l, err := manifest.DecodeFileList(body)
		if err != nil {
			t.Fatal(err)
		}
		if l.Job != rec.Job || l.Part != i || len(l.Files) != p.Files {
			t.Fatalf("file part %s: part %d of job %s with %d files, want part %d of %s with %d", p.Key, l.Part, l.Job, len(l.Files), i, rec.Job, p.Files)
		}
		files = append(files, l.Files...)
	}
	if len(files) != rec.NumFiles() {
		t.Fatalf("the commit record lists %d files, counts %d", len(files), rec.NumFiles())
	}
	return files
}

func (j *faultJob) read(key string) []byte {
	j.t.Helper()
	rc, _, err := j.store.Get(context.Background(), key, nil)
	if err != nil {
		j.t.Fatal(err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		j.t.Fatal(err)
	}
	return body
}

// compactEpochs reads the epochs of the job's compaction markers, by task.
func (j *faultJob) compactEpochs() map[string]int64 {
	j.t.Helper()
	epochs := map[string]int64{}
	for info, err := range j.store.List(context.Background(), "out/_fanout/"+j.job+"/compact/", nil) {
		if err != nil {
			j.t.Fatal(err)
		}
		m, err := manifest.DecodeMarker(j.read(info.Key))
		if err != nil {
			j.t.Fatalf("%s: %v", info.Key, err)
		}
		epochs[m.Chunk] = m.Epoch
	}
	return epochs
}

// TestWorkerKilledMidCompaction kills a worker with SIGKILL while it
// uploads a compaction task's merged file (a part of its upload in
// flight) on MinIO and Redis. The task's lease expires, another worker
// runs it again, and the committed output holds every record exactly once
// (the oracle) in right-sized files, the killed attempt's upload aborted.
// It runs with JSONL output (files concatenated) and with Parquet, the
// default, whose small map files are decoded and written again (the
// oracle reads them with parquet-go), and with Parquet sorted by
// --sort-by (each partition's files merged in one order).
func TestWorkerKilledMidCompaction(t *testing.T) {
	for _, c := range []struct {
		name   string
		format []string
	}{
		{"jsonl", []string{"--out-format", "jsonl"}},
		{"parquet", []string{"--out-format", "parquet"}},
		{"parquet-sorted", []string{"--out-format", "parquet", "--sort-by", "pad DESC,id"}},
	} {
		t.Run(c.name, func(t *testing.T) { workerKilledMidCompaction(t, c.format) })
	}
}

func workerKilledMidCompaction(t *testing.T, format []string) {
	j := newFaultJob(t, faultSetup{})
	j.submit(append([]string{"--target-file-size", sizedTargetFlag}, format...)...)
	proxy := faulttest.NewS3Proxy(t, j.s3.Endpoint)
	caught := make(chan string, 1)
	proxy.Before(func(r *http.Request) error {
		task, _, start, ok := faulttest.OutputWrite(r, j.job)
		if !ok || start || !manifest.IsCompactTask(task) {
			return nil
		}
		select {
		case caught <- task:
			return hold(r, proxy, nil) // until the worker is dead
		default:
			return nil
		}
	})
	task := j.killWorkerWhenCaught(t, proxy.URL, caught, "uploaded part of a compaction task's file")
	if n := openUploadsOf(t, j, task); n != 1 {
		t.Fatalf("compaction task %s has %d open uploads after the kill, want the killed attempt's one", task, n)
	}

	j.worker("worker-b", "", 2)
	res := j.committed(j.driver(""), 2*time.Minute)
	c := j.check()
	j.checkSized(res)
	if e := j.compactEpochs()[task]; e < 2 {
		t.Errorf("compaction task %s was published by epoch %d, want a later attempt than the killed one", task, e)
	}
	if n := openUploadsOf(t, j, task); n != 0 {
		t.Errorf("compaction task %s: %d uploads left open after the commit, want the killed attempt's aborted", task, n)
	}
	t.Logf("killed worker a in compaction task %s mid-upload; %d chunks, %d records committed once in %d files", task, c.Chunks, c.Records, len(c.Files))
}

// TestCompactionCopiesRowGroupsOnMinIOAndRedis runs a right-sized convert
// to Parquet on MinIO and Redis whose map files' row groups are worth
// keeping (--row-group-size 50: any is at least 1/128 of it), so the
// compaction tasks append them as they are instead of decoding them. The
// output holds every generated row exactly (DuckDB against the
// generator) in one file per region, the files are made of the map
// files' row groups (a row group under 50 rows before a file's last one:
// where a map file ended), and every row group's min/max statistics of
// amount, copied with it, are its rows' own (DuckDB's parquet_metadata()
// against the rows DuckDB reads from it, which also reads each row group
// where its moved offsets say it is).
func TestCompactionCopiesRowGroupsOnMinIOAndRedis(t *testing.T) {
	bucket, client, env, want := salesJobEnv(t, 12, 6, 1500)
	res := runFanout(t, env, "run", "--in", "s3://"+bucket+"/in/", "--fn", "convert", "--out", "s3://"+bucket+"/out/",
		"--partition-by", "region", "--max-objects-per-chunk", "1", "--target-file-size", "4MiB", "--row-group-size", "50",
		"--json", "--quiet")
	if res.State != "committed" || res.RecordsOut != int64(len(want)) || res.Chunks != 6 {
		t.Fatalf("run: got %+v, want committed with %d records in 6 chunks", res, len(want))
	}
	if len(res.Partitions) == 0 || res.Files != len(res.Partitions) {
		t.Errorf("%d files in %d partitions, want one file per partition", res.Files, len(res.Partitions))
	}
	local := t.TempDir()
	download(t, client, bucket, "out/", local)
	checkAgainstOracle(t, local, want)

	glob := local + "/**/*.parquet"
	stats := localstack.DuckDB(t, fmt.Sprintf(`WITH m AS (
  SELECT file_name AS filename, row_group_id AS rg, row_group_num_rows AS n, stats_min_value::DOUBLE AS slo, stats_max_value::DOUBLE AS shi,
    sum(row_group_num_rows) OVER (PARTITION BY file_name ORDER BY row_group_id) - row_group_num_rows AS first,
    row_group_id = max(row_group_id) OVER (PARTITION BY file_name) AS last
  FROM parquet_metadata('%[1]s') WHERE path_in_schema = 'amount'),
d AS (SELECT m.filename, m.rg, min(p.amount) AS lo, max(p.amount) AS hi, count(*) AS rows
  FROM m JOIN read_parquet('%[1]s', filename = true, file_row_number = true) p
    ON p.filename = m.filename AND p.file_row_number >= m.first AND p.file_row_number < m.first + m.n GROUP BY ALL)
SELECT count(*) AS groups, count(*) FILTER (WHERE m.slo IS DISTINCT FROM d.lo OR m.shi IS DISTINCT FROM d.hi OR m.n <> d.rows) AS wrong,
  count(*) FILTER (WHERE m.n < 50 AND NOT m.last) AS seams, count(DISTINCT m.filename) AS files
FROM m JOIN d ON d.filename = m.filename AND d.rg = m.rg`, glob))
	s := stats[0]
	t.Logf("%v row groups in %v files, %v of them ending a map file before the last", s["groups"], s["files"], s["seams"])
	if fmt.Sprint(s["wrong"]) != "0" {
		t.Errorf("%v row groups whose statistics of amount or rows are not the rows' own, want none", s["wrong"])
	}
	if fmt.Sprint(s["seams"]) == "0" {
		t.Errorf("no row group under 50 rows before a file's last: the map files' row groups were not copied")
	}
}
