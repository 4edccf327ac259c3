package cli

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
)

// TestInt64SumsNearTheLimitEqualDuckDB sums BIGINT values within 1,000 of
// math.MaxInt64 and math.MinInt64 by group over many chunks: a row group
// holds values of one sign, so every chunk's partial sum is far beyond
// int64 and the partial sums cancel only when merged, while each group's
// total fits (one group's is math.MaxInt64 itself). Every sum equals
// DuckDB's (a HUGEINT, exact) and is written as BIGINT.
func TestInt64SumsNearTheLimitEqualDuckDB(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(in, "data.parquet")
	const rows = 20 * 2048 // 20 row groups: 10 of each sign
	localstack.DuckDB(t, fmt.Sprintf(`COPY (
		SELECT ((i %% 2048) %% 7)::VARCHAR AS grp,
			CASE WHEN (i // 2048) %% 2 = 0 THEN %d - ((i %% 2048) %% 1000)
			ELSE -(%d - ((i %% 2048) %% 1000)) + ((i %% 2048) %% 3) END AS x
		FROM range(%d) t(i)
		UNION ALL SELECT 'edge', %d
		UNION ALL SELECT 'edge', -5
		UNION ALL SELECT 'edge', 5
		UNION ALL SELECT 'edge', NULL) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`,
		int64(math.MaxInt64), int64(math.MaxInt64), rows, int64(math.MaxInt64), src))
	out := filepath.Join(t.TempDir(), "out")
	res := runFanout(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()},
		"run", "--in", in+"/", "--fn", "aggregate", "--arg", "by=grp", "--arg", "agg=count,sum(x)",
		"--out", out+"/", "--chunk-size", "16KiB", "--reducers", "3", "--json", "--quiet")
	if res.State != "committed" || res.RecordsIn != rows+4 {
		t.Fatalf("run: %+v", res)
	}
	if res.Chunks < 10 {
		t.Fatalf("%d chunks: want at least 10, so that partial sums combine", res.Chunks)
	}
	types := localstack.DuckDB(t, fmt.Sprintf(`SELECT column_type FROM (DESCRIBE SELECT sum_x FROM read_parquet('%s/**/*.parquet'))`, out))
	if len(types) != 1 || fmt.Sprint(types[0]["column_type"]) != "BIGINT" {
		t.Errorf("sum_x's type: got %v, want BIGINT", types)
	}
	mine := localstack.DuckDB(t, fmt.Sprintf(`SELECT grp, sum_x::VARCHAR AS s FROM read_parquet('%s/**/*.parquet') ORDER BY grp`, out))
	want := localstack.DuckDB(t, fmt.Sprintf(`SELECT grp, sum(x)::VARCHAR AS s, typeof(sum(x)) AS t FROM read_parquet('%s') GROUP BY grp ORDER BY grp`, src))
	if len(mine) != len(want) || len(want) != 8 {
		t.Fatalf("got %d groups, want %d (8)", len(mine), len(want))
	}
	for i, w := range want {
		if fmt.Sprint(w["t"]) != "HUGEINT" {
			t.Errorf("DuckDB's sum is %v, want HUGEINT", w["t"])
		}
		if g := mine[i]; g["grp"] != w["grp"] || g["s"] != w["s"] {
			t.Errorf("group %v: got sum %v, want %v (DuckDB)", g["grp"], g["s"], w["s"])
		}
	}
	if s := fmt.Sprint(want[len(want)-1]["s"]); want[len(want)-1]["grp"] != "edge" || s != fmt.Sprint(int64(math.MaxInt64)) {
		t.Errorf("DuckDB's edge sum %s, want math.MaxInt64: the test shows less than it should", s)
	}
}

// TestInt64SumBeyondInt64FailsTheJob: math.MaxInt64 in each of two
// objects (two map chunks) sums past int64 in the reduce, where DuckDB
// returns the HUGEINT 18446744073709551614: the job fails naming the
// aggregate, column and group, and commits nothing (no wrapped -2).
func TestInt64SumBeyondInt64FailsTheJob(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		localstack.DuckDB(t, fmt.Sprintf(`COPY (SELECT 'g' AS grp, %d::BIGINT AS x) TO '%s' (FORMAT parquet)`,
			int64(math.MaxInt64), filepath.Join(in, name+".parquet")))
	}
	duck := localstack.DuckDB(t, fmt.Sprintf(`SELECT sum(x)::VARCHAR AS s FROM read_parquet('%s/*.parquet')`, in))
	if len(duck) != 1 || duck[0]["s"] != "18446744073709551614" {
		t.Fatalf("DuckDB's sum: %v", duck)
	}
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(fanoutBinary(t), "run", "--in", in+"/", "--fn", "aggregate", "--arg", "by=grp", "--arg", "agg=sum(x)",
		"--out", out+"/", "--max-objects-per-chunk", "1", "--json", "--quiet")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	const want = `aggregate: sum(x) in group grp="g": int64 overflow`
	if err == nil || !strings.Contains(stderr.String(), want) {
		t.Fatalf("got %v\nstdout: %s\nstderr: %s\nwant a failure naming %q", err, stdout, stderr.String(), want)
	}
	if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); !os.IsNotExist(err) {
		t.Errorf("_SUCCESS after a failed job: %v", err)
	}
}
