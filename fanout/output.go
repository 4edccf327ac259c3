package fanout

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

const (
	// maxOpenPartitions bounds the partition files one attempt keeps open;
	// past it the least recently written one is finished and uploaded, and
	// a later row of that partition starts a new file. It was 32: a chunk
	// whose rows spread over 100 partition values then ended and restarted
	// a file every few rows (128 MiB of orders CSV by store wrote 221,000
	// files in 6 minutes without finishing a chunk: docs/filesizing.md).
	maxOpenPartitions = 256
	// spoolMemory is how much of one output file stays in memory before it
	// spills to a temporary file, while few are open; a file opened beside
	// many gets a share of spoolBudget, at least minSpoolMemory, so that
	// the spools of one attempt hold at most 16 x 2 MiB + 240 x 128 KiB
	// (64 MiB, what 32 files of 2 MiB held).
	spoolMemory    = 2 << 20
	spoolBudget    = 32 << 20
	minSpoolMemory = 128 << 10
	// loneSpoolMemory is what a file opened while no other is open keeps
	// in memory (the only file of an unpartitioned chunk's output). Its
	// upload is sent from the spool's bytes as they are
	// (objstore.BytesBody), where a spilled file was written to a
	// temporary file, read back and copied into part buffers that held
	// as much (two 16 MiB parts at once): a fifth of the workers' CPU in
	// a grep keeping 60% of 256 MiB on MinIO (files of 28 MiB). It adds
	// at most 30 MiB to an attempt's bound, for as long as the file is
	// open.
	loneSpoolMemory = 32 << 20
	// rowGroupBudget bounds the rows an attempt's open Parquet files
	// buffer together (an estimate of the values' bytes): a file ends its
	// row group once it holds more than its share. With one file open the
	// row group ends at codec.DefaultRowGroupRows (or this budget) as usual.
	rowGroupBudget = 16 << 20
	// budgetCheckRows is how often (in rows written to a file) its share
	// is checked.
	budgetCheckRows = 512
	// maxFileBytes rotates an output file once it grows past this size.
	maxFileBytes = 512 << 20
)

// stagedOutput writes one attempt's rows, partitioned Hive-style, under the
// attempt's staging prefix. It implements functions.Output.
type stagedOutput struct {
	ctx    context.Context
	b      objstore.Bucket
	layout manifest.Layout // where files go when committed (stageFile)
	prefix string          // the attempt's staging prefix
	stem   string          // files are <stem>-<n>.<ext> (fileStem)
	format string
	ext    string

	partIdx    []int // output columns that name the partition
	partNames  []string
	keepIdx    []int // output columns written into the files
	fileSchema *functions.Schema

	open   map[string]*stagedFile
	clock  int64 // write counter, for least-recently-written eviction
	seq    int
	files  []manifest.OutputFile
	rows   int64
	spills int64 // sorted runs the finished files spilled
	rowBuf functions.Row
	vals   []functions.Value

	// writerOpts are the Parquet writers' options (the spec's row group
	// bounds, and the string table the attempt's Parquet files share,
	// made when the first of them opens: 12 KiB allocated and cleared a
	// chunk for nothing when the output is not Parquet); sort, when it
	// has keys, sorts each file's rows (--sort-by) within sortMemory
	// shared by the open files.
	writerOpts codec.WriterOptions
	sort       codec.SortOptions

	// paths caches the escaped partition path of recently seen partition
	// values (keyed by their canonical encoding), since escaping every
	// row's values costs more than the lookup.
	paths   map[string]string
	pathKey []byte
	codec   rowCodec
	// byKey finds the open file of a row's partition without escaping
	// its path or looking the path up (most rows go to a file already
	// open): keyed by the partition values' canonical encoding, or by the
	// value itself when the partition is one string column (strKey; its
	// nulls are not cached). It names open files only: finish and Abort
	// drop their entries.
	byKey  map[string]*stagedFile
	strKey bool

	// partition is the Hive path of every row when partIdx is empty (a
	// compaction task's output: one partition, its columns not in the
	// rows).
	partition string
	// maxBytes and maxRows end a file at that size (bytes written: a
	// Parquet file's last row group is not counted until it is, unless
	// estimateSize) or that many rows (0: no limit): the job's target
	// file size and --max-rows-per-file.
	maxBytes, maxRows int64
	// estimateSize ends a Parquet file once its bytes with an estimate
	// of its current row group's reach maxBytes (stagedFile.nearTarget):
	// map and reduce tasks, and a compaction task merging more than the
	// target (a partition whole). A compaction task's run within the
	// target ends its file only at bytes written: its files were planned
	// to about the target, and an estimate a little high would leave a
	// small file after each.
	estimateSize bool
	// compactBelow, when positive, makes a file smaller than it a staged
	// object readable by the compaction stage instead of an open upload
	// (compactor.go): a map attempt of a job that right-sizes its files.
	compactBelow int64
}

type stagedFile struct {
	partition string
	key       string
	sp        *spool
	hash      hash.Hash
	w         codec.Writer
	lastUsed  int64
	// rg is w when it buffers row groups (Parquet) or rows to sort; rows
	// counts the rows written since its share of the budget was last
	// checked.
	rg   codec.RowGroupWriter
	rows int
	// sorted is w when the job sorts its files.
	sorted *codec.SortedWriter
	// sizer is w when it counts its file's bytes (codec.Sizer), est when
	// it estimates what its row group adds (codec.SizeEstimator).
	sizer codec.Sizer
	est   codec.SizeEstimator
}

// size is the bytes of f's file so far: what its writer wrote, its write
// buffer included, without a Parquet row group it still holds.
func (f *stagedFile) size() int64 {
	if f.sizer != nil {
		return f.sizer.Size()
	}
	return f.sp.Size()
}

// nearTarget reports whether f's file with the row group its writer
// holds reaches max bytes. A writer that cannot tell yet what the pages it
// holds will take (none of their kind written) ends its row group to
// learn it, and says whether the bytes written reach max.
func (f *stagedFile) nearTarget(max int64) (bool, error) {
	pending, calibrated := f.est.Pending()
	if f.size()+pending < max {
		return false, nil
	}
	if calibrated {
		return true, nil
	}
	if err := f.rg.EndRowGroup(); err != nil {
		return false, err
	}
	return f.size() >= max, nil
}

// outputTask is what newStagedOutput writes for: one attempt of a task.
type outputTask struct {
	prefix string            // the attempt's staging prefix
	task   string            // the map chunk or reduce task
	schema *functions.Schema // the rows the task writes
	// sortMemory bounds the rows the attempt's open files hold to sort
	// them (Config.SortMemory); tempDir is where sorted runs spill.
	sortMemory int64
	tempDir    string
}

// newStagedOutput returns the output of one attempt of t.task (a map
// chunk or a reduce task) of js, writing rows of t.schema under t.prefix,
// the attempt's staging prefix (or, on a store with uploads, as open
// uploads of the files' final keys: see stageFile). With the spec's
// SortBy, each file's rows are sorted (codec.SortedWriter) before it is
// written out.
func newStagedOutput(ctx context.Context, js *jobState, t outputTask) (*stagedOutput, error) {
	schema := t.schema
	o := newOutputOf(ctx, js, t.prefix, t.task)
	o.estimateSize = true
	isPart := map[int]bool{}
	for _, name := range js.m.Spec.PartitionBy {
		i := schema.Index(name)
		if i < 0 {
			return nil, functions.Permanent(fmt.Errorf("partition column %q is not in the output (%s)", name, strings.Join(schema.Names(), ", ")))
		}
		o.partIdx = append(o.partIdx, i)
		o.partNames = append(o.partNames, name)
		isPart[i] = true
	}
	o.fileSchema = &functions.Schema{}
	for i, c := range schema.Columns {
		if !isPart[i] {
			o.keepIdx = append(o.keepIdx, i)
			o.fileSchema.Columns = append(o.fileSchema.Columns, c)
		}
	}
	if err := o.sortBy(js.m.Spec, t); err != nil {
		return nil, err
	}
	o.vals = make([]functions.Value, len(o.partIdx))
	o.paths = map[string]string{}
	partSchema := &functions.Schema{}
	for _, i := range o.partIdx {
		partSchema.Columns = append(partSchema.Columns, schema.Columns[i])
	}
	o.codec = rowCodec{schema: partSchema, keys: len(o.partIdx)}
	o.byKey = map[string]*stagedFile{}
	o.strKey = len(o.partIdx) == 1 && partSchema.Columns[0].Type == functions.String
	o.rowBuf = make(functions.Row, len(o.keepIdx))
	return o, nil
}

// sortBy sets up the sorted files of a spec with SortBy.
func (o *stagedOutput) sortBy(spec manifest.JobSpec, t outputTask) error {
	if len(spec.SortBy) == 0 {
		return nil
	}
	o.sort = codec.SortOptions{MemoryBytes: cmp.Or(t.sortMemory, DefaultSortMemory), TempDir: t.tempDir}
	for _, k := range spec.SortBy {
		o.sort.Keys = append(o.sort.Keys, codec.SortKey{Column: k.Column, Desc: k.Desc, NullsFirst: k.NullsFirst})
	}
	if _, err := codec.CompareRows(o.fileSchema, o.sort.Keys); err != nil {
		return functions.Permanent(fmt.Errorf("--sort-by: %w", err))
	}
	return nil
}

// newPartitionOutput returns the output of one attempt of t.task (a
// compaction task) of js that writes rows of t.schema, the columns a
// data file holds, into the one partition partition (a Hive path, "" for
// none), sorted as the spec's SortBy says.
func newPartitionOutput(ctx context.Context, js *jobState, t outputTask, partition string) (*stagedOutput, error) {
	o := newOutputOf(ctx, js, t.prefix, t.task)
	o.fileSchema, o.partition = t.schema, partition
	if err := o.sortBy(js.m.Spec, t); err != nil {
		return nil, err
	}
	return o, nil
}

func newOutputOf(ctx context.Context, js *jobState, prefix, task string) *stagedOutput {
	spec := js.m.Spec
	o := &stagedOutput{ctx: ctx, b: js.out, layout: js.layout, prefix: prefix, stem: fileStem(js.job, task), format: spec.OutputFormat, ext: extension(spec.OutputFormat), open: map[string]*stagedFile{},
		maxBytes: maxFileBytes, maxRows: js.m.MaxRowsPerFile}
	o.writerOpts = codec.WriterOptions{RowGroupRows: spec.RowGroupRows, RowGroupBytes: spec.RowGroupBytes}
	if t := js.m.TargetFileSize; t > 0 {
		o.maxBytes = t
	}
	return o
}

func extension(format string) string {
	switch format {
	case manifest.FormatLines:
		return "txt"
	}
	return format
}

// Write implements functions.Output.
func (o *stagedOutput) Write(row functions.Row) error {
	if err := o.ctx.Err(); err != nil {
		return err
	}
	f, err := o.fileOf(row)
	if err != nil {
		return err
	}
	o.clock++
	f.lastUsed = o.clock
	out := row
	if len(o.partIdx) > 0 {
		for i, j := range o.keepIdx {
			o.rowBuf[i] = row[j]
		}
		out = o.rowBuf
	}
	if err := f.w.Write(out); err != nil {
		return fmt.Errorf("writing %s: %w", f.key, err)
	}
	o.rows++
	if f.size() >= o.maxBytes || o.maxRows > 0 && f.w.Rows() >= o.maxRows {
		return o.finish(f)
	}
	if f.rg != nil {
		if f.rows++; f.rows >= budgetCheckRows {
			f.rows = 0
			budget := int64(rowGroupBudget)
			if f.sorted != nil {
				// A sorted file's rows stay in its sorter until it is
				// finished: past its share of the memory a sorted run
				// spills to a local file (EndRowGroup).
				budget = o.sort.MemoryBytes
			}
			if f.rg.Buffered() > budget/int64(len(o.open)) {
				if err := f.rg.EndRowGroup(); err != nil {
					return fmt.Errorf("writing %s: %w", f.key, err)
				}
			}
			if f.est != nil && o.estimateSize {
				// A Parquet file ends near the target, not at the end of
				// the first row group past it (a chunk's whole file, when
				// its rows fit in one).
				near, err := f.nearTarget(o.maxBytes)
				if err != nil {
					return fmt.Errorf("writing %s: %w", f.key, err)
				}
				if near {
					return o.finish(f)
				}
			}
		}
	}
	return nil
}

// fileOf returns the open file of row's partition, opening one when
// there is none.
func (o *stagedOutput) fileOf(row functions.Row) (*stagedFile, error) {
	if len(o.partIdx) == 0 {
		if f := o.open[o.partition]; f != nil {
			return f, nil
		}
		return o.openFile(o.partition)
	}
	if o.strKey {
		if v := &row[o.partIdx[0]]; v.Valid {
			if f := o.byKey[v.S]; f != nil {
				return f, nil
			}
		}
	} else {
		for i, j := range o.partIdx {
			o.vals[i] = row[j]
		}
		o.pathKey = o.codec.appendCols(o.pathKey[:0], o.vals, 0, len(o.vals))
		if f := o.byKey[string(o.pathKey)]; f != nil {
			return f, nil
		}
	}
	for i, j := range o.partIdx {
		o.vals[i] = row[j]
	}
	partition := o.partitionPath() // sets o.pathKey
	f := o.open[partition]
	if f == nil {
		var err error
		if f, err = o.openFile(partition); err != nil {
			return nil, err
		}
	}
	if len(o.byKey) >= maxCachedPaths {
		clear(o.byKey)
	}
	switch v := o.vals[0]; {
	case !o.strKey:
		o.byKey[string(o.pathKey)] = f
	case v.Valid:
		o.byKey[strings.Clone(v.S)] = f // v.S may be borrowed from the input
	}
	return f, nil
}

func (o *stagedOutput) openFile(partition string) (*stagedFile, error) {
	if len(o.open) >= maxOpenPartitions {
		var lru *stagedFile
		for _, f := range o.open {
			if lru == nil || f.lastUsed < lru.lastUsed {
				lru = f
			}
		}
		if err := o.finish(lru); err != nil {
			return nil, err
		}
	}
	name := manifest.StagedName(fmt.Sprintf("%s-%04d.%s", o.stem, o.seq, o.ext))
	o.seq++
	key := o.prefix + name
	if partition != "" {
		key = o.prefix + partition + "/" + name
	}
	mem := max(min(spoolMemory, spoolBudget/(len(o.open)+1)), minSpoolMemory)
	if len(o.open) == 0 {
		mem = loneSpoolMemory
	}
	f := &stagedFile{partition: partition, key: key, sp: newSpool(mem), hash: sha256.New()}
	if o.format == manifest.FormatParquet && o.writerOpts.Strings == nil {
		o.writerOpts.Strings = codec.NewStringTable()
	}
	w, err := codec.NewWriter(io.MultiWriter(f.sp, f.hash), o.format, o.fileSchema, o.writerOpts)
	if err != nil {
		f.sp.Close()
		return nil, functions.Permanent(err)
	}
	if len(o.sort.Keys) > 0 {
		if f.sorted, err = codec.NewSortedWriter(w, o.fileSchema, o.sort); err != nil {
			f.sp.Close()
			return nil, functions.Permanent(err)
		}
		w = f.sorted
	}
	f.w = w
	f.rg, _ = w.(codec.RowGroupWriter)
	f.sizer, _ = w.(codec.Sizer)
	f.est, _ = w.(codec.SizeEstimator)
	o.open[partition] = f
	return f, nil
}

// copyRowGroups appends src's row groups, as they are, to the file of o's
// one partition (a compaction task's output), rotating it at the target
// as Write does. It returns codec.ErrNotCopyable, having written nothing
// of src, when the file's writer cannot take them (a sorted file, another
// schema): the caller writes src's rows instead.
func (o *stagedOutput) copyRowGroups(src *codec.ParquetRowGroups) error {
	if err := o.ctx.Err(); err != nil {
		return err
	}
	if len(o.partIdx) > 0 || len(o.sort.Keys) > 0 {
		return codec.ErrNotCopyable
	}
	f := o.open[o.partition]
	if f == nil {
		var err error
		if f, err = o.openFile(o.partition); err != nil {
			return err
		}
	}
	c, ok := f.w.(codec.RowGroupCopier)
	if !ok {
		return codec.ErrNotCopyable
	}
	o.clock++
	f.lastUsed = o.clock
	n, err := c.CopyRowGroups(src)
	if errors.Is(err, codec.ErrNotCopyable) {
		return err
	} else if err != nil {
		return fmt.Errorf("writing %s: %w", f.key, err)
	}
	o.rows += n
	if f.size() >= o.maxBytes || o.maxRows > 0 && f.w.Rows() >= o.maxRows {
		return o.finish(f)
	}
	return nil
}

// finish closes one file and uploads it.
func (o *stagedOutput) finish(f *stagedFile) error {
	delete(o.open, f.partition)
	maps.DeleteFunc(o.byKey, func(_ string, g *stagedFile) bool { return g == f })
	defer f.sp.Close()
	if err := f.w.Close(); err != nil {
		return fmt.Errorf("finishing %s: %w", f.key, err)
	}
	if f.sorted != nil {
		o.spills += int64(f.sorted.Spills())
	}
	r, err := f.sp.Reader()
	if err != nil {
		return err
	}
	final := o.layout.DataKey(f.partition, manifest.PublishedName(f.key))
	opts := &objstore.PutOptions{Size: f.sp.Size(), ContentType: contentType(o.format)}
	var out manifest.OutputFile
	if f.sp.Size() < o.compactBelow {
		// A small file the compaction stage may read: a staged object
		// (an open upload cannot be read), published as any staged file
		// when no compaction task takes it.
		var info objstore.ObjectInfo
		info, err = putStaged(o.ctx, o.b, f.key, r, opts)
		out = manifest.OutputFile{Key: f.key, Size: opts.Size, ETag: info.ETag}
	} else {
		out, err = stageFile(o.ctx, o.b, f.key, final, r, opts)
	}
	if err != nil {
		return fmt.Errorf("uploading %s: %w", f.key, err)
	}
	f.sp.Recycle()
	out.Rows, out.Partition, out.SHA256 = f.w.Rows(), f.partition, hex.EncodeToString(f.hash.Sum(nil))
	o.files = append(o.files, out)
	return nil
}

var _ functions.FileOutput = (*stagedOutput)(nil)

// WriteFile implements functions.FileOutput: data is uploaded at once as
// one more of the attempt's files, without a partition.
func (o *stagedOutput) WriteFile(name, contentType string, data []byte) error {
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
		return functions.Permanent(fmt.Errorf("output file name %q: want letters, digits, '.', '-' and '_'", name))
	}
	key := o.prefix + manifest.StagedName(o.stem+"-"+name)
	for _, f := range o.files {
		if manifest.PublishedName(f.Key) == manifest.PublishedName(key) {
			return functions.Permanent(fmt.Errorf("output file %q written twice", name))
		}
	}
	sum := sha256.Sum256(data)
	out, err := stageFile(o.ctx, o.b, key, o.layout.DataKey("", manifest.PublishedName(key)), bytes.NewReader(data), &objstore.PutOptions{Size: int64(len(data)), ContentType: contentType})
	if err != nil {
		return fmt.Errorf("uploading %s: %w", key, err)
	}
	out.SHA256 = hex.EncodeToString(sum[:])
	o.files = append(o.files, out)
	return nil
}

// Close finishes and uploads every open file and returns the files written.
func (o *stagedOutput) Close() ([]manifest.OutputFile, error) {
	for len(o.open) > 0 {
		var first *stagedFile
		for _, f := range o.open {
			if first == nil || f.lastUsed < first.lastUsed {
				first = f
			}
		}
		if err := o.finish(first); err != nil {
			o.Abort()
			return nil, err
		}
	}
	return o.files, nil
}

// Abort drops every open file without uploading, and aborts the uploads
// of the files written (a store with uploads): the attempt will not
// publish them. Staged objects are left to the caller's removal of the
// staging prefix.
func (o *stagedOutput) Abort() {
	for p, f := range o.open {
		if f.sorted != nil {
			f.sorted.Discard()
		}
		f.sp.Close()
		delete(o.open, p)
	}
	clear(o.byKey)
	abortOwnUploads(o.ctx, o.b, o.files)
}

func contentType(format string) string {
	switch format {
	case manifest.FormatParquet:
		return "application/vnd.apache.parquet"
	case manifest.FormatJSONL:
		return "application/x-ndjson"
	case manifest.FormatCSV:
		return "text/csv"
	}
	return "text/plain"
}

// fileStem starts the name of every file an attempt of chunk (a map chunk
// or a reduce task) writes: part-<job>-<chunk>. The job ID in it keeps
// the files of two jobs apart even where they meet (an output taken over
// with --rerun, _rejected/), and says which job wrote a file.
func fileStem(job, chunk string) string { return "part-" + job + "-" + chunk }

// OutputLayout describes where a job's files go once it commits:
// <out>/<col>=<value>/.../part-<job>-<task>-<n>.<ext>, with a directory
// level per partition column.
func OutputLayout(spec manifest.JobSpec, job string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(spec.Output, "/") + "/")
	for _, c := range spec.PartitionBy {
		b.WriteString(c + "=<" + c + ">/")
	}
	b.WriteString(fileStem(job, "<task>") + "-<n>." + extension(spec.WithDefaults().OutputFormat))
	return b.String()
}

// finalKey is where a file goes when the job commits: an upload's key
// already is.
func finalKey(layout manifest.Layout, f manifest.OutputFile) string {
	if f.Upload != nil {
		return f.Key
	}
	return layout.DataKey(f.Partition, manifest.PublishedName(f.Key))
}

// maxCachedPaths bounds the partition path cache of one attempt.
const maxCachedPaths = 4096

// partitionPath returns the Hive path of o.vals, from the cache when it
// has been seen.
func (o *stagedOutput) partitionPath() string {
	o.pathKey = o.codec.appendCols(o.pathKey[:0], o.vals, 0, len(o.vals))
	if p, ok := o.paths[string(o.pathKey)]; ok {
		return p
	}
	p := codec.PartitionPath(o.partNames, o.vals)
	if len(o.paths) >= maxCachedPaths {
		clear(o.paths)
	}
	o.paths[string(o.pathKey)] = p
	return p
}
