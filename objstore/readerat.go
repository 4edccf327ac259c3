package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ReaderAt reads byte ranges of one pinned version of an object, one ranged
// Get per ReadAt, each with If-Match on the pinned ETag, so that a Parquet
// reader can fetch the footer and then single row groups. When the object
// is replaced meanwhile, ReadAt fails with ErrPrecondition instead of
// mixing versions.
//
// ReaderAt keeps the ctx it was made with because io.ReaderAt has no
// context parameter; make one per task and let it go with the task. It is
// safe for concurrent use. It does not cache: wrap it (or read whole row
// groups) when the caller issues many small reads.
type ReaderAt struct {
	ctx  context.Context
	b    Bucket
	key  string
	etag string
	size int64
}

// NewReaderAt returns a ReaderAt over key, which must have ETag etag (empty
// skips the check) and size bytes.
func NewReaderAt(ctx context.Context, b Bucket, key, etag string, size int64) *ReaderAt {
	return &ReaderAt{ctx: ctx, b: b, key: key, etag: etag, size: size}
}

// Size returns the object's size, as given to NewReaderAt.
func (r *ReaderAt) Size() int64 { return r.size }

// ReadAt implements io.ReaderAt: it returns io.EOF with fewer than len(p)
// bytes when the range reaches the end of the object.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("objstore: read %q at negative offset %d", r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := min(int64(len(p)), r.size-off)
	rc, _, err := r.b.Get(r.ctx, r.key, &GetOptions{Offset: off, Length: want, IfMatch: r.etag})
	if err != nil {
		return 0, fmt.Errorf("objstore: read %q [%d, %d): %w", r.key, off, off+want, err)
	}
	n, err := io.ReadFull(rc, p[:want])
	err = errors.Join(err, rc.Close())
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("object is shorter than the size %d it was opened with: %w", r.size, io.ErrUnexpectedEOF)
		}
		return n, fmt.Errorf("objstore: read %q [%d, %d): %w", r.key, off, off+want, err)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}
