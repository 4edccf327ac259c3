package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions/contract/contracttest"
	"github.com/fanout-dev/fanout/functions/profile"
)

// writeDataset writes a generated dataset's objects under dir.
func writeDataset(t *testing.T, dir string, d *contracttest.Dataset) {
	t.Helper()
	for name, data := range d.Files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// profileJob runs fanout profile in embedded mode and returns the
// committed profile and the proposed contract's file.
func profileJob(t *testing.T, in, out string, extra ...string) (*profile.Profile, string) {
	t.Helper()
	contractFile := filepath.Join(t.TempDir(), "contract.yaml")
	args := append([]string{"profile", "--in", in, "--out", out, "--chunk-size", "1MiB", "--workers", "2", "-q", "--json", "-o", contractFile}, extra...)
	res := runFanout(t, nil, args...)
	if res.State != "committed" {
		t.Fatalf("profile: state %s", res.State)
	}
	matches, err := filepath.Glob(filepath.Join(out, "part-*-profile.json"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("profile.json under %s: %v %v", out, matches, err)
	}
	for _, f := range []string{"report.html", "contract.yaml"} {
		if m, _ := filepath.Glob(filepath.Join(out, "part-*-"+f)); len(m) != 1 {
			t.Fatalf("got %d committed %s files, want 1", len(m), f)
		}
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var p profile.Profile
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p, contractFile
}

// rejectedKeys reads a validate job's rejected records as object@offset.
func rejectedKeys(t *testing.T, out string) []string {
	t.Helper()
	var keys []string
	for _, l := range readLines(t, filepath.Join(out, "_rejected")) {
		var rl contracttest.RejectedLine
		if err := json.Unmarshal(l, &rl); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, fmt.Sprintf("%s@%d", path.Base(rl.Object), rl.Offset))
	}
	slices.Sort(keys)
	return keys
}

func validateWith(t *testing.T, in, out, contractFile string) qualityJSON {
	t.Helper()
	res, err := runQuality(t, nil, "run", "--fn", "validate", "--in", in, "--out", out, "--contract", contractFile,
		"--chunk-size", "1MiB", "--workers", "2", "-q", "--json", "--out-format", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestProfileProposesAContractItsDataPasses profiles whole datasets, then
// validates the same data with the proposed contract: nothing is rejected.
// With defects injected into data of the same shape, the records rejected
// are exactly the injected defects of the kinds a profile can express.
func TestProfileProposesAContractItsDataPasses(t *testing.T) {
	t.Run("demo", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(fanoutBinary(t), "demo", "--dir", dir, "--rows", "30000", "-q")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("demo: %v\n%s", err, out)
		}
		in := filepath.Join(dir, "input") + "/"
		p, c := profileJob(t, in, filepath.Join(dir, "profile"))
		if p.Rows != 30000 {
			t.Errorf("profile rows: got %d, want 30000", p.Rows)
		}
		res := validateWith(t, in, filepath.Join(dir, "valid"), c)
		if res.Rejected != 0 || res.RecordsOut != 30000 {
			t.Errorf("validate with the proposed contract: got %d rejected, %d out; want 0, 30000 (%v)", res.Rejected, res.RecordsOut, res.RejectedByRule)
		}
	})
	t.Run("16 objects of 20000 rows", func(t *testing.T) {
		dir := t.TempDir()
		// The same records with and without the injected defects: the
		// defects are cut out of the generated objects.
		dirty := contracttest.Generate(18, "csv", 16, 20000)
		clean := withoutDefects(t, dirty)
		writeDataset(t, filepath.Join(dir, "clean"), clean)
		writeDataset(t, filepath.Join(dir, "dirty"), dirty)
		records := int64(dirty.Records - len(dirty.Defects))
		in := filepath.Join(dir, "clean", "in") + "/"
		p, c := profileJob(t, in, filepath.Join(dir, "profile"))
		if p.Rows != records || len(p.Objects) != 16 {
			t.Errorf("profile: got %d rows in %d objects, want %d in 16", p.Rows, len(p.Objects), records)
		}
		res := validateWith(t, in, filepath.Join(dir, "valid"), c)
		if res.Rejected != 0 || res.RecordsOut != records {
			t.Errorf("validate with the proposed contract: got %d rejected, %d out; want 0, %d (%v)", res.Rejected, res.RecordsOut, records, res.RejectedByRule)
		}

		out := filepath.Join(dir, "checked")
		validateWith(t, filepath.Join(dir, "dirty", "in")+"/", out, c)
		got := rejectedKeys(t, out)
		var want []string
		for _, x := range dirty.Defects {
			// A profile proposes no whole-record rules: the defects that
			// break only one are not expected.
			if x.Kind != "record rule" {
				want = append(want, fmt.Sprintf("%s@%d", path.Base(x.Object), x.Offset))
			}
		}
		slices.Sort(want)
		if len(want) < 20000 {
			t.Fatalf("only %d defects", len(want))
		}
		if !slices.Equal(got, want) {
			var extra, missed []string
			for _, k := range got {
				if _, ok := slices.BinarySearch(want, k); !ok {
					extra = append(extra, k)
				}
			}
			for _, k := range want {
				if _, ok := slices.BinarySearch(got, k); !ok {
					missed = append(missed, k)
				}
			}
			t.Errorf("got %d rejected, want the %d defects; rejected but valid: %.10v; not rejected: %.10v", len(got), len(want), extra, missed)
		}
	})
}

// withoutDefects returns d's objects with the defective records cut out
// (their bytes and line terminator), compressed as they were.
func withoutDefects(t *testing.T, d *contracttest.Dataset) *contracttest.Dataset {
	t.Helper()
	clean := &contracttest.Dataset{Files: map[string][]byte{}}
	for name, data := range d.Files {
		gz := strings.HasSuffix(name, ".gz")
		if gz {
			r, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if data, err = io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
		}
		var defects []contracttest.Defect
		for _, x := range d.Defects {
			if x.Object == name {
				defects = append(defects, x)
			}
		}
		slices.SortFunc(defects, func(a, b contracttest.Defect) int { return cmp.Compare(a.Offset, b.Offset) })
		var out []byte
		at := int64(0)
		for _, x := range defects {
			end := x.Offset + int64(len(x.Raw))
			if !bytes.Equal(data[x.Offset:end], x.Raw) {
				t.Fatalf("%s@%d does not hold the defect's bytes", name, x.Offset)
			}
			for end < int64(len(data)) && (data[end] == '\r' || data[end] == '\n') {
				end++
				if data[end-1] == '\n' {
					break
				}
			}
			out = append(out, data[at:x.Offset]...)
			at = end
		}
		out = append(out, data[at:]...)
		if gz {
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			w.Write(out)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			out = buf.Bytes()
		}
		clean.Files[name] = out
	}
	return clean
}
