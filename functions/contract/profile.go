package contract

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
)

// Limits of a Profiler.
const (
	// maxTracked bounds the distinct values a Profiler remembers per
	// column (for cardinality and the primary-key guess).
	maxTracked = 100_000
	// maxAllowed is the most distinct values a proposed allowed list has.
	maxAllowed = 12
)

// Profiler proposes a contract from a sample of records: each column's
// narrowest type, whether it was ever missing, its range, its cardinality
// (an allowed list when it has few distinct values), and a primary key
// when a column is unique and never missing. Memory is bounded by the
// sample: at most maxTracked distinct values per column.
type Profiler struct {
	schema *functions.Schema
	cols   []colProfile
	rows   int64
}

type colProfile struct {
	nulls    int64
	values   int64
	typed    bool // the input was typed (Parquet): keep its type
	guess    codec.TypeGuess
	dateOnly bool
	minI     int64
	maxI     int64
	minF     float64
	maxF     float64
	minT     int64
	maxT     int64
	maxLen   int
	distinct map[string]int64
	overflow bool // more than maxTracked distinct values
	// leadingZero is true when an integer-looking value has a leading zero
	// (a code such as 007 stays a string).
	leadingZero bool
}

// NewProfiler profiles records laid out as schema (strings, as the CSV and
// JSONL readers give without a schema, or typed columns).
func NewProfiler(schema *functions.Schema) *Profiler {
	p := &Profiler{schema: schema, cols: make([]colProfile, len(schema.Columns))}
	for i := range p.cols {
		p.cols[i] = colProfile{distinct: map[string]int64{}, dateOnly: true,
			minI: math.MaxInt64, maxI: math.MinInt64, minF: math.Inf(1), maxF: math.Inf(-1), minT: math.MaxInt64, maxT: math.MinInt64}
		p.cols[i].typed = schema.Columns[i].Type != functions.String
	}
	return p
}

// Rows is the number of records added.
func (p *Profiler) Rows() int64 { return p.rows }

// Add profiles one record.
func (p *Profiler) Add(row functions.Row) {
	p.rows++
	for i := range p.cols {
		c := &p.cols[i]
		v := cell(row, i)
		if !v.Valid || (v.Type == functions.String && strings.TrimSpace(v.S) == "") {
			c.nulls++
			continue
		}
		c.values++
		text := v.Text()
		if !c.overflow {
			if _, ok := c.distinct[text]; ok || len(c.distinct) < maxTracked {
				c.distinct[text]++
			} else {
				c.overflow = true
				c.distinct = nil
			}
		}
		if n := utf8.RuneCountInString(text); n > c.maxLen {
			c.maxLen = n
		}
		if c.typed {
			c.addTyped(v)
			continue
		}
		c.addText(strings.TrimSpace(text))
	}
}

func (c *colProfile) addTyped(v functions.Value) {
	switch v.Type {
	case functions.Int64:
		c.minI, c.maxI = min(c.minI, v.I), max(c.maxI, v.I)
	case functions.Float64:
		c.minF, c.maxF = math.Min(c.minF, v.F), math.Max(c.maxF, v.F)
	case functions.Timestamp:
		c.minT, c.maxT = min(c.minT, v.I), max(c.maxT, v.I)
		c.dateOnly = c.dateOnly && v.I%(86400*1e6) == 0
	}
}

func (c *colProfile) addText(s string) {
	wasInt := c.guess.Allows(functions.Int64)
	v := c.guess.Text(s) // the same rules as schema inference
	switch {
	case v.Int.Valid:
		c.minI, c.maxI = min(c.minI, v.Int.I), max(c.maxI, v.Int.I)
	case wasInt:
		c.leadingZero = c.leadingZero || hasLeadingZero(s)
	}
	if v.Float.Valid {
		c.minF, c.maxF = math.Min(c.minF, v.Float.F), math.Max(c.maxF, v.Float.F)
	}
	if v.Time.Valid {
		c.minT, c.maxT = min(c.minT, v.Time.I), max(c.maxT, v.Time.I)
		c.dateOnly = c.dateOnly && len(s) == len(time.DateOnly)
	}
}

func hasLeadingZero(s string) bool {
	d := strings.TrimLeft(s, "+-")
	return len(d) > 1 && d[0] == '0' && d[1] >= '0' && d[1] <= '9'
}

// typeOf is the column's proposed type.
func (c *colProfile) typeOf(declared functions.Type) functions.Type {
	if c.typed {
		return declared
	}
	return c.guess.Type()
}

// ProposeOptions are the settings of Propose.
type ProposeOptions struct {
	// Name and Source go into the contract's name and header comment.
	Name   string
	Source string
}

// Contract returns the proposed contract.
func (p *Profiler) Contract(opts ProposeOptions) *Contract {
	c, _ := p.propose(opts)
	return c
}

// Propose returns the proposed contract as YAML, with comments saying what
// the sample held, for a person to review and edit.
func (p *Profiler) Propose(opts ProposeOptions) ([]byte, error) {
	c, notes := p.propose(opts)
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	source := opts.Source
	if source == "" {
		source = "a sample"
	}
	doc.HeadComment = fmt.Sprintf("Proposed by fanout infer from %d records of %s.\n"+
		"Review it before use: ranges and allowed values are only what the sample held.\n"+
		"The format is documented in docs/contracts.md.", p.rows, source)
	for i := 0; i+1 < len(doc.Content); i += 2 {
		key, val := doc.Content[i], doc.Content[i+1]
		switch key.Value {
		case "primary_key":
			key.HeadComment = "unique and never missing in the sample; duplicates across a job are reported by --fn duplicates"
		case "columns":
			for j, item := range val.Content {
				if j < len(notes) {
					item.HeadComment = notes[j]
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	return buf.Bytes(), nil
}

func (p *Profiler) propose(opts ProposeOptions) (*Contract, []string) {
	c := &Contract{Version: Version, Name: opts.Name}
	notes := make([]string, len(p.cols))
	for i := range p.cols {
		cp := &p.cols[i]
		name := p.schema.Columns[i].Name
		t := cp.typeOf(p.schema.Columns[i].Type)
		col := Column{Name: name, Type: t.String()}
		if cp.nulls == 0 && cp.values > 0 {
			col.Required = true
		}
		note := fmt.Sprintf("%s, %d missing", plural(cp.values, "value"), cp.nulls)
		if cp.overflow {
			note += fmt.Sprintf(", more than %d distinct", maxTracked)
		} else {
			note += fmt.Sprintf(", %d distinct", len(cp.distinct))
		}
		if cp.values > 0 {
			switch t {
			case functions.Int64:
				col.Min, col.Max = lit(strconv.FormatInt(cp.minI, 10)), lit(strconv.FormatInt(cp.maxI, 10))
			case functions.Float64:
				col.Min, col.Max = lit(strconv.FormatFloat(cp.minF, 'g', -1, 64)), lit(strconv.FormatFloat(cp.maxF, 'g', -1, 64))
			case functions.Timestamp:
				layout := functions.TimestampLayout
				if cp.dateOnly {
					layout = time.DateOnly
				}
				col.Min = lit(time.UnixMicro(cp.minT).UTC().Format(layout))
				col.Max = lit(time.UnixMicro(cp.maxT).UTC().Format(layout))
			case functions.String:
				note += fmt.Sprintf(", longest %s", plural(int64(cp.maxLen), "character"))
				if cp.leadingZero {
					note += "; numbers with leading zeros, kept as text"
				}
				if !cp.overflow && len(cp.distinct) <= maxAllowed && cp.values >= 3*int64(len(cp.distinct)) {
					for _, v := range sortedKeys(cp.distinct) {
						col.Allowed = append(col.Allowed, Literal(v))
					}
				}
			}
		}
		notes[i] = note
		c.Columns = append(c.Columns, col)
	}
	// The first column that could identify a record.
	for i, cp := range p.cols {
		t := cp.typeOf(p.schema.Columns[i].Type)
		if (t == functions.Int64 || t == functions.String) && cp.nulls == 0 && cp.values > 1 &&
			!cp.overflow && int64(len(cp.distinct)) == cp.values && c.Columns[i].Allowed == nil {
			c.PrimaryKey = []string{p.schema.Columns[i].Name}
			break
		}
	}
	return c, notes
}

func lit(s string) *Literal {
	l := Literal(s)
	return &l
}

func sortedKeys(m map[string]int64) []string {
	return slices.Sorted(maps.Keys(m))
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
