package codec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

// ParseValue converts text to a value of type t, the way the CSV and JSONL
// readers convert fields:
//
//   - string: the text as is.
//   - int64: decimal with an optional sign ("+7", "-3").
//   - float64: anything strconv.ParseFloat accepts, including "NaN" and
//     "Inf" (a declared float64 column may hold them; inference never
//     picks float64 for them).
//   - bool: "true"/"false" in any case, and "1"/"0".
//   - timestamp: RFC 3339 with or without fractional seconds and zone
//     ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5+02:00",
//     "2024-05-01T12:00:00"), the same with a space instead of "T", or a
//     date alone ("2024-05-01"). Text without a zone is UTC. Precision is
//     truncated to microseconds. The other timestamp types (timestamp,
//     timestamp_ms, timestamp_ns, timestamptz_ms, timestamptz_ns) take the
//     same forms; a zone converts to UTC; milli- and nanosecond types are
//     exact (digits below the unit are an error).
//   - the other types as functions.ParseText reads them: decimal exactly,
//     date 2006-01-02, time 15:04:05.999999, binary as base64, UUID.
//
// Leading and trailing spaces are ignored for every type but string. Empty
// text is a null of type t, except for string, where it is "".
func ParseValue(t functions.Type, s string) (functions.Value, error) {
	if t == functions.String {
		return functions.StringValue(s), nil
	}
	if s == "" || !isPrintASCII(s[0]) || !isPrintASCII(s[len(s)-1]) {
		s = strings.TrimSpace(s)
		if s == "" {
			return functions.Null(t), nil
		}
	}
	switch t {
	case functions.Int64:
		if i, ok := parseIntFast(s); ok {
			return functions.IntValue(i), nil
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return functions.Value{}, fmt.Errorf("cannot parse %s as int64", quoteShort(s))
		}
		return functions.IntValue(i), nil
	case functions.Float64:
		if f, ok := parseFloatFast(s); ok {
			return functions.FloatValue(f), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return functions.Value{}, fmt.Errorf("cannot parse %s as float64", quoteShort(s))
		}
		return functions.FloatValue(f), nil
	case functions.Bool:
		switch {
		case strings.EqualFold(s, "true"), s == "1":
			return functions.BoolValue(true), nil
		case strings.EqualFold(s, "false"), s == "0":
			return functions.BoolValue(false), nil
		}
		return functions.Value{}, fmt.Errorf("cannot parse %s as bool (want true, false, 1 or 0)", quoteShort(s))
	case functions.Timestamp:
		tm, ok := parseTimestamp(s)
		if !ok {
			return functions.Value{}, fmt.Errorf("cannot parse %s as %v (want RFC 3339, \"2006-01-02 15:04:05\" or \"2006-01-02\")", quoteShort(s), t)
		}
		return functions.TimeValue(tm), nil
	}
	if t.Kind() == functions.KindTimestamp {
		tm, ok := parseTimestamp(s)
		if !ok {
			return functions.Value{}, fmt.Errorf("cannot parse %s as %v (want RFC 3339, \"2006-01-02 15:04:05\" or \"2006-01-02\"; a zone converts to UTC)", quoteShort(s), t)
		}
		return functions.TimestampAt(t, tm)
	}
	if v, ok, err := functions.ParseText(t, s); ok {
		return v, err
	}
	return functions.Value{}, fmt.Errorf("unknown column type %v", t)
}

// isPrintASCII reports whether c is a printable ASCII byte other than
// space: a value that starts and ends with one has nothing to trim.
func isPrintASCII(c byte) bool { return c > ' ' && c < 0x7f }

// parseIntFast parses what strconv.ParseInt(s, 10, 64) parses when s is
// an optional sign and at most 18 digits (which cannot overflow); it
// reports false for anything else, which strconv decides.
func parseIntFast(s string) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		v = v*10 + int64(c)
	}
	if neg {
		v = -v
	}
	return v, true
}

// float64pow10 holds the powers of ten a float64 represents exactly.
var float64pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseFloatFast parses decimals of the form [sign]digits[.digits] with at
// most 15 digits: the digits as an integer and the power of ten are both
// exact in a float64, so one division rounds correctly and gives what
// strconv.ParseFloat gives. It reports false for anything else (exponents,
// longer mantissas, inf, nan, ".5"), which strconv decides.
func parseFloatFast(s string) (float64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var mant uint64
	digits, frac, dot := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return 0, false
		}
	}
	if digits > 15 {
		return 0, false
	}
	f := float64(mant) / float64pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

// parseTimestamp accepts the layouts ParseValue documents.
func parseTimestamp(s string) (time.Time, bool) {
	if t, ok := parseTimestampFast(s); ok {
		return t, true
	}
	return parseTimestampSlow(s)
}

// parseTimestampFast parses the common shapes without time.Parse (whose
// failed attempts allocate errors): YYYY-MM-DD, then [T ]hh:mm:ss with an
// optional fraction of 1 to 9 digits and an optional Z or ±hh:mm. It
// reports false for anything else, which parseTimestampSlow decides; for
// what it accepts it gives the instant time.Parse gives (FuzzTimestamp
// checks both).
func parseTimestampFast(s string) (time.Time, bool) {
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 2)
	d, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) {
		return time.Time{}, false
	}
	days := unixDays(y, mo, d)
	if len(s) == 10 {
		return time.Unix(days*86400, 0).UTC(), true
	}
	if len(s) < 19 || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	h, ok1 := num(11, 2)
	mi, ok2 := num(14, 2)
	sec, ok3 := num(17, 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest, nsec := s[19:], 0
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		digits := rest[1:n]
		if len(digits) == 0 || len(digits) > 9 {
			return time.Time{}, false
		}
		for i := range 9 {
			nsec *= 10
			if i < len(digits) {
				nsec += int(digits[i] - '0')
			}
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case rest == "" || rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(len(s)-5, 2)
		om, ok2 := num(len(s)-2, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	return time.Unix(days*86400+int64(h*3600+mi*60+sec-offset), int64(nsec)).UTC(), true
}

// daysIn is the number of days of month m (1-12) of year y.
func daysIn(m, y int) int {
	if m == 2 {
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (m+m/8)%2
}

// unixDays is the number of days from 1970-01-01 to y-m-d in the proleptic
// Gregorian calendar (Howard Hinnant's days_from_civil).
func unixDays(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseTimestampSlow tries the layouts ParseValue documents with
// time.Parse.
func parseTimestampSlow(s string) (time.Time, bool) {
	if len(s) == len("2006-01-02") {
		t, err := time.Parse("2006-01-02", s)
		return t, err == nil
	}
	if len(s) < len("2006-01-02T15:04:05") {
		return time.Time{}, false
	}
	var withZone, noZone string
	switch s[10] {
	case 'T':
		withZone, noZone = "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05"
	case ' ':
		withZone, noZone = "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05"
	default:
		return time.Time{}, false
	}
	if t, err := time.Parse(noZone, s); err == nil {
		return t, true
	}
	t, err := time.Parse(withZone, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// quoteShort quotes s for an error message, shortening long values.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// The looks* functions are the stricter tests inference uses: text that
// parses but would not survive a round trip as the narrower type (leading
// zeros, NaN, hexadecimal) stays a string.

func looksInt(s string) bool {
	d := s
	if d != "" && (d[0] == '+' || d[0] == '-') {
		d = d[1:]
	}
	if d == "" || (len(d) > 1 && d[0] == '0') {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

func looksFloat(s string) bool {
	d := s
	if d != "" && (d[0] == '+' || d[0] == '-') {
		d = d[1:]
	}
	if d == "" || (len(d) > 1 && d[0] == '0' && d[1] >= '0' && d[1] <= '9') {
		return false
	}
	digits := false
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			return false
		}
	}
	if !digits {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

func looksBool(s string) bool {
	return strings.EqualFold(s, "true") || strings.EqualFold(s, "false")
}

func looksTimestamp(s string) bool {
	_, ok := parseTimestamp(s)
	return ok
}

// TextKinds says which column types a text value fits under the rules of
// schema inference: integers and floats without a leading zero (so that
// codes like 007 stay strings), finite decimal floats, true/false, and the
// timestamp forms ParseValue accepts.
type TextKinds struct{ Int, Float, Bool, Time bool }

// KindsOf classifies one non-empty text value for inference; InferSchema
// and the contract profiler (fanout infer) share it so that they never
// disagree on a column's type.
func KindsOf(s string) TextKinds {
	return TextKinds{Int: looksInt(s), Float: looksFloat(s), Bool: looksBool(s), Time: looksTimestamp(s)}
}
