package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
)

// globData returns the files under dir that a reader's glob of the
// output prefix for data (dir/**/*.parquet and the like) matches: like
// DuckDB's **, it walks every directory (_fanout/ too) and matches the
// base name's extension.
func globData(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if slices.Contains(faulttest.DataExtensions, path.Ext(d.Name())) {
			rel, _ := filepath.Rel(dir, p)
			found = append(found, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	return found
}

// poisonConvertFn is the built-in convert, failing permanently on one object
// while poisoned is set.
type poisonConvertFn struct {
	functions.Function
	object   string
	poisoned *atomic.Bool
}

func (f poisonConvertFn) Name() string { return "poisonconvert" }
func (f poisonConvertFn) Prepare(p functions.Params) (functions.Task, error) {
	t, err := f.Function.Prepare(p)
	return poisonConvertTask{t, f}, err
}

type poisonConvertTask struct {
	functions.Task
	f poisonConvertFn
}

func (t poisonConvertTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	return t.Task.Map(ctx, poisonConvertInput{in, t.f}, out)
}

type poisonConvertInput struct {
	functions.Input
	f poisonConvertFn
}

func (in poisonConvertInput) Next() (*functions.Record, error) {
	rec, err := in.Input.Next()
	if err == nil && in.f.poisoned.Load() && strings.HasSuffix(rec.Object, in.f.object) {
		return nil, functions.Permanent(errors.New("poison"))
	}
	return rec, err
}

// TestUncommittedJobIsInvisibleToGlobReaders: a job that failed after
// most chunks published their files, then a --rerun into the same output.
// While the failed job's staged files are still there, a reader's glob of
// the output for data files matches nothing; after the rerun it matches
// exactly the committed files, and DuckDB's read_parquet('<out>/**/*.parquet')
// (the query the demo prints) counts exactly the input's rows. Staged
// names used to end in .parquet: DuckDB then read the failed job's staged
// files as well.
func TestUncommittedJobIsInvisibleToGlobReaders(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	const objects, rows = 6, 500
	files := map[string][]byte{}
	for o := range objects {
		var b strings.Builder
		for r := range rows {
			fmt.Fprintf(&b, `{"id":%d,"grp":"g%d"}`+"\n", o*rows+r, r%3)
		}
		files[fmt.Sprintf("part-%02d.jsonl", o)] = []byte(b.String())
	}
	writeFiles(t, in, files)
	convert, err := builtin.Registry().Lookup("convert")
	if err != nil {
		t.Fatal(err)
	}
	var poisoned atomic.Bool
	poisoned.Store(true)
	reg := registryWith(poisonConvertFn{Function: convert, object: "part-03.jsonl", poisoned: &poisoned})
	e := newEngine(t, reg)
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "poisonconvert", Output: "file://" + out + "/",
		OutputFormat: "parquet", PartitionBy: []string{"grp"}, MaxObjectsPerChunk: 1}.WithDefaults()
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) {
		t.Fatalf("the poisoned job: got %v, %+v; want *JobFailedError", err, res)
	}
	staged := 0
	filepath.WalkDir(filepath.Join(out, "_fanout"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.ToSlash(p), "/staging/") {
			staged++
		}
		return nil
	})
	if staged < objects-1 {
		t.Fatalf("the failed job left %d staged files, want the published chunks' (at least %d): the test shows nothing", staged, objects-1)
	}
	if got := globData(t, out); len(got) > 0 {
		t.Fatalf("before any commit a glob of the output for data files matches %d staged file(s): %v", len(got), got[:min(len(got), 5)])
	}

	poisoned.Store(false)
	spec.Nonce = "rerun"
	res, err = e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err != nil || res.State != fanout.StateCommitted {
		t.Fatalf("the rerun: %v, %+v", err, res)
	}
	got := globData(t, out)
	for _, f := range got {
		if strings.HasPrefix(f, "_") || !strings.HasPrefix(path.Base(f), "part-"+res.Job+"-") {
			t.Errorf("a glob of the output after the rerun matches %s, not a committed file of %s", f, res.Job)
		}
	}
	if len(got) != res.Files {
		t.Errorf("a glob of the output matches %d files, the rerun committed %d", len(got), res.Files)
	}
	rowsOut := localstack.DuckDB(t, fmt.Sprintf("SELECT count(*) AS n, count(DISTINCT id) AS d FROM read_parquet('%s/**/*.parquet')", out))
	if n, d := fmt.Sprint(rowsOut[0]["n"]), fmt.Sprint(rowsOut[0]["d"]); n != strconv.Itoa(objects*rows) || d != n {
		t.Fatalf("DuckDB reads %s rows (%s distinct ids) from %s/**/*.parquet, want the input's %d", n, d, out, objects*rows)
	}
}
