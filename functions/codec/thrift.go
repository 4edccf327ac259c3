package codec

import (
	"errors"
	"fmt"
	"math"
)

// thriftCheck walks Thrift compact-protocol bytes (a Parquet footer or page
// header) without allocating, so that lengths and counts a corrupt file
// claims are checked against the bytes actually there before parquet-go
// decodes it and allocates what they say. visit, when set, sees every
// integer and boolean (1 or 0) field of the top-level struct (parent 0)
// and of the structs directly inside it (parent = their field id).
//
// It also weighs what decoding the bytes makes parquet-go allocate: each
// list element by the Go size of what it becomes (a struct element, such
// as a ColumnChunk with what parquet-go builds around it, weighs
// structWeight), each binary by its length. A count is bounded by the
// bytes left (an element takes at least one byte), but an element of one
// byte can cost a kilobyte of Go memory: when alloc passes maxAlloc (if
// set) the check fails before parquet-go sees the bytes.
type thriftCheck struct {
	b     []byte
	i     int
	visit func(parent, field int16, v int64)

	alloc, maxAlloc int64

	// valueAt is where the integer visit is shown starts in b (its
	// varint ends at i).
	valueAt int
}

// Weights of what the Thrift decoder allocates per element, in bytes.
const (
	// structWeight covers the biggest Parquet struct met in lists
	// (format.ColumnChunk: 560 bytes) and what parquet-go builds for each
	// column chunk or schema element when it opens a file.
	structWeight = 1024
	// sliceWeight is a string, slice or map element's header.
	sliceWeight = 24
	// scalarWeight is a number or boolean element.
	scalarWeight = 8
)

// errThriftAlloc means decoding the bytes would allocate more than allowed.
var errThriftAlloc = errors.New("thrift: decoding would allocate too much")

// charge adds n elements of weight w to alloc.
func (t *thriftCheck) charge(n uint64, w int64) error {
	if n > uint64(math.MaxInt64/w) {
		n = uint64(math.MaxInt64 / w)
	}
	t.alloc += int64(n) * w
	if t.maxAlloc > 0 && t.alloc > t.maxAlloc {
		return fmt.Errorf("%w: more than %d bytes for %d bytes of Thrift (%d elements of %d bytes at offset %d)", errThriftAlloc, t.maxAlloc, len(t.b), n, w, t.i)
	}
	return nil
}

// elemWeight is the weight of one list element of compact type typ.
func elemWeight(typ byte) int64 {
	switch typ {
	case 12:
		return structWeight
	case 8, 9, 10, 11:
		return sliceWeight
	}
	return scalarWeight
}

// maxThriftDepth bounds nesting (Parquet's footer nests a handful deep).
const maxThriftDepth = 64

// errThriftShort means the bytes end before what they claim: a page
// header read through a too-small window, or corruption.
var errThriftShort = errors.New("thrift: data ends early")

// structLen checks one struct at the start of b and returns its length.
func (t *thriftCheck) structLen() (int, error) {
	t.i = 0
	if err := t.skipStruct(0, 0); err != nil {
		return 0, err
	}
	return t.i, nil
}

func (t *thriftCheck) byte() (byte, error) {
	if t.i >= len(t.b) {
		return 0, errThriftShort
	}
	c := t.b[t.i]
	t.i++
	return c, nil
}

func (t *thriftCheck) uvarint() (uint64, error) {
	var x uint64
	for shift := 0; shift < 70; shift += 7 {
		c, err := t.byte()
		if err != nil {
			return 0, err
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, errors.New("thrift: varint too long")
}

func (t *thriftCheck) varint() (int64, error) {
	u, err := t.uvarint()
	return int64(u>>1) ^ -int64(u&1), err
}

// remaining is how many bytes are left.
func (t *thriftCheck) remaining() uint64 { return uint64(len(t.b) - t.i) }

func (t *thriftCheck) skipStruct(depth int, parent int16) error {
	if depth > maxThriftDepth {
		return errors.New("thrift: nested too deep")
	}
	var id int16
	for {
		h, err := t.byte()
		if err != nil {
			return err
		}
		typ := h & 0x0f
		if typ == 0 {
			return nil
		}
		if d := h >> 4; d != 0 {
			id += int16(d)
		} else {
			v, err := t.varint()
			if err != nil {
				return err
			}
			id = int16(v)
		}
		if t.visit != nil && depth <= 1 && (typ == 1 || typ == 2) {
			// A boolean field's value is its type: 1 true, 2 false.
			if depth == 0 {
				t.visit(0, id, int64(2-typ))
			} else {
				t.visit(parent, id, int64(2-typ))
			}
			continue
		}
		if t.visit != nil && depth <= 1 && (typ == 4 || typ == 5 || typ == 6) {
			t.valueAt = t.i
			v, err := t.varint()
			if err != nil {
				return err
			}
			if depth == 0 {
				t.visit(0, id, v)
			} else {
				t.visit(parent, id, v)
			}
			continue
		}
		if typ == 12 && depth == 0 {
			if err := t.skipStruct(depth+1, id); err != nil {
				return err
			}
			continue
		}
		if err := t.skip(typ, depth+1, false); err != nil {
			return err
		}
	}
}

// skip skips one value of compact type typ; inList marks list elements,
// where booleans take a byte.
func (t *thriftCheck) skip(typ byte, depth int, inList bool) error {
	if depth > maxThriftDepth {
		return errors.New("thrift: nested too deep")
	}
	switch typ {
	case 1, 2: // bool
		if inList {
			_, err := t.byte()
			return err
		}
		return nil
	case 3: // i8
		_, err := t.byte()
		return err
	case 4, 5, 6: // i16, i32, i64
		_, err := t.uvarint()
		return err
	case 7: // double
		if t.remaining() < 8 {
			return errThriftShort
		}
		t.i += 8
		return nil
	case 8: // binary
		n, err := t.uvarint()
		if err != nil {
			return err
		}
		if n > t.remaining() {
			return fmt.Errorf("%w: binary of %d bytes with %d left", errThriftShort, n, t.remaining())
		}
		t.i += int(n)
		return t.charge(n, 1)
	case 9, 10: // list, set
		h, err := t.byte()
		if err != nil {
			return err
		}
		n := uint64(h >> 4)
		if n == 15 {
			if n, err = t.uvarint(); err != nil {
				return err
			}
		}
		if n > t.remaining() {
			return fmt.Errorf("%w: list of %d elements with %d bytes left", errThriftShort, n, t.remaining())
		}
		et := h & 0x0f
		if err := t.charge(n, elemWeight(et)); err != nil {
			return err
		}
		for range n {
			if err := t.skip(et, depth+1, true); err != nil {
				return err
			}
		}
		return nil
	case 11: // map
		n, err := t.uvarint()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n > t.remaining() {
			return fmt.Errorf("%w: map of %d entries with %d bytes left", errThriftShort, n, t.remaining())
		}
		kv, err := t.byte()
		if err != nil {
			return err
		}
		if err := t.charge(n, elemWeight(kv>>4)+elemWeight(kv&0x0f)); err != nil {
			return err
		}
		for range n {
			if err := t.skip(kv>>4, depth+1, true); err != nil {
				return err
			}
			if err := t.skip(kv&0x0f, depth+1, true); err != nil {
				return err
			}
		}
		return nil
	case 12: // struct
		return t.skipStruct(depth, -1)
	case 13: // uuid
		if t.remaining() < 16 {
			return errThriftShort
		}
		t.i += 16
		return nil
	}
	return fmt.Errorf("thrift: unknown type %d", typ)
}
