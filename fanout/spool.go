package fanout

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/fanout-dev/fanout/objstore"
)

// spool buffers one output file: in memory up to memLimit bytes, then in a
// temporary file, so that many open partitions cost bounded memory and a
// file can be uploaded with a known size.
type spool struct {
	memLimit int
	mem      *bytes.Buffer
	file     *os.File
	size     int64
}

// spoolBuffers pools the memory of spools whose contents were uploaded:
// a convert writes a file per chunk and partition, and a fresh 2 MiB
// buffer for each kept the runtime busy returning memory to the system.
var spoolBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func newSpool(memLimit int) *spool {
	return &spool{memLimit: memLimit, mem: spoolBuffers.Get().(*bytes.Buffer)}
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && s.mem == nil {
		return 0, errors.New("spool: write after close")
	}
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
		s.recycle()
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
	if s.mem != nil {
		return memBody{bytes.NewReader(s.mem.Bytes()), s.mem.Bytes()}, nil
	}
	if s.file == nil {
		return nil, errors.New("spool: read after close")
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return s.file, nil
}

// memBody is a spool's bytes as a body a store may send without copying
// them (objstore.BytesBody).
type memBody struct {
	*bytes.Reader
	b []byte
}

// Bytes returns the bytes not read yet.
func (m memBody) Bytes() []byte { return m.b[len(m.b)-m.Len():] }

var _ objstore.BytesBody = memBody{}

// Size is the number of bytes written.
func (s *spool) Size() int64 { return s.size }

// Recycle hands the memory back for other spools. Call it only when
// nothing reads the spool any more: after an upload that succeeded (an
// HTTP request that failed may go on reading its body for a moment).
func (s *spool) Recycle() {
	if s.mem != nil && s.mem.Cap() <= 2*s.memLimit {
		s.recycle()
	}
}

func (s *spool) recycle() {
	if s.mem != nil {
		s.mem.Reset()
		spoolBuffers.Put(s.mem)
		s.mem = nil
	}
}

// Close releases the memory and removes the temporary file.
func (s *spool) Close() error {
	s.mem = nil
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
