package functions

import (
	"math"
	"strings"
	"testing"
)

func TestTypeNamesRoundTrip(t *testing.T) {
	types := []Type{String, Int64, Float64, Bool, Timestamp, LocalTimestamp, Binary, Date, Time, Float32,
		Int8, Int16, Int32, Uint8, Uint16, Uint32, Uint64, UUID, DecimalOf(1, 0), DecimalOf(18, 4), DecimalOf(38, 10),
		TimestampOf(Millis, false), TimestampOf(Nanos, false), TimestampOf(Millis, true), TimestampOf(Nanos, true),
		TimeOf(Millis, false), TimeOf(Nanos, false), TimeOf(Micros, true)}
	seen := map[string]bool{}
	for _, typ := range types {
		name := typ.String()
		if seen[name] {
			t.Errorf("two types are named %s", name)
		}
		seen[name] = true
		if got, err := ParseType(name); err != nil || got != typ {
			t.Errorf("ParseType(%q) = %v, %v; want %v", name, got, err, typ)
		}
	}
	// DuckDB's spellings.
	for spec, want := range map[string]Type{
		"DECIMAL(10,2)": DecimalOf(10, 2), "numeric( 38 , 10 )": DecimalOf(38, 10), "decimal": DecimalOf(18, 3),
		"float": Float32, "real": Float32, "double": Float64, "integer": Int32, "int": Int64, "tinyint": Int8,
		"smallint": Int16, "bigint": Int64, "utinyint": Uint8, "usmallint": Uint16, "uinteger": Uint32, "ubigint": Uint64,
		"blob": Binary, "timestamp": LocalTimestamp, "TIMESTAMP_NS": TimestampOf(Nanos, false), "timestamp_ms": TimestampOf(Millis, false),
		"timestamptz": Timestamp, "timestamp with time zone": Timestamp, "time": Time, "date": Date, "uuid": UUID,
	} {
		if got, err := ParseType(spec); err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", spec, got, err, want)
		}
	}
	for _, bad := range []string{"decimal(39,2)", "decimal(5,6)", "decimal(0,0)", "decimal(a,b)", "list(string)", "string[]",
		"struct(a int64)", "map(string, int64)", "money"} {
		if got, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) = %v, want an error", bad, got)
		}
	}
	if _, err := ParseType("list(string)"); err == nil || !strings.Contains(err.Error(), "ParseColumnType") {
		t.Errorf("ParseType(list(string)): %v, want an error pointing to ParseColumnType", err)
	}
}

func TestSchemaKeepsTheCommaOfDecimal(t *testing.T) {
	s, err := ParseSchema("amount:decimal(10,2), id:ubigint,\"a,b\":numeric(38, 10)")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), `amount:decimal(10,2),id:uint64,"a,b":decimal(38,10)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDecimalsAreExact(t *testing.T) {
	for _, tc := range []struct {
		typ       Type
		in, want  string
		wantError string
	}{
		{DecimalOf(10, 2), "1.5", "1.50", ""},
		{DecimalOf(10, 2), "-0.07", "-0.07", ""},
		{DecimalOf(10, 2), "+12345678.99", "12345678.99", ""},
		{DecimalOf(10, 2), "1.005", "", "more than 2 digits after the point"},
		{DecimalOf(10, 2), "1.000", "1.00", ""},
		{DecimalOf(10, 2), "123456789", "", "more than 8 digits before the point"},
		{DecimalOf(10, 2), "1e3", "1000.00", ""},
		{DecimalOf(10, 2), "abc", "", "not a decimal number"},
		{DecimalOf(18, 4), "99999999999999.9999", "99999999999999.9999", ""},
		{DecimalOf(38, 10), "813180378.8478518982", "813180378.8478518982", ""},
		{DecimalOf(38, 10), "-9999999999999999999999999999.9999999999", "-9999999999999999999999999999.9999999999", ""},
		{DecimalOf(38, 0), "99999999999999999999999999999999999999", "99999999999999999999999999999999999999", ""},
		{DecimalOf(38, 0), "100000000000000000000000000000000000000", "", "more than 38 digits"},
		{DecimalOf(5, 5), ".5", "0.50000", ""},
	} {
		v, err := ParseDecimal(tc.typ, tc.in)
		switch {
		case tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)):
			t.Errorf("ParseDecimal(%v, %q) = %q, %v; want an error saying %q", tc.typ, tc.in, v.Text(), err, tc.wantError)
		case tc.wantError == "" && (err != nil || v.Text() != tc.want):
			t.Errorf("ParseDecimal(%v, %q) = %q, %v; want %s", tc.typ, tc.in, v.Text(), err, tc.want)
		case tc.wantError == "" && string(v.AppendJSON(nil)) != tc.want:
			t.Errorf("JSON of %v %s = %s, want the number %s", tc.typ, tc.in, v.AppendJSON(nil), tc.want)
		}
	}
}

func TestCompareOrdersEveryType(t *testing.T) {
	dec := func(typ Type, s string) Value {
		v, err := ParseDecimal(typ, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	d38 := DecimalOf(38, 10)
	for _, tc := range []struct {
		name string
		lo   Value
		hi   Value
	}{
		{"uint64 above int64", Value{Type: Uint64, Valid: true, I: 5}, Value{Type: Uint64, Valid: true, I: -1}},
		{"decimal(38,10) signs", dec(d38, "-1"), dec(d38, "0.0000000001")},
		{"decimal(38,10) negatives", dec(d38, "-813180378.8478518982"), dec(d38, "-813180378.8478518981")},
		{"decimal(38,10) big", dec(d38, "813180378.8478518981"), dec(d38, "9999999999999999999999999999")},
		{"decimal(10,2)", dec(DecimalOf(10, 2), "-1.5"), dec(DecimalOf(10, 2), "1.25")},
		{"binary bytes", Value{Type: Binary, Valid: true, S: "\x00\xff"}, Value{Type: Binary, Valid: true, S: "\x01"}},
		{"float32", Value{Type: Float32, Valid: true, F: -1}, Value{Type: Float32, Valid: true, F: math.Inf(1)}},
		{"null first", Null(Date), Value{Type: Date, Valid: true, I: -5}},
	} {
		if Compare(tc.lo, tc.hi) != -1 || Compare(tc.hi, tc.lo) != 1 || Compare(tc.lo, tc.lo) != 0 {
			t.Errorf("%s: Compare(%s, %s) = %d, want -1", tc.name, tc.lo.Text(), tc.hi.Text(), Compare(tc.lo, tc.hi))
		}
	}
}

func TestTextAndJSONOfEveryType(t *testing.T) {
	parse := func(typ Type, s string) Value {
		v, ok, err := ParseText(typ, s)
		if !ok || err != nil {
			t.Fatalf("ParseText(%v, %q): %v, %v", typ, s, ok, err)
		}
		return v
	}
	ts, _ := TimestampAt(TimestampOf(Nanos, false), Value{Type: Date, Valid: true, I: 19844}.Time().Add(3723456789123))
	for _, tc := range []struct {
		v          Value
		text, json string
	}{
		{Value{Type: Uint64, Valid: true, I: -1}, "18446744073709551615", "18446744073709551615"},
		{Value{Type: Int8, Valid: true, I: -128}, "-128", "-128"},
		{Value{Type: Float32, Valid: true, F: float64(float32(0.1))}, "0.1", "0.1"},
		{Value{Type: Float32, Valid: true, F: math.NaN()}, "NaN", `"NaN"`},
		{parse(Date, "2024-05-01"), "2024-05-01", `"2024-05-01"`},
		{parse(Date, "0001-01-01"), "0001-01-01", `"0001-01-01"`},
		{parse(Time, "23:59:59.5"), "23:59:59.5", `"23:59:59.5"`},
		{parse(TimeOf(Nanos, false), "01:02:03.000000001"), "01:02:03.000000001", `"01:02:03.000000001"`},
		{ts, "2024-05-01T01:02:03.456789123", `"2024-05-01T01:02:03.456789123"`},
		{Value{Type: LocalTimestamp, Valid: true, I: 1}, "1970-01-01T00:00:00.000001", `"1970-01-01T00:00:00.000001"`},
		{Value{Type: Timestamp, Valid: true, I: 1}, "1970-01-01T00:00:00.000001Z", `"1970-01-01T00:00:00.000001Z"`},
		{parse(Binary, "//4="), "//4=", `"//4="`},
		{parse(UUID, "12345678-9ABC-def0-0102-030405060708"), "12345678-9abc-def0-0102-030405060708", `"12345678-9abc-def0-0102-030405060708"`},
	} {
		if got := tc.v.Text(); got != tc.text {
			t.Errorf("Text of %v = %q, want %q", tc.v.Type, got, tc.text)
		}
		if got := string(tc.v.AppendJSON(nil)); got != tc.json {
			t.Errorf("JSON of %v = %s, want %s", tc.v.Type, got, tc.json)
		}
	}
	for typ, bad := range map[Type]string{Int8: "128", Uint8: "-1", Uint64: "18446744073709551616", Date: "2024-02-30",
		Time: "24:00:00", TimeOf(Millis, false): "00:00:00.0001", Binary: "not base64!", UUID: "1234", Float32: "1e39"} {
		if v, _, err := ParseText(typ, bad); err == nil {
			t.Errorf("ParseText(%v, %q) = %q, want an error", typ, bad, v.Text())
		}
	}
	if _, err := TimestampAt(TimestampOf(Millis, true), Value{Type: Timestamp, Valid: true, I: 1}.Time()); err == nil {
		t.Error("a microsecond in a millisecond timestamp: no error")
	}
}
