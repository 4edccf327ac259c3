package manifest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// RawShard is a shard whose chunks are left encoded: a worker runs a few
// of a shard's thousands of chunks, and decoding all of them was most of
// the scale simulation's CPU (each of 100 simulated workers decoded the
// 10,000 chunks of the shard it worked in: ~470 µs of CPU a chunk run).
// SplitShard cuts a shard's JSON into its chunks' JSON in one pass;
// DecodeChunk decodes and validates the one a worker runs.
type RawShard struct {
	Version int
	Job     string
	Index   int
	// Chunks holds each chunk's JSON, compact (no newline), in the
	// shard's order; the slices may share the shard's bytes.
	Chunks [][]byte
}

// SplitShard reads a shard's header (version, job, index) and cuts its
// chunks apart without decoding them. The header is checked as
// Shard.Validate checks it, the chunks only for their JSON's structure
// (brackets, strings, commas): DecodeChunk checks the rest of each.
// Errors match ErrUnsupportedVersion or ErrInvalid.
func SplitShard(b []byte) (*RawShard, error) {
	return splitShard(b, nil)
}

// splitShard is SplitShard that also calls at, when not nil, with the
// byte range of each chunk's JSON in b.
func splitShard(b []byte, at func(start, end int)) (*RawShard, error) {
	s := &RawShard{}
	sc := &jsonScanner{b: b}
	var version json.RawMessage
	err := sc.object(func(key []byte) error {
		switch {
		case fieldIs(key, "chunks"):
			s.Chunks = nil // a key given twice: the last wins, as in encoding/json
			return sc.array(func(elem []byte) error {
				if at != nil {
					at(sc.i-len(elem), sc.i)
				}
				if bytes.IndexByte(elem, '\n') >= 0 {
					// Whitespace only (a string holds no raw newline):
					// the chunk is one line of the compact form.
					var c bytes.Buffer
					if err := json.Compact(&c, elem); err != nil {
						return err
					}
					elem = c.Bytes()
				}
				s.Chunks = append(s.Chunks, elem)
				return nil
			})
		case fieldIs(key, "version"):
			v, err := sc.value()
			version = v
			return err
		case fieldIs(key, "job"):
			return sc.decode(&s.Job)
		case fieldIs(key, "index"):
			return sc.decode(&s.Index)
		}
		_, err := sc.value()
		return err
	})
	if err == nil {
		sc.space()
		if sc.i != len(b) {
			err = fmt.Errorf("invalid character %q after top-level value", b[sc.i])
		}
	}
	if verr := s.checkVersion(version); verr != nil || err != nil {
		if !json.Valid(b) {
			// As DecodeShard: what is not JSON is invalid, whatever its
			// version says (and the scan checks no value it skips).
			var v any
			return nil, invalid("shard", json.Unmarshal(b, &v))
		}
		if verr != nil {
			return nil, verr
		}
		return nil, invalid("shard", err)
	}
	kind := fmt.Sprintf("shard %d", s.Index)
	switch {
	case !ValidJobID(s.Job):
		return nil, invalid(kind, fmt.Errorf("job %q is not a job ID", truncate(s.Job, 40)))
	case s.Index < 0:
		return nil, invalid(kind, errors.New("negative index"))
	case len(s.Chunks) == 0:
		return nil, invalid(kind, errors.New("holds no chunks"))
	}
	return s, nil
}

// checkVersion sets the shard's version from its JSON and checks it as
// decode does.
func (s *RawShard) checkVersion(version json.RawMessage) error {
	if version == nil {
		return invalid("shard", errors.New("no version"))
	}
	if err := json.Unmarshal(version, &s.Version); err != nil {
		return invalid("shard", fmt.Errorf("version %s is not an integer", truncate(string(version), 40)))
	}
	return checkVersion("shard", s.Version)
}

// fieldIs reports whether a JSON object key (quoted, maybe escaped)
// names the field, matched as encoding/json matches a field's tag
// (case-insensitively).
func fieldIs(key []byte, name string) bool {
	if len(key) == len(name)+2 && bytes.IndexByte(key, '\\') < 0 {
		return strings.EqualFold(string(key[1:len(key)-1]), name)
	}
	var k string
	return json.Unmarshal(key, &k) == nil && strings.EqualFold(k, name)
}

// DecodeChunk decodes and validates one chunk's JSON as SplitShard gives
// it, which must be the chunk id. Errors match ErrInvalid.
func DecodeChunk(b []byte, id string) (Chunk, error) {
	c, ok := decodeChunkFast(b)
	if !ok {
		c = Chunk{}
		if err := json.Unmarshal(b, &c); err != nil {
			return Chunk{}, invalid("chunk "+id, err)
		}
	}
	if err := c.Validate(); err != nil {
		return Chunk{}, invalid("chunk "+id, err)
	}
	if c.ID != id {
		return Chunk{}, invalid("chunk "+id, fmt.Errorf("the shard holds chunk %s in its place", truncate(c.ID, 40)))
	}
	return c, nil
}

// CheckRawShard checks that a split shard belongs to the manifest as
// CheckShard does: its job, an index in range and the chunks of its
// index, the first of them decoded.
func (m *Manifest) CheckRawShard(s *RawShard) error {
	kind := fmt.Sprintf("shard %d", s.Index)
	if s.Job != m.Job {
		return invalid(kind, fmt.Errorf("belongs to job %q, not %q", truncate(s.Job, 40), m.Job))
	}
	if s.Index < 0 || s.Index >= m.Shards {
		return invalid(kind, fmt.Errorf("index out of range: the manifest has %d shards", m.Shards))
	}
	first, end := m.ShardBounds(s.Index)
	if len(s.Chunks) != end-first {
		return invalid(kind, fmt.Errorf("holds %d chunks, want chunks [%d, %d)", len(s.Chunks), first, end))
	}
	if _, err := DecodeChunk(s.Chunks[0], ChunkID(first)); err != nil {
		return invalid(kind, err)
	}
	return nil
}

// jsonScanner walks JSON text structurally: strings, brackets, commas
// and colons are checked, scalars only cut out (whoever decodes a value
// checks it).
type jsonScanner struct {
	b []byte
	i int
}

func (sc *jsonScanner) space() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\r', '\n':
			sc.i++
		default:
			return
		}
	}
}

func (sc *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", sc.i, fmt.Sprintf(format, args...))
}

// expect consumes c after optional space.
func (sc *jsonScanner) expect(c byte) error {
	sc.space()
	if sc.i >= len(sc.b) {
		return sc.errorf("unexpected end, want %q", c)
	}
	if sc.b[sc.i] != c {
		return sc.errorf("invalid character %q, want %q", sc.b[sc.i], c)
	}
	sc.i++
	return nil
}

// object walks an object, calling field with each key (quoted) with the
// scanner at the key's value, which field must consume.
func (sc *jsonScanner) object(field func(key []byte) error) error {
	if err := sc.expect('{'); err != nil {
		return err
	}
	sc.space()
	if sc.i < len(sc.b) && sc.b[sc.i] == '}' {
		sc.i++
		return nil
	}
	for {
		sc.space()
		start := sc.i
		if err := sc.str(); err != nil {
			return err
		}
		key := sc.b[start:sc.i]
		if err := sc.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		sc.space()
		if sc.i >= len(sc.b) {
			return sc.errorf("unexpected end in an object")
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return nil
		default:
			return sc.errorf("invalid character %q in an object", sc.b[sc.i])
		}
	}
}

// array walks an array (or null), calling elem with each element's text.
func (sc *jsonScanner) array(elem func([]byte) error) error {
	sc.space()
	if bytes.HasPrefix(sc.b[sc.i:], []byte("null")) {
		sc.i += 4
		return nil
	}
	if err := sc.expect('['); err != nil {
		return err
	}
	sc.space()
	if sc.i < len(sc.b) && sc.b[sc.i] == ']' {
		sc.i++
		return nil
	}
	for {
		v, err := sc.value()
		if err != nil {
			return err
		}
		if err := elem(v); err != nil {
			return err
		}
		sc.space()
		if sc.i >= len(sc.b) {
			return sc.errorf("unexpected end in an array")
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case ']':
			sc.i++
			return nil
		default:
			return sc.errorf("invalid character %q in an array", sc.b[sc.i])
		}
	}
}

// decode decodes the value at the scanner into v.
func (sc *jsonScanner) decode(v any) error {
	raw, err := sc.value()
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// str consumes a string. It looks at eight bytes at a time for the first
// that ends the scan (a quote, a backslash or a control character,
// stringStops): the strings of a shard (keys, ETags) were most of a
// shard's split, and each worker of the scale simulation splits each
// shard it works in.
func (sc *jsonScanner) str() error {
	b := sc.b
	if sc.i >= len(b) || b[sc.i] != '"' {
		return sc.errorf("want a string")
	}
	for i := sc.i + 1; i < len(b); {
		if i+8 <= len(b) {
			m := stringStops(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		switch c := b[i]; {
		case c == '\\':
			i += 2
		case c == '"':
			sc.i = i + 1
			return nil
		case c < 0x20:
			return sc.errorf("control character in a string")
		default:
			i++
		}
	}
	return sc.errorf("unterminated string")
}

// Bytes repeated in each of a word's eight bytes, for stringStops.
const (
	ones8 = 0x0101010101010101
	high8 = 0x8080808080808080
)

// stringStops marks the bytes of x (little-endian: the first in the low
// bits) that a string's scan stops at, '"', '\\' and control characters
// (< 0x20), with their high bit. Of the bytes marked the first is exact;
// those after it may not be (a subtraction's borrow runs upwards), and
// no byte that stops is left unmarked: (v - ones8) &^ v & high8 marks the
// zero bytes of v, (x - ones8*n) &^ x & high8 the bytes of x below n
// (n <= 128).
func stringStops(x uint64) uint64 {
	q := x ^ (ones8 * '"')
	e := x ^ (ones8 * '\\')
	return ((q-ones8)&^q | (e-ones8)&^e | (x-ones8*0x20)&^x) & high8
}

// value consumes one value and returns its text.
func (sc *jsonScanner) value() ([]byte, error) {
	sc.space()
	start := sc.i
	if sc.i >= len(sc.b) {
		return nil, sc.errorf("unexpected end, want a value")
	}
	switch sc.b[sc.i] {
	case '"':
		if err := sc.str(); err != nil {
			return nil, err
		}
	case '{', '[':
		var closers []byte
		for sc.i < len(sc.b) {
			switch c := sc.b[sc.i]; c {
			case '"':
				if err := sc.str(); err != nil {
					return nil, err
				}
				continue
			case '{':
				closers = append(closers, '}')
			case '[':
				closers = append(closers, ']')
			case '}', ']':
				if len(closers) == 0 || closers[len(closers)-1] != c {
					return nil, sc.errorf("unexpected %q", c)
				}
				closers = closers[:len(closers)-1]
			}
			sc.i++
			if len(closers) == 0 {
				return sc.b[start:sc.i], nil
			}
		}
		return nil, sc.errorf("unexpected end in a value")
	default:
		for sc.i < len(sc.b) {
			switch sc.b[sc.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				goto end
			case '{', '[', '"', ':':
				return nil, sc.errorf("invalid character %q in a scalar", sc.b[sc.i])
			}
			sc.i++
		}
	end:
		if sc.i == start {
			return nil, sc.errorf("want a value")
		}
	}
	return sc.b[start:sc.i], nil
}
