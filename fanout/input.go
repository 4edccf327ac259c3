package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// InputChangedError reports an input object that was overwritten or
// deleted after the job was planned: its ETag no longer matches.
type InputChangedError struct {
	Object string
	ETag   string
	Err    error
}

func (e *InputChangedError) Error() string {
	if errors.Is(e.Err, objstore.ErrNotFound) {
		return fmt.Sprintf("input %s was deleted after the job was planned", e.Object)
	}
	return fmt.Sprintf("input %s changed after the job was planned (planned ETag %s)", e.Object, e.ETag)
}

func (e *InputChangedError) Unwrap() error { return e.Err }

// chunkInput reads every part of a chunk in order as one functions.Input,
// opening each part only when the previous one is exhausted.
type chunkInput struct {
	ctx    context.Context
	e      *Engine
	js     *jobState
	chunk  int // the chunk's index (functions.ChunkInput)
	parts  []manifest.Part
	next   int
	cur    functions.Input
	closer io.Closer
	// records counts the records read.
	records int64
	// rej takes the malformed records JobSpec.OnError rejects or skips;
	// last is the latest one, to notice a reader that does not move on.
	rej  *rejectSink
	last *functions.RecordError
	// columns are the only input columns the task reads
	// (functions.ColumnPicker), nil for all.
	columns []int
	// ahead holds the reads of small whole objects started before their
	// turn, by part index (see prefetch).
	ahead       map[int]chan prefetched
	stopAhead   context.CancelFunc
	aheadCtx    context.Context
	aheadCursor int
}

// Small objects packed into one chunk are read ahead, prefetchParts at
// once, each whole into memory when it is at most prefetchMaxBytes: a
// chunk of a thousand 1 KiB objects then waits for a GET's round trip
// once per prefetchParts objects instead of once per object.
const (
	prefetchParts    = 6
	prefetchMaxBytes = 1 << 20
)

type prefetched struct {
	body []byte
	err  error
}

// prefetchable reports whether part i is read ahead: a whole small
// object, not Parquet (read by ranges).
func (in *chunkInput) prefetchable(i int) bool {
	p := in.parts[i]
	o := p.Object
	return len(in.parts) > 1 && o.Format != manifest.FormatParquet && o.Size <= prefetchMaxBytes && p.Start == 0 && (p.End < 0 || p.End >= o.Size)
}

// prefetch starts the reads of the prefetchable parts among the next
// prefetchParts after part i.
func (in *chunkInput) prefetch(i int) {
	if in.ahead == nil {
		in.ahead = map[int]chan prefetched{}
		in.aheadCtx, in.stopAhead = context.WithCancel(in.ctx)
	}
	for in.aheadCursor = max(in.aheadCursor, i); in.aheadCursor < min(len(in.parts), i+prefetchParts); in.aheadCursor++ {
		j := in.aheadCursor
		if !in.prefetchable(j) {
			continue
		}
		ch := make(chan prefetched, 1)
		in.ahead[j] = ch
		obj := in.parts[j].Object
		go func() {
			body, err := in.readWhole(in.aheadCtx, obj)
			ch <- prefetched{body, err}
		}()
	}
}

// readWhole reads a small object, pinned by its ETag.
func (in *chunkInput) readWhole(ctx context.Context, obj manifest.ObjectRef) ([]byte, error) {
	b, err := in.e.store(ctx, obj.Store, obj.Key)
	if err != nil {
		return nil, err
	}
	rc, _, err := b.Get(ctx, obj.Key, &objstore.GetOptions{Length: -1, IfMatch: obj.ETag})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, obj.Size+1))
	if err == nil && int64(len(body)) != obj.Size {
		err = fmt.Errorf("%w: %s has %d bytes, %d when planned", objstore.ErrPrecondition, obj.Key, len(body), obj.Size)
	}
	return body, err
}

func (in *chunkInput) Schema() *functions.Schema { return in.js.schema }

// Chunk returns the index of the chunk read (functions.ChunkInput).
func (in *chunkInput) Chunk() int { return in.chunk }

func (in *chunkInput) Next() (*functions.Record, error) { return in.read(false) }

// NextBorrowed is Next with strings borrowed from the reader where the
// part's input can lend them (functions.BorrowingInput).
func (in *chunkInput) NextBorrowed() (*functions.Record, error) { return in.read(true) }

func (in *chunkInput) read(borrow bool) (*functions.Record, error) {
	for {
		if in.cur == nil {
			if in.next >= len(in.parts) {
				return nil, io.EOF
			}
			if err := in.open(in.next); err != nil {
				return nil, err
			}
			in.next++
		}
		var rec *functions.Record
		var err error
		if b, ok := in.cur.(functions.BorrowingInput); ok && borrow {
			rec, err = b.NextBorrowed()
		} else {
			rec, err = in.cur.Next()
		}
		if err == io.EOF {
			if err := in.closeCurrent(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			if re := (*functions.RecordError)(nil); errors.As(err, &re) && re.CanSkip() {
				in.records++ // a whole record, read though malformed: a function may skip it
			}
			in.explainSampled(err)
			if ok, terr := in.tolerate(err); terr != nil {
				return nil, terr
			} else if ok {
				continue
			}
			return nil, in.mapErr(in.parts[in.next-1].Object, err)
		}
		in.records++
		return rec, nil
	}
}

// tolerate deals with a malformed record as JobSpec.OnError says: under
// reject it goes to the attempt's rejected records (reject.go), under skip
// it is counted; either way ok is true and the chunk reads on. ok is false
// under fail, and for an error the reader cannot go past (a broken header,
// a quote open at a chunk's end, a corrupt Parquet page, an over-long
// record): those fail the chunk whatever OnError says.
func (in *chunkInput) tolerate(err error) (ok bool, _ error) {
	mode := in.js.m.Spec.OnError
	if in.rej == nil || (mode != manifest.OnErrorReject && mode != manifest.OnErrorSkip) {
		return false, nil
	}
	re, rec, v, ok := functions.Malformed(err)
	if !ok {
		return false, nil
	}
	if in.last != nil && in.last.Object == re.Object && in.last.Offset == re.Offset {
		return false, nil // the reader did not move on
	}
	in.last = re
	if mode == manifest.OnErrorSkip {
		in.rej.skip()
		return true, nil
	}
	return true, in.rej.Reject(&rec, []functions.Violation{v})
}

func (in *chunkInput) mapErr(obj manifest.ObjectRef, err error) error {
	if errors.Is(err, objstore.ErrPrecondition) || (errors.Is(err, objstore.ErrNotFound)) {
		return functions.Permanent(&InputChangedError{Object: obj.Key, ETag: obj.ETag, Err: err})
	}
	if errors.Is(err, codec.ErrDecompressedTooLarge) {
		return functions.Permanent(err) // the same bytes expand as far again
	}
	return err
}

func (in *chunkInput) closeCurrent() error {
	if d, ok := in.cur.(codec.DriftInput); ok && in.rej != nil && in.next > 0 {
		in.rej.drift(in.parts[in.next-1].Object.Key, d.Drift())
	}
	in.cur = nil
	if in.closer == nil {
		return nil
	}
	err := in.closer.Close()
	in.closer = nil
	return err
}

// Close releases the part being read and stops reading ahead.
func (in *chunkInput) Close() error {
	if in.stopAhead != nil {
		in.stopAhead()
	}
	return in.closeCurrent()
}

func (in *chunkInput) open(i int) error {
	p := in.parts[i]
	obj := p.Object
	if in.prefetchable(i) {
		in.prefetch(i)
		got := <-in.ahead[i]
		delete(in.ahead, i)
		if got.err != nil {
			return in.mapErr(obj, fmt.Errorf("opening %s: %w", obj.Key, got.err))
		}
		return in.openStream(p, io.NopCloser(bytes.NewReader(got.body)), 0)
	}
	b, err := in.e.store(in.ctx, obj.Store, obj.Key)
	if err != nil {
		return err
	}
	if obj.Format == manifest.FormatParquet {
		schema := in.js.schema
		ra := objstore.NewReaderAt(in.ctx, b, obj.Key, obj.ETag, obj.Size)
		opts, err := codec.ParseParquetArgs(in.js.m.Spec.Args)
		if err != nil {
			return functions.Permanent(err)
		}
		opts.Object, opts.FirstRowGroup, opts.LastRowGroup, opts.Schema = obj.Key, p.FirstRowGroup, p.LastRowGroup, schema
		cur, err := codec.NewParquetInput(ra, obj.Size, opts)
		if err != nil {
			return in.mapErr(obj, parquetOpenErr(err))
		}
		in.cur = cur
		return nil
	}
	base := max(p.Start-1, 0)
	rc, _, err := b.Get(in.ctx, obj.Key, &objstore.GetOptions{Offset: base, Length: -1, IfMatch: obj.ETag})
	if err != nil {
		return in.mapErr(obj, fmt.Errorf("opening %s: %w", obj.Key, err))
	}
	return in.openStream(p, rc, base)
}

// openStream reads part p from rc, which starts at byte base of its
// object (decompressing a compressed object).
func (in *chunkInput) openStream(p manifest.Part, rc io.ReadCloser, base int64) error {
	obj := p.Object
	spec := in.js.m.Spec
	var schema *functions.Schema
	if obj.Format != manifest.FormatLines {
		schema = in.js.schema
	}
	var r io.ReadCloser = rc
	size := obj.Size - base // a buffer hint: what is left to read
	if obj.Compression != manifest.CompressionNone {
		size = 0
		d, err := codec.Decompress(rc, obj.Compression, spec.MaxDecompressedBytes, obj.Key)
		if err != nil {
			rc.Close()
			return functions.Permanent(err)
		}
		r = &stackedCloser{ReadCloser: d, under: rc}
	}
	csv, err := csvOptionsOf(spec.Args, obj.Key)
	if err != nil {
		r.Close()
		return functions.Permanent(err)
	}
	cur, err := codec.NewInput(r, codec.InputOptions{
		Format: obj.Format, Object: obj.Key, Base: base, Start: p.Start, End: p.End,
		Schema: schema, Header: p.Header, MaxRecordBytes: spec.MaxRecordBytes, CSVOptions: csv,
		Size: size, Columns: in.columns,
	})
	if err != nil {
		r.Close()
		return functions.Permanent(err)
	}
	in.cur, in.closer = cur, r
	return nil
}

// stackedCloser closes a decompressor and the body under it.
type stackedCloser struct {
	io.ReadCloser
	under io.Closer
}

func (s *stackedCloser) Close() error {
	return errors.Join(s.ReadCloser.Close(), s.under.Close())
}

// csvOptionsOf is the CSV dialect of an object: the options of --arg
// (delim, quote, escape, header, nullstr), the delimiter by extension when
// delim is not given.
func csvOptionsOf(args map[string]string, key string) (codec.CSVOptions, error) {
	o, err := codec.ParseCSVArgs(args)
	if err != nil {
		return o, err
	}
	if o.Delimiter == 0 {
		o.Delimiter = delimiterOf(key)
	}
	return o, nil
}

// delimiterOf picks the CSV field delimiter by extension: tab for .tsv
// (also compressed), comma otherwise.
func delimiterOf(key string) rune {
	k := strings.ToLower(key)
	for _, ext := range []string{".gz", ".gzip", ".zst", ".zstd", ".bz2"} {
		k = strings.TrimSuffix(k, ext)
	}
	if strings.HasSuffix(k, ".tsv") {
		return '\t'
	}
	return ','
}

// parquetOpenErr marks an error of codec.NewParquetInput permanent when
// retrying cannot help (a corrupt file, a nested column); a transient one
// (S3 SlowDown, a reset connection, a cancelled context while reading the
// footer) stays retryable.
func parquetOpenErr(err error) error {
	if errors.Is(err, codec.ErrCorruptParquet) || errors.Is(err, codec.ErrNestedColumn) {
		return functions.Permanent(err)
	}
	return err
}
