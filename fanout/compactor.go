package fanout

// The compaction stage: right-sized output files.
//
// Every map chunk writes a file per partition value it meets, so a job of
// C chunks and P partitions writes up to C x P files, most of them small.
// A job with a target file size (manifest.JobSpec.TargetFileSize, by
// default 128 MiB for partitioned Parquet output) merges one partition's
// small files into files of about the target before it commits:
//
//  1. Map attempts end every file at the target size (or
//     --max-rows-per-file), and write a file smaller than half the target
//     as a staged object (stagedOutput.compactBelow) rather than an open
//     upload, so that a compaction task can read it.
//  2. Once every map chunk has a marker, the plan is made from the markers
//     (prepareCompaction): per partition, in chunk order, the small files
//     are cut into runs whose bytes (and rows) stay within the target;
//     each run of two files or more is a compaction task. The plan is
//     created once (If-None-Match: *) at Layout.CompactPlanKey, like the
//     reduce stage's shuffle index, and its tasks are enqueued. The tasks
//     are listed in parts (manifest.TaskList, up to Config.CommitPartFiles
//     files each) written before the plan, which names them: the plan's
//     files grow with the job's output, and a task reads only the part
//     that holds it, the commit the parts one at a time (8 bytes a
//     planned file held: fileSet). Plans of earlier releases, tasks
//     inline, are still read. Preparing the plan still holds the
//     candidate files (every small map file) while it cuts them.
//  3. A compaction task (processCompact) reads its files and writes them
//     as one partition's files of about the target, and publishes its
//     marker under the plan's ID (Layout.CompactMarkerKey) through the
//     same fence as every task (attempt.go): leases, heartbeats, retries,
//     dead letters, failed markers and the create-only marker are the map
//     and reduce stages'.
//  4. The commit publishes the map files the plan does not name and the
//     compaction tasks' files (compaction.keep, commitCompaction), and
//     refuses a plan whose files are not all in the map markers.
//
// Every closed run holds more than half the target (a run is closed when
// the next file, itself under half, would pass the target), so a
// partition ends with at most one file under half the target: its last
// run, or its last small file left alone.
//
// Cost: only the small files are written twice (once staged, once merged);
// files the map stage wrote at the target or above are committed as they
// are. The alternative, a repartition stage through the shuffle (every
// row encoded, written, read and merged again by partition value), moves
// every byte twice: docs/filesizing.md has the measurement that chose
// compaction.
//
// A Parquet file whose row groups are worth keeping (copiesRowGroups: at
// least 1/128 of the row-group limits on average) is appended to the
// merged file as it is, its row groups copied byte for byte
// (codec.RowGroupCopier: no value decoded; statistics and dictionaries
// kept); other Parquet files are decoded and written again (compactRows),
// and a file whose schema is not the output file's is always decoded.
// Every file of a sorted job is decoded and its rows merged into one
// order with the task's other files' (compactSorted). JSONL, CSV and lines files are
// concatenated byte for byte (a CSV file's header once), which keeps
// every value exactly as the map stage wrote it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// compacts reports whether the job has a compaction stage: a map-only job
// with a target file size. (An aggregating job's reduce tasks write a
// partition's rows together already; its files only rotate at the
// target.) A job whose text files are sorted has none either: their
// bytes are concatenated, which would not keep them sorted.
func (js *jobState) compacts() bool { return HasCompactionStage(js.m) }

// sawCompactPlan records the compaction plan's task count for progress.
func (js *jobState) sawCompactPlan(plan *manifest.CompactPlan) {
	js.compactTasks.Store(int64(plan.NumTasks()))
	js.compactPlanned.Store(true)
}

// HasCompactionStage reports whether a job planned as m merges its
// partitions' small map files before the commit (see jobState.compacts).
func HasCompactionStage(m *manifest.Manifest) bool {
	return m.TargetFileSize > 0 && m.Reducers == 0 && (len(m.Spec.SortBy) == 0 || m.Spec.OutputFormat == manifest.FormatParquet)
}

// compactBelow is the size under which a map file of js is a compaction
// candidate (0: none is).
func (js *jobState) compactBelow() int64 {
	if !js.compacts() {
		return 0
	}
	return js.m.TargetFileSize / 2
}

// compactPlanID names the version of the job's compaction plan that exists
// now (ErrNotFound when none does), as shuffleID does the shuffle index.
func (e *Engine) compactPlanID(ctx context.Context, js *jobState) (string, error) {
	info, err := js.out.Stat(ctx, js.layout.CompactPlanKey(js.job))
	if err != nil {
		return "", err
	}
	return "p" + shuffleIDOf(info.ETag)[1:], nil
}

// readCompactPlan reads the job's compaction plan and its ID.
func (e *Engine) readCompactPlan(ctx context.Context, js *jobState) (*manifest.CompactPlan, string, error) {
	key := js.layout.CompactPlanKey(js.job)
	rc, info, err := js.out.Get(ctx, key, nil)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 1<<30))
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", key, err)
	}
	plan, err := manifest.DecodeCompactPlan(body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", key, err)
	}
	if plan.Job != js.job {
		return nil, "", fmt.Errorf("%s names job %s", key, plan.Job)
	}
	return plan, "p" + shuffleIDOf(info.ETag)[1:], nil
}

// isCandidate reports whether a map file may be merged: a staged data
// file (rows, no upload) under half the target. Files a function wrote
// whole (functions.FileOutput) hold no rows.
func isCandidate(f manifest.OutputFile, below int64) bool {
	return f.Upload == nil && f.Rows > 0 && f.Size < below
}

// planCompaction cuts each partition's candidate files (in the order
// given: chunk order) into runs within target bytes and maxRows rows (0:
// any); runs of two files or more are the tasks, by partition. A
// partition whose candidates add up to at most whole bytes (0: none
// does) is one task, whatever its bytes: see wholePartitionBytes.
func planCompaction(byPartition map[string][]manifest.OutputFile, target, maxRows, whole int64) []manifest.CompactTask {
	var tasks []manifest.CompactTask
	for _, p := range slices.Sorted(mapsKeys(byPartition)) {
		if files := byPartition[p]; len(files) >= 2 && whole > 0 {
			var total int64
			for _, f := range files {
				total += f.Size
			}
			if total <= whole {
				tasks = append(tasks, manifest.CompactTask{Partition: p, Files: files})
				continue
			}
		}
		var run []manifest.OutputFile
		var size, rows int64
		flush := func() {
			if len(run) >= 2 {
				tasks = append(tasks, manifest.CompactTask{Partition: p, Files: run})
			}
			run, size, rows = nil, 0, 0
		}
		for _, f := range byPartition[p] {
			if len(run) > 0 && (size+f.Size > target || maxRows > 0 && rows+f.Rows > maxRows) {
				flush()
			}
			run = append(run, f)
			size += f.Size
			rows += f.Rows
		}
		flush()
	}
	return tasks
}

// wholePartitionBytes is the most bytes of a partition's small map files
// one compaction task merges whole (0: runs within the target always),
// for Parquet output not limited in rows.
//
// A run is cut within the target by its files' bytes, which is the merged
// file's size for text (concatenated) but not for Parquet: every small
// Parquet file carries its own footer, page headers and dictionaries, so
// files of a few KiB merge into a fraction of their bytes (nineteen map
// files of about 840 bytes and 25 rows into one of 2.5 KB), and runs cut
// by their bytes left a
// partition with several merged files under half the target. One task
// per partition writes its files at the target as it goes (the output
// ends a file there, stagedOutput.maxBytes), so only its last file can be
// under half, however much the files shrink. The bound, 8 times the
// target and at least 256 MiB, keeps one task's work within a few
// seconds to a minute; a partition with more small files is cut into
// runs, whose files are then big enough that merging shrinks them
// little. A sorted job's task merges its files' rows into one order
// (compactSorted), so its files, ended near the target the same way,
// cover consecutive ranges of the sort key. Copied row groups could pass
// a row limit: a job with --max-rows-per-file keeps runs.
func wholePartitionBytes(m *manifest.Manifest) int64 {
	if m.Spec.OutputFormat != manifest.FormatParquet || m.MaxRowsPerFile > 0 {
		return 0
	}
	return max(8*m.TargetFileSize, 256<<20)
}

// addCandidates adds the files of one map marker that may be merged
// (isCandidate) to byPartition, keeping of each what the plan's tasks and
// the commit use: key, size, ETag, rows and partition. The plan holds
// every small file of the job until its task lists are written (about
// 410 bytes a file, docs/filesizing.md), so a file's SHA-256 (the commit
// takes a merged file's own) is dropped, about 64 bytes, and its
// partition string is the partition's first file's, not a copy per file.
func addCandidates(byPartition map[string][]manifest.OutputFile, files []manifest.OutputFile, below int64) {
	for _, f := range files {
		if !isCandidate(f, below) {
			continue
		}
		f.SHA256, f.Partitions = "", nil
		same := byPartition[f.Partition]
		if len(same) > 0 {
			f.Partition = same[0].Partition
		}
		byPartition[f.Partition] = append(same, f)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// prepareCompaction creates the job's compaction plan (once, with
// If-None-Match: *) from the map markers. It reports tooMany, creating
// nothing, when more map chunks failed than the job tolerates.
func (e *Engine) prepareCompaction(ctx context.Context, js *jobState) (tooMany bool, err error) {
	key := js.layout.CompactPlanKey(js.job)
	below := js.compactBelow()
	byPartition := map[string][]manifest.OutputFile{}
	exists, tooMany, err := e.walkDoneMapMarkers(ctx, js, key, func(m *manifest.ChunkMarker) error {
		addCandidates(byPartition, m.Files, below)
		return nil
	})
	if exists || tooMany || err != nil {
		return tooMany, err
	}
	tasks := planCompaction(byPartition, js.m.TargetFileSize, js.m.MaxRowsPerFile, wholePartitionBytes(js.m))
	clear(byPartition)
	if len(tasks) > manifest.MaxCompactTasks {
		return false, functions.Permanent(fmt.Errorf("job %s: %d compaction tasks, more than %d: raise --target-file-size", js.job, len(tasks), manifest.MaxCompactTasks))
	}
	// The tasks go into parts under a token of this plan's own, written
	// before the plan that names them: a plan that loses the create below
	// (another driver's won), or is not tried, leaves parts no plan names,
	// removed here. A create whose outcome is unknown (an error) may have
	// landed: its parts stay, and if it did not, they are garbage under
	// the job's compact-plan/ prefix until the job's bookkeeping goes.
	token := randomHex(8)
	w := &taskPartWriter{out: js.out, job: js.job, size: e.cfg.CommitPartFiles,
		keyOf: func(i int) string { return js.layout.CompactPartKey(js.job, token, i) }}
	keepParts := false
	defer func() {
		if !keepParts {
			e.removePrefix(context.WithoutCancel(ctx), js.out, js.layout.CompactPartsPrefix(js.job)+token+"/")
		}
	}()
	for i, t := range tasks {
		if err := w.add(ctx, t); err != nil {
			return false, err
		}
		tasks[i] = manifest.CompactTask{}
	}
	if err := w.flush(ctx); err != nil {
		return false, err
	}
	plan := &manifest.CompactPlan{Version: manifest.Version, Job: js.job, Target: js.m.TargetFileSize, MaxRows: js.m.MaxRowsPerFile,
		TaskCount: w.tasks, FileCount: w.files, TaskParts: w.parts}
	body, err := manifest.Encode(plan)
	if err != nil {
		return false, err
	}
	_, err = js.out.Put(ctx, key, bytes.NewReader(body), &objstore.PutOptions{IfNoneMatch: true, ContentType: "application/json", Size: int64(len(body))})
	keepParts = !errors.Is(err, objstore.ErrPrecondition) // 412: another driver wrote it
	if err != nil && keepParts {
		return false, fmt.Errorf("writing the compaction plan: %w", err)
	}
	return false, nil
}

// taskPartWriter writes compaction tasks into TaskList parts of at most
// size files each (a task is never cut: one of more files is a part of
// its own), each at keyOf(part number), as they are added.
type taskPartWriter struct {
	out          objstore.Bucket
	job          string
	keyOf        func(int) string
	size         int
	pending      []manifest.CompactTask
	pendingFiles int
	parts        []manifest.TaskPart
	tasks, files int
}

// add adds a task, writing the tasks before it as a part when it would
// pass the part's size.
func (w *taskPartWriter) add(ctx context.Context, t manifest.CompactTask) error {
	if len(w.pending) > 0 && w.pendingFiles+len(t.Files) > w.size {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	w.pending = append(w.pending, t)
	w.pendingFiles += len(t.Files)
	return nil
}

// flush writes the tasks added since the last part as a part.
func (w *taskPartWriter) flush(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	i := len(w.parts)
	body, err := manifest.Encode(&manifest.TaskList{Version: manifest.Version, Job: w.job, Part: i, First: w.tasks, Tasks: w.pending})
	if err != nil {
		return err
	}
	key := w.keyOf(i)
	info, err := w.out.Put(ctx, key, bytes.NewReader(body), &objstore.PutOptions{ContentType: "application/json", Size: int64(len(body))})
	if err != nil {
		return fmt.Errorf("writing the compaction plan's task list %s: %w", key, err)
	}
	if info.ETag == "" {
		return fmt.Errorf("writing the compaction plan's task list %s: the store gave no ETag", key)
	}
	w.parts = append(w.parts, manifest.TaskPart{Key: key, ETag: info.ETag, Size: int64(len(body)), First: w.tasks, Tasks: len(w.pending), Files: w.pendingFiles})
	w.tasks += len(w.pending)
	w.files += w.pendingFiles
	clear(w.pending)
	w.pending, w.pendingFiles = w.pending[:0], 0
	return nil
}

// readTaskPart reads part i of job's compaction plan, as p names it: a
// part that changed since (another ETag), or does not hold what p says,
// is an error.
func readTaskPart(ctx context.Context, b objstore.Bucket, job string, i int, p manifest.TaskPart) (*manifest.TaskList, error) {
	rc, info, err := b.Get(ctx, p.Key, &objstore.GetOptions{Length: -1, IfMatch: p.ETag})
	if err != nil {
		return nil, fmt.Errorf("reading the compaction plan's task list %s: %w", p.Key, err)
	}
	defer rc.Close()
	if info.Size != p.Size || p.Size > maxFilePartBytes {
		return nil, fmt.Errorf("the compaction plan's task list %s is %d bytes, the plan says %d", p.Key, info.Size, p.Size)
	}
	body := bytes.NewBuffer(make([]byte, 0, p.Size+bytes.MinRead))
	if _, err := body.ReadFrom(rc); err != nil {
		return nil, fmt.Errorf("reading the compaction plan's task list %s: %w", p.Key, err)
	}
	l, err := manifest.DecodeTaskList(body.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the compaction plan's task list %s: %w", p.Key, err)
	}
	files := 0
	for _, t := range l.Tasks {
		files += len(t.Files)
	}
	if l.Job != job || l.Part != i || l.First != p.First || len(l.Tasks) != p.Tasks || files != p.Files {
		return nil, fmt.Errorf("the compaction plan's task list %s is part %d of job %s with tasks %d-%d (%d files); the plan names part %d of job %s with tasks %d-%d (%d files)",
			p.Key, l.Part, l.Job, l.First, l.First+len(l.Tasks)-1, files, i, job, p.First, p.First+p.Tasks-1, p.Files)
	}
	return l, nil
}

// compactTaskAt returns task idx of plan (idx < plan.NumTasks()), reading
// only the part that holds it.
func compactTaskAt(ctx context.Context, js *jobState, plan *manifest.CompactPlan, idx int) (manifest.CompactTask, error) {
	if len(plan.Tasks) > 0 {
		return plan.Tasks[idx], nil
	}
	i, _ := slices.BinarySearchFunc(plan.TaskParts, idx, func(p manifest.TaskPart, idx int) int {
		switch {
		case p.First+p.Tasks <= idx:
			return -1
		case p.First > idx:
			return 1
		}
		return 0
	})
	l, err := readTaskPart(ctx, js.out, js.job, i, plan.TaskParts[i])
	if err != nil {
		return manifest.CompactTask{}, err
	}
	return l.Tasks[idx-l.First], nil
}

// eachCompactTask calls fn with every task of plan in order, reading its
// parts one at a time.
func eachCompactTask(ctx context.Context, js *jobState, plan *manifest.CompactPlan, fn func(manifest.CompactTask) error) error {
	for _, t := range plan.Tasks {
		if err := fn(t); err != nil {
			return err
		}
	}
	for i, p := range plan.TaskParts {
		l, err := readTaskPart(ctx, js.out, js.job, i, p)
		if err != nil {
			return err
		}
		for _, t := range l.Tasks {
			if err := fn(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// restartCompaction removes the job's compaction plan, then every
// compaction marker, so that the stage is planned again from the map
// markers as they will be (a redrive, a map chunk given back at the
// commit). An attempt that read the old plan publishes under its ID,
// where the commit does not look unless the new plan is the same.
func (e *Engine) restartCompaction(ctx context.Context, js *jobState) error {
	// The parts of the plan removed go after it; a plan made meanwhile
	// by another driver has parts of its own, which stay.
	plan, _, err := e.readCompactPlan(ctx, js)
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return err
	}
	if err := js.out.Delete(ctx, js.layout.CompactPlanKey(js.job)); err != nil {
		return fmt.Errorf("deleting %s: %w", js.layout.CompactPlanKey(js.job), err)
	}
	e.removePrefix(ctx, js.out, js.layout.CompactMarkerPrefix(js.job))
	if plan != nil {
		keys := make([]string, len(plan.TaskParts))
		for i, p := range plan.TaskParts {
			keys[i] = p.Key
		}
		if err := objstore.DeleteKeys(ctx, js.out, keys); err != nil {
			e.log.Debug("removing the compaction plan's task lists failed", "job", js.job, "err", err)
		}
	}
	return nil
}

// settleCompaction prepares the compaction stage once every map chunk has
// a marker and settles its tasks (settleMissing); it reports whether
// every compaction task has a marker.
func (e *Engine) settleCompaction(ctx context.Context, js *jobState) (bool, error) {
	tooMany, err := e.prepareCompaction(ctx, js)
	if err != nil {
		return false, err
	}
	if tooMany {
		return true, nil // Commit reports the failed map chunks
	}
	missing, err := e.missingCompactMarkers(ctx, js)
	if err != nil {
		return false, err
	}
	return e.settleMissing(ctx, js, missing)
}

// missingCompactMarkers lists the tasks of the job's compaction plan
// without a marker.
func (e *Engine) missingCompactMarkers(ctx context.Context, js *jobState) ([]string, error) {
	plan, id, err := e.readCompactPlan(ctx, js)
	if err != nil {
		return nil, err
	}
	js.sawCompactPlan(plan)
	have := map[string]bool{}
	prefix := js.layout.CompactMarkerPrefix(js.job) + id + "/"
	for info, err := range js.out.List(ctx, prefix, nil) {
		if err != nil {
			return nil, fmt.Errorf("listing compaction markers: %w", err)
		}
		have[strings.TrimSuffix(strings.TrimPrefix(info.Key, prefix), ".json")] = true
	}
	var missing []string
	for i := range plan.NumTasks() {
		if id := manifest.CompactTaskID(i); !have[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// processCompact merges one compaction task's files into files of about
// the target under the attempt's staging prefix (open uploads of their
// final keys, on S3 stores) and publishes the task's marker.
func (e *Engine) processCompact(ctx context.Context, js *jobState, lease Lease, stats *WorkStats, ev *ChunkEvent) error {
	started := time.Now().UTC()
	idx, err := manifest.CompactIndex(lease.Chunk)
	if err != nil || !js.compacts() {
		return functions.Permanent(fmt.Errorf("job %s has no compaction task %q", js.job, lease.Chunk))
	}
	plan, planID, err := e.readCompactPlan(ctx, js)
	if errors.Is(err, objstore.ErrNotFound) {
		return errStageNotReady // a redrive removed it: the stage is prepared again
	} else if err != nil {
		return err
	}
	if idx >= plan.NumTasks() {
		return functions.Permanent(fmt.Errorf("job %s: compaction plan %s has no task %s", js.job, planID, lease.Chunk))
	}
	markerKey := js.layout.CompactMarkerKey(js.job, planID, lease.Chunk)
	if has, err := e.hasMarker(ctx, js, markerKey); err != nil {
		return err
	} else if has { // a failed marker from before a redrive does not count
		stats.Skipped.Add(1)
		ev.Outcome = OutcomeSkipped
		return nil
	}
	task, err := compactTaskAt(ctx, js, plan, idx)
	if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, objstore.ErrPrecondition) {
		// Its part went with the plan (restartCompaction): the stage is
		// prepared again, as when the plan is gone.
		if now, serr := e.compactPlanID(ctx, js); serr != nil || now != planID {
			return errStageNotReady
		}
	}
	if err != nil {
		return err
	}
	staging := attemptPrefix(js, lease)
	files, rows, err := e.compactTask(ctx, js, staging, lease.Chunk, task)
	if err != nil {
		e.discardAttempt(ctx, js, staging, files)
		return fmt.Errorf("compaction %s: %w", lease.Chunk, err)
	}
	if err := ctx.Err(); err != nil {
		e.discardAttempt(ctx, js, staging, files) // see processChunk
		return err
	}
	var bytesIn int64
	for _, f := range task.Files {
		bytesIn += f.Size
	}
	m := &manifest.ChunkMarker{
		Version: manifest.Version, Job: js.job, Chunk: lease.Chunk, Epoch: lease.Epoch, Worker: lease.Worker,
		State: manifest.MarkerDone, Files: files, RecordsIn: rows, RecordsOut: rows,
		Started: started, Finished: time.Now().UTC(), Attempts: lease.Deliveries,
		Backup: ev.Backup, MemoryMB: e.cfg.MemoryMB, Plan: planID,
	}
	if won, err := e.publish(ctx, js, lease, markerKey, staging, m, stats, ev); !won {
		return err
	}
	ev.RecordsIn, ev.RecordsOut, ev.BytesIn = rows, rows, bytesIn
	return nil
}

// compactTask writes the task's files as files of one partition and
// returns them with the rows written, which must be the rows the map
// markers counted: a merge that loses or adds a row fails for good.
func (e *Engine) compactTask(ctx context.Context, js *jobState, staging, id string, task manifest.CompactTask) ([]manifest.OutputFile, int64, error) {
	var (
		files []manifest.OutputFile
		rows  int64
		err   error
	)
	if js.m.Spec.OutputFormat == manifest.FormatParquet {
		files, rows, err = e.compactParquet(ctx, js, staging, id, task)
	} else {
		files, rows, err = e.concatText(ctx, js, staging, id, task)
	}
	if err != nil {
		return files, 0, err
	}
	if want := task.Rows(); rows != want {
		return files, 0, functions.Permanent(fmt.Errorf("merged %d rows of partition %q, its %d files hold %d", rows, task.Partition, len(task.Files), want))
	}
	return files, rows, nil
}

// fileSchema is the columns of the job's data files: its function's
// output without the partition columns.
func (js *jobState) fileSchema() (*functions.Schema, error) {
	spec := js.m.Spec
	task, err := js.fn.Prepare(functions.Params{Args: spec.Args, Input: js.schema, InputFormat: js.m.Format})
	if err != nil {
		return nil, functionError(spec.Function, err)
	}
	out := task.Output()
	if red, ok := reducerOf(task); ok && js.m.Reducers > 0 {
		out = red.Final()
	}
	s := &functions.Schema{}
	for _, c := range out.Columns {
		if !slices.Contains(spec.PartitionBy, c.Name) {
			s.Columns = append(s.Columns, c)
		}
	}
	return s, nil
}

// compactParquet writes the task's Parquet files as files of about the
// target. A file whose row groups are worth keeping (copiesRowGroups) is
// appended as it is, its pages copied without decoding a value; any
// other (small row groups, a sorted job, a schema that is not the output
// file's) is decoded and its rows written again. Rows decoded between
// copies make one row group of their own.
func (e *Engine) compactParquet(ctx context.Context, js *jobState, staging, id string, task manifest.CompactTask) ([]manifest.OutputFile, int64, error) {
	schema, err := js.fileSchema()
	if err != nil {
		return nil, 0, err
	}
	out, err := newPartitionOutput(ctx, js, e.outputTask(staging, id, schema), task.Partition)
	if err != nil {
		return nil, 0, err
	}
	// A task of more bytes than the target (a partition merged whole:
	// wholePartitionBytes) ends its files near the target as it goes,
	// as a map attempt does; a run within the target writes about one.
	var in int64
	for _, f := range task.Files {
		in += f.Size
	}
	out.estimateSize = in > js.m.TargetFileSize
	if len(js.m.Spec.SortBy) > 0 {
		return compactSorted(ctx, js, out, schema, task)
	}
	copyFirst := true
	for _, f := range task.Files {
		ra := objstore.NewReaderAt(ctx, js.out, f.Key, f.ETag, f.Size)
		if copyFirst {
			src, err := codec.OpenParquetRowGroups(ra, f.Size, f.Key)
			if err == nil && copiesRowGroups(src, js.m.Spec) {
				err = out.copyRowGroups(src)
				if err == nil {
					continue
				}
			}
			if err != nil && !errors.Is(err, codec.ErrNotCopyable) {
				out.Abort()
				return nil, 0, err
			}
		}
		in, err := codec.NewParquetInput(ra, f.Size, codec.ParquetOptions{Object: f.Key, Schema: schema})
		if err != nil {
			out.Abort()
			return nil, 0, parquetOpenErr(fmt.Errorf("reading %s: %w", f.Key, err))
		}
		if err := compactRows(ctx, []codec.RowSource{codec.InputRows(in)}, out); err != nil {
			out.Abort()
			return nil, 0, err
		}
	}
	files, err := out.Close()
	return files, out.rows, err
}

// compactSorted merges the sorted files of a task of a sorted job
// (--sort-by) into one order and writes it to out, whose files then end
// near the target as an unsorted task's do (out.estimateSize) and cover
// consecutive ranges of the sort key. The rows go through a spilling
// codec.Sorter, one file read at a time: it holds at most
// Config.SortMemory of rows and spills sorted runs to Config.TempDir,
// merged at most 64 at a time, however many files the task has (a
// partition merged whole may have thousands; a k-way merge of the files
// themselves would hold each one's open reader and row group at once).
// Rows equal on every key stay in the order of the task's files (chunk
// order), then of their rows, as the map stage's sort left them.
func compactSorted(ctx context.Context, js *jobState, out *stagedOutput, schema *functions.Schema, task manifest.CompactTask) ([]manifest.OutputFile, int64, error) {
	opts := out.sort
	// The rows reach out in order: its files are written as they come.
	out.sort = codec.SortOptions{}
	sorter, err := codec.NewSorter(schema, opts)
	if err != nil {
		out.Abort()
		return nil, 0, functions.Permanent(fmt.Errorf("--sort-by: %w", err))
	}
	defer sorter.Close()
	fail := func(err error) ([]manifest.OutputFile, int64, error) {
		out.Abort()
		return nil, 0, err
	}
	for _, f := range task.Files {
		ra := objstore.NewReaderAt(ctx, js.out, f.Key, f.ETag, f.Size)
		in, err := codec.NewParquetInput(ra, f.Size, codec.ParquetOptions{Object: f.Key, Schema: schema})
		if err != nil {
			return fail(parquetOpenErr(fmt.Errorf("reading %s: %w", f.Key, err)))
		}
		src := codec.InputRows(in)
		for {
			row, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fail(err)
			}
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
			if err := sorter.Add(row); err != nil {
				return fail(fmt.Errorf("sorting %s: %w", f.Key, err))
			}
		}
	}
	sorted, err := sorter.Sorted()
	if err != nil {
		return fail(fmt.Errorf("sorting partition %q: %w", task.Partition, err))
	}
	if err := compactRows(ctx, []codec.RowSource{sorted}, out); err != nil {
		return fail(err)
	}
	out.spills += int64(sorter.Spills())
	files, err := out.Close()
	return files, out.rows, err
}

// minCopiedRowGroupShare is the least share of the row-group limits
// (--row-group-size, --row-group-bytes) a map file's row groups hold on
// average for the compaction stage to copy them as they are (8,192 rows or
// 1 MiB of values at the defaults): smaller ones are decoded and written
// again as one row group, so that a merged file is not made of thousands
// of tiny row groups that readers pay a footer entry and a read for.
const minCopiedRowGroupShare = 128

// copiesRowGroups reports whether the compaction stage copies src's row
// groups as they are (see minCopiedRowGroupShare).
func copiesRowGroups(src *codec.ParquetRowGroups, spec manifest.JobSpec) bool {
	rows, bytes := int64(spec.RowGroupRows), spec.RowGroupBytes
	if rows <= 0 {
		rows = codec.DefaultRowGroupRows
	}
	if bytes <= 0 {
		bytes = codec.DefaultRowGroupBytes
	}
	n := int64(src.RowGroups())
	return n > 0 && (src.Rows() >= n*(rows/minCopiedRowGroupShare) || src.UncompressedBytes() >= n*(bytes/minCopiedRowGroupShare))
}

// compactRows writes every row of srcs to out, source after source (a
// sorted job's task gives it one source, its rows merged in order:
// compactSorted).
func compactRows(ctx context.Context, srcs []codec.RowSource, out functions.Output) error {
	for _, src := range srcs {
		for {
			row, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := out.Write(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// textHeader is what every file of format with schema starts with (a CSV
// header line; nothing for JSONL and lines): the bytes the writer writes
// for no rows.
func textHeader(format string, schema *functions.Schema) ([]byte, error) {
	var b bytes.Buffer
	w, err := codec.NewWriter(&b, format, schema, codec.WriterOptions{})
	if err != nil {
		return nil, functions.Permanent(err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// concatText writes the task's text files (JSONL, CSV, lines) as one file,
// byte for byte, a CSV header once: the plan keeps a task's bytes within
// the target.
func (e *Engine) concatText(ctx context.Context, js *jobState, staging, id string, task manifest.CompactTask) ([]manifest.OutputFile, int64, error) {
	schema, err := js.fileSchema()
	if err != nil {
		return nil, 0, err
	}
	format := js.m.Spec.OutputFormat
	header, err := textHeader(format, schema)
	if err != nil {
		return nil, 0, err
	}
	sp := newSpool(spoolMemory)
	defer sp.Close()
	sum := sha256.New()
	w := io.MultiWriter(sp, sum)
	var rows int64
	for i, f := range task.Files {
		if err := appendText(ctx, js.out, w, f, header, i > 0); err != nil {
			return nil, 0, err
		}
		rows += f.Rows
	}
	r, err := sp.Reader()
	if err != nil {
		return nil, 0, err
	}
	name := manifest.StagedName(fmt.Sprintf("%s-%04d.%s", fileStem(js.job, id), 0, extension(format)))
	key := staging + name
	if task.Partition != "" {
		key = staging + task.Partition + "/" + name
	}
	out, err := stageFile(ctx, js.out, key, js.layout.DataKey(task.Partition, manifest.PublishedName(key)), r,
		&objstore.PutOptions{Size: sp.Size(), ContentType: contentType(format)})
	if err != nil {
		return nil, 0, fmt.Errorf("uploading %s: %w", key, err)
	}
	out.Rows, out.Partition, out.SHA256 = rows, task.Partition, hex.EncodeToString(sum.Sum(nil))
	return []manifest.OutputFile{out}, rows, nil
}

// appendText copies staged file f to w, without its header (which it must
// start with) when dropHeader is set; f must end a line.
func appendText(ctx context.Context, b objstore.Bucket, w io.Writer, f manifest.OutputFile, header []byte, dropHeader bool) error {
	rc, _, err := b.Get(ctx, f.Key, &objstore.GetOptions{IfMatch: f.ETag})
	if err != nil {
		return fmt.Errorf("reading %s: %w", f.Key, err)
	}
	defer rc.Close()
	body := io.Reader(rc)
	if len(header) > 0 {
		head := make([]byte, len(header))
		if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, header) {
			return functions.Permanent(fmt.Errorf("%s does not start with the header %q", f.Key, header))
		}
		if !dropHeader {
			if _, err := w.Write(head); err != nil {
				return err
			}
		}
	}
	last := &lastByte{w: w}
	n, err := io.Copy(last, body)
	if err != nil {
		return fmt.Errorf("reading %s: %w", f.Key, err)
	}
	if n+int64(len(header)) != f.Size {
		return fmt.Errorf("reading %s: %d bytes, its marker says %d", f.Key, n+int64(len(header)), f.Size)
	}
	if n > 0 && last.b != '\n' {
		return functions.Permanent(fmt.Errorf("%s does not end with a newline", f.Key))
	}
	return nil
}

// lastByte passes writes to w and remembers the last byte written.
type lastByte struct {
	w io.Writer
	b byte
}

func (l *lastByte) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.b = p[len(p)-1]
	}
	return l.w.Write(p)
}

// compaction is the job's compaction plan as the commit uses it.
type compaction struct {
	plan *manifest.CompactPlan
	id   string
	// planned holds the files the plan merges, 8 bytes a file (fileSet:
	// a hash of key and size), read from its parts one at a time; files
	// counts them.
	planned *fileSet
	files   int
	seen    int // planned files found in the map markers
}

// openCompaction reads the plan of a job that compacts (nil for one that
// does not); a missing plan is ErrNotFinished.
func (e *Engine) openCompaction(ctx context.Context, js *jobState) (*compaction, error) {
	if !js.compacts() {
		return nil, nil
	}
	plan, id, err := e.readCompactPlan(ctx, js)
	if errors.Is(err, objstore.ErrNotFound) {
		return &compaction{}, nil // Commit reports ErrNotFinished unless too many chunks failed
	}
	if err != nil {
		return nil, err
	}
	c := &compaction{plan: plan, id: id, planned: newFileSet()}
	err = eachCompactTask(ctx, js, plan, func(t manifest.CompactTask) error {
		for _, f := range t.Files {
			c.planned.add(f.Key, f.Size)
			c.files++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.planned.seal()
	return c, nil
}

// keep returns the map files of one marker that the commit publishes as
// they are: those the plan does not merge. A file taken for a planned one
// by a collision of fileSet's hashes would count as seen once more than
// the plan's files, which commitCompaction refuses.
func (c *compaction) keep(files []manifest.OutputFile) []manifest.OutputFile {
	if c == nil || c.planned == nil {
		return files
	}
	kept := files[:0:0]
	for _, f := range files {
		if c.planned.has(f.Key, f.Size) {
			c.seen++
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// commitCompaction adds the compaction tasks' files to the commit's
// files (spilled in parts) and their counts to rec. It refuses a
// plan that names a file no map marker does (made from markers a redrive
// or a given-back chunk has changed since), and fails the job when a task
// failed.
func (e *Engine) commitCompaction(ctx context.Context, js *jobState, c *compaction, rec *manifest.CommitRecord, files *partWriter, durations *[]time.Duration) error {
	if c.plan == nil {
		return fmt.Errorf("%w: the compaction stage has no plan", ErrNotFinished)
	}
	if c.seen != c.files {
		return fmt.Errorf("job %s: compaction plan %s names %d files, the map markers %d of them: refusing it", js.job, c.id, c.files, c.seen)
	}
	var failed []manifest.FailedChunk
	// A failed marker from before a redrive may lie under this plan's ID
	// (a redrive stopped between raising the generation and removing the
	// stage's plan and markers left them). It is stale, as map and reduce
	// markers are (generation.go): its task runs again.
	stale := staleFailures{e: e, js: js}
	err := e.walkMarkers(ctx, js, c.plan.NumTasks(), manifest.CompactTaskID,
		func(id string) string { return js.layout.CompactMarkerKey(js.job, c.id, id) },
		func(m *manifest.ChunkMarker) error {
			if s, err := stale.stale(ctx, m); err != nil || s {
				return err
			}
			accountMarker(rec, m)
			if m.State != manifest.MarkerDone {
				failed = append(failed, manifest.FailedChunk{Chunk: m.Chunk, Reason: m.Reason})
				return nil
			}
			if m.Plan != c.id {
				return fmt.Errorf("compaction task %s's marker names plan %q, the job's is %q: refusing it", m.Chunk, m.Plan, c.id)
			}
			if err := files.add(ctx, m.Files...); err != nil {
				return err
			}
			*durations = append(*durations, m.Finished.Sub(m.Started))
			return nil
		})
	if err != nil {
		return err
	}
	if err := stale.settle(ctx); err != nil {
		return err
	}
	if len(failed) > 0 {
		return &JobFailedError{Job: js.job, Failed: append(rec.Failed, failed...)}
	}
	rec.Compacted, rec.CompactTasks = c.files, c.plan.NumTasks()
	return nil
}

// SmallFiles reports whether a committed output holds many small files:
// more than one file under half the target in some partition, and at
// least minSmallWarned of them in all. It returns how many there are.
func SmallFiles(parts []manifest.PartitionFiles) (small int, many bool) {
	crowded := false
	for _, p := range parts {
		small += p.Small
		if p.Small > 1 {
			crowded = true
		}
	}
	return small, crowded && small >= minSmallWarned
}

// minSmallWarned is the least number of small files worth a warning.
const minSmallWarned = 16
