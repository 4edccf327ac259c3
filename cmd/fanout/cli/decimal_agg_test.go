package cli

import (
	"bytes"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/localstack"
)

// TestDecimalSumsEqualDuckDB groups Parquet that DuckDB wrote, with
// DECIMAL(18,4), DECIMAL(38,10) and UBIGINT columns (values near each
// type's limits, UBIGINTs above int64, nulls), by a key over one chunk per
// row group, so that partial sums combine across many chunks and reduce
// tasks: every sum equals DuckDB's sum exactly (text of the same
// DECIMAL(38,s); HUGEINT for the UBIGINT sum), the output's types are
// DECIMAL(38,s) and DOUBLE, and every average is the exact quotient of
// DuckDB's sum and count rounded once (and within 1e-15 of DuckDB's avg).
func TestDecimalSumsEqualDuckDB(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(in, "data.parquet")
	const rows = 40_000
	localstack.DuckDB(t, fmt.Sprintf(`COPY (SELECT
		(i %% 13)::VARCHAR AS grp,
		CASE WHEN i %% 11 = 0 THEN NULL ELSE ((CASE WHEN i %% 3 = 0 THEN '-' ELSE '' END) ||
			(hash(i) %% 100000000000000)::VARCHAR || '.' || lpad((hash(i + 1) %% 10000)::VARCHAR, 4, '0'))::DECIMAL(18,4) END AS d,
		CASE WHEN i %% 7 = 0 THEN NULL ELSE ((CASE WHEN i %% 5 < 2 THEN '-' ELSE '' END) ||
			(hash(i + 2) %% 1000000000000000)::VARCHAR || lpad((hash(i + 3) %% 1000000000)::VARCHAR, 9, '0') ||
			'.' || lpad((hash(i + 4) %% 10000000000)::VARCHAR, 10, '0'))::DECIMAL(38,10) END AS w,
		CASE WHEN i %% 17 = 0 THEN NULL ELSE hash(i + 5) END AS u
		FROM range(%d) t(i)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, rows, src))
	out := filepath.Join(t.TempDir(), "out")
	res := runFanout(t, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()},
		"run", "--in", in+"/", "--fn", "aggregate", "--arg", "by=grp",
		"--arg", "agg=count,sum(d),avg(d),sum(w),avg(w),sum(u),avg(u)",
		"--out", out+"/", "--chunk-size", "16KiB", "--reducers", "3", "--json", "--quiet")
	if res.State != "committed" || res.RecordsIn != rows {
		t.Fatalf("run: %+v", res)
	}
	if res.Chunks < 10 {
		t.Fatalf("%d chunks: want at least 10, so that partial sums combine", res.Chunks)
	}
	t.Logf("%d records in %d chunks", res.RecordsIn, res.Chunks)
	got := localstack.DuckDB(t, fmt.Sprintf(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('%s/**/*.parquet')) ORDER BY column_name`, out))
	types := map[string]string{}
	for _, r := range got {
		types[fmt.Sprint(r["column_name"])] = fmt.Sprint(r["column_type"])
	}
	for col, want := range map[string]string{"sum_d": "DECIMAL(38,4)", "sum_w": "DECIMAL(38,10)", "sum_u": "DECIMAL(38,0)",
		"avg_d": "DOUBLE", "avg_w": "DOUBLE", "avg_u": "DOUBLE", "count": "BIGINT"} {
		if types[col] != want {
			t.Errorf("column %s: got type %s, want %s", col, types[col], want)
		}
	}
	cols := []string{"count", "sum_d", "avg_d", "n_d", "sum_w", "avg_w", "n_w", "sum_u", "avg_u", "n_u"}
	mine := localstack.DuckDB(t, fmt.Sprintf(`SELECT grp, count::VARCHAR AS count, sum_d::VARCHAR AS sum_d, avg_d::VARCHAR AS avg_d,
		sum_w::VARCHAR AS sum_w, avg_w::VARCHAR AS avg_w, sum_u::VARCHAR AS sum_u, avg_u::VARCHAR AS avg_u
		FROM read_parquet('%s/**/*.parquet') ORDER BY grp`, out))
	want := localstack.DuckDB(t, fmt.Sprintf(`SELECT grp, count(*)::VARCHAR AS count,
		sum(d)::VARCHAR AS sum_d, avg(d)::VARCHAR AS avg_d, count(d)::VARCHAR AS n_d,
		sum(w)::VARCHAR AS sum_w, avg(w)::VARCHAR AS avg_w, count(w)::VARCHAR AS n_w,
		sum(u)::VARCHAR AS sum_u, avg(u)::VARCHAR AS avg_u, count(u)::VARCHAR AS n_u
		FROM read_parquet('%s') GROUP BY grp ORDER BY grp`, src))
	if len(mine) != len(want) || len(want) != 13 {
		t.Fatalf("got %d groups, want %d (13)", len(mine), len(want))
	}
	for i, w := range want {
		g := mine[i]
		if g["grp"] != w["grp"] {
			t.Fatalf("group %d: got %v, want %v", i, g["grp"], w["grp"])
		}
		for _, c := range cols {
			if strings.HasPrefix(c, "n_") {
				continue
			}
			gs, ws := fmt.Sprint(g[c]), fmt.Sprint(w[c])
			if !strings.HasPrefix(c, "avg_") {
				if gs != ws {
					t.Errorf("group %v %s: got %s, want %s (DuckDB)", w["grp"], c, gs, ws)
				}
				continue
			}
			// The average: DuckDB's exact sum over its count, rounded once.
			col := strings.TrimPrefix(c, "avg_")
			sum, ok1 := new(big.Rat).SetString(fmt.Sprint(w["sum_"+col]))
			n, ok2 := new(big.Rat).SetString(fmt.Sprint(w["n_"+col]))
			if !ok1 || !ok2 || n.Sign() == 0 {
				t.Fatalf("group %v: DuckDB's sum %v or count %v", w["grp"], w["sum_"+col], w["n_"+col])
			}
			exact, _ := sum.Quo(sum, n).Float64()
			gf, err1 := strconv.ParseFloat(gs, 64)
			wf, err2 := strconv.ParseFloat(ws, 64)
			if err1 != nil || err2 != nil || gf != exact {
				t.Errorf("group %v %s: got %s, want %v (DuckDB's sum over its count)", w["grp"], c, gs, exact)
			}
			if d := (gf - wf) / wf; d > 1e-15 || d < -1e-15 {
				t.Errorf("group %v %s: got %s, DuckDB's avg %s", w["grp"], c, gs, ws)
			}
		}
	}
	// The sums exercise the wide paths: UBIGINT sums beyond int64 and
	// DECIMAL(38,10) sums beyond 18 digits.
	if s := fmt.Sprint(want[0]["sum_u"]); len(s) < 20 {
		t.Errorf("sum_u %s fits int64: the test shows less than it should", s)
	}
	if s := fmt.Sprint(want[0]["sum_w"]); len(s) < 32 {
		t.Errorf("sum_w %s is short: the test shows less than it should", s)
	}
}

// TestDecimalSumOverflowFailsTheJob: two DECIMAL(38,10) values of 38
// nines in two objects (two map chunks) sum beyond 38 digits in the
// reduce: the job fails naming the aggregate, column and group, and
// commits nothing.
func TestDecimalSumOverflowFailsTheJob(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		localstack.DuckDB(t, fmt.Sprintf(`COPY (SELECT 'g' AS grp, '%s.%s'::DECIMAL(38,10) AS w) TO '%s' (FORMAT parquet)`,
			strings.Repeat("9", 28), strings.Repeat("9", 10), filepath.Join(in, name+".parquet")))
	}
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(fanoutBinary(t), "run", "--in", in+"/", "--fn", "aggregate", "--arg", "by=grp", "--arg", "agg=sum(w)",
		"--out", out+"/", "--max-objects-per-chunk", "1", "--json", "--quiet")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	const want = `aggregate: sum(w) in group grp="g": decimal(38,10) overflow`
	if err == nil || !strings.Contains(stderr.String(), want) {
		t.Fatalf("got %v\nstdout: %s\nstderr: %s\nwant a failure naming %q", err, stdout, stderr.String(), want)
	}
	if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); !os.IsNotExist(err) {
		t.Errorf("_SUCCESS after a failed job: %v", err)
	}
}
