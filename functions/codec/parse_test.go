package codec

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

func TestParseValue(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) functions.Value {
		return functions.TimeValue(time.Date(y, mo, d, h, mi, s, ns, time.UTC))
	}
	tests := []struct {
		name string
		typ  functions.Type
		in   string
		want functions.Value
		err  bool
	}{
		{"string kept as is", functions.String, " x ", sv(" x "), false},
		{"empty string", functions.String, "", sv(""), false},
		{"int", functions.Int64, "42", iv(42), false},
		{"int plus", functions.Int64, "+42", iv(42), false},
		{"int negative spaces", functions.Int64, " -7 ", iv(-7), false},
		{"int empty is null", functions.Int64, "", functions.Null(functions.Int64), false},
		{"int overflow", functions.Int64, "9223372036854775808", functions.Value{}, true},
		{"int float text", functions.Int64, "1.5", functions.Value{}, true},
		{"float", functions.Float64, "1.25e2", fv(125), false},
		{"float nan allowed by schema", functions.Float64, "NaN", fv(math.NaN()), false},
		{"float inf allowed by schema", functions.Float64, "-Inf", fv(math.Inf(-1)), false},
		{"float junk", functions.Float64, "1.2.3", functions.Value{}, true},
		{"bool TRUE", functions.Bool, "TRUE", bv(true), false},
		{"bool False", functions.Bool, "False", bv(false), false},
		{"bool 1", functions.Bool, "1", bv(true), false},
		{"bool 0", functions.Bool, "0", bv(false), false},
		{"bool yes", functions.Bool, "yes", functions.Value{}, true},
		{"rfc3339", functions.Timestamp, "2024-05-01T12:30:00Z", utc(2024, 5, 1, 12, 30, 0, 0), false},
		{"rfc3339 zone", functions.Timestamp, "2024-05-01T12:30:00+02:00", utc(2024, 5, 1, 10, 30, 0, 0), false},
		{"rfc3339 fraction", functions.Timestamp, "2024-05-01T12:30:00.123456789Z", utc(2024, 5, 1, 12, 30, 0, 123456000), false},
		{"no zone is utc", functions.Timestamp, "2024-05-01T12:30:00", utc(2024, 5, 1, 12, 30, 0, 0), false},
		{"space", functions.Timestamp, "2024-05-01 12:30:00.5", utc(2024, 5, 1, 12, 30, 0, 500000000), false},
		{"space zone", functions.Timestamp, "2024-05-01 12:30:00-01:00", utc(2024, 5, 1, 13, 30, 0, 0), false},
		{"date", functions.Timestamp, "2024-05-01", utc(2024, 5, 1, 0, 0, 0, 0), false},
		{"bad month", functions.Timestamp, "2024-13-01", functions.Value{}, true},
		{"not a time", functions.Timestamp, "yesterday", functions.Value{}, true},
		{"written form reads back", functions.Timestamp, utc(2024, 5, 1, 1, 2, 3, 4000).Text(), utc(2024, 5, 1, 1, 2, 3, 4000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseValue(tt.typ, tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				if !strings.Contains(err.Error(), tt.typ.String()) {
					t.Errorf("error %q does not name the type", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			same := got == tt.want || (tt.typ == functions.Float64 && math.IsNaN(got.F) && math.IsNaN(tt.want.F))
			if !same {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLooks(t *testing.T) {
	tests := []struct {
		in                     string
		isInt, isFloat, isBool bool
	}{
		{"0", true, true, false},
		{"-12", true, true, false},
		{"007", false, false, false},
		{"0.5", false, true, false},
		{"1e10", false, true, false},
		{"NaN", false, false, false},
		{"Inf", false, false, false},
		{"0x10", false, false, false},
		{"1_000", false, false, false},
		{"true", false, false, true},
		{"1e999", false, false, false},
		{".", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if looksInt(tt.in) != tt.isInt || looksFloat(tt.in) != tt.isFloat || looksBool(tt.in) != tt.isBool {
				t.Errorf("int %v float %v bool %v; want %v %v %v", looksInt(tt.in), looksFloat(tt.in), looksBool(tt.in), tt.isInt, tt.isFloat, tt.isBool)
			}
		})
	}
}
