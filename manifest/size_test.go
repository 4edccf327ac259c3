package manifest_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/manifest"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // 0: an error
	}{
		{"1048576", 1 << 20},
		{"1b", 1},
		{"512B", 512},
		{"1KiB", 1 << 10},
		{"1kib", 1 << 10},
		{"64MiB", 64 << 20},
		{"64 MiB", 64 << 20},
		{" 2GiB ", 2 << 30},
		{"1TiB", 1 << 40},
		{"1KB", 1000},
		{"1MB", 1000 * 1000},
		{"1GB", 1000 * 1000 * 1000},
		{"1TB", 1000 * 1000 * 1000 * 1000},
		{"512k", 512 << 10},
		{"3m", 3 << 20},
		{"1g", 1 << 30},
		{"1t", 1 << 40},
		{"1.5GiB", 3 << 29},
		{"1.5KB", 1500},
		{"0.5KiB", 512},
		{"1.0009KiB", 1024}, // 1024.92 rounds down
		{"8388607TiB", 8388607 << 40},
		{"9223372036854775807", math.MaxInt64},
		{"9223372036854775808", 0},
		{"8388608TiB", 0},
		{"0", 0},
		{"0MiB", 0},
		{"0.1b", 0},
		{"", 0},
		{"MiB", 0},
		{"-1MiB", 0},
		{"+1MiB", 0},
		{"1e3", 0},
		{"0x10", 0},
		{"inf", 0},
		{"NaN", 0},
		{".5MiB", 512 << 10},
		{"2.KB", 2000},
		{".", 0},
		{"1.2.3", 0},
		{"1PiB", 0},
		{"1 MiB B", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := manifest.ParseSize(tt.in)
			switch {
			case tt.want == 0 && err == nil:
				t.Fatalf("ParseSize(%q) = %d, want an error", tt.in, got)
			case tt.want != 0 && (err != nil || got != tt.want):
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzParseSize checks ParseSize against strconv on plain byte counts and
// on whole numbers of each unit, and that it never accepts a size below 1.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "64MiB", "1.5GB", "512k", "9223372036854775807", "-1", "1e9"} {
		f.Add(s)
	}
	units := map[string]int64{"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := manifest.ParseSize(s)
		if err == nil && got < 1 {
			t.Fatalf("ParseSize(%q) = %d, nil; want a positive size", s, got)
		}
		// The oracle: an unsigned decimal integer followed by a unit.
		t2 := strings.ToLower(strings.TrimSpace(s))
		i := strings.IndexFunc(t2, func(r rune) bool { return r < '0' || r > '9' })
		if i < 0 {
			i = len(t2)
		}
		mult, ok := units[strings.TrimSpace(t2[i:])]
		n, perr := strconv.ParseInt(t2[:i], 10, 64)
		if !ok || perr != nil || i == 0 {
			return
		}
		want, overflow := n*mult, n != 0 && n*mult/n != mult
		switch {
		case overflow || n == 0:
			if err == nil {
				t.Fatalf("ParseSize(%q) = %d, nil; want an error (zero or overflow)", s, got)
			}
		case err != nil || got != want:
			t.Fatalf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	})
}
