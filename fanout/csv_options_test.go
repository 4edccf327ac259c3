package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
)

// pythonCSVOracle reads a header-less ';'-delimited CSV file with Python's
// csv module (an implementation independent of fanout's), `\N` read as
// null and the first column as an integer, into JSON objects keyed
// column0..N as fanout names header-less columns.
const pythonCSVOracle = `
import csv, json, sys
out = []
with open(sys.argv[1], newline='') as f:
    for rec in csv.reader(f, delimiter=';'):
        if not rec:
            continue
        row = {}
        for i, v in enumerate(rec):
            name = 'column%d' % i
            if v == '\\N':
                row[name] = None
            elif i == 0:
                row[name] = int(v)
            else:
                row[name] = v
        out.append(row)
json.dump(out, sys.stdout)
`

// TestConvertCSVOptionsMatchesPython converts a ';'-delimited header-less
// file with \N nulls and CRLF inside quoted fields to JSONL with the CSV
// options and compares every row with Python's csv module.
func TestConvertCSVOptionsMatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		localstack.Missing(t, "python3 (the oracle of this test)")
	}
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	rng := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	for i := range 2000 {
		// Python's csv module cannot tell a quoted \N from an unquoted one
		// (fanout reads only the unquoted one as null): no quoted \N here.
		text := []string{"plain", "semi;colon", "say \"\"hi\"\"", "two\r\nlines", "cr\ronly", "lf\nonly"}[rng.IntN(6)]
		note := `\N`
		if rng.IntN(2) == 0 {
			note = fmt.Sprintf("n%d", rng.IntN(100))
		}
		fmt.Fprintf(&b, "%d;\"%s\";%s\r\n", i, text, note)
	}
	path := filepath.Join(in, "data.csv")
	writeFiles(t, in, map[string][]byte{"data.csv": []byte(b.String())})

	res, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
		Args:   map[string]string{"delim": ";", "header": "false", "nullstr": `\N`},
		Output: "file://" + out + "/", OutputFormat: "jsonl"}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsIn != 2000 || res.RecordsOut != 2000 {
		t.Fatalf("got %d in / %d out, want 2000 / 2000", res.RecordsIn, res.RecordsOut)
	}
	lines, _ := readJSONLines(t, out, func(string) bool { return true })
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		got = append(got, m)
	}
	outb, err := exec.Command(py, "-c", pythonCSVOracle, path).Output()
	if err != nil {
		t.Fatalf("python3 oracle: %v", err)
	}
	var want []map[string]any
	if err := json.Unmarshal(outb, &want); err != nil {
		t.Fatal(err)
	}
	byID := func(rows []map[string]any) {
		sort.Slice(rows, func(i, j int) bool { return rows[i]["column0"].(float64) < rows[j]["column0"].(float64) })
	}
	byID(got)
	byID(want)
	if len(got) != len(want) {
		t.Fatalf("fanout wrote %d rows, Python read %d", len(got), len(want))
	}
	crlf := 0
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row %d: fanout %v, Python %v", i, got[i], want[i])
		}
		if s, _ := want[i]["column1"].(string); strings.Contains(s, "\r\n") {
			crlf++
		}
	}
	if crlf == 0 {
		t.Fatal("no row holds a CRLF inside quotes: the test checks nothing of it")
	}
}

// TestBadCSVOptionFailsThePlan: a CSV option that cannot be read fails
// the job at planning, naming the option, also when the schema is given.
func TestBadCSVOptionFailsThePlan(t *testing.T) {
	in := t.TempDir()
	writeFiles(t, in, map[string][]byte{"d.csv": []byte("a;b\n1;2\n")})
	for _, args := range []map[string]string{{"delim": ";;"}, {"delim": ";;", "schema": "a:int64,b:int64"}} {
		out := filepath.Join(t.TempDir(), "out")
		res, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
			Args: args, Output: "file://" + out + "/", OutputFormat: "jsonl"}.WithDefaults(), fanout.RunOptions{Workers: 1})
		if err == nil || !strings.Contains(err.Error(), "--arg delim") || res.Chunks != 0 {
			t.Fatalf("args %v: got %d chunks, %v; want a planning error naming --arg delim", args, res.Chunks, err)
		}
	}
}

// TestNoHeaderWithGivenSchema: header=false with --arg schema names the
// fields in order; the values are read, not nulls.
func TestNoHeaderWithGivenSchema(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"d.csv": []byte("1;a\n2;\\N\n")})
	_, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
		Args:   map[string]string{"delim": ";", "header": "false", "nullstr": `\N`, "schema": "id:int64,name:string"},
		Output: "file://" + out + "/", OutputFormat: "jsonl"}.WithDefaults(), fanout.RunOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := readJSONLines(t, out, func(string) bool { return true })
	var got []string
	for _, l := range lines {
		got = append(got, string(l))
	}
	sort.Strings(got)
	if want := `{"id":1,"name":"a"} {"id":2,"name":null}`; strings.Join(got, " ") != want {
		t.Fatalf("got %s, want %s", strings.Join(got, " "), want)
	}
}
