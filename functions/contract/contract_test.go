package contract_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/contract"
)

func TestParseRefusesBadContracts(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty document"},
		{"two documents", "columns: [{name: a}]\n---\ncolumns: [{name: b}]\n", "more than one document"},
		{"unknown field", "columns: [{name: a, typo: 1}]", "field typo not found"},
		{"no columns", "name: x", "no columns"},
		{"unknown type", "columns: [{name: a, type: money}]", `unknown type "money"`},
		{"nested type", "columns: [{name: a, type: 'struct(b int64)'}]", "nested types (list, struct, map) are not supported in contracts"},
		{"column twice", "columns: [{name: a}, {name: a}]", "listed twice"},
		{"comma in a name", "columns: [{name: 'a,b'}]", "comma or a colon"},
		{"unknown key column", "primary_key: [b]\ncolumns: [{name: a}]", `primary_key: "b" is not a column`},
		{"required and nullable", "columns: [{name: a, required: true, nullable: true}]", "both required and nullable"},
		{"pattern on int", "columns: [{name: a, type: int64, pattern: x}]", "pattern needs a string column"},
		{"range of a bool", "columns: [{name: a, type: bool, min: 1}]", "no range"},
		{"format of a string", "columns: [{name: a, format: '%Y'}]", "format needs a timestamp column"},
		{"bad case", "cleansing: {case: title}\ncolumns: [{name: a}]", `case "title"`},
		{"list as a bound", "columns: [{name: a, type: int64, min: [1]}]", "want a single value"},
		{"future version", "version: 2\ncolumns: [{name: a}]", "version 2"},
		{"rule without name", "columns: [{name: a}]\nrules: [{check: 'a = 1'}]", "no name"},
		{"reserved rule name", "columns: [{name: a}]\nrules: [{name: required, check: \"a = 'x'\"}]", "names a column rule"},
		{"rule twice", "columns: [{name: a}]\nrules: [{name: r, require: [a]}, {name: r, require: [a]}]", "used twice"},
		{"check and require", "columns: [{name: a}]\nrules: [{name: r, check: \"a = 'x'\", require: [a]}]", "separate rules"},
		{"empty rule", "columns: [{name: a}]\nrules: [{name: r}]", "give check"},
		{"when with check", "columns: [{name: a}]\nrules: [{name: r, check: \"a = 'x'\", when: \"a = 'y'\"}]", "go with require"},
		{"require unknown", "columns: [{name: a}]\nrules: [{name: r, require: [b]}]", `require: "b" is not a column`},
		{"when_present unknown", "columns: [{name: a}]\nrules: [{name: r, require: [a], when_present: b}]", `when_present: "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := contract.Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCompileRefusesWhatNeedsTypes(t *testing.T) {
	in := &functions.Schema{Columns: []functions.Column{{Name: "a"}, {Name: "ts"}}}
	tests := []struct {
		name, doc, want string
	}{
		{"bad bound", "columns: [{name: a, type: int64, min: abc}]", `min "abc" is not an int64`},
		{"bad allowed", "columns: [{name: a, type: float64, allowed: [1, x]}]", `allowed value "x" is not a float64`},
		{"bad default", "columns: [{name: a, type: bool, default: maybe}]", `default "maybe" is not a bool`},
		{"min above max", "columns: [{name: a, type: int64, min: 5, max: 1}]", "greater than max"},
		{"bad pattern", "columns: [{name: a, pattern: '('}]", "pattern"},
		{"bad format", "columns: [{name: ts, type: timestamp, format: '%Q'}]", "unknown directive %Q"},
		{"format without elements", "columns: [{name: ts, type: timestamp, format: yyyy-mm-dd}]", "no date or time elements"},
		{"bad check", "columns: [{name: a}]\nrules: [{name: r, check: 'a >'}]", "rule r: check"},
		{"check type error", "columns: [{name: a, type: int64}]\nrules: [{name: r, check: \"a = 'x'\"}]", "rule r: check"},
		{"bad when", "columns: [{name: a}]\nrules: [{name: r, require: [a], when: 'b = 1'}]", "rule r: when"},
		{"column not in the input", "columns: [{name: a}, {name: b}]", `column "b" is not in the input`},
		{"min_length above max_length", "columns: [{name: a, min_length: 3, max_length: 2}]", "min_length 3 is greater"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := contract.Parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Compile(in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// ordersContract has one column rule of every kind, cleansing and record
// rules.
const ordersContract = `
version: 1
primary_key: [id]
cleansing: {trim: true}
columns:
  - {name: id, type: int64, min: 1}
  - {name: region, required: true, case: lower, allowed: [eu, us]}
  - {name: qty, type: int64, min: 1, max: 100, coerce: true}
  - {name: amount, type: float64, min: 0}
  - {name: code, pattern: '[A-Z]{2}[0-9]', min_length: 3, max_length: 3}
  - {name: paid, type: bool, coerce: true}
  - {name: day, type: timestamp, format: '%d/%m/%Y', min: '2020-01-01'}
  - {name: currency, default: EUR}
  - {name: status, allowed: [open, shipped]}
  - {name: shipped_at, type: timestamp}
  - {name: tracking}
  - {name: carrier}
rules:
  - {name: shipped_needs_date, when: "status = 'shipped'", require: [shipped_at]}
  - {name: tracking_needs_carrier, when_present: tracking, require: [carrier]}
  - {name: ship_after_day, check: "shipped_at >= day"}
`

var ordersColumns = []string{"id", "region", "qty", "amount", "code", "paid", "day", "currency", "status", "shipped_at", "tracking", "carrier"}

// stringRow builds a record read as strings: "" is an empty string, and
// "<null>" a null.
func stringRow(fields ...string) functions.Row {
	row := make(functions.Row, len(fields))
	for i, f := range fields {
		if f == "<null>" {
			row[i] = functions.Null(functions.String)
		} else {
			row[i] = functions.StringValue(f)
		}
	}
	return row
}

func compileOrders(t *testing.T) *contract.Validator {
	t.Helper()
	c, err := contract.Parse([]byte(ordersContract))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ReadSchema().Names(); !slices.Equal(got, ordersColumns) {
		t.Fatalf("ReadSchema: got %v, want %v", got, ordersColumns)
	}
	v, err := c.Compile(c.ReadSchema())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidatorFindsEachRuleBroken(t *testing.T) {
	valid := []string{"7", "eu", "3", "9.5", "AB1", "true", "31/12/2024", "USD", "shipped", "2025-01-02", "T1", "dhl"}
	with := func(changes map[string]string) functions.Row {
		f := slices.Clone(valid)
		for col, val := range changes {
			f[slices.Index(ordersColumns, col)] = val
		}
		return stringRow(f...)
	}
	tests := []struct {
		name    string
		changes map[string]string
		want    []string // rule/column of every violation
	}{
		{"valid", nil, nil},
		{"wrong type", map[string]string{"amount": "9,5"}, []string{"type/amount"}},
		{"wrong int", map[string]string{"id": "x7"}, []string{"type/id"}},
		{"not finite", map[string]string{"amount": "NaN"}, []string{"type/amount"}},
		{"missing required", map[string]string{"region": "<null>"}, []string{"required/region"}},
		{"empty required", map[string]string{"region": "  "}, []string{"required/region"}},
		{"primary key is required", map[string]string{"id": ""}, []string{"required/id"}},
		{"below min", map[string]string{"qty": "0"}, []string{"min/qty"}},
		{"above max", map[string]string{"qty": "101"}, []string{"max/qty"}},
		{"not allowed", map[string]string{"status": "lost"}, []string{"allowed/status"}},
		{"pattern", map[string]string{"code": "ab1"}, []string{"pattern/code"}},
		{"pattern and length", map[string]string{"code": "ABCD"}, []string{"pattern/code", "max_length/code"}},
		{"too short", map[string]string{"code": "A"}, []string{"pattern/code", "min_length/code"}},
		{"timestamp format", map[string]string{"day": "2024-12-31"}, []string{"type/day"}},
		{"timestamp below min", map[string]string{"day": "31/12/2019"}, []string{"min/day"}},
		{"required when", map[string]string{"shipped_at": ""}, []string{"shipped_needs_date/shipped_at"}},
		{"required when present", map[string]string{"carrier": "<null>"}, []string{"tracking_needs_carrier/carrier"}},
		{"not required when absent", map[string]string{"carrier": "", "tracking": ""}, nil},
		{"check", map[string]string{"shipped_at": "2024-01-01"}, []string{"ship_after_day/"}},
		{"check unknown passes", map[string]string{"status": "open", "shipped_at": ""}, nil},
		// A value that broke a column rule is not reported again by a
		// record rule that reads it.
		{"no double report", map[string]string{"shipped_at": "soon"}, []string{"type/shipped_at"}},
		{"several rules", map[string]string{"id": "0", "region": "mars", "qty": "x"}, []string{"min/id", "allowed/region", "type/qty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := compileOrders(t)
			_, viol := v.Check(with(tt.changes))
			var got []string
			for _, x := range viol {
				if x.Message == "" {
					t.Errorf("violation %s/%s has no message", x.Rule, x.Column)
				}
				got = append(got, x.Rule+"/"+x.Column)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got violations %v (%+v), want %v", got, viol, tt.want)
			}
		})
	}
}

func TestValidatorCleansesAndCountsOnlyKeptRecords(t *testing.T) {
	v := compileOrders(t)
	row, viol := v.Check(stringRow(" 7 ", " EU ", "3.0", "1e1", "AB1", "yes", "01/02/2024", "<null>", "open", "", "", ""))
	if len(viol) > 0 {
		t.Fatalf("got violations %+v, want none", viol)
	}
	want := []string{"7", "eu", "3", "10.0", "AB1", "true", "2024-02-01T00:00:00", "EUR", "open", "", "", ""}
	for i, w := range want {
		if got := row[i].Text(); got != w {
			t.Errorf("column %s: got %q, want %q", ordersColumns[i], got, w)
		}
	}
	if row[2].Type != functions.Int64 || row[5].Type != functions.Bool || row[6].Type != functions.LocalTimestamp {
		t.Errorf("got types %v %v %v, want int64 bool timestamp (wall clock: the format has no zone)", row[2].Type, row[5].Type, row[6].Type)
	}
	if got := v.Counters(); len(got) != 0 {
		t.Fatalf("counted %v before Accept", got)
	}
	v.Accept()
	// A rejected record's cleansing is not counted.
	if _, viol := v.Check(stringRow(" 8 ", " US ", "x", "1", "AB1", "no", "01/02/2024", "", "open", "", "", "")); len(viol) != 1 {
		t.Fatalf("got %+v, want one violation", viol)
	}
	want2 := map[string]int64{"trim.region": 1, "case.region": 1, "coerce.qty": 1, "coerce.paid": 1, "default.currency": 1}
	got := v.Counters()
	if len(got) != len(want2) {
		t.Fatalf("got counters %v, want %v", got, want2)
	}
	for k, n := range want2 {
		if got[k] != n {
			t.Errorf("counter %s: got %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func TestValidatorChecksTypedInput(t *testing.T) {
	c, err := contract.Parse([]byte(`columns: [{name: n, type: int64, max: 10}, {name: f, type: float64}, {name: s, max_length: 2}]`))
	if err != nil {
		t.Fatal(err)
	}
	// Parquet gives typed columns: an int64 into a float64 column passes
	// through its text, a float into an int64 column must be integral.
	in := &functions.Schema{Columns: []functions.Column{{Name: "n", Type: functions.Float64}, {Name: "f", Type: functions.Int64}, {Name: "s", Type: functions.Int64}}}
	v, err := c.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	row, viol := v.Check(functions.Row{functions.FloatValue(4), functions.IntValue(3), functions.IntValue(12)})
	if len(viol) != 0 || row[0].I != 4 || row[1].F != 3 || row[2].S != "12" {
		t.Fatalf("got %v %+v, want 4, 3.0, \"12\" and no violations", row, viol)
	}
	_, viol = v.Check(functions.Row{functions.FloatValue(4.5), functions.IntValue(3), functions.IntValue(123)})
	if len(viol) != 2 || viol[0].Rule != contract.RuleType || viol[1].Rule != contract.RuleMaxLength {
		t.Fatalf("got %+v, want type and max_length", viol)
	}
}

func TestTimestampFormats(t *testing.T) {
	tests := []struct{ format, text, want string }{
		{"", "2024-05-01 12:00:00", "2024-05-01T12:00:00Z"},
		{"", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"},
		{"rfc3339", "2024-05-01T12:00:00.5Z", "2024-05-01T12:00:00.5Z"},
		{"date", "2024-05-01", "2024-05-01T00:00:00Z"},
		{"unix", "1714564800", "2024-05-01T12:00:00Z"},
		{"unix_ms", "1714564800250", "2024-05-01T12:00:00.25Z"},
		{"%Y%m%d-%H%M", "20240501-1230", "2024-05-01T12:30:00Z"},
		{"%d %b %Y", "01 May 2024", "2024-05-01T00:00:00Z"},
		{"02.01.2006 15:04", "01.05.2024 12:30", "2024-05-01T12:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.format+" "+tt.text, func(t *testing.T) {
			c, err := contract.Parse([]byte("columns: [{name: ts, type: timestamptz, format: '" + tt.format + "'}]"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.Compile(c.ReadSchema())
			if err != nil {
				t.Fatal(err)
			}
			row, viol := v.Check(stringRow(tt.text))
			if len(viol) > 0 || row[0].Text() != tt.want {
				t.Fatalf("got %q %+v, want %q", row[0].Text(), viol, tt.want)
			}
		})
	}
}

func TestExampleContractsParse(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/contracts/*.yaml")
	json, _ := filepath.Glob("../../testdata/contracts/*.json")
	files = append(files, json...)
	if len(files) < 2 {
		t.Fatalf("found %d example contracts, want the YAML and the JSON one", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := contract.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Compile(c.ReadSchema()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestContractTypedColumns checks decimal, date, uint64 and
// timestamp_ms columns: values parse exactly, bounds and allowed values
// compare exactly, and a value a type cannot hold is a type violation.
func TestContractTypedColumns(t *testing.T) {
	c, err := contract.Parse([]byte(`columns:
  - {name: amount, type: "decimal(12,2)", min: "0.01", max: "9999999999.99"}
  - {name: day, type: date, min: "2020-01-01"}
  - {name: n, type: ubigint, allowed: ["18446744073709551615", "1"]}
  - {name: at, type: timestamp_ms, format: "%Y-%m-%d %H:%M:%S"}
`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Compile(c.ReadSchema())
	if err != nil {
		t.Fatal(err)
	}
	row, viol := v.Check(stringRow("12.5", "2024-02-29", "18446744073709551615", "2024-05-01 01:02:03"))
	var got []string
	for _, x := range row {
		got = append(got, x.Type.String()+" "+x.Text())
	}
	if want := []string{"decimal(12,2) 12.50", "date 2024-02-29", "uint64 18446744073709551615", "timestamp_ms 2024-05-01T01:02:03"}; len(viol) > 0 || !slices.Equal(got, want) {
		t.Errorf("got %q %+v, want %q", got, viol, want)
	}
	for _, tt := range []struct {
		row  []string
		want string
	}{
		{[]string{"0.00", "2024-01-01", "1", ""}, "min/amount"},
		{[]string{"1.005", "2024-01-01", "1", ""}, "type/amount"},
		{[]string{"1", "2019-12-31", "1", ""}, "min/day"},
		{[]string{"1", "2023-02-29", "1", ""}, "type/day"},
		{[]string{"1", "2024-01-01", "2", ""}, "allowed/n"},
		{[]string{"1", "2024-01-01", "-1", ""}, "type/n"},
	} {
		_, viol := v.Check(stringRow(tt.row...))
		if len(viol) != 1 || viol[0].Rule+"/"+viol[0].Column != tt.want {
			t.Errorf("%q: got %+v, want one violation %s", tt.row, viol, tt.want)
		}
	}
}
