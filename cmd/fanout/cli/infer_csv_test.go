package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions/contract"
)

// TestInferTakesCSVOptions runs `fanout infer --arg ...` on a header-less
// ';'-delimited file with \N nulls: the proposed contract names the
// columns column0..2 and types the column holding \N as float64 (a
// nullstr value is a null, not a string); a misspelt option is refused.
func TestInferTakesCSVOptions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "d.csv"), []byte("1;\\N;\"a\r\nb\"\n2;3.5;x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	infer := func(args ...string) ([]byte, string, error) {
		cmd := exec.Command(fanoutBinary(t), append([]string{"infer", "--in", "file://" + dir + "/"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return out, stderr.String(), err
	}
	out, stderr, err := infer("--arg", "delim=;", "--arg", "header=false", "--arg", `nullstr=\N`)
	if err != nil {
		t.Fatalf("infer: %v: %s", err, stderr)
	}
	c, err := contract.Parse(out)
	if err != nil {
		t.Fatalf("the proposed contract does not parse: %v\n%s", err, out)
	}
	var got []string
	for _, col := range c.Columns {
		got = append(got, col.Name+":"+col.Type)
	}
	if want := "column0:int64,column1:float64,column2:string"; strings.Join(got, ",") != want {
		t.Fatalf("columns %s, want %s", strings.Join(got, ","), want)
	}
	if _, stderr, err := infer("--arg", "delimiter=;"); err == nil || !strings.Contains(stderr, "delim, quote, escape, header, nullstr") {
		t.Fatalf("a misspelt option: %v, %s; want an error listing the options", err, stderr)
	}
}

// TestInferOneLocalFile runs `fanout infer --in DIR/a.csv` beside files
// with other columns: the contract is that file's, named after it (it
// failed with 'filestore: root ... is not a directory').
func TestInferOneLocalFile(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"a.csv": "id,name\n1,ann\n2,bob\n", "a.csv.old": "x\n1\n", "b.csv": "other\n3\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(fanoutBinary(t), "infer", "--in", filepath.Join(dir, "a.csv"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("infer: %v: %s", err, stderr.String())
	}
	c, err := contract.Parse(out)
	if err != nil {
		t.Fatalf("the proposed contract does not parse: %v\n%s", err, out)
	}
	var got []string
	for _, col := range c.Columns {
		got = append(got, col.Name+":"+col.Type)
	}
	if want := "id:int64,name:string"; strings.Join(got, ",") != want || c.Name != "a" {
		t.Fatalf("contract %q with columns %s, want a with %s", c.Name, strings.Join(got, ","), want)
	}
	// profile too: its job reads the file, and it samples the file's
	// columns itself first.
	contractFile := filepath.Join(t.TempDir(), "c.yaml")
	cmd = exec.Command(fanoutBinary(t), "profile", "--in", filepath.Join(dir, "a.csv"), "--out", filepath.Join(t.TempDir(), "p")+"/", "-o", contractFile, "-q")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("profile: %v: %s", err, b)
	}
	b, err := os.ReadFile(contractFile)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = contract.Parse(b); err != nil || len(c.Columns) != 2 || c.Columns[0].Name != "id" || c.Columns[1].Name != "name" {
		t.Fatalf("profile's contract: %v, %+v; want the columns id, name", err, c)
	}
}
