package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
)

// TestPartitionFilesHoldTheirOwnRows converts one chunk whose rows first
// cycle through 300 partition values (more than an attempt keeps files
// open, so files are finished and opened again all the time), then go to
// five values long enough that their files end at --max-rows-per-file and
// the target size; the partition column holds nulls and empty strings
// too. Every committed row is read back from the files with the standard
// library: each is in the directory of its own value (a copy of the
// value is in the row), and every input row is there once. Once with a
// string partition column (an attempt finds a row's file by the value
// itself) and once with an integer one (by the values' encoding).
func TestPartitionFilesHoldTheirOwnRows(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value func(i int) string // the CSV field of value i; "" is null
	}{
		{"string", func(i int) string {
			switch i % 50 {
			case 7:
				return ""
			case 8:
				return `""` // an empty string: the null's partition
			}
			return fmt.Sprintf("v%03d", i)
		}},
		{"int", func(i int) string {
			if i%50 == 7 {
				return ""
			}
			return fmt.Sprint(i * 7)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
			var b strings.Builder
			b.WriteString("id,p,copy,pad\n")
			want := map[string]string{} // id -> the value's text, "" for null or empty
			pad := strings.Repeat("x", 100)
			row := func(id, v int) {
				field := tc.value(v)
				fmt.Fprintf(&b, "r%05d,%s,%s,%s\n", id, field, field, pad)
				want[fmt.Sprintf("r%05d", id)] = strings.Trim(field, `"`)
			}
			id := 0
			for range 3 {
				for v := range 300 {
					row(id, v)
					id++
				}
			}
			for i := range 1500 {
				row(id, i%5)
				id++
			}
			writeFiles(t, in, map[string][]byte{"in.csv": []byte(b.String())})
			res, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
				Output: "file://" + out + "/", OutputFormat: "jsonl", PartitionBy: []string{"p"},
				TargetFileSize: manifest.MinTargetFileSize, MaxRowsPerFile: 100}.WithDefaults(), fanout.RunOptions{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if res.Chunks != 1 || res.RecordsOut != int64(len(want)) {
				t.Fatalf("got %d chunks, %d records out; want 1 chunk, %d", res.Chunks, res.RecordsOut, len(want))
			}
			got := map[string]int{}
			files := 0
			err = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") {
					return err
				}
				rel, _ := filepath.Rel(out, p)
				if strings.HasPrefix(rel, "_") {
					return nil
				}
				files++
				dir, ok := strings.CutPrefix(filepath.Dir(rel), "p=")
				if !ok {
					t.Fatalf("file %s: not under a p= directory", rel)
				}
				body, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				for line := range strings.Lines(string(body)) {
					var r struct {
						ID   string `json:"id"`
						Copy any    `json:"copy"`
					}
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatalf("file %s: %v in %q", rel, err, line)
					}
					got[r.ID]++
					v, ok := want[r.ID]
					if !ok {
						t.Fatalf("file %s: row %q is not an input row", rel, r.ID)
					}
					copyText := ""
					if r.Copy != nil {
						copyText = fmt.Sprint(r.Copy)
					}
					if copyText != v {
						t.Errorf("file %s: row %s has copy %q, want %q", rel, r.ID, copyText, v)
					}
					wantDir := codec.UnescapePartitionValue(dir)
					if v == "" {
						v = codec.DefaultPartition
					}
					if wantDir != v {
						t.Errorf("row %s of value %q is in partition %q", r.ID, v, wantDir)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for id := range want {
				if got[id] != 1 {
					t.Errorf("row %s: committed %d times, want once", id, got[id])
				}
			}
			if files < 300 {
				t.Errorf("%d files committed, want at least one per partition value (300)", files)
			}
		})
	}
}
