package fanout_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/functions/contract/contracttest"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// readJSONLines returns the lines of every .jsonl file under dir for
// which keep(relative path) is true, with the Hive partition values of
// the file's directories.
func readJSONLines(t *testing.T, dir string, keep func(rel string) bool) (lines [][]byte, parts []map[string]string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() || !strings.HasSuffix(p, ".jsonl") || !keep(filepath.ToSlash(rel)) {
			return nil
		}
		part := map[string]string{}
		for _, seg := range strings.Split(filepath.ToSlash(filepath.Dir(rel)), "/") {
			if k, v, ok := strings.Cut(seg, "="); ok {
				part[k] = codec.UnescapePartitionValue(v)
			}
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines = append(lines, bytes.Clone(sc.Bytes()))
			parts = append(parts, part)
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines, parts
}

func isData(rel string) bool     { return !strings.HasPrefix(rel, "_") }
func isRejected(rel string) bool { return strings.HasPrefix(rel, "_rejected/") }

func equalCounts(got, want map[string]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, n := range want {
		if got[k] != n {
			return false
		}
	}
	return true
}

// TestValidateQuarantinesEachDefectOnce runs validate over generated data
// with known defects, cut into many chunks (byte ranges and a gzip
// object), and checks the result against the generator's oracle: each
// defective record is in _rejected/ exactly once with its one violation
// and its original bytes, the valid output is the input minus them,
// cleansed, and the report counts them per rule and per column.
func TestValidateQuarantinesEachDefectOnce(t *testing.T) {
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			d := contracttest.Generate(11, format, 4, 400)
			in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
			writeFiles(t, in, d.Files)
			e := newEngine(t, nil)
			res, err := e.Run(context.Background(), manifest.JobSpec{
				Inputs: []string{"file://" + in + "/in/"}, Function: "validate", Args: map[string]string{"contract": contracttest.Contract},
				Output: "file://" + out + "/", OutputFormat: "jsonl", PartitionBy: []string{"region"}, ChunkBytes: 8 << 10,
				MaxRejected: "10%",
			}.WithDefaults(), fanout.RunOptions{Workers: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d records in %d chunks: %d valid, %d defects %v, cleansing %v", d.Records, res.Chunks, len(d.Valid), len(d.Defects), d.ByRule(), d.Counters)
			if res.Chunks < 8 {
				t.Errorf("got %d chunks, want byte ranges cut inside objects", res.Chunks)
			}
			if res.RecordsIn != int64(d.Records) || res.RecordsOut != int64(len(d.Valid)) || res.Rejected != int64(len(d.Defects)) {
				t.Errorf("got records in %d, out %d, rejected %d; want %d, %d, %d", res.RecordsIn, res.RecordsOut, res.Rejected, d.Records, len(d.Valid), len(d.Defects))
			}
			if !equalCounts(res.RejectedByRule, d.ByRule()) {
				t.Errorf("by rule: got %v, want %v", res.RejectedByRule, d.ByRule())
			}
			if !equalCounts(res.RejectedByColumn, d.ByColumn()) {
				t.Errorf("by column: got %v, want %v", res.RejectedByColumn, d.ByColumn())
			}
			if !equalCounts(res.Counters, d.Counters) {
				t.Errorf("counters: got %v, want %v", res.Counters, d.Counters)
			}
			rejected, _ := readJSONLines(t, out, isRejected)
			for _, p := range d.CheckRejected(rejected) {
				t.Error(p)
			}
			lines, parts := readJSONLines(t, out, isData)
			var got []string
			for i, l := range lines {
				k, err := contracttest.KeyOfJSONL(l, parts[i])
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, k)
			}
			slices.Sort(got)
			if want := d.ValidKeys(); !slices.Equal(got, want) {
				i := firstDiff(got, want)
				t.Fatalf("valid output: got %d records, want %d; first difference at %d: got %q, want %q", len(got), len(want), i, at(got, i), at(want, i))
			}
			// The commit record lists the committed rejected files; no
			// staging is left.
			body, err := os.ReadFile(filepath.Join(out, "_fanout", res.Job, "_COMMITTED"))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := manifest.DecodeCommit(body)
			if err != nil {
				t.Fatal(err)
			}
			// The record lists them in parts (file lists), read here
			// with encoding/json.
			if len(rec.RejectedFiles) > 0 || rec.RejectedCount == 0 {
				t.Errorf("the record holds %d rejected files inline and counts %d in parts; want none inline, all in parts", len(rec.RejectedFiles), rec.RejectedCount)
			}
			var files []manifest.OutputFile
			for _, p := range rec.RejectedParts {
				body, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p.Key)))
				if err != nil {
					t.Fatal(err)
				}
				var part struct{ Files []manifest.OutputFile }
				if err := json.Unmarshal(body, &part); err != nil {
					t.Fatal(err)
				}
				files = append(files, part.Files...)
			}
			if len(files) != rec.RejectedCount {
				t.Errorf("the record's rejected parts hold %d files, its rejected_count is %d", len(files), rec.RejectedCount)
			}
			var rows int64
			for _, f := range files {
				if !strings.HasPrefix(f.Key, "_rejected/part-"+res.Job+"-c") {
					t.Errorf("rejected file at %q, want _rejected/part-%s-<chunk>-<n>.jsonl", f.Key, res.Job)
				}
				if info, err := os.Stat(filepath.Join(out, filepath.FromSlash(f.Key))); err != nil || info.Size() != f.Size {
					t.Errorf("rejected file %s: %v (size %d)", f.Key, err, f.Size)
				}
				rows += f.Rows
			}
			if rows != int64(len(d.Defects)) {
				t.Errorf("rejected files hold %d rows, want %d", rows, len(d.Defects))
			}
			filepath.WalkDir(filepath.Join(out, "_fanout"), func(p string, de os.DirEntry, err error) error {
				if err == nil && !de.IsDir() && strings.Contains(p, "/staging/") {
					t.Errorf("staging file left after commit: %s", p)
				}
				return nil
			})
			// Committing again verifies and changes nothing.
			again, err := e.Wait(context.Background(), "file://"+out+"/", res.Job, fanout.RunOptions{})
			if err != nil || again.Rejected != res.Rejected || again.RejectedFiles != res.RejectedFiles {
				t.Errorf("second commit: got %+v, %v", again, err)
			}
		})
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// TestMaxRejectedFailsWithNothingPublished checks that passing
// --max-rejected fails the job at the commit, naming the counts, and
// leaves nothing under the output prefix but fanout's own bookkeeping.
func TestMaxRejectedFailsWithNothingPublished(t *testing.T) {
	d := contracttest.Generate(5, "csv", 2, 200)
	for name, limit := range map[string]string{"count": "3", "percent": "1%"} {
		t.Run(name, func(t *testing.T) {
			in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
			writeFiles(t, in, d.Files)
			e := newEngine(t, nil)
			res, err := e.Run(context.Background(), manifest.JobSpec{
				Inputs: []string{"file://" + in + "/in/"}, Function: "validate", Args: map[string]string{"contract": contracttest.Contract},
				Output: "file://" + out + "/", OutputFormat: "parquet", ChunkBytes: 4 << 10, MaxRejected: limit,
			}.WithDefaults(), fanout.RunOptions{Workers: 2})
			var tr *fanout.TooManyRejectedError
			var jf *fanout.JobFailedError
			if !errors.As(err, &tr) || !errors.As(err, &jf) {
				t.Fatalf("got %v, want a TooManyRejectedError, which is a JobFailedError", err)
			}
			if res.State != fanout.StateFailed || res.Rejected != int64(len(d.Defects)) || !equalCounts(res.RejectedByRule, d.ByRule()) {
				t.Errorf("got %+v, want failed with %d rejected by rule %v", res, len(d.Defects), d.ByRule())
			}
			if !strings.Contains(err.Error(), "nothing was published") || !strings.Contains(err.Error(), "by rule: ") {
				t.Errorf("error %q does not say what happened", err)
			}
			st, err := e.Status(context.Background(), "file://"+out+"/", res.Job)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != fanout.StateFailed || !strings.Contains(st.Error, "--max-rejected") {
				t.Errorf("status of the failed job: got state %q, error %q; want failed naming --max-rejected", st.State, st.Error)
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, de := range entries {
				if de.Name() != "_fanout" && !strings.HasPrefix(de.Name(), ".") {
					t.Errorf("%s published although the job failed", de.Name())
				}
			}
		})
	}
}

// TestDuplicatesAcrossTheJob runs the duplicates function through the
// reduce stage: every key held by more than one valid record, in any
// chunk or object, is reported once with its count and places.
func TestDuplicatesAcrossTheJob(t *testing.T) {
	d := contracttest.Generate(7, "csv", 4, 400)
	if len(d.Duplicates) < 10 {
		t.Fatalf("the generator made %d duplicated keys, want more", len(d.Duplicates))
	}
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, d.Files)
	e := newEngine(t, nil)
	res, err := e.Run(context.Background(), manifest.JobSpec{
		Inputs: []string{"file://" + in + "/in/"}, Function: "duplicates", Args: map[string]string{"contract": contracttest.Contract},
		Output: "file://" + out + "/", OutputFormat: "jsonl", ChunkBytes: 8 << 10, Reducers: 3,
	}.WithDefaults(), fanout.RunOptions{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counters["invalid"] != int64(len(d.Defects)) || res.Rejected != 0 {
		t.Errorf("got counters %v, rejected %d; want invalid %d and none rejected", res.Counters, res.Rejected, len(d.Defects))
	}
	lines, _ := readJSONLines(t, out, isData)
	got := map[int64]int{}
	for _, l := range lines {
		var row struct {
			ID        int64  `json:"id"`
			Count     int    `json:"count"`
			Locations string `json:"locations"`
		}
		if err := json.Unmarshal(l, &row); err != nil {
			t.Fatal(err)
		}
		if _, dup := got[row.ID]; dup {
			t.Errorf("key %d reported twice", row.ID)
		}
		got[row.ID] = row.Count
		var locs []map[string]any
		if err := json.Unmarshal([]byte(row.Locations), &locs); err != nil || len(locs) != row.Count {
			t.Errorf("key %d: locations %s for count %d (%v)", row.ID, row.Locations, row.Count, err)
		}
	}
	t.Logf("%d duplicated keys over %d chunks and %d reduce tasks", len(got), res.Chunks, 3)
	if len(got) != len(d.Duplicates) {
		t.Errorf("got %d duplicated keys, want %d", len(got), len(d.Duplicates))
	}
	for id, n := range d.Duplicates {
		if got[id] != n {
			t.Errorf("key %d: got count %d, want %d", id, got[id], n)
		}
	}
}

// TestValidateParquetRejectsRows checks Parquet input: typed columns are
// checked through their text, and a rejected row, which has no record
// text, is kept as a JSON object of its values.
func TestValidateParquetRejectsRows(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "id", Type: functions.Int64}, {Name: "amount", Type: functions.Float64}, {Name: "tag", Type: functions.String}}}
	var buf bytes.Buffer
	w, err := codec.NewWriter(&buf, "parquet", schema, codec.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		amount := float64(i)
		if i%10 == 4 {
			amount = -amount
		}
		if err := w.Write(functions.Row{functions.IntValue(int64(i)), functions.FloatValue(amount), functions.StringValue(fmt.Sprint("t", i%3))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"t/a.parquet": buf.Bytes()})
	res, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{
		Inputs: []string{"file://" + in + "/t/"}, Function: "validate",
		Args:   map[string]string{"contract": "columns: [{name: id, type: int64}, {name: amount, type: float64, min: 0}, {name: tag, allowed: [t0, t1, t2]}]"},
		Output: "file://" + out + "/", OutputFormat: "jsonl",
	}.WithDefaults(), fanout.RunOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsIn != 50 || res.RecordsOut != 45 || res.Rejected != 5 || res.RejectedByColumn["amount"] != 5 {
		t.Fatalf("got %+v, want 50 in, 45 out, 5 rejected for amount", res)
	}
	rejected, _ := readJSONLines(t, out, isRejected)
	for _, l := range rejected {
		var line struct {
			Object string
			Offset int64
			Record *string
			Row    map[string]any
		}
		if err := json.Unmarshal(l, &line); err != nil {
			t.Fatal(err)
		}
		// The planner reads contract columns as text, Parquet too.
		if line.Record != nil || line.Row["id"] != fmt.Sprint(line.Offset) || line.Row["amount"] != fmt.Sprintf("%d.0", -line.Offset) || line.Object != "a.parquet" {
			t.Errorf("rejected line %s: want the row's values as text (offset = row index), no record", l)
		}
	}
}

// failFirstRejectedPut fails the first upload of a rejected-record file,
// as a store outage would.
type failFirstRejectedPut struct {
	objstore.Bucket
	failed *atomic.Bool
}

func (b failFirstRejectedPut) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if strings.Contains(key, "/_rejected/") && b.failed.CompareAndSwap(false, true) {
		return objstore.ObjectInfo{}, errors.New("injected: the store is unavailable")
	}
	return b.Bucket.Put(ctx, key, r, opts)
}

// TestRejectedRecordsOnceAfterARetry fails one attempt while it uploads
// its rejected records: the retry's files are the ones committed, and
// every defect is still reported exactly once.
func TestRejectedRecordsOnceAfterARetry(t *testing.T) {
	d := contracttest.Generate(3, "csv", 2, 300)
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, d.Files)
	failed := &atomic.Bool{}
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, storeURL, bucketurl.Options{})
			return failFirstRejectedPut{b, failed}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	res, err := e.Run(context.Background(), manifest.JobSpec{
		Inputs: []string{"file://" + in + "/in/"}, Function: "validate", Args: map[string]string{"contract": contracttest.Contract},
		Output: "file://" + out + "/", OutputFormat: "jsonl", ChunkBytes: 8 << 10,
	}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !failed.Load() {
		t.Fatal("no upload failed: the test did not test anything")
	}
	if res.Rejected != int64(len(d.Defects)) || res.RecordsIn != int64(d.Records) || res.RecordsOut != int64(len(d.Valid)) {
		t.Errorf("got %+v, want %d rejected of %d", res, len(d.Defects), d.Records)
	}
	rejected, _ := readJSONLines(t, out, isRejected)
	for _, p := range d.CheckRejected(rejected) {
		t.Error(p)
	}
}
