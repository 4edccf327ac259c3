package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
)

// sortedFiles reads every committed file of c as records (a JSONL file's
// lines; a Parquet file's rows as JSON objects, read with parquet-go by
// faulttest.RecordLines) and checks that consecutive records are in order
// by less (an order written by the test, independent of the code under
// test); it returns the records read.
func sortedFiles(t *testing.T, r *faultRig, c faulttest.Committed, less func(a, b string) bool) int {
	t.Helper()
	n := 0
	for _, key := range c.Files {
		lines := fileRecords(t, r, key)
		for i := 1; i < len(lines); i++ {
			if less(lines[i], lines[i-1]) {
				t.Fatalf("%s: record %d %s sorts before record %d %s", key, i+1, lines[i], i, lines[i-1])
			}
		}
		n += len(lines)
	}
	return n
}

// fileRecords reads the committed file key as records (faulttest.RecordLines).
func fileRecords(t *testing.T, r *faultRig, key string) []string {
	t.Helper()
	rc, _, err := r.store.Get(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := faulttest.RecordLines(key, buf.Bytes())
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	lines := make([]string, len(recs))
	for i, rec := range recs {
		lines[i] = string(rec)
	}
	return lines
}

// jsonOrder orders JSONL lines by pad descending, then id ascending,
// decoding them with encoding/json.
func jsonOrder(t *testing.T) func(a, b string) bool {
	field := func(line, name string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		return fmt.Sprint(m[name])
	}
	return func(a, b string) bool {
		pa, pb := field(a, "pad"), field(b, "pad")
		if pa != pb {
			return pa > pb
		}
		return field(a, "id") < field(b, "id")
	}
}

// TestSortedConvertOnMinIOAndRedis converts 6,000 JSONL records in 4
// chunks, partitioned by grp and sorted by pad DESC, id, on two engines
// sharing Redis and MinIO, each with an 8 KiB sort budget: the committed
// output holds every input record exactly once (the oracle), every file's
// records are in order, and the workers spilled sorted runs to do it.
func TestSortedConvertOnMinIOAndRedis(t *testing.T) {
	r := newFaultRig(t, 4, 1500)
	a := r.engine(engineOptions{name: "a", sortMemory: 8 << 10})
	b := r.engine(engineOptions{name: "b", sortMemory: 8 << 10})
	spec := r.spec("out/", 30*time.Second, "convert")
	spec.PartitionBy = []string{"grp"}
	spec.SortBy = []manifest.SortKey{{Column: "pad", Desc: true}, {Column: "id"}}
	info, err := a.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var sa, sb fanout.WorkStats
	stopA := work(t, a, info.Job, 2, &sa)
	stopB := work(t, b, info.Job, 2, &sb)
	res, err := a.Wait(context.Background(), info.Manifest.Spec.Output, info.Job, fanout.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopA()
	stopB()
	c := r.check("out/", res.Job)
	if len(c.Files) < 3*4 {
		t.Errorf("%d files, want one per chunk and grp value (12)", len(c.Files))
	}
	if n := sortedFiles(t, r, c, jsonOrder(t)); n != len(r.ids) {
		t.Errorf("%d lines in the files, want %d", n, len(r.ids))
	}
	if spills := sa.SortSpills.Load() + sb.SortSpills.Load(); spills < 4 {
		t.Errorf("%d sorted runs spilled, want some in every chunk with an 8 KiB budget", spills)
	}
}

// TestSortedOutputOfAChunkDeliveredTwice: the first holder of a chunk
// loses its lease while it still sorts (its heartbeats never reach
// Redis), another worker runs the chunk again, and both attempts then
// finish their sorted files and race for the marker: one publishes, and
// the output is exact and sorted, the loser's runs and files gone.
func TestSortedOutputOfAChunkDeliveredTwice(t *testing.T) {
	r := newFaultRig(t, 3, 400)
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	reg := registryWith(copyFn{hook: func(ctx context.Context, first *functions.Record) error {
		if first.Object != "in/part-00.jsonl" {
			return nil
		}
		started <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}})
	frozen := func(q fanout.Queue) fanout.Queue { return frozenHeartbeats{q} }
	a := r.engine(engineOptions{name: "a", functions: reg, queue: frozen, sortMemory: 4 << 10})
	b := r.engine(engineOptions{name: "b", functions: reg, queue: frozen, sortMemory: 4 << 10})
	spec := r.spec("out/", time.Second, "copy")
	spec.SortBy = []manifest.SortKey{{Column: "line", Desc: true}}
	info, err := a.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var sa, sb fanout.WorkStats
	stopA := work(t, a, info.Job, 1, &sa)
	stopB := work(t, b, info.Job, 1, &sb)
	for range 2 {
		select {
		case <-started:
		case <-time.After(60 * time.Second):
			t.Fatal("the chunk was not delivered twice")
		}
	}
	close(release)
	res, err := r.engine(engineOptions{name: "driver", functions: reg}).Wait(context.Background(), info.Manifest.Spec.Output, info.Job, fanout.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopA()
	stopB()
	c := r.check("out/", res.Job)
	if n := sortedFiles(t, r, c, func(a, b string) bool { return a > b }); n != len(r.ids) {
		t.Errorf("%d lines in the files, want %d", n, len(r.ids))
	}
	if lost := sa.Skipped.Load() + sb.Skipped.Load(); lost < 1 {
		t.Errorf("%d marker races lost, want the chunk run twice", lost)
	}
	if spills := sa.SortSpills.Load() + sb.SortSpills.Load(); spills < 1 {
		t.Errorf("%d sorted runs spilled, want some with a 4 KiB budget", spills)
	}
}

// TestSortedReduceOutput: an aggregating job's output files are sorted
// too. aggregate by=id over 4,500 records in 3 chunks through 3 reducers
// with --sort-by 'id DESC' and a 4 KiB budget: every id once (the
// oracle), each reduce task's file in descending order (the reduce
// merges groups in ascending key order, so the sort is what reverses it).
func TestSortedReduceOutput(t *testing.T) {
	r := newFaultRig(t, 3, 1500)
	e := r.engine(engineOptions{name: "a", sortMemory: 4 << 10})
	spec := r.spec("out/", 30*time.Second, "convert")
	spec.Function, spec.Args, spec.Reducers = "aggregate", map[string]string{"by": "id", "agg": "count"}, 3
	spec.SortBy = []manifest.SortKey{{Column: "id", Desc: true}}
	info, err := e.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var st fanout.WorkStats
	stop := work(t, e, info.Job, 2, &st)
	res, err := e.Wait(context.Background(), info.Manifest.Spec.Output, info.Job, fanout.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	c := r.check("out/", res.Job)
	if len(c.Files) != 3 {
		t.Errorf("%d files, want one per reducer (3)", len(c.Files))
	}
	id := func(line string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		return fmt.Sprint(m["id"])
	}
	if n := sortedFiles(t, r, c, func(a, b string) bool { return id(a) > id(b) }); n != len(r.ids) {
		t.Errorf("%d lines in the files, want %d", n, len(r.ids))
	}
}
