package manifest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// The shuffle index tells each reduce task which byte range of which map
// file holds its partition. It is one object, created once
// (If-None-Match: *) when every map chunk has a marker, laid out so that
// a reduce task reads only its own part of it, whatever the number of map
// chunks:
//
//	"FOSX" 0x01                      magic and version
//	uint32 R                         reduce partitions (big endian)
//	(R+1) × uint64 offset            absolute start of section p; the
//	                                 last is the object's size
//	section 0 … section R-1
//
// Section p lists, in the order of the map chunks, every map file with a
// non-empty range of partition p:
//
//	entry := uvarint(chunk index) uvarint(shared) uvarint(len(rest)) rest
//	         uvarint(len(etag)) etag uvarint(offset) uvarint(length)
//
// The file's key is the first shared bytes of the section's previous
// entry's key followed by rest (front coding: the keys of one job's files
// differ only in their chunk and epoch). A reduce task reads the header
// (ShuffleIndexHeaderSize bytes, one ranged GET) and then its section
// (another), decoding it as a stream: memory and bytes read grow with its
// own slice, never with the whole index. A map file of R partitions costs
// about R entries of 25-60 bytes in all, once; the JSON index this
// replaced (R+1 offsets per file, ~9 bytes each) was read whole by every
// task.
const shuffleIndexMagic = "FOSX\x01"

// ShuffleIndexHeaderSize is the length of the header of an index of r
// partitions: what a reduce task reads first.
func ShuffleIndexHeaderSize(r int) int64 { return int64(len(shuffleIndexMagic)) + 4 + 8*int64(r+1) }

// ShuffleIndexKey is the key of the job's shuffle index.
func (l Layout) ShuffleIndexKey(job string) string { return l.JobPrefix(job) + "shuffle.idx" }

// ShuffleEntry is one map file's range of one reduce partition.
type ShuffleEntry struct {
	// Chunk is the map chunk's index (ChunkID names it).
	Chunk int
	// Key and ETag name the map attempt's shuffle file; a reduce task
	// reads it with If-Match: ETag.
	Key, ETag string
	// Offset and Length bound the partition's records in the file.
	Offset, Length int64
}

// ShuffleIndexError reports a shuffle index that cannot be read: the
// object is not one this package wrote, or was cut or changed. Offset is
// the byte of the object where decoding failed.
type ShuffleIndexError struct {
	Offset int64
	Reason string
}

func (e *ShuffleIndexError) Error() string {
	return fmt.Sprintf("manifest: shuffle index: at byte %d: %s", e.Offset, e.Reason)
}

// Unwrap makes the error match ErrInvalid.
func (e *ShuffleIndexError) Unwrap() error { return ErrInvalid }

// AppendShuffleIndexHeader appends the header of an index whose sections
// have the given lengths (len(sections) partitions).
func AppendShuffleIndexHeader(dst []byte, sections []int64) []byte {
	dst = append(dst, shuffleIndexMagic...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(sections)))
	off := ShuffleIndexHeaderSize(len(sections))
	for _, n := range sections {
		dst = binary.BigEndian.AppendUint64(dst, uint64(off))
		off += n
	}
	return binary.BigEndian.AppendUint64(dst, uint64(off))
}

// DecodeShuffleIndexHeader checks the header of an index of r partitions
// in an object of size bytes and returns its R+1 section offsets.
func DecodeShuffleIndexHeader(b []byte, r int, size int64) ([]int64, error) {
	want := ShuffleIndexHeaderSize(r)
	m := len(shuffleIndexMagic)
	switch {
	case len(b) < m || string(b[:m]) != shuffleIndexMagic:
		return nil, &ShuffleIndexError{0, "not a shuffle index of this version (bad magic)"}
	case len(b) >= m+4 && int64(binary.BigEndian.Uint32(b[m:])) != int64(r):
		return nil, &ShuffleIndexError{int64(m), fmt.Sprintf("index of %d partitions, the job has %d", binary.BigEndian.Uint32(b[m:]), r)}
	case int64(len(b)) < want:
		return nil, &ShuffleIndexError{int64(len(b)), fmt.Sprintf("header cut short: %d of %d bytes", len(b), want)}
	}
	b = b[m+4:]
	offsets := make([]int64, r+1)
	prev := want
	for i := range offsets {
		o := int64(binary.BigEndian.Uint64(b[8*i:]))
		if o < prev || o > size || (i == r && o != size) {
			return nil, &ShuffleIndexError{int64(len(shuffleIndexMagic)) + 4 + 8*int64(i),
				fmt.Sprintf("section offset %d out of order (previous %d, object of %d bytes)", o, prev, size)}
		}
		offsets[i], prev = o, o
	}
	return offsets, nil
}

// ShuffleSectionWriter encodes the entries of one section.
type ShuffleSectionWriter struct {
	prev string
}

// Append appends e's encoding to dst.
func (w *ShuffleSectionWriter) Append(dst []byte, e ShuffleEntry) []byte {
	shared := 0
	for shared < len(e.Key) && shared < len(w.prev) && e.Key[shared] == w.prev[shared] {
		shared++
	}
	dst = binary.AppendUvarint(dst, uint64(e.Chunk))
	dst = binary.AppendUvarint(dst, uint64(shared))
	dst = binary.AppendUvarint(dst, uint64(len(e.Key)-shared))
	dst = append(dst, e.Key[shared:]...)
	dst = binary.AppendUvarint(dst, uint64(len(e.ETag)))
	dst = append(dst, e.ETag...)
	dst = binary.AppendUvarint(dst, uint64(e.Offset))
	dst = binary.AppendUvarint(dst, uint64(e.Length))
	w.prev = e.Key
	return dst
}

// ShuffleSectionReader decodes one section as a stream.
type ShuffleSectionReader struct {
	r    *bufio.Reader
	pos  int64 // byte of the object at r's position
	end  int64
	prev []byte
	buf  []byte
}

// NewShuffleSectionReader reads the section [from, to) of an index from
// r, which starts at byte from of the object.
func NewShuffleSectionReader(r io.Reader, from, to int64) *ShuffleSectionReader {
	return &ShuffleSectionReader{r: bufio.NewReaderSize(r, 32<<10), pos: from, end: to}
}

// maxShuffleString bounds a key or ETag in an index (S3 keys are at most
// 1,024 bytes).
const maxShuffleString = 4096

// Next returns the section's next entry, or io.EOF after its last.
func (s *ShuffleSectionReader) Next() (ShuffleEntry, error) {
	if s.pos >= s.end {
		return ShuffleEntry{}, io.EOF
	}
	start := s.pos
	fail := func(reason string) (ShuffleEntry, error) {
		return ShuffleEntry{}, &ShuffleIndexError{s.pos, fmt.Sprintf("entry at byte %d: %s", start, reason)}
	}
	var v [6]uint64
	names := [...]string{"chunk", "shared key length", "key length", "ETag length", "offset", "length"}
	var e ShuffleEntry
	read := func(i int) bool {
		x, err := binary.ReadUvarint(s.r)
		if err != nil {
			return false
		}
		v[i] = x
		s.pos += int64(uvarintLen(x))
		return s.pos <= s.end
	}
	str := func(n uint64) ([]byte, bool) {
		if n > maxShuffleString {
			return nil, false
		}
		if uint64(cap(s.buf)) < n {
			s.buf = make([]byte, n)
		}
		s.buf = s.buf[:n]
		if _, err := io.ReadFull(s.r, s.buf); err != nil {
			return nil, false
		}
		s.pos += int64(n)
		return s.buf, s.pos <= s.end
	}
	for i := range 3 {
		if !read(i) {
			return fail("cannot read its " + names[i])
		}
	}
	if v[0] > 1<<40 {
		return fail("chunk index out of range")
	}
	if v[1] > uint64(len(s.prev)) {
		return fail(fmt.Sprintf("shares %d key bytes with a key of %d", v[1], len(s.prev)))
	}
	rest, ok := str(v[2])
	if !ok || v[1]+v[2] == 0 {
		return fail("cannot read its key")
	}
	s.prev = append(s.prev[:v[1]], rest...)
	e.Chunk, e.Key = int(v[0]), string(s.prev)
	if !read(3) {
		return fail("cannot read its ETag length")
	}
	etag, ok := str(v[3])
	if !ok {
		return fail("cannot read its ETag")
	}
	e.ETag = string(etag)
	for i := 4; i < 6; i++ {
		if !read(i) {
			return fail("cannot read its " + names[i])
		}
	}
	if v[4] > 1<<62 || v[5] == 0 || v[5] > 1<<62 {
		return fail(fmt.Sprintf("range %d+%d is not a non-empty range", v[4], v[5]))
	}
	e.Offset, e.Length = int64(v[4]), int64(v[5])
	return e, nil
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
