package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/parquet-go/parquet-go"
)

// compactTarget is the target file size of the compaction tests: small
// enough that the rig's chunks write many files under half of it.
const compactTarget = 16 << 10

// compactSpec is the rig's job converting JSONL to JSONL partitioned by
// grp, one chunk per object, with files right-sized at compactTarget.
func (r *faultRig) compactSpec(out string, lease time.Duration) manifest.JobSpec {
	spec := r.spec(out, lease, "convert")
	spec.PartitionBy = []string{"grp"}
	spec.TargetFileSize = compactTarget
	return spec
}

// checkRightSized reads the job's commit record and the files under out
// and checks, without the engine's own counts, that each partition holds
// at most one file under half the target, that the data files listed
// under each partition are the record's, and that the record's
// per-partition counts are its files'. It returns the files committed.
func checkRightSized(t *testing.T, r *faultRig, out, job string, target int64) int {
	t.Helper()
	ctx := context.Background()
	rc, _, err := r.store.Get(ctx, out+"_fanout/"+job+"/_COMMITTED", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := manifest.DecodeCommit(body)
	if err != nil {
		t.Fatal(err)
	}
	small := map[string]int{}
	files := map[string]int{}
	n := 0
	for f, err := range fanout.CommittedFiles(ctx, r.store, rec) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		dir := path.Dir(strings.TrimPrefix(f.Key, out))
		files[dir]++
		if f.Size < target/2 {
			small[dir]++
		}
	}
	for dir, n := range small {
		if n > 1 {
			t.Errorf("partition %s: %d committed files under half the target (%d bytes), want at most 1", dir, n, target/2)
		}
	}
	listed := map[string]int{}
	for info, err := range r.store.List(ctx, out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(info.Key, out)
		if strings.HasPrefix(rel, "_") {
			continue
		}
		listed[path.Dir(rel)]++
	}
	if fmt.Sprint(listed) != fmt.Sprint(files) {
		t.Errorf("files per partition in the bucket %v, in the commit record %v", listed, files)
	}
	if len(rec.Partitions) != len(files) {
		t.Errorf("the commit record counts %d partitions, its files are in %d", len(rec.Partitions), len(files))
	}
	for _, p := range rec.Partitions {
		if files[p.Partition] != p.Files {
			t.Errorf("partition %s: the commit record counts %d files, lists %d", p.Partition, p.Files, files[p.Partition])
		}
	}
	return n
}

// TestCompactionCommitsRightSizedFiles runs a job whose chunks each write
// a small file per partition on MinIO and Redis: the compaction stage
// merges them, and the committed output holds every input record exactly
// once (the oracle) in files of about the target, at most one under half
// of it per partition; the same job without right-sizing commits a file
// per chunk and partition.
//
// With Parquet output (read back by the oracle with parquet-go) each
// partition's map files add up to about twice the target, but merged they
// shrink (every small file has its own footer and dictionaries): the
// partition is merged by one task whose files end near the target, so
// that it still commits at most one file under half of it.
func TestCompactionCommitsRightSizedFiles(t *testing.T) {
	sorted := []manifest.SortKey{{Column: "pad", Desc: true}, {Column: "id"}}
	for _, c := range []struct {
		name, format    string
		chunks, records int
		sortBy          []manifest.SortKey
	}{
		{"jsonl", "jsonl", 12, 300, nil},
		// 25 rows a map file, 40 files of about 600 bytes a partition: runs
		// cut by their bytes merged into two files of about 2 KB each.
		{"parquet-tiny", "parquet", 40, 75, nil},
		// The same sorted by pad DESC, id: each partition's sorted map files
		// are merged in one order into files that end near the target, each
		// sorted, covering consecutive ranges (before, runs of files each
		// sorted whole: two files of about 2.5 KB a partition).
		{"parquet-tiny-sorted", "parquet", 40, 75, sorted},
		// 1,000 rows a map file: the partition's merged files end near
		// the target as the task writes them.
		{"parquet", "parquet", 24, 3000, nil},
		{"parquet-sorted", "parquet", 24, 3000, sorted},
	} {
		t.Run(c.name, func(t *testing.T) { compactionCommitsRightSizedFiles(t, c.format, c.chunks, c.records, c.sortBy) })
	}
}

func compactionCommitsRightSizedFiles(t *testing.T, format string, chunks, records int, sortBy []manifest.SortKey) {
	r := newFaultRig(t, chunks, records)
	opts := engineOptions{name: "a"}
	if len(sortBy) > 0 {
		// Sorted runs spill in the map attempts and in the compaction
		// tasks' merge (in levels, past 64 runs, for 24,000 rows).
		opts.sortMemory = 8 << 10
	}
	e := r.engine(opts)
	ctx := context.Background()
	spec := r.compactSpec("sized/", 30*time.Second)
	spec.OutputFormat, spec.SortBy = format, sortBy
	res, err := e.Run(ctx, spec, fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	c := r.check("sized/", res.Job)
	files := checkRightSized(t, r, "sized/", res.Job, compactTarget)
	if res.Compacted == 0 || res.Files != files {
		t.Errorf("result: %d files, %d compacted; want the record's %d files and some compacted", res.Files, res.Compacted, files)
	}
	if len(sortBy) > 0 {
		if n := sortedFiles(t, r, c, jsonOrder(t)); n != len(r.ids) {
			t.Errorf("%d records in the files, want %d", n, len(r.ids))
		}
		checkConsecutiveRanges(t, r, "sized/", c, jsonOrder(t))
	}

	plain := r.spec("plain/", 30*time.Second, "convert")
	plain.PartitionBy = []string{"grp"}
	plain.OutputFormat, plain.TargetFileSize, plain.SortBy = format, -1, sortBy
	before, err := e.Run(ctx, plain, fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.check("plain/", before.Job)
	if before.Files != chunks*3 || before.Compacted != 0 {
		t.Errorf("without right-sizing: %d files (%d compacted), want a file per chunk and partition, %d", before.Files, before.Compacted, chunks*3)
	}
	if files >= before.Files/2 {
		t.Errorf("right-sized: %d files, without: %d; want far fewer", files, before.Files)
	}
	t.Logf("%d chunks x 3 partitions: %d files without right-sizing, %d with (%d merged): %+v", chunks, before.Files, files, res.Compacted, res.Partitions)
}

// checkConsecutiveRanges checks that the sorted files of each partition
// under out cover ranges of the order less that do not overlap: taken by
// their first records, each file's last record sorts no later than the
// next file's first (a partition merged by one task writes its merged
// rows in order across its files).
func checkConsecutiveRanges(t *testing.T, r *faultRig, out string, c faulttest.Committed, less func(a, b string) bool) {
	t.Helper()
	type span struct{ key, first, last string }
	byPartition := map[string][]span{}
	for _, key := range c.Files {
		recs := fileRecords(t, r, key)
		if len(recs) == 0 {
			continue
		}
		dir := path.Dir(strings.TrimPrefix(key, out))
		byPartition[dir] = append(byPartition[dir], span{key, recs[0], recs[len(recs)-1]})
	}
	for dir, spans := range byPartition {
		slices.SortFunc(spans, func(a, b span) int {
			switch {
			case less(a.first, b.first):
				return -1
			case less(b.first, a.first):
				return 1
			}
			return 0
		})
		for i := 1; i < len(spans); i++ {
			if less(spans[i].first, spans[i-1].last) {
				t.Errorf("partition %s: %s starts at %s, before %s ends at %s: the files' ranges overlap", dir, spans[i].key, spans[i].first, spans[i-1].key, spans[i-1].last)
			}
		}
	}
}

// TestSameCompactTaskTwiceAtOnce covers the compaction stage's fence: a
// compaction task's attempt is held just before its marker while its
// lease expires (its heartbeats never reach Redis), the task is delivered
// again to another worker, which publishes it, then the first attempt
// tries to publish and loses. Exactly one attempt's files are committed:
// every record once, nothing of the loser left.
//
// It runs for each way a compaction task writes its files: JSONL
// concatenated byte for byte, Parquet decoded and written again (the
// default: the map files' row groups are small), and Parquet whose row
// groups are copied (a row-group limit of 64 rows makes them worth
// keeping); the oracle reads the Parquet files with parquet-go.
func TestSameCompactTaskTwiceAtOnce(t *testing.T) {
	for _, c := range []struct {
		name      string
		format    string
		groupRows int
		sorted    bool
	}{{"jsonl", "jsonl", 0, false}, {"parquet", "parquet", 0, false}, {"parquet-copied", "parquet", 64, false}, {"parquet-sorted", "parquet", 0, true}} {
		t.Run(c.name, func(t *testing.T) {
			r := newFaultRig(t, 10, 300)
			spec := r.compactSpec("out/", time.Second)
			spec.OutputFormat, spec.RowGroupRows = c.format, c.groupRows
			if c.sorted {
				spec.SortBy = []manifest.SortKey{{Column: "pad", Desc: true}, {Column: "id"}}
			}
			c2 := sameCompactTaskTwiceAtOnce(t, r, spec)
			if c.groupRows > 0 {
				checkRowGroupsCopied(t, r, "out/", int64(c.groupRows))
			}
			if c.sorted {
				if n := sortedFiles(t, r, c2, jsonOrder(t)); n != len(r.ids) {
					t.Errorf("%d records in the files, want %d", n, len(r.ids))
				}
				checkConsecutiveRanges(t, r, "out/", c2, jsonOrder(t))
			}
		})
	}
}

func sameCompactTaskTwiceAtOnce(t *testing.T, r *faultRig, spec manifest.JobSpec) faulttest.Committed {
	held := make(chan string, 1)
	release := make(chan struct{})
	frozen := func(q fanout.Queue) fanout.Queue { return frozenHeartbeats{q} }
	a := r.engine(engineOptions{name: "a", queue: frozen, store: func(b objstore.Bucket) objstore.Bucket {
		return withUploads(b, &ctxStore{Bucket: b, put: func(ctx context.Context, key string, _ *objstore.PutOptions) (context.Context, error) {
			if strings.Contains(key, "/compact/") && strings.HasSuffix(key, ".json") {
				select {
				case held <- key:
					<-release
				default:
				}
			}
			return ctx, nil
		}})
	}})
	info, err := a.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var sa fanout.WorkStats
	stopA := work(t, a, info.Job, 1, &sa)
	var marker string
	select {
	case marker = <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("worker a never reached a compaction task's marker")
	}
	b := r.engine(engineOptions{name: "b", queue: frozen})
	work(t, b, info.Job, 1, nil)
	localstack.Poll(t, 60*time.Second, "worker b to publish "+marker, func() bool { return r.exists(marker) })
	close(release)
	localstack.Poll(t, 30*time.Second, "worker a to lose the race", func() bool { return sa.Skipped.Load() >= 1 })
	stopA()
	res, err := b.Wait(context.Background(), info.Manifest.Spec.Output, info.Job, fanout.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := r.check("out/", res.Job)
	checkRightSized(t, r, "out/", res.Job, compactTarget)
	if n := len(collectUploads(t, r, info.Job)); n != 0 {
		t.Errorf("%d uploads of the job left open after the commit, want the loser's aborted", n)
	}
	t.Logf("compaction marker %s raced by two attempts; %d records committed once in %d files", marker, len(r.ids), res.Files)
	return c
}

// checkRowGroupsCopied checks that the Parquet files committed under out
// are made of copied row groups: some file has a row group of fewer than
// limit rows before its last one (where a map file ended), which a file
// whose rows were decoded and written again would not have.
func checkRowGroupsCopied(t *testing.T, r *faultRig, out string, limit int64) {
	t.Helper()
	ctx := context.Background()
	for info, err := range r.store.List(ctx, out, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(strings.TrimPrefix(info.Key, out), "_") || path.Ext(info.Key) != ".parquet" {
			continue
		}
		rc, _, err := r.store.Get(ctx, info.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("%s: %v", info.Key, err)
		}
		groups := pf.RowGroups()
		for _, g := range groups[:max(len(groups)-1, 0)] {
			if g.NumRows() < limit {
				return
			}
		}
	}
	t.Errorf("no committed file under %s has a row group under %d rows before its last: no map file's row groups were copied", out, limit)
}

// collectUploads lists the job's open uploads.
func collectUploads(t *testing.T, r *faultRig, job string) []objstore.Upload {
	t.Helper()
	var ups []objstore.Upload
	for u, err := range fanout.JobUploads(context.Background(), r.store, manifest.NewLayout("out/"), job) {
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	return ups
}

// TestFilesFullByRowsAreNotSmall: a job asking for files of at most N
// rows commits files far under half the target that are as big as it
// asked; the commit record counts as small only a partition's last file
// (under half of N rows too), and the job is not warned of many small
// files. Without the row limit the same job's small files (a file per
// chunk and partition, right-sizing off) are counted and warned of.
func TestFilesFullByRowsAreNotSmall(t *testing.T) {
	in := t.TempDir()
	var b strings.Builder
	b.WriteString("id,grp\n")
	const rows = 20000
	for i := range rows {
		fmt.Fprintf(&b, "%d,g%d\n", i, i%2)
	}
	writeFiles(t, in, map[string][]byte{"a.csv": []byte(b.String())})
	run := func(t *testing.T, spec manifest.JobSpec) fanout.Result {
		t.Helper()
		spec.Inputs, spec.Function, spec.Output = []string{"file://" + in + "/"}, "convert", "file://"+filepath.Join(t.TempDir(), "out")+"/"
		spec.PartitionBy = []string{"grp"}
		res, err := newEngine(t, nil).Run(context.Background(), spec.WithDefaults(), fanout.RunOptions{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// 10,000 rows a partition in files of 1,000 rows: ten files of a few
	// KiB each, all full by rows.
	res := run(t, manifest.JobSpec{MaxRowsPerFile: 1000})
	if res.Files != 20 || res.SmallFiles != 0 || res.ManySmallFiles {
		t.Errorf("--max-rows-per-file 1000: %d files, %d small, many %v; want 20 files full by rows, none small, no warning", res.Files, res.SmallFiles, res.ManySmallFiles)
	}
	// 10,000 rows a partition in files of 3,000 rows: the last of each
	// partition holds 1,000 rows, under half of 3,000.
	res = run(t, manifest.JobSpec{MaxRowsPerFile: 3000})
	if res.Files != 8 || res.SmallFiles != 2 || res.ManySmallFiles {
		t.Errorf("--max-rows-per-file 3000: %d files, %d small, many %v; want 8 files, each partition's last small, no warning", res.Files, res.SmallFiles, res.ManySmallFiles)
	}
	// Right-sizing off and 20 chunks: a small file per chunk and partition.
	res = run(t, manifest.JobSpec{TargetFileSize: -1, ChunkBytes: 8 << 10})
	if res.Chunks < 16 || res.SmallFiles != res.Files || !res.ManySmallFiles {
		t.Errorf("right-sizing off, %d chunks: %d files, %d small, many %v; want every file small and a warning", res.Chunks, res.Files, res.SmallFiles, res.ManySmallFiles)
	}
}

// TestFilesEndNearTheTarget converts one chunk of about 3 MiB of CSV with
// a small target file size: every committed file is within a few percent
// above the target (a Parquet file's current row group counts toward its
// size, and a text file's write buffer), at most one under half of it, and
// the files hold every record. Before, a Parquet file whose rows fit in one
// row group ended only when closed: the chunk's whole output, 2.7x the
// target.
func TestFilesEndNearTheTarget(t *testing.T) {
	in := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	b.WriteString("id,name,amount,note\n")
	const rows = 40000
	for i := range rows {
		fmt.Fprintf(&b, "%d,user%05d,%d.%02d,%x\n", i, r.IntN(20000), r.IntN(100000), r.IntN(100), r.Uint64())
	}
	writeFiles(t, in, map[string][]byte{"a.csv": []byte(b.String())})
	const target = 128 << 10
	for _, format := range []string{"parquet", "jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res, err := newEngine(t, nil).Run(context.Background(), manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "convert",
				Output: "file://" + out + "/", OutputFormat: format, TargetFileSize: target, ChunkBytes: 64 << 20}.WithDefaults(),
				fanout.RunOptions{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Chunks != 1 || res.RecordsOut != rows {
				t.Fatalf("got %d chunks, %d records out; want 1 chunk, %d records", res.Chunks, res.RecordsOut, rows)
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int64
			small := 0
			for _, de := range entries {
				if !strings.HasSuffix(de.Name(), "."+format) {
					continue
				}
				fi, err := de.Info()
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, fi.Size())
				if fi.Size() > target*105/100 {
					t.Errorf("%s: %d bytes, more than 5%% over the target %d", de.Name(), fi.Size(), target)
				}
				if fi.Size() < target/2 {
					small++
				}
			}
			if len(sizes) < 3 || small > 1 {
				t.Errorf("file sizes %v: want several files of about %d bytes, at most one under half of it", sizes, target)
			}
		})
	}
}
