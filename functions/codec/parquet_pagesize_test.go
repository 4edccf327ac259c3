package codec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/brotli"
)

var largePages = flag.Bool("large-pages", false, "run TestParquetLargeStringMap, which reads parquet-testing's pages of 1 GiB (about 30 s and 6.5 GiB of memory in fanout, 90 s and 7.5 GiB in DuckDB)")

// bigPageFile is a Parquet file of n rows whose string column s holds
// value(i) in row i, in a single page compressed with codec.
func bigPageFile(t *testing.T, n int, value func(int) string, codec parquet.WriterOption) []byte {
	t.Helper()
	type row struct {
		S string `parquet:"s"`
	}
	rows := make([]row, n)
	for i := range rows {
		rows[i].S = value(i)
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf, parquet.PageBufferSize(128<<20), codec)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParquetMaxPageBytes: ParquetOptions.MaxPageBytes bounds one page;
// a page above it is refused with the max_page_size that admits it, and
// read whole under that bound. A bound above the default also lifts the
// bound on the compression ratio.
func TestParquetMaxPageBytes(t *testing.T) {
	read := func(data []byte, max int64) ([]rec, error) {
		in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "p", MaxPageBytes: max})
		if err != nil {
			return nil, err
		}
		return readAll(in)
	}
	same := func(recs []rec, n int, value func(int) string) error {
		if len(recs) != n {
			return fmt.Errorf("%d rows, want %d", len(recs), n)
		}
		for i, r := range recs {
			if r.Row[0].S != value(i) {
				return fmt.Errorf("row %d holds %q, want %q", i, r.Row[0].S, value(i))
			}
		}
		return nil
	}

	// 3 MiB in one page.
	const n = 3 << 16
	numbered := func(i int) string { return fmt.Sprintf("%015d", i) }
	plain := bigPageFile(t, n, numbered, parquet.Compression(&parquet.Uncompressed))
	if _, err := read(plain, 1<<20); !errors.Is(err, ErrUnsupportedParquet) || !strings.Contains(err.Error(), "more than the 1048576 allowed (a page is held whole in memory; raise it with --arg max_page_size=4MiB)") {
		t.Errorf("a 3 MiB page under a 1 MiB bound: got %v, want it refused naming max_page_size=4MiB", err)
	}
	for _, max := range []int64{0, 4 << 20} {
		recs, err := read(plain, max)
		if err == nil {
			err = same(recs, n, numbered)
		}
		if err != nil {
			t.Errorf("MaxPageBytes %d: %v", max, err)
		}
	}

	// 48 MiB of one value: brotli makes a page of a few hundred bytes,
	// a ratio above maxCompressionRatio.
	const m = 3 << 20
	ones := func(int) string { return "aaaaaaaaaaaa" }
	dense := bigPageFile(t, m, ones, parquet.Compression(&brotli.Codec{Quality: 5, LGWin: 24}))
	if len(dense) > m*16/maxCompressionRatio {
		t.Fatalf("brotli made %d bytes of %d bytes of one value: no test of the ratio bound", len(dense), m*16)
	}
	if _, err := read(dense, 0); !errors.Is(err, ErrUnsupportedParquet) || !strings.Contains(err.Error(), "a larger --arg max_page_size than the default 256MiB lifts this bound") {
		t.Errorf("default bound: got %v, want the ratio refused naming max_page_size", err)
	}
	recs, err := read(dense, 512<<20)
	if err == nil {
		err = same(recs, m, ones)
	}
	if err != nil {
		t.Errorf("MaxPageBytes 512 MiB: %v", err)
	}
}

func TestParseParquetArgs(t *testing.T) {
	if o, err := ParseParquetArgs(map[string]string{"max_page_size": "2GiB", "delim": ";"}); err != nil || o.MaxPageBytes != 2<<30 {
		t.Errorf("max_page_size=2GiB: got %d, %v", o.MaxPageBytes, err)
	}
	if o, err := ParseParquetArgs(nil); err != nil || o.MaxPageBytes != 0 {
		t.Errorf("no arguments: got %d, %v; want 0 (the default)", o.MaxPageBytes, err)
	}
	for _, bad := range []string{"", "big", "-1MiB", "0"} {
		if _, err := ParseParquetArgs(map[string]string{"max_page_size": bad}); err == nil || !strings.Contains(err.Error(), "max_page_size") {
			t.Errorf("max_page_size=%q: got %v, want an error naming it", bad, err)
		}
	}
}

// TestParquetLargeStringMap reads parquet-testing's
// large_string_map.brotli.parquet (two rows of a MAP(STRING, INT32), each
// one key of 2^30 "a"s, in pages of 1 GiB) with max_page_size=2GiB and
// compares each key's length and SHA-256, and each value, with DuckDB's
// and with the file's documented content (its README's generator). By
// hand, as docs/formats.md says: go test ./functions/codec -run
// TestParquetLargeStringMap -large-pages -timeout 10m
func TestParquetLargeStringMap(t *testing.T) {
	if !*largePages {
		t.Skip("reads pages of 1 GiB (7.4 GiB of memory), too heavy for scripts/test.sh: run it by hand with -large-pages (docs/formats.md)")
	}
	path, err := filepath.Abs("../../testdata/parquet-testing/data/large_string_map.brotli.parquet")
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Len, SHA string
		Value    int64
	}
	// DuckDB first: the two readers each hold gigabytes.
	var duck []entry
	out := duckDB(t, `SELECT length(k) AS len, sha256(k) AS sha, v FROM (
		SELECT row_number() OVER () AS n, unnest(map_keys(arr)) AS k, unnest(map_values(arr)) AS v
		FROM read_parquet('`+path+`')) ORDER BY n`)
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, r := range rows {
		v, _ := r["v"].(float64)
		duck = append(duck, entry{Len: fmt.Sprint(r["len"]), SHA: fmt.Sprint(r["sha"]), Value: int64(v)})
	}
	a := sha256.Sum256([]byte(strings.Repeat("a", 1<<30)))
	documented := entry{Len: "1073741824", SHA: hex.EncodeToString(a[:]), Value: 1}
	if len(duck) != 2 || duck[0] != documented || duck[1] != documented {
		t.Fatalf("DuckDB reads %+v; the file's README documents two rows of %+v", duck, documented)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewParquetInput(bytes.NewReader(data), int64(len(data)), ParquetOptions{Object: "large_string_map.brotli.parquet", MaxPageBytes: 2 << 30})
	if err != nil {
		t.Fatal(err)
	}
	var got []entry
	for {
		r, err := in.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		m := r.Row[0]
		if !m.Valid || m.Len() != 1 {
			t.Fatalf("row %d: %+v, want a map of one entry", len(got), m)
		}
		kv := m.Items() // key, value
		h := sha256.Sum256([]byte(kv[0].S))
		got = append(got, entry{Len: fmt.Sprint(len(kv[0].S)), SHA: hex.EncodeToString(h[:]), Value: kv[1].I})
	}
	if len(got) != len(duck) || got[0] != duck[0] || got[1] != duck[1] {
		t.Errorf("fanout reads %+v, DuckDB %+v", got, duck)
	}
}
