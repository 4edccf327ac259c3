package profile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/contract"
	"github.com/fanout-dev/fanout/functions/profile"
)

// TestProposedContractPassesItsData profiles text columns of every type
// the profile infers, in the forms the type guess accepts (timestamps
// with a T or a space, a date, a fraction, an offset; TRUE and false;
// signed integers; exponents; codes with leading zeros), and checks the
// inferred types by the names contracts use, then that the proposed
// contract, written as YAML and parsed back, passes every profiled record
// (the contract's own validator is the oracle), with and without ranges.
func TestProposedContractPassesItsData(t *testing.T) {
	cols := []struct {
		name, want string
		values     []string
	}{
		{"at", "timestamptz", []string{"2024-05-01 00:00:00", "2024-05-01T10:00:00Z", "2024-05-02", "2024-05-01T10:00:00.123456+02:00", "2024-12-31T23:59:59.9999999Z"}},
		{"maybe_at", "timestamptz", []string{"2024-05-01T10:00:00Z", "", "2025-01-01 01:02:03"}},
		{"flag", "bool", []string{"true", "FALSE", "True", "false"}},
		{"n", "int64", []string{"-5", "+7", "0", "9223372036854775807", "-9223372036854775808"}},
		{"x", "float64", []string{"1e3", "-0.5", "2", "1.7976931348623157e308", "4.9e-324"}},
		{"code", "string", []string{"007", "012", "100"}},
		{"word", "string", []string{"a b", " padded ", "é", "x"}},
	}
	schema := &functions.Schema{}
	for _, c := range cols {
		schema.Columns = append(schema.Columns, functions.Column{Name: c.name, Type: functions.String})
	}
	var rows []functions.Row
	for i := range 600 {
		row := make(functions.Row, len(cols))
		for j, c := range cols {
			row[j] = functions.StringValue(c.values[(i*7+j)%len(c.values)])
		}
		rows = append(rows, row)
	}
	a := profile.NewAccumulator(schema)
	for _, r := range rows {
		a.Add("obj", r)
	}
	s, err := profile.Fold([]*profile.Summary{a.Summary()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Build(s, schema)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		if got := p.Columns[i].InferredType; got != c.want {
			t.Errorf("%s: inferred %s, want %s", c.name, got, c.want)
		}
	}
	if at := p.Columns[0]; at.Min != "2024-05-01T00:00:00Z" || at.Max != "2024-12-31T23:59:59.999999Z" {
		t.Errorf("at: range [%s, %s], want [2024-05-01T00:00:00Z, 2024-12-31T23:59:59.999999Z]", at.Min, at.Max)
	}
	for _, ranges := range []bool{false, true} {
		t.Run(fmt.Sprintf("ranges=%v", ranges), func(t *testing.T) {
			pr := p.Propose(profile.ProposeOptions{Name: "t", Ranges: ranges})
			text, err := pr.YAML(p.Rows, "test")
			if err != nil {
				t.Fatal(err)
			}
			c, err := contract.Parse(text)
			if err != nil {
				t.Fatalf("the proposed contract does not parse: %v\n%s", err, text)
			}
			for i, col := range c.Columns {
				if col.Type != cols[i].want {
					t.Errorf("%s: proposed type %q, want %q", col.Name, col.Type, cols[i].want)
				}
			}
			if ranges && (c.Columns[0].Min == nil || c.Columns[0].Max == nil) {
				t.Errorf("--ranges proposed no range for the timestamp column:\n%s", text)
			}
			v, err := c.Compile(schema)
			if err != nil {
				t.Fatalf("the proposed contract does not compile: %v\n%s", err, text)
			}
			bad := 0
			for _, r := range rows {
				if _, viol := v.Check(r); len(viol) > 0 && bad < 5 {
					bad++
					var vals []string
					for _, x := range r {
						vals = append(vals, x.S)
					}
					t.Errorf("record %q broke %v of the proposed contract:\n%s", strings.Join(vals, "|"), viol, text)
				}
			}
		})
	}
}

// profileOf profiles one text column of the given values.
func profileOf(t *testing.T, values ...string) *profile.Profile {
	t.Helper()
	schema := &functions.Schema{Columns: []functions.Column{{Name: "at", Type: functions.String}}}
	a := profile.NewAccumulator(schema)
	for _, v := range values {
		a.Add("obj", functions.Row{functions.StringValue(v)})
	}
	s, err := profile.Fold([]*profile.Summary{a.Summary()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Build(s, schema)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCompareTimestampRanges: a timestamp column's range is compared as
// instants: a max half a second later (written with a fraction, which
// sorts before "Z" byte-wise) is reported, an earlier one is not.
func TestCompareTimestampRanges(t *testing.T) {
	before := profileOf(t, "2024-05-01T00:00:00Z", "2024-05-02 00:00:00")
	for _, tc := range []struct {
		after []string
		want  string // "" for no range finding
	}{
		{[]string{"2024-05-01T00:00:00Z", "2024-05-02T00:00:00.5Z"}, "max 2024-05-02T00:00:00.5Z, above the earlier max 2024-05-02T00:00:00Z"},
		{[]string{"2024-04-30T23:59:59.25Z", "2024-05-01T12:00:00.5Z"}, "min 2024-04-30T23:59:59.25Z, below the earlier min 2024-05-01T00:00:00Z"},
		{[]string{"2024-05-01T00:00:00.5Z", "2024-05-01T12:00:00.5Z"}, ""},
	} {
		after := profileOf(t, tc.after...)
		if after.Columns[0].InferredType != "timestamptz" {
			t.Fatalf("%v: inferred %s", tc.after, after.Columns[0].InferredType)
		}
		var b strings.Builder
		if err := profile.Compare(before, after).WriteText(&b); err != nil {
			t.Fatal(err)
		}
		got := b.String()
		if tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%v: the drift lacks %q:\n%s", tc.after, tc.want, got)
		}
		if tc.want == "" && (strings.Contains(got, "above the earlier") || strings.Contains(got, "below the earlier")) {
			t.Errorf("%v: a range finding within the earlier range:\n%s", tc.after, got)
		}
	}
}

// TestDistinctExactWhenEveryValueIsCounted: a column of at most
// TopCounters distinct values has its exact distinct count (a HyperLogLog
// alone gave 201 for the demo's 200 products), whatever the chunking; one
// of more values keeps the estimate.
func TestDistinctExactWhenEveryValueIsCounted(t *testing.T) {
	for _, n := range []int{1, 200, profile.TopCounters} {
		var values []string
		for i := range 20 * n {
			values = append(values, fmt.Sprintf("p%03d", i*7%n))
		}
		if got := profileOf(t, values...).Columns[0]; got.Distinct != int64(n) || got.TopError != 0 {
			t.Errorf("%d values: distinct %d (top error %d), want %d exactly", n, got.Distinct, got.TopError, n)
		}
	}
	var many []string
	for i := range 5000 {
		many = append(many, fmt.Sprintf("v%d", i))
	}
	if got := profileOf(t, many...).Columns[0]; got.TopError == 0 || float64(got.Distinct) < 5000*(1-3*profile.DistinctError) {
		t.Errorf("5000 values: distinct %d (top error %d), want an estimate within 3 standard errors", got.Distinct, got.TopError)
	}
}

// TestTypedColumnsRangeByValue: typed input columns (as Parquet gives
// them: int32, uint16, float32, decimal, date, a wall-clock timestamp) get
// their min and max by value, not by their text, where the two orders
// differ (9 and 10, 9.5 and 10.25); with --ranges the proposed contract
// bounds each and every record passes it (the contract's validator is the
// oracle).
func TestTypedColumnsRangeByValue(t *testing.T) {
	dec := functions.DecimalOf(10, 2)
	local := functions.LocalTimestamp
	schema := &functions.Schema{Columns: []functions.Column{
		{Name: "i32", Type: functions.Int32}, {Name: "u16", Type: functions.Uint16}, {Name: "f32", Type: functions.Float32},
		{Name: "dec", Type: dec}, {Name: "day", Type: functions.Date}, {Name: "wall", Type: local},
	}}
	want := [][2]string{{"-3", "10"}, {"9", "1000"}, {"0.1", "10.25"}, {"9.50", "10.25"}, {"2024-01-09", "2024-01-10"}, {"2024-01-01T09:00:00", "2024-01-01T10:00:00.5"}}
	var rows []functions.Row
	for i := range 300 {
		v := func(typ functions.Type, n int64, f float64) functions.Value {
			return functions.Value{Type: typ, Valid: true, I: n, F: f}
		}
		nine := i%2 == 0
		pick := func(a, b int64) int64 {
			if nine {
				return a
			}
			return b
		}
		rows = append(rows, functions.Row{
			v(functions.Int32, []int64{9, 10, -3}[i%3], 0), v(functions.Uint16, []int64{9, 10, 1000}[i%3], 0),
			v(functions.Float32, 0, float64([]float32{0.1, 9.5, 10.25}[i%3])), v(dec, pick(950, 1025), 0),
			v(functions.Date, pick(19731, 19732), 0), // 2024-01-09, 2024-01-10
			v(local, pick(1704099600_000000, 1704103200_500000), 0),
		})
	}
	a := profile.NewAccumulator(schema)
	for _, r := range rows {
		a.Add("obj", r)
	}
	s, err := profile.Fold([]*profile.Summary{a.Summary()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Build(s, schema)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range p.Columns {
		if c.InferredType != schema.Columns[i].Type.String() || c.Min != want[i][0] || c.Max != want[i][1] {
			t.Errorf("%s: %s [%s, %s], want %s [%s, %s]", c.Name, c.InferredType, c.Min, c.Max, schema.Columns[i].Type, want[i][0], want[i][1])
		}
	}
	pr := p.Propose(profile.ProposeOptions{Name: "t", Ranges: true})
	text, err := pr.YAML(p.Rows, "test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := contract.Parse(text)
	if err != nil {
		t.Fatalf("the proposed contract does not parse: %v\n%s", err, text)
	}
	for _, col := range c.Columns {
		if col.Min == nil || col.Max == nil {
			t.Errorf("%s: no range proposed:\n%s", col.Name, text)
		}
	}
	v, err := c.Compile(schema)
	if err != nil {
		t.Fatalf("the proposed contract does not compile: %v\n%s", err, text)
	}
	for i, r := range rows {
		if _, viol := v.Check(r); len(viol) > 0 {
			t.Fatalf("record %d broke %v of the proposed contract:\n%s", i, viol, text)
		}
	}
}

// TestPatternsCounted: each detected pattern counts exactly the values of
// its shape among look-alikes.
func TestPatternsCounted(t *testing.T) {
	for _, tc := range []struct {
		pattern  string
		matching []string
		other    []string
	}{
		{"email", []string{"a.b@example.com", "x@y.org", "first+tag@mail.co.uk"}, []string{"a@b", "no at", "@x.com", "a b@c.de", "a@@b.com", "a@b."}},
		{"uuid", []string{"123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000"}, []string{"123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g", "not-a-uuid"}},
		{"iso_date", []string{"2024-05-01", "2024-05-01T10:00:00Z", "2024-05-01 10:00:00"}, []string{"05/01/2024", "2024-13-01", "20240501", "2024-5-1"}},
		{"numeric", []string{"12", "-3.5", "1e3", "007", "+4"}, []string{"12a", "1,000", "one", "-", "1.2.3"}},
	} {
		var values []string
		for i := range 10 {
			values = append(values, tc.matching[i%len(tc.matching)], tc.other[i%len(tc.other)])
		}
		col := profileOf(t, values...).Columns[0]
		if got := col.Patterns[tc.pattern]; got != 10 {
			t.Errorf("%s: counted %d of %v, want the 10 of %v", tc.pattern, got, values, tc.matching)
		}
	}
}
