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
	{"tmns", "('01:02:03.' || lpad((i * 104729 % 1000000000)::VARCHAR, 9, '0'))::TIME_NS"},
	{"tmtz", "('01:02:03.' || lpad((i * 7 % 1000000)::VARCHAR, 6, '0') || '+00')::TIMETZ"},
	{"tss", "(TIMESTAMP '2000-01-01' + to_seconds(i * 86399))::TIMESTAMP_S"},
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
// TIME, TIME_NS, TIMETZ, TIMESTAMP, TIMESTAMP_NS, TIMESTAMP_MS,
// TIMESTAMP_S (which DuckDB writes as TIMESTAMP), TIMESTAMPTZ, BLOB,
// UTINYINT..UBIGINT, TINYINT..INTEGER, FLOAT, UUID, ...), 10,000 rows in several row groups,
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

// TestJSONLBigIntegersAreExact infers a JSONL column of integers beyond
// int64 as decimal(38,0), reads it and writes it back digit for digit.
func TestJSONLBigIntegersAreExact(t *testing.T) {
	data := `{"n":18446744073709551615,"d":"2024-05-01"}` + "\n" + `{"n":-99999999999999999999999999999999999999,"d":null}` + "\n" + `{"n":7,"d":"1999-12-31"}` + "\n"
	schema, err := InferSchema(strings.NewReader(data), "jsonl", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := schema.String(), "n:decimal(38,0),d:timestamptz"; got != want {
		t.Fatalf("inferred %s, want %s", got, want)
	}
	// With a date column given.
	schema.Columns[1].Type = functions.Date
	in, err := NewInput(strings.NewReader(data), InputOptions{Format: "jsonl", Object: "x.jsonl", End: -1, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readAll(in)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]functions.Row, len(recs))
	for i, r := range recs {
		rows[i] = r.Row
	}
	if got := string(writeAll(t, "jsonl", schema, rows, WriterOptions{})); got != data {
		t.Errorf("wrote\n%s\nwant\n%s", got, data)
	}
	if _, err := readAll(mustInput(t, `{"n":1.5,"d":"2024-05-01"}`+"\n", schema)); err == nil || !strings.Contains(err.Error(), "decimal(38,0)") {
		t.Errorf("1.5 as decimal(38,0): %v, want an error naming the type", err)
	}
	if _, err := readAll(mustInput(t, `{"n":1,"d":"2024-02-30"}`+"\n", schema)); err == nil || !strings.Contains(err.Error(), `"d"`) {
		t.Errorf("2024-02-30 as a date: %v, want an error naming the column", err)
	}
}

func mustInput(t *testing.T, data string, schema *functions.Schema) functions.Input {
	t.Helper()
	in, err := NewInput(strings.NewReader(data), InputOptions{Format: "jsonl", Object: "x.jsonl", End: -1, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestCSVTypedColumnsFailTheRecordNamingTheColumn reads decimal, date,
// time and timestamp_ms columns of a CSV with ';' exactly, and refuses a
// value each cannot hold, naming the column.
func TestCSVTypedColumnsFailTheRecordNamingTheColumn(t *testing.T) {
	schema, err := functions.ParseSchema("amount:decimal(10,2),day:date,at:time,ts:timestamp_ms")
	if err != nil {
		t.Fatal(err)
	}
	read := func(data string) ([]rec, error) {
		in, err := NewInput(strings.NewReader(data), InputOptions{Format: "csv", Object: "x.csv", End: -1, Schema: schema,
			CSVOptions: CSVOptions{Delimiter: ';'}})
		if err != nil {
			t.Fatal(err)
		}
		return readAll(in)
	}
	recs, err := read("amount;day;at;ts\n-12.5;2024-02-29;23:59:59.999999;2024-05-01 01:02:03.456\n")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range recs[0].Row {
		got = append(got, v.Text())
	}
	if want := []string{"-12.50", "2024-02-29", "23:59:59.999999", "2024-05-01T01:02:03.456"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for col, row := range map[string]string{
		"amount": "1.005;2024-01-01;00:00:00;2024-01-01",
		"day":    "1;2023-02-29;00:00:00;2024-01-01",
		"at":     "1;2024-01-01;25:00:00;2024-01-01",
		"ts":     "1;2024-01-01;00:00:00;2024-01-01 00:00:00.0001",
	} {
		_, err := read("amount;day;at;ts\n" + row + "\n")
		if err == nil || !strings.Contains(err.Error(), `"`+col+`"`) || !strings.Contains(err.Error(), "x.csv") {
			t.Errorf("%s: got %v, want an error naming x.csv and the column", row, err)
		}
	}
}
