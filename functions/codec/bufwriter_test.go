package codec

import (
	"bytes"
	"errors"
	"testing"
)

// recordingWriter keeps what it is given and the size of each write.
type recordingWriter struct {
	bytes.Buffer
	writes []int
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.writes = append(r.writes, len(p))
	return r.Buffer.Write(p)
}

func TestGrowBuffer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sizes   []int // the writes, in order
		maxCap  int   // the buffer's capacity stays at or below this
		maxOuts int   // at most this many writes reach the writer below
	}{
		{"one small row", []int{20}, minWriteBuffer, 1},
		{"rows filling the first buffer", []int{1000, 1000, 1000, 1000}, minWriteBuffer, 1},
		{"rows past the first buffer grow it", []int{3000, 3000, 3000}, 4 * minWriteBuffer, 1},
		{"many rows reach the largest buffer", repeat(1000, 2000), writeBufferSize, 2000*1000/writeBufferSize + 1},
		{"a write larger than the largest buffer", []int{10, writeBufferSize + 1, 10}, writeBufferSize, 3},
		{"an empty write", []int{0}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out recordingWriter
			var want bytes.Buffer
			b := newGrowBuffer(&out)
			for i, n := range tc.sizes {
				p := bytes.Repeat([]byte{byte('a' + i%26)}, n)
				want.Write(p)
				if got, err := b.Write(p); err != nil || got != n {
					t.Fatalf("write %d of %d bytes: got %d, %v", i, n, got, err)
				}
				if cap(b.buf) > tc.maxCap {
					t.Fatalf("after write %d: buffer capacity %d, want at most %d", i, cap(b.buf), tc.maxCap)
				}
			}
			if err := b.Release(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want.Bytes()) {
				t.Fatalf("got %d bytes, want the %d written", out.Len(), want.Len())
			}
			if len(out.writes) > tc.maxOuts {
				t.Fatalf("got %d writes below (%v), want at most %d", len(out.writes), out.writes, tc.maxOuts)
			}
			if b.buf != nil {
				t.Fatalf("got a buffer of %d bytes after Release, want none", cap(b.buf))
			}
		})
	}
}

func repeat(n, times int) []int {
	s := make([]int, times)
	for i := range s {
		s[i] = n
	}
	return s
}

type failingWriter struct{ err error }

func (f failingWriter) Write(p []byte) (int, error) { return 0, f.err }

func TestGrowBufferErrorIsSticky(t *testing.T) {
	boom := errors.New("boom")
	b := newGrowBuffer(failingWriter{boom})
	if _, err := b.Write([]byte("x")); err != nil {
		t.Fatalf("a buffered write failed: %v", err)
	}
	if err := b.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush: got %v, want %v", err, boom)
	}
	if _, err := b.Write([]byte("y")); !errors.Is(err, boom) {
		t.Fatalf("Write after the failure: got %v, want %v", err, boom)
	}
}
