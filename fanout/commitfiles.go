package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"slices"
	"strings"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// The files of a commit record, in parts.
//
// A commit record of version 2 (manifest.CommitVersion) does not hold its
// files: it names FileList objects of up to Config.CommitPartFiles files
// each (manifest.CommitRecord.FileParts), written under
// <out>/_fanout/<job>/commit/<token>/ before the record, with the ETag
// and size each was written with. At a million files the record inline
// was hundreds of MB that the committer built, cloned and encoded whole,
// and that every reader (Engine.Wait for its totals, status, the
// verification of a committed job) decoded whole again. Now:
//
//   - the committer spills the files it reads from the markers into
//     pending parts (commit/<token>/pending-NNNNNN.json), then, once the
//     job may publish, reads them back one at a time, publishes each
//     part's files and writes them, published, into the record's parts
//     (commit/<token>/files-NNNNNN.json): it holds one part of files at a
//     time, never the job's;
//   - the commit is still one conditional create of the record: parts no
//     record names (a losing or crashed committer's; each committer has a
//     token of its own, so none overwrites another's) are invisible
//     garbage, removed when the commit ends, by the next verification of
//     the committed job and by fanout gc;
//   - readers of the record read only its totals, or its parts one at a
//     time (eachCommittedPart, CommittedFiles), each checked against the
//     record (If-Match on its ETag, its job, number and count of files).
//
// The rejected-record files (<out>/_rejected/, one a chunk that rejected
// records) go the same way, into lists of their own (pending-rejected-,
// then rejected-NNNNNN.json, named by the record's RejectedParts); the
// first version 2 records held them inline, as version 1 records do.
//
// Records of version 1 (earlier releases) hold their files inline and are
// still read.

// DefaultCommitPartFiles is Config.CommitPartFiles' default: about 3 MB
// of JSON a part for files written as multipart uploads.
const DefaultCommitPartFiles = 10000

// maxFilePartBytes bounds the size of a part a reader accepts, whatever
// the record says.
const maxFilePartBytes = 1 << 30

// partWriter writes files into FileList parts of at most size files, each
// at keyOf(part number), as they are added.
type partWriter struct {
	out   objstore.Bucket
	job   string
	keyOf func(int) string
	size  int
	files []manifest.OutputFile
	parts []manifest.FilePart
	count int
}

func (e *Engine) newPartWriter(js *jobState, keyOf func(int) string) *partWriter {
	return &partWriter{out: js.out, job: js.job, keyOf: keyOf, size: e.cfg.CommitPartFiles}
}

// add adds files, writing a part whenever one is full.
func (w *partWriter) add(ctx context.Context, files ...manifest.OutputFile) error {
	for _, f := range files {
		w.files = append(w.files, f)
		if len(w.files) >= w.size {
			if err := w.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the files added since the last part as a part.
func (w *partWriter) flush(ctx context.Context) error {
	if len(w.files) == 0 {
		return nil
	}
	i := len(w.parts)
	body, err := manifest.Encode(&manifest.FileList{Version: manifest.Version, Job: w.job, Part: i, Files: w.files})
	if err != nil {
		return err
	}
	key := w.keyOf(i)
	info, err := w.out.Put(ctx, key, bytes.NewReader(body), &objstore.PutOptions{ContentType: "application/json", Size: int64(len(body))})
	if err != nil {
		return fmt.Errorf("writing the commit's file list %s: %w", key, err)
	}
	if info.ETag == "" {
		return fmt.Errorf("writing the commit's file list %s: the store gave no ETag", key)
	}
	w.parts = append(w.parts, manifest.FilePart{Key: key, ETag: info.ETag, Size: int64(len(body)), Files: len(w.files)})
	w.count += len(w.files)
	clear(w.files)
	w.files = w.files[:0]
	return nil
}

// keys returns the keys of the parts written.
func (w *partWriter) keys() []string {
	keys := make([]string, len(w.parts))
	for i, p := range w.parts {
		keys[i] = p.Key
	}
	return keys
}

// readFilePart reads part i of job's files, as p names it: a part that
// changed since (another ETag), or does not hold what p says, is an error.
func readFilePart(ctx context.Context, b objstore.Bucket, job string, i int, p manifest.FilePart) ([]manifest.OutputFile, error) {
	rc, info, err := b.Get(ctx, p.Key, &objstore.GetOptions{Length: -1, IfMatch: p.ETag})
	if err != nil {
		return nil, fmt.Errorf("reading the commit's file list %s: %w", p.Key, err)
	}
	defer rc.Close()
	if info.Size != p.Size || p.Size > maxFilePartBytes {
		return nil, fmt.Errorf("the commit's file list %s is %d bytes, the record says %d", p.Key, info.Size, p.Size)
	}
	body := bytes.NewBuffer(make([]byte, 0, p.Size+bytes.MinRead))
	if _, err := body.ReadFrom(rc); err != nil {
		return nil, fmt.Errorf("reading the commit's file list %s: %w", p.Key, err)
	}
	l, err := manifest.DecodeFileList(body.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the commit's file list %s: %w", p.Key, err)
	}
	if l.Job != job || l.Part != i || len(l.Files) != p.Files {
		return nil, fmt.Errorf("the commit's file list %s is part %d of job %s with %d files; the record names part %d of job %s with %d",
			p.Key, l.Part, l.Job, len(l.Files), i, job, p.Files)
	}
	return l.Files, nil
}

// eachFilePart calls fn with the files of each of parts in turn, reading
// the next only once fn has returned: a reader holds one part at a time.
func eachFilePart(ctx context.Context, b objstore.Bucket, job string, parts []manifest.FilePart, fn func([]manifest.OutputFile) error) error {
	for i, p := range parts {
		files, err := readFilePart(ctx, b, job, i, p)
		if err != nil {
			return err
		}
		if err := fn(files); err != nil {
			return err
		}
	}
	return nil
}

// eachCommittedPart calls fn with the committed data files of rec a part
// at a time: the parts of a version 2 record, read one after the other,
// or the files of a version 1 record at once.
func eachCommittedPart(ctx context.Context, b objstore.Bucket, rec *manifest.CommitRecord, fn func([]manifest.OutputFile) error) error {
	if rec.Version < manifest.CommitVersion {
		if len(rec.Files) == 0 {
			return nil
		}
		return fn(rec.Files)
	}
	return eachFilePart(ctx, b, rec.Job, rec.FileParts, fn)
}

// eachRejectedPart calls fn with the committed rejected-record files of
// rec a part at a time: those a record holds inline (version 1, and the
// first version 2 records), then the parts it names (RejectedParts), read
// one after the other.
func eachRejectedPart(ctx context.Context, b objstore.Bucket, rec *manifest.CommitRecord, fn func([]manifest.OutputFile) error) error {
	if len(rec.RejectedFiles) > 0 {
		if err := fn(rec.RejectedFiles); err != nil {
			return err
		}
	}
	return eachFilePart(ctx, b, rec.Job, rec.RejectedParts, fn)
}

// eachRecordPart calls fn with every file rec commits, a part at a time:
// the rejected-record files (eachRejectedPart), then the data files
// (eachCommittedPart).
func eachRecordPart(ctx context.Context, b objstore.Bucket, rec *manifest.CommitRecord, fn func([]manifest.OutputFile) error) error {
	if err := eachRejectedPart(ctx, b, rec, fn); err != nil {
		return err
	}
	return eachCommittedPart(ctx, b, rec, fn)
}

// CommittedFiles yields the data files a commit record lists, reading its
// parts (manifest.CommitRecord.FileParts) from b, the output's bucket,
// one at a time; a record of version 1 holds them inline. The rejected
// records' files are in rec.RejectedParts (CommittedRejectedFiles). An
// error (a part missing or changed since the commit) ends the sequence.
func CommittedFiles(ctx context.Context, b objstore.Bucket, rec *manifest.CommitRecord) iter.Seq2[manifest.OutputFile, error] {
	return filesOfParts(func(fn func([]manifest.OutputFile) error) error { return eachCommittedPart(ctx, b, rec, fn) })
}

// filesOfParts yields the files of the lists each calls fn with, one
// list at a time; an error of each ends the sequence with it.
func filesOfParts(each func(fn func([]manifest.OutputFile) error) error) iter.Seq2[manifest.OutputFile, error] {
	return func(yield func(manifest.OutputFile, error) bool) {
		stop := errors.New("stop")
		err := each(func(files []manifest.OutputFile) error {
			for _, f := range files {
				if !yield(f, nil) {
					return stop
				}
			}
			return nil
		})
		if err != nil && err != stop {
			yield(manifest.OutputFile{}, err)
		}
	}
}

// CommittedRejectedFiles yields the rejected-record files a commit
// record lists (at <out>/_rejected/), as CommittedFiles does its data
// files: inline in records of earlier releases, in parts
// (manifest.CommitRecord.RejectedParts) read one at a time since.
func CommittedRejectedFiles(ctx context.Context, b objstore.Bucket, rec *manifest.CommitRecord) iter.Seq2[manifest.OutputFile, error] {
	return filesOfParts(func(fn func([]manifest.OutputFile) error) error { return eachRejectedPart(ctx, b, rec, fn) })
}

// fileSums sums the files a commit publishes: their bytes and, per
// partition, their files, bytes, rows and small files (under half of
// target, and, with a row limit, under half of maxRows rows: a file
// --max-rows-per-file filled is as big as the job asked for).
type fileSums struct {
	target  int64
	maxRows int64
	bytes   int64
	at      map[string]int
	parts   []manifest.PartitionFiles
}

func newFileSums(target, maxRows int64) *fileSums {
	if target <= 0 {
		target = manifest.DefaultTargetFileSize
	}
	return &fileSums{target: target, maxRows: maxRows, at: map[string]int{}}
}

func (s *fileSums) add(f manifest.OutputFile) {
	s.bytes += f.Size
	i, ok := s.at[f.Partition]
	if !ok {
		i = len(s.parts)
		s.at[f.Partition] = i
		s.parts = append(s.parts, manifest.PartitionFiles{Partition: f.Partition})
	}
	p := &s.parts[i]
	p.Files++
	p.Bytes += f.Size
	p.Rows += f.Rows
	if f.Size < s.target/2 && (s.maxRows <= 0 || f.Rows < s.maxRows/2) {
		p.Small++
	}
}

// partitions returns the sums per partition, in path order.
func (s *fileSums) partitions() []manifest.PartitionFiles {
	out := slices.Clone(s.parts)
	slices.SortFunc(out, func(a, b manifest.PartitionFiles) int { return strings.Compare(a.Partition, b.Partition) })
	return out
}

// fileSet is a set of files by key and size, 8 bytes a file (a hash of
// both), for checking a commit's files against a listing without holding
// their keys: a million files are 8 MB instead of the hundreds of MB of
// their descriptions. A hash collision can only make a missing file look
// present with a probability of about n²/2⁶⁴ (10⁻⁷ at a million files),
// and only if the listing holds a key of that exact hash.
type fileSet struct {
	seed   maphash.Seed
	hashes []uint64
	found  []bool
}

func newFileSet() *fileSet { return &fileSet{seed: maphash.MakeSeed()} }

func (s *fileSet) hash(key string, size int64) uint64 {
	return maphash.String(s.seed, key) ^ uint64(size)*0x9e3779b97f4a7c15
}

func (s *fileSet) add(key string, size int64) { s.hashes = append(s.hashes, s.hash(key, size)) }

// seal sorts the set; add may not be called after it.
func (s *fileSet) seal() {
	slices.Sort(s.hashes)
	s.found = make([]bool, len(s.hashes))
}

// mark marks the file of key and size found, if the set holds it.
func (s *fileSet) mark(key string, size int64) {
	h := s.hash(key, size)
	for i, ok := slices.BinarySearch(s.hashes, h); ok && i < len(s.hashes) && s.hashes[i] == h; i++ {
		s.found[i] = true
	}
}

// isFound reports whether the file of key and size was marked found.
func (s *fileSet) isFound(key string, size int64) bool {
	i, ok := slices.BinarySearch(s.hashes, s.hash(key, size))
	return ok && s.found[i]
}

// has reports whether the set holds a file of key and size.
func (s *fileSet) has(key string, size int64) bool {
	_, ok := slices.BinarySearch(s.hashes, s.hash(key, size))
	return ok
}

// missing counts the files not marked found.
func (s *fileSet) missing() int {
	n := 0
	for _, ok := range s.found {
		if !ok {
			n++
		}
	}
	return n
}
