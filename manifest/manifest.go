// Package manifest is fanout's pure data: the job specification, the
// manifest of chunks a planner writes, the per-chunk commit marker, the job
// commit record, the key layout under an output prefix, and the pure
// functions that split objects into chunks and pack small objects
// together. It does no I/O beyond the readers and writers it is handed and
// imports nothing of the project.
//
// Every document (Manifest, Shard, ChunkMarker, CommitRecord, FileList)
// carries a Version; Encode writes any of them and the Decode functions read them
// strictly: an unsupported version, trailing data or a broken invariant is
// an error (never a panic), so that a worker never acts on a corrupt or
// future document. Unknown fields are tolerated so that a later release may
// add optional fields without bumping Version.
//
// Planning is streaming: a Packer takes objects one at a time and hands
// back the chunks completed so far, so that a listing of a million objects
// never sits in memory at once. Layout builds every key a job writes.
package manifest

import (
	"time"
)

// Version is the schema version written into every JSON document of this
// package. Decoders refuse documents whose version is newer than Version or
// below 1 (ErrUnsupportedVersion).
const Version = 1

// Input formats. FormatAuto picks the format from the key's extension (see
// DetectFormat). Output formats are FormatParquet, FormatJSONL, FormatCSV
// and FormatLines.
const (
	FormatAuto    = "auto"
	FormatLines   = "lines"
	FormatCSV     = "csv"
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
)

// Compressions, chosen by the object's key extension.
const (
	CompressionNone  = ""
	CompressionGzip  = "gzip"
	CompressionZstd  = "zstd"
	CompressionBzip2 = "bzip2"
)

// JobSpec is everything that defines a job. The job ID is derived from it
// (see JobID) so that submitting the same spec over the same input listing
// twice is one job.
//
// A spec is normally completed with WithDefaults and then checked with
// Validate.
type JobSpec struct {
	// Version is the spec's schema version (WithDefaults sets it).
	Version int `json:"version"`
	// Inputs are URLs such as s3://bucket/prefix/ or file:///abs/dir/; a
	// final path element may hold a glob (*, ?, [..]).
	Inputs []string `json:"inputs"`
	// Inventories are URLs of S3 Inventory reports' manifest.json files
	// (CSV or Parquet data files): the objects they list are the job's
	// inputs, planned without listing the bucket.
	Inventories []string `json:"inventories,omitempty"`
	// KeyLists are URLs of text objects (gz, zst, bz2 allowed) that name
	// one input object a line, by key in the list's own store or by URL;
	// a .csv list is S3 Batch Operations' bucket,key[,version] form.
	KeyLists []string `json:"key_lists,omitempty"`
	// ListDirs lists each S3 input prefix by its sub-prefixes (the
	// delimiter "/"), several at once from the start. Without it a long
	// listing still splits into ranges listed at once, at the
	// sub-prefixes when its first page shows more than one. How the
	// inputs are listed does not change what is planned: it is not part
	// of the job's ID.
	ListDirs bool `json:"list_dirs,omitempty"`
	// Format is the input format: auto, lines, csv, jsonl or parquet.
	Format string `json:"format"`
	// Function is the registered function's name; Args its --arg pairs.
	Function string            `json:"function"`
	Args     map[string]string `json:"args,omitempty"`
	// Output is the output URL (a prefix); OutputFormat parquet, jsonl, csv
	// or lines.
	Output       string   `json:"output"`
	OutputFormat string   `json:"output_format"`
	PartitionBy  []string `json:"partition_by,omitempty"`
	// SortBy orders the rows within each output file (--sort-by); empty
	// leaves them in the order the function wrote them. Partition columns
	// cannot be keys (they have one value in a file).
	SortBy []SortKey `json:"sort_by,omitempty"`
	// RowGroupRows and RowGroupBytes bound a Parquet output file's row
	// groups (--row-group-size, --row-group-bytes): a row group ends at
	// whichever comes first, RowGroupBytes counting the values'
	// uncompressed bytes. Zero means the Parquet writer's defaults (a
	// million rows, 128 MiB: codec.DefaultRowGroupRows and
	// DefaultRowGroupBytes); WithDefaults leaves them zero so that specs
	// written before the fields existed keep their job IDs.
	RowGroupRows  int   `json:"row_group_rows,omitempty"`
	RowGroupBytes int64 `json:"row_group_bytes,omitempty"`
	// Schema is the input schema in name:type,... form, given by the user
	// or inferred by the planner ("" for lines).
	Schema string `json:"schema,omitempty"`
	// CSVWhole processes each CSV object whole so that quoted fields may
	// hold newlines.
	CSVWhole bool `json:"csv_whole,omitempty"`
	// ChunkBytes is the target chunk size; MaxObjectsPerChunk bounds how
	// many small objects are packed into one chunk.
	ChunkBytes         int64 `json:"chunk_bytes"`
	MaxObjectsPerChunk int   `json:"max_objects_per_chunk"`
	// MaxAttempts bounds deliveries and failures per chunk.
	MaxAttempts int `json:"max_attempts"`
	// Lease is the lease duration.
	Lease Duration `json:"lease"`
	// BackupAfter starts a backup attempt of a task that has run longer
	// than BackupAfter times the median of the job's recent tasks (and at
	// least BackupMinAge); 0 disables backups.
	BackupAfter float64 `json:"backup_after,omitempty"`
	// MaxFailed is the failure tolerance: "" or "0" for none, "N" chunks or
	// "P%" of chunks.
	MaxFailed string `json:"max_failed,omitempty"`
	// Reducers is the number of reduce partitions (0: map-only).
	Reducers int `json:"reducers,omitempty"`
	// MaxRejected is the tolerance for records a function rejected (see
	// functions.Rejecter): "" for any number, "N" records or "P%" of the
	// records read. Past it the commit fails and publishes nothing.
	MaxRejected string `json:"max_rejected,omitempty"`
	// OnError says what a record the reader cannot read (a wrong number of
	// CSV fields, bad quoting, invalid JSON or UTF-8, a value that does not
	// parse as its column's type) does: "" or OnErrorFail fails its chunk,
	// OnErrorReject writes it to <out>/_rejected/ with its object, offset
	// and reason and counts it, OnErrorSkip drops it and counts it. Both
	// counts are bounded by MaxRejected.
	OnError string `json:"on_error,omitempty"`
	// SchemaMode says how the columns of objects that differ are matched
	// (by name, always): "" or SchemaUnion reads every object's columns
	// at planning (a CSV header, a JSONL sample, a Parquet footer) and
	// makes the job's schema their union, a column an object lacks being
	// null; SchemaFixed keeps the schema of --arg schema= (or of the first
	// object) and fails the plan on an object whose columns differ,
	// naming it and the difference.
	SchemaMode string `json:"schema_mode,omitempty"`
	// MaxRecordBytes caps one record's size; MaxDecompressedBytes caps one
	// compressed object's inflated size.
	MaxRecordBytes       int64 `json:"max_record_bytes"`
	MaxDecompressedBytes int64 `json:"max_decompressed_bytes"`
	// Nonce, when set, makes the job ID differ from an earlier identical
	// submission (a forced re-run).
	Nonce string `json:"nonce,omitempty"`
	// Overwrite lets the job take over an output that holds another job's
	// committed result and replace it at its commit (--overwrite; see
	// fanout/owner.go). Part of the job ID: the same spec with and without
	// it are two jobs.
	Overwrite bool `json:"overwrite,omitempty"`
	// AnyFunctionVersion lets workers with any version of the function
	// run the job's chunks. By default a job runs only on workers that
	// have the version of its function it was planned with
	// (Manifest.FunctionVersion), so that two builds of one function are
	// never mixed in its output.
	AnyFunctionVersion bool `json:"any_function_version,omitempty"`
	// TargetFileSize is the size the job's committed files should have
	// (--target-file-size): files rotate at it, and a map-only job's small
	// files of one partition are merged into files of about this size by a
	// compaction stage before the commit (see fanout/compactor.go). 0
	// means the default (DefaultTargetFileSize for Parquet output
	// partitioned by columns or aggregated by reduce tasks, else off:
	// ResolvedTargetFileSize); a
	// negative value turns right-sizing off. Left out of the encoding when
	// 0, so that specs written before it keep their job IDs.
	TargetFileSize int64 `json:"target_file_size,omitempty"`
	// MaxRowsPerFile, when positive, ends an output file at that many
	// rows (--max-rows-per-file), and bounds what compaction merges.
	MaxRowsPerFile int64 `json:"max_rows_per_file,omitempty"`
}

// DefaultTargetFileSize is the target size of committed Parquet files of a
// partitioned job unless the spec says otherwise: the size Athena, Trino,
// Spark and DuckDB read best (Spark's maxPartitionBytes, Iceberg's default
// target).
const DefaultTargetFileSize = 128 << 20

// ResolvedTargetFileSize is the target file size of a job with this spec,
// 0 when right-sizing is off: the spec's own, or DefaultTargetFileSize for
// Parquet output partitioned by columns or written by reduce tasks
// (aggregating, the function has a reduce stage); a map-only job without
// partitions writes a file per chunk unless asked.
func (s JobSpec) ResolvedTargetFileSize(aggregating bool) int64 {
	switch {
	case s.TargetFileSize > 0:
		return s.TargetFileSize
	case s.TargetFileSize < 0:
		return 0
	}
	format := s.OutputFormat
	if format == "" {
		format = DefaultOutputFormat
	}
	if format == FormatParquet && (len(s.PartitionBy) > 0 || aggregating) {
		return DefaultTargetFileSize
	}
	return 0
}

// Duration is a time.Duration that encodes in JSON as a Go duration string
// ("30s"). It also decodes from a JSON number of nanoseconds.
type Duration time.Duration

// ObjectRef pins one input object.
type ObjectRef struct {
	// Store is the object's bucket URL without the key, e.g. s3://bucket
	// or file:///data (the store to open).
	Store     string `json:"store"`
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"etag"`
	VersionID string `json:"version_id,omitempty"`
	// Format and Compression are resolved by the planner.
	Format      string `json:"format"`
	Compression string `json:"compression,omitempty"`
}

// Part is the piece of one object a chunk reads.
//
// Record ownership rule: a part with byte range [s, e) owns exactly the
// records whose first byte lies in [s, e). A reader therefore:
//
//   - when s > 0, looks at byte s-1: if it is '\n', a record starts at s;
//     otherwise it skips through the next '\n' (the record straddling s
//     belongs to the previous range), and owns nothing if there is no '\n'
//     at or after s;
//   - reads records while the first byte of the next record lies before e,
//     reading past e as far as needed to finish its last record, however
//     long (a record starting exactly at e belongs to the next range);
//   - with End = -1, reads to the end of the object.
//
// So no record is lost or read twice at a boundary, whatever the line
// lengths, and every range can be read without knowing its neighbours. For
// CSV, the range starting at 0 owns the header line and skips it; every
// range gets the column names from Header. CSV whose quoted fields may hold
// newlines is never split (JobSpec.CSVWhole).
type Part struct {
	Object ObjectRef `json:"object"`
	// Start and End bound the owned byte range [Start, End) of the
	// (uncompressed, splittable) object, following the ownership rule
	// above. End = -1 means to the end of the object; otherwise
	// End > Start. Whole objects have Start 0 and End -1.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// FirstRowGroup and LastRowGroup bound the Parquet row groups
	// [First, Last) read; both zero means every row group.
	FirstRowGroup int `json:"first_row_group,omitempty"`
	LastRowGroup  int `json:"last_row_group,omitempty"`
	// Header holds the CSV object's column names, so that chunks not
	// starting at byte 0 know them.
	Header []string `json:"header,omitempty"`
}

// Chunk is one unit of work: one or more parts.
type Chunk struct {
	ID    string `json:"id"`
	Parts []Part `json:"parts"`
	// Bytes is the sum of the parts' owned bytes: the object size for
	// whole objects (compressed bytes for compressed ones), the range
	// length for byte ranges, the row groups' bytes for Parquet runs.
	Bytes int64 `json:"bytes"`
}

// Manifest is the root document of a job, written once at
// Layout.ManifestKey. Chunks are in shards of at most ShardSize chunks;
// shard i holds the chunks with index in [i*ShardSize, (i+1)*ShardSize).
type Manifest struct {
	Version   int       `json:"version"`
	Job       string    `json:"job"`
	Spec      JobSpec   `json:"spec"`
	Created   time.Time `json:"created"`
	Chunks    int       `json:"chunks"`
	Shards    int       `json:"shards"`
	ShardSize int       `json:"shard_size"`
	// ShardPrefix is where this plan wrote its shards (shard i at
	// ShardPrefix + "%06d.json"); each planning attempt has its own, so two
	// planners racing on one job never mix shards: the one whose manifest
	// is created first wins. Empty means Layout.ShardKey.
	ShardPrefix string `json:"shard_prefix,omitempty"`
	// ShardFirst holds the index of the first chunk of each shard when
	// shards are cut by size rather than every ShardSize chunks.
	ShardFirst []int `json:"shard_first,omitempty"`
	Objects    int64 `json:"objects"`
	Bytes      int64 `json:"bytes"`
	// Schema is the input schema the workers read with (name:type,...).
	Schema string `json:"schema,omitempty"`
	// Format is the one input format of the job's objects.
	Format string `json:"format,omitempty"`
	// Reducers is the number of reduce partitions of an aggregating job
	// (its function's task is a functions.Reducer); 0 for map-only jobs.
	Reducers int `json:"reducers,omitempty"`
	// FunctionVersion is the version of the job's function its planner
	// had (functions.VersionOf); only workers with that version run the
	// job's chunks. Empty when the spec allows any version
	// (AnyFunctionVersion), and in manifests written before jobs recorded
	// it.
	FunctionVersion string `json:"function_version,omitempty"`
	// TargetFileSize is the job's target size of committed files
	// (JobSpec.ResolvedTargetFileSize at planning), 0 when right-sizing is
	// off, as in manifests written before it: such jobs run as they were
	// planned. MaxRowsPerFile is the spec's.
	TargetFileSize int64 `json:"target_file_size,omitempty"`
	MaxRowsPerFile int64 `json:"max_rows_per_file,omitempty"`
	// Signature, when the submitter holds a spec key, is Sign's HMAC of
	// the manifest under it: workers configured with the same key run
	// only jobs whose manifests carry a valid one.
	Signature string `json:"signature,omitempty"`
	// BlockChunks and ShardBlocks locate each shard's chunks by byte
	// range, so that a worker reads the block of BlockChunks chunks that
	// holds the one it runs (a ranged GET of some KiB) instead of the
	// whole shard (see ShardBlocks). Both are empty in manifests written
	// before them, whose shards are read whole: their presence, not
	// Version, says which, so that a worker of either build reads a
	// manifest of the other.
	BlockChunks int           `json:"block_chunks,omitempty"`
	ShardBlocks []ShardBlocks `json:"shard_blocks,omitempty"`
}

// ShardBlocks is the block table of one shard: block k holds the shard's
// chunks [k*BlockChunks, (k+1)*BlockChunks) (the last may hold fewer),
// whose JSON is the shard's bytes [Offsets[k], Offsets[k+1]): the chunks
// separated by commas, a comma after the last but in the last block
// (SplitBlock reads it).
type ShardBlocks struct {
	// ETag is the shard's as the planner wrote it: a block is read with
	// If-Match on it, so that a shard replaced since is refused rather
	// than cut at offsets that are no longer its own.
	ETag string `json:"etag"`
	// Offsets holds the byte offset of each block's first chunk, then
	// the offset just past the shard's last chunk: one more than the
	// blocks.
	Offsets []int64 `json:"offsets"`
}

// Shard is one manifest shard document.
type Shard struct {
	Version int     `json:"version"`
	Job     string  `json:"job"`
	Index   int     `json:"index"`
	Chunks  []Chunk `json:"chunks"`
}

// OutputFile is one committed (or staged) output file.
type OutputFile struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag,omitempty"`
	Rows int64  `json:"rows"`
	// Partition is the Hive-style partition path ("a=1/b=x"), "" when
	// unpartitioned.
	Partition string `json:"partition,omitempty"`
	// Partitions bounds the reduce partitions of a map chunk's shuffle
	// file: partition p is the byte range [Partitions[p], Partitions[p+1]).
	Partitions []int64 `json:"partitions,omitempty"`
	// SHA256 of the file's bytes, hex.
	SHA256 string `json:"sha256,omitempty"`
	// Upload is set when the file was written as an open multipart upload
	// of its final key (Key): nothing of it is visible until the commit
	// completes the upload. Without it, Key is a staged object the commit
	// links or copies into place.
	Upload *Upload `json:"upload,omitempty"`
}

// Upload names an open S3 multipart upload and its parts, all that
// completing it needs.
type Upload struct {
	ID    string       `json:"id"`
	Parts []UploadPart `json:"parts"`
}

// UploadPart is one part of an Upload.
type UploadPart struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

// ChunkMarker is created once per chunk with If-None-Match: *. The first
// finished attempt's marker is the chunk's truth.
type ChunkMarker struct {
	Version int    `json:"version"`
	Job     string `json:"job"`
	Chunk   string `json:"chunk"`
	Epoch   int64  `json:"epoch"`
	Worker  string `json:"worker,omitempty"`
	// State is MarkerDone or MarkerFailed.
	State string `json:"state"`
	// Reason says why a failed chunk failed; it is required when State is
	// MarkerFailed.
	Reason     string       `json:"reason,omitempty"`
	Files      []OutputFile `json:"files,omitempty"`
	RecordsIn  int64        `json:"records_in"`
	RecordsOut int64        `json:"records_out"`
	BytesIn    int64        `json:"bytes_in"`
	// Inputs pins the ETags read: key -> ETag.
	Inputs   map[string]string `json:"inputs,omitempty"`
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Attempts int               `json:"attempts,omitempty"`
	// Backup is true when a backup attempt at the straggling chunk won.
	Backup bool `json:"backup,omitempty"`
	// Generation is, on a failed marker, the job's redrive generation
	// (RedriveRecord) its writer read before it saw the task dead: a
	// failed marker of an older generation than the job's is stale (the
	// task was redriven since) and counts as no marker. Absent (markers
	// written before generations existed): generation 0.
	Generation int64 `json:"generation,omitempty"`
	// MemoryMB is the Lambda function's memory when the attempt ran on
	// AWS Lambda (for the GB-second estimate); zero elsewhere.
	MemoryMB int `json:"memory_mb,omitempty"`
	// Shuffle names the shuffle index a reduce task's attempt read (the
	// ID in its key, Layout.ReduceMarkerKey); the commit refuses a reduce
	// marker that names another index than the job's.
	Shuffle string `json:"shuffle,omitempty"`
	// Plan names the compaction plan a compaction task's attempt read
	// (the ID in its key, Layout.CompactMarkerKey), for the same check.
	Plan string `json:"plan,omitempty"`
	// Rejections are the records the function rejected (the validate
	// function's invalid records) and their side-output files.
	Rejections
}

// Rejections describes the records a job's function rejected: how many,
// per rule and per column (a record that broke several rules, or rules
// about several columns, counts once under each), the rejected-record
// files (JSON lines under _rejected/) and the function's named counters
// (validate counts cleansing: trim.region, coerce.amount, ...). A chunk
// marker holds its winning attempt's; the commit record sums them.
type Rejections struct {
	Rejected int64 `json:"rejected,omitempty"`
	// Skipped counts the malformed records dropped under OnErrorSkip.
	Skipped          int64            `json:"skipped,omitempty"`
	RejectedByRule   map[string]int64 `json:"rejected_by_rule,omitempty"`
	RejectedByColumn map[string]int64 `json:"rejected_by_column,omitempty"`
	RejectedFiles    []OutputFile     `json:"rejected_files,omitempty"`
	Counters         map[string]int64 `json:"counters,omitempty"`
	// Drift holds, by input object key, how the object's columns differed
	// from the job's schema; objects that match it are absent.
	Drift map[string]ObjectDrift `json:"drift,omitempty"`
}

// ObjectDrift is how one input object's columns differed from the job's
// schema, counted over the records read from it: Filled, per schema
// column, the records given null because the object lacks the column (a
// CSV header or Parquet file without it, a JSON object without the key);
// Dropped, per column of the object the schema lacks, the values read and
// left out; AsJSON, per string column (or nested field "a.b") of a JSONL
// object, the arrays and objects kept as their JSON text (the column's
// sampled values had more than one shape, or its type is string).
type ObjectDrift struct {
	Filled  map[string]int64 `json:"filled,omitempty"`
	Dropped map[string]int64 `json:"dropped,omitempty"`
	AsJSON  map[string]int64 `json:"as_json,omitempty"`
}

// Marker states.
const (
	MarkerDone   = "done"
	MarkerFailed = "failed"
)

// CommitVersion is the version of the commit records this build writes:
// version 2 lists its files in parts (FileParts), separate objects written
// before the record; version 1 (the records of earlier releases, still
// read) holds them inline (Files). Every other document is at Version.
const CommitVersion = 2

// CommitRecord is the job's commit, created once with If-None-Match: * at
// Layout.CommitKey; _SUCCESS follows it.
//
// The committed data files are listed in parts (FileParts, version 2):
// FileList objects of up to some thousands of files each, written under
// Layout.CommitPartsPrefix before the record and named by it with their
// ETag, size and number of files, so that neither the committer nor a
// reader holds more than one part's files at once (a record of a million
// files inline was hundreds of MB, decoded whole by every reader). The
// commit stays one conditional create of the record: parts it does not
// name (a losing committer's, a crashed one's) are garbage, removed after
// the commit and by fanout gc.
type CommitRecord struct {
	Version   int       `json:"version"`
	Job       string    `json:"job"`
	Committed time.Time `json:"committed"`
	// Files lists the committed data files inline: version 1 only.
	Files []OutputFile `json:"files,omitempty"`
	// FileCount is the number of committed data files (version 2: the
	// sum of FileParts' counts).
	FileCount int `json:"file_count,omitempty"`
	// FileParts lists the FileList objects that hold the committed data
	// files, in order (version 2).
	FileParts  []FilePart    `json:"file_parts,omitempty"`
	Chunks     int           `json:"chunks"`
	Failed     []FailedChunk `json:"failed,omitempty"`
	RecordsIn  int64         `json:"records_in"`
	RecordsOut int64         `json:"records_out"`
	BytesIn    int64         `json:"bytes_in"`
	BytesOut   int64         `json:"bytes_out"`
	Timings    Timings       `json:"timings"`
	// Retries counts the deliveries of the winning attempts beyond each
	// task's first; Backups the tasks whose backup attempt won.
	Retries int `json:"retries"`
	Backups int `json:"backups,omitempty"`
	// S3Requests estimates the requests the job made to object storage:
	// planning, every winning attempt's reads and writes, and the commit
	// (retried requests and losing attempts are not counted).
	S3Requests int64 `json:"s3_requests_estimate"`
	// LambdaGBSeconds estimates the Lambda compute of the winning attempts
	// that ran on AWS Lambda: chunk time times function memory. Invocation
	// overhead and idle polling are not counted.
	LambdaGBSeconds float64 `json:"lambda_gb_seconds,omitempty"`
	// Replaces is the job whose committed output this commit replaced
	// (--overwrite): _SUCCESS named it until this commit's record existed,
	// and its files are deleted after _SUCCESS names this job.
	Replaces string `json:"replaces,omitempty"`
	// Rejections sums the chunk markers' counts. Their rejected-record
	// files (at their committed keys, under <out>/_rejected/) are listed
	// in parts like the data files (RejectedParts, RejectedCount) by this
	// release; version 2 records of earlier releases hold them inline
	// (Rejections.RejectedFiles), as version 1 records do.
	Rejections
	// RejectedCount is the number of committed rejected-record files in
	// RejectedParts; RejectedParts lists the FileList objects that hold
	// them, in order.
	RejectedCount int        `json:"rejected_count,omitempty"`
	RejectedParts []FilePart `json:"rejected_parts,omitempty"`
	// Partitions counts the committed data files and their bytes and rows
	// per partition (its Hive path, "" for an unpartitioned output), in
	// path order. Compacted counts the small files of the map stage that
	// the compaction stage merged, CompactTasks its tasks.
	Partitions   []PartitionFiles `json:"partitions,omitempty"`
	Compacted    int              `json:"compacted,omitempty"`
	CompactTasks int              `json:"compact_tasks,omitempty"`
}

// NumFiles is the number of committed data files, of either version.
func (c *CommitRecord) NumFiles() int {
	if c.Version >= CommitVersion {
		return c.FileCount
	}
	return len(c.Files)
}

// NumRejectedFiles is the number of committed rejected-record files,
// listed in parts or inline.
func (c *CommitRecord) NumRejectedFiles() int {
	return c.RejectedCount + len(c.RejectedFiles)
}

// FilePart names one FileList of a commit record: its key, the ETag and
// size it was written with, and the number of files it holds.
type FilePart struct {
	Key   string `json:"key"`
	ETag  string `json:"etag"`
	Size  int64  `json:"size"`
	Files int    `json:"files"`
}

// FileList is one part of a commit record's files (CommitRecord.FileParts,
// or RejectedParts for its rejected-record files): part Part of that list
// of job Job's committed files, written at a key under
// Layout.CommitPartsPrefix before the record that names it.
type FileList struct {
	Version int          `json:"version"`
	Job     string       `json:"job"`
	Part    int          `json:"part"`
	Files   []OutputFile `json:"files"`
}

// PartitionFiles is what one partition of a committed output holds.
type PartitionFiles struct {
	Partition string `json:"partition"`
	Files     int    `json:"files"`
	Bytes     int64  `json:"bytes"`
	Rows      int64  `json:"rows"`
	// Small counts the files under half the job's target file size (64
	// MiB when right-sizing is off) and, with --max-rows-per-file, under
	// half of its rows: a file full by rows is not small.
	Small int `json:"small,omitempty"`
}

// FailedChunk is a chunk left out of a job committed within its failure
// tolerance.
type FailedChunk struct {
	Chunk string `json:"chunk"`
	// Reason is required.
	Reason string `json:"reason"`
}

// Timings summarises chunk durations.
type Timings struct {
	ChunkP50 Duration `json:"chunk_p50"`
	ChunkP95 Duration `json:"chunk_p95"`
	ChunkMax Duration `json:"chunk_max"`
	Wall     Duration `json:"wall"`
}
