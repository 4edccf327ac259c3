package contract_test

import (
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/functions/contract"
)

// TestProfilerAgreesWithInferSchema checks that fanout infer's profiler and
// the CSV reader's schema inference give every column the same type (they
// share codec.TypeGuess), and pins those types.
func TestProfilerAgreesWithInferSchema(t *testing.T) {
	columns := []struct {
		name   string
		values []string
		want   functions.Type
	}{
		{"int", []string{"1", "-2", "30"}, functions.Int64},
		{"int_with_missing", []string{"1", "", "3"}, functions.Int64},
		{"int_too_large", []string{"1", "99999999999999999999", "2"}, functions.DecimalOf(38, 0)}, // exact, not a rounding float64
		{"int_beyond_38_digits", []string{"1", "123456789012345678901234567890123456789", "2"}, functions.String},
		{"leading_zero", []string{"007", "12", "3"}, functions.String},
		{"float", []string{"1.5", "2", "-3e2"}, functions.Float64},
		{"bool", []string{"true", "false", "true"}, functions.Bool},
		{"date", []string{"2024-01-02", "2025-12-31", "2024-02-29"}, functions.Timestamp},
		{"mixed", []string{"1", "true", "x"}, functions.String},
		{"empty", []string{"", "", ""}, functions.String},
	}
	var csv strings.Builder
	schema := &functions.Schema{}
	for i, c := range columns {
		if i > 0 {
			csv.WriteByte(',')
		}
		csv.WriteString(c.name)
		schema.Columns = append(schema.Columns, functions.Column{Name: c.name, Type: functions.String})
	}
	csv.WriteByte('\n')
	p := contract.NewProfiler(schema)
	for r := range 3 {
		row := make(functions.Row, len(columns))
		for i, c := range columns {
			if i > 0 {
				csv.WriteByte(',')
			}
			csv.WriteString(c.values[r])
			row[i] = functions.StringValue(c.values[r])
			if c.values[r] == "" {
				row[i] = functions.Null(functions.String)
			}
		}
		csv.WriteByte('\n')
		p.Add(row)
	}
	inferred, err := codec.InferSchema(strings.NewReader(csv.String()), "csv", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	proposed := p.Contract(contract.ProposeOptions{})
	for i, c := range columns {
		if got := inferred.Columns[i].Type; got != c.want {
			t.Errorf("InferSchema: column %s is %v, want %v", c.name, got, c.want)
		}
		if got := proposed.Columns[i].Type; got != c.want.String() {
			t.Errorf("Profiler: column %s is %s, want %v", c.name, got, c.want)
		}
	}
}
