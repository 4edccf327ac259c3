package codec

import "io"

// Bounds of the buffer in front of an output (growBuffer).
const (
	// minWriteBuffer is what a writer starts with: a chunk that writes a
	// few rows (the scale simulation writes one) holds 4 KiB, not the
	// full buffer. A worker process holds one such buffer per output file
	// in flight, so this is memory per worker, not per record.
	minWriteBuffer = 4 << 10
	// writeBufferSize is what the buffer grows to: writes of that size
	// are what an upload part or a file write wants.
	writeBufferSize = 256 << 10
)

// growBuffer buffers writes to w like a bufio.Writer of writeBufferSize
// bytes, but starts at minWriteBuffer and doubles only when the bytes
// waiting to be written do not fit, so that a writer that writes little
// holds little (heap profile of the scale simulation, 1,000 chunks x 50
// workers: the 256 KiB bufio buffers of the writers in flight were 42% of
// the heap). The first error of w is sticky.
type growBuffer struct {
	w   io.Writer
	buf []byte
	err error
}

func newGrowBuffer(w io.Writer) *growBuffer { return &growBuffer{w: w} }

// Write buffers p, writing the buffer out when it is full at its largest
// size; a p at least that large goes to w directly once the buffer is
// written.
func (b *growBuffer) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(b.buf)+len(p) > cap(b.buf) && cap(b.buf) < writeBufferSize {
		n := max(cap(b.buf), minWriteBuffer)
		for n < len(b.buf)+len(p) && n < writeBufferSize {
			n *= 2
		}
		b.buf = append(make([]byte, 0, min(n, writeBufferSize)), b.buf...)
	}
	if len(b.buf)+len(p) > cap(b.buf) {
		if err := b.Flush(); err != nil {
			return 0, err
		}
		if len(p) >= cap(b.buf) {
			n, err := b.w.Write(p)
			if err == nil && n < len(p) {
				err = io.ErrShortWrite
			}
			b.err = err
			return n, err
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes the buffered bytes to w.
func (b *growBuffer) Flush() error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf) == 0 {
		return nil
	}
	n, err := b.w.Write(b.buf)
	if err == nil && n < len(b.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		b.err = err
		return err
	}
	b.buf = b.buf[:0]
	return nil
}

// Release flushes and lets the buffer go: a closed writer that its owner
// still holds costs nothing.
func (b *growBuffer) Release() error {
	err := b.Flush()
	b.buf = nil
	return err
}
