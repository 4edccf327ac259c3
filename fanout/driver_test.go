package fanout

import (
	"testing"
	"time"
)

// TestEndPoll pins how often Wait looks at a job in its last wave: a
// fortieth of the time waited, never under settledCheckInterval nor over
// the caller's Poll.
func TestEndPoll(t *testing.T) {
	for _, tc := range []struct {
		name         string
		age, longest time.Duration
		want         time.Duration
	}{
		{"just started", 0, 250 * time.Millisecond, settledCheckInterval},
		{"under a second", 600 * time.Millisecond, 250 * time.Millisecond, settledCheckInterval},
		{"two seconds", 2 * time.Second, 250 * time.Millisecond, 50 * time.Millisecond},
		{"a minute", time.Minute, 250 * time.Millisecond, 250 * time.Millisecond},
		{"a caller's Poll below the floor", time.Minute, 10 * time.Millisecond, 10 * time.Millisecond},
		{"serve's Poll of a second", 20 * time.Second, time.Second, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := endPoll(tc.age, tc.longest); got != tc.want {
				t.Fatalf("endPoll(%s, %s) = %s; want %s", tc.age, tc.longest, got, tc.want)
			}
		})
	}
}
