package fanout_test

// The Parquet conformance corpus (apache/parquet-testing, vendored under
// testdata/parquet-testing) through the whole engine: every file is
// converted to JSONL and to Parquet, and what fanout commits is compared
// with what DuckDB reads from the original. A file is exact (same rows,
// same values under fanout's documented type mapping), refused (the plan
// or the chunk fails with a reason) or wrong; one wrong file fails the
// test, and docs/formats.md must list the outcome of every file.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

var updateFormats = flag.Bool("update-formats", false, "rewrite the corpus table of docs/formats.md from this run of TestParquetCorpus")

const (
	corpusDir   = "../testdata/parquet-testing"
	formatsDoc  = "../docs/formats.md"
	corpusBegin = "<!-- corpus table: written by go test ./fanout -run TestParquetCorpus -update-formats -->"
	corpusEnd   = "<!-- end of corpus table -->"
	mapNoValue  = "data/map_no_value.parquet"
)

// corpusOutcome is what became of one file.
type corpusOutcome struct {
	file    string // relative to the corpus directory
	outcome string // "exact", "refused" or "wrong"
	reason  string // why refused or wrong
}

func TestParquetCorpus(t *testing.T) {
	var files []string
	err := filepath.WalkDir(corpusDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".parquet") || strings.HasSuffix(p, ".parquet.encrypted")) {
			rel, _ := filepath.Rel(corpusDir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil || len(files) < 90 {
		t.Fatalf("%d corpus files (%v): want the whole of testdata/parquet-testing", len(files), err)
	}
	slices.Sort(files)
	abs, err := filepath.Abs(corpusDir)
	if err != nil {
		t.Fatal(err)
	}

	// What DuckDB sees in each original: its columns and types.
	var describe []string
	for _, f := range files {
		describe = append(describe, "DESCRIBE SELECT * FROM read_parquet("+sqlString(filepath.Join(abs, f))+")")
	}
	described := localstack.DuckDBBatch(t, describe)
	// DuckDB refuses map_no_value.parquet ("MAP_KEY_VALUE requires two
	// children"): its columns are those corpusOracle documents.
	if i := slices.Index(files, mapNoValue); i >= 0 && described[i].Error != "" {
		described[i] = localstack.DuckDBResult{Rows: []map[string]any{
			{"column_name": "my_map", "column_type": "MAP(INTEGER, INTEGER)"},
			{"column_name": "my_map_no_v", "column_type": "INTEGER[]"},
			{"column_name": "my_list", "column_type": "INTEGER[]"},
		}}
	}

	type run struct {
		file, format string
		out          string
		schema       *functions.Schema
		err          error
	}
	var runs []*run
	work := t.TempDir()
	for i, f := range files {
		data, err := os.ReadFile(filepath.Join(corpusDir, f))
		if err != nil {
			t.Fatal(err)
		}
		schema, _, _ := codec.ParquetSchema(bytes.NewReader(data), int64(len(data)))
		for _, format := range []string{"jsonl", "parquet"} {
			dir := filepath.Join(work, fmt.Sprintf("%03d-%s", i, format))
			in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
			writeFiles(t, in, map[string][]byte{filepath.Base(f): data})
			r := &run{file: f, format: format, out: out, schema: schema}
			r.err = corpusConvert(t, in, out, format)
			runs = append(runs, r)
		}
	}

	// Compare every committed output with the original, in DuckDB.
	var queries []string
	var compared []*run
	var outcomes = map[string][]string{} // file -> per-format results
	for _, r := range runs {
		if r.err != nil {
			continue
		}
		d := described[slices.Index(files, r.file)]
		if d.Error != "" {
			outcomes[r.file] = append(outcomes[r.file], "wrong: fanout committed a file DuckDB refuses: "+firstLine(d.Error))
			r.err = errCompared
			continue
		}
		q, err := compareQuery(corpusOracle(abs, r.file, d.Rows), r.out, r.format, d.Rows, r.schema)
		if err != nil {
			outcomes[r.file] = append(outcomes[r.file], "wrong: "+err.Error())
			r.err = errCompared
			continue
		}
		queries = append(queries, q)
		compared = append(compared, r)
	}
	results := localstack.DuckDBBatch(t, queries)
	// The Parquet outputs' types as DuckDB sees them must be the
	// originals' (DESCRIBE equal, up to the documented mapping).
	var describeOut []string
	var describedRuns []int
	for i, r := range compared {
		if r.format == "parquet" && hasFiles(r.out, ".parquet") {
			describeOut = append(describeOut, "DESCRIBE SELECT * FROM read_parquet("+sqlString(r.out+"/*.parquet")+")")
			describedRuns = append(describedRuns, i)
		}
	}
	typeErr := map[int]string{}
	for j, d := range localstack.DuckDBBatch(t, describeOut) {
		i := describedRuns[j]
		orig := described[slices.Index(files, compared[i].file)].Rows
		switch {
		case d.Error != "":
			typeErr[i] = "DuckDB cannot describe the parquet output: " + firstLine(d.Error)
		case len(d.Rows) != len(orig):
			typeErr[i] = fmt.Sprintf("the parquet output has %d columns, the original %d", len(d.Rows), len(orig))
		default:
			for k := range orig {
				ot, nt := fmt.Sprint(orig[k]["column_type"]), fmt.Sprint(d.Rows[k]["column_type"])
				if !sameDuckType(ot, nt) || orig[k]["column_name"] != d.Rows[k]["column_name"] {
					typeErr[i] = fmt.Sprintf("column %v %s in the original is %v %s in the parquet output", orig[k]["column_name"], ot, d.Rows[k]["column_name"], nt)
					break
				}
			}
		}
	}
	for i, r := range compared {
		res := results[i]
		if msg, bad := typeErr[i]; bad {
			outcomes[r.file] = append(outcomes[r.file], "wrong: "+msg)
			continue
		}
		if res.Error != "" {
			outcomes[r.file] = append(outcomes[r.file], fmt.Sprintf("wrong: DuckDB cannot compare the %s output: %s", r.format, firstLine(res.Error)))
			continue
		}
		row := res.Rows[0]
		if fmt.Sprint(row["na"]) != fmt.Sprint(row["nb"]) || fmt.Sprint(row["da"]) != "0" || fmt.Sprint(row["db"]) != "0" {
			outcomes[r.file] = append(outcomes[r.file], fmt.Sprintf("wrong: %s output: %v rows read, %v committed; %v original rows missing, %v committed rows not in the original (e.g. original %v, committed %v)",
				r.format, row["na"], row["nb"], row["da"], row["db"], row["sa"], row["sb"]))
			continue
		}
		outcomes[r.file] = append(outcomes[r.file], "exact")
	}
	for _, r := range runs {
		if r.err != nil && r.err != errCompared {
			outcomes[r.file] = append(outcomes[r.file], "refused: "+refusalReason(r.err, filepath.Base(r.file)))
		}
	}

	var table []corpusOutcome
	for _, f := range files {
		o := outcomes[f]
		c := corpusOutcome{file: f}
		switch {
		case slices.ContainsFunc(o, func(s string) bool { return strings.HasPrefix(s, "wrong") }):
			c.outcome, c.reason = "wrong", strings.Join(o, "; ")
		case len(o) == 2 && o[0] == "exact" && o[1] == "exact":
			c.outcome = "exact"
		case len(o) == 2 && o[0] == o[1]:
			c.outcome, c.reason = "refused", strings.TrimPrefix(o[0], "refused: ")
		default: // refused in one format only
			c.outcome, c.reason = "refused", "jsonl: "+o[0]+"; parquet: "+o[1]
		}
		table = append(table, c)
	}
	text := corpusTable(table)
	t.Log("\n" + text)
	for _, c := range table {
		if c.outcome == "wrong" {
			t.Errorf("%s: WRONG: %s", c.file, c.reason)
		}
	}
	if *updateFormats {
		if err := writeCorpusTable(text); err != nil {
			t.Fatal(err)
		}
		return
	}
	doc, err := os.ReadFile(formatsDoc)
	if err != nil {
		t.Fatal(err)
	}
	if got := corpusSection(string(doc)); got != text {
		t.Errorf("docs/formats.md's corpus table differs from this run's outcomes (rerun with -update-formats):\n--- docs/formats.md\n%s\n--- this run\n%s", got, text)
	}
}

var errCompared = errors.New("compared")

// corpusConvert runs convert from in to out in the given format through the
// embedded engine.
func corpusConvert(t *testing.T, in, out, format string) error {
	return convertParquet(t, in, out, format, map[string]string{})
}

// convertParquet runs convert with args from the Parquet files of in to
// out in the given format through the embedded engine; a failed job
// returns its first chunk's reason.
func convertParquet(t *testing.T, in, out, format string, args map[string]string) error {
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Format: "parquet", Function: "convert", Args: args,
		Output: "file://" + out + "/", OutputFormat: format, MaxAttempts: 1}.WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = e.Run(ctx, spec, fanout.RunOptions{Workers: 1})
	var jf *fanout.JobFailedError
	if errors.As(err, &jf) && len(jf.Failed) > 0 {
		return errors.New(jf.Failed[0].Reason)
	}
	return err
}

var (
	reChunk = regexp.MustCompile(`chunk c[0-9a-z]+: `)
	reTemp  = regexp.MustCompile(`(file://)?/[^ "]*/(in|out)/`)
)

// refusalReason is the part of a refusal that does not change from run to
// run: without job IDs, temporary paths or the file's name.
func refusalReason(err error, base string) string {
	s := err.Error()
	s = reChunk.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "permanent error: ", "")
	s = strings.TrimPrefix(s, "codec: parquet: ")
	s = reTemp.ReplaceAllString(s, "")
	for _, p := range []string{`codec: parquet "` + base + `": `, `"` + base + `" at offset `, base + ": "} {
		if i := strings.LastIndex(s, p); i >= 0 {
			s = s[i+len(p):]
		}
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// duckColumnType is the DuckDB type of a fanout column, nested ones
// spelled as DuckDB's DESCRIBE spells them (T[], STRUCT(a T, "b c" U),
// MAP(K, V)).
func duckColumnType(c functions.Column) string {
	switch c.Type.Kind() {
	case functions.KindList:
		return duckColumnType(c.Elem()) + "[]"
	case functions.KindMap:
		return "MAP(" + duckColumnType(c.MapKey()) + ", " + duckColumnType(c.MapValue()) + ")"
	case functions.KindStruct:
		var fs []string
		for _, f := range c.Fields {
			name := f.Name
			if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(name) {
				name = sqlIdent(name)
			}
			fs = append(fs, name+" "+duckColumnType(f))
		}
		return "STRUCT(" + strings.Join(fs, ", ") + ")"
	}
	return duckType(c.Type)
}

// duckType is the DuckDB type of a fanout type (what DuckDB's DESCRIBE
// shows for a Parquet column fanout wrote).
func duckType(t functions.Type) string {
	switch t.Kind() {
	case functions.KindDecimal:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision(), t.Scale())
	case functions.KindTimestamp:
		switch {
		case t.UTC():
			return "TIMESTAMP WITH TIME ZONE"
		case t.Unit() == functions.Millis:
			return "TIMESTAMP_MS"
		case t.Unit() == functions.Nanos:
			return "TIMESTAMP_NS"
		}
		return "TIMESTAMP"
	case functions.KindTime:
		if t.UTC() {
			return "TIME WITH TIME ZONE"
		}
		return "TIME"
	}
	return map[functions.Type]string{
		functions.String: "VARCHAR", functions.Int64: "BIGINT", functions.Float64: "DOUBLE", functions.Float32: "FLOAT",
		functions.Bool: "BOOLEAN", functions.Int8: "TINYINT", functions.Int16: "SMALLINT", functions.Int32: "INTEGER",
		functions.Uint8: "UTINYINT", functions.Uint16: "USMALLINT", functions.Uint32: "UINTEGER", functions.Uint64: "UBIGINT",
		functions.Date: "DATE", functions.Binary: "BLOB", functions.UUID: "UUID",
	}[t]
}

// sameDuckType reports whether DuckDB's type of the original column
// (orig) and of fanout's Parquet output (out) agree: they are equal, or
// GEOMETRY (Parquet's GEOMETRY and GEOGRAPHY) is fanout's binary, its
// WKB bytes (docs/formats.md).
func sameDuckType(orig, out string) bool {
	return orig == out || (isGeometry(orig) && out == "BLOB")
}

func isGeometry(duckType string) bool { return strings.HasPrefix(duckType, "GEOMETRY") }

// compareQuery builds a DuckDB query that reads the original and fanout's
// output and counts the rows and the rows of each side missing from the
// other (EXCEPT ALL: a multiset difference), with a sample of each. The
// Parquet output's columns compare as they are (their types are checked
// equal by the caller); the JSONL output's are read as text and cast to
// the column's DuckDB type, binary from base64. (DuckDB reads JSON
// numbers through a double: decimals of more than 15 digits in JSONL
// compare as doubles, the one check here weaker than exact.)
func compareQuery(orig, out, format string, cols []map[string]any, schema *functions.Schema) (string, error) {
	// orig is a SQL source of the original's rows: read_parquet of the file, or corpusOracle's.
	if schema == nil {
		return "", errors.New("fanout committed a file whose schema codec.ParquetSchema refuses")
	}
	if len(schema.Columns) != len(cols) {
		return "", fmt.Errorf("fanout committed %d columns, DuckDB reads %d", len(schema.Columns), len(cols))
	}
	var a, b []string
	for i, c := range cols {
		name, typ := fmt.Sprint(c["column_name"]), fmt.Sprint(c["column_type"])
		fc := schema.Columns[i]
		ft := fc.Type
		if fc.Name != name {
			return "", fmt.Errorf("column %d is %q in fanout's schema, %q in DuckDB's", i, fc.Name, name)
		}
		if dt := duckColumnType(fc); !sameDuckType(typ, dt) {
			return "", fmt.Errorf("column %q: fanout reads %v (DuckDB's %s), DuckDB reads %s", name, fc.TypeString(), dt, typ)
		}
		q := sqlIdent(name)
		bq := q // fanout's value, in the column's DuckDB type
		if format == "jsonl" {
			switch dt := duckColumnType(fc); {
			case fc.IsNested():
				// Read as JSON, cast as DuckDB casts JSON to its
				// nested types.
				bq = "CAST(" + q + " AS " + dt + ")"
			case ft == functions.Binary:
				bq = "from_base64(" + q + ")"
			case ft.Kind() == functions.KindDecimal && ft.Precision() > 15:
				bq = q // read as DOUBLE: see above
			case dt != "VARCHAR":
				bq = "CAST(" + q + " AS " + dt + ")"
			}
		}
		ea, eb := q, bq
		switch {
		case format == "jsonl" && ft.Kind() == functions.KindDecimal && ft.Precision() > 15:
			ea = q + "::DOUBLE"
		case isGeometry(typ):
			ea = "ST_AsWKB(" + q + ")" // the original's WKB, to compare bytes with bytes
		}
		a = append(a, ea+" AS c"+fmt.Sprint(i))
		b = append(b, eb+" AS c"+fmt.Sprint(i))
	}
	var src string
	if format == "parquet" {
		src = "read_parquet(" + sqlString(out+"/*.parquet") + ")"
	} else {
		var defs []string
		for _, c := range schema.Columns {
			typ := "VARCHAR"
			if c.Type.Kind() == functions.KindDecimal && c.Type.Precision() > 15 {
				typ = "DOUBLE"
			}
			if c.IsNested() {
				typ = "JSON"
			}
			defs = append(defs, sqlString(c.Name)+": "+sqlString(typ))
		}
		src = "read_json(" + sqlString(out+"/*.jsonl") + ", format='newline_delimited', columns={" + strings.Join(defs, ", ") + "})"
	}
	empty := !hasFiles(out, "."+format)
	if empty {
		// No output file: nothing was committed; the original must be empty.
		return "SELECT (SELECT count(*) FROM " + orig + ") AS na, 0 AS nb, 0 AS da, 0 AS db", nil
	}
	return "WITH a AS (SELECT " + strings.Join(a, ", ") + " FROM " + orig + "), " +
		"b AS (SELECT " + strings.Join(b, ", ") + " FROM " + src + "), " +
		"x AS (SELECT * FROM a EXCEPT ALL SELECT * FROM b), y AS (SELECT * FROM b EXCEPT ALL SELECT * FROM a) " +
		"SELECT (SELECT count(*) FROM a) AS na, (SELECT count(*) FROM b) AS nb, (SELECT count(*) FROM x) AS da, (SELECT count(*) FROM y) AS db, " +
		"(SELECT to_json(list(x))::VARCHAR FROM (SELECT * FROM x LIMIT 2) x) AS sa, (SELECT to_json(list(y))::VARCHAR FROM (SELECT * FROM y LIMIT 2) y) AS sb", nil
}

// corpusOracle is the SQL source DuckDB compares a file's output with:
// the file itself, or, for the files DuckDB does not read right, rows
// that another source gives:
//   - the deprecated LZ4 codec (DuckDB refuses it): the four rows the
//     Arrow implementations' tests expect of hadoop_lz4_compressed.parquet
//     and non_hadoop_lz4_compressed.parquet (the same rows in both framings),
//     and, for hadoop_lz4_compressed_larger.parquet, the 10,000 strings of
//     lz4_raw_compressed_larger.parquet, which DuckDB reads (the same
//     column in the LZ4_RAW codec);
//   - BYTE_STREAM_SPLIT on other types than FLOAT and DOUBLE (DuckDB
//     refuses it): byte_stream_split_extended.gzip.parquet holds each
//     column twice, PLAIN and BYTE_STREAM_SPLIT, with the same values, so
//     each X_byte_stream_split is compared with DuckDB's X_plain;
//   - int96_from_spark.parquet's last row, written by Spark for
//     290000-12-30 23:00:00 through its wrapping 64-bit arithmetic (Julian
//     day -105,862,232, negative nanoseconds), which DuckDB reads as a year
//     BC; Spark and Arrow read it as written, and so does fanout;
//   - map_no_value.parquet, which DuckDB refuses (a MAP whose repeated
//     group holds a key and no value): its documented content. The
//     corpus README: my_map is a MAP with null values, my_map_no_v a MAP
//     of INT32 keys without values, my_list a LIST<INT32> of the same
//     values as the keys; arrow-rs's test_map_no_value reads 3 rows and
//     my_map_no_v as a list equal to my_list, and other readers' tests
//     give the keys, 1 to 9 three to a row. Fanout reads a MAP without
//     values as Arrow does: as the list of its keys.
func corpusOracle(abs, file string, cols []map[string]any) string {
	orig := "read_parquet(" + sqlString(filepath.Join(abs, file)) + ")"
	switch file {
	case "data/hadoop_lz4_compressed.parquet", "data/non_hadoop_lz4_compressed.parquet":
		return "(SELECT * FROM (VALUES (1593604800::BIGINT, 'abc'::BLOB, 42.0::DOUBLE), (1593604800, 'def', 7.7), (1593604801, 'abc', 42.125), (1593604801, 'def', 7.7)) t(c0, c1, v11))"
	case "data/hadoop_lz4_compressed_larger.parquet":
		return "read_parquet(" + sqlString(filepath.Join(abs, "data/lz4_raw_compressed_larger.parquet")) + ")"
	case "data/byte_stream_split_extended.gzip.parquet":
		var sel []string
		for _, c := range cols {
			name := fmt.Sprint(c["column_name"])
			sel = append(sel, sqlIdent(strings.Replace(name, "_byte_stream_split", "_plain", 1))+" AS "+sqlIdent(name))
		}
		return "(SELECT " + strings.Join(sel, ", ") + " FROM " + orig + ")"
	case mapNoValue:
		return "(SELECT * FROM (VALUES (MAP {1: NULL::INTEGER, 2: NULL, 3: NULL}, [1, 2, 3], [1, 2, 3]), (MAP {4: NULL::INTEGER, 5: NULL, 6: NULL}, [4, 5, 6], [4, 5, 6]), (MAP {7: NULL::INTEGER, 8: NULL, 9: NULL}, [7, 8, 9], [7, 8, 9])) t(my_map, my_map_no_v, my_list))"
	case "data/int96_from_spark.parquet":
		return "(SELECT CASE WHEN a < TIMESTAMP '0001-01-01' THEN TIMESTAMP '290000-12-30 23:00:00' ELSE a END AS a FROM " + orig + ")"
	}
	return orig
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func hasFiles(dir, ext string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*"+ext))
	return len(m) > 0
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func sqlIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// corpusTable renders the outcomes as the Markdown table of docs/formats.md.
func corpusTable(rows []corpusOutcome) string {
	var b strings.Builder
	n := map[string]int{}
	for _, r := range rows {
		n[r.outcome]++
	}
	fmt.Fprintf(&b, "%d files: %d exact, %d refused, %d wrong.\n\n", len(rows), n["exact"], n["refused"], n["wrong"])
	b.WriteString("| file | outcome | reason |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.file, r.outcome, strings.ReplaceAll(r.reason, "\n", " "))
	}
	return b.String()
}

// corpusSection is the text between the corpus markers of docs/formats.md.
func corpusSection(doc string) string {
	_, rest, ok := strings.Cut(doc, corpusBegin+"\n")
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(rest, corpusEnd)
	return body
}

func writeCorpusTable(text string) error {
	doc, err := os.ReadFile(formatsDoc)
	if err != nil {
		return err
	}
	head, rest, ok := strings.Cut(string(doc), corpusBegin+"\n")
	_, tail, ok2 := strings.Cut(rest, corpusEnd)
	if !ok || !ok2 {
		return fmt.Errorf("%s lacks the corpus markers", formatsDoc)
	}
	return os.WriteFile(formatsDoc, []byte(head+corpusBegin+"\n"+text+corpusEnd+tail), 0o644)
}
