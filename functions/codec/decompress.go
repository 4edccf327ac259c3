package codec

import (
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow bounds the memory a zstd stream can make the decoder
// allocate for its window (zstd --long=27 needs 128 MiB).
const zstdMaxWindow = 128 << 20

// Decompress returns the decompressed bytes of r: compression is "" (or
// "none"), "gzip" (multi-member), "zstd" or "bzip2"; the usual file
// extensions (gz, zst, bz2) are accepted too. Reading more than maxBytes
// decompressed bytes fails with an error wrapping ErrDecompressedTooLarge
// (maxBytes <= 0: no limit). A corrupt or truncated stream fails with an
// error naming object that wraps the decoder's error (errors of r itself
// pass through unchanged when there is no compression). Close releases
// the decoder; it does not close r.
func Decompress(r io.Reader, compression string, maxBytes int64, object string) (rc io.ReadCloser, err error) {
	c := strings.ToLower(compression)
	defer func() {
		if p := recover(); p != nil {
			rc, err = nil, fmt.Errorf("codec: decompress %s %q: decoder panicked: %v", c, object, p)
		}
	}()
	d := &decompressor{object: object, kind: c, max: maxBytes}
	switch c {
	case "", "none", "identity":
		d.kind = "none"
		d.r = r
	case "gzip", "gz":
		d.kind = "gzip"
		zr, err := gzip.NewReader(r)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, d.wrap(err)
		}
		d.r, d.close = zr, zr.Close
	case "zstd", "zst":
		d.kind = "zstd"
		zr, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(zstdMaxWindow),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, d.wrap(err)
		}
		d.r, d.close = zr, func() error { zr.Close(); return nil }
	case "bzip2", "bz2":
		d.kind = "bzip2"
		d.r = bzip2.NewReader(r)
	default:
		return nil, fmt.Errorf("codec: %q: unknown compression %q (want gzip, zstd or bzip2)", object, compression)
	}
	return d, nil
}

// decompressor caps and labels a decoder's output.
type decompressor struct {
	r      io.Reader
	close  func() error
	object string
	kind   string
	max    int64
	n      int64
	err    error // sticky
}

func (d *decompressor) wrap(err error) error {
	return fmt.Errorf("codec: decompress %s %q at decompressed offset %d: %w", d.kind, d.object, d.n, err)
}

func (d *decompressor) Read(p []byte) (n int, err error) {
	if d.err != nil {
		return 0, d.err
	}
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, d.wrap(fmt.Errorf("decoder panicked: %v", r))
			d.err = err
		}
	}()
	if d.max > 0 && int64(len(p)) > d.max-d.n+1 {
		p = p[:d.max-d.n+1]
	}
	n, err = d.r.Read(p)
	d.n += int64(n)
	if d.max > 0 && d.n > d.max {
		n -= int(d.n - d.max)
		d.n = d.max
		d.err = fmt.Errorf("codec: decompress %s %q: %w (more than %d bytes)", d.kind, d.object, ErrDecompressedTooLarge, d.max)
		return n, d.err
	}
	if err != nil && err != io.EOF && d.kind != "none" {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = d.wrap(err)
		return n, d.err
	}
	return n, err
}

func (d *decompressor) Close() error {
	if d.close != nil {
		return d.close()
	}
	return nil
}
