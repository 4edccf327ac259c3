package functions

import (
	"errors"
	"fmt"
	"strings"
)

// Column is one named, typed column. Every column is nullable. A nested
// column (list, struct, map) holds its element, field or key and value
// columns in Fields (see nested.go); a flat one has none.
type Column struct {
	Name   string   `json:"name"`
	Type   Type     `json:"type"`
	Fields []Column `json:"fields,omitempty"`
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
// colon, a quote, a parenthesis (the column splitter counts them) or
// surrounding spaces.
func (s *Schema) String() string {
	parts := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		parts[i] = quoteName(c.Name) + ":" + c.TypeString()
	}
	return strings.Join(parts, ",")
}

func quoteName(n string) string {
	if n != "" && !strings.ContainsAny(n, `,:"()`) && strings.TrimSpace(n) == n {
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
		part, rest = cutTopLevel(rest)
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
		t := Flat(String)
		if hasType {
			var err error
			if t, err = ParseColumnType(typ); err != nil {
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
		s.Columns = append(s.Columns, t.Named(name))
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

// ParseNames parses a comma-separated list of column names, as select=,
// by=, key= and --partition-by take them: each name trimmed of
// surrounding spaces, or quoted as in ParseSchema ("a,b", " name", a
// quote doubled inside) to hold commas, quotes or surrounding spaces.
// Empty items are skipped.
func ParseNames(list string) ([]string, error) {
	var names []string
	for rest := list; ; {
		rest = strings.TrimLeft(rest, " \t")
		if strings.HasPrefix(rest, `"`) {
			name, after, err := unquoteName(rest)
			if err != nil {
				return nil, err
			}
			if rest = strings.TrimLeft(after, " \t"); rest != "" && rest[0] != ',' {
				return nil, fmt.Errorf("%q after the quoted name %q: want a comma", rest, name)
			}
			names = append(names, name)
		} else {
			item, _, _ := strings.Cut(rest, ",")
			if n := strings.TrimSpace(item); n != "" {
				names = append(names, n)
			}
			rest = rest[len(item):]
		}
		if rest == "" {
			return names, nil
		}
		rest = rest[1:] // the comma
	}
}

// cutTopLevel cuts s at its first comma outside parentheses (the comma of
// decimal(10,2) is the type's) and outside quotes (a struct field's name).
func cutTopLevel(s string) (before, after string) {
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			quoted = !quoted // a doubled quote toggles twice
		}
		if quoted {
			continue
		}
		switch s[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// Equal reports whether two schemas have the same columns (names, types
// and nested fields) in the same order.
func (s *Schema) Equal(o *Schema) bool {
	if len(s.Columns) != len(o.Columns) {
		return false
	}
	for i := range s.Columns {
		if !s.Columns[i].Equal(o.Columns[i]) {
			return false
		}
	}
	return true
}
