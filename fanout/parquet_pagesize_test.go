package fanout_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestConvertMaxPageSize: --arg max_page_size reaches the Parquet reader
// of every chunk. A file whose one page holds 3 MiB is refused under
// max_page_size=1MiB with the size that admits it, converted whole under
// that size; a value that is not a size fails the plan naming it.
func TestConvertMaxPageSize(t *testing.T) {
	type row struct {
		S string `parquet:"s"`
	}
	const n = 3 << 16 // 16 bytes each (4 of length, 12 of text): 3 MiB
	rows := make([]row, n)
	for i := range rows {
		rows[i].S = fmt.Sprintf("%012d", i)
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf, parquet.PageBufferSize(64<<20), parquet.Compression(&parquet.Uncompressed))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	in := filepath.Join(work, "in")
	writeFiles(t, in, map[string][]byte{"big-page.parquet": buf.Bytes()})

	err := convertParquet(t, in, filepath.Join(work, "small"), "jsonl", map[string]string{"max_page_size": "1MiB"})
	if err == nil || !strings.Contains(err.Error(), "more than the 1048576 allowed (a page is held whole in memory; raise it with --arg max_page_size=4MiB)") {
		t.Errorf("max_page_size=1MiB: got %v, want the page refused naming max_page_size=4MiB", err)
	}
	err = convertParquet(t, in, filepath.Join(work, "bad"), "jsonl", map[string]string{"max_page_size": "big"})
	if err == nil || !strings.Contains(err.Error(), `max_page_size: "big" is not a size`) {
		t.Errorf("max_page_size=big: got %v, want the plan refused naming the argument", err)
	}

	out := filepath.Join(work, "out")
	if err := convertParquet(t, in, out, "jsonl", map[string]string{"max_page_size": "4MiB"}); err != nil {
		t.Fatalf("max_page_size=4MiB: %v", err)
	}
	var got []string
	err = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d records committed, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for _, l := range got {
		seen[l] = true
	}
	for i := range n {
		if want := fmt.Sprintf(`{"s":"%012d"}`, i); !seen[want] {
			t.Fatalf("record %s missing from the output (e.g. %s)", want, got[0])
		}
	}
}
