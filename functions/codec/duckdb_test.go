package codec

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/localstack"
)

// duckDB runs SQL statements in an in-memory DuckDB through node and
// @duckdb/node-api, returning the rows of the last one as JSON objects.
// Without them the test skips, naming the command that installs them
// (FANOUT_DUCKDB_NODE_MODULES may point at another node_modules).
func duckDB(t *testing.T, stmts ...string) []byte {
	t.Helper()
	mods := os.Getenv("FANOUT_DUCKDB_NODE_MODULES")
	if mods == "" && os.Getenv("FANOUT_DUCKDB_DIR") != "" {
		mods = filepath.Join(os.Getenv("FANOUT_DUCKDB_DIR"), "node_modules")
	}
	if mods == "" {
		mods, _ = filepath.Abs(filepath.Join("..", "..", ".cache", "duckdb", "node_modules")) // scripts/tools.sh installs it there
	}
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(mods, "@duckdb", "node-api")); err != nil || serr != nil {
		localstack.Missing(t, "node and @duckdb/node-api (installed by scripts/tools.sh)")
	}
	q, _ := json.Marshal(stmts)
	script := `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const stmts = ` + string(q) + `;
  let r;
  for (const s of stmts) r = await con.runAndReadAll(s);
  console.log(JSON.stringify(r.getRowObjectsJson()));
})().catch(e => { console.error(e); process.exit(1); });
`
	cmd := exec.Command(node, "-e", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, out)
	}
	return out
}

// TestPartitionPathDuckDB writes Parquet files under PartitionPath
// directories and reads them back with DuckDB's hive partitioning: the
// finding recorded on PartitionPath.
func TestPartitionPathDuckDB(t *testing.T) {
	dir := t.TempDir()
	schema := &functions.Schema{Columns: []functions.Column{{Name: "id", Type: functions.Int64}, {Name: "orig", Type: functions.String}}}
	vals := append([]string{""}, hostileValues...)
	for i, v := range vals {
		pv := sv(v)
		if i == 0 {
			pv = functions.Null(functions.String)
		}
		rel := PartitionPath([]string{"p", "odd name%"}, []functions.Value{pv, sv("k")})
		path := filepath.Join(dir, filepath.FromSlash(rel), "part-0.parquet")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("%q: %v", rel, err)
		}
		data := writeAll(t, "parquet", schema, []functions.Row{{iv(int64(i)), sv(v)}}, WriterOptions{})
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// DuckDB does not decode partition column names: "odd name%" is
	// "odd name%25" there.
	out := duckDB(t, `SELECT id, p, "odd name%25" AS n FROM read_parquet('`+dir+`/**/*.parquet', hive_partitioning=true, hive_types_autocast=false) ORDER BY id`)
	var rows []struct {
		ID string  `json:"id"`
		P  *string `json:"p"`
		N  string  `json:"n"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rows) != len(vals) {
		t.Fatalf("duckdb read %d rows, want %d", len(rows), len(vals))
	}
	for i, r := range rows {
		want := vals[i]
		esc := strings.TrimPrefix(PartitionPath([]string{"p"}, []functions.Value{sv(want)}), "p=")
		switch {
		case i == 0 || want == "":
			if r.P != nil {
				t.Errorf("null: duckdb gives %q, want NULL", *r.P)
			}
		case r.P == nil:
			t.Errorf("%q: duckdb gives NULL", want)
		case strings.Contains(esc, "~"): // cut or replaced: DuckDB gives the path's form
			if *r.P != UnescapePartitionValue(esc) {
				t.Errorf("cut value: duckdb gives %q, want %q", *r.P, UnescapePartitionValue(esc))
			}
		case *r.P != want:
			t.Errorf("duckdb gives %q for %q (path %q)", *r.P, want, esc)
		}
		if r.N != "k" {
			t.Errorf("escaped column name: duckdb gives value %q", r.N)
		}
	}
}

// TestParquetWriterDuckDB checks that DuckDB reads the Parquet writer's
// types, nulls and values.
func TestParquetWriterDuckDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.parquet")
	if err := os.WriteFile(path, writeAll(t, "parquet", allTypes, sampleRows(), WriterOptions{}), 0o644); err != nil {
		t.Fatal(err)
	}
	out := duckDB(t, `SELECT s, n, f, b, epoch_us(t) AS t, typeof(t) AS tt FROM read_parquet('`+path+`')`)
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := `[{"b":true,"f":1.5,"n":"1","s":"plain","t":"1714566600123456","tt":"TIMESTAMP WITH TIME ZONE"},` +
		`{"b":false,"f":"Infinity","n":"-9223372036854775808","s":"with, comma \"and\" quote\nnewline","t":"0","tt":"TIMESTAMP WITH TIME ZONE"},` +
		`{"b":false,"f":-0.25,"n":"0","s":"","t":"1714566600123456","tt":"TIMESTAMP WITH TIME ZONE"},` +
		`{"b":null,"f":null,"n":null,"s":null,"t":null,"tt":"TIMESTAMP WITH TIME ZONE"},` +
		`{"b":true,"f":1e+300,"n":"9223372036854775807","s":"żółw 日本","t":"1714566600123456","tt":"TIMESTAMP WITH TIME ZONE"}]`
	got, _ := json.Marshal(rows)
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestParquetFromDuckDB reads files DuckDB wrote: its types, a nested
// file, and several row groups.
func TestParquetFromDuckDB(t *testing.T) {
	dir := t.TempDir()
	duckDB(t,
		`COPY (SELECT 1::TINYINT ti, 4::UINTEGER ui, 18446744073709551615::UBIGINT ub, 1.25::DECIMAL(4,2) d4, -123456789.123::DECIMAL(18,3) d18,
		   12345678901234567890.5::DECIMAL(38,1) d38, DATE '2024-05-01' dt, TIMESTAMP '2024-05-01 01:02:03.456789' ts,
		   TIMESTAMP_NS '2024-05-01 01:02:03.123456789' tsns, TIMESTAMP_MS '2024-05-01 01:02:03.456' tsms,
		   'a'::VARCHAR s, 'b'::BLOB bl, uuid '12345678-9abc-def0-0102-030405060708' u, 1.5::FLOAT fl, NULL::INTEGER n)
		 TO '`+dir+`/types.parquet'`,
		`COPY (SELECT range id, CASE WHEN range % 3 = 1 THEN NULL ELSE [range, NULL] END l, {'a': range, 'b': [NULL, 'x']} st,
		 CASE WHEN range % 4 = 2 THEN NULL ELSE MAP {'k': range::DECIMAL(20,2), 'n': NULL} END m, [[1.5::FLOAT], [], NULL] ll
		 FROM range(3000)) TO '`+dir+`/nested.parquet' (ROW_GROUP_SIZE 1200)`,
		`COPY (SELECT range id, 'k' || (range % 10) s FROM range(250000)) TO '`+dir+`/big.parquet' (ROW_GROUP_SIZE 100000)`,
		`COPY (SELECT range id, md5(range::VARCHAR) s, CASE WHEN range % 7 = 0 THEN NULL ELSE range * 1.5 END f FROM range(120000))
		 TO '`+dir+`/lz4.parquet' (COMPRESSION lz4_raw, ROW_GROUP_SIZE 50000)`,
		`COPY (SELECT range id, md5(range::VARCHAR) s, CASE WHEN range % 7 = 0 THEN NULL ELSE range * 1.5 END f FROM range(120000))
		 TO '`+dir+`/lz4v2.parquet' (COMPRESSION lz4_raw, ROW_GROUP_SIZE 50000, PARQUET_VERSION V2)`,
		`SELECT 1`)
	read := func(name string, opts ParquetOptions) ([]rec, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), opts)
		if err != nil {
			return nil, err
		}
		return readAll(in)
	}
	t.Run("types", func(t *testing.T) {
		data, _ := os.ReadFile(filepath.Join(dir, "types.parquet"))
		s, _, err := ParquetSchema(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if want := "ti:int8,ui:uint32,ub:uint64,d4:decimal(4,2),d18:decimal(18,3),d38:decimal(38,1),dt:date,ts:timestamp,tsns:timestamp_ns,tsms:timestamp_ms,s:string,bl:binary,u:uuid,fl:float32,n:int32"; s.String() != want {
			t.Errorf("schema %s, want %s", s, want)
		}
		// Every value exactly, also those the old model refused: a UBIGINT
		// beyond int64, a DECIMAL(38,1) with more digits than a float64,
		// nanoseconds.
		recs, err := read("types.parquet", ParquetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"1", "4", "18446744073709551615", "1.25", "-123456789.123", "12345678901234567890.5", "2024-05-01",
			"2024-05-01T01:02:03.456789", "2024-05-01T01:02:03.123456789", "2024-05-01T01:02:03.456", "a", "Yg==",
			"12345678-9abc-def0-0102-030405060708", "1.5", ""}
		if len(recs) != 1 {
			t.Fatalf("%d rows, want 1", len(recs))
		}
		for i, v := range recs[0].Row {
			if v.Type != s.Columns[i].Type || v.Text() != want[i] {
				t.Errorf("%s: got %v %q, want %v %q", s.Columns[i].Name, v.Type, v.Text(), s.Columns[i].Type, want[i])
			}
		}
	})
	// Nested columns DuckDB wrote (lists with nulls, structs, maps of
	// decimals, lists of lists, in three row groups) read as DuckDB
	// reads them.
	t.Run("nested", func(t *testing.T) {
		data, _ := os.ReadFile(filepath.Join(dir, "nested.parquet"))
		s, _, err := ParquetSchema(bytes.NewReader(data), int64(len(data)))
		if want := "id:int64,l:list(int64),st:struct(a int64, b list(string)),m:map(string, decimal(20,2)),ll:list(list(float32))"; err != nil || s.String() != want {
			t.Errorf("schema %s (%v), want %s", s, err, want)
		}
		compareNestedWithDuckDB(t, filepath.Join(dir, "nested.parquet"))
	})
	// LZ4_RAW pages, V1 and V2 (whose levels are not compressed), go
	// through the workaround of parquet-go's LZ4_RAW bug (lz4RawWorkaround).
	for _, name := range []string{"lz4.parquet", "lz4v2.parquet"} {
		t.Run(name, func(t *testing.T) {
			recs, err := read(name, ParquetOptions{Object: name})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 120000 {
				t.Fatalf("%d rows, want 120000", len(recs))
			}
			for i, r := range recs {
				sum := md5.Sum([]byte(strconv.Itoa(i)))
				dec := functions.DecimalOf(21, 1) // DuckDB's type of range * 1.5
				f, _ := functions.DecimalFromInt64(dec, int64(i)*15)
				if i%7 == 0 {
					f = functions.Null(dec)
				}
				if want := (functions.Row{iv(int64(i)), sv(hex.EncodeToString(sum[:])), f}); !slices.Equal(r.Row, want) {
					t.Fatalf("row %d: got %v, want %v", i, r.Row, want)
				}
			}
		})
	}
	t.Run("row groups", func(t *testing.T) {
		data, _ := os.ReadFile(filepath.Join(dir, "big.parquet"))
		_, sizes, err := ParquetSchema(bytes.NewReader(data), int64(len(data)))
		if err != nil || len(sizes) != 3 {
			t.Fatalf("sizes %v, %v; want 3 row groups", sizes, err)
		}
		var all []rec
		for i := range sizes {
			recs, err := read("big.parquet", ParquetOptions{FirstRowGroup: i, LastRowGroup: i + 1})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, recs...)
		}
		if len(all) != 250000 {
			t.Fatalf("%d rows, want 250000", len(all))
		}
		for i, r := range all {
			if r.Offset != int64(i) || r.Row[0] != iv(int64(i)) || r.Row[1].S != "k"+string(rune('0'+i%10)) {
				t.Fatalf("row %d: %+v", i, r)
			}
		}
	})
}
