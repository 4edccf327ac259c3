package localstack

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// duckdbScript runs one SQL query with DuckDB's Node.js binding and prints
// the rows as a JSON array (BIGINT values come back as strings).
const duckdbScript = `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const reader = await conn.runAndReadAll(process.argv[2]);
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()));
})().catch(e => { console.error(String(e && e.message || e)); process.exit(1); });
`

// DuckDB runs query with DuckDB (installed by scripts/tools.sh into
// $FANOUT_DUCKDB_DIR, default .cache/duckdb at the repository root) and
// returns its rows. It is the independent oracle tests compare fanout's
// output to. It skips (fails when required) when DuckDB is missing.
func DuckDB(t testing.TB, query string) []map[string]any {
	t.Helper()
	dir := duckdbDir()
	if dir == "" {
		Missing(t, "DuckDB (@duckdb/node-api, installed by scripts/tools.sh)")
	}
	script := filepath.Join(t.TempDir(), "query.js")
	if err := os.WriteFile(script, []byte(duckdbScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, query)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb %q: %v: %s", query, err, stderr.String())
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("duckdb output: %v: %.200s", err, out)
	}
	return rows
}

func duckdbDir() string {
	candidates := []string{os.Getenv("FANOUT_DUCKDB_DIR")}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			candidates = append(candidates, filepath.Join(d, ".cache", "duckdb"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(c, "node_modules", "@duckdb", "node-api", "package.json")); err == nil {
			if _, err := exec.LookPath("node"); err == nil {
				return c
			}
		}
	}
	return ""
}

// duckdbBatchScript runs each query of a JSON list read from stdin in one
// DuckDB instance and prints one result per query: its rows, or the error
// DuckDB gave (a query that fails does not stop the others).
const duckdbBatchScript = `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const queries = JSON.parse(Buffer.concat(chunks).toString());
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run("SET TimeZone = 'UTC'");
  const out = [];
  for (const q of queries) {
    try {
      const r = await conn.runAndReadAll(q);
      out.push({ rows: r.getRowObjectsJson() });
    } catch (e) {
      out.push({ error: String(e && e.message || e) });
    }
  }
  process.stdout.write(JSON.stringify(out));
})().catch(e => { console.error(String(e && e.message || e)); process.exit(1); });
`

// DuckDBResult is one query's outcome in DuckDBBatch: its rows, or the
// error DuckDB gave.
type DuckDBResult struct {
	Rows  []map[string]any `json:"rows"`
	Error string           `json:"error"`
}

// DuckDBBatch runs queries in one DuckDB instance (time zone UTC) and
// returns each one's rows or error, so that a test can tell which inputs
// DuckDB refuses. It skips (fails when required) when DuckDB is missing.
func DuckDBBatch(t testing.TB, queries []string) []DuckDBResult {
	t.Helper()
	dir := duckdbDir()
	if dir == "" {
		Missing(t, "DuckDB (@duckdb/node-api, installed by scripts/tools.sh)")
	}
	script := filepath.Join(t.TempDir(), "batch.js")
	if err := os.WriteFile(script, []byte(duckdbBatchScript), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(queries)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb batch of %d queries: %v: %s", len(queries), err, stderr.String())
	}
	var res []DuckDBResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(queries) {
		t.Fatalf("duckdb batch output (%d results for %d queries): %v: %.200s", len(res), len(queries), err, out)
	}
	return res
}
