package functions

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestFloatText pins the text and JSON forms of doubles to what DuckDB
// 1.5 writes for them (x::DOUBLE::VARCHAR and to_json(x::DOUBLE), run by
// hand), and checks that every form reads back as the same float.
func TestFloatText(t *testing.T) {
	for _, c := range []struct {
		f          float64
		text, json string
	}{
		{2, "2.0", "2.0"},
		{16399871.27, "16399871.27", "16399871.27"},
		{1e16, "1e+16", "10000000000000000.0"},
		{1e15, "1000000000000000.0", "1000000000000000.0"},
		{1e-5, "1e-05", "0.00001"},
		{1e-4, "0.0001", "0.0001"},
		{9223372036854775807, "9.223372036854776e+18", "9223372036854776000.0"},
		{1e21, "1e+21", "1e21"},
		{123456789012345678, "1.2345678901234568e+17", "123456789012345680.0"},
		{1e-7, "1e-07", "1e-7"},
		{-1.5e300, "-1.5e+300", "-1.5e300"},
		{0, "0.0", "0.0"},
		{math.Copysign(0, -1), "-0.0", "-0.0"},
	} {
		if got := string(AppendFloat(nil, c.f, 64)); got != c.text {
			t.Errorf("AppendFloat(%v) = %q, want %q", c.f, got, c.text)
		}
		if got := string(AppendFloatJSON(nil, c.f, 64)); got != c.json {
			t.Errorf("AppendFloatJSON(%v) = %q, want %q", c.f, got, c.json)
		}
	}
	if got := string(AppendFloat(nil, float64(float32(0.1)), 32)); got != "0.1" {
		t.Errorf("float32 0.1 = %q, want 0.1", got)
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got, want := string(AppendFloat(nil, f, 64)), strconv.FormatFloat(f, 'g', -1, 64); got != want {
			t.Errorf("AppendFloat(%v) = %q, want %q", f, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		for _, s := range []string{string(AppendFloat(nil, f, 64)), string(AppendFloatJSON(nil, f, 64))} {
			if g, err := strconv.ParseFloat(s, 64); err != nil || g != f {
				t.Fatalf("%v written as %q reads back as %v, %v", f, s, g, err)
			}
		}
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) {
			continue
		}
		for _, s := range []string{string(AppendFloat(nil, float64(f32), 32)), string(AppendFloatJSON(nil, float64(f32), 32))} {
			if g, err := strconv.ParseFloat(s, 32); err != nil || float32(g) != f32 {
				t.Fatalf("float32 %v written as %q reads back as %v, %v", f32, s, g, err)
			}
		}
	}
}
