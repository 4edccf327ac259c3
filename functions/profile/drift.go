package profile

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

// Thresholds of a Drift's findings.
const (
	// NullShareChange is the change of a column's share of missing values
	// (in absolute terms: 0.01 is one percentage point) that is reported.
	NullShareChange = 0.01
	// QuantileShift is how far (in the earlier standard deviations) one of
	// the quartiles may move before the distribution is reported shifted.
	QuantileShift = 0.25
)

// Drift is what changed between an earlier profile and a later one.
type Drift struct {
	RowsBefore int64         `json:"rows_before"`
	RowsAfter  int64         `json:"rows_after"`
	Added      []string      `json:"added_columns,omitempty"`
	Removed    []string      `json:"removed_columns,omitempty"`
	Columns    []ColumnDrift `json:"columns"`
}

// ColumnDrift is one column's changes; Findings says them in words, empty
// when nothing changed past the thresholds.
type ColumnDrift struct {
	Name            string  `json:"name"`
	TypeBefore      string  `json:"type_before"`
	TypeAfter       string  `json:"type_after"`
	NullShareBefore float64 `json:"null_share_before"`
	NullShareAfter  float64 `json:"null_share_after"`
	MinBefore       string  `json:"min_before,omitempty"`
	MinAfter        string  `json:"min_after,omitempty"`
	MaxBefore       string  `json:"max_before,omitempty"`
	MaxAfter        string  `json:"max_after,omitempty"`
	// NewValues are top values of the later profile that the earlier one
	// did not have; exact when the earlier top values were (top_error 0).
	NewValues []string `json:"new_values,omitempty"`
	// QuartileShift is the largest move of p25, p50 or p75, in earlier
	// standard deviations.
	QuartileShift float64  `json:"quartile_shift,omitempty"`
	Findings      []string `json:"findings"`
}

// Compare reports what changed from before to after: columns added or
// removed, and per column a changed type, a null share that moved by more
// than NullShareChange, a range that widened (numbers and timestamps), new values, and quartiles
// that moved by more than QuantileShift standard deviations.
func Compare(before, after *Profile) *Drift {
	d := &Drift{RowsBefore: before.Rows, RowsAfter: after.Rows}
	old := map[string]*Column{}
	for i := range before.Columns {
		old[before.Columns[i].Name] = &before.Columns[i]
	}
	seen := map[string]bool{}
	for i := range after.Columns {
		a := &after.Columns[i]
		seen[a.Name] = true
		b := old[a.Name]
		if b == nil {
			d.Added = append(d.Added, a.Name)
			continue
		}
		d.Columns = append(d.Columns, compareColumn(b, a))
	}
	for _, c := range before.Columns {
		if !seen[c.Name] {
			d.Removed = append(d.Removed, c.Name)
		}
	}
	return d
}

func compareColumn(b, a *Column) ColumnDrift {
	cd := ColumnDrift{Name: a.Name, TypeBefore: b.InferredType, TypeAfter: a.InferredType,
		NullShareBefore: b.NullShare, NullShareAfter: a.NullShare,
		MinBefore: b.Min, MinAfter: a.Min, MaxBefore: b.Max, MaxAfter: a.Max, Findings: []string{}}
	say := func(format string, args ...any) { cd.Findings = append(cd.Findings, fmt.Sprintf(format, args...)) }
	if b.InferredType != a.InferredType {
		say("type %s, was %s", a.InferredType, b.InferredType)
	}
	if math.Abs(a.NullShare-b.NullShare) > NullShareChange {
		say("missing %.2f%%, was %.2f%%", 100*a.NullShare, 100*b.NullShare)
	}
	if b.InferredType == a.InferredType && a.InferredType != "string" && a.InferredType != "bool" && a.Count > 0 && b.Count > 0 {
		if less(a.Min, b.Min, a.InferredType) {
			say("min %s, below the earlier min %s", a.Min, b.Min)
		}
		if less(b.Max, a.Max, a.InferredType) {
			say("max %s, above the earlier max %s", a.Max, b.Max)
		}
	}
	known := map[string]bool{}
	for _, vc := range b.Top {
		known[vc.Value] = true
	}
	// New values are meaningful where the earlier profile knew every
	// value: few distinct values, counted exactly.
	if b.TopError == 0 && len(b.Top) < topShown {
		for _, vc := range a.Top {
			if !known[vc.Value] {
				cd.NewValues = append(cd.NewValues, vc.Value)
			}
		}
		if len(cd.NewValues) > 0 {
			say("new values: %q", cd.NewValues)
		}
	}
	if b.Stddev != nil && *b.Stddev > 0 && a.Quantiles != nil && b.Quantiles != nil {
		for _, q := range []string{"p25", "p50", "p75"} {
			cd.QuartileShift = math.Max(cd.QuartileShift, math.Abs(a.Quantiles[q]-b.Quantiles[q])/(*b.Stddev))
		}
		if cd.QuartileShift > QuantileShift {
			say("distribution shifted: quartiles moved by up to %.2f standard deviations (median %s, was %s)",
				cd.QuartileShift, formatG(a.Quantiles["p50"]), formatG(b.Quantiles["p50"]))
		}
	}
	return cd
}

// less compares two values of a profile's Min/Max in the column's type.
func less(x, y, typ string) bool {
	t, _ := functions.ParseType(typ)
	switch {
	case numericType(t):
		fx, errx := strconv.ParseFloat(x, 64)
		fy, erry := strconv.ParseFloat(y, 64)
		return errx == nil && erry == nil && fx < fy
	case t == functions.Timestamp:
		// RFC 3339 in UTC, but with a fraction only where there is one:
		// byte-wise, 00:00:00.5Z would sort before 00:00:00Z.
		tx, errx := time.Parse(time.RFC3339Nano, x)
		ty, erry := time.Parse(time.RFC3339Nano, y)
		return errx == nil && erry == nil && tx.Before(ty)
	}
	return x < y // strings byte-wise
}

func formatG(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// Changed reports whether anything was found.
func (d *Drift) Changed() bool {
	if len(d.Added) > 0 || len(d.Removed) > 0 {
		return true
	}
	return slices.ContainsFunc(d.Columns, func(c ColumnDrift) bool { return len(c.Findings) > 0 })
}

// WriteText writes the drift report for a person.
func (d *Drift) WriteText(w io.Writer) error {
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	p("records: %d, were %d\n", d.RowsAfter, d.RowsBefore)
	for _, c := range d.Added {
		p("column %s: new\n", c)
	}
	for _, c := range d.Removed {
		p("column %s: gone\n", c)
	}
	for _, c := range d.Columns {
		for _, f := range c.Findings {
			p("column %s: %s\n", c.Name, f)
		}
	}
	if !d.Changed() {
		p("no drift: every column within the thresholds (null share ±%g, quartiles ±%g stddev, same type, range and values)\n", NullShareChange, QuantileShift)
	}
	return err
}
