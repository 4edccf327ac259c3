package cli

import (
	"bytes"
	"fmt"
	"os/exec"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
)

// TestSortByOnMinIOAndRedis runs the binary on MinIO and Redis: a worker
// process with --sort-memory 16KiB and a run of convert with --sort-by
// 'amount DESC, id' --row-group-size 50, partitioned by region. The
// output holds every generated row exactly (DuckDB against the
// generator), every file's rows are in order by DuckDB's reading of them
// (file_row_number), and DuckDB's parquet_metadata() finds min/max
// statistics of amount in every row group equal to the rows' own, the
// row groups of a file following one another without overlap.
func TestSortByOnMinIOAndRedis(t *testing.T) {
	bucket, client, env, want := salesJobEnv(t, 11, 4, 2000)
	w := exec.Command(fanoutBinary(t), "work", "--concurrency", "2", "--sort-memory", "16KiB")
	w.Env = env
	var logs bytes.Buffer
	w.Stderr = &logs
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Process.Kill()
		w.Wait()
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})
	res := runFanout(t, env, "run", "--in", "s3://"+bucket+"/in/", "--fn", "convert", "--out", "s3://"+bucket+"/out/",
		"--partition-by", "region", "--chunk-size", "1MiB", "--sort-by", "amount DESC, id", "--row-group-size", "50",
		"--workers", "0", "--json", "--quiet")
	if res.State != "committed" || res.RecordsOut != int64(len(want)) {
		t.Fatalf("run: got %+v, want committed with %d records", res, len(want))
	}
	local := t.TempDir()
	download(t, client, bucket, "out/", local)
	checkAgainstOracle(t, local, want)

	glob := local + "/**/*.parquet"
	unordered := localstack.DuckDB(t, fmt.Sprintf(`SELECT count(*) AS n FROM (
  SELECT amount, id, lag(amount) OVER w AS pa, lag(id) OVER w AS pid
  FROM read_parquet('%s', filename = true, file_row_number = true)
  WINDOW w AS (PARTITION BY filename ORDER BY file_row_number))
WHERE pa < amount OR (pa = amount AND pid > id)`, glob))
	if fmt.Sprint(unordered[0]["n"]) != "0" {
		t.Errorf("%v rows follow a row they sort after, want 0", unordered[0]["n"])
	}
	stats := localstack.DuckDB(t, fmt.Sprintf(`WITH d AS (
  SELECT filename, file_row_number // 50 AS rg, min(amount) AS lo, max(amount) AS hi
  FROM read_parquet('%[1]s', filename = true, file_row_number = true) GROUP BY ALL),
m AS (SELECT file_name AS filename, row_group_id AS rg, stats_min_value::DOUBLE AS slo, stats_max_value::DOUBLE AS shi,
  lag(stats_min_value::DOUBLE) OVER (PARTITION BY file_name ORDER BY row_group_id) AS prevlo
  FROM parquet_metadata('%[1]s') WHERE path_in_schema = 'amount')
SELECT count(*) AS groups, count(*) FILTER (WHERE m.slo IS NULL OR m.shi IS NULL) AS missing,
  count(*) FILTER (WHERE m.slo <> d.lo OR m.shi <> d.hi) AS loose,
  count(*) FILTER (WHERE m.shi > m.prevlo) AS overlapping, count(DISTINCT m.filename) AS files
FROM d JOIN m ON d.filename = m.filename AND d.rg = m.rg`, glob))
	s := stats[0]
	t.Logf("row groups: %v in %v files", s["groups"], s["files"])
	if fmt.Sprint(s["missing"], s["loose"], s["overlapping"]) != "000" {
		t.Errorf("row groups of amount: %v without statistics, %v with statistics other than the rows' min/max, %v overlapping the previous; want none", s["missing"], s["loose"], s["overlapping"])
	}
	if fmt.Sprint(s["groups"]) == fmt.Sprint(s["files"]) {
		t.Errorf("%v row groups in %v files, want files of several 50-row groups", s["groups"], s["files"])
	}
}
