package contract

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
)

// tsFormat is how a timestamp column's text is read.
type tsFormat struct {
	layout string // a Go layout; "" for codec.ParseValue's layouts
	unit   int64  // epoch unit in milliseconds per unit (1000 s, 1 ms); 0 for text
}

// strftime maps strftime directives to Go layout elements.
var strftime = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'j': "002",
	'H': "15", 'I': "03", 'M': "04", 'S': "05", 'f': "000000", 'p': "PM",
	'b': "Jan", 'h': "Jan", 'B': "January", 'a': "Mon", 'A': "Monday",
	'z': "-0700", 'Z': "MST", 'F': "2006-01-02", 'T': "15:04:05", '%': "%",
}

// parseFormat reads a column's format (see Column.Format).
func parseFormat(f string) (tsFormat, error) {
	switch strings.ToLower(f) {
	case "":
		return tsFormat{}, nil
	case "rfc3339":
		return tsFormat{layout: time.RFC3339Nano}, nil
	case "date":
		return tsFormat{layout: time.DateOnly}, nil
	case "unix", "unix_s", "epoch":
		return tsFormat{unit: 1000}, nil
	case "unix_ms", "epoch_ms":
		return tsFormat{unit: 1}, nil
	}
	layout := f
	if strings.Contains(f, "%") {
		var b strings.Builder
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				b.WriteByte(f[i])
				continue
			}
			if i+1 == len(f) {
				return tsFormat{}, fmt.Errorf("format %q ends with %%", f)
			}
			i++
			el, ok := strftime[f[i]]
			if !ok {
				return tsFormat{}, fmt.Errorf("format %q: unknown directive %%%c", f, f[i])
			}
			b.WriteString(el)
		}
		layout = b.String()
	}
	ref := time.Date(2009, 11, 17, 20, 34, 58, 651387000, time.UTC)
	if ref.Format(layout) == layout {
		return tsFormat{}, fmt.Errorf("format %q has no date or time elements (write a Go layout such as 2006-01-02 15:04:05, or strftime such as %%Y-%%m-%%d)", f)
	}
	if _, err := time.Parse(layout, ref.Format(layout)); err != nil {
		return tsFormat{}, fmt.Errorf("format %q: %w", f, err)
	}
	return tsFormat{layout: layout}, nil
}

// errType is the reason a text does not parse as its column's type; the
// message is built by the caller.
var errType = errors.New("wrong type")

// parseStrict converts text to t the way the contract reads values:
// int64 and float64 decimal (finite), bool true/false/1/0, timestamps by
// the column's format. Surrounding spaces are ignored for every type but
// string. The text is not empty.
func parseStrict(t functions.Type, s string, f tsFormat) (functions.Value, error) {
	if t == functions.String {
		return functions.StringValue(s), nil
	}
	s = strings.TrimSpace(s)
	switch {
	case t == functions.Float64 || t == functions.Float32:
		bits := 64
		if t == functions.Float32 {
			bits = 32
		}
		v, err := strconv.ParseFloat(s, bits)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return functions.Value{}, errType
		}
		return functions.Value{Type: t, Valid: true, F: v}, nil
	case t.Kind() == functions.KindTimestamp:
		switch {
		case f.unit > 0:
			n, err := strconv.ParseInt(s, 10, 64)
			mult := f.unit * 1000 // microseconds per unit
			if err != nil || n > math.MaxInt64/mult || n < math.MinInt64/mult {
				return functions.Value{}, errType
			}
			v, err := functions.TimestampAt(t, time.UnixMilli(n*f.unit))
			if err != nil {
				return functions.Value{}, errType
			}
			return v, nil
		case f.layout != "":
			tm, err := time.Parse(f.layout, s)
			if err != nil {
				return functions.Value{}, errType
			}
			v, err := functions.TimestampAt(t, tm)
			if err != nil {
				return functions.Value{}, errType
			}
			return v, nil
		}
	}
	v, err := codec.ParseValue(t, s)
	if err != nil || !v.Valid {
		return functions.Value{}, errType
	}
	return v, nil
}

// parseLenient is what coercion accepts on top of parseStrict (see
// Cleansing.Coerce).
func parseLenient(t functions.Type, s string, f tsFormat) (functions.Value, bool) {
	s = strings.TrimSpace(s)
	switch t {
	case functions.Int64:
		v, err := strconv.ParseFloat(s, 64)
		if err == nil && v == math.Trunc(v) && v >= -(1<<63) && v < 1<<63 {
			return functions.IntValue(int64(v)), true
		}
	case functions.Bool:
		switch strings.ToLower(s) {
		case "yes", "y", "t", "on":
			return functions.BoolValue(true), true
		case "no", "n", "f", "off":
			return functions.BoolValue(false), true
		}
	case functions.Timestamp, functions.LocalTimestamp, functions.TimestampOf(functions.Millis, true), functions.TimestampOf(functions.Millis, false),
		functions.TimestampOf(functions.Nanos, true), functions.TimestampOf(functions.Nanos, false):
		if f != (tsFormat{}) {
			if v, err := parseStrict(t, s, tsFormat{}); err == nil {
				return v, true
			}
		}
		if f.unit == 0 {
			if v, err := parseStrict(t, s, tsFormat{unit: 1000}); err == nil {
				return v, true
			}
		}
	}
	return functions.Value{}, false
}

// quote shortens a value for a message.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
