package fanout

import (
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
	parts  []manifest.Part
	next   int
	cur    functions.Input
	closer io.Closer
	// records counts the records read.
	records int64
}

func (in *chunkInput) Schema() *functions.Schema { return in.js.schema }

func (in *chunkInput) Next() (*functions.Record, error) {
	for {
		if in.cur == nil {
			if in.next >= len(in.parts) {
				return nil, io.EOF
			}
			if err := in.open(in.parts[in.next]); err != nil {
				return nil, err
			}
			in.next++
		}
		rec, err := in.cur.Next()
		if err == io.EOF {
			if err := in.closeCurrent(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			if re := (*functions.RecordError)(nil); errors.As(err, &re) && re.Raw != nil {
				in.records++ // a whole record, read though malformed: a function may skip it
			}
			return nil, in.mapErr(in.parts[in.next-1].Object, err)
		}
		in.records++
		return rec, nil
	}
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
	in.cur = nil
	if in.closer == nil {
		return nil
	}
	err := in.closer.Close()
	in.closer = nil
	return err
}

// Close releases the part being read.
func (in *chunkInput) Close() error { return in.closeCurrent() }

func (in *chunkInput) open(p manifest.Part) error {
	obj := p.Object
	b, err := in.e.store(in.ctx, obj.Store)
	if err != nil {
		return err
	}
	spec := in.js.m.Spec
	var schema *functions.Schema
	if obj.Format != manifest.FormatLines {
		schema = in.js.schema
	}
	if obj.Format == manifest.FormatParquet {
		ra := objstore.NewReaderAt(in.ctx, b, obj.Key, obj.ETag, obj.Size)
		cur, err := codec.NewParquetInput(ra, obj.Size, codec.ParquetOptions{
			Object: obj.Key, FirstRowGroup: p.FirstRowGroup, LastRowGroup: p.LastRowGroup, Schema: schema})
		if err != nil {
			if errors.Is(err, codec.ErrCorruptParquet) || errors.Is(err, codec.ErrNestedColumn) {
				err = functions.Permanent(err)
			}
			return in.mapErr(obj, err)
		}
		in.cur = cur
		return nil
	}
	base := max(p.Start-1, 0)
	rc, _, err := b.Get(in.ctx, obj.Key, &objstore.GetOptions{Offset: base, Length: -1, IfMatch: obj.ETag})
	if err != nil {
		return in.mapErr(obj, fmt.Errorf("opening %s: %w", obj.Key, err))
	}
	var r io.ReadCloser = rc
	if obj.Compression != manifest.CompressionNone {
		d, err := codec.Decompress(rc, obj.Compression, spec.MaxDecompressedBytes, obj.Key)
		if err != nil {
			rc.Close()
			return functions.Permanent(err)
		}
		r = &stackedCloser{ReadCloser: d, under: rc}
	}
	cur, err := codec.NewInput(r, codec.InputOptions{
		Format: obj.Format, Object: obj.Key, Base: base, Start: p.Start, End: p.End,
		Schema: schema, Header: p.Header, MaxRecordBytes: spec.MaxRecordBytes, Delimiter: delimiterOf(obj.Key),
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
