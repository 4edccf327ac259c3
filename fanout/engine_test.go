package fanout_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// newEngine wires an embedded engine: local files, in-memory queue,
// built-in functions; tweaks, when given, change its Config.
func newEngine(t testing.TB, reg *functions.Registry, tweaks ...func(*fanout.Config)) *fanout.Engine {
	t.Helper()
	if reg == nil {
		reg = builtin.Registry()
	}
	q := memqueue.New(memqueue.Config{})
	cfg := fanout.Config{
		Queue: q, Admin: q, Functions: reg,
		Open: func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, storeURL, bucketurl.Options{})
			return b, err
		},
	}
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	e, err := fanout.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func writeFiles(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// randomLines makes text with lines of very different lengths, empty lines,
// and one line longer than any read buffer.
func randomLines(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 99))
	lines := make([]string, n)
	for i := range lines {
		switch r.IntN(20) {
		case 0:
			lines[i] = ""
		case 1:
			lines[i] = fmt.Sprintf("long-%d-%s", i, strings.Repeat("z", 70000+r.IntN(10000)))
		default:
			lines[i] = fmt.Sprintf("line %d %s", i, strings.Repeat("ab", r.IntN(60)))
		}
	}
	return lines
}

// readOutputLines reads every committed .txt file under dir.
func readOutputLines(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() && (strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".")) && rel != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".txt") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := strings.TrimSuffix(string(b), "\n")
		if s != "" || len(b) > 0 {
			got = append(got, strings.Split(s, "\n")...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestGrepLinesEveryRecordOnceAcrossBoundaries(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	files := map[string][]byte{}
	var want []string
	for f := range 4 {
		lines := randomLines(uint64(f), 400)
		body := strings.Join(lines, "\n")
		if f%2 == 0 {
			body += "\n" // half the objects end without a newline
		}
		name := fmt.Sprintf("logs/part-%d.txt", f)
		if f == 3 {
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write([]byte(body))
			zw.Close()
			files[name+".gz"] = gz.Bytes()
		} else {
			files[name] = []byte(body)
		}
		for _, l := range lines {
			if strings.Contains(l, "1") {
				want = append(want, l)
			}
		}
	}
	// Small objects are packed together.
	for i := range 30 {
		name := fmt.Sprintf("logs/small/s%02d.log", i)
		files[name] = []byte(fmt.Sprintf("small %d 1\nsmall %d 2\n", i, i))
		for _, l := range []string{fmt.Sprintf("small %d 1", i), fmt.Sprintf("small %d 2", i)} {
			if strings.Contains(l, "1") {
				want = append(want, l)
			}
		}
	}
	writeFiles(t, in, files)

	e := newEngine(t, nil)
	res, err := e.Run(context.Background(), manifest.JobSpec{
		Inputs: []string{"file://" + in + "/logs/"}, Function: "grep", Args: map[string]string{"pattern": "1"},
		Output: "file://" + out + "/", OutputFormat: "lines", ChunkBytes: 16 << 10, MaxObjectsPerChunk: 8,
	}.WithDefaults(), fanout.RunOptions{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != fanout.StateCommitted {
		t.Fatalf("state %s, want committed", res.State)
	}
	if res.Chunks < 20 {
		t.Errorf("got %d chunks, want many boundaries inside objects", res.Chunks)
	}
	got := readOutputLines(t, out)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		i := firstDiff(got, want)
		g, w := "", ""
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		t.Fatalf("got %d lines, want %d (first difference at %d: got %.80q, want %.80q)", len(got), len(want), i, g, w)
	}
	if res.RecordsOut != int64(len(want)) {
		t.Errorf("records_out %d, want %d", res.RecordsOut, len(want))
	}
	// Nothing but the manifest, markers and commit record remain under _fanout.
	filepath.WalkDir(filepath.Join(out, "_fanout"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "/staging/") {
			t.Errorf("staging file left after commit: %s", p)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); err != nil {
		t.Errorf("no _SUCCESS: %v", err)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// snapshot lists every object under root with its ETag.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	b, _, err := bucketurl.Open(context.Background(), "file://"+root, bucketurl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for info, err := range b.List(context.Background(), "", nil) {
		if err != nil {
			t.Fatal(err)
		}
		m[info.Key] = info.ETag
	}
	return m
}

func TestRunAgainIsOneJobAndChangesNothing(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.csv": []byte("k,v\na,1\nb,2\nc,3\n")})
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
		Output: "file://" + out + "/", OutputFormat: "jsonl", PartitionBy: []string{"k"}}.WithDefaults()
	e := newEngine(t, nil)
	first, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, out)
	second, err := newEngine(t, nil).Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if second.Job != first.Job || !second.Existing || second.State != fanout.StateCommitted {
		t.Fatalf("second run: got %+v, want the same committed job %s marked existing", second, first.Job)
	}
	after := snapshot(t, out)
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a second run changed the output:\nbefore %v\nafter  %v", before, after)
	}
	if got := len(before); got < 5 {
		t.Fatalf("output has %d objects, want 3 partitions + commit bookkeeping", got)
	}
}

func TestAnotherJobCannotReuseACommittedOutput(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("x\ny\n")})
	e := newEngine(t, nil)
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "x"},
		Output: "file://" + out + "/", OutputFormat: "lines"}.WithDefaults()
	first, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	spec.Args = map[string]string{"pattern": "y"}
	for _, rerun := range []string{"", "rerun"} {
		spec.Nonce = rerun // not even --rerun takes a committed output
		_, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 1})
		var owned *fanout.OutputOwnedError
		if !errors.As(err, &owned) || owned.Owner != first.Job || owned.State != fanout.StateCommitted {
			t.Fatalf("nonce %q: got %v, want a refusal naming the committed job %s", rerun, err, first.Job)
		}
	}
}

func TestMalformedInputFailsTheJobNamingObjectAndOffset(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{
		"good.csv": []byte("k,v\na,1\nb,2\n"),
		"bad.csv":  []byte("k,v\nc,3\nd,4,extra\n"),
	})
	e := newEngine(t, nil)
	res, err := e.Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
		Output: "file://" + out + "/", OutputFormat: "csv", MaxObjectsPerChunk: 1}.WithDefaults(), fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) {
		t.Fatalf("got %v, want *JobFailedError", err)
	}
	if res.State != fanout.StateFailed || len(jf.Failed) != 1 {
		t.Fatalf("got state %s with failed %+v, want one failed chunk", res.State, jf.Failed)
	}
	reason := jf.Failed[0].Reason
	if !strings.Contains(reason, "bad.csv") || !strings.Contains(reason, "offset 8") {
		t.Errorf("reason %q, want the object bad.csv and offset 8", reason)
	}
	if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed job published _SUCCESS (stat: %v)", err)
	}
	// Status says so afterwards, with the reason (not "running": the
	// queue holds nothing of the job, which waits for a redrive or a
	// --rerun).
	st, err := e.Status(context.Background(), "file://"+out+"/", res.Job)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != fanout.StateFailed || !strings.Contains(st.Error, "bad.csv") {
		t.Errorf("status of the failed job: got state %q, error %q; want failed naming bad.csv", st.State, st.Error)
	}
	// Within the tolerance the job commits and says what it left out.
	out2 := filepath.Join(t.TempDir(), "out2")
	res, err = newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
		Output: "file://" + out2 + "/", OutputFormat: "csv", MaxObjectsPerChunk: 1, MaxFailed: "50%"}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != fanout.StateCommitted || len(res.Failed) != 1 || res.RecordsOut != 2 {
		t.Fatalf("got %+v, want committed with 2 records and one chunk left out", res)
	}
}

func TestChangedInputIsAClearError(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("one\ntwo\n")})
	e := newEngine(t, nil)
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "o"},
		Output: "file://" + out + "/", OutputFormat: "lines"}.WithDefaults()
	info, err := e.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the input after planning.
	time.Sleep(10 * time.Millisecond) // a distinct mtime on coarse clocks
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("three\n")})
	_, err = e.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "a.txt changed after the job was planned") {
		t.Fatalf("got %v, want an error saying a.txt changed", err)
	}
}

// slowFn blocks until its context is cancelled, then reports it.
type slowFn struct{ started chan string }

func (f slowFn) Name() string     { return "slow" }
func (f slowFn) Describe() string { return "waits for cancellation" }
func (f slowFn) Prepare(p functions.Params) (functions.Task, error) {
	return slowTask{f.started}, nil
}

type slowTask struct{ started chan string }

func (slowTask) Output() *functions.Schema { return functions.LinesSchema }
func (t slowTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	t.started <- "started"
	<-ctx.Done()
	return context.Cause(ctx)
}

func TestLostLeaseCancelsTheFunctionAndPublishesNothing(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("one\n")})
	started := make(chan string, 4)
	reg := builtin.Registry()
	reg.Register(slowFn{started})
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: reg,
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return b, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "slow",
		Output: "file://" + out + "/", OutputFormat: "lines", Lease: manifest.Duration(300 * time.Millisecond)}.WithDefaults()
	info, err := e.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stats := &fanout.WorkStats{}
	done := make(chan error, 1)
	go func() { done <- e.Work(ctx, fanout.WorkOptions{Job: info.Job, Stats: stats}) }()
	<-started
	// Steal the chunk: a reclaimer hands it to another worker once the
	// lease... here we fence it directly by claiming after expiry is not
	// possible while heartbeats run, so fail the current holder's epoch by
	// finishing the job in the queue.
	if err := q.Finish(context.Background(), info.Job); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for stats.LeasesLost.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the worker never noticed it lost its lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, _, _ := bucketurl.Open(context.Background(), "file://"+out, bucketurl.Options{})
	for key, err := range b.List(context.Background(), "", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(key.Key, "/chunks/") {
			t.Errorf("a marker was published after the lease was lost: %s", key.Key)
		}
	}
}

// readParquetRows reads every committed Parquet file under dir with the
// project's own reader.
func readParquetRows(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") || strings.Contains(p, "/_fanout/") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		in, err := codec.NewParquetInput(f, st.Size(), codec.ParquetOptions{Object: p})
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, err := in.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return nil
	})
	return n
}

func TestJSONLToParquetAndBackFromParquet(t *testing.T) {
	in, mid, out := t.TempDir(), filepath.Join(t.TempDir(), "mid"), filepath.Join(t.TempDir(), "out")
	var body strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&body, `{"id":%d,"name":"n%d","score":%d.5,"ok":%v,"tags":{"a":%d}}`+"\n", i, i%7, i, i%2 == 0, i)
	}
	writeFiles(t, in, map[string][]byte{"events.jsonl": []byte(body.String())})
	e := newEngine(t, nil)
	res, err := e.Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
		Args: map[string]string{"where": "ok"}, Output: "file://" + mid + "/", ChunkBytes: 32 << 10}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsIn != 5000 || res.RecordsOut != 2500 {
		t.Fatalf("got %d in / %d out, want 5000 / 2500", res.RecordsIn, res.RecordsOut)
	}
	if n := readParquetRows(t, mid); n != 2500 {
		t.Fatalf("parquet holds %d rows, want 2500", n)
	}
	// Parquet in, split by row groups, counted.
	res, err = e.Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + mid + "/*.parquet"}, Function: "convert",
		Args: map[string]string{"where": "id >= 1000"}, Output: "file://" + out + "/", OutputFormat: "jsonl"}.WithDefaults(), fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsIn != 2500 || res.RecordsOut != 2000 {
		t.Fatalf("parquet input: got %d in / %d out, want 2500 / 2000", res.RecordsIn, res.RecordsOut)
	}
}

func TestTSVIsSplitOnTabs(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	var b strings.Builder
	b.WriteString("name\tn\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "a,b %d\t%d\n", i, i)
	}
	writeFiles(t, in, map[string][]byte{"t.tsv": []byte(b.String())})
	res, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
		Args: map[string]string{"where": "n >= 1000"}, Output: "file://" + out + "/", OutputFormat: "jsonl", ChunkBytes: 8 << 10}.WithDefaults(),
		fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks < 3 || res.RecordsIn != 3000 || res.RecordsOut != 2000 {
		t.Fatalf("got %d chunks, %d in, %d out; want several chunks, 3000 in, 2000 out", res.Chunks, res.RecordsIn, res.RecordsOut)
	}
}

// TestSeparateWorkerFindsJobThroughQueue submits with one engine and works
// with another that knows the job only from the queue's manifest URL (as a
// `fanout work` process does), on a file:// output.
func TestSeparateWorkerFindsJobThroughQueue(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("one\ntwo\nthree\n")})
	q := memqueue.New(memqueue.Config{})
	open := func(ctx context.Context, u string) (objstore.Bucket, error) {
		b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
		return b, err
	}
	mk := func() *fanout.Engine {
		e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(), Open: open})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	driver, worker := mk(), mk()
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "t"},
		Output: "file://" + out + "/", OutputFormat: "lines"}.WithDefaults()
	info, err := driver.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	stats := &fanout.WorkStats{}
	if err := worker.Work(context.Background(), fanout.WorkOptions{ExitWhenIdle: true, Stats: stats}); err != nil {
		t.Fatal(err)
	}
	if stats.Chunks.Load() != 1 || stats.Failed.Load() != 0 {
		t.Fatalf("worker did %d chunks with %d failures, want 1 and 0", stats.Chunks.Load(), stats.Failed.Load())
	}
	res, err := driver.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{})
	if err != nil || res.RecordsOut != 2 {
		t.Fatalf("got %+v, %v; want 2 records out", res, err)
	}
}

// Small objects packed into one chunk are read ahead in parallel; an
// object changed after planning is still named, and every record of the
// others is read once and in order.
func TestPackedSmallObjectsReadAhead(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	files := map[string][]byte{}
	var want []string
	for i := range 40 {
		line := fmt.Sprintf("object %02d", i)
		files[fmt.Sprintf("o%02d.txt", i)] = []byte(line + "\n" + line + " again\n")
		want = append(want, line, line+" again")
	}
	writeFiles(t, in, files)
	var inFlight, most atomic.Int64
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return overlapGets{Bucket: b, sub: ".txt", inFlight: &inFlight, most: &most}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "object"},
		Output: "file://" + out + "/", OutputFormat: "lines"}.WithDefaults()
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != 1 || res.RecordsIn != 80 {
		t.Fatalf("%d chunks, %d records; want the 40 objects packed into 1 chunk, 80 records", res.Chunks, res.RecordsIn)
	}
	// A GET per object, the output PUT and the marker, the commit's own.
	if res.S3Requests < 43 || res.Retries != 0 || res.Timings == nil || res.LambdaGBSeconds != 0 {
		t.Errorf("commit record: %d S3 requests, %d retries, timings %v, %v GB-s; want at least 43 requests, no retries, timings, no Lambda",
			res.S3Requests, res.Retries, res.Timings, res.LambdaGBSeconds)
	}
	got := readOutputLines(t, out)
	if !slices.Equal(got, want) {
		t.Fatalf("output %q, want %q (in object order)", got, want)
	}
	if most.Load() < 3 {
		t.Errorf("one worker read at most %d objects at once, want the chunk's objects read ahead", most.Load())
	}

	out2 := filepath.Join(t.TempDir(), "out")
	spec.Output = "file://" + out2 + "/"
	info, err := e.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a distinct mtime on coarse clocks
	writeFiles(t, in, map[string][]byte{"o23.txt": []byte("changed\n")})
	_, err = e.Wait(context.Background(), spec.Output, info.Job, fanout.RunOptions{Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "o23.txt changed after the job was planned") {
		t.Fatalf("got %v, want an error saying o23.txt changed", err)
	}
}

// overlapGets records how many GETs of keys holding sub run at once.
type overlapGets struct {
	objstore.Bucket
	sub            string
	inFlight, most *atomic.Int64
}

func (o overlapGets) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if strings.Contains(key, o.sub) && !strings.Contains(key, "_fanout/") {
		n := o.inFlight.Add(1)
		defer o.inFlight.Add(-1)
		for m := o.most.Load(); n > m && !o.most.CompareAndSwap(m, n); m = o.most.Load() {
		}
		time.Sleep(5 * time.Millisecond)
	}
	return o.Bucket.Get(ctx, key, opts)
}

// countingGets counts the GETs of keys holding a substring.
type countingGets struct {
	objstore.Bucket
	sub string
	n   *atomic.Int64
}

func (c countingGets) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if strings.Contains(key, c.sub) {
		c.n.Add(1)
		time.Sleep(20 * time.Millisecond) // a store's round trip: workers miss together
	}
	return c.Bucket.Get(ctx, key, opts)
}

// Many workers starting on one manifest shard at once read it once, not
// once each (and do not evict it from each other's cache: with more
// workers than cached shards that made every chunk read it again). With
// the manifest's block table, an engine whose chunks are near each other
// reads 4 blocks of the shard by range, each once, then the shard whole
// once (fanout/shardblocks.go).
func TestManyWorkersReadAShardOnce(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	files := map[string][]byte{}
	for i := range 300 {
		files[fmt.Sprintf("o%03d.txt", i)] = []byte("x\n")
	}
	writeFiles(t, in, files)
	var reads atomic.Int64
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketurl.Options{})
			return countingGets{Bucket: b, sub: "/plans/", n: &reads}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "count", Output: "file://" + out + "/",
		OutputFormat: "jsonl", MaxObjectsPerChunk: 1}.WithDefaults()
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 16})
	if err != nil {
		t.Fatal(err)
	}
	if res.Chunks != 300 || reads.Load() > 6 {
		t.Fatalf("%d chunks; the manifest shard was read %d times, want at most 6 (planning check, 4 blocks, the shard)", res.Chunks, reads.Load())
	}
}

// stopAtFinish is a queue admin that cancels the worker's context when the
// job is finished, as a SIGTERM arriving right after the commit does.
type stopAtFinish struct {
	fanout.QueueAdmin
	stop func()
}

func (s stopAtFinish) Finish(ctx context.Context, job string) error {
	s.stop()
	return s.QueueAdmin.Finish(ctx, job)
}

// TestWorkerStoppedAtTheCommitStillFinishesTheJob: a worker whose context
// is cancelled while it takes the job it committed off the queue still
// does so (it used to leave the job queued and log a cancelled request).
func TestWorkerStoppedAtTheCommitStillFinishesTheJob(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte("one\ntwo\n")})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var admin fanout.QueueAdmin
	e := newEngine(t, nil, func(c *fanout.Config) {
		admin = c.Admin
		c.Admin = stopAtFinish{QueueAdmin: c.Admin, stop: stop}
	})
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep", Args: map[string]string{"pattern": "o"},
		Output: "file://" + out + "/", OutputFormat: "lines"}.WithDefaults()
	info, err := e.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Work(ctx, fanout.WorkOptions{Concurrency: 1, IdlePoll: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "_SUCCESS")); err != nil {
		t.Fatalf("the job did not commit: %v", err)
	}
	jobs, err := admin.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Job == info.Job {
			t.Fatalf("job %s is still queued after its worker committed it and stopped", info.Job)
		}
	}
}

// TestLocalFileInputIsThatFile runs a job over a file:// URL naming one
// file (the commands make a plain path such a URL): its records alone,
// not its neighbours' (a.txt.bak, a.txt2, a directory a.txt.d/), and not
// an error that its path is no directory.
func TestLocalFileInputIsThatFile(t *testing.T) {
	in := t.TempDir()
	writeFiles(t, in, map[string][]byte{
		"a.txt":         []byte("one\ntwo\n"),
		"a.txt.bak":     []byte("bak\n"),
		"a.txt2":        []byte("two again\n"),
		"a.txt.d/b.txt": []byte("nested\n"),
		"c.txt":         []byte("three\n"),
	})
	out := filepath.Join(t.TempDir(), "out")
	res, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + filepath.Join(in, "a.txt")}, Function: "convert",
		Output: "file://" + out + "/", OutputFormat: "lines"}.WithDefaults(), fanout.RunOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := readOutputLines(t, out)
	slices.Sort(got)
	if want := []string{"one", "two"}; !slices.Equal(got, want) || res.Objects != 1 {
		t.Errorf("got %q from %d objects, want %q from 1", got, res.Objects, want)
	}
}

// TestChunkEventsCarryTheirDuration checks that each chunk event says how
// long its attempt ran (what -v logs and --progress json reports): more
// than nothing, and no more than the whole run. It was always 0: the
// deferred assignment set the local event after it had been returned.
func TestChunkEventsCarryTheirDuration(t *testing.T) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, in, map[string][]byte{"a.txt": []byte(strings.Repeat("one line\n", 5000)), "b.txt": []byte("two\n")})
	var mu sync.Mutex
	var events []fanout.ChunkEvent
	start := time.Now()
	_, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "grep",
		Args: map[string]string{"pattern": "o"}, Output: "file://" + out + "/", OutputFormat: "lines", MaxObjectsPerChunk: 1}.WithDefaults(),
		fanout.RunOptions{Workers: 2, Observe: func(ev fanout.ChunkEvent) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}})
	wall := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("got %d chunk events, want 2", len(events))
	}
	for _, ev := range events {
		if ev.Outcome != fanout.OutcomeDone || ev.Duration <= 0 || ev.Duration > wall {
			t.Errorf("chunk %s: outcome %s, duration %v; want done in more than 0 and at most the run's %v", ev.Chunk, ev.Outcome, ev.Duration, wall)
		}
	}
}
