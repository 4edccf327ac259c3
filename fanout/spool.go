package fanout

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/fanout-dev/fanout/objstore"
)

// spool buffers one output file: in memory up to memLimit bytes, then in a
// temporary file, so that many open partitions cost bounded memory and a
// file can be uploaded with a known size.
type spool struct {
	memLimit int
	mem      bytes.Buffer
	file     *os.File
	size     int64
}

func newSpool(memLimit int) *spool { return &spool{memLimit: memLimit} }

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.mem.Len()+len(p) > s.memLimit {
		f, err := os.CreateTemp("", "fanout-spool-*")
		if err != nil {
			return 0, err
		}
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			f.Close()
			os.Remove(f.Name())
			return 0, err
		}
		s.file = f
		s.mem = bytes.Buffer{}
	}
	var n int
	var err error
	if s.file != nil {
		n, err = s.file.Write(p)
	} else {
		n, err = s.mem.Write(p)
	}
	s.size += int64(n)
	return n, err
}

// Reader returns the spooled bytes from the start.
func (s *spool) Reader() (io.Reader, error) {
	if s.file == nil {
		return bytes.NewReader(s.mem.Bytes()), nil
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.file, nil
}

// Size is the number of bytes written.
func (s *spool) Size() int64 { return s.size }

// Close releases the memory and removes the temporary file.
func (s *spool) Close() error {
	s.mem = bytes.Buffer{}
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	s.file = nil
	return errors.Join(err, os.Remove(name))
}

// putStaged uploads one file under an attempt's staging prefix. The
// attempt's context (cancelled when its lease is lost) does not cut the
// request in flight: a PUT cut off after the store has its body may still
// land after the attempt removed its staging prefix, and after the commit
// that removes staging is over, leaving garbage nobody lists again. So the
// write runs to completion, bounded by a timeout that grows with its size,
// and the lease is checked when it returns: an attempt then knows every
// object it wrote, and its cleanup finds them all.
func putStaged(ctx context.Context, b objstore.Bucket, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if ctx.Err() != nil {
		return objstore.ObjectInfo{}, context.Cause(ctx)
	}
	timeout := stagedPutTimeout + time.Duration(opts.Size/stagedPutMinRate)*time.Second
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	info, err := b.Put(wctx, key, r, opts)
	if err == nil && ctx.Err() != nil {
		return info, context.Cause(ctx)
	}
	return info, err
}

// stagedPutTimeout and stagedPutMinRate bound a staged write: a minute,
// plus a second per MiB.
const (
	stagedPutTimeout = time.Minute
	stagedPutMinRate = 1 << 20
)
