// Package profile computes a data profile of a whole dataset: per column
// counts, nulls, ranges, exact sums where they are exact, mean and standard
// deviation, a distinct count, top values, quantiles, string lengths,
// detected patterns and the inferred type with the share of values that
// parse as it; from it a proposed data contract (functions/contract) that
// the profiled data passes, a drift report against an earlier profile, and
// a self-contained HTML report.
//
// A Summary is what one stretch of records (a chunk) gives; Fold merges
// summaries. The profile built-in (functions/builtin) computes one Summary
// per chunk in its Map, and its reduce folds them as a fixed binary tree
// over the chunks' indexes (Block, MergeBlocks), so that the result does
// not depend on the order in which chunks finished or were merged, and a
// reduce holds O(log chunks) summaries: the sketches below are
// deterministic for a fixed fold order (no random seeds).
//
// Errors of the sketches, as the profile states them:
//   - distinct counts: HyperLogLog with 2^14 registers
//     (github.com/axiomhq/hyperloglog): standard error 1.04/sqrt(16384) =
//     0.81%. A column of at most TopCounters distinct values (TopError
//     0) has its distinct values counted exactly by the top-values sketch.
//   - top values: Misra-Gries with TopCounters counters, merged as
//     Agarwal et al.'s mergeable summaries: a count is low by at most
//     the stated TopError (at most n/(TopCounters+1) of the n values), and
//     exact (TopError 0) when the column has at most TopCounters
//     distinct values.
//   - quantiles and histograms: a merging t-digest with compression 200
//     (github.com/influxdata/tdigest): rank error well under 1% in the
//     middle and smaller in the tails.
//   - count, nulls, min, max, integer sums (unless they overflow int64:
//     then the sum is a float64 and says so) are exact; mean and standard
//     deviation are float64, merged with Chan et al.'s pairwise formula.
package profile

import (
	"maps"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/functions/sketch"
)

const (
	// TopCounters is the number of counters of the top-values sketch.
	TopCounters = 256
	// Compression is the t-digest's compression (sketch.Quantiles).
	Compression = sketch.Compression
	// DistinctError is the HyperLogLog's relative standard error
	// (sketch.Distinct).
	DistinctError = sketch.DistinctError
)

// Summary is the profile of a stretch of records, in a form that merges.
type Summary struct {
	Rows    int64            `json:"rows"`
	Objects map[string]int64 `json:"objects"`
	Columns []ColumnSummary  `json:"columns"`
}

// ColumnSummary is one column's mergeable state.
type ColumnSummary struct {
	Count int64 `json:"count"` // non-null values
	Nulls int64 `json:"nulls"`
	// Parses counts the values that parse as each type (by
	// codec.TypeGuess); a typed input column counts its own type.
	Parses map[string]int64 `json:"parses"`

	// Numbers: values that parse as float64 (or int64).
	Numbers    int64   `json:"numbers"`
	Ints       int64   `json:"ints"` // of Numbers, those that parse as int64
	MinInt     int64   `json:"min_int"`
	MaxInt     int64   `json:"max_int"`
	SumInt     int64   `json:"sum_int"`
	SumOverflo bool    `json:"sum_overflow"` // the int64 sum overflowed
	MinNum     float64 `json:"min_num"`
	MaxNum     float64 `json:"max_num"`
	Mean       float64 `json:"mean"`
	M2         float64 `json:"m2"`

	Times   int64 `json:"times"`
	MinTime int64 `json:"min_time"` // microseconds
	MaxTime int64 `json:"max_time"`

	MinText string `json:"min_text"`
	MaxText string `json:"max_text"`

	MinLen int64 `json:"min_len"`
	MaxLen int64 `json:"max_len"`
	SumLen int64 `json:"sum_len"`

	Patterns map[string]int64 `json:"patterns"`

	// Shapes counts the values of each shape (see shapeOf), up to
	// maxShapes; ShapesOver is true past that.
	Shapes     map[string]int64 `json:"shapes"`
	ShapesOver bool             `json:"shapes_over"`

	// Cond counts, for each value of a text column with few values (at
	// most maxCondValues; CondOver past that), its records and then each
	// column's missing values among them: [records, missing in column
	// 0, missing in column 1, ...]. Propose derives "required when"
	// rules from it.
	Cond     map[string][]int64 `json:"cond,omitempty"`
	CondOver bool               `json:"cond_over,omitempty"`

	HLL       []byte       `json:"hll"`
	Top       []ValueCount `json:"top"`
	TopError  int64        `json:"top_error"`
	Centroids [][2]float64 `json:"centroids"`

	// parses and patterns count by index (parseNames, patternNames)
	// while records are added, cheaper than the maps; seal adds them to
	// Parses and Patterns.
	parses   [len(parseNames)]int64
	patterns [len(patternNames)]int64

	shape []byte
	hll   *sketch.Distinct
	top   map[string]int64
	// shapeCounts and topCounts count while records are added (one map
	// lookup a value, the count through the pointer); seal writes them
	// into Shapes and Top. top is the merged form (open, merge).
	shapeCounts map[string]*int64
	topCounts   map[string]*int64
	digest      *sketch.Quantiles
}

const (
	parseInt64 = iota
	parseFloat64
	parseBool
	parseTimestamp
)

var parseNames = [...]string{parseInt64: "int64", parseFloat64: "float64", parseBool: "bool", parseTimestamp: "timestamp"}

const (
	patternNumeric = iota
	patternISODate
	patternEmail
	patternUUID
)

var patternNames = [...]string{patternNumeric: "numeric", patternISODate: "iso_date", patternEmail: "email", patternUUID: "uuid"}

// ValueCount is a value and how often it was seen.
type ValueCount struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Accumulator builds the Summary of records laid out as a schema.
type Accumulator struct {
	schema *functions.Schema
	s      Summary
	nulls  []bool // per column, of the record being added
}

// NewAccumulator starts an empty summary of records laid out as schema.
func NewAccumulator(schema *functions.Schema) *Accumulator {
	a := &Accumulator{schema: schema, s: Summary{Objects: map[string]int64{}, Columns: make([]ColumnSummary, len(schema.Columns))}}
	for i := range a.s.Columns {
		a.s.Columns[i].init()
	}
	return a
}

func (c *ColumnSummary) init() {
	c.Parses = map[string]int64{}
	c.Patterns = map[string]int64{}
	c.Shapes = map[string]int64{}
	c.Cond = map[string][]int64{}
	c.MinInt, c.MaxInt = math.MaxInt64, math.MinInt64
	c.MinNum, c.MaxNum = math.Inf(1), math.Inf(-1)
	c.MinTime, c.MaxTime = math.MaxInt64, math.MinInt64
	c.MinLen = math.MaxInt64
	// Dense from the start: a sparse sketch re-sorts its temporary set
	// every few hundred values (a tenth of the profile's time), and a
	// chunk's column sees thousands of values.
	c.hll = sketch.NewDenseDistinct()
	c.top = map[string]int64{}
	c.topCounts = map[string]*int64{}
	c.shapeCounts = map[string]*int64{}
	c.digest = sketch.NewQuantiles()
}

// Add profiles one record from object.
func (a *Accumulator) Add(object string, row functions.Row) {
	a.s.Rows++
	a.s.Objects[object]++
	n := len(a.s.Columns)
	a.nulls = a.nulls[:0]
	for i := range a.s.Columns {
		var v functions.Value
		if i < len(row) {
			v = row[i]
		}
		a.s.Columns[i].add(v)
		a.nulls = append(a.nulls, Null(v))
	}
	for i := range a.s.Columns {
		c := &a.s.Columns[i]
		if c.CondOver || a.nulls[i] || row[i].Type != functions.String {
			continue
		}
		counts, ok := c.Cond[row[i].S]
		if !ok {
			if len(c.Cond) == maxCondValues {
				c.CondOver, c.Cond = true, nil
				continue
			}
			counts = make([]int64, 1+n)
			c.Cond[strings.Clone(row[i].S)] = counts
		}
		counts[0]++
		for j, null := range a.nulls {
			if null {
				counts[1+j]++
			}
		}
	}
}

// maxCondValues is the most values of a column whose records' missing
// values are counted per value.
const maxCondValues = 12

// Null reports whether v counts as missing: null, or an empty string (as
// the contract validator has it).
func Null(v functions.Value) bool {
	return !v.Valid || (v.Type == functions.String && v.S == "")
}

func (c *ColumnSummary) add(v functions.Value) {
	if Null(v) {
		c.Nulls++
		return
	}
	c.Count++
	text := v.Text()
	switch v.Type {
	case functions.Int64:
		c.parses[parseInt64]++
		c.parses[parseFloat64]++
		c.addInt(v.I)
	case functions.Float64:
		c.parses[parseFloat64]++
		c.addFloat(v.F)
	case functions.Bool:
		c.parses[parseBool]++
	case functions.Timestamp:
		c.parses[parseTimestamp]++
		c.addTime(v.I)
	default:
		var g codec.TypeGuess
		guess := g.TextNumber(text)
		switch {
		case guess.Int.Valid:
			c.parses[parseInt64]++
			c.parses[parseFloat64]++
			c.addInt(guess.Int.I)
		case guess.Float.Valid:
			c.parses[parseFloat64]++
			c.addFloat(guess.Float.F)
		}
		if g.Allows(functions.Bool) {
			c.parses[parseBool]++
		}
		if guess.Time.Valid {
			c.parses[parseTimestamp]++
			c.addTime(guess.Time.I)
		}
		if guess.Float.Valid || guess.Int.Valid || isDigits(text) { // 007 too: a code of digits
			c.patterns[patternNumeric]++
		}
		if guess.Time.Valid && isoDate(text) {
			c.patterns[patternISODate]++
		}
		if isEmail(text) {
			c.patterns[patternEmail]++
		}
		if isUUID(text) {
			c.patterns[patternUUID]++
		}
		c.addShape(text)
	}
	if c.MinText == "" && c.MaxText == "" && c.Count == 1 {
		c.MinText, c.MaxText = strings.Clone(text), strings.Clone(text)
	} else {
		if text < c.MinText {
			c.MinText = strings.Clone(text)
		}
		if text > c.MaxText {
			c.MaxText = strings.Clone(text)
		}
	}
	n := int64(utf8.RuneCountInString(text))
	c.MinLen, c.MaxLen, c.SumLen = min(c.MinLen, n), max(c.MaxLen, n), c.SumLen+n
	c.hll.Add(text)
	c.addTop(text)
}

func (c *ColumnSummary) addInt(x int64) {
	c.Ints++
	c.MinInt, c.MaxInt = min(c.MinInt, x), max(c.MaxInt, x)
	if !c.SumOverflo {
		s := c.SumInt + x
		if (x > 0 && s < c.SumInt) || (x < 0 && s > c.SumInt) {
			c.SumOverflo = true
		}
		c.SumInt = s
	}
	c.addFloat(float64(x))
}

// addFloat updates the running mean and M2 (Welford).
func (c *ColumnSummary) addFloat(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	c.Numbers++
	c.MinNum, c.MaxNum = math.Min(c.MinNum, x), math.Max(c.MaxNum, x)
	d := x - c.Mean
	c.Mean += d / float64(c.Numbers)
	c.M2 += d * (x - c.Mean)
	c.digest.Add(x, 1)
}

func (c *ColumnSummary) addTime(us int64) {
	c.Times++
	c.MinTime, c.MaxTime = min(c.MinTime, us), max(c.MaxTime, us)
}

// addShape counts the shape of a text value, until there are too many.
func (c *ColumnSummary) addShape(text string) {
	if c.ShapesOver {
		return
	}
	var ok bool
	if c.shape, ok = appendShape(c.shape[:0], text); !ok {
		c.ShapesOver, c.Shapes, c.shapeCounts = true, map[string]int64{}, nil
		return
	}
	if p := c.shapeCounts[string(c.shape)]; p != nil {
		*p++
		return
	}
	if len(c.shapeCounts) == maxShapes {
		c.ShapesOver, c.Shapes, c.shapeCounts = true, map[string]int64{}, nil
		return
	}
	n := int64(1)
	c.shapeCounts[string(c.shape)] = &n
}

// addTop is Misra-Gries: a new value when every counter is taken
// decrements them all (and is itself not kept).
func (c *ColumnSummary) addTop(text string) {
	if p := c.topCounts[text]; p != nil {
		*p++
		return
	}
	if len(c.topCounts) < TopCounters {
		n := int64(1)
		c.topCounts[strings.Clone(text)] = &n
		return
	}
	c.TopError++
	for k, p := range c.topCounts {
		if *p == 1 {
			delete(c.topCounts, k)
		} else {
			*p--
		}
	}
}

// Summary returns the summary of the records added, ready to encode.
func (a *Accumulator) Summary() *Summary {
	for i := range a.s.Columns {
		a.s.Columns[i].seal()
	}
	return &a.s
}

// seal moves the sketches into their exported, encodable fields.
func (c *ColumnSummary) seal() {
	for i, n := range c.parses {
		if n > 0 {
			c.Parses[parseNames[i]] += n
		}
	}
	for i, n := range c.patterns {
		if n > 0 {
			c.Patterns[patternNames[i]] += n
		}
	}
	c.parses, c.patterns = [len(parseNames)]int64{}, [len(patternNames)]int64{}
	if c.Numbers == 0 { // JSON has no infinities
		c.MinNum, c.MaxNum = 0, 0
	}
	if c.hll != nil {
		c.HLL, _ = c.hll.MarshalBinary()
	}
	// The accumulator's counts (added records) join the merged ones
	// (Fold): shapes are moved, so sealing twice counts them once; the
	// top counters stay (Misra-Gries goes on from them).
	if len(c.shapeCounts) > 0 {
		if c.Shapes == nil {
			c.Shapes = map[string]int64{}
		}
		for k, p := range c.shapeCounts {
			c.Shapes[k] += *p
		}
		clear(c.shapeCounts)
	}
	if len(c.topCounts) > 0 {
		top := maps.Clone(c.top)
		if top == nil {
			top = make(map[string]int64, len(c.topCounts))
		}
		for k, p := range c.topCounts {
			top[k] += *p
		}
		c.Top = sortedTop(top)
	} else if c.top != nil {
		c.Top = sortedTop(c.top)
	}
	if c.digest != nil {
		c.Centroids = append(c.Centroids[:0], c.digest.Centroids()...)
	}
}

// open rebuilds the sketches from the exported fields.
func (c *ColumnSummary) open() error {
	var err error
	if c.hll, err = sketch.DistinctFrom(c.HLL); err != nil {
		return err
	}
	c.top = make(map[string]int64, len(c.Top))
	for _, vc := range c.Top {
		c.top[vc.Value] = vc.Count
	}
	c.digest = sketch.NewQuantiles()
	for _, ce := range c.Centroids {
		c.digest.Add(ce[0], ce[1])
	}
	if c.Parses == nil {
		c.Parses = map[string]int64{}
	}
	if c.Patterns == nil {
		c.Patterns = map[string]int64{}
	}
	if c.Shapes == nil {
		c.Shapes = map[string]int64{}
	}
	if c.Cond == nil && !c.CondOver {
		c.Cond = map[string][]int64{}
	}
	return nil
}

// Fold merges the summaries in the order given (callers sort them by
// chunk, so that the result does not depend on the order they arrived
// in). Summaries of a different number of columns are an error.
func Fold(parts []*Summary) (*Summary, error) {
	out := &Summary{Objects: map[string]int64{}}
	for pi, p := range parts {
		if pi == 0 {
			out.Columns = make([]ColumnSummary, len(p.Columns))
			for i := range out.Columns {
				out.Columns[i].init()
			}
		}
		if len(p.Columns) != len(out.Columns) {
			return nil, errColumns
		}
		out.Rows += p.Rows
		for o, n := range p.Objects {
			out.Objects[o] += n
		}
		for i := range p.Columns {
			in := &p.Columns[i]
			if err := in.open(); err != nil {
				return nil, err
			}
			out.Columns[i].merge(in)
		}
	}
	for i := range out.Columns {
		out.Columns[i].seal()
	}
	return out, nil
}

// merge folds in into c: exact counters add, ranges widen, mean and M2
// merge by Chan et al., sketches merge.
func (c *ColumnSummary) merge(in *ColumnSummary) {
	first := c.Count == 0
	c.Count += in.Count
	c.Nulls += in.Nulls
	for k, n := range in.Parses {
		c.Parses[k] += n
	}
	for k, n := range in.Patterns {
		c.Patterns[k] += n
	}
	if in.Numbers > 0 {
		n := c.Numbers + in.Numbers
		d := in.Mean - c.Mean
		c.M2 += in.M2 + d*d*float64(c.Numbers)*float64(in.Numbers)/float64(n)
		c.Mean += d * float64(in.Numbers) / float64(n)
		c.Numbers = n
		c.MinNum, c.MaxNum = math.Min(c.MinNum, in.MinNum), math.Max(c.MaxNum, in.MaxNum)
	}
	if in.Ints > 0 {
		c.Ints += in.Ints
		c.MinInt, c.MaxInt = min(c.MinInt, in.MinInt), max(c.MaxInt, in.MaxInt)
	}
	if in.SumOverflo {
		c.SumOverflo = true
	} else if !c.SumOverflo {
		s := c.SumInt + in.SumInt
		if (in.SumInt > 0 && s < c.SumInt) || (in.SumInt < 0 && s > c.SumInt) {
			c.SumOverflo = true
		}
		c.SumInt = s
	}
	if in.Times > 0 {
		c.Times += in.Times
		c.MinTime, c.MaxTime = min(c.MinTime, in.MinTime), max(c.MaxTime, in.MaxTime)
	}
	if in.Count > 0 {
		if first {
			c.MinText, c.MaxText = in.MinText, in.MaxText
		} else {
			c.MinText, c.MaxText = min(c.MinText, in.MinText), max(c.MaxText, in.MaxText)
		}
		c.MinLen, c.MaxLen = min(c.MinLen, in.MinLen), max(c.MaxLen, in.MaxLen)
		c.SumLen += in.SumLen
	}
	c.ShapesOver = c.ShapesOver || in.ShapesOver
	for k, n := range in.Shapes {
		c.Shapes[k] += n
	}
	if len(c.Shapes) > maxShapes {
		c.ShapesOver, c.Shapes = true, map[string]int64{}
	}
	if in.CondOver {
		c.CondOver, c.Cond = true, nil
	}
	for k, counts := range in.Cond {
		if c.CondOver {
			break
		}
		acc, ok := c.Cond[k]
		if !ok {
			if len(c.Cond) == maxCondValues {
				c.CondOver, c.Cond = true, nil
				break
			}
			acc = make([]int64, len(counts))
			c.Cond[k] = acc
		}
		for j := range min(len(acc), len(counts)) {
			acc[j] += counts[j]
		}
	}
	_ = c.hll.Merge(in.hll) // same precision: cannot fail
	c.mergeTop(in)
	for _, ce := range in.Centroids {
		c.digest.Add(ce[0], ce[1])
	}
}

// mergeTop merges two Misra-Gries summaries (Agarwal et al., "Mergeable
// summaries", 2012): add the counters, then subtract the
// (TopCounters+1)-th largest count from all and drop those left at zero
// or below. The error bounds add, plus the subtracted amount.
func (c *ColumnSummary) mergeTop(in *ColumnSummary) {
	for k, n := range in.top {
		c.top[k] += n
	}
	c.TopError += in.TopError
	if len(c.top) <= TopCounters {
		return
	}
	all := sortedTop(c.top)
	cut := all[TopCounters].Count
	c.TopError += cut
	for _, vc := range all {
		if vc.Count <= cut {
			delete(c.top, vc.Value)
		} else {
			c.top[vc.Value] = vc.Count - cut
		}
	}
}
