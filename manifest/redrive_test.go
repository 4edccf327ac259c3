package manifest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRedriveRecordRoundTripAndErrors(t *testing.T) {
	rec := RedriveRecord{Version: Version, Job: testJob, Generation: 3, Redriven: time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC), Token: "ab"}
	body, err := Encode(&rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRedrive(body)
	if err != nil || *got != rec {
		t.Fatalf("DecodeRedrive(%s) = %+v, %v; want %+v", body, got, err, rec)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"generation zero", `{"version":1,"job":"` + testJob + `","generation":0}`, "generation 0 is not positive"},
		{"negative generation", `{"version":1,"job":"` + testJob + `","generation":-2}`, "generation -2"},
		{"bad job", `{"version":1,"job":"x/y","generation":1}`, "not a job ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRedrive([]byte(tc.in))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeRedrive(%s): got %v, want ErrInvalid naming %q", tc.in, err, tc.want)
			}
		})
	}
	if k := NewLayout("out/").RedriveKey(testJob); k != "out/_fanout/"+testJob+"/_REDRIVEN" {
		t.Errorf("RedriveKey = %s", k)
	}
}

// TestStaleFailure pins which markers a redrive generation makes stale:
// failed markers of an older generation only; a failed marker written
// before generations existed (no field) is generation 0.
func TestStaleFailure(t *testing.T) {
	old, err := DecodeMarker([]byte(`{"version":1,"job":"` + testJob + `","chunk":"c00000001","epoch":1,"state":"failed","reason":"r","records_in":0,"records_out":0,"bytes_in":0,"started":"0001-01-01T00:00:00Z","finished":"0001-01-01T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		m     ChunkMarker
		gen   int64
		stale bool
	}{
		{"no generation field, never redriven", *old, 0, false},
		{"no generation field, redriven", *old, 1, true},
		{"failed, same generation", ChunkMarker{State: MarkerFailed, Generation: 2}, 2, false},
		{"failed, older generation", ChunkMarker{State: MarkerFailed, Generation: 1}, 2, true},
		{"failed, newer generation", ChunkMarker{State: MarkerFailed, Generation: 3}, 2, false},
		{"done, older generation", ChunkMarker{State: MarkerDone}, 5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.StaleFailure(tc.gen); got != tc.stale {
				t.Errorf("StaleFailure(%d) = %v, want %v", tc.gen, got, tc.stale)
			}
		})
	}
	neg := *old
	neg.Generation = -1
	if err := neg.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "generation -1") {
		t.Errorf("Validate of a negative generation: got %v, want ErrInvalid", err)
	}
}
