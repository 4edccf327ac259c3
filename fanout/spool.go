package fanout

import (
	"bytes"
	"errors"
	"io"
	"os"
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
