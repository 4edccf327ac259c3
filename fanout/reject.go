package fanout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// This file is the engine's side output of rejected records (see
// functions.Rejecter, and JobSpec.OnError for the malformed records the
// engine itself rejects or skips: chunkInput.tolerate): an attempt writes them as JSON lines under its own
// staging prefix, <staging>/_rejected/part-<job>-<chunk>-<n>.jsonl.staged; its marker
// lists the files and counts them per rule and column; the commit copies
// the winning attempts' files to <out>/_rejected/ with the data files and
// sums the counts into the commit record, or fails the job, publishing
// nothing, when JobSpec.MaxRejected is passed. Each line is
//
//	{"object": KEY, "offset": N, "record": TEXT, "violations": [{"rule": R, "column": C, "message": M}, ...]}
//
// with "record_base64" instead of "record" when the record is not valid
// UTF-8, and "row" (the values as a JSON object) instead for Parquet,
// which has no record text.

// rejectedStaging is the directory of an attempt's rejected-record files
// under its staging prefix.
const rejectedStaging = manifest.RejectedDir + "/"

// rejectSink is one attempt's side output of rejected records and its
// named counters. It is used by one goroutine.
type rejectSink struct {
	ctx    context.Context
	b      objstore.Bucket
	layout manifest.Layout   // where files go when committed (stageFile)
	prefix string            // <staging>_rejected/
	stem   string            // files are <stem>-<n>.jsonl (fileStem)
	schema *functions.Schema // the input's: names Parquet rows' values

	cur  *rejectFile
	seq  int
	rej  manifest.Rejections
	buf  bytes.Buffer
	enc  *json.Encoder
	rule map[string]bool // scratch: the rules of one record
	col  map[string]bool // scratch: the columns of one record
}

type rejectFile struct {
	key  string
	sp   *spool
	hash hash.Hash
	rows int64
}

func newRejectSink(ctx context.Context, js *jobState, staging, chunk string) *rejectSink {
	s := &rejectSink{ctx: ctx, b: js.out, layout: js.layout, prefix: staging + rejectedStaging, stem: fileStem(js.job, chunk), schema: js.schema,
		rule: map[string]bool{}, col: map[string]bool{}}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s
}

// wrap gives out the side output: the function sees a functions.Rejecter
// and a functions.Counter.
func (s *rejectSink) wrap(out chunkOutput) chunkOutput { return rejectingOutput{out, s} }

type rejectingOutput struct {
	chunkOutput
	sink *rejectSink
}

var (
	_ functions.Rejecter = rejectingOutput{}
	_ functions.Counter  = rejectingOutput{}
)

func (o rejectingOutput) Reject(rec *functions.Record, v []functions.Violation) error {
	return o.sink.Reject(rec, v)
}

func (o rejectingOutput) Count(name string, n int64) { o.sink.Count(name, n) }

// rejectedLine is one line of a rejected-record file.
type rejectedLine struct {
	Object       string                `json:"object"`
	Offset       int64                 `json:"offset"`
	Record       *string               `json:"record,omitempty"`
	RecordBase64 []byte                `json:"record_base64,omitempty"`
	Row          json.RawMessage       `json:"row,omitempty"`
	Violations   []functions.Violation `json:"violations"`
}

// Reject implements functions.Rejecter.
func (s *rejectSink) Reject(rec *functions.Record, violations []functions.Violation) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if len(violations) == 0 {
		return functions.Permanent(fmt.Errorf("%s at offset %d: rejected without a violation", rec.Object, rec.Offset))
	}
	line := rejectedLine{Object: rec.Object, Offset: rec.Offset, Violations: violations}
	switch {
	case rec.Raw != nil && utf8.Valid(rec.Raw):
		text := string(rec.Raw)
		line.Record = &text
	case rec.Raw != nil:
		line.RecordBase64 = rec.Raw
	case rec.Row != nil:
		line.Row = s.rowJSON(rec.Row)
	}
	s.buf.Reset()
	if err := s.enc.Encode(&line); err != nil {
		return fmt.Errorf("encoding a rejected record of %s: %w", rec.Object, err)
	}
	if s.cur == nil {
		s.cur = &rejectFile{key: s.prefix + manifest.StagedName(fmt.Sprintf("%s-%04d.jsonl", s.stem, s.seq)), sp: newSpool(spoolMemory), hash: sha256.New()}
		s.seq++
	}
	if _, err := io.MultiWriter(s.cur.sp, s.cur.hash).Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("spooling %s: %w", s.cur.key, err)
	}
	s.cur.rows++
	s.count(rec, violations)
	if s.cur.sp.Size() > maxFileBytes {
		return s.finish()
	}
	return nil
}

// count adds one rejected record to the counts: once per rule and once per
// column it broke.
func (s *rejectSink) count(rec *functions.Record, violations []functions.Violation) {
	r := &s.rej
	r.Rejected++
	clear(s.rule)
	clear(s.col)
	if r.RejectedByRule == nil {
		r.RejectedByRule = map[string]int64{}
	}
	for _, v := range violations {
		if !s.rule[v.Rule] {
			s.rule[v.Rule] = true
			r.RejectedByRule[v.Rule]++
		}
		if v.Column != "" && !s.col[v.Column] {
			if r.RejectedByColumn == nil {
				r.RejectedByColumn = map[string]int64{}
			}
			s.col[v.Column] = true
			r.RejectedByColumn[v.Column]++
		}
	}
}

// rowJSON renders a row as a JSON object keyed by the input's columns.
func (s *rejectSink) rowJSON(row functions.Row) json.RawMessage {
	b := []byte{'{'}
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		name := fmt.Sprintf("column%d", i)
		if s.schema != nil && i < len(s.schema.Columns) {
			name = s.schema.Columns[i].Name
		}
		q, _ := json.Marshal(name)
		b = append(b, q...)
		b = append(b, ':')
		b = v.AppendJSON(b)
	}
	return append(b, '}')
}

// drift adds the schema drift counts of a part of the object obj.
func (s *rejectSink) drift(obj string, d codec.Drift) {
	s.rej.AddDrift(obj, manifest.ObjectDrift{Filled: d.Filled, Dropped: d.Dropped, AsJSON: d.AsJSON})
}

// skip counts a malformed record dropped under --on-error skip.
func (s *rejectSink) skip() { s.rej.Skipped++ }

// Count implements functions.Counter.
func (s *rejectSink) Count(name string, n int64) {
	if n == 0 || name == "" {
		return
	}
	if s.rej.Counters == nil {
		s.rej.Counters = map[string]int64{}
	}
	s.rej.Counters[name] += n
}

// finish uploads the current file.
func (s *rejectSink) finish() error {
	f := s.cur
	s.cur = nil
	defer f.sp.Close()
	r, err := f.sp.Reader()
	if err != nil {
		return err
	}
	out, err := stageFile(s.ctx, s.b, f.key, s.layout.RejectedKey(manifest.PublishedName(f.key)), r, &objstore.PutOptions{Size: f.sp.Size(), ContentType: "application/x-ndjson"})
	if err != nil {
		return fmt.Errorf("uploading %s: %w", f.key, err)
	}
	f.sp.Recycle()
	out.Rows, out.SHA256 = f.rows, hex.EncodeToString(f.hash.Sum(nil))
	s.rej.RejectedFiles = append(s.rej.RejectedFiles, out)
	return nil
}

// Close uploads the last file.
func (s *rejectSink) Close() error {
	if s.cur == nil {
		return nil
	}
	return s.finish()
}

// Abort drops the file being written and aborts the uploads of those
// written (see stagedOutput.Abort).
func (s *rejectSink) Abort() {
	if s.cur != nil {
		s.cur.sp.Close()
		s.cur = nil
	}
	abortOwnUploads(s.ctx, s.b, s.rej.RejectedFiles)
}

// mark puts the attempt's rejections into its marker.
func (s *rejectSink) mark(m *manifest.ChunkMarker) { m.Rejections = s.rej }

// TooManyRejectedError reports a job whose function rejected more records
// than JobSpec.MaxRejected allows. Nothing was published; the attempts'
// rejected-record files stay under the job's staging prefix (the chunk
// markers list them) until the job is removed.
type TooManyRejectedError struct {
	Job       string
	RecordsIn int64
	Allowed   int64
	Max       string
	manifest.Rejections
	// Files is the number of rejected-record files the job's chunks
	// wrote (none published); Rejections lists none of them.
	Files int
}

func (e *TooManyRejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s failed: %d of %d records rejected", e.Job, e.Rejected+e.Skipped, e.RecordsIn)
	if e.Skipped > 0 {
		fmt.Fprintf(&b, " (%d skipped by --on-error skip)", e.Skipped)
	}
	fmt.Fprintf(&b, ", more than --max-rejected %s allows (%d); nothing was published", e.Max, e.Allowed)
	if len(e.RejectedByRule) > 0 {
		b.WriteString("; by rule: ")
		b.WriteString(formatCounts(e.RejectedByRule))
	}
	if len(e.RejectedByColumn) > 0 {
		b.WriteString("; by column: ")
		b.WriteString(formatCounts(e.RejectedByColumn))
	}
	return b.String()
}

// Unwrap gives the job's failure as a *JobFailedError (with no failed
// chunks), so that whoever stops on a failed job (errors.As) stops on this
// one too: committing again fails the same way.
func (e *TooManyRejectedError) Unwrap() error { return &JobFailedError{Job: e.Job} }

// formatCounts renders counts largest first: "type 5, required 3".
func formatCounts(m map[string]int64) string {
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// checkRejected fails a commit whose rejected records pass the job's
// tolerance; files is the number of rejected-record files the commit has
// read from the markers.
func checkRejected(js *jobState, rec *manifest.CommitRecord, files int) error {
	spec := js.m.Spec
	allowed, err := manifest.ParseMaxRejected(spec.MaxRejected, rec.RecordsIn)
	if err != nil {
		return functions.Permanent(err)
	}
	if allowed < 0 || rec.Rejected+rec.Skipped <= allowed {
		return nil
	}
	return &TooManyRejectedError{Job: js.job, RecordsIn: rec.RecordsIn, Allowed: allowed, Max: spec.MaxRejected,
		Rejections: rec.Rejections.Clone(), Files: files}
}

// setRejections copies a job's rejection counts and its number of
// rejected-record files into its result.
func (r *Result) setRejections(x manifest.Rejections, files int) {
	r.Rejected, r.Skipped, r.RejectedByRule, r.RejectedByColumn = x.Rejected, x.Skipped, x.RejectedByRule, x.RejectedByColumn
	r.RejectedFiles, r.Counters, r.Drift = files, x.Counters, x.Drift
}
