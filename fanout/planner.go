package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"golang.org/x/sync/errgroup"
)

// shardWrites is how many manifest shards a plan writes at once: at a
// million objects a plan writes a hundred shards of a few MB, which one
// at a time took as long as reading an inventory report of them.
const shardWrites = 4

// shardMaxParts bounds the parts one manifest shard holds, so that the
// planner's memory stays flat however many objects a job has.
const shardMaxParts = 20000

// sampleBytes and sampleRecords bound how much of the first input object
// schema inference reads.
const (
	sampleBytes   = 1 << 20
	sampleRecords = 10000
)

// PlanInfo describes a planned job.
type PlanInfo struct {
	Job      string
	Manifest *manifest.Manifest
	// Existing is true when the job had already been planned (the same
	// spec submitted before); the earlier manifest is returned.
	Existing bool
	// Parts counts the chunks' object parts (one GET each), counted by a
	// plan that listed the inputs (zero for an Existing one).
	Parts int
}

// RequestsEstimate is a floor on the S3 requests the planned job makes:
// the owner record, the manifest and its shards; a GET per object part;
// per map chunk its marker and one output (or shuffle) file; per reduce
// task a GET of every map chunk's shuffle file, its marker and its
// output; the commit's publish of every file, its record and _SUCCESS.
// Partitions (a file per value), multipart uploads, listings and retries
// add to it; the commit record of the finished job holds the real count.
func (p PlanInfo) RequestsEstimate() int64 {
	m := p.Manifest
	if m == nil {
		return 0
	}
	chunks, reducers := int64(m.Chunks), int64(m.Reducers)
	n := 2 + int64(m.Shards) + int64(p.Parts) + 2*chunks
	files := chunks
	if reducers > 0 {
		n += reducers*chunks + 2*reducers
		files = reducers
	}
	return n + files + 2
}

// PlanOptions modify Plan.
type PlanOptions struct {
	// DryRun lists and packs the inputs and checks the function's
	// arguments and partition columns (Prepare), but writes nothing to
	// the output: no probe, no owner record, no shards, no manifest. The
	// returned manifest is the one a real plan would write now.
	DryRun bool
}

// Plan lists the inputs page by page, cuts them into chunks, writes the
// manifest shards and then creates the manifest with If-None-Match: *. It
// returns the existing manifest when the job was planned before.
func (e *Engine) Plan(ctx context.Context, spec manifest.JobSpec) (PlanInfo, error) {
	return e.PlanWith(ctx, spec, PlanOptions{})
}

// PlanWith is Plan with options (PlanOptions.DryRun).
func (e *Engine) PlanWith(ctx context.Context, spec manifest.JobSpec, opts PlanOptions) (_ PlanInfo, err error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return PlanInfo{}, err
	}
	if err := distinctInputs(spec); err != nil {
		return PlanInfo{}, err
	}
	fn, err := e.cfg.Functions.Lookup(spec.Function)
	if err != nil {
		return PlanInfo{}, functions.Permanent(err)
	}
	out, outLoc, layout, err := e.output(ctx, spec.Output)
	if err != nil {
		return PlanInfo{}, err
	}
	job := manifest.JobID(spec, "")
	if !opts.DryRun {
		if err := e.probe(ctx, outLoc.StoreURL(), out, layout.Prefix); err != nil {
			return PlanInfo{}, err
		}
		// Before any work: the output is this job's, or the job is
		// refused (owner.go).
		if err := e.claimOutput(ctx, out, layout, spec, job); err != nil {
			return PlanInfo{}, err
		}
		// A plan that fails before its manifest exists (a bad argument, a
		// typo in a column name, no input) gives the output back, so that
		// the corrected command, a job of its own, is not refused
		// (owner.go).
		defer func() {
			if err != nil {
				e.releaseUnplanned(ctx, out, layout, job, err)
			}
		}()
	}
	if m, err := e.readManifest(ctx, out, layout, job); err == nil {
		return PlanInfo{Job: job, Manifest: m, Existing: true}, e.sameVersion(ctx, fn, m, out, layout)
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return PlanInfo{}, err
	}

	p := &planRun{e: e, spec: spec, job: job, out: out, outLoc: outLoc, layout: layout, dryRun: opts.DryRun,
		shardPrefix: layout.JobPrefix(job) + "plans/" + time.Now().UTC().Format("20060102T150405") + "-" + randomHex(4) + "/"}
	p.packer, err = manifest.NewPacker(spec.PackOptions())
	if err != nil {
		return PlanInfo{}, err
	}
	// Shards are written shardWrites at a time while planning goes on;
	// a plan that returns early stops and waits for them.
	wctx, stopWrites := context.WithCancel(ctx)
	p.writes, p.wctx = errgroup.WithContext(wctx)
	p.writes.SetLimit(shardWrites)
	defer func() {
		stopWrites()
		p.writes.Wait()
	}()
	if err := p.listAll(ctx); err != nil {
		return PlanInfo{}, err
	}
	if err := p.readLists(ctx); err != nil {
		return PlanInfo{}, err
	}
	if err := p.flushDrift(ctx); err != nil {
		return PlanInfo{}, err
	}
	if p.union != nil && !p.given {
		p.schema = p.union.schema().String() // the union of the objects' columns
	}
	if err := p.addChunks(ctx, p.packer.Flush()); err != nil {
		return PlanInfo{}, err
	}
	if err := p.flushShard(ctx); err != nil {
		return PlanInfo{}, err
	}
	if err := p.writes.Wait(); err != nil {
		return PlanInfo{}, err
	}
	if p.objects == 0 {
		return PlanInfo{}, functions.Permanent(fmt.Errorf("plan: no input objects found under %s", strings.Join(slices.Concat(spec.Inputs, spec.Inventories, spec.KeyLists), ", ")))
	}
	// Bad arguments fail here, before any chunk runs.
	schema, err := p.inputSchema()
	if err != nil {
		return PlanInfo{}, err
	}
	task, err := fn.Prepare(functions.Params{Args: spec.Args, Input: schema, InputFormat: p.format})
	if err != nil {
		return PlanInfo{}, functionError(spec.Function, err)
	}
	reducers := 0
	if _, ok := reducerOf(task); ok {
		reducers = spec.Reducers
		if reducers <= 0 {
			reducers = defaultReducers(p.bytes)
		}
		if reducers > manifest.MaxReducers {
			return PlanInfo{}, functions.Permanent(fmt.Errorf("--reducers %d: at most %d", reducers, manifest.MaxReducers))
		}
	}
	if err := checkPartitionColumns(fn, spec, schema, p.format); err != nil {
		return PlanInfo{}, err
	}

	m := &manifest.Manifest{
		Version:     manifest.Version,
		Job:         job,
		Spec:        spec,
		Created:     time.Now().UTC(),
		Chunks:      p.chunks,
		Shards:      len(p.shardFirst),
		ShardSize:   manifest.DefaultShardSize,
		ShardPrefix: p.shardPrefix,
		ShardFirst:  p.shardFirst,
		Objects:     p.objects,
		Bytes:       p.bytes,
		Schema:      p.schema,
		Format:      p.format,
		Reducers:    reducers,
		// Right-sizing (compactor.go): fixed at planning, so that a
		// manifest written before it, or by another build, runs as
		// planned.
		TargetFileSize: spec.ResolvedTargetFileSize(reducers > 0),
		MaxRowsPerFile: spec.MaxRowsPerFile,
	}
	m.BlockChunks, m.ShardBlocks = p.blockTable()
	if !spec.AnyFunctionVersion {
		m.FunctionVersion = functions.VersionOf(fn)
	}
	if opts.DryRun {
		return PlanInfo{Job: job, Manifest: m, Parts: p.parts}, nil
	}
	if e.cfg.SpecKey != nil {
		m.Signature = manifest.Sign(e.cfg.SpecKey, m)
	}
	body, err := manifest.Encode(m)
	if err != nil {
		return PlanInfo{}, err
	}
	_, err = out.Put(ctx, layout.ManifestKey(job), strings.NewReader(string(body)),
		&objstore.PutOptions{IfNoneMatch: true, ContentType: "application/json", Size: int64(len(body))})
	if errors.Is(err, objstore.ErrPrecondition) {
		// Another planner won the race: its shards are the job's.
		p.discardShards(ctx)
		m, err := e.readManifest(ctx, out, layout, job)
		if err == nil {
			err = e.sameVersion(ctx, fn, m, out, layout)
		}
		return PlanInfo{Job: job, Manifest: m, Existing: true}, err
	}
	if err != nil {
		return PlanInfo{}, fmt.Errorf("plan: writing manifest: %w", err)
	}
	return PlanInfo{Job: job, Manifest: m, Parts: p.parts}, nil
}

// ErrFunctionVersion reports a job planned with another version of its
// function than this engine has (manifest.Manifest.FunctionVersion).
var ErrFunctionVersion = errors.New("fanout: another version of the function")

// sameVersion refuses to take up a job planned earlier with another
// version of its function: its chunks run only on workers of that
// version, and mixing the two builds' outputs would need the user's
// consent (manifest.JobSpec.AnyFunctionVersion). A job that committed
// runs nothing more: it is taken up (its result is the answer).
func (e *Engine) sameVersion(ctx context.Context, fn functions.Function, m *manifest.Manifest, out objstore.Bucket, layout manifest.Layout) error {
	if m.FunctionVersion == "" || m.FunctionVersion == functions.VersionOf(fn) {
		return nil
	}
	if done, err := exists(ctx, out, layout.CommitKey(m.Job)); err != nil || done {
		return err
	}
	return functions.Permanent(fmt.Errorf("%w: job %s was planned with function %s version %s and this program has version %s: "+
		"its chunks run on workers of that version; to run it again with this version give --rerun (a new job), "+
		"or --any-version to let any version run it", ErrFunctionVersion, m.Job, m.Spec.Function, m.FunctionVersion, functions.VersionOf(fn)))
}

// checkPartitionColumns makes sure the output format can hold the
// function's output and every partition column is produced by it.
func checkPartitionColumns(fn functions.Function, spec manifest.JobSpec, schema *functions.Schema, format string) error {
	task, err := fn.Prepare(functions.Params{Args: spec.Args, Input: schema, InputFormat: format})
	if err != nil {
		return functions.Permanent(err)
	}
	outSchema := task.Output()
	if red, ok := reducerOf(task); ok {
		outSchema = red.Final()
	}
	if err := checkOutputFormat(spec, outSchema); err != nil {
		return err
	}
	for _, c := range spec.PartitionBy {
		if outSchema.Index(c) < 0 {
			hint := ""
			if m := functions.Closest(c, outSchema.Names()); m != "" {
				hint = fmt.Sprintf("did you mean %q? ", m)
			}
			return functions.Permanent(fmt.Errorf("--partition-by %s: the output of %s has no column %q (%scolumns: %s)",
				c, spec.Function, c, hint, strings.Join(outSchema.Names(), ", ")))
		}
	}
	for _, c := range spec.PartitionBy {
		if col := outSchema.Columns[outSchema.Index(c)]; col.IsNested() {
			return functions.Permanent(fmt.Errorf("--partition-by %s: column %q is %s; partition by flat columns only", c, c, col.TypeString()))
		}
	}
	if len(spec.PartitionBy) >= len(outSchema.Columns) {
		return functions.Permanent(fmt.Errorf("--partition-by %s: at least one column must remain in the files", strings.Join(spec.PartitionBy, ",")))
	}
	for _, k := range spec.SortBy {
		i := outSchema.Index(k.Column)
		if i < 0 {
			hint := ""
			if m := functions.Closest(k.Column, outSchema.Names()); m != "" {
				hint = fmt.Sprintf("did you mean %q? ", m)
			}
			return functions.Permanent(fmt.Errorf("--sort-by %s: the output of %s has no column %q (%scolumns: %s)",
				k, spec.Function, k.Column, hint, strings.Join(outSchema.Names(), ", ")))
		}
		if _, err := codec.CompareRows(&functions.Schema{Columns: outSchema.Columns[i : i+1]}, []codec.SortKey{{Column: k.Column}}); err != nil {
			return functions.Permanent(fmt.Errorf("--sort-by %s: %w", k, err))
		}
	}
	return nil
}

// successJob reads which job the output's _SUCCESS names ("" when there is
// none).
func successJob(ctx context.Context, out objstore.Bucket, layout manifest.Layout) (string, error) {
	body, err := readAll(ctx, out, layout.SuccessKey(), 1<<20)
	if errors.Is(err, objstore.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("checking output: %w", err)
	}
	var s struct {
		Job string `json:"job"`
	}
	if json.Unmarshal(body, &s) != nil || s.Job == "" {
		return "(unknown: " + layout.SuccessKey() + " exists)", nil
	}
	return s.Job, nil
}

// planRun is one planning pass.
type planRun struct {
	e           *Engine
	spec        manifest.JobSpec
	job         string
	out         objstore.Bucket
	outLoc      objstore.Location
	layout      manifest.Layout
	packer      *manifest.Packer
	shardPrefix string

	format  string // the one input format of the job
	schema  string // input schema, name:type,...
	objects int64
	bytes   int64
	chunks  int
	parts   int  // object parts of every chunk
	dryRun  bool // write no shard (PlanOptions.DryRun)

	shard      []manifest.Chunk
	shardParts int
	// listedStore is the store of the latest object a list named
	// (addListed), opened as listedBucket.
	listedStore  string
	listedBucket objstore.Bucket
	// writes writes the shards (flushShard) under wctx.
	writes     *errgroup.Group
	wctx       context.Context
	shardFirst []int
	// blocks holds each shard's block table, filled by its write.
	blocks   []*manifest.ShardBlocks
	firstObj *manifest.ObjectRef
	// given says the schema came from --arg schema= or the function;
	// union holds the columns across objects (drift.go); text says the
	// function reads CSV and JSONL columns as text (functions.TextInputer).
	given      bool
	text       bool
	union      *schemaUnion
	driftQueue []driftRead
}

func (p *planRun) listAll(ctx context.Context) error {
	for _, in := range p.spec.Inputs {
		base, pattern := splitGlob(in)
		loc, err := objstore.ParseURL(base)
		if err != nil {
			return functions.Permanent(fmt.Errorf("input %q: %w", in, err))
		}
		// A local path naming one file is that file: its directory is
		// the store and its name the one key (an s3:// URL naming a key
		// is a prefix, and lists it already).
		exact := false
		if loc.Scheme == "file" && pattern == "" {
			if fi, err := os.Stat(loc.Root); err == nil && fi.Mode().IsRegular() {
				loc.Root, loc.Prefix, exact = filepath.Dir(loc.Root), filepath.Base(loc.Root), true
			}
		}
		b, err := p.e.store(ctx, loc.StoreURL(), loc.Prefix)
		if err != nil {
			return fmt.Errorf("input %q: %w", in, err)
		}
		listPrefix := loc.Prefix
		store := loc.StoreURL()
		sameStore := store == p.outLoc.StoreURL()
		list := func(ctx context.Context) iter.Seq2[objstore.ObjectInfo, error] { return b.List(ctx, listPrefix, nil) }
		if loc.Scheme == "s3" { // several LIST requests at once on a long listing (listing.go)
			list = func(ctx context.Context) iter.Seq2[objstore.ObjectInfo, error] {
				return parallelList(ctx, b, listPrefix, p.spec.ListDirs)
			}
		}
		for info, err := range listAhead(ctx, list) {
			if err != nil {
				return fmt.Errorf("listing %s: %w", in, err)
			}
			if exact && info.Key != listPrefix || !exact && !p.wanted(sameStore, info.Key, listPrefix, pattern) {
				continue
			}
			if err := p.addObject(ctx, b, store, info); err != nil {
				return err
			}
		}
	}
	return nil
}

// readLists adds the objects that the job's inventory reports and key
// lists name (inputlists.go), after those of its listed inputs. An
// inventory's keys are filtered as a listing of its bucket's root is (no
// hidden files, nothing of the job's own output); a key list names its
// objects one by one, and naming one under the job's output is an error.
func (p *planRun) readLists(ctx context.Context) error {
	for _, u := range p.spec.Inventories {
		for obj, err := range p.e.inventoryObjects(ctx, u) {
			if err != nil {
				return err
			}
			if !p.wanted(obj.store == p.outLoc.StoreURL(), obj.info.Key, "", "") {
				continue
			}
			if err := p.addListed(ctx, obj); err != nil {
				return err
			}
		}
	}
	for _, u := range p.spec.KeyLists {
		for obj, err := range p.e.keyListObjects(ctx, u, p.spec.MaxDecompressedBytes) {
			if err != nil {
				return err
			}
			if obj.store == p.outLoc.StoreURL() && p.layout.Prefix != "" && strings.HasPrefix(obj.info.Key, p.layout.Prefix) {
				return listError(obj.list, obj.line, "%s is under the job's output %s", obj.info.Key, p.spec.Output)
			}
			if err := p.addListed(ctx, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *planRun) addListed(ctx context.Context, obj listedObject) error {
	if obj.store != p.listedStore {
		b, err := p.e.store(ctx, obj.store, path.Dir(obj.info.Key)+"/")
		if err != nil {
			return fmt.Errorf("input %s/%s (%s line %d): %w", obj.store, obj.info.Key, obj.list, obj.line, err)
		}
		p.listedStore, p.listedBucket = obj.store, b
	}
	return p.addObject(ctx, p.listedBucket, p.listedStore, obj.info)
}

// listAhead runs a listing in its own goroutine, a few pages ahead of
// its consumer, so that listing (network or file-system bound) and
// planning (CPU bound) overlap. It holds at most listAheadPages pages of
// listAheadBatch entries; it stops when the consumer stops or ctx ends.
func listAhead(ctx context.Context, list func(context.Context) iter.Seq2[objstore.ObjectInfo, error]) iter.Seq2[objstore.ObjectInfo, error] {
	type page struct {
		infos []objstore.ObjectInfo
		err   error
	}
	return func(yield func(objstore.ObjectInfo, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		pages := make(chan page, listAheadPages)
		done := make(chan struct{})
		defer func() {
			cancel()
			for range pages { // let the producer finish
			}
			<-done
		}()
		go func() {
			defer close(done)
			defer close(pages)
			send := func(p page) bool {
				select {
				case pages <- p:
					return true
				case <-ctx.Done():
					return false
				}
			}
			batch := make([]objstore.ObjectInfo, 0, listAheadBatch)
			for info, err := range list(ctx) {
				if ctx.Err() != nil {
					return // the consumer stopped
				}
				if err != nil {
					if len(batch) > 0 && !send(page{infos: batch}) {
						return
					}
					send(page{err: err})
					return
				}
				if batch = append(batch, info); len(batch) == listAheadBatch {
					if !send(page{infos: batch}) {
						return
					}
					batch = make([]objstore.ObjectInfo, 0, listAheadBatch)
				}
			}
			if len(batch) > 0 {
				send(page{infos: batch})
			}
		}()
		for p := range pages {
			for _, info := range p.infos {
				if !yield(info, nil) {
					return
				}
			}
			if p.err != nil {
				yield(objstore.ObjectInfo{}, p.err)
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(objstore.ObjectInfo{}, err)
		}
	}
}

const (
	listAheadBatch = 1000
	listAheadPages = 4
)

// splitGlob separates a final path element holding glob characters from
// an input URL: "s3://b/logs/*.gz" -> "s3://b/logs/", "*.gz".
func splitGlob(in string) (base, pattern string) {
	i := strings.LastIndex(in, "/")
	if i < 0 || !strings.ContainsAny(in[i+1:], "*?[") {
		return in, ""
	}
	return in[:i+1], in[i+1:]
}

// wanted filters the listing: the glob, hidden files (names starting with
// "_" or ".", as Hive and Spark do), fanout's own bookkeeping, and the job's
// own output when the input and output overlap.
// sameStore says whether the input's store is the output's.
func (p *planRun) wanted(sameStore bool, key, listPrefix, pattern string) bool {
	rest := strings.TrimPrefix(key, listPrefix)
	if pattern != "" {
		if ok, _ := path.Match(pattern, rest); !ok {
			return false
		}
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return false
		}
	}
	if sameStore && p.layout.Prefix != "" && strings.HasPrefix(key, p.layout.Prefix) {
		return false
	}
	return !strings.HasSuffix(key, "/")
}

func (p *planRun) addObject(ctx context.Context, b objstore.Bucket, store string, info objstore.ObjectInfo) error {
	format, compression, err := manifest.DetectFormat(info.Key, p.spec.Format)
	if err != nil {
		return functions.Permanent(fmt.Errorf("input %s: %w", info.Key, err))
	}
	if p.format == "" {
		p.format = format
	} else if p.format != format {
		return functions.Permanent(fmt.Errorf("input %s is %s but earlier inputs are %s: one job reads one format (set --format to override detection)", info.Key, format, p.format))
	}
	ref := manifest.ObjectRef{Store: store, Key: info.Key, Size: info.Size, ETag: info.ETag,
		VersionID: info.VersionID, Format: format, Compression: compression}
	p.objects++
	p.bytes += info.Size
	first := false
	if p.firstObj == nil && info.Size > 0 {
		r := ref
		p.firstObj = &r
		if err := p.inferSchema(ctx, b, ref); err != nil {
			return err
		}
		first = true
	}
	// Schema drift (drift.go): the object's columns join the union, or
	// are compared with the fixed schema. The first object's inferred
	// schema is where the union starts.
	var header []string
	var groups []int64
	if info.Size > 0 && p.drifts(ref) {
		if p.union == nil {
			s, err := p.inputSchema()
			if err != nil {
				return functions.Permanent(err)
			}
			p.union = newSchemaUnion(p.spec, s, p.given)
		}
		if !first || p.given {
			var err error
			inline := format == manifest.FormatParquet ||
				(format == manifest.FormatCSV && info.Size > p.spec.ChunkBytes && manifest.Splittable(format, compression, p.spec.CSVWhole))
			if !inline {
				err = p.queueDrift(ctx, b, ref)
			} else if err = p.flushDrift(ctx); err == nil { // the union in listing order
				if format == manifest.FormatCSV {
					header, err = p.driftCSV(ctx, b, ref)
				} else {
					groups, err = p.driftParquet(ctx, b, ref)
				}
			}
			if err != nil {
				return err
			}
		}
	}
	var chunks []manifest.Chunk
	switch {
	case format == manifest.FormatParquet:
		if groups == nil {
			var err error
			groups, err = codec.ParquetRowGroupSizes(objstore.NewReaderAt(ctx, b, info.Key, info.ETag, info.Size), info.Size)
			if err != nil {
				return functions.Permanent(fmt.Errorf("input %s: %w", info.Key, err))
			}
		}
		chunks = p.packer.AddParquet(ref, groups)
	case format == manifest.FormatCSV && info.Size > p.spec.ChunkBytes && manifest.Splittable(format, compression, p.spec.CSVWhole):
		if header == nil {
			var err error
			if header, err = readHeader(ctx, b, ref, p.spec); err != nil {
				return err
			}
		}
		chunks = p.packer.AddObject(ref, header)
	default:
		chunks = p.packer.AddObject(ref, nil)
	}
	return p.addChunks(ctx, chunks)
}

// drifts reports whether an object's columns are read at planning: named
// columns (CSV with a header, JSONL, Parquet) and a mode that needs them.
func (p *planRun) drifts(ref manifest.ObjectRef) bool {
	if p.schema == "" || (p.given && p.spec.SchemaMode != manifest.SchemaFixed) {
		return false
	}
	switch ref.Format {
	case manifest.FormatJSONL, manifest.FormatParquet:
		return true
	case manifest.FormatCSV:
		csv, err := csvOptionsOf(p.spec.Args, ref.Key)
		return err == nil && !csv.NoHeader
	}
	return false
}

func (p *planRun) addChunks(ctx context.Context, chunks []manifest.Chunk) error {
	for _, c := range chunks {
		if len(p.shard) == 0 {
			p.shardFirst = append(p.shardFirst, p.chunks)
		}
		p.shard = append(p.shard, c)
		p.shardParts += len(c.Parts)
		p.parts += len(c.Parts)
		p.chunks++
		if p.shardParts >= shardMaxParts || len(p.shard) >= manifest.DefaultShardSize {
			if err := p.flushShard(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *planRun) flushShard(ctx context.Context) error {
	if len(p.shard) == 0 {
		return nil
	}
	idx := len(p.shardFirst) - 1
	if p.dryRun {
		p.shard = p.shard[:0]
		p.shardParts = 0
		return nil
	}
	key := shardKey(p.shardPrefix, idx)
	shard := &manifest.Shard{Version: manifest.Version, Job: p.job, Index: idx, Chunks: p.shard}
	blocks := &manifest.ShardBlocks{}
	p.blocks = append(p.blocks, blocks) // filled by the write, read after it
	p.writes.Go(func() error {          // encoded there too: beside the planning, on another core
		body, offsets, err := manifest.EncodeShard(shard, manifest.DefaultBlockChunks)
		if err != nil {
			return err
		}
		info, err := p.out.Put(p.wctx, key, bytes.NewReader(body), &objstore.PutOptions{ContentType: "application/json", Size: int64(len(body))})
		if err != nil {
			return fmt.Errorf("plan: writing shard %d: %w", idx, err)
		}
		blocks.ETag, blocks.Offsets = info.ETag, offsets
		return nil
	})
	p.shard = nil // the shard's chunks are the write's now
	p.shardParts = 0
	return nil
}

// blockTable returns the manifest's block table (Manifest.ShardBlocks),
// none when a store gave a shard no ETag (its blocks could not be read
// with If-Match) or the plan wrote no shards (a dry run).
func (p *planRun) blockTable() (int, []manifest.ShardBlocks) {
	if len(p.blocks) == 0 || len(p.blocks) != len(p.shardFirst) {
		return 0, nil
	}
	table := make([]manifest.ShardBlocks, len(p.blocks))
	for i, b := range p.blocks {
		if b.ETag == "" {
			return 0, nil
		}
		table[i] = *b
	}
	return manifest.DefaultBlockChunks, table
}

func shardKey(prefix string, i int) string { return fmt.Sprintf("%s%06d.json", prefix, i) }

// discardShards removes this planning pass's shards after losing the race.
func (p *planRun) discardShards(ctx context.Context) {
	_, _ = objstore.DeletePrefix(ctx, p.out, p.shardPrefix)
}

// inferSchema fixes the job's input schema from --arg schema= or a sample
// of the first non-empty object.
func (p *planRun) inferSchema(ctx context.Context, b objstore.Bucket, ref manifest.ObjectRef) error {
	// Options that cannot be read fail the plan, not every chunk.
	if ref.Format == manifest.FormatCSV {
		if _, err := csvOptionsOf(p.spec.Args, ref.Key); err != nil {
			return functions.Permanent(err)
		}
	}
	if ref.Format == manifest.FormatParquet {
		if _, err := codec.ParseParquetArgs(p.spec.Args); err != nil {
			return functions.Permanent(err)
		}
	}
	if given := p.spec.Args["schema"]; given != "" {
		s, err := functions.ParseSchema(given)
		if err != nil {
			return functions.Permanent(fmt.Errorf("--arg schema: %w", err))
		}
		p.schema, p.given = s.String(), true
		return nil
	}
	if s, err := p.functionSchema(ref.Format); err != nil || s != nil {
		if s != nil {
			p.schema, p.given = s.String(), true
		}
		return err
	}
	if fn, err := p.e.cfg.Functions.Lookup(p.spec.Function); err == nil {
		ti, ok := fn.(functions.TextInputer)
		p.text = ok && ti.TextInput()
	}
	switch ref.Format {
	case manifest.FormatLines:
		return nil
	case manifest.FormatParquet:
		s, _, err := codec.ParquetSchema(objstore.NewReaderAt(ctx, b, ref.Key, ref.ETag, ref.Size), ref.Size)
		if err != nil {
			return functions.Permanent(fmt.Errorf("input %s: %w", ref.Key, err))
		}
		p.schema = s.String()
		return nil
	}
	rc, _, err := b.Get(ctx, ref.Key, &objstore.GetOptions{Length: sampleBytes, IfMatch: ref.ETag})
	if err != nil {
		return fmt.Errorf("sampling %s: %w", ref.Key, err)
	}
	defer rc.Close()
	var r io.Reader = rc
	if ref.Compression != "" {
		d, err := codec.Decompress(rc, ref.Compression, sampleBytes*64, ref.Key)
		if err != nil {
			return functions.Permanent(err)
		}
		defer d.Close()
		r = io.LimitReader(d, sampleBytes)
	}
	var s *functions.Schema
	if ref.Format == manifest.FormatCSV {
		var csv codec.CSVOptions
		if csv, err = csvOptionsOf(p.spec.Args, ref.Key); err != nil {
			return functions.Permanent(err)
		}
		s, err = codec.InferCSVSchema(&tolerantReader{r: r}, csv, nil, sampleRecords)
	} else {
		s, err = codec.InferSchema(&tolerantReader{r: r}, ref.Format, nil, sampleRecords)
	}
	if err != nil {
		return functions.Permanent(inferError(ref.Key, err))
	}
	p.schema = p.asText(s).String()
	return nil
}

// asText returns s with every column a string when the function reads
// CSV and JSONL columns as text (p.text), else s.
func (p *planRun) asText(s *functions.Schema) *functions.Schema {
	if !p.text {
		return s
	}
	out := &functions.Schema{Columns: make([]functions.Column, len(s.Columns))}
	for i, c := range s.Columns {
		out.Columns[i] = functions.Column{Name: c.Name, Type: functions.String}
	}
	return out
}

// functionSchema asks the job's function how to read its input (see
// functions.InputSchemer); nil means infer it.
func (p *planRun) functionSchema(format string) (*functions.Schema, error) {
	fn, err := p.e.cfg.Functions.Lookup(p.spec.Function)
	if err != nil {
		return nil, functions.Permanent(err)
	}
	is, ok := fn.(functions.InputSchemer)
	if !ok {
		return nil, nil
	}
	s, err := is.InputSchema(p.spec.Args, format)
	if err != nil {
		return nil, functionError(p.spec.Function, err)
	}
	return s, nil
}

// tolerantReader turns the error of a sample cut short (a truncated
// decompression of the first megabyte) into EOF: inference only needs a
// prefix.
type tolerantReader struct{ r io.Reader }

func (t *tolerantReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if err != nil && err != io.EOF {
		return n, io.EOF
	}
	return n, err
}

func (p *planRun) inputSchema() (*functions.Schema, error) {
	if p.schema == "" {
		return functions.LinesSchema, nil
	}
	return functions.ParseSchema(p.schema)
}

// readHeader reads a CSV object's header row (decompressing it).
func readHeader(ctx context.Context, b objstore.Bucket, ref manifest.ObjectRef, spec manifest.JobSpec) ([]string, error) {
	csv, err := csvOptionsOf(spec.Args, ref.Key)
	if err != nil {
		return nil, functions.Permanent(err)
	}
	rc, _, err := b.Get(ctx, ref.Key, &objstore.GetOptions{Length: -1, IfMatch: ref.ETag})
	if err != nil {
		return nil, fmt.Errorf("reading the header of %s: %w", ref.Key, err)
	}
	defer rc.Close()
	var r io.Reader = rc
	if ref.Compression != "" {
		d, err := codec.Decompress(rc, ref.Compression, spec.MaxDecompressedBytes, ref.Key)
		if err != nil {
			return nil, functions.Permanent(err)
		}
		defer d.Close()
		r = d
	}
	h, err := codec.ReadCSVHeader(io.LimitReader(r, spec.MaxRecordBytes), csv)
	if err != nil {
		return nil, functions.Permanent(fmt.Errorf("reading the header of %s: %w", ref.Key, err))
	}
	return h, nil
}

// readManifest loads a job's manifest.
func (e *Engine) readManifest(ctx context.Context, b objstore.Bucket, layout manifest.Layout, job string) (*manifest.Manifest, error) {
	body, err := readAll(ctx, b, layout.ManifestKey(job), 64<<20)
	if err != nil {
		return nil, err
	}
	return manifest.DecodeManifest(body)
}

// readAll reads a small object whole, refusing one larger than limit.
func readAll(ctx context.Context, b objstore.Bucket, key string, limit int64) ([]byte, error) {
	body, _, err := readAllTag(ctx, b, key, limit)
	return body, err
}

// readAllTag is readAll that also returns the ETag of the version read.
func readAllTag(ctx context.Context, b objstore.Bucket, key string, limit int64) ([]byte, string, error) {
	rc, info, err := b.Get(ctx, key, &objstore.GetOptions{Length: -1})
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	if info.Size > limit {
		return nil, "", fmt.Errorf("%s is %d bytes, more than the %d expected", key, info.Size, limit)
	}
	// Read into the object's size at once: io.ReadAll's doubling held up
	// to twice a manifest shard's bytes, in each worker of the scale
	// simulation that moved on to a new shard.
	buf := bytes.NewBuffer(make([]byte, 0, max(0, info.Size)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(rc, limit+1)); err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", key, err)
	}
	return buf.Bytes(), info.ETag, nil
}

// checkOutputFormat fails early when the output format cannot hold the
// function's output (for example lines for a many-column output).
func checkOutputFormat(spec manifest.JobSpec, out *functions.Schema) error {
	fileSchema := &functions.Schema{}
	for _, c := range out.Columns {
		if !slices.Contains(spec.PartitionBy, c.Name) {
			fileSchema.Columns = append(fileSchema.Columns, c)
		}
	}
	w, err := codec.NewWriter(io.Discard, spec.OutputFormat, fileSchema, codec.WriterOptions{})
	if err != nil {
		return functions.Permanent(fmt.Errorf("--out-format %s: %w", spec.OutputFormat, err))
	}
	return w.Close()
}

// functionError is a function's refusal of its arguments: permanent, and
// named once (functions name themselves in their errors: "convert: ...").
func functionError(name string, err error) error {
	if strings.HasPrefix(err.Error(), name+": ") {
		return functions.Permanent(err)
	}
	return functions.Permanent(fmt.Errorf("function %s: %w", name, err))
}

// inferError says why the schema of object key could not be inferred and
// what to do: a header that cannot name the columns is the file's to fix
// (a schema= would still match its columns by name), anything else is
// given a schema.
func inferError(key string, err error) error {
	if errors.As(err, new(*codec.HeaderError)) {
		return CSVHeaderError(key, err)
	}
	return fmt.Errorf("inferring the schema of %s: %w (give it with --arg schema=name:type,...)", key, err)
}

// CSVHeaderError says that the CSV header of object key cannot name its
// columns (err wraps a *codec.HeaderError) and what to do about it. The
// planner and fanout infer give the same message.
func CSVHeaderError(key string, err error) error {
	return fmt.Errorf("%s: %w: fix the header in the file, or read the header line as data with --arg header=false (columns column0, column1, ...)", key, err)
}
