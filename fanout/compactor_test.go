package fanout_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
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
func TestCompactionCommitsRightSizedFiles(t *testing.T) {
	r := newFaultRig(t, 12, 300)
	e := r.engine(engineOptions{name: "a"})
	ctx := context.Background()
	res, err := e.Run(ctx, r.compactSpec("sized/", 30*time.Second), fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.check("sized/", res.Job)
	files := checkRightSized(t, r, "sized/", res.Job, compactTarget)
	if res.Compacted == 0 || res.Files != files {
		t.Errorf("result: %d files, %d compacted; want the record's %d files and some compacted", res.Files, res.Compacted, files)
	}

	plain := r.spec("plain/", 30*time.Second, "convert")
	plain.PartitionBy = []string{"grp"}
	before, err := e.Run(ctx, plain, fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.check("plain/", before.Job)
	if before.Files != 12*3 || before.Compacted != 0 {
		t.Errorf("without right-sizing: %d files (%d compacted), want a file per chunk and partition, 36", before.Files, before.Compacted)
	}
	if files >= before.Files/2 {
		t.Errorf("right-sized: %d files, without: %d; want far fewer", files, before.Files)
	}
	t.Logf("12 chunks x 3 partitions: %d files without right-sizing, %d with (%d merged)", before.Files, files, res.Compacted)
}

// TestSameCompactTaskTwiceAtOnce covers the compaction stage's fence: a
// compaction task's attempt is held just before its marker while its
// lease expires (its heartbeats never reach Redis), the task is delivered
// again to another worker, which publishes it, then the first attempt
// tries to publish and loses. Exactly one attempt's files are committed:
// every record once, nothing of the loser left.
func TestSameCompactTaskTwiceAtOnce(t *testing.T) {
	r := newFaultRig(t, 10, 300)
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
	info, err := a.Submit(context.Background(), r.compactSpec("out/", time.Second))
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
	r.check("out/", res.Job)
	checkRightSized(t, r, "out/", res.Job, compactTarget)
	if n := len(collectUploads(t, r, info.Job)); n != 0 {
		t.Errorf("%d uploads of the job left open after the commit, want the loser's aborted", n)
	}
	t.Logf("compaction marker %s raced by two attempts; %d records committed once in %d files", marker, len(r.ids), res.Files)
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
