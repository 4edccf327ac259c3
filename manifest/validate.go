package manifest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is matched (with errors.Is) by every error reporting a
// malformed document: bad JSON, trailing data, or a broken invariant.
// Retrying cannot help with such an error.
var ErrInvalid = errors.New("manifest: invalid document")

// ErrUnsupportedVersion is matched by the error reporting a document whose
// version this build cannot read (newer than Version, or below 1).
var ErrUnsupportedVersion = errors.New("unsupported version")

// invalidError marks err as matching ErrInvalid.
type invalidError struct{ err error }

func (e *invalidError) Error() string        { return e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// invalid wraps err, a problem found in the document kind, as an
// ErrInvalid error.
func invalid(kind string, err error) error {
	return &invalidError{fmt.Errorf("manifest: %s: %w", kind, err)}
}

// checkVersion reports a version this build cannot read.
func checkVersion(kind string, v int) error {
	newest := Version
	if kind == "commit" {
		newest = CommitVersion
	}
	if v < 1 || v > newest {
		return fmt.Errorf("manifest: %s: %w %d (this build reads versions 1 to %d)", kind, ErrUnsupportedVersion, v, newest)
	}
	return nil
}

// Validate checks the manifest's invariants: a supported version, a job
// ID, a valid spec, counts that are not negative, and shards that hold
// every chunk (ShardCount(Chunks, ShardSize) of them, or those listed in
// ShardFirst, none holding more than ShardSize chunks).
func (m *Manifest) Validate() error {
	if err := checkVersion("manifest", m.Version); err != nil {
		return err
	}
	if !ValidJobID(m.Job) {
		return invalid("manifest", fmt.Errorf("job %q is not a job ID", truncate(m.Job, 40)))
	}
	if err := m.Spec.Validate(); err != nil {
		return &invalidError{err}
	}
	if err := m.checkShards(); err != nil {
		return invalid("manifest "+m.Job, err)
	}
	if err := m.checkBlocks(); err != nil {
		return invalid("manifest "+m.Job, err)
	}
	switch {
	case m.Objects < 0:
		return invalid("manifest "+m.Job, fmt.Errorf("objects %d is negative", m.Objects))
	case m.Bytes < 0:
		return invalid("manifest "+m.Job, fmt.Errorf("bytes %d is negative", m.Bytes))
	case m.Format != "" && !isConcreteFormat(m.Format):
		return invalid("manifest "+m.Job, fmt.Errorf("format %q is not lines, csv, jsonl or parquet", truncate(m.Format, 40)))
	case m.ShardPrefix != "" && !strings.HasSuffix(m.ShardPrefix, "/"):
		return invalid("manifest "+m.Job, fmt.Errorf("shard prefix %q does not end in a slash", truncate(m.ShardPrefix, 200)))
	}
	return nil
}

func (m *Manifest) checkShards() error {
	switch {
	case m.Chunks < 0:
		return fmt.Errorf("chunks %d is negative", m.Chunks)
	case m.ShardSize <= 0:
		return fmt.Errorf("shard size %d is not positive", m.ShardSize)
	case m.Shards < 0:
		return fmt.Errorf("shards %d is negative", m.Shards)
	}
	if len(m.ShardFirst) == 0 {
		if want := ShardCount(m.Chunks, m.ShardSize); m.Shards != want {
			return fmt.Errorf("%d shards for %d chunks in shards of %d, want %d", m.Shards, m.Chunks, m.ShardSize, want)
		}
		return nil
	}
	if len(m.ShardFirst) != m.Shards {
		return fmt.Errorf("shard_first lists %d shards, want shards %d", len(m.ShardFirst), m.Shards)
	}
	if m.ShardFirst[0] != 0 {
		return fmt.Errorf("shard 0 starts at chunk %d, want 0", m.ShardFirst[0])
	}
	for i := range m.ShardFirst {
		first, end := m.ShardBounds(i)
		if end <= first || end-first > m.ShardSize || end > m.Chunks {
			return fmt.Errorf("shard %d holds chunks [%d, %d) of %d, want 1 to %d of them", i, first, end, m.Chunks, m.ShardSize)
		}
	}
	return nil
}

// ShardBounds returns the indexes [first, end) of the chunks shard i
// holds. It assumes a valid manifest and 0 <= i < Shards.
func (m *Manifest) ShardBounds(i int) (first, end int) {
	if len(m.ShardFirst) == 0 {
		first = i * m.ShardSize
		// Written so as not to overflow near the largest int.
		if m.Chunks-first < m.ShardSize {
			return first, m.Chunks
		}
		return first, first + m.ShardSize
	}
	first = m.ShardFirst[i]
	if i+1 < len(m.ShardFirst) {
		return first, m.ShardFirst[i+1]
	}
	return first, m.Chunks
}

// ShardOfChunk returns the shard holding the chunk of index chunkIndex
// (0 <= chunkIndex < Chunks) in a valid manifest.
func (m *Manifest) ShardOfChunk(chunkIndex int) int {
	if len(m.ShardFirst) == 0 {
		return ShardOf(chunkIndex, m.ShardSize)
	}
	// The last shard whose first chunk is at or before chunkIndex.
	return sort.Search(len(m.ShardFirst), func(i int) bool { return m.ShardFirst[i] > chunkIndex }) - 1
}

// ShardKey returns the key of shard i: under ShardPrefix when the planner
// set one, at l.ShardKey otherwise.
func (m *Manifest) ShardKey(l Layout, i int) string {
	if m.ShardPrefix != "" {
		return m.ShardPrefix + fmt.Sprintf("%06d.json", i)
	}
	return l.ShardKey(m.Job, i)
}

// CheckShard reports whether s is shard s.Index of this manifest: same
// job, an index below Shards and exactly the chunks ShardBounds names.
// Both documents must be valid.
func (m *Manifest) CheckShard(s *Shard) error {
	kind := fmt.Sprintf("shard %d", s.Index)
	if s.Job != m.Job {
		return invalid(kind, fmt.Errorf("belongs to job %q, not %q", truncate(s.Job, 40), m.Job))
	}
	if s.Index < 0 || s.Index >= m.Shards {
		return invalid(kind, fmt.Errorf("index out of range: the manifest has %d shards", m.Shards))
	}
	first, end := m.ShardBounds(s.Index)
	got := 0
	if len(s.Chunks) > 0 {
		got, _ = ChunkIndex(s.Chunks[0].ID)
	}
	if got != first || len(s.Chunks) != end-first {
		return invalid(kind, fmt.Errorf("holds %d chunks from index %d, want chunks [%d, %d)", len(s.Chunks), got, first, end))
	}
	return nil
}

// Validate checks the shard's invariants: a supported version, a job ID,
// and one or more valid chunks with consecutive IDs.
func (s *Shard) Validate() error {
	if err := checkVersion("shard", s.Version); err != nil {
		return err
	}
	kind := fmt.Sprintf("shard %d", s.Index)
	if !ValidJobID(s.Job) {
		return invalid(kind, fmt.Errorf("job %q is not a job ID", truncate(s.Job, 40)))
	}
	if s.Index < 0 {
		return invalid(kind, errors.New("negative index"))
	}
	if len(s.Chunks) == 0 {
		return invalid(kind, errors.New("holds no chunks"))
	}
	first := 0
	for i := range s.Chunks {
		c := &s.Chunks[i]
		if err := c.Validate(); err != nil {
			return invalid(kind, err)
		}
		n, _ := ChunkIndex(c.ID)
		if i == 0 {
			first = n
		} else if n != first+i {
			return invalid(kind, fmt.Errorf("chunk %s follows %s: chunk IDs must be consecutive", c.ID, s.Chunks[i-1].ID))
		}
	}
	return nil
}

// Validate checks the chunk's invariants: a chunk ID, one or more valid
// parts, and Bytes not negative. The error is not prefixed: it is meant
// to be wrapped by the document holding the chunk.
func (c *Chunk) Validate() error {
	if !ValidChunkID(c.ID) {
		return fmt.Errorf("chunk %q is not a chunk ID", truncate(c.ID, 40))
	}
	if len(c.Parts) == 0 {
		return fmt.Errorf("chunk %s has no parts", c.ID)
	}
	if c.Bytes < 0 {
		return fmt.Errorf("chunk %s: bytes %d is negative", c.ID, c.Bytes)
	}
	for i := range c.Parts {
		if err := c.Parts[i].Validate(); err != nil {
			return fmt.Errorf("chunk %s: part %d: %w", c.ID, i, err)
		}
	}
	return nil
}

// Validate checks the part's invariants: a pinned object of a known format
// and compression, a byte range inside the object ([0, -1) unless the
// object is uncompressed and not Parquet) and a sane row-group range (only
// for Parquet). The error is not prefixed.
func (p *Part) Validate() error {
	o := &p.Object
	switch {
	case o.Store == "":
		return errors.New("object has no store")
	case o.Key == "":
		return errors.New("object has no key")
	case o.Size < 0:
		return fmt.Errorf("object %q: size %d is negative", truncate(o.Key, 200), o.Size)
	case !isConcreteFormat(o.Format):
		return fmt.Errorf("object %q: format %q is not lines, csv, jsonl or parquet", truncate(o.Key, 200), truncate(o.Format, 40))
	case !isCompression(o.Compression):
		return fmt.Errorf("object %q: unknown compression %q", truncate(o.Key, 200), truncate(o.Compression, 40))
	case o.Format == FormatParquet && o.Compression != CompressionNone:
		return fmt.Errorf("object %q: Parquet cannot be %s-compressed", truncate(o.Key, 200), o.Compression)
	}
	whole := p.Start == 0 && p.End == -1
	switch {
	case p.Start < 0:
		return fmt.Errorf("object %q: start %d is negative", truncate(o.Key, 200), p.Start)
	case p.End != -1 && p.End <= p.Start:
		return fmt.Errorf("object %q: range [%d, %d) is empty or reversed", truncate(o.Key, 200), p.Start, p.End)
	case p.End > o.Size:
		return fmt.Errorf("object %q: range [%d, %d) ends past its size %d", truncate(o.Key, 200), p.Start, p.End, o.Size)
	case p.Start > 0 && p.Start >= o.Size:
		return fmt.Errorf("object %q: range starts at %d, at or past its size %d", truncate(o.Key, 200), p.Start, o.Size)
	case !whole && (o.Compression != CompressionNone || o.Format == FormatParquet):
		return fmt.Errorf("object %q: byte range [%d, %d) of a %s object, which is read whole", truncate(o.Key, 200), p.Start, p.End, describe(o))
	}
	allRowGroups := p.FirstRowGroup == 0 && p.LastRowGroup == 0
	switch {
	case allRowGroups:
	case o.Format != FormatParquet:
		return fmt.Errorf("object %q: row groups [%d, %d) of a %s object", truncate(o.Key, 200), p.FirstRowGroup, p.LastRowGroup, o.Format)
	case p.FirstRowGroup < 0 || p.LastRowGroup <= p.FirstRowGroup:
		return fmt.Errorf("object %q: row groups [%d, %d) are empty or reversed", truncate(o.Key, 200), p.FirstRowGroup, p.LastRowGroup)
	}
	return nil
}

func describe(o *ObjectRef) string {
	if o.Compression != CompressionNone {
		return o.Compression + "-compressed"
	}
	return o.Format
}

func isConcreteFormat(f string) bool {
	switch f {
	case FormatLines, FormatCSV, FormatJSONL, FormatParquet:
		return true
	}
	return false
}

func isCompression(c string) bool {
	switch c {
	case CompressionNone, CompressionGzip, CompressionZstd, CompressionBzip2:
		return true
	}
	return false
}

// Validate checks the marker's invariants: a supported version, job and
// chunk IDs, a state of done or failed (failed with a reason), valid
// output files and counts that are not negative.
func (m *ChunkMarker) Validate() error {
	if err := checkVersion("marker", m.Version); err != nil {
		return err
	}
	if !ValidJobID(m.Job) {
		return invalid("marker", fmt.Errorf("job %q is not a job ID", truncate(m.Job, 40)))
	}
	if !ValidChunkID(m.Chunk) && !IsReduceTask(m.Chunk) && !IsCompactTask(m.Chunk) {
		return invalid("marker", fmt.Errorf("chunk %q is not a chunk ID (nor a reduce or compaction task ID)", truncate(m.Chunk, 40)))
	}
	kind := "marker " + m.Chunk
	switch m.State {
	case MarkerDone:
	case MarkerFailed:
		if m.Reason == "" {
			return invalid(kind, errors.New("failed without a reason"))
		}
	default:
		return invalid(kind, fmt.Errorf("state %q is neither %q nor %q", truncate(m.State, 40), MarkerDone, MarkerFailed))
	}
	switch {
	case m.Epoch < 0:
		return invalid(kind, fmt.Errorf("epoch %d is negative", m.Epoch))
	case m.Generation < 0:
		return invalid(kind, fmt.Errorf("generation %d is negative", m.Generation))
	case m.RecordsIn < 0 || m.RecordsOut < 0 || m.BytesIn < 0:
		return invalid(kind, fmt.Errorf("negative count (records in %d, records out %d, bytes in %d)", m.RecordsIn, m.RecordsOut, m.BytesIn))
	case m.Attempts < 0:
		return invalid(kind, fmt.Errorf("attempts %d is negative", m.Attempts))
	}
	if err := checkFiles(m.Files); err != nil {
		return invalid(kind, err)
	}
	if err := m.Rejections.check(); err != nil {
		return invalid(kind, err)
	}
	return nil
}

// Validate checks the commit record's invariants: a supported version, a
// job ID, valid output files, failed chunks with IDs and reasons (no more
// of them than chunks), and totals that are not negative. Timings are not
// checked: they come from the clocks of several hosts and only inform.
func (c *CommitRecord) Validate() error {
	if err := checkVersion("commit", c.Version); err != nil {
		return err
	}
	if !ValidJobID(c.Job) {
		return invalid("commit", fmt.Errorf("job %q is not a job ID", truncate(c.Job, 40)))
	}
	kind := "commit " + c.Job
	switch {
	case c.Chunks < 0:
		return invalid(kind, fmt.Errorf("chunks %d is negative", c.Chunks))
	case len(c.Failed) > c.Chunks:
		return invalid(kind, fmt.Errorf("%d failed chunks out of %d", len(c.Failed), c.Chunks))
	case c.RecordsIn < 0 || c.RecordsOut < 0 || c.BytesIn < 0 || c.BytesOut < 0:
		return invalid(kind, fmt.Errorf("negative total (records in %d, records out %d, bytes in %d, bytes out %d)", c.RecordsIn, c.RecordsOut, c.BytesIn, c.BytesOut))
	}
	seen := make(map[string]bool, len(c.Failed))
	for i, f := range c.Failed {
		switch {
		case !ValidChunkID(f.Chunk):
			return invalid(kind, fmt.Errorf("failed[%d]: %q is not a chunk ID", i, truncate(f.Chunk, 40)))
		case f.Reason == "":
			return invalid(kind, fmt.Errorf("failed[%d]: chunk %s has no reason", i, f.Chunk))
		case seen[f.Chunk]:
			return invalid(kind, fmt.Errorf("failed[%d]: chunk %s listed twice", i, f.Chunk))
		}
		seen[f.Chunk] = true
	}
	if err := checkFiles(c.Files); err != nil {
		return invalid(kind, err)
	}
	if err := c.checkParts(); err != nil {
		return invalid(kind, err)
	}
	if err := c.Rejections.check(); err != nil {
		return invalid(kind, err)
	}
	return nil
}

// checkParts checks that a version 2 record lists its data files in
// parts only, whose counts sum to FileCount, and its rejected-record
// files in parts (RejectedParts, summing to RejectedCount) or, as the
// first version 2 records did, inline; and a version 1 record inline only.
func (c *CommitRecord) checkParts() error {
	if c.Version < CommitVersion {
		if len(c.FileParts) > 0 || c.FileCount != 0 || len(c.RejectedParts) > 0 || c.RejectedCount != 0 {
			return fmt.Errorf("version %d lists no file parts nor a file count (version %d does)", c.Version, CommitVersion)
		}
		return nil
	}
	if len(c.Files) > 0 {
		return fmt.Errorf("version %d lists its files in parts, not inline (%d files)", c.Version, len(c.Files))
	}
	if len(c.RejectedParts) > 0 && len(c.RejectedFiles) > 0 {
		return fmt.Errorf("rejected files both in parts and inline (%d files)", len(c.RejectedFiles))
	}
	seen := make(map[string]bool, len(c.FileParts)+len(c.RejectedParts))
	if err := checkFileParts("file_parts", c.FileParts, c.FileCount, "file_count", seen); err != nil {
		return err
	}
	return checkFileParts("rejected_parts", c.RejectedParts, c.RejectedCount, "rejected_count", seen)
}

// checkFileParts checks one list of a record's parts (field) against the
// count it must sum to (countField); seen holds the keys of the parts
// checked before, which none may name again.
func checkFileParts(field string, parts []FilePart, count int, countField string, seen map[string]bool) error {
	n := 0
	for i, p := range parts {
		switch {
		case p.Key == "" || p.ETag == "":
			return fmt.Errorf("%s[%d]: no key or ETag", field, i)
		case p.Files <= 0 || p.Size <= 0:
			return fmt.Errorf("%s[%d] %q: %d files in %d bytes", field, i, truncate(p.Key, 200), p.Files, p.Size)
		case seen[p.Key]:
			return fmt.Errorf("%s[%d] %q: named twice", field, i, truncate(p.Key, 200))
		}
		seen[p.Key] = true
		n += p.Files
	}
	if n != count {
		return fmt.Errorf("%s hold %d files, %s is %d", strings.ReplaceAll(field, "_", " "), n, countField, count)
	}
	return nil
}

// Validate checks a part of a commit record's files: a supported version,
// a job ID, a part number that is not negative, and valid files.
func (l *FileList) Validate() error {
	if err := checkVersion("file list", l.Version); err != nil {
		return err
	}
	if !ValidJobID(l.Job) {
		return invalid("file list", fmt.Errorf("job %q is not a job ID", truncate(l.Job, 40)))
	}
	kind := fmt.Sprintf("file list %s/%d", l.Job, l.Part)
	if l.Part < 0 {
		return invalid(kind, errors.New("negative part number"))
	}
	if err := checkFiles(l.Files); err != nil {
		return invalid(kind, err)
	}
	return nil
}

func checkFiles(files []OutputFile) error {
	for i, f := range files {
		switch {
		case f.Key == "":
			return fmt.Errorf("files[%d]: no key", i)
		case f.Size < 0:
			return fmt.Errorf("files[%d] %q: size %d is negative", i, truncate(f.Key, 200), f.Size)
		case f.Rows < 0:
			return fmt.Errorf("files[%d] %q: rows %d is negative", i, truncate(f.Key, 200), f.Rows)
		case f.Upload != nil && (f.Upload.ID == "" || len(f.Upload.Parts) == 0):
			return fmt.Errorf("files[%d] %q: upload without an ID or parts", i, truncate(f.Key, 200))
		}
		if f.Upload != nil {
			var size int64
			for j, p := range f.Upload.Parts {
				if p.Number != j+1 || p.ETag == "" || p.Size < 0 {
					return fmt.Errorf("files[%d] %q: upload part %d: want number %d, an ETag and a size", i, truncate(f.Key, 200), j, j+1)
				}
				size += p.Size
			}
			if size != f.Size {
				return fmt.Errorf("files[%d] %q: upload parts hold %d bytes, the file %d", i, truncate(f.Key, 200), size, f.Size)
			}
		}
	}
	return nil
}
