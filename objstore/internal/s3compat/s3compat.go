// Package s3compat holds what the two S3 backends (miniostore and s3store)
// share and what is specific to S3's protocol rather than to one SDK: key
// rules, reading a body into parts with bounded memory, multipart ETags,
// copy-source escaping and the classification of transient network errors.
//
// Backend runs the algorithms both backends would otherwise each write
// (Config checks, retries and error mapping, Stat, Delete, Copy with its
// multipart path, and recognising a conditional write's own lost first
// attempt) over API, a backend's few SDK calls, and ErrorReader, the way
// its SDK reports an S3 error's code and status. A backend keeps only its
// SDK calls.
package s3compat

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/objstore"
	"golang.org/x/sync/errgroup"
)

// MaxKeyLen is S3's limit on a key's length in bytes.
const MaxKeyLen = 1024

// MaxParts is S3's limit on the number of parts of a multipart upload.
const MaxParts = 10000

// MinPartSize is S3's minimum size of every part but the last.
const MinPartSize = 5 << 20

// MaxSinglePutSize is S3's limit for one PUT or one server-side CopyObject.
const MaxSinglePutSize = 5 << 30

// CheckKey refuses keys no S3 backend stores: empty, longer than 1,024
// bytes, not valid UTF-8, or holding a NUL byte.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key: %w", objstore.ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("key of %d bytes is longer than S3's %d: %w", len(key), MaxKeyLen, objstore.ErrInvalidKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("key is not valid UTF-8: %w", objstore.ErrInvalidKey)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("key holds a NUL byte: %w", objstore.ErrInvalidKey)
	}
	return nil
}

// ReadUpTo reads r until EOF or until limit bytes, growing its buffer from
// 64 KiB (or from sizeHint when positive) so that small bodies cost small
// buffers. eof reports that the whole body fits: it is false when limit
// bytes were read, even if the body ends exactly there.
func ReadUpTo(r io.Reader, limit int, sizeHint int64) (buf []byte, eof bool, err error) {
	size := 64 << 10
	if sizeHint > 0 && sizeHint < int64(limit) {
		size = int(sizeHint) + 1 // +1 sees EOF without growing
	}
	buf = make([]byte, min(size, limit))
	n := 0
	for {
		m, err := io.ReadFull(r, buf[n:])
		n += m
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return buf[:n], true, nil
		case err != nil:
			return nil, false, err
		case n == limit:
			return buf, false, nil
		}
		bigger := make([]byte, min(2*len(buf), limit))
		copy(bigger, buf)
		buf = bigger
	}
}

// Part is one uploaded part.
type Part struct {
	Number int
	ETag   string
	Size   int64
}

// UploadParts uploads first and then the rest of r in parts of partSize
// bytes, at most concurrency at a time, with at most concurrency+1 part
// buffers alive (first included). first must be a full part. upload is
// called from several goroutines; it must retry by itself and must not keep
// data after it returns. It returns the parts in order and the total size.
func UploadParts(ctx context.Context, first []byte, r io.Reader, partSize, concurrency int,
	upload func(ctx context.Context, number int, data []byte) (etag string, err error),
) ([]Part, int64, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	free := make(chan []byte, concurrency+1)
	allocated := 1
	var (
		mu    sync.Mutex
		parts []Part
		total int64
	)
	record := func(p Part) {
		mu.Lock()
		defer mu.Unlock()
		for len(parts) < p.Number {
			parts = append(parts, Part{})
		}
		parts[p.Number-1] = p
	}
	send := func(number int, data []byte) {
		total += int64(len(data))
		g.Go(func() error {
			defer func() { free <- data[:cap(data)] }()
			etag, err := upload(gctx, number, data)
			if err != nil {
				return fmt.Errorf("part %d: %w", number, err)
			}
			record(Part{Number: number, ETag: etag, Size: int64(len(data))})
			return nil
		})
	}
	send(1, first)
	readErr := func() error {
		for number := 2; ; number++ {
			if err := gctx.Err(); err != nil {
				return nil // the group's error says why
			}
			var buf []byte
			select {
			case buf = <-free:
			default:
				if allocated <= concurrency {
					allocated++
					buf = make([]byte, partSize)
				} else {
					select {
					case buf = <-free:
					case <-gctx.Done():
						return nil
					}
				}
			}
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				if number > MaxParts {
					return fmt.Errorf("body needs more than %d parts of %d bytes; raise the part size", MaxParts, partSize)
				}
				send(number, buf[:n])
			} else {
				free <- buf
			}
			switch {
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				return nil
			case err != nil:
				return fmt.Errorf("reading body: %w", err)
			}
		}
	}()
	err := g.Wait()
	if readErr != nil {
		err = errors.Join(readErr, err)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, 0, err
	}
	return parts, total, nil
}

// MD5Hex returns the hex MD5 of b: the ETag S3 gives a single PUT of b
// (without SSE-KMS/SSE-C).
func MD5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// MultipartETag returns the ETag S3 and MinIO give a completed multipart
// upload of parts whose ETags are their MD5s: the MD5 of the concatenated
// binary MD5s, "-", the number of parts. It returns "" when a part's ETag is
// not a plain MD5 (encrypted uploads), meaning "unknown".
func MultipartETag(partETags []string) string {
	h := md5.New()
	for _, e := range partETags {
		b, err := hex.DecodeString(strings.Trim(e, `"`))
		if err != nil || len(b) != md5.Size {
			return ""
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partETags))
}

// TrimETag removes the quotes S3 puts around ETags.
func TrimETag(etag string) string { return strings.Trim(etag, `"`) }

// QuoteETag puts the quotes back for If-Match headers.
func QuoteETag(etag string) string {
	if etag == "*" || strings.HasPrefix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
}

// EscapeCopySource returns "bucket/key" percent-encoded for the
// x-amz-copy-source header: every byte but unreserved characters and '/' is
// escaped, so that '+', '&', '=', '?', '#' and '%' survive servers that
// decode the header as a query string or as a path.
func EscapeCopySource(bucket, key string) string {
	const hexDigits = "0123456789ABCDEF"
	s := bucket + "/" + key
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// TransientNetworkError reports whether err looks like a dropped or
// refused connection or a network timeout: worth retrying for idempotent
// requests. Context errors are not transient.
func TransientNetworkError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "server closed idle connection") ||
		strings.Contains(msg, "broken pipe") ||
		// minio-go's rewording of io.EOF on a connection the server closed
		// (a restarting server), which errors.Is no longer matches.
		strings.Contains(msg, "Connection closed by foreign host")
}

// RangeHeader returns the HTTP Range value for offset and length (length
// <= 0 meaning to the end), or "" for the whole object.
func RangeHeader(offset, length int64) string {
	switch {
	case offset <= 0 && length <= 0:
		return ""
	case length <= 0:
		return "bytes=" + strconv.FormatInt(offset, 10) + "-"
	default:
		return "bytes=" + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10)
	}
}

// TotalFromContentRange parses the object size out of a Content-Range
// header ("bytes 0-9/1234"); ok is false when it is absent or "*".
func TotalFromContentRange(v string) (int64, bool) {
	_, total, found := strings.Cut(v, "/")
	if !found || total == "*" {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
	return n, err == nil
}

// EmptyBody is the body of a Get whose range starts at or past the end.
func EmptyBody() io.ReadCloser { return io.NopCloser(strings.NewReader("")) }
