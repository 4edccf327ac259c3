package fanout_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
)

// TestJSONLEmptyKeyAndUnterminatedLastLine converts JSONL whose records
// have the empty key "" and whose last line, without a newline, holds the
// only value of a column: the inferred schema has both, the JSONL output
// keeps them, and the Parquet output holds a column named "" with its
// values (read back by fanout's Parquet reader).
func TestJSONLEmptyKeyAndUnterminatedLastLine(t *testing.T) {
	in := t.TempDir()
	writeFiles(t, in, map[string][]byte{"d.jsonl": []byte("{\"\":1,\"a\":\"x\"}\n{\"\":2,\"a\":\"y\",\"late\":2.5}")})
	run := func(format string, partitionBy []string) (string, error) {
		out := filepath.Join(t.TempDir(), "out")
		_, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
			Output: "file://" + out + "/", OutputFormat: format, PartitionBy: partitionBy}.WithDefaults(), fanout.RunOptions{Workers: 1})
		return out, err
	}
	out, err := run("jsonl", nil)
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := readJSONLines(t, out, func(string) bool { return true })
	got := make([]string, len(lines))
	for i, l := range lines {
		got[i] = string(l)
	}
	want := []string{`{"":1,"a":"x","late":null}`, `{"":2,"a":"y","late":2.5}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("jsonl output\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	out, err = run("parquet", nil)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") && !strings.Contains(p, "/_fanout/") {
			files = append(files, p)
		}
		return err
	})
	if len(files) != 1 {
		t.Fatalf("parquet files %q, want one", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pin, err := codec.NewParquetInput(f, st.Size(), codec.ParquetOptions{Object: files[0]})
	if err != nil {
		t.Fatal(err)
	}
	if s := pin.Schema().String(); s != `"":int64,a:string,late:float64` {
		t.Fatalf("parquet schema %s", s)
	}
	var sum int64
	for {
		r, err := pin.Next()
		if err != nil {
			break
		}
		sum += r.Row[0].I
	}
	if sum != 3 {
		t.Fatalf("parquet column \"\" sums to %d, want 3", sum)
	}

	// Partitioning by the column "" names it in the path: a clear error
	// or a readable directory, never a silent "=1".
	out, err = run("jsonl", []string{""})
	if err == nil {
		t.Fatalf("partitioning by the column \"\" committed %s", out)
	}
	if !strings.Contains(err.Error(), "partition") {
		t.Fatalf("partition by \"\": %v, want an error naming the partitioning", err)
	}
}
