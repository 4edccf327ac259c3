package codec

import (
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
