package expr

import (
	"cmp"
	"math"
	"regexp"
	"strings"

	"github.com/fanout-dev/fanout/functions"
)

// tri is a truth value of SQL's three-valued logic.
type tri uint8

const (
	no tri = iota
	yes
	unknown // a comparison with null
)

func truth(b bool) tri {
	if b {
		return yes
	}
	return no
}

// node is a compiled expression. eval must not allocate.
type node interface {
	eval(row functions.Row) tri
}

// cell returns row[i], or null when the row is too short.
func cell(row functions.Row, i int) functions.Value {
	if i < len(row) {
		return row[i]
	}
	return functions.Value{}
}

// operand is a column (col >= 0), or a field or element inside a nested
// one (path), or a constant.
type operand struct {
	col  int
	path []step
	val  functions.Value
}

func (o *operand) get(row functions.Row) functions.Value {
	if o.col < 0 {
		return o.val
	}
	v := cell(row, o.col)
	for i := range o.path {
		v = o.path[i].apply(v)
	}
	return v
}

// step is one step into a nested value: a struct's field (a.b), a list's
// element (x[1], 1-based; x[-1] the last), a map's value (m['k']).
type step struct {
	kind functions.Kind
	i    int
	key  functions.Value
	typ  functions.Type // the result's, for its null
}

// apply takes the step from v: null when v is null or has no such field,
// element or key.
func (s *step) apply(v functions.Value) functions.Value {
	if v.Valid {
		items := v.Items()
		switch s.kind {
		case functions.KindStruct:
			if s.i < len(items) {
				return items[s.i]
			}
		case functions.KindList:
			i := s.i - 1
			if s.i < 0 {
				i = len(items) + s.i
			}
			if i >= 0 && i < len(items) {
				return items[i]
			}
		case functions.KindMap:
			for j := 0; j+1 < len(items); j += 2 {
				if items[j].Valid && functions.Compare(items[j], s.key) == 0 {
					return items[j+1]
				}
			}
		}
	}
	return functions.Null(s.typ)
}

type andNode struct{ l, r node }

func (n *andNode) eval(row functions.Row) tri {
	l := n.l.eval(row)
	if l == no {
		return no
	}
	if r := n.r.eval(row); r != yes {
		return r
	}
	return l
}

type orNode struct{ l, r node }

func (n *orNode) eval(row functions.Row) tri {
	l := n.l.eval(row)
	if l == yes {
		return yes
	}
	if r := n.r.eval(row); r != no {
		return r
	}
	return l
}

type notNode struct{ x node }

func (n *notNode) eval(row functions.Row) tri {
	switch n.x.eval(row) {
	case yes:
		return no
	case no:
		return yes
	}
	return unknown
}

// boolNode is a bool operand on its own.
type boolNode struct{ x operand }

func (n *boolNode) eval(row functions.Row) tri {
	v := n.x.get(row)
	if !v.Valid {
		return unknown
	}
	return truth(v.I != 0)
}

type isNullNode struct{ x operand }

func (n *isNullNode) eval(row functions.Row) tri { return truth(!n.x.get(row).Valid) }

type op uint8

const (
	opEQ op = iota
	opNE
	opLT
	opLE
	opGT
	opGE
)

func opOf(s string) op {
	switch s {
	case "!=", "<>":
		return opNE
	case "<":
		return opLT
	case "<=":
		return opLE
	case ">":
		return opGT
	case ">=":
		return opGE
	}
	return opEQ
}

// holds applies o to the result c of a comparison; ordered is false when a
// NaN made the operands incomparable, and then only != holds.
func (o op) holds(c int, ordered bool) bool {
	if !ordered {
		return o == opNE
	}
	switch o {
	case opEQ:
		return c == 0
	case opNE:
		return c != 0
	case opLT:
		return c < 0
	case opLE:
		return c <= 0
	case opGT:
		return c > 0
	}
	return c >= 0
}

// cmpKind says which fields of two values a comparison reads.
type cmpKind uint8

const (
	kInt      cmpKind = iota // I with I: int64, bool, timestamp
	kFloat                   // F with F
	kString                  // S with S
	kIntFloat                // I with F
	kFloatInt                // F with I
	kUint                    // I with I, unsigned (uint64)
	kTyped                   // functions.Compare (decimals of 19-38 digits)
)

// kindOf returns how values of types a and b compare, if they can.
func kindOf(a, b functions.Type) (cmpKind, bool) {
	a, b = widened(a), widened(b)
	switch {
	case a == b && a == functions.Uint64:
		return kUint, true
	case a == b && a.Kind() == functions.KindDecimal && a.Field() == functions.FieldS:
		return kTyped, true
	case a == b && a.Field() == functions.FieldS:
		return kString, true
	case a == b && a == functions.String:
		return kString, true
	case a == b && a == functions.Float64:
		return kFloat, true
	case a == b:
		return kInt, true
	case a == functions.Int64 && b == functions.Float64:
		return kIntFloat, true
	case a == functions.Float64 && b == functions.Int64:
		return kFloatInt, true
	}
	return 0, false
}

// widened is the type a value compares as: integers of every width but
// uint64 as int64, float32 as float64 (both are exact widenings).
func widened(t functions.Type) functions.Type {
	switch {
	case t.IsInteger() && t != functions.Uint64:
		return functions.Int64
	case t == functions.Float32:
		return functions.Float64
	}
	return t
}

type cmpNode struct {
	l, r operand
	op   op
	kind cmpKind
}

func (n *cmpNode) eval(row functions.Row) tri {
	a, b := n.l.get(row), n.r.get(row)
	if !a.Valid || !b.Valid {
		return unknown
	}
	c, ordered := 0, true
	switch n.kind {
	case kInt:
		c = cmp.Compare(a.I, b.I)
	case kUint:
		c = cmp.Compare(uint64(a.I), uint64(b.I))
	case kTyped:
		c = functions.Compare(a, b)
	case kString:
		c = strings.Compare(a.S, b.S)
	case kFloat:
		c, ordered = compareFloat(a.F, b.F)
	case kIntFloat:
		c, ordered = compareIntFloat(a.I, b.F)
	case kFloatInt:
		c, ordered = compareIntFloat(b.I, a.F)
		c = -c
	}
	return truth(n.op.holds(c, ordered))
}

func compareFloat(a, b float64) (int, bool) {
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	case a == b:
		return 0, true
	}
	return 0, false // NaN
}

// compareIntFloat compares i with f exactly, without rounding i to a float.
func compareIntFloat(i int64, f float64) (int, bool) {
	switch {
	case math.IsNaN(f):
		return 0, false
	case f >= 0x1p63:
		return -1, true
	case f < -0x1p63:
		return 1, true
	}
	t := math.Trunc(f)
	if c := cmp.Compare(i, int64(t)); c != 0 {
		return c, true
	}
	// i equals f's integer part: f's fraction decides.
	c, _ := compareFloat(t, f)
	return c, true
}

// inNode tests membership in a set of literals converted to the column's
// type.
type inNode struct {
	x      operand
	strs   map[string]struct{}
	ints   map[int64]struct{}
	floats map[float64]struct{}
}

// add puts v in the set. A value the column cannot hold (2.5 for an int64
// column) is left out: it can never match.
func (n *inNode) add(v functions.Value) {
	switch {
	case n.strs != nil:
		n.strs[v.S] = struct{}{}
	case n.floats != nil && v.Type.IsInteger():
		if f := float64(v.I); f < 0x1p63 && int64(f) == v.I {
			n.floats[f] = struct{}{}
		}
	case n.floats != nil:
		n.floats[v.F] = struct{}{}
	case v.Type == functions.Float64:
		if t := math.Trunc(v.F); t == v.F && t >= -0x1p63 && t < 0x1p63 {
			n.ints[int64(t)] = struct{}{}
		}
	default:
		n.ints[v.I] = struct{}{}
	}
}

func (n *inNode) eval(row functions.Row) tri {
	v := n.x.get(row)
	if !v.Valid {
		return unknown
	}
	var ok bool
	switch {
	case n.strs != nil:
		_, ok = n.strs[v.S]
	case n.floats != nil:
		_, ok = n.floats[v.F]
	default:
		_, ok = n.ints[v.I]
	}
	return truth(ok)
}

type likeNode struct {
	x   operand
	pat []likeTok
}

func (n *likeNode) eval(row functions.Row) tri {
	v := n.x.get(row)
	if !v.Valid {
		return unknown
	}
	return truth(likeMatch(n.pat, v.S))
}

type regexpNode struct {
	x  operand
	re *regexp.Regexp
}

func (n *regexpNode) eval(row functions.Row) tri {
	v := n.x.get(row)
	if !v.Valid {
		return unknown
	}
	return truth(n.re.MatchString(v.S))
}
