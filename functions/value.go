package functions

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Value is one typed cell. The zero Value is a null string. Where each
// type keeps its value is written at its Kind: integers, dates, times,
// timestamps and decimals of up to 18 digits in I; floats in F; text,
// bytes, UUIDs and wider decimals in S; a nested value's children in a
// slice (Items; see ListValue, StructValue, MapValue).
type Value struct {
	Type  Type
	Valid bool  // false means null
	I     int64 // integers (uint64 as its bits), Bool (0/1), dates, times, timestamps, decimals <= 18 digits; a nested value's number of Items
	F     float64
	S     string // string, binary, UUID (16 bytes), decimal of 19-38 digits (16 bytes big-endian)
	p     *Value // a nested value's first item
}

// Row is one row of values laid out as a Schema.
type Row []Value

// Null returns a null of type t.
func Null(t Type) Value { return Value{Type: t} }

// StringValue, IntValue, FloatValue, BoolValue and TimeValue build
// non-null values; TimeValue is an instant (Timestamp, microseconds).
func StringValue(s string) Value  { return Value{Type: String, Valid: true, S: s} }
func IntValue(i int64) Value      { return Value{Type: Int64, Valid: true, I: i} }
func FloatValue(f float64) Value  { return Value{Type: Float64, Valid: true, F: f} }
func TimeValue(t time.Time) Value { return Value{Type: Timestamp, Valid: true, I: t.UnixMicro()} }
func BoolValue(b bool) Value {
	v := Value{Type: Bool, Valid: true}
	if b {
		v.I = 1
	}
	return v
}

// Bool reports a Bool value's truth.
func (v Value) Bool() bool { return v.I != 0 }

// Time returns a timestamp value as a UTC time (a wall-clock reading as
// if it were UTC), and a date as its midnight.
func (v Value) Time() time.Time {
	switch v.Type.Kind() {
	case KindDate:
		return time.Unix(v.I*86400, 0).UTC()
	case KindTimestamp:
		switch v.Type.Unit() {
		case Millis:
			return time.UnixMilli(v.I).UTC()
		case Nanos:
			return time.Unix(0, v.I).UTC()
		}
	}
	return time.UnixMicro(v.I).UTC()
}

// TimestampLayout is how instants (timestamptz) are written as text;
// LocalTimestampLayout is the wall-clock form (no zone), DateLayout and
// TimeLayout the others. Fractions show only the digits there are.
const (
	TimestampLayout      = "2006-01-02T15:04:05.999999Z07:00"
	LocalTimestampLayout = "2006-01-02T15:04:05.999999"
	DateLayout           = "2006-01-02"
	TimeLayout           = "15:04:05.999999"
)

// Text renders the value as text the way CSV output and partition paths
// show it. Null renders as "". Binary is base64 (standard, padded); UUID
// the 8-4-4-4-12 hex form; decimals all their scale's digits ("1.50").
func (v Value) Text() string {
	if !v.Valid {
		return ""
	}
	switch v.Type {
	case String:
		return v.S
	case Int64:
		return strconv.FormatInt(v.I, 10)
	}
	return string(v.AppendText(nil))
}

// AppendText appends what Text returns (nothing for a null).
func (v Value) AppendText(b []byte) []byte {
	if !v.Valid {
		return b
	}
	switch k := v.Type.Kind(); k {
	case KindString:
		return append(b, v.S...)
	case KindFloat64:
		return AppendFloat(b, v.F, 64)
	case KindFloat32:
		return AppendFloat(b, v.F, 32)
	case KindBool:
		return strconv.AppendBool(b, v.Bool())
	case KindUint64:
		return strconv.AppendUint(b, uint64(v.I), 10)
	case KindTimestamp:
		return appendTimestamp(b, v.Time(), v.Type)
	case KindDate:
		return v.Time().AppendFormat(b, DateLayout)
	case KindTime:
		return appendTimeOfDay(b, v.I, v.Type.Unit())
	case KindDecimal:
		return AppendDecimal(b, v)
	case KindBinary:
		return base64.StdEncoding.AppendEncode(b, []byte(v.S))
	case KindUUID:
		return appendUUID(b, v.S)
	case KindList, KindStruct, KindMap:
		return appendNestedJSON(b, v)
	}
	if v.Type.IsInteger() {
		return strconv.AppendInt(b, v.I, 10)
	}
	return append(b, v.S...)
}

func appendTimestamp(b []byte, t time.Time, typ Type) []byte {
	layout := LocalTimestampLayout
	if typ.UTC() {
		layout = TimestampLayout
	}
	if typ.Unit() == Nanos {
		layout = strings.Replace(layout, ".999999", ".999999999", 1)
	}
	return t.AppendFormat(b, layout)
}

// appendTimeOfDay writes hh:mm:ss and the fraction's significant digits.
func appendTimeOfDay(b []byte, n int64, unit TimeUnit) []byte {
	var ns int64
	switch unit {
	case Millis:
		ns = n * 1e6
	case Nanos:
		ns = n
	default:
		ns = n * 1e3
	}
	layout := TimeLayout
	if unit == Nanos {
		layout = "15:04:05.999999999"
	}
	if ns < 0 || ns >= 86400e9 { // 24:00:00 (DuckDB allows it) or corrupt: say so in digits
		return strconv.AppendInt(append(b, "time+"...), n, 10)
	}
	return time.Unix(0, ns).UTC().AppendFormat(b, layout)
}

func appendUUID(b []byte, s string) []byte {
	if len(s) != 16 {
		return append(b, hex.EncodeToString([]byte(s))...)
	}
	h := hex.EncodeToString([]byte(s))
	return append(b, h[:8]+"-"+h[8:12]+"-"+h[12:16]+"-"+h[16:20]+"-"+h[20:]...)
}

// AppendJSON appends the value as a JSON value: null, numbers (every
// integer and decimal exactly, as a JSON number: a reader that parses
// numbers as float64 may round decimals of more than 15 digits), bool,
// or a string (text, dates, times, timestamps as Text writes them, binary
// as base64, UUIDs; NaN and infinities as "NaN", "+Inf", "-Inf").
func (v Value) AppendJSON(b []byte) []byte {
	if !v.Valid {
		return append(b, "null"...)
	}
	switch v.Type {
	case Int64:
		return strconv.AppendInt(b, v.I, 10)
	case Float64:
		if v.F != v.F || v.F > math.MaxFloat64 || v.F < -math.MaxFloat64 {
			// JSON has no NaN or Inf: write them as strings.
			return strconv.AppendQuote(b, strconv.FormatFloat(v.F, 'g', -1, 64))
		}
		return AppendFloatJSON(b, v.F, 64)
	case String:
		q, _ := json.Marshal(v.S)
		return append(b, q...)
	}
	switch k := v.Type.Kind(); {
	case k == KindFloat32:
		if v.F != v.F || math.IsInf(v.F, 0) {
			return strconv.AppendQuote(b, strconv.FormatFloat(v.F, 'g', -1, 32))
		}
		return AppendFloatJSON(b, v.F, 32)
	case k == KindBool, k == KindDecimal, v.Type.IsInteger():
		return v.AppendText(b)
	case v.Type.IsNested():
		return appendNestedJSON(b, v)
	}
	b = append(b, '"')
	b = v.AppendText(b) // no character of these forms needs escaping
	return append(b, '"')
}

// Compare orders two values of the same type; nulls sort first. It
// returns -1, 0 or +1. Binary and UUIDs compare by bytes, uint64 as
// unsigned, decimals exactly, nested values item by item (a map's keys
// and values in their order: two maps of the same entries in another
// order differ).
func Compare(a, b Value) int {
	switch {
	case !a.Valid && !b.Valid:
		return 0
	case !a.Valid:
		return -1
	case !b.Valid:
		return 1
	}
	switch a.Type.Kind() {
	case KindFloat64, KindFloat32:
		switch {
		case a.F < b.F:
			return -1
		case a.F > b.F:
			return 1
		}
		return 0
	case KindString, KindBinary, KindUUID:
		return strings.Compare(a.S, b.S)
	case KindUint64:
		return cmp3(uint64(a.I), uint64(b.I))
	case KindDecimal:
		if a.Type.Precision() > 18 {
			return bytes.Compare(flipSign(a.S), flipSign(b.S))
		}
	case KindList, KindStruct, KindMap:
		return compareNested(a, b)
	}
	return cmp3(a.I, b.I)
}

func cmp3[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// flipSign makes big-endian two's complement compare as unsigned bytes.
func flipSign(s string) []byte {
	b := []byte(s)
	if len(b) > 0 {
		b[0] ^= 0x80
	}
	return b
}

// AppendFloat appends f as DuckDB and Python write a double (float32 when
// bits is 32): the shortest digits that read back as f, in fixed notation
// with at least one decimal ("1.0", "16399871.27", "0.0001") when its
// decimal exponent is in [-4, 16), else in exponent notation ("1e+16",
// "1.5e-05"); NaN and infinities as "NaN", "+Inf", "-Inf". strconv's 'g'
// switched to exponent notation from the number of digits on
// (1.639987127e+07), which DuckDB, pandas and Spark do not write.
func AppendFloat(b []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	if abs != 0 && !math.IsInf(f, 0) && !math.IsNaN(f) {
		small, large := abs < 1e-4, abs >= 1e16
		if bits == 32 {
			a32 := float32(abs)
			small, large = a32 < float32(1e-4), a32 >= float32(1e16)
		}
		if small || large {
			return strconv.AppendFloat(b, f, 'e', -1, bits)
		}
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, bits)
	if math.IsInf(f, 0) || math.IsNaN(f) || bytes.IndexByte(b[n:], '.') >= 0 {
		return b
	}
	return append(b, ".0"...)
}

// AppendFloatJSON appends a finite f as DuckDB's to_json writes a double:
// the shortest digits that read back as f, in fixed notation with at
// least one decimal ("2.0", "0.00001", "9223372036854776000.0") when
// 1e-6 <= |f| < 1e21 (JavaScript's rule), else in exponent notation
// without a plus sign or leading exponent zeros ("1e21", "1e-7").
func AppendFloatJSON(b []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	if abs != 0 {
		small, large := abs < 1e-6, abs >= 1e21
		if bits == 32 {
			a32 := float32(abs)
			small, large = a32 < float32(1e-6), a32 >= float32(1e21)
		}
		if small || large {
			n := len(b)
			b = strconv.AppendFloat(b, f, 'e', -1, bits)
			e := n + bytes.IndexByte(b[n:], 'e')
			exp := b[e+1:]
			sign := exp[0] == '-'
			digits := bytes.TrimLeft(exp[1:], "0")
			b = b[:e+1]
			if sign {
				b = append(b, '-')
			}
			return append(b, digits...)
		}
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, bits)
	if bytes.IndexByte(b[n:], '.') >= 0 {
		return b
	}
	return append(b, ".0"...)
}
