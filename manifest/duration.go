package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON encodes d as a Go duration string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON decodes a Go duration string ("30s", "1h2m") or a JSON
// number of nanoseconds (an integer, or a number with an integral value
// such as 1e9). A JSON null leaves d unchanged, as for other types.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("manifest: duration: %w", err)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("manifest: duration: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("manifest: duration %s: want a duration string or a number of nanoseconds", truncate(string(b), 40))
	}
	if v, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	// 2^63 is exactly representable: anything at or past it overflows.
	if err != nil || f != math.Trunc(f) || f >= math.MaxInt64 || f < math.MinInt64 {
		return fmt.Errorf("manifest: duration %s: not an integral number of nanoseconds in range", truncate(n.String(), 40))
	}
	*d = Duration(int64(f))
	return nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
