package builtin

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/fanout-dev/fanout/functions"
)

// This file holds what the aggregating functions (wordcount, aggregate,
// distinct, topk) share: the table in which Map pre-aggregates a chunk's
// partial rows, and a canonical byte encoding of values.

// Limits of a groupTable. The engine combines partial rows again, so the
// table only has to absorb the repetition within a stretch of one chunk;
// when it is full Map writes it out and empties it.
const (
	localMaxGroups = 100_000
	localMaxBytes  = 32 << 20
	// groupOverhead estimates the bytes a group costs besides its key and
	// state: the map slot, the key's string header, the state's slot.
	groupOverhead = 64
)

// groupTable maps encoded group keys to per-group state within one Map
// call.
type groupTable[S any] struct {
	index  map[string]int
	states []S
	bytes  int // estimated memory held
}

func newGroupTable[S any]() *groupTable[S] {
	return &groupTable[S]{index: map[string]int{}}
}

// find returns the index of key's state, adding a group when the key is
// new (created reports that). A new group's slot holds whatever state an
// earlier, flushed group left there, so that the caller can reuse its
// buffers; the caller must reinitialise it.
func (g *groupTable[S]) find(key []byte) (i int, created bool) {
	if i, ok := g.index[string(key)]; ok {
		return i, false
	}
	i = len(g.states)
	g.index[string(key)] = i
	if i < cap(g.states) {
		g.states = g.states[:i+1]
	} else {
		var zero S
		g.states = append(g.states, zero)
	}
	g.bytes += len(key) + groupOverhead
	return i, true
}

// grow accounts n more bytes of state.
func (g *groupTable[S]) grow(n int) { g.bytes += n }

// full reports whether the table should be flushed.
func (g *groupTable[S]) full() bool {
	return len(g.states) >= localMaxGroups || g.bytes >= localMaxBytes
}

// reset empties the table, keeping the states' buffers for reuse.
func (g *groupTable[S]) reset() {
	clear(g.index)
	g.states = g.states[:0]
	g.bytes = 0
}

// keyValue returns v as a key column of type t holds it: a typed null, or
// the value with -0 made 0 and every NaN one NaN, so that equal keys have
// equal encodings and print the same whatever row was seen first.
func keyValue(v functions.Value, t functions.Type) functions.Value {
	if !v.Valid {
		return functions.Null(t)
	}
	v.Type = t
	if t.Field() == functions.FieldF {
		switch {
		case v.F == 0:
			v.F = 0
		case v.F != v.F:
			v.F = math.NaN()
		}
	}
	return v
}

// appendValue appends an encoding of v as a value of type t: a byte 0
// (null) or 1, then a varint (int64, timestamp, bool), the IEEE bits
// (float64) or a length-prefixed string. Equal values have equal bytes
// when they went through keyValue, as in the engine's shuffle encoding,
// which this copies so that Map groups keys exactly as the engine does.
func appendValue(dst []byte, t functions.Type, v functions.Value) []byte {
	if !v.Valid {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	switch t.Field() {
	case functions.FieldI:
		return binary.AppendVarint(dst, v.I)
	case functions.FieldF:
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(v.F))
	}
	dst = binary.AppendUvarint(dst, uint64(len(v.S)))
	return append(dst, v.S...)
}

// appendKey appends the encoding of the key columns cols of row, laid out
// as s.
// It is appendValue(keyValue(...)) for each column, written out because
// it runs for every input row.
func appendKey(dst []byte, s *functions.Schema, row functions.Row, cols []int) []byte {
	for _, c := range cols {
		if c >= len(row) || !row[c].Valid {
			dst = append(dst, 0)
			continue
		}
		v := &row[c]
		dst = append(dst, 1)
		switch s.Columns[c].Type.Field() {
		case functions.FieldI:
			dst = binary.AppendVarint(dst, v.I)
		case functions.FieldF:
			f := v.F
			switch {
			case f == 0:
				f = 0
			case f != f:
				f = math.NaN()
			}
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
		default:
			dst = binary.AppendUvarint(dst, uint64(len(v.S)))
			dst = append(dst, v.S...)
		}
	}
	return dst
}

var errCorruptState = errors.New("corrupt partial state")

// decodeValue decodes one value of type t that appendValue wrote at the
// start of b and returns the rest of b.
func decodeValue(b []byte, t functions.Type) (functions.Value, []byte, error) {
	if len(b) == 0 || b[0] > 1 {
		return functions.Value{}, nil, errCorruptState
	}
	if b[0] == 0 {
		return functions.Null(t), b[1:], nil
	}
	b = b[1:]
	switch t.Field() {
	case functions.FieldI:
		x, n := binary.Varint(b)
		if n <= 0 {
			return functions.Value{}, nil, errCorruptState
		}
		return functions.Value{Type: t, Valid: true, I: x}, b[n:], nil
	case functions.FieldF:
		if len(b) < 8 {
			return functions.Value{}, nil, errCorruptState
		}
		return functions.Value{Type: t, Valid: true, F: math.Float64frombits(binary.BigEndian.Uint64(b))}, b[8:], nil
	}
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return functions.Value{}, nil, errCorruptState
	}
	return functions.Value{Type: t, Valid: true, S: string(b[n : n+int(l)])}, b[n+int(l):], nil
}

// compareTotal orders two non-null values of type t totally, so that min
// and max do not depend on the order they see values in: floats order
// -Inf < ... < -0 < +0 < ... < +Inf < NaN (as in PostgreSQL); other types
// as functions.Compare.
func compareTotal(a, b functions.Value, t functions.Type) int {
	if t.Field() != functions.FieldF {
		return functions.Compare(a, b)
	}
	an, bn := a.F != a.F, b.F != b.F
	switch {
	case an || bn:
		if an && bn {
			return 0
		}
		if an {
			return 1
		}
		return -1
	case a.F < b.F:
		return -1
	case a.F > b.F:
		return 1
	case a.F == 0: // and b.F == 0: order -0 before +0
		as, bs := math.Signbit(a.F), math.Signbit(b.F)
		if as == bs {
			return 0
		}
		if as {
			return -1
		}
		return 1
	}
	return 0
}
