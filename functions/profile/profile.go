package profile

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/sketch"
)

// Profile is the profile of a whole dataset, as written to profile.json.
type Profile struct {
	// Rows is the number of records profiled.
	Rows int64 `json:"rows"`
	// Objects lists the records of each input object, by key.
	Objects []ObjectRows `json:"objects"`
	// Columns are in the input's order.
	Columns []Column `json:"columns"`
	// Errors states the error of each estimate.
	Errors map[string]string `json:"errors"`
}

// ObjectRows is one input object's record count.
type ObjectRows struct {
	Object string `json:"object"`
	Rows   int64  `json:"rows"`
}

// Column is one column's profile. Min, Max and Sum are written as text in
// the column's inferred type (exact for integers and timestamps).
type Column struct {
	Name         string `json:"name"`
	DeclaredType string `json:"declared_type"`
	// InferredType is the narrowest type every value parses as (by
	// codec.TypeGuess), string when none fits all.
	InferredType string `json:"inferred_type"`
	// ParseShare is, per type, the share of the non-null values that parse
	// as it.
	ParseShare map[string]float64 `json:"parse_share"`
	Count      int64              `json:"count"`
	Nulls      int64              `json:"nulls"`
	NullShare  float64            `json:"null_share"`
	// Distinct is a HyperLogLog estimate (see Errors), exact where
	// TopError is 0 (every distinct value is in the top-values sketch).
	Distinct int64  `json:"distinct"`
	Min      string `json:"min,omitempty"`
	Max      string `json:"max,omitempty"`
	// Sum of the numeric values: exact for integers unless SumExact is
	// false (an int64 overflow, or floats: then to 12 significant digits).
	Sum      string `json:"sum,omitempty"`
	SumExact bool   `json:"sum_exact"`
	// Numbers counts the values that parse as numbers; Mean and Stddev
	// (the sample standard deviation) are over them.
	Numbers   int64              `json:"numbers"`
	Mean      *float64           `json:"mean,omitempty"`
	Stddev    *float64           `json:"stddev,omitempty"`
	Quantiles map[string]float64 `json:"quantiles,omitempty"`
	// Histogram has equal-width bins from the numeric min to max, counts
	// estimated from the t-digest.
	Histogram []Bin `json:"histogram,omitempty"`
	// Top are the most frequent values, with counts low by at most
	// TopError (0: exact).
	Top      []ValueCount `json:"top"`
	TopError int64        `json:"top_error"`
	// Lengths of the values in characters.
	MinLength  int64   `json:"min_length"`
	MaxLength  int64   `json:"max_length"`
	MeanLength float64 `json:"mean_length"`
	// Patterns counts the values of each detected shape: email, uuid,
	// iso_date, numeric.
	Patterns map[string]int64 `json:"patterns"`

	// summary keeps the mergeable state for Propose.
	summary *ColumnSummary
}

// Bin is one histogram bin [Lo, Hi).
type Bin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count float64 `json:"count"`
}

// topShown is how many top values a profile lists.
const topShown = 20

// histogramBins is the number of bins of a numeric histogram.
const histogramBins = 20

// Build makes the profile of s, whose columns are laid out as schema.
func Build(s *Summary, schema *functions.Schema) (*Profile, error) {
	if len(s.Columns) != len(schema.Columns) {
		return nil, fmt.Errorf("profile: a summary of %d columns for %d in the schema", len(s.Columns), len(schema.Columns))
	}
	p := &Profile{Rows: s.Rows, Objects: []ObjectRows{}, Errors: map[string]string{
		"distinct":  fmt.Sprintf("HyperLogLog, 2^14 registers: relative standard error 0.81%%; exact (counted) where top_error is 0, at most %d distinct values", TopCounters),
		"top":       fmt.Sprintf("Misra-Gries, %d counters: each count low by at most top_error (0: exact)", TopCounters),
		"quantiles": fmt.Sprintf("t-digest, compression %d: rank error under 1%%; histogram counts interpolated from it", Compression),
		"mean":      "float64, merged by Chan et al.'s pairwise formula",
	}}
	for o, n := range s.Objects {
		p.Objects = append(p.Objects, ObjectRows{o, n})
	}
	slices.SortFunc(p.Objects, func(a, b ObjectRows) int { return cmp.Compare(a.Object, b.Object) })
	for i := range s.Columns {
		c := &s.Columns[i]
		if err := c.open(); err != nil {
			return nil, fmt.Errorf("profile: column %s: %w", schema.Columns[i].Name, err)
		}
		p.Columns = append(p.Columns, buildColumn(c, schema.Columns[i]))
	}
	return p, nil
}

func buildColumn(c *ColumnSummary, sc functions.Column) Column {
	col := Column{Name: sc.Name, DeclaredType: sc.Type.String(), Count: c.Count, Nulls: c.Nulls,
		ParseShare: map[string]float64{}, Patterns: c.Patterns, Numbers: c.Numbers, TopError: c.TopError, summary: c}
	if total := c.Count + c.Nulls; total > 0 {
		col.NullShare = float64(c.Nulls) / float64(total)
	}
	for k, n := range c.Parses {
		if c.Count > 0 {
			col.ParseShare[k] = float64(n) / float64(c.Count)
		}
	}
	typ := c.inferredType(sc.Type)
	col.InferredType = typ.String()
	// The estimate can overshoot the values seen (HyperLogLog's error is
	// relative, both ways); there cannot be more distinct values than values.
	col.Distinct = min(int64(c.hll.Estimate()), c.Count)
	if c.TopError == 0 {
		// The top-values sketch never dropped a value: it holds every
		// distinct value (at most TopCounters), counted.
		col.Distinct = int64(len(c.Top))
	}
	if c.Count > 0 {
		col.MinLength, col.MaxLength = c.MinLen, c.MaxLen
		col.MeanLength = float64(c.SumLen) / float64(c.Count)
		col.Min, col.Max = c.minMax(typ)
	}
	if c.Numbers > 0 {
		mean := c.Mean
		col.Mean = &mean
		if c.Numbers > 1 {
			sd := math.Sqrt(c.M2 / float64(c.Numbers-1))
			col.Stddev = &sd
		}
		if c.Ints == c.Numbers && !c.SumOverflo {
			col.Sum, col.SumExact = strconv.FormatInt(c.SumInt, 10), true
		} else {
			// n × the running mean: good to about 12 significant digits
			// (rounding of the mean's updates), so no more are printed.
			col.Sum = strconv.FormatFloat(c.Mean*float64(c.Numbers), 'g', 12, 64)
		}
		col.Quantiles = map[string]float64{}
		for _, q := range []float64{0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99} {
			col.Quantiles[fmt.Sprintf("p%02d", int(math.Round(q*100)))] = c.digest.Quantile(q)
		}
		col.Histogram = histogram(c.digest, c.MinNum, c.MaxNum, float64(c.Numbers))
	}
	col.Top = c.Top
	if len(col.Top) > topShown {
		col.Top = col.Top[:topShown]
	}
	return col
}

// minMax is the column's range as text in its type: numbers and
// timestamps by value, not by their text (a typed int32 column's 10 is
// above its 9), other types by their text.
func (c *ColumnSummary) minMax(typ functions.Type) (lo, hi string) {
	k := typ.Kind()
	switch {
	case integerKind(k) && c.Ints == c.Count:
		return strconv.FormatInt(c.MinInt, 10), strconv.FormatInt(c.MaxInt, 10)
	case k == functions.KindFloat64 && c.Numbers == c.Count:
		return formatFloat(c.MinNum), formatFloat(c.MaxNum)
	case k == functions.KindFloat32 && c.Numbers == c.Count:
		return strconv.FormatFloat(c.MinNum, 'g', -1, 32), strconv.FormatFloat(c.MaxNum, 'g', -1, 32)
	case k == functions.KindDecimal && c.Numbers == c.Count:
		if typ.Precision() > exactDecimalDigits {
			return "", "" // beyond what the float64 the profile keeps holds exactly
		}
		return strconv.FormatFloat(c.MinNum, 'f', typ.Scale(), 64), strconv.FormatFloat(c.MaxNum, 'f', typ.Scale(), 64)
	case k == functions.KindTimestamp && c.Times == c.Count:
		layout := functions.TimestampLayout
		if !typ.UTC() {
			layout = functions.LocalTimestampLayout
		}
		return time.UnixMicro(c.MinTime).UTC().Format(layout), time.UnixMicro(c.MaxTime).UTC().Format(layout)
	}
	return c.MinText, c.MaxText
}

// exactDecimalDigits is the most digits of a decimal that a float64
// keeps exactly.
const exactDecimalDigits = 15

// integerKind reports a kind of integer the profile counts as int64
// (Uint64 too, when every value fits).
func integerKind(k functions.Kind) bool {
	switch k {
	case functions.KindInt64, functions.KindInt8, functions.KindInt16, functions.KindInt32,
		functions.KindUint8, functions.KindUint16, functions.KindUint32, functions.KindUint64:
		return true
	}
	return false
}

// numericType reports a type whose range the profile knows by value.
func numericType(t functions.Type) bool {
	switch k := t.Kind(); {
	case integerKind(k), k == functions.KindFloat64, k == functions.KindFloat32:
		return true
	case k == functions.KindDecimal:
		return t.Precision() <= exactDecimalDigits
	}
	return false
}

// inferredType is the narrowest type all values parse as, in
// codec.TypeGuess's order; a typed input column keeps its type.
func (c *ColumnSummary) inferredType(declared functions.Type) functions.Type {
	if declared != functions.String {
		return declared
	}
	if c.Count == 0 {
		return functions.String
	}
	// Parses counts by parseNames ("timestamp"), not by the types' names
	// (functions.Timestamp is "timestamptz").
	for _, x := range []struct {
		parse int
		t     functions.Type
	}{{parseInt64, functions.Int64}, {parseFloat64, functions.Float64}, {parseBool, functions.Bool}, {parseTimestamp, functions.Timestamp}} {
		if c.Parses[parseNames[x.parse]] == c.Count {
			return x.t
		}
	}
	return functions.String
}

func histogram(d *sketch.Quantiles, lo, hi, n float64) []Bin {
	if hi <= lo {
		return []Bin{{Lo: lo, Hi: hi, Count: n}}
	}
	w := (hi - lo) / histogramBins
	bins := make([]Bin, histogramBins)
	prev := 0.0
	for i := range bins {
		b := &bins[i]
		b.Lo, b.Hi = lo+float64(i)*w, lo+float64(i+1)*w
		cdf := 1.0
		if i < histogramBins-1 {
			cdf = d.CDF(b.Hi)
		}
		b.Count = math.Round((cdf - prev) * n)
		prev = cdf
	}
	return bins
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
