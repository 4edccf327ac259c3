package functions

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Type is a column's type.
type Type uint8

const (
	String Type = iota
	Int64
	Float64
	Bool
	// Timestamp values are microseconds since the Unix epoch, UTC.
	Timestamp
)

var typeNames = [...]string{String: "string", Int64: "int64", Float64: "float64", Bool: "bool", Timestamp: "timestamp"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ParseType accepts the names String returns and common aliases
// (int, integer, bigint, float, double, boolean, text, varchar).
func ParseType(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "string", "text", "varchar", "str":
		return String, nil
	case "int64", "int", "integer", "bigint", "long":
		return Int64, nil
	case "float64", "float", "double", "real":
		return Float64, nil
	case "bool", "boolean":
		return Bool, nil
	case "timestamp", "datetime", "time":
		return Timestamp, nil
	}
	return 0, fmt.Errorf("unknown type %q (want string, int64, float64, bool or timestamp)", s)
}

func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Column is one named, typed column. Every column is nullable.
type Column struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
}

// Schema is an ordered list of columns.
type Schema struct {
	Columns []Column `json:"columns"`
}

// LinesSchema is the schema of the lines format: one string column.
var LinesSchema = &Schema{Columns: []Column{{Name: "line", Type: String}}}

// Index returns the position of the named column, or -1.
func (s *Schema) Index(name string) int {
	for i, c := range s.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Names lists the column names.
func (s *Schema) Names() []string {
	out := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		out[i] = c.Name
	}
	return out
}

// String renders the schema as ParseSchema reads it: "name:type,...",
// with a name quoted ("a:b", a quote doubled) when it holds a comma, a
// colon, a quote or surrounding spaces.
func (s *Schema) String() string {
	parts := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		parts[i] = quoteName(c.Name) + ":" + c.Type.String()
	}
	return strings.Join(parts, ",")
}

func quoteName(n string) string {
	if n != "" && !strings.ContainsAny(n, `,:"`) && strings.TrimSpace(n) == n {
		return n
	}
	return `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
}

// ParseSchema parses "name:type,name:type". A column without a type is a
// string. A name may be quoted ("a,b":int64, a quote doubled inside) to
// hold commas, colons, quotes or surrounding spaces; "" names a column
// with the empty name (a JSON key may be empty).
func ParseSchema(spec string) (*Schema, error) {
	s := &Schema{}
	seen := map[string]bool{}
	for rest := spec; rest != ""; {
		var name, typ string
		var hasType, quoted bool
		rest = strings.TrimLeft(rest, " \t")
		if strings.HasPrefix(rest, `"`) {
			var err error
			if name, rest, err = unquoteName(rest); err != nil {
				return nil, fmt.Errorf("schema %q: %w", spec, err)
			}
			quoted = true
		}
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		if quoted {
			typ, hasType = strings.CutPrefix(part, ":")
			if !hasType && part != "" {
				return nil, fmt.Errorf("schema column %q: %q after the quoted name, want :type", name, part)
			}
		} else {
			if part == "" {
				continue
			}
			name, typ, hasType = strings.Cut(part, ":")
			name = strings.TrimSpace(name)
		}
		t := String
		if hasType {
			var err error
			if t, err = ParseType(typ); err != nil {
				return nil, fmt.Errorf("schema column %q: %w", name, err)
			}
		}
		if seen[name] {
			return nil, fmt.Errorf("schema: repeated column name %q", name)
		}
		if name == "" && !quoted {
			// A column named "" (a JSON key may be empty) is written quoted.
			return nil, fmt.Errorf("schema: empty column name in %q (quote it to name a column \"\": \"\":type)", spec)
		}
		seen[name] = true
		s.Columns = append(s.Columns, Column{Name: name, Type: t})
	}
	if len(s.Columns) == 0 {
		return nil, fmt.Errorf("schema: no columns in %q", spec)
	}
	return s, nil
}

// unquoteName reads a quoted name at the start of s.
func unquoteName(s string) (name, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '"' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String(), s[i+1:], nil
	}
	return "", "", errors.New("quoted column name not closed")
}

// Value is one typed cell. The zero Value is a null string.
type Value struct {
	Type  Type
	Valid bool  // false means null
	I     int64 // Int64, Timestamp (µs), Bool (0/1)
	F     float64
	S     string
}

// Row is one row of values laid out as a Schema.
type Row []Value

// Null returns a null of type t.
func Null(t Type) Value { return Value{Type: t} }

// StringValue, IntValue, FloatValue, BoolValue and TimeValue build
// non-null values.
func StringValue(s string) Value  { return Value{Type: String, Valid: true, S: s} }
func IntValue(i int64) Value      { return Value{Type: Int64, Valid: true, I: i} }
func FloatValue(f float64) Value  { return Value{Type: Float64, Valid: true, F: f} }
func TimeValue(t time.Time) Value { return Value{Type: Timestamp, Valid: true, I: t.UnixMicro()} }
func BoolValue(b bool) Value {
	v := Value{Type: Bool, Valid: true}
	if b {
		v.I = 1
	}
	return v
}

// Bool reports a Bool value's truth.
func (v Value) Bool() bool { return v.I != 0 }

// Time returns a Timestamp value as a UTC time.
func (v Value) Time() time.Time { return time.UnixMicro(v.I).UTC() }

// TimestampLayout is how timestamps are written as text.
const TimestampLayout = "2006-01-02T15:04:05.999999Z07:00"

// Text renders the value as text the way CSV output and partition paths
// show it. Null renders as "".
func (v Value) Text() string {
	if !v.Valid {
		return ""
	}
	switch v.Type {
	case Int64:
		return strconv.FormatInt(v.I, 10)
	case Float64:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case Bool:
		return strconv.FormatBool(v.Bool())
	case Timestamp:
		return v.Time().Format(TimestampLayout)
	}
	return v.S
}

// AppendJSON appends the value as a JSON value (null, number, bool or
// string).
func (v Value) AppendJSON(b []byte) []byte {
	if !v.Valid {
		return append(b, "null"...)
	}
	switch v.Type {
	case Int64:
		return strconv.AppendInt(b, v.I, 10)
	case Float64:
		if v.F != v.F || v.F > 1.7976931348623157e308 || v.F < -1.7976931348623157e308 {
			// JSON has no NaN or Inf: write them as strings.
			return strconv.AppendQuote(b, strconv.FormatFloat(v.F, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, v.F, 'g', -1, 64)
	case Bool:
		return strconv.AppendBool(b, v.Bool())
	case Timestamp:
		q, _ := json.Marshal(v.Time().Format(TimestampLayout))
		return append(b, q...)
	}
	q, _ := json.Marshal(v.S)
	return append(b, q...)
}

// Compare orders two values of the same type; nulls sort first. It
// returns -1, 0 or +1.
func Compare(a, b Value) int {
	switch {
	case !a.Valid && !b.Valid:
		return 0
	case !a.Valid:
		return -1
	case !b.Valid:
		return 1
	}
	switch a.Type {
	case Float64:
		switch {
		case a.F < b.F:
			return -1
		case a.F > b.F:
			return 1
		}
		return 0
	case String:
		return strings.Compare(a.S, b.S)
	}
	switch {
	case a.I < b.I:
		return -1
	case a.I > b.I:
		return 1
	}
	return 0
}
