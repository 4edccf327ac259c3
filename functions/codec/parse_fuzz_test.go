package codec

import (
	"math"
	"strconv"
	"testing"
)

// FuzzTimestamp checks that the fast timestamp parser accepts only what
// time.Parse accepts, with the same instant.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2026-10-17T07:07:29Z", "2026-10-17 07:07:29", "2026-10-17", "2024-02-29T23:59:59.123456789+05:30",
		"2023-02-29", "2026-13-01", "2026-10-17T24:00:00", "2026-10-17T07:07:29.Z", "2026-10-17T07:07:29-00:00", "0000-01-01",
		"2026-10-17T07:07:29.1234567891Z", "2026-10-17T07:07:29+24:00", "+026-10-17", "2026-10-17T07:07:60Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := parseTimestampFast(s)
		if !ok {
			return
		}
		slow, ok := parseTimestampSlow(s)
		if !ok {
			t.Fatalf("fast parser accepts %q, time.Parse does not", s)
		}
		if !fast.Equal(slow) {
			t.Fatalf("%q: fast %v, time.Parse %v", s, fast, slow)
		}
	})
}

// FuzzNumbers checks the fast integer and decimal parsers against strconv
// wherever they accept their input.
func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"0", "-0", "+7", "123456789012345678", "1234567890123456789", "250.46", "-0.0", "0.17",
		"999999999999999", "9999999999999999", "1.", ".5", "1e5", "1.2.3", "-", "+", "00012.5000", "0.000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if i, ok := parseIntFast(s); ok {
			want, err := strconv.ParseInt(s, 10, 64)
			if err != nil || i != want {
				t.Fatalf("parseIntFast(%q) = %d; strconv gives %d, %v", s, i, want, err)
			}
		}
		if v, ok := parseFloatFast(s); ok {
			want, err := strconv.ParseFloat(s, 64)
			if err != nil || math.Float64bits(v) != math.Float64bits(want) {
				t.Fatalf("parseFloatFast(%q) = %v; strconv gives %v, %v", s, v, want, err)
			}
		}
	})
}
