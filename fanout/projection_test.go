package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/manifest"
)

// TestAggregateParsesOnlyItsColumns: aggregate declares the columns it
// reads (functions.ColumnPicker) and the CSV reader parses only those, as
// DuckDB converts only the columns a query reads. Over 3,000 records whose
// column at holds a value that is not a timestamp in every 100th, a
// group-by on region summing n commits every record (the generator is the
// oracle); max(at) over the same objects fails naming the object and the
// value; a record with a field too few fails the group-by on region
// although its missing field is one the group-by does not read.
func TestAggregateParsesOnlyItsColumns(t *testing.T) {
	in := t.TempDir()
	var csv bytes.Buffer
	csv.WriteString("region,n,at\n")
	counts, sums := map[string]int64{}, map[string]int64{}
	for i := range 3000 {
		region, at := fmt.Sprintf("r%d", i%3), "2026-01-02T03:04:05Z"
		if i%100 == 42 {
			at = "soon"
		}
		fmt.Fprintf(&csv, "%s,%d,%s\n", region, i, at)
		counts[region]++
		sums[region] += int64(i)
	}
	writeFiles(t, in, map[string][]byte{"d.csv": csv.Bytes()})
	run := func(dir string, agg string) (fanout.Result, string, error) {
		out := filepath.Join(t.TempDir(), "out")
		res, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + dir + "/"}, Function: "aggregate",
			Args:   map[string]string{"by": "region", "agg": agg, "schema": "region:string,n:int64,at:timestamptz"},
			Output: "file://" + out + "/", OutputFormat: "jsonl", MaxAttempts: 1}.WithDefaults(), fanout.RunOptions{Workers: 1})
		return res, out, err
	}

	res, out, err := run(in, "count,sum(n)")
	if err != nil || res.State != "committed" {
		t.Fatalf("count,sum(n): got %s, %v; want committed (at is not read)", res.State, err)
	}
	lines, _ := readJSONLines(t, out, isData)
	var got []string
	for _, l := range lines {
		var row struct {
			Region string
			Count  int64
			SumN   int64 `json:"sum_n"`
		}
		if err := json.Unmarshal(l, &row); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		got = append(got, fmt.Sprintf("%s %d %d", row.Region, row.Count, row.SumN))
	}
	sort.Strings(got)
	var want []string
	for r, n := range counts {
		want = append(want, fmt.Sprintf("%s %d %d", r, n, sums[r]))
	}
	sort.Strings(want)
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("got %q, want %q", got, want)
	}

	if _, _, err := run(in, "count,max(at)"); err == nil || !strings.Contains(err.Error(), `"soon"`) || !strings.Contains(err.Error(), "d.csv") {
		t.Errorf("max(at): got %v, want an error naming d.csv and \"soon\"", err)
	}

	short := t.TempDir()
	writeFiles(t, short, map[string][]byte{"s.csv": []byte("region,n,at\nr0,1,2026-01-02T03:04:05Z\nr1,2\n")})
	if _, _, err := run(short, "count,sum(n)"); err == nil || !strings.Contains(err.Error(), "2 fields") || !strings.Contains(err.Error(), "s.csv") {
		t.Errorf("a record of 2 fields: got %v, want an error naming s.csv and its 2 fields", err)
	}
}
