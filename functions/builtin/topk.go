package builtin

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/functions"
)

// maxTopK caps k: a group's kept rows travel as one value.
const maxTopK = 100_000

// TopK is the topk function: per group, the k rows with the largest value
// of a column, as SQL's ORDER BY col DESC LIMIT k within each group.
//
// Arguments:
//
//	k=N          required: how many rows to keep per group (1 to 100000)
//	order=col    required: the column to rank by; any type
//	by=col,...   the group columns (default: none, the k largest overall)
//
// The output rows are input rows, unchanged; within a group they come
// largest first. Rows with a null order value come last (they are kept
// only when a group has fewer than k others); floats order NaN above +Inf
// and -0 equal to +0. Rows with equal order values are ranked by their
// encoded bytes, so which of them are kept does not depend on how the
// input is split into chunks or the order partial results are merged.
type TopK struct{}

// Name returns "topk".
func (TopK) Name() string { return "topk" }

// Describe returns one line of help.
func (TopK) Describe() string {
	return "the k rows with the largest order column per group: k=N order=col [by=col,...]"
}

// Prepare checks k and finds the columns.
func (TopK) Prepare(p functions.Params) (functions.Task, error) {
	const fn = "topk"
	if err := checkArgs(fn, p.Args, "by", "k", "order"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	t := &topKTask{in: in, partial: &functions.Schema{}}
	ks, ok := p.Args["k"]
	if !ok {
		return nil, functions.Permanent(errors.New("topk: missing argument k (how many rows to keep per group)"))
	}
	if t.k, err = strconv.Atoi(strings.TrimSpace(ks)); err != nil || t.k < 1 || t.k > maxTopK {
		return nil, argError(fn, "k", ks, fmt.Errorf("want an integer from 1 to %d", maxTopK))
	}
	order, ok := p.Args["order"]
	if !ok {
		return nil, functions.Permanent(errors.New("topk: missing argument order (the column to rank by)"))
	}
	if t.order, err = columnIndex(in, strings.TrimSpace(order)); err != nil {
		return nil, argError(fn, "order", order, err)
	}
	if by, ok := p.Args["by"]; ok {
		if t.by, err = selectColumns(in, by); err != nil {
			return nil, argError(fn, "by", by, err)
		}
	}
	// The kept rows travel whole, encoded as flat values.
	all := make([]int, len(in.Columns))
	for i := range all {
		all[i] = i
	}
	if err := flatColumns(in, all, "topk"); err != nil {
		return nil, functions.Permanent(fmt.Errorf("topk: %w", err))
	}
	for _, c := range t.by {
		t.partial.Columns = append(t.partial.Columns, in.Columns[c])
	}
	name := "__topk"
	for n := 2; t.partial.Index(name) >= 0; n++ {
		name = fmt.Sprintf("__topk#%d", n)
	}
	t.partial.Columns = append(t.partial.Columns, functions.Column{Name: name, Type: functions.String})
	return t, nil
}

// topKTask writes one partial row per group: the group columns, then
// __topk, a string holding the group's kept rows best first, each as
//
//	uvarint(len(elem)) elem
//	elem := sortKey(order value) row
//
// where row is the input row, each column as appendValue encodes it, and
// sortKey is an encoding whose byte order is the rank (see appendSortKey).
// Elements therefore rank by plain byte comparison, ties in the order value
// by the row's bytes, and merging two lists is a merge of sorted byte
// strings.
type topKTask struct {
	in      *functions.Schema
	partial *functions.Schema
	by      []int
	order   int
	k       int
}

var _ functions.Reducer = (*topKTask)(nil)

func (t *topKTask) Output() *functions.Schema { return t.partial }
func (t *topKTask) KeyColumns() int           { return len(t.by) }
func (t *topKTask) Final() *functions.Schema  { return t.in }

// topGroup is one group's state in Map: its key values and up to k
// elements, kept as a max-heap so that the worst is at elems[0].
type topGroup struct {
	key   functions.Row
	elems [][]byte
}

// Map keeps each group's k best elements in a groupTable, written whenever
// it fills and at the end. A row whose order value ranks below a full
// group's worst is dropped without encoding the row.
func (t *topKTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	groups := newGroupTable[topGroup]()
	row := make(functions.Row, len(t.by)+1)
	var list []byte
	flush := func() error {
		for i := range groups.states {
			g := &groups.states[i]
			slices.SortFunc(g.elems, bytes.Compare)
			list = list[:0]
			for _, e := range g.elems {
				list = binary.AppendUvarint(list, uint64(len(e)))
				list = append(list, e...)
			}
			copy(row, g.key)
			row[len(t.by)] = functions.StringValue(string(list))
			if err := out.Write(row); err != nil {
				return err
			}
		}
		groups.reset()
		return nil
	}
	orderType := t.in.Columns[t.order].Type
	var key, cand []byte
	err := each(ctx, in, func(rec *functions.Record) error {
		key = appendKey(key[:0], t.in, rec.Row, t.by)
		i, created := groups.find(key)
		g := &groups.states[i]
		if created {
			g.key = g.key[:0]
			for _, c := range t.by {
				g.key = append(g.key, keyValue(cell(rec.Row, c), t.in.Columns[c].Type))
			}
			g.elems = g.elems[:0]
		}
		cand = appendSortKey(cand[:0], orderType, cell(rec.Row, t.order))
		if len(g.elems) == t.k {
			worst := g.elems[0]
			if !bytes.HasPrefix(worst, cand) && bytes.Compare(cand, worst) > 0 {
				return nil // ranks below the worst kept
			}
			cand = t.appendRow(cand, rec.Row)
			if bytes.Compare(cand, worst) >= 0 {
				return nil
			}
			groups.grow(len(cand) - len(worst))
			g.elems[0] = append(worst[:0], cand...)
			siftDown(g.elems, 0)
		} else {
			cand = t.appendRow(cand, rec.Row)
			n := len(g.elems)
			var e []byte
			if n < cap(g.elems) {
				e = g.elems[:n+1][n] // a flushed group's buffer
			}
			g.elems = append(g.elems, append(e[:0], cand...))
			siftUp(g.elems, n)
			groups.grow(len(cand) + 24)
		}
		if groups.full() {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// appendRow appends the encoding of every input column of row.
func (t *topKTask) appendRow(dst []byte, row functions.Row) []byte {
	for c, col := range t.in.Columns {
		dst = appendValue(dst, col.Type, cell(row, c))
	}
	return dst
}

// siftUp and siftDown keep elems a max-heap by byte order.
func siftUp(elems [][]byte, i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if bytes.Compare(elems[i], elems[parent]) <= 0 {
			return
		}
		elems[i], elems[parent] = elems[parent], elems[i]
		i = parent
	}
}

func siftDown(elems [][]byte, i int) {
	for {
		max, l := i, 2*i+1
		if l < len(elems) && bytes.Compare(elems[l], elems[max]) > 0 {
			max = l
		}
		if r := l + 1; r < len(elems) && bytes.Compare(elems[r], elems[max]) > 0 {
			max = r
		}
		if max == i {
			return
		}
		elems[i], elems[max] = elems[max], elems[i]
		i = max
	}
}

// Merge merges the two sorted lists, keeping the first k.
func (t *topKTask) Merge(acc, in functions.Row) error {
	s := len(t.by)
	if len(acc) != s+1 || len(in) != s+1 {
		return functions.Permanent(fmt.Errorf("topk: merge rows of %d and %d columns, want %d", len(acc), len(in), s+1))
	}
	a, b := acc[s].S, in[s].S
	var out []byte
	fromB := false
	var ea, eb string
	var okA, okB bool
	ea, a, okA = nextElem(a)
	eb, b, okB = nextElem(b)
	for n := 0; n < t.k && (okA || okB); n++ {
		var e string
		if okA && (!okB || ea <= eb) {
			e = ea
			ea, a, okA = nextElem(a)
		} else {
			e, fromB = eb, true
			eb, b, okB = nextElem(b)
		}
		out = binary.AppendUvarint(out, uint64(len(e)))
		out = append(out, e...)
	}
	if (a != "" && !okA) || (b != "" && !okB) {
		return functions.Permanent(fmt.Errorf("topk: %w", errCorruptState))
	}
	if fromB {
		acc[s] = functions.StringValue(string(out))
	}
	return nil
}

// nextElem splits the first element off list. ok is false at the end of
// the list, and when the list is corrupt (then rest is not empty).
func nextElem(list string) (elem, rest string, ok bool) {
	var n uint64
	for i := 0; i < len(list) && i < binary.MaxVarintLen64; i++ {
		c := list[i]
		n |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if end := uint64(i + 1); n <= uint64(len(list))-end {
				return list[end : end+n], list[end+n:], true
			}
			break
		}
	}
	return "", list, false
}

// Finish writes the kept rows, best first.
func (t *topKTask) Finish(partial functions.Row, out functions.Output) error {
	s := len(t.by)
	if len(partial) != s+1 {
		return functions.Permanent(fmt.Errorf("topk: finish a row of %d columns, want %d", len(partial), s+1))
	}
	list := partial[s].S
	row := make(functions.Row, len(t.in.Columns))
	orderType := t.in.Columns[t.order].Type
	for list != "" {
		e, rest, ok := nextElem(list)
		if !ok {
			return functions.Permanent(fmt.Errorf("topk: %w", errCorruptState))
		}
		list = rest
		b, ok := skipSortKey([]byte(e), orderType)
		if !ok {
			return functions.Permanent(fmt.Errorf("topk: %w", errCorruptState))
		}
		for c, col := range t.in.Columns {
			var err error
			if row[c], b, err = decodeValue(b, col.Type); err != nil {
				return functions.Permanent(fmt.Errorf("topk: %w", err))
			}
		}
		if len(b) != 0 {
			return functions.Permanent(fmt.Errorf("topk: %w", errCorruptState))
		}
		if err := out.Write(row); err != nil {
			return err
		}
	}
	return nil
}

// appendSortKey appends an encoding of the order value v whose byte order
// is the rank: larger values first, nulls last. It is prefix-free, so
// that appending the row keeps the order and breaks ties.
//
//	null     0x01
//	int64, timestamp, bool
//	         0x00, then ^(v with its sign bit flipped), big-endian
//	float64  0x00, then ^(the IEEE bits, sign bit flipped if positive,
//	         all bits flipped if negative), -0 as +0 and NaN as one NaN
//	         above +Inf
//	string   0x00, then each byte flipped, a 0x00 byte as 0xff 0x00, and
//	         0xff 0xfe at the end
func appendSortKey(dst []byte, t functions.Type, v functions.Value) []byte {
	if !v.Valid {
		return append(dst, 1)
	}
	dst = append(dst, 0)
	switch t.Field() {
	case functions.FieldI:
		if t.Kind() == functions.KindUint64 {
			return binary.BigEndian.AppendUint64(dst, ^uint64(v.I))
		}
		return binary.BigEndian.AppendUint64(dst, ^(uint64(v.I) ^ 1<<63))
	case functions.FieldF:
		f := v.F
		if f == 0 {
			f = 0
		}
		b := math.Float64bits(f)
		switch {
		case f != f:
			b = 0xfff8000000000000 // sorts above +Inf's 0xfff0000000000000
		case b>>63 == 1:
			b = ^b
		default:
			b |= 1 << 63
		}
		return binary.BigEndian.AppendUint64(dst, ^b)
	}
	for i := 0; i < len(v.S); i++ {
		c := v.S[i]
		if i == 0 && t.Kind() == functions.KindDecimal {
			c ^= 0x80 // two's complement orders as unsigned with its sign flipped
		}
		if c == 0 {
			dst = append(dst, 0xff, 0x00)
		} else {
			dst = append(dst, ^c)
		}
	}
	return append(dst, 0xff, 0xfe)
}

// skipSortKey returns b after the sort key at its start.
func skipSortKey(b []byte, t functions.Type) ([]byte, bool) {
	switch {
	case len(b) == 0:
		return nil, false
	case b[0] == 1:
		return b[1:], true
	case b[0] != 0:
		return nil, false
	}
	switch t.Field() {
	case functions.FieldI, functions.FieldF:
		if len(b) < 9 {
			return nil, false
		}
		return b[9:], true
	}
	for i := 1; i+1 < len(b); i++ {
		if b[i] == 0xff {
			if b[i+1] == 0xfe {
				return b[i+2:], true
			}
			i++
		}
	}
	return nil, false
}
