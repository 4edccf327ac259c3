package fanout

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"

	"github.com/fanout-dev/fanout/functions"
)

// The shuffle format carries partial rows from map chunks to reduce tasks.
// A map attempt of an aggregating job writes one shuffle file:
//
//	"FOSH" 0x01                       magic and version
//	record*                           sorted by (partition, key bytes)
//	record := uvarint(len(key)) key uvarint(len(val)) val
//
// Partition p's records occupy the byte range [Partitions[p],
// Partitions[p+1]) recorded in the chunk marker, so a reduce task reads
// its partition of every map file with one ranged GET each. key is the
// encoding of the key columns and val of the state columns (rowCodec); the
// encoding is canonical, so equal keys have equal bytes and sorting bytes
// brings them together. The partition of a key is FNV-1a(key) mod R.
// Local spill runs use the same records, each preceded by uvarint(p).
const shuffleMagic = "FOSH\x01"

// rowCodec encodes rows of one schema: key columns and state columns
// apart.
type rowCodec struct {
	schema *functions.Schema
	keys   int
}

// appendCols appends a canonical encoding of row[from:to].
func (c rowCodec) appendCols(dst []byte, row functions.Row, from, to int) []byte {
	for i := from; i < to; i++ {
		v := row[i]
		if !v.Valid {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		switch c.schema.Columns[i].Type.Field() {
		case functions.FieldI:
			dst = binary.AppendVarint(dst, v.I)
		case functions.FieldF:
			f := v.F
			if f == 0 {
				f = 0 // -0 and +0 are one key
			}
			bits := math.Float64bits(f)
			if f != f {
				bits = 0x7ff8000000000001 // one NaN
			}
			dst = binary.BigEndian.AppendUint64(dst, bits)
		default:
			dst = binary.AppendUvarint(dst, uint64(len(v.S)))
			dst = append(dst, v.S...)
		}
	}
	return dst
}

func (c rowCodec) appendKey(dst []byte, row functions.Row) []byte {
	return c.appendCols(dst, row, 0, c.keys)
}

func (c rowCodec) appendVal(dst []byte, row functions.Row) []byte {
	return c.appendCols(dst, row, c.keys, len(c.schema.Columns))
}

var errCorruptShuffle = errors.New("corrupt shuffle data")

// decodeCols decodes b into row[from:to].
func (c rowCodec) decodeCols(b []byte, row functions.Row, from, to int) error {
	for i := from; i < to; i++ {
		if len(b) == 0 {
			return errCorruptShuffle
		}
		t := c.schema.Columns[i].Type
		valid := b[0] == 1
		b = b[1:]
		if !valid {
			row[i] = functions.Null(t)
			continue
		}
		switch t.Field() {
		case functions.FieldI:
			x, n := binary.Varint(b)
			if n <= 0 {
				return errCorruptShuffle
			}
			row[i] = functions.Value{Type: t, Valid: true, I: x}
			b = b[n:]
		case functions.FieldF:
			if len(b) < 8 {
				return errCorruptShuffle
			}
			row[i] = functions.Value{Type: t, Valid: true, F: math.Float64frombits(binary.BigEndian.Uint64(b))}
			b = b[8:]
		default:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errCorruptShuffle
			}
			row[i] = functions.Value{Type: t, Valid: true, S: string(b[n : n+int(l)])}
			b = b[n+int(l):]
		}
	}
	if len(b) != 0 {
		return errCorruptShuffle
	}
	return nil
}

// decode fills row (len = schema columns) from a record.
func (c rowCodec) decode(key, val []byte, row functions.Row) error {
	if err := c.decodeCols(key, row, 0, c.keys); err != nil {
		return err
	}
	return c.decodeCols(val, row, c.keys, len(c.schema.Columns))
}

// partitionOf hashes encoded key bytes onto one of r partitions.
func partitionOf(key []byte, r int) int {
	h := fnv.New64a()
	h.Write(key)
	return int(h.Sum64() % uint64(r))
}

// appendRecord appends one length-prefixed record.
func appendRecord(dst, key, val []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(val)))
	return append(dst, val...)
}

// recordStream reads length-prefixed records, each optionally preceded by
// its partition.
type recordStream struct {
	r             *bufio.Reader
	withPartition bool
	maxRecord     int
	part          int
	key, val      []byte
	closer        io.Closer
}

func newRecordStream(r io.Reader, withPartition bool, closer io.Closer) *recordStream {
	return &recordStream{r: bufio.NewReaderSize(r, 64<<10), withPartition: withPartition, maxRecord: 256 << 20, closer: closer}
}

// next reads the next record; io.EOF at a clean end.
func (s *recordStream) next() error {
	if s.withPartition {
		p, err := binary.ReadUvarint(s.r)
		if err != nil {
			return err // io.EOF at a clean end
		}
		s.part = int(p)
	}
	var err error
	if s.key, err = s.readBytes(s.key, !s.withPartition); err != nil {
		return err
	}
	if s.val, err = s.readBytes(s.val, false); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

func (s *recordStream) readBytes(buf []byte, eofOK bool) ([]byte, error) {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		if err == io.EOF && !eofOK {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if n > uint64(s.maxRecord) {
		return nil, fmt.Errorf("%w: record of %d bytes", errCorruptShuffle, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(s.r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

func (s *recordStream) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// mergeHeap orders streams by (partition, key).
type mergeHeap []*recordStream

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if h[i].part != h[j].part {
		return h[i].part < h[j].part
	}
	return bytes.Compare(h[i].key, h[j].key) < 0
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*recordStream)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeStreams merges sorted streams, calling group once per distinct
// (partition, key) with every value of that key in turn via each. It
// closes the streams.
func mergeStreams(streams []*recordStream, group func(part int, key []byte, vals func(yield func([]byte) bool)) error) (err error) {
	defer func() {
		for _, s := range streams {
			if cerr := s.Close(); err == nil {
				err = cerr
			}
		}
	}()
	h := make(mergeHeap, 0, len(streams))
	for _, s := range streams {
		switch err := s.next(); err {
		case nil:
			h = append(h, s)
		case io.EOF:
		default:
			return err
		}
	}
	heap.Init(&h)
	var curKey []byte
	for h.Len() > 0 {
		part := h[0].part
		curKey = append(curKey[:0], h[0].key...)
		var iterErr error
		vals := func(yield func([]byte) bool) {
			for h.Len() > 0 && h[0].part == part && bytes.Equal(h[0].key, curKey) {
				s := h[0]
				if !yield(s.val) {
					return
				}
				switch err := s.next(); err {
				case nil:
					heap.Fix(&h, 0)
				case io.EOF:
					heap.Pop(&h)
				default:
					iterErr = err
					return
				}
			}
		}
		if err := group(part, curKey, vals); err != nil {
			return err
		}
		if iterErr != nil {
			return iterErr
		}
		// Drain values the group did not consume.
		for h.Len() > 0 && h[0].part == part && bytes.Equal(h[0].key, curKey) {
			s := h[0]
			switch err := s.next(); err {
			case nil:
				heap.Fix(&h, 0)
			case io.EOF:
				heap.Pop(&h)
			default:
				return err
			}
		}
	}
	return nil
}
