package functions

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// TimestampAt is tm as a value of the timestamp type t. Microsecond types
// truncate digits below the microsecond (fanout's timestamps always did);
// millisecond and nanosecond types take tm exactly or fail: digits below
// a millisecond, or an instant outside years 1677-2262 for nanoseconds.
func TimestampAt(t Type, tm time.Time) (Value, error) {
	v := Value{Type: t, Valid: true}
	switch t.Unit() {
	case Millis:
		if tm.Nanosecond()%1e6 != 0 {
			return Value{}, fmt.Errorf("%s has digits below the millisecond, which %v does not hold", tm.Format(time.RFC3339Nano), t)
		}
		v.I = tm.UnixMilli()
	case Nanos:
		if tm.Before(time.Unix(0, math.MinInt64)) || tm.After(time.Unix(0, math.MaxInt64)) {
			return Value{}, fmt.Errorf("%s is outside the range of %v (years 1677-2262)", tm.Format(time.RFC3339Nano), t)
		}
		v.I = tm.UnixNano()
	default:
		v.I = tm.UnixMicro()
	}
	return v, nil
}

// ParseText reads the text forms of the types that have no fast parser
// in the readers: integers of every width, float32, decimal, date, time,
// binary (standard base64), UUID (8-4-4-4-12 hex, or 32 hex digits). It
// returns ok false for the kinds it does not read (string, int64,
// float64, bool, timestamps), which codec.ParseValue reads. The text is
// trimmed and not empty.
func ParseText(t Type, s string) (v Value, ok bool, err error) {
	bad := func(want string) (Value, bool, error) {
		return Value{}, true, fmt.Errorf("cannot parse %s as %v%s", quoteShort(s), t, want)
	}
	switch k := t.Kind(); k {
	case KindInt8, KindInt16, KindInt32, KindUint8, KindUint16, KindUint32:
		i, err := strconv.ParseInt(s, 10, 64)
		lo, hi := t.IntRange()
		if err != nil || i < lo || i > hi {
			return bad(fmt.Sprintf(" (an integer from %d to %d)", lo, hi))
		}
		return Value{Type: t, Valid: true, I: i}, true, nil
	case KindUint64:
		s = strings.TrimPrefix(s, "+")
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return bad(" (an integer from 0 to 18446744073709551615)")
		}
		return Value{Type: t, Valid: true, I: int64(u)}, true, nil
	case KindFloat32:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil && !math.IsInf(f, 0) {
			return bad("")
		}
		if err != nil {
			return bad(" (out of float32's range)")
		}
		return Value{Type: t, Valid: true, F: f}, true, nil
	case KindDecimal:
		v, err := ParseDecimal(t, s)
		return v, true, err
	case KindDate:
		d, ok := ParseDate(s)
		if !ok {
			return bad(" (want 2006-01-02)")
		}
		return Value{Type: t, Valid: true, I: d}, true, nil
	case KindTime:
		n, ok := ParseTimeOfDay(s, t.Unit())
		if !ok {
			return bad(" (want 15:04:05 with at most the unit's fractional digits)")
		}
		return Value{Type: t, Valid: true, I: n}, true, nil
	case KindBinary:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return bad(" (want standard base64)")
		}
		return Value{Type: t, Valid: true, S: string(b)}, true, nil
	case KindUUID:
		u, ok := ParseUUID(s)
		if !ok {
			return bad(" (want 8-4-4-4-12 hex digits)")
		}
		return Value{Type: t, Valid: true, S: u}, true, nil
	}
	return Value{}, false, nil
}

// ParseDate reads YYYY-MM-DD (years 0000-9999) as days since 1970-01-01.
func ParseDate(s string) (int64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	tm, err := time.Parse(DateLayout, s)
	if err != nil {
		return 0, false
	}
	return tm.Unix() / 86400, true
}

// ParseTimeOfDay reads hh:mm:ss with an optional fraction (at most the
// unit's digits: 3, 6 or 9) as units since midnight.
func ParseTimeOfDay(s string, unit TimeUnit) (int64, bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, false
	}
	num := func(a string) (int64, bool) {
		if len(a) != 2 || a[0] < '0' || a[0] > '9' || a[1] < '0' || a[1] > '9' {
			return 0, false
		}
		return int64(a[0]-'0')*10 + int64(a[1]-'0'), true
	}
	h, ok1 := num(s[:2])
	m, ok2 := num(s[3:5])
	sec, ok3 := num(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return 0, false
	}
	digits := map[TimeUnit]int{Millis: 3, Micros: 6, Nanos: 9}[unit]
	frac := int64(0)
	if rest := s[8:]; rest != "" {
		if rest[0] != '.' || len(rest) < 2 || len(rest)-1 > digits {
			return 0, false
		}
		for _, c := range []byte(rest[1:]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			frac = frac*10 + int64(c-'0')
		}
		for range digits - (len(rest) - 1) {
			frac *= 10
		}
	}
	scale := int64(math.Pow10(digits))
	return ((h*60+m)*60+sec)*scale + frac, true
}

// ParseUUID reads a UUID (8-4-4-4-12 hex digits, or 32 in a row; either
// case) as its 16 bytes.
func ParseUUID(s string) (string, bool) {
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return "", false
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", false
	}
	return string(b), true
}
