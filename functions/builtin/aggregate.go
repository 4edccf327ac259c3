package builtin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"strings"

	"github.com/fanout-dev/fanout/functions"
)

// ErrOverflow is reported, wrapped and permanent, when a sum does not fit
// its result type: an int64 sum beyond int64, a decimal or uint64 sum
// beyond decimal(38,s).
var ErrOverflow = errors.New("overflow")

// Aggregate is the aggregate function: SQL's GROUP BY with count, sum,
// min, max and avg.
//
// Arguments:
//
//	by=col,...   the group columns (default: none, one group of all rows)
//	agg=LIST     the aggregates, a comma list of count, sum(col),
//	             min(col), max(col) and avg(col) (default: count)
//
// The output has the group columns, then one column per aggregate in the
// order of agg: count (int64), sum_<col>, min_<col> and max_<col> (the
// column's type), avg_<col> (float64). sum and avg take numbers: the sum
// of an integer column (but uint64) is int64, of a float column float64,
// of a decimal(p,s) column decimal(38,s) and of a uint64 column
// decimal(38,0) (DuckDB's types: DECIMAL(38,s), and HUGEINT for UBIGINT);
// the average of any of them is float64, as DuckDB's avg is DOUBLE. min
// and max take any column.
//
// count counts rows; sum, min, max and avg ignore nulls, and are null when
// a group has no other values. A null group key is a group of its own; a
// float key -0 is 0, and all NaNs are one key. Without by the output is one
// row, with count 0 when the input's objects hold no rows (but none when
// the job has no input objects at all).
//
// Integer sums are exact: an int64 sum is kept in 128 bits until the end,
// so that whether it overflows does not depend on the order rows are
// added in, and a final sum that does not fit in int64 fails the job with
// ErrOverflow naming the column. Decimal and uint64 sums are exact too:
// their unscaled integers are added in 192 bits (two 38-digit values
// already exceed 128), so that no order of adding overflows, and a final
// sum of more than 38 digits fails the same way. The average of a decimal
// or integer column is its exact sum divided by the count and 10^scale,
// rounded once to float64. Float sums use Neumaier's compensated
// summation (sum 1e16, 1, -1e16 is 1), also when partial sums are merged.
// min and max order floats -0 before +0 and NaN above +Inf.
type Aggregate struct{}

// Name returns "aggregate".
func (Aggregate) Name() string { return "aggregate" }

// Describe returns one line of help.
func (Aggregate) Describe() string {
	return "group-by aggregates: agg=count,sum(col),min(col),max(col),avg(col) [by=col,...]"
}

// Prepare parses by and agg against the input schema.
func (Aggregate) Prepare(p functions.Params) (functions.Task, error) {
	const fn = "aggregate"
	if err := checkArgs(fn, p.Args, "by", "agg"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	t := &aggregateTask{in: in}
	if by, ok := p.Args["by"]; ok {
		if t.by, err = selectColumns(in, by); err != nil {
			return nil, argError(fn, "by", by, err)
		}
		if err := flatColumns(in, t.by, "grouping"); err != nil {
			return nil, argError(fn, "by", by, err)
		}
	}
	spec := p.Arg("agg", "count")
	if t.aggs, err = parseAggs(in, spec); err != nil {
		return nil, argError(fn, "agg", spec, err)
	}
	t.layout()
	if name := repeatedColumn(t.final); name != "" {
		return nil, argError(fn, "agg", spec, fmt.Errorf("the output would have two columns %q", name))
	}
	return t, nil
}

type aggKind uint8

const (
	aggCount aggKind = iota
	aggSum
	aggMin
	aggMax
	aggAvg
)

var aggNames = [...]string{aggCount: "count", aggSum: "sum", aggMin: "min", aggMax: "max", aggAvg: "avg"}

// aggSpec is one aggregate of agg=.
type aggSpec struct {
	kind aggKind
	col  int            // input column; -1 for count
	name string         // input column name
	typ  functions.Type // input column type
	off  int            // first state column in the partial row
}

// wide reports whether a sum or average of a adds 128-bit integers
// checked for overflow: the unscaled integers of a decimal column, or
// uint64 values.
func (a aggSpec) wide() bool {
	return a.typ == functions.Uint64 || a.typ.Kind() == functions.KindDecimal
}

// stateType is the type of the columns that hold a's running sum:
// float64 for floats, int64 words of a 128-bit integer otherwise.
func (a aggSpec) stateType() functions.Type {
	if a.typ == functions.Float64 {
		return functions.Float64
	}
	return functions.Int64
}

// sumType is the type of a's sum: decimal(38,s) for a decimal(p,s) or
// (s = 0) uint64 column, the column's type otherwise.
func (a aggSpec) sumType() functions.Type {
	if a.wide() {
		return functions.DecimalOf(functions.MaxDecimalPrecision, a.typ.Scale())
	}
	return a.typ
}

// parseAggs parses "count,sum(col),...".
func parseAggs(in *functions.Schema, spec string) ([]aggSpec, error) {
	var aggs []aggSpec
	for _, item := range splitTopLevel(spec) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		fname, arg, hasArg := strings.Cut(item, "(")
		fname = strings.ToLower(strings.TrimSpace(fname))
		if hasArg {
			var ok bool
			if arg, ok = strings.CutSuffix(strings.TrimSpace(arg), ")"); !ok {
				return nil, fmt.Errorf("%q: missing )", item)
			}
			arg = strings.TrimSpace(arg)
		}
		k := slices.Index(aggNames[:], fname)
		if k < 0 {
			return nil, fmt.Errorf("unknown aggregate %q (want count, sum(col), min(col), max(col) or avg(col))", item)
		}
		a := aggSpec{kind: aggKind(k), col: -1}
		if a.kind == aggCount {
			if arg != "" && arg != "*" {
				return nil, fmt.Errorf("%q: count takes no column (it counts rows)", item)
			}
			aggs = append(aggs, a)
			continue
		}
		if arg == "" {
			return nil, fmt.Errorf("%q: %s needs a column: %s(col)", item, fname, fname)
		}
		var err error
		if a.col, err = columnIndex(in, arg); err != nil {
			return nil, fmt.Errorf("%s: %w", item, err)
		}
		if err := flatColumns(in, []int{a.col}, fname); err != nil {
			return nil, fmt.Errorf("%s: %w", item, err)
		}
		a.name, a.typ = arg, in.Columns[a.col].Type
		if a.kind == aggSum || a.kind == aggAvg {
			// Integers of every width but uint64 sum as int64 (exactly,
			// with the overflow check), float32 as float64.
			switch t := a.typ; {
			case t.IsInteger() && t != functions.Uint64:
				a.typ = functions.Int64
			case t == functions.Float32:
				a.typ = functions.Float64
			}
		}
		if (a.kind == aggSum || a.kind == aggAvg) && a.typ != functions.Int64 && a.typ != functions.Float64 && !a.wide() {
			return nil, fmt.Errorf("%s: column %q is %s, want a number (an integer, a decimal or a float)", item, arg, a.typ)
		}
		aggs = append(aggs, a)
	}
	if len(aggs) == 0 {
		return nil, errors.New("no aggregates")
	}
	return aggs, nil
}

// splitTopLevel splits s at the commas outside parentheses.
func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth <= 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// repeatedColumn returns the first name s holds twice, or "".
func repeatedColumn(s *functions.Schema) string {
	seen := map[string]bool{}
	for _, c := range s.Columns {
		if seen[c.Name] {
			return c.Name
		}
		seen[c.Name] = true
	}
	return ""
}

// aggregateTask writes one partial row per group: the group columns, then
// each aggregate's state (see layout).
type aggregateTask struct {
	in             *functions.Schema
	by             []int // input positions of the group columns
	aggs           []aggSpec
	partial, final *functions.Schema
}

// layout builds the partial and final schemas and places each aggregate's
// state. The state columns are:
//
//	count      count int64
//	sum int    __sum_<col> int64, __sum_hi_<col> int64: a 128-bit sum,
//	           low and high words; the low word is null while no value
//	           has been seen
//	sum wide   the same and __sum_top_<col> int64: a 192-bit sum of a
//	           decimal's unscaled integers or of uint64 values, carried
//	           exactly by the shuffle
//	sum float  __sum_<col> float64, __sum_c_<col> float64: Neumaier's
//	           running sum and compensation; the sum is null while no
//	           value has been seen
//	min, max   min_<col>, max_<col> of the column's type
//	avg int    __avg_sum_<col>, __avg_hi_<col>, __avg_n_<col>: a 128-bit
//	           sum and the count of values
//	avg float  __avg_sum_<col>, __avg_c_<col>, __avg_n_<col>
//	avg wide   the int columns and __avg_top_<col>: a 192-bit sum
//
// A state column whose name is taken gets a suffix #2, #3...
func (t *aggregateTask) layout() {
	t.partial, t.final = &functions.Schema{}, &functions.Schema{}
	for _, c := range t.by {
		t.partial.Columns = append(t.partial.Columns, t.in.Columns[c])
		t.final.Columns = append(t.final.Columns, t.in.Columns[c])
	}
	// state adds a state column. Its name only informs (the engine goes by
	// position) but must be unique, and "__sum_c_x" is also the sum of a
	// column "c_x": a repeated name gets a "#2".
	state := func(name string, typ functions.Type) {
		for n, base := 2, name; t.partial.Index(name) >= 0; n++ {
			name = fmt.Sprintf("%s#%d", base, n)
		}
		t.partial.Columns = append(t.partial.Columns, functions.Column{Name: name, Type: typ})
	}
	// second names and types the second state column of a sum: the high
	// word or the compensation.
	second := func(a aggSpec) (string, functions.Type) {
		if a.stateType() == functions.Int64 {
			return "hi", functions.Int64
		}
		return "c", functions.Float64
	}
	for i := range t.aggs {
		a := &t.aggs[i]
		a.off = len(t.partial.Columns)
		out := functions.Column{Name: aggNames[a.kind] + "_" + a.name, Type: a.typ}
		switch a.kind {
		case aggCount:
			out = functions.Column{Name: "count", Type: functions.Int64}
			state(out.Name, out.Type)
		case aggSum:
			out.Type = a.sumType()
			word, typ := second(*a)
			state("__sum_"+a.name, a.stateType())
			state("__sum_"+word+"_"+a.name, typ)
			if a.wide() {
				state("__sum_top_"+a.name, functions.Int64)
			}
		case aggMin, aggMax:
			state(out.Name, out.Type)
		case aggAvg:
			out.Type = functions.Float64
			word, typ := second(*a)
			state("__avg_sum_"+a.name, a.stateType())
			state("__avg_"+word+"_"+a.name, typ)
			state("__avg_n_"+a.name, functions.Int64)
			if a.wide() {
				state("__avg_top_"+a.name, functions.Int64)
			}
		}
		t.final.Columns = append(t.final.Columns, out)
	}
}

var _ functions.Reducer = (*aggregateTask)(nil)

var _ functions.ColumnPicker = (*aggregateTask)(nil)

// InputColumns returns the group columns and the aggregated ones: the
// reader need not parse the others.
func (t *aggregateTask) InputColumns() []int {
	cols := slices.Clone(t.by)
	for _, a := range t.aggs {
		if a.col >= 0 && !slices.Contains(cols, a.col) {
			cols = append(cols, a.col)
		}
	}
	if cols == nil {
		cols = []int{}
	}
	return cols
}

func (t *aggregateTask) Output() *functions.Schema { return t.partial }
func (t *aggregateTask) KeyColumns() int           { return len(t.by) }
func (t *aggregateTask) Final() *functions.Schema  { return t.final }

// Map folds the chunk's rows into a groupTable of partial rows, written
// whenever it fills and at the end.
func (t *aggregateTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	groups := newGroupTable[functions.Row]()
	flush := func() error {
		for _, p := range groups.states {
			if err := out.Write(p); err != nil {
				return err
			}
		}
		groups.reset()
		return nil
	}
	var key []byte
	// Records' strings are borrowed: newPartial and add copy what a
	// partial row keeps (a key, a min or max).
	err := eachBorrowed(ctx, in, func(rec *functions.Record) error {
		key = appendKey(key[:0], t.in, rec.Row, t.by)
		i, created := groups.find(key)
		if created {
			groups.states[i] = t.newPartial(groups.states[i], rec.Row)
			groups.grow(len(groups.states[i])*40 + len(key))
		}
		t.add(groups.states[i], rec.Row)
		if created && groups.full() {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(t.by) == 0 && len(groups.states) == 0 {
		// One global group: an empty chunk still counts 0.
		i, _ := groups.find(nil)
		groups.states[i] = t.newPartial(groups.states[i], nil)
	}
	return flush()
}

// newPartial lays out in buf the partial row of row's group with no row
// added. It copies the key's strings: row's may be borrowed.
func (t *aggregateTask) newPartial(buf, row functions.Row) functions.Row {
	p := slices.Grow(buf[:0], len(t.partial.Columns))[:len(t.partial.Columns)]
	for j, c := range t.by {
		p[j] = keyValue(cell(row, c), t.in.Columns[c].Type)
		p[j].S = strings.Clone(p[j].S)
	}
	for _, a := range t.aggs {
		o := a.off
		switch a.kind {
		case aggCount:
			p[o] = functions.IntValue(0)
		case aggSum:
			p[o], p[o+1] = functions.Null(a.stateType()), zero(t.partial.Columns[o+1].Type)
			if a.wide() {
				p[o+2] = functions.IntValue(0)
			}
		case aggMin, aggMax:
			p[o] = functions.Null(a.typ)
		case aggAvg:
			p[o], p[o+1], p[o+2] = zero(a.stateType()), zero(t.partial.Columns[o+1].Type), functions.IntValue(0)
			if a.wide() {
				p[o+3] = functions.IntValue(0)
			}
		}
	}
	return p
}

// zero returns 0 as an int64 or float64 value.
func zero(typ functions.Type) functions.Value {
	if typ == functions.Float64 {
		return functions.FloatValue(0)
	}
	return functions.IntValue(0)
}

// add folds one input row into its group's partial row p.
func (t *aggregateTask) add(p, row functions.Row) {
	for _, a := range t.aggs {
		o := a.off
		if a.kind == aggCount {
			p[o].I++
			continue
		}
		if a.col >= len(row) || !row[a.col].Valid {
			continue
		}
		v := &row[a.col]
		switch a.kind {
		case aggSum:
			if !p[o].Valid {
				p[o].Valid = true
				p[o].I, p[o].F = 0, 0
			}
			addNumber(p, o, a, v)
		case aggMin, aggMax:
			if !p[o].Valid || better(a.kind, *v, p[o], a.typ) {
				p[o] = *v
				p[o].S = strings.Clone(v.S) // v's may be borrowed
				p[o].Type = a.typ
				if a.typ == functions.Float64 && v.F != v.F {
					p[o].F = math.NaN() // one NaN
				}
			}
		case aggAvg:
			addNumber(p, o, a, v)
			p[o+2].I++
		}
	}
}

// overflow is the error of a's sum overflowing in the group of partial
// row p.
func (t *aggregateTask) overflow(a aggSpec, p functions.Row) error {
	return functions.Permanent(fmt.Errorf("aggregate: %s(%s)%s: %s %w", aggNames[a.kind], a.name, t.groupText(p), a.sumType(), ErrOverflow))
}

// addNumber adds v, a value of a's column, to the sum in p[o] (low word
// or sum), p[o+1] (high word or compensation) and, for a wide sum, the
// top word.
func addNumber(p functions.Row, o int, a aggSpec, v *functions.Value) {
	switch {
	case a.typ == functions.Int64:
		add128(&p[o].I, &p[o+1].I, v.I, v.I>>63)
	case a.typ == functions.Float64:
		p[o].F, p[o+1].F = neumaierAdd(p[o].F, p[o+1].F, v.F)
	default:
		lo, hi := words128(a.typ, v)
		add192(&p[o].I, &p[o+1].I, &p[a.top(o)].I, lo, hi, hi>>63)
	}
}

// top is the position of a wide sum's top word, of a's state at o.
func (a aggSpec) top(o int) int {
	if a.kind == aggAvg {
		return o + 3
	}
	return o + 2
}

// words128 returns the low and high words of a uint64 value or of a
// decimal's unscaled integer.
func words128(typ functions.Type, v *functions.Value) (lo, hi int64) {
	switch {
	case typ == functions.Uint64:
		return v.I, 0
	case typ.Field() == functions.FieldI: // decimal of up to 18 digits
		return v.I, v.I >> 63
	case len(v.S) == 16: // big-endian two's complement
		return int64(binary.BigEndian.Uint64([]byte(v.S[8:]))), int64(binary.BigEndian.Uint64([]byte(v.S[:8])))
	}
	// Not the layout decimal.go writes: go through math/big.
	b := functions.DecimalBig(*v)
	m := new(big.Int).And(b, new(big.Int).SetUint64(math.MaxUint64))
	return int64(m.Uint64()), new(big.Int).Rsh(b, 64).Int64()
}

// better reports whether v should replace the min (or max) cur.
func better(kind aggKind, v, cur functions.Value, typ functions.Type) bool {
	c := compareTotal(v, cur, typ)
	if kind == aggMin {
		return c < 0
	}
	return c > 0
}

func (t *aggregateTask) Merge(acc, in functions.Row) error {
	if n := len(t.partial.Columns); len(acc) != n || len(in) != n {
		return functions.Permanent(fmt.Errorf("aggregate: merge rows of %d and %d columns, want %d", len(acc), len(in), n))
	}
	for _, a := range t.aggs {
		o := a.off
		switch a.kind {
		case aggCount:
			acc[o].I += in[o].I
		case aggSum:
			switch {
			case !in[o].Valid:
			case !acc[o].Valid:
				acc[o], acc[o+1] = in[o], in[o+1]
				if a.wide() {
					acc[o+2] = in[o+2]
				}
			default:
				mergeNumbers(acc, in, o, a)
			}
		case aggMin, aggMax:
			if in[o].Valid && (!acc[o].Valid || better(a.kind, in[o], acc[o], a.typ)) {
				acc[o] = in[o]
			}
		case aggAvg:
			mergeNumbers(acc, in, o, a)
			acc[o+2].I += in[o+2].I
		}
	}
	return nil
}

// mergeNumbers adds the sum of state in at o to acc's.
func mergeNumbers(acc, in functions.Row, o int, a aggSpec) {
	switch {
	case a.typ == functions.Float64:
		acc[o].F, acc[o+1].F = neumaierAdd(acc[o].F, acc[o+1].F, in[o].F)
		acc[o+1].F += in[o+1].F
	case a.wide():
		top := a.top(o)
		add192(&acc[o].I, &acc[o+1].I, &acc[top].I, in[o].I, in[o+1].I, in[top].I)
	default:
		add128(&acc[o].I, &acc[o+1].I, in[o].I, in[o+1].I)
	}
}

func (t *aggregateTask) Finish(p functions.Row, out functions.Output) error {
	row := make(functions.Row, len(t.final.Columns))
	copy(row, p[:len(t.by)])
	for i, a := range t.aggs {
		o, r := a.off, &row[len(t.by)+i]
		switch a.kind {
		case aggCount, aggMin, aggMax:
			*r = p[o]
		case aggSum:
			switch {
			case !p[o].Valid:
				*r = functions.Null(a.typ)
			case a.typ == functions.Float64:
				*r = functions.FloatValue(neumaierResult(p[o].F, p[o+1].F))
			case a.wide():
				v, err := decimal192(a.sumType(), p[o].I, p[o+1].I, p[o+2].I)
				if err != nil {
					return t.overflow(a, p)
				}
				*r = v
			case p[o+1].I != p[o].I>>63:
				return t.overflow(a, p)
			default:
				*r = functions.IntValue(p[o].I)
			}
		case aggAvg:
			n := p[o+2].I
			switch {
			case n == 0:
				*r = functions.Null(functions.Float64)
			case a.typ == functions.Float64:
				*r = functions.FloatValue(neumaierResult(p[o].F, p[o+1].F) / float64(n))
			case a.wide():
				*r = functions.FloatValue(quotient192(p[o].I, p[o+1].I, p[o+3].I, n, a.typ.Scale()))
			default:
				*r = functions.FloatValue(quotient128(p[o].I, p[o+1].I, n))
			}
		}
	}
	return out.Write(row)
}

// groupText names the group of partial row p in an error.
func (t *aggregateTask) groupText(p functions.Row) string {
	if len(t.by) == 0 {
		return ""
	}
	parts := make([]string, len(t.by))
	for i := range t.by {
		parts[i] = t.final.Columns[i].Name + "=" + string(p[i].AppendJSON(nil))
	}
	return " in group " + strings.Join(parts, ", ")
}

// add128 adds the 128-bit integer (xhi, xlo) to (*hi, *lo). The high word
// cannot overflow: it grows by at most one per value added.
func add128(lo, hi *int64, xlo, xhi int64) {
	l, carry := bits.Add64(uint64(*lo), uint64(xlo), 0)
	*lo = int64(l)
	*hi += xhi + int64(carry)
}

// add192 adds the 192-bit integer (xtop, xhi, xlo) to (*top, *hi, *lo).
// The top word cannot overflow: it grows by at most one per value of up
// to 128 bits added.
func add192(lo, hi, top *int64, xlo, xhi, xtop int64) {
	l, c := bits.Add64(uint64(*lo), uint64(xlo), 0)
	h, c := bits.Add64(uint64(*hi), uint64(xhi), c)
	*lo, *hi = int64(l), int64(h)
	*top += xtop + int64(c)
}

// big192 is the 192-bit integer (top, hi, lo).
func big192(lo, hi, top int64) *big.Int {
	x := new(big.Int).Lsh(big.NewInt(top), 128)
	x.Add(x, new(big.Int).Lsh(new(big.Int).SetUint64(uint64(hi)), 64))
	return x.Add(x, new(big.Int).SetUint64(uint64(lo)))
}

// decimal192 is the decimal of type t whose unscaled integer is the
// 192-bit (top, hi, lo); it fails when that has more digits than t holds.
func decimal192(t functions.Type, lo, hi, top int64) (functions.Value, error) {
	return functions.DecimalFromBig(t, big192(lo, hi, top))
}

// quotient128 returns (hi, lo) / n rounded to the nearest float64.
func quotient128(lo, hi, n int64) float64 {
	if hi == lo>>63 && -1<<53 <= lo && lo <= 1<<53 {
		return float64(lo) / float64(n) // exact operands: one rounding
	}
	return quotient192(lo, hi, hi>>63, n, 0)
}

// quotient192 returns (top, hi, lo) / (n * 10^scale) rounded to the
// nearest float64: the only rounding of an average.
func quotient192(lo, hi, top, n int64, scale int) float64 {
	d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	f, _ := new(big.Rat).SetFrac(big192(lo, hi, top), d.Mul(d, big.NewInt(n))).Float64()
	return f
}

// neumaierAdd adds x to the compensated sum (s, c): s is the rounded sum
// and c the accumulated rounding error. Once s is infinite or NaN, c no
// longer matters.
func neumaierAdd(s, c, x float64) (float64, float64) {
	t := s + x
	if math.IsInf(t, 0) || t != t {
		return t, c
	}
	if math.Abs(s) >= math.Abs(x) {
		c += (s - t) + x
	} else {
		c += (x - t) + s
	}
	return t, c
}

// neumaierResult is the value of the compensated sum (s, c).
func neumaierResult(s, c float64) float64 {
	if math.IsInf(s, 0) || s != s {
		return s
	}
	return s + c
}
