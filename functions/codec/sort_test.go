package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// sortSchema has a column of every flat type a sort key can name, beside
// a unique id that breaks ties.
var sortSchema = &functions.Schema{Columns: []functions.Column{
	{Name: "id", Type: functions.Int64},
	{Name: "s", Type: functions.String},
	{Name: "i8", Type: functions.Int8},
	{Name: "i32", Type: functions.Int32},
	{Name: "u32", Type: functions.Uint32},
	{Name: "u64", Type: functions.Uint64},
	{Name: "f64", Type: functions.Float64},
	{Name: "f32", Type: functions.Float32},
	{Name: "b", Type: functions.Bool},
	{Name: "d9", Type: functions.DecimalOf(9, 2)},
	{Name: "d18", Type: functions.DecimalOf(18, 4)},
	{Name: "d38", Type: functions.DecimalOf(38, 10)},
	{Name: "day", Type: functions.Date},
	{Name: "tod", Type: functions.Time},
	{Name: "ts", Type: functions.LocalTimestamp},
	{Name: "tstz", Type: functions.Timestamp},
	{Name: "tsns", Type: functions.TimestampOf(functions.Nanos, false)},
	{Name: "bin", Type: functions.Binary},
	{Name: "uid", Type: functions.UUID},
}}

// sortRows are rows of sortSchema drawn from small pools of values (so
// that keys tie often), with nulls, NaN, zeros of both signs, infinities,
// negative wide decimals, uint64 values above MaxInt64 and bytes above
// 0x7f.
func sortRows(n int, seed uint64) []functions.Row {
	r := rand.New(rand.NewPCG(seed, 7))
	floats := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1.5, -2.25, 1e300, -1e-300}
	wide := func(x int64) string { // a decimal(38,s)'s 16 bytes for x * 10^20
		var b [16]byte
		hi := x >> 63
		binary.BigEndian.PutUint64(b[:8], uint64(hi))
		binary.BigEndian.PutUint64(b[8:], uint64(x))
		b[0] ^= byte(r.IntN(2)) << 6 // a bit far above int64: a magnitude past 10^19
		if x < 0 {
			b[0] |= 0x80
		} else {
			b[0] &^= 0x80
		}
		return string(b[:])
	}
	bytesOf := func(k int) string {
		return string([]byte{byte(k * 37), byte(255 - k), 0x80 | byte(k)}[:1+k%3])
	}
	rows := make([]functions.Row, n)
	for i := range rows {
		k := r.IntN(6)
		u := uint64(k) * (math.MaxUint64 / 5)
		row := functions.Row{
			{Type: functions.Int64, Valid: true, I: int64(i)},
			{Type: functions.String, Valid: true, S: []string{"", "a", "B", "ab", "é", "zz", "\x7f"}[r.IntN(7)]},
			{Type: functions.Int8, Valid: true, I: int64(r.IntN(256) - 128)},
			{Type: functions.Int32, Valid: true, I: int64(r.IntN(9)-4) * 500_000_000},
			{Type: functions.Uint32, Valid: true, I: int64(uint32(k) * (math.MaxUint32 / 5))},
			{Type: functions.Uint64, Valid: true, I: int64(u)},
			{Type: functions.Float64, Valid: true, F: floats[r.IntN(len(floats))]},
			{Type: functions.Float32, Valid: true, F: float64(float32(floats[r.IntN(len(floats))]))},
			{Type: functions.Bool, Valid: true, I: int64(r.IntN(2))},
			{Type: functions.DecimalOf(9, 2), Valid: true, I: int64(r.IntN(11)-5) * 12345},
			{Type: functions.DecimalOf(18, 4), Valid: true, I: int64(r.IntN(11)-5) * 1e15},
			{Type: functions.DecimalOf(38, 10), Valid: true, S: wide(int64(r.IntN(9) - 4))},
			{Type: functions.Date, Valid: true, I: int64(r.IntN(7)-3) * 10000},
			{Type: functions.Time, Valid: true, I: int64(r.IntN(5)) * 3_600_000_000},
			{Type: functions.LocalTimestamp, Valid: true, I: int64(r.IntN(7)-3) * 1e15},
			{Type: functions.Timestamp, Valid: true, I: int64(r.IntN(7)-3) * 1e15},
			{Type: functions.TimestampOf(functions.Nanos, false), Valid: true, I: int64(r.IntN(7)-3) * 1e17},
			{Type: functions.Binary, Valid: true, S: bytesOf(r.IntN(5))},
			{Type: functions.UUID, Valid: true, S: string(bytes.Repeat([]byte{byte(r.IntN(4)) * 0x55}, 16))},
		}
		for c := 1; c < len(row); c++ {
			if r.IntN(8) == 0 {
				row[c] = functions.Null(row[c].Type)
			}
		}
		rows[i] = row
	}
	return rows
}

// sortCases are the orders checked against DuckDB: each column alone in
// both directions and null placements, and some keys of several columns.
func sortCases() [][]SortKey {
	var cases [][]SortKey
	for i, c := range sortSchema.Columns[1:] {
		cases = append(cases,
			[]SortKey{{Column: c.Name}},
			[]SortKey{{Column: c.Name, Desc: true, NullsFirst: i%2 == 0}},
			[]SortKey{{Column: c.Name, Desc: i%2 == 1, NullsFirst: true}},
		)
	}
	cases = append(cases,
		[]SortKey{{Column: "s"}, {Column: "f64", Desc: true}, {Column: "d38"}},
		[]SortKey{{Column: "b", Desc: true}, {Column: "u64", NullsFirst: true}, {Column: "uid", Desc: true}},
		[]SortKey{{Column: "day"}, {Column: "tod", Desc: true}, {Column: "bin"}, {Column: "f32"}},
	)
	return cases
}

func orderByText(keys []SortKey) string {
	var parts []string
	for _, k := range keys {
		p := `"` + k.Column + `"`
		if k.Desc {
			p += " DESC"
		}
		if k.NullsFirst {
			p += " NULLS FIRST"
		} else {
			p += " NULLS LAST"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// sortedIDs sorts rows by keys (then id) through a SortedWriter into
// Parquet and returns the ids of the file it wrote, in order, and the
// number of runs it spilled.
func sortedIDs(t *testing.T, rows []functions.Row, keys []SortKey, budget int64) ([]int64, int) {
	t.Helper()
	var buf bytes.Buffer
	pw, err := NewWriter(&buf, "parquet", sortSchema, WriterOptions{RowGroupRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := NewSortedWriter(pw, sortSchema, SortOptions{Keys: append(slices.Clone(keys), SortKey{Column: "id"}), MemoryBytes: budget, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := sw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, rc := range readParquet(t, buf.Bytes()) {
		ids = append(ids, rc.Row[0].I)
	}
	return ids, sw.Spills()
}

// TestSortMatchesDuckDB sorts rows with a memory budget small enough to
// spill many runs and compares the order of every case with DuckDB's
// ORDER BY over the same rows (written unsorted), the id breaking ties.
func TestSortMatchesDuckDB(t *testing.T) {
	rows := sortRows(1500, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "in.parquet")
	if err := os.WriteFile(path, writeAll(t, "parquet", sortSchema, rows, WriterOptions{}), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := sortCases()
	var sel []string
	for i, keys := range cases {
		sel = append(sel, fmt.Sprintf(`SELECT %d AS c, string_agg(id::VARCHAR, ',' ORDER BY %s, id) AS ids FROM read_parquet('%s')`, i, orderByText(keys), path))
	}
	out := duckDB(t, strings.Join(sel, " UNION ALL ")+" ORDER BY c")
	var got []struct {
		C   json.Number `json:"c"`
		IDs string      `json:"ids"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != len(cases) {
		t.Fatalf("DuckDB returned %d cases, want %d", len(got), len(cases))
	}
	for i, keys := range cases {
		t.Run(orderByText(keys), func(t *testing.T) {
			var want []int64
			for _, s := range strings.Split(got[i].IDs, ",") {
				id, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, id)
			}
			ids, spills := sortedIDs(t, rows, keys, 24<<10)
			if spills < 10 {
				t.Errorf("%d runs spilled, want many with a 24 KiB budget", spills)
			}
			if !slices.Equal(ids, want) {
				at := 0
				for at < min(len(ids), len(want)) && ids[at] == want[at] {
					at++
				}
				t.Fatalf("order differs from DuckDB's at row %d of %d: got ids %v..., want %v...", at, len(want), ids[at:min(at+5, len(ids))], want[at:min(at+5, len(want))])
			}
		})
	}
}

// TestSorterSpillsAndStaysStable sorts on one key with many ties: with a
// budget that spills more runs than one merge step reads (levels of
// merges), the output equals a serial stable sort of the input (an
// independent oracle: slices.SortStableFunc on the key's integer), the
// spilled runs hold no file descriptor while rows are added, and no
// temporary file is left.
func TestSorterSpillsAndStaysStable(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "k", Type: functions.Int64}, {Name: "pos", Type: functions.Int64}, {Name: "pad", Type: functions.String}}}
	r := rand.New(rand.NewPCG(5, 6))
	var rows []functions.Row
	for i := range 20000 {
		rows = append(rows, functions.Row{iv(int64(r.IntN(50))), iv(int64(i)), sv(strings.Repeat("x", r.IntN(20)))})
	}
	want := slices.Clone(rows)
	slices.SortStableFunc(want, func(a, b functions.Row) int { return int(b[0].I - a[0].I) }) // DESC
	dir := t.TempDir()
	fds := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	before := fds()
	s, err := NewSorter(schema, SortOptions{Keys: []SortKey{{Column: "k", Desc: true}}, MemoryBytes: 4 << 10, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if err := s.Add(row); err != nil {
			t.Fatal(err)
		}
	}
	if s.Spills() <= sortFanIn {
		t.Fatalf("%d runs spilled, want more than %d to merge in levels", s.Spills(), sortFanIn)
	}
	if after := fds(); before > 0 && after > before+2 {
		t.Errorf("%d descriptors open after %d runs spilled, %d before: a run keeps a descriptor until it is merged", after, s.Spills(), before)
	}
	src, err := s.Sorted()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for ; ; n++ {
		row, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n >= len(want) || row[0].I != want[n][0].I || row[1].I != want[n][1].I || row[2].S != want[n][2].S {
			t.Fatalf("row %d: got %v, want %v", n, row, want[min(n, len(want)-1)])
		}
	}
	if n != len(want) {
		t.Fatalf("%d rows out, want %d", n, len(want))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("%d temporary files left after Close, want none", len(left))
	}
}

// TestMergeInterleavesSortedSources merges sorted streams (as a
// compaction of sorted files does): the result is every row once, in
// order, rows equal on the key in the order of their sources.
func TestMergeInterleavesSortedSources(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "k", Type: functions.String}, {Name: "src", Type: functions.Int64}}}
	cmp, err := CompareRows(schema, []SortKey{{Column: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	var srcs []RowSource
	var all []functions.Row
	for s := range 5 {
		var rows []functions.Row
		for i := range 10 * s {
			rows = append(rows, functions.Row{sv(fmt.Sprintf("k%02d", (i*7+s)%13)), iv(int64(s))})
		}
		slices.SortStableFunc(rows, cmp)
		all = append(all, rows...)
		srcs = append(srcs, &sliceSource{rows: rows})
	}
	want := slices.Clone(all)
	slices.SortStableFunc(want, func(a, b functions.Row) int { return strings.Compare(a[0].S, b[0].S) })
	m := NewMerge(cmp, srcs)
	for i := 0; ; i++ {
		row, err := m.Next()
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("%d rows merged, want %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row[0].S != want[i][0].S || row[1].I != want[i][1].I {
			t.Fatalf("row %d: got %v, want %v", i, row, want[i])
		}
	}
}

func TestCompareRowsRefusesUnknownColumns(t *testing.T) {
	_, err := CompareRows(sortSchema, []SortKey{{Column: "nope"}})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("got %v, want an error naming the column", err)
	}
}

// TestSortedParquetStatisticsAreTight writes rows sorted by a wide
// decimal into row groups of 200 rows and asks DuckDB's
// parquet_metadata() for every row group's min and max: each is present
// (UUIDs and 38-digit decimals included) and equals the min and max DuckDB
// computes over the row group's rows, and the sort key's ranges follow
// one another without overlapping, which is what lets a reader skip row
// groups.
func TestSortedParquetStatisticsAreTight(t *testing.T) {
	rows := sortRows(2000, 3)
	var buf bytes.Buffer
	pw, err := NewWriter(&buf, "parquet", sortSchema, WriterOptions{RowGroupRows: 200})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := NewSortedWriter(pw, sortSchema, SortOptions{Keys: []SortKey{{Column: "d38"}, {Column: "id"}}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := sw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sorted.parquet")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cols := []string{"id", "s", "i32", "u64", "d9", "d38", "day", "ts", "uid", "bin"}
	var sel []string
	for _, c := range cols {
		sel = append(sel, fmt.Sprintf(`SELECT '%[1]s' AS col, file_row_number // 200 AS rg, min("%[1]s")::VARCHAR AS lo, max("%[1]s")::VARCHAR AS hi FROM read_parquet('%[2]s', file_row_number = true) GROUP BY ALL`, c, path))
	}
	q := fmt.Sprintf(`WITH d AS (%s),
m AS (SELECT path_in_schema AS col, row_group_id AS rg, stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata('%s'))
SELECT d.col, d.rg::INTEGER AS rg, d.lo AS lo, d.hi AS hi, m.lo AS slo, m.hi AS shi,
  (SELECT count(*) FROM parquet_metadata('%[2]s'))::INTEGER AS n
FROM d JOIN m ON d.col = m.col AND d.rg = m.rg ORDER BY d.col, d.rg`, strings.Join(sel, " UNION ALL "), path)
	out := duckDB(t, q)
	var got []struct {
		Col, Lo, Hi, Slo, Shi string
		Rg, N                 int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != len(cols)*10 || got[0].N != len(sortSchema.Columns)*10 {
		t.Fatalf("%d (column, row group) pairs of %d chunks, want %d of %d: %s", len(got), got[0].N, len(cols)*10, len(sortSchema.Columns)*10, out)
	}
	for _, g := range got {
		// A row group of nulls only (the last of d38, nulls last) has
		// neither; "" is also the least string of s.
		if g.Col == "bin" { // DuckDB prints a blob's statistics as raw text
			if g.Shi == "" && g.Hi != "" {
				t.Errorf("bin row group %d: no max statistic", g.Rg)
			}
			continue
		}
		if g.Slo != g.Lo || g.Shi != g.Hi {
			t.Errorf("%s row group %d: statistics [%s, %s], want the rows' [%s, %s]", g.Col, g.Rg, g.Slo, g.Shi, g.Lo, g.Hi)
		}
	}
	// The sort key's row groups follow one another: DuckDB compares the
	// bounds as decimals.
	out = duckDB(t, fmt.Sprintf(`SELECT count(*)::INTEGER AS overlaps FROM (SELECT stats_min_value::DECIMAL(38,10) AS lo,
  lag(stats_max_value::DECIMAL(38,10)) OVER (ORDER BY row_group_id) AS prev FROM parquet_metadata('%s') WHERE path_in_schema = 'd38') WHERE lo < prev`, path))
	if !strings.Contains(string(out), `"overlaps":0`) {
		t.Errorf("row groups of the sort key overlap: %s", out)
	}
}

// sliceSource yields rows of a slice.
type sliceSource struct {
	rows []functions.Row
	i    int
}

func (s *sliceSource) Next() (functions.Row, error) {
	if s.i >= len(s.rows) {
		return nil, io.EOF
	}
	s.i++
	return s.rows[s.i-1], nil
}

// TestSorterKeepsNestedValues sorts nested events read as borrowed
// records (their strings and items reused by the next record) with little
// memory, so that most rows go through spilled runs and merges: every
// row comes out with its nested values whole, lists, structs, maps and
// nulls inside, as an owned read and a stable sort give them.
func TestSorterKeepsNestedValues(t *testing.T) {
	data := eventsJSONL(1 << 20)
	schema, err := functions.ParseSchema(eventsSchema)
	if err != nil {
		t.Fatal(err)
	}
	open := func() functions.Input {
		in, err := NewInput(bytes.NewReader(data), InputOptions{Format: "jsonl", End: -1, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	var want []functions.Row
	owned := open()
	for {
		rec, err := owned.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, slices.Clone(rec.Row))
	}
	// A key many rows share, in every run: the id modulo 97.
	key := func(r functions.Row) int64 { return r[1].I % 97 }
	slices.SortStableFunc(want, func(a, b functions.Row) int { return int(key(a) - key(b)) })
	keyed := &functions.Schema{Columns: append([]functions.Column{{Name: "k", Type: functions.Int64}}, schema.Columns...)}
	s, err := NewSorter(keyed, SortOptions{Keys: []SortKey{{Column: "k"}}, MemoryBytes: 64 << 10, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := open().(functions.BorrowingInput)
	for {
		rec, err := in.NextBorrowed()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add(append(functions.Row{iv(key(rec.Row))}, rec.Row...)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Spills() < 10 {
		t.Fatalf("%d runs spilled, want at least 10", s.Spills())
	}
	src, err := s.Sorted()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		row, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n >= len(want) || !rowsEqual(row[1:], want[n]) {
			t.Fatalf("row %d: got %v, want %v", n, row[1:], want[min(n, len(want)-1)])
		}
	}
	if n != len(want) {
		t.Fatalf("%d rows out, want %d", n, len(want))
	}
}
