package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/functions/contract/contracttest"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// partReadStore counts the reads of the file lists of commit records
// (keys under _fanout/<job>/commit/) and how many of them are open at
// once: a read is open from its Get until its body is closed. It keeps
// the store's uploads (objstore.Uploader), so that the commit completes
// them as it does on S3.
type partReadStore struct {
	objstore.Bucket
	mu            sync.Mutex
	open, maxOpen int
	reads         atomic.Int64
}

var _ objstore.Uploader = (*partReadStore)(nil)

func isPartKey(key string) bool { return strings.Contains(key, "/commit/") }

func (s *partReadStore) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	rc, info, err := s.Bucket.Get(ctx, key, opts)
	if err != nil || !isPartKey(key) {
		return rc, info, err
	}
	s.reads.Add(1)
	s.mu.Lock()
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	s.mu.Unlock()
	return &partBody{ReadCloser: rc, s: s}, info, nil
}

// peak returns the most part reads open at once since the last call, and
// starts counting again.
func (s *partReadStore) peak() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.maxOpen
	s.maxOpen = s.open
	return n
}

type partBody struct {
	io.ReadCloser
	s    *partReadStore
	once sync.Once
}

func (b *partBody) Close() error {
	b.once.Do(func() {
		b.s.mu.Lock()
		b.s.open--
		b.s.mu.Unlock()
	})
	return b.ReadCloser.Close()
}

func (s *partReadStore) PutUpload(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.Upload, error) {
	return s.Bucket.(objstore.Uploader).PutUpload(ctx, key, r, opts)
}

func (s *partReadStore) CompleteUpload(ctx context.Context, u objstore.Upload) (objstore.ObjectInfo, error) {
	return s.Bucket.(objstore.Uploader).CompleteUpload(ctx, u)
}

func (s *partReadStore) AbortUpload(ctx context.Context, key, id string) error {
	return s.Bucket.(objstore.Uploader).AbortUpload(ctx, key, id)
}

func (s *partReadStore) ListUploads(ctx context.Context, prefix string) iter.Seq2[objstore.Upload, error] {
	return s.Bucket.(objstore.Uploader).ListUploads(ctx, prefix)
}

// TestCommitRecordOfManyFilesInParts commits a job of 25,000 files (5
// chunks, each row its own partition) with file lists of 1,000 files
// (Config.CommitPartFiles), and checks from the bucket, with its own
// decoding:
//   - the commit record holds no file: it names 25 parts that hold every
//     committed file once, with the sizes the bucket has, and nothing else
//     is left under the job's commit/ prefix (the pending parts are gone);
//   - the commit, a verification of the committed job and its status
//     never hold more than one part open at once, and the status (what
//     Engine.Wait reports) reads none;
//   - a verification that finds a file missing names it;
//   - gc keeps the parts the record names and removes parts it does not
//     name (a losing committer's), after which the job still verifies;
//   - the same commit written as a record of version 1 (files inline) is
//     still read: status and verification.
func TestCommitRecordOfManyFilesInParts(t *testing.T) {
	const chunks, rowsPerChunk, partFiles = 5, 5000, 1000
	const files = chunks * rowsPerChunk
	ctx := context.Background()
	sim := simstore.New(simstore.Config{Name: "parts"})
	store := &partReadStore{Bucket: sim}
	for c := range chunks {
		var b bytes.Buffer
		for i := range rowsPerChunk {
			fmt.Fprintf(&b, `{"id":"r%d-%d","p":"v%06d"}`+"\n", c, i, c*rowsPerChunk+i)
		}
		if _, err := sim.Put(ctx, fmt.Sprintf("in/%d.jsonl", c), &b, nil); err != nil {
			t.Fatal(err)
		}
	}
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(), CommitPartFiles: partFiles,
		Open: func(context.Context, string) (objstore.Bucket, error) { return store, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := manifest.JobSpec{Inputs: []string{"s3://parts/in/"}, Function: "convert", Output: "s3://parts/out/",
		OutputFormat: "jsonl", MaxObjectsPerChunk: 1, PartitionBy: []string{"p"}}
	res, err := e.Run(ctx, spec.WithDefaults(), fanout.RunOptions{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != files {
		t.Fatalf("the job committed %d files, want %d (a file per row)", res.Files, files)
	}
	if n := store.peak(); n != 1 {
		t.Errorf("the commit held %d file lists open at once, want 1", n)
	}

	// The bucket's data files (the oracle) against the record's parts,
	// read here with encoding/json.
	listed := map[string]int64{}
	for info, err := range sim.List(ctx, "out/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(info.Key, "out/_") {
			listed[info.Key] = info.Size
		}
	}
	jobPrefix := "out/_fanout/" + res.Job + "/"
	var rec struct {
		Version   int                 `json:"version"`
		Files     []json.RawMessage   `json:"files"`
		FileCount int                 `json:"file_count"`
		FileParts []manifest.FilePart `json:"file_parts"`
	}
	if err := json.Unmarshal(readKey(t, sim, jobPrefix+"_COMMITTED"), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Version != 2 || len(rec.Files) != 0 || rec.FileCount != files || len(rec.FileParts) != files/partFiles {
		t.Fatalf("commit record: version %d, %d files inline, file_count %d, %d parts; want version 2, none inline, %d in %d parts",
			rec.Version, len(rec.Files), rec.FileCount, len(rec.FileParts), files, files/partFiles)
	}
	named := map[string]bool{}
	inParts := map[string]int64{}
	for i, p := range rec.FileParts {
		named[p.Key] = true
		var part struct {
			Job   string `json:"job"`
			Part  int    `json:"part"`
			Files []struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
			} `json:"files"`
		}
		if err := json.Unmarshal(readKey(t, sim, p.Key), &part); err != nil {
			t.Fatal(err)
		}
		if part.Job != res.Job || part.Part != i || len(part.Files) != p.Files || p.Files > partFiles {
			t.Errorf("part %s: job %s, part %d, %d files; the record names part %d of %s with %d (at most %d)", p.Key, part.Job, part.Part, len(part.Files), i, res.Job, p.Files, partFiles)
		}
		for _, f := range part.Files {
			if _, dup := inParts[f.Key]; dup {
				t.Errorf("%s listed twice", f.Key)
			}
			inParts[f.Key] = f.Size
		}
	}
	if fmt.Sprint(inParts) != fmt.Sprint(listed) {
		t.Errorf("the record's parts list %d files, the bucket holds %d data files: not the same keys and sizes", len(inParts), len(listed))
	}
	commitPrefix := jobPrefix + "commit/"
	underCommit := func() (keys []string) {
		for info, err := range sim.List(ctx, commitPrefix, nil) {
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, info.Key)
		}
		return keys
	}
	for _, k := range underCommit() {
		if !named[k] {
			t.Errorf("%s is left under the job's commit/ prefix, and the record does not name it", k)
		}
	}

	// Readers: the status reads no part, a verification one at a time.
	before := store.reads.Load()
	st, err := e.Status(ctx, spec.Output, res.Job)
	if err != nil || st.Files != files {
		t.Fatalf("status: %v, %d files; want %d", err, st.Files, files)
	}
	if n := store.reads.Load() - before; n != 0 {
		t.Errorf("the status read %d file lists, want none (the record's totals)", n)
	}
	if _, err := e.TryCommit(ctx, spec.Output, res.Job); err != nil {
		t.Fatalf("verifying the committed job: %v", err)
	}
	if n, peak := store.reads.Load()-before, store.peak(); n != int64(len(rec.FileParts)) || peak != 1 {
		t.Errorf("the verification read %d file lists, at most %d at once; want each of the %d once, one at a time", n, peak, len(rec.FileParts))
	}
	gone := ""
	for k := range listed {
		gone = max(gone, k)
	}
	body := readKey(t, sim, gone)
	if err := sim.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.TryCommit(ctx, spec.Output, res.Job); err == nil || !strings.Contains(err.Error(), "1 file(s) are missing") || !strings.Contains(err.Error(), gone) {
		t.Fatalf("verifying with %s gone: %v; want it named missing", gone, err)
	}
	if _, err := sim.Put(ctx, gone, bytes.NewReader(body), nil); err != nil {
		t.Fatal(err)
	}

	// A losing committer's parts (another token) are garbage gc removes.
	orphans := []string{commitPrefix + "0123456789abcdef/files-000000.json", commitPrefix + "0123456789abcdef/pending-000003.json"}
	for _, k := range orphans {
		if _, err := sim.Put(ctx, k, bytes.NewReader(readKey(t, sim, rec.FileParts[0].Key)), nil); err != nil {
			t.Fatal(err)
		}
	}
	info, err := e.GC(ctx, spec.Output, fanout.GCOptions{})
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if info.Objects != len(orphans) {
		t.Errorf("gc removed %d objects, want the %d orphaned parts: %+v", info.Objects, len(orphans), info)
	}
	left := underCommit()
	if len(left) != len(rec.FileParts) {
		t.Errorf("after gc %d objects under commit/, want the record's %d parts", len(left), len(rec.FileParts))
	}
	for _, k := range left {
		if !named[k] {
			t.Errorf("gc left %s, which the record does not name", k)
		}
	}
	if _, err := e.TryCommit(ctx, spec.Output, res.Job); err != nil {
		t.Fatalf("verifying the committed job after gc: %v", err)
	}

	// The same commit as a record of version 1 (files inline, as earlier
	// releases wrote it, no parts) is still read and verified.
	v2, err := manifest.DecodeCommit(readKey(t, sim, jobPrefix+"_COMMITTED"))
	if err != nil {
		t.Fatal(err)
	}
	v1 := *v2
	v1.Version, v1.FileParts, v1.FileCount = 1, nil, 0
	for f, err := range fanout.CommittedFiles(ctx, sim, v2) {
		if err != nil {
			t.Fatal(err)
		}
		v1.Files = append(v1.Files, f)
	}
	body, err = manifest.Encode(&v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Put(ctx, jobPrefix+"_COMMITTED", bytes.NewReader(body), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.DeletePrefix(ctx, sim, commitPrefix); err != nil {
		t.Fatal(err)
	}
	if st, err := e.Status(ctx, spec.Output, res.Job); err != nil || st.Files != files {
		t.Fatalf("status of the version 1 record: %v, %d files; want %d", err, st.Files, files)
	}
	if _, err := e.TryCommit(ctx, spec.Output, res.Job); err != nil {
		t.Fatalf("verifying the committed job from its version 1 record: %v", err)
	}
	if err := sim.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.TryCommit(ctx, spec.Output, res.Job); err == nil || !strings.Contains(err.Error(), gone) {
		t.Fatalf("verifying the version 1 record with %s gone: %v; want it named missing", gone, err)
	}
}

// TestRejectedFilesInParts commits a validate job whose chunks reject
// records (contracttest's generated defects, cut into many chunks), with
// file lists of 4 files, and checks from the bucket, with its own
// decoding, that the commit record holds no rejected-record file inline:
// it names lists of at most 4 that hold every file under _rejected/ once,
// with the bucket's sizes, and as many rows as the job rejected; that the
// commit held one list open at a time; that the status counts the files
// without reading a list; and that a verification reads each list once
// and names a rejected file that went missing. Before, the record and the
// committer held every rejected file (one per chunk that rejected a
// record) inline.
func TestRejectedFilesInParts(t *testing.T) {
	const partFiles = 4
	ctx := context.Background()
	d := contracttest.Generate(7, "jsonl", 3, 300)
	sim := simstore.New(simstore.Config{Name: "parts"})
	store := &partReadStore{Bucket: sim}
	for name, body := range d.Files {
		if _, err := sim.Put(ctx, name, bytes.NewReader(body), nil); err != nil {
			t.Fatal(err)
		}
	}
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(), CommitPartFiles: partFiles,
		Open: func(context.Context, string) (objstore.Bucket, error) { return store, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := manifest.JobSpec{Inputs: []string{"s3://parts/in/"}, Function: "validate", Args: map[string]string{"contract": contracttest.Contract},
		Output: "s3://parts/out/", OutputFormat: "jsonl", ChunkBytes: 4 << 10}
	res, err := e.Run(ctx, spec.WithDefaults(), fanout.RunOptions{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if n := store.peak(); n != 1 {
		t.Errorf("the commit held %d file lists open at once, want 1", n)
	}
	listed := map[string]int64{}
	for info, err := range sim.List(ctx, "out/_rejected/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		listed[info.Key] = info.Size
	}
	if len(listed) <= 2*partFiles || res.Rejected != int64(len(d.Defects)) {
		t.Fatalf("%d rejected files in the bucket, %d records rejected; want more than %d files (a test of several lists), %d records",
			len(listed), res.Rejected, 2*partFiles, len(d.Defects))
	}
	if res.RejectedFiles != len(listed) {
		t.Errorf("the result counts %d rejected files, the bucket holds %d", res.RejectedFiles, len(listed))
	}
	jobPrefix := "out/_fanout/" + res.Job + "/"
	var rec struct {
		Version       int                 `json:"version"`
		Inline        []json.RawMessage   `json:"rejected_files"`
		RejectedCount int                 `json:"rejected_count"`
		RejectedParts []manifest.FilePart `json:"rejected_parts"`
		FileParts     []manifest.FilePart `json:"file_parts"`
	}
	if err := json.Unmarshal(readKey(t, sim, jobPrefix+"_COMMITTED"), &rec); err != nil {
		t.Fatal(err)
	}
	if wantParts := (len(listed) + partFiles - 1) / partFiles; len(rec.Inline) != 0 || rec.RejectedCount != len(listed) || len(rec.RejectedParts) != wantParts {
		t.Fatalf("commit record: %d rejected files inline, rejected_count %d, %d parts; want none inline, %d in %d parts",
			len(rec.Inline), rec.RejectedCount, len(rec.RejectedParts), len(listed), wantParts)
	}
	inParts := map[string]int64{}
	var rows int64
	for i, p := range rec.RejectedParts {
		var part struct {
			Job   string `json:"job"`
			Part  int    `json:"part"`
			Files []struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
				Rows int64  `json:"rows"`
			} `json:"files"`
		}
		if err := json.Unmarshal(readKey(t, sim, p.Key), &part); err != nil {
			t.Fatal(err)
		}
		if part.Job != res.Job || part.Part != i || len(part.Files) != p.Files || p.Files > partFiles || !strings.HasPrefix(p.Key, jobPrefix+"commit/") {
			t.Errorf("part %s: job %s, part %d, %d files; the record names part %d of %s with %d (at most %d, under %scommit/)", p.Key, part.Job, part.Part, len(part.Files), i, res.Job, p.Files, partFiles, jobPrefix)
		}
		for _, f := range part.Files {
			if _, dup := inParts[f.Key]; dup {
				t.Errorf("%s listed twice", f.Key)
			}
			inParts[f.Key] = f.Size
			rows += f.Rows
		}
	}
	if fmt.Sprint(inParts) != fmt.Sprint(listed) {
		t.Errorf("the record's rejected parts list %d files, the bucket holds %d under _rejected/: not the same keys and sizes", len(inParts), len(listed))
	}
	if rows != int64(len(d.Defects)) {
		t.Errorf("the rejected files hold %d rows, want %d", rows, len(d.Defects))
	}
	for info, err := range sim.List(ctx, jobPrefix+"commit/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(append(rec.FileParts, rec.RejectedParts...), func(p manifest.FilePart) bool { return p.Key == info.Key }) {
			t.Errorf("%s is left under the job's commit/ prefix, and the record does not name it", info.Key)
		}
	}

	before := store.reads.Load()
	st, err := e.Status(ctx, spec.Output, res.Job)
	if err != nil || st.RejectedFiles != len(listed) {
		t.Fatalf("status: %v, %d rejected files; want %d", err, st.RejectedFiles, len(listed))
	}
	if n := store.reads.Load() - before; n != 0 {
		t.Errorf("the status read %d file lists, want none", n)
	}
	if _, err := e.TryCommit(ctx, spec.Output, res.Job); err != nil {
		t.Fatalf("verifying the committed job: %v", err)
	}
	if n, peak := store.reads.Load()-before, store.peak(); n != int64(len(rec.FileParts)+len(rec.RejectedParts)) || peak != 1 {
		t.Errorf("the verification read %d file lists, at most %d at once; want each of the %d once, one at a time", n, peak, len(rec.FileParts)+len(rec.RejectedParts))
	}
	gone := ""
	for k := range listed {
		gone = max(gone, k)
	}
	if err := sim.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.TryCommit(ctx, spec.Output, res.Job); err == nil || !strings.Contains(err.Error(), "1 file(s) are missing") || !strings.Contains(err.Error(), gone) {
		t.Fatalf("verifying with %s gone: %v; want it named missing", gone, err)
	}
}

// TestCompactionPlanInParts runs a job with a compaction stage (JSONL
// partitioned by a column of 4 values, 48 one-object chunks, a 16 KiB
// target: every map file is small) with lists of 4 files, and checks that
// the plan names task lists in parts (none inline) that hold every task
// once, in order; that each compaction task (on one worker) reads only
// the part that holds it and the commit each part once, one at a time;
// and that every
// row is committed once. Before, every compaction task and the commit
// decoded the whole plan, whose files grow with the job's output.
func TestCompactionPlanInParts(t *testing.T) {
	const chunks, rows, partFiles = 48, 20, 4
	ctx := context.Background()
	sim := simstore.New(simstore.Config{Name: "parts"})
	store := &planReadStore{partReadStore: partReadStore{Bucket: sim}}
	want := map[string]bool{}
	for c := range chunks {
		var b bytes.Buffer
		for i := range rows {
			id := fmt.Sprintf("r%d-%d", c, i)
			want[id] = true
			fmt.Fprintf(&b, `{"id":%q,"p":"v%d"}`+"\n", id, (c+i)%4)
		}
		if _, err := sim.Put(ctx, fmt.Sprintf("in/%03d.jsonl", c), &b, nil); err != nil {
			t.Fatal(err)
		}
	}
	q := memqueue.New(memqueue.Config{})
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(), CommitPartFiles: partFiles,
		Open: func(context.Context, string) (objstore.Bucket, error) { return store, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := manifest.JobSpec{Inputs: []string{"s3://parts/in/"}, Function: "convert", Output: "s3://parts/out/",
		OutputFormat: "jsonl", MaxObjectsPerChunk: 1, PartitionBy: []string{"p"}, TargetFileSize: manifest.MinTargetFileSize}
	// One worker: compaction tasks on several would read their lists at
	// the same time, which is right, but not what is counted here.
	res, err := e.Run(ctx, spec.WithDefaults(), fanout.RunOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Tasks     []json.RawMessage   `json:"tasks"`
		TaskCount int                 `json:"task_count"`
		FileCount int                 `json:"file_count"`
		TaskParts []manifest.TaskPart `json:"task_parts"`
	}
	jobPrefix := "out/_fanout/" + res.Job + "/"
	if err := json.Unmarshal(readKey(t, sim, jobPrefix+"compact.json"), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Tasks) != 0 || len(plan.TaskParts) < 3 || res.CompactTasks != plan.TaskCount || res.Compacted != plan.FileCount {
		t.Fatalf("plan: %d tasks inline, %d parts, %d tasks of %d files; the result says %d tasks of %d files; want none inline, several parts",
			len(plan.Tasks), len(plan.TaskParts), plan.TaskCount, plan.FileCount, res.CompactTasks, res.Compacted)
	}
	next, files := 0, 0
	for i, p := range plan.TaskParts {
		var part struct {
			Job   string `json:"job"`
			Part  int    `json:"part"`
			First int    `json:"first"`
			Tasks []struct {
				Files []json.RawMessage `json:"files"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal(readKey(t, sim, p.Key), &part); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, task := range part.Tasks {
			n += len(task.Files)
		}
		if part.Job != res.Job || part.Part != i || part.First != next || len(part.Tasks) != p.Tasks || n != p.Files || n > partFiles && len(part.Tasks) > 1 {
			t.Errorf("part %s: job %s, part %d, first %d, %d tasks of %d files; want part %d of %s, first %d, %d tasks of %d files (at most %d unless one task)",
				p.Key, part.Job, part.Part, part.First, len(part.Tasks), n, i, res.Job, next, p.Tasks, p.Files, partFiles)
		}
		next += len(part.Tasks)
		files += n
	}
	if next != plan.TaskCount || files != plan.FileCount {
		t.Errorf("the parts hold %d tasks of %d files, the plan says %d of %d", next, files, plan.TaskCount, plan.FileCount)
	}
	if n, peak := store.planReads.Load(), store.peak(); n != int64(plan.TaskCount+len(plan.TaskParts)) || peak != 1 {
		t.Errorf("%d reads of the plan's task lists, at most %d at once; want one a compaction task (%d) and each once by the commit (%d), one at a time",
			n, peak, plan.TaskCount, len(plan.TaskParts))
	}
	got := map[string]int{}
	for info, err := range sim.List(ctx, "out/", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(info.Key, "out/_") {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(readKey(t, sim, info.Key))), "\n") {
			var row struct{ ID string }
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("%s: %v", info.Key, err)
			}
			got[row.ID]++
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("row %s committed %d times, want once", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct rows committed, want %d", len(got), len(want))
	}
}

// planReadStore counts the reads of compaction plans' task lists (keys
// under _fanout/<job>/compact-plan/) as partReadStore does those of
// commit records' file lists.
type planReadStore struct {
	partReadStore
	planReads atomic.Int64
}

func (s *planReadStore) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	rc, info, err := s.Bucket.Get(ctx, key, opts)
	if err != nil || !strings.Contains(key, "/compact-plan/") {
		return rc, info, err
	}
	s.planReads.Add(1)
	s.mu.Lock()
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	s.mu.Unlock()
	return &partBody{ReadCloser: rc, s: &s.partReadStore}, info, nil
}
