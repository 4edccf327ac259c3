package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// duckTypesColumns are columns of every DuckDB type fanout has a type for,
// over i in range(10000): extremes, values beyond int64 and float64, bytes
// that are not UTF-8, and a null in every column every 11 rows.
var duckTypesColumns = []struct{ name, expr string }{
	{"id", "i::BIGINT"},
	{"d18", "CASE i WHEN 1 THEN 99999999999999.9999 WHEN 2 THEN -99999999999999.9999 ELSE (i * 1234567.8912 - 6000000000) END::DECIMAL(18,4)"},
	{"d38", "(CASE WHEN i % 2 = 0 THEN '-' ELSE '' END || i::VARCHAR || '8131803788478518982.' || lpad(i::VARCHAR, 10, '0'))::DECIMAL(38,10)"},
	{"d9", "(i - 5000)::DECIMAL(9,2) / 4"},
	{"dt", "DATE '1970-01-01' + (i * 37 - 200000)::INTEGER"},
	{"tm", "make_time((i % 24)::BIGINT, (i % 60)::BIGINT, ((i * 7) % 60) + (i % 997) / 1000.0)"},
	{"ts", "TIMESTAMP '2000-01-01' + to_microseconds(i * 123456789123 - 600000000000000)"},
	{"tsns", "((DATE '1990-01-01' + i::INTEGER)::VARCHAR || ' 01:02:03.' || lpad((i * 104729 % 1000000000)::VARCHAR, 9, '0'))::TIMESTAMP_NS"},
	{"tsms", "(TIMESTAMP '2000-01-01' + to_milliseconds(i * 987654321))::TIMESTAMP_MS"},
	{"tstz", "(TIMESTAMP '2000-01-01' + to_microseconds(i * 98765432101))::TIMESTAMPTZ"},
	{"bl", "CASE WHEN i % 13 = 0 THEN ''::BLOB ELSE unhex(md5(i::VARCHAR)) END"},
	{"u8", "(i % 256)::UTINYINT"},
	{"u16", "(i * 7 % 65536)::USMALLINT"},
	{"u32", "(i * 2654435761 % 4294967296)::UINTEGER"},
	{"u64", "(18446744073709551615 - i::HUGEINT * 1844674407370955)::UBIGINT"},
	{"i8", "((i % 256) - 128)::TINYINT"},
	{"i16", "((i * 7 % 65536) - 32768)::SMALLINT"},
	{"i32", "((i * 2654435761 % 4294967296) - 2147483648)::INTEGER"},
	{"fl", "CASE i WHEN 3 THEN 'NaN'::FLOAT WHEN 4 THEN 'inf'::FLOAT WHEN 5 THEN -3.4028235e38::FLOAT ELSE (i / 7.0)::FLOAT END"},
	{"u", "md5(i::VARCHAR)::UUID"},
	{"s", "'s' || i::VARCHAR"},
	{"b", "i % 3 = 0"},
	{"f64", "i / 3.0"},
}

func duckTypesSelect(rows int) string {
	var cols []string
	for k, c := range duckTypesColumns {
		cols = append(cols, fmt.Sprintf("CASE WHEN i %% 11 = %d THEN NULL ELSE %s END AS %s", k%11, c.expr, c.name))
	}
	return fmt.Sprintf("SELECT %s FROM (SELECT range AS i FROM range(%d))", strings.Join(cols, ", "), rows)
}

// TestParquetRoundTripKeepsDuckDBTypes converts Parquet files DuckDB wrote
// with every DuckDB type fanout has (DECIMAL(18,4), DECIMAL(38,10), DATE,
// TIME, TIMESTAMP, TIMESTAMP_NS, TIMESTAMPTZ, BLOB, UTINYINT..UBIGINT,
// TINYINT..INTEGER, FLOAT, UUID, ...), 10,000 rows in several row groups,
// in each codec DuckDB writes, to Parquet through fanout's reader and
// writer: DuckDB's DESCRIBE of the output equals the input's and EXCEPT
// ALL is empty both ways.
func TestParquetRoundTripKeepsDuckDBTypes(t *testing.T) {
	dir := t.TempDir()
	codecs := []string{"snappy", "zstd", "gzip", "lz4_raw", "uncompressed"}
	var stmts []string
	for _, c := range codecs {
		stmts = append(stmts, fmt.Sprintf("COPY (%s) TO '%s/in-%s.parquet' (COMPRESSION %s, ROW_GROUP_SIZE 2048)", duckTypesSelect(10000), dir, c, c))
	}
	duckDB(t, append(stmts, "SELECT 1")...)
	var checks []string
	for _, c := range codecs {
		in := filepath.Join(dir, "in-"+c+".parquet")
		out := filepath.Join(dir, "out-"+c+".parquet")
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		input, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: in})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readAll(input)
		if err != nil || len(recs) != 10000 {
			t.Fatalf("%s: read %d rows, %v", c, len(recs), err)
		}
		rows := make([]functions.Row, len(recs))
		for i, r := range recs {
			rows[i] = r.Row
		}
		written := writeAll(t, "parquet", input.Schema(), rows, WriterOptions{RowGroupRows: 3000, Compression: c})
		if sizes, err := ParquetRowGroupSizes(bytes.NewReader(written), int64(len(written))); err != nil || len(sizes) != 4 {
			t.Fatalf("%s: output row groups %v, %v; want 4", c, sizes, err)
		}
		if err := os.WriteFile(out, written, 0o644); err != nil {
			t.Fatal(err)
		}
		checks = append(checks, fmt.Sprintf(`SELECT '%s' AS codec,
			(SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE SELECT * FROM '%s')) AS din,
			(SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE SELECT * FROM '%s')) AS dout,
			(SELECT count(*) FROM '%s') AS nout,
			(SELECT count(*) FROM (SELECT * FROM '%s' EXCEPT ALL SELECT * FROM '%s')) AS missing,
			(SELECT count(*) FROM (SELECT * FROM '%s' EXCEPT ALL SELECT * FROM '%s')) AS extra`,
			c, in, out, out, in, out, out, in))
	}
	var res []map[string]any
	if err := json.Unmarshal(duckDB(t, strings.Join(checks, " UNION ALL ")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != len(codecs) {
		t.Fatalf("%d results, want %d", len(res), len(codecs))
	}
	for _, r := range res {
		if r["din"] != r["dout"] {
			t.Errorf("%s: DESCRIBE of the output\n%v\nwant the input's\n%v", r["codec"], r["dout"], r["din"])
		}
		if fmt.Sprint(r["nout"]) != "10000" || fmt.Sprint(r["missing"]) != "0" || fmt.Sprint(r["extra"]) != "0" {
			t.Errorf("%s: output has %v rows, %v input rows missing, %v rows not in the input; want 10000, 0, 0", r["codec"], r["nout"], r["missing"], r["extra"])
		}
	}
}

// TestTextFormatsKeepEveryType writes rows of every type (read from a
// DuckDB file) as JSONL and CSV and reads them back with the schema:
// every value comes back exactly (same type, same bits).
func TestTextFormatsKeepEveryType(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.parquet")
	duckDB(t, fmt.Sprintf("COPY (%s) TO '%s'", duckTypesSelect(2000), in), "SELECT 1")
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	input, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "in.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(input)
	if err != nil {
		t.Fatal(err)
	}
	schema := input.Schema()
	rows := make([]functions.Row, len(recs))
	for i, r := range recs {
		rows[i] = r.Row
	}
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			text := writeAll(t, format, schema, rows, WriterOptions{})
			back, err := NewInput(bytes.NewReader(text), InputOptions{Format: format, Object: "x." + format, End: -1, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(back)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(rows) {
				t.Fatalf("%d rows back, want %d", len(got), len(rows))
			}
			bad := 0
			for i := range rows {
				for c := range rows[i] {
					w, g := rows[i][c], got[i].Row[c]
					if format == "csv" && schema.Columns[c].Type == functions.Binary && w.Valid && w.S == "" {
						w = functions.Null(functions.Binary) // CSV has one empty field for "" and null
					}
					if g != w && !(w.F != w.F && g.F != g.F && g.Type == w.Type) && bad < 5 {
						bad++
						t.Errorf("row %d column %s: got %v %q, want %v %q", i, schema.Columns[c].Name, g.Type, g.Text(), w.Type, w.Text())
					}
				}
			}
		})
	}
	if !slices.ContainsFunc(schema.Columns, func(c functions.Column) bool { return c.Type == functions.DecimalOf(38, 10) }) {
		t.Errorf("schema %v lacks decimal(38,10)", schema)
	}
}
