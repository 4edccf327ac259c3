package functions

import (
	"encoding/json"
	"fmt"
	"strings"
	"unsafe"
)

// Nested types. A list, struct or map column's Type is only its kind
// (Type(KindList), Type(KindStruct), Type(KindMap)); what it holds is in
// the Column's Fields:
//
//	list:   Fields[0] is the element (named "element")
//	struct: Fields are the fields, in order (names unique, any character)
//	map:    Fields[0] is the key (named "key"), Fields[1] the value ("value")
//
// Fields nest the same way to any depth. Every level is nullable (a map's
// key excepted: a map entry always has a key).
//
// A nested Value holds its children in a slice (Items): a list's
// elements, a struct's fields in the Column's order, a map's keys and
// values alternating (k0, v0, k1, v1, ...). The slice is kept as a
// pointer to its first element and its length in Value.I, so a Value
// stays 48 bytes and comparable (== on nested values compares identity;
// use Compare or Equal).

// IsNested reports whether t is a list, struct or map.
func (t Type) IsNested() bool {
	k := t.Kind()
	return k == KindList || k == KindStruct || k == KindMap
}

// ListOf is the column type list(elem); the result has no name.
func ListOf(elem Column) Column {
	elem.Name = "element"
	return Column{Type: Type(KindList), Fields: []Column{elem}}
}

// StructOf is the column type struct(fields...); the result has no name.
func StructOf(fields ...Column) Column {
	return Column{Type: Type(KindStruct), Fields: fields}
}

// MapOf is the column type map(key, value); the result has no name.
func MapOf(key, value Column) Column {
	key.Name, value.Name = "key", "value"
	return Column{Type: Type(KindMap), Fields: []Column{key, value}}
}

// Flat is the column type of a flat Type (no Fields).
func Flat(t Type) Column { return Column{Type: t} }

// Named returns the column c named name.
func (c Column) Named(name string) Column {
	c.Name = name
	return c
}

// Elem is a list's element column.
func (c Column) Elem() Column { return c.Fields[0] }

// MapKey and MapValue are a map's key and value columns.
func (c Column) MapKey() Column   { return c.Fields[0] }
func (c Column) MapValue() Column { return c.Fields[1] }

// IsNested reports whether c is a list, struct or map.
func (c Column) IsNested() bool { return c.Type.IsNested() }

// Equal reports whether two columns have the same name, type and fields.
func (c Column) Equal(d Column) bool {
	return c.Name == d.Name && c.SameType(d)
}

// SameType reports whether two columns have the same type, their fields'
// types and names included, whatever the columns are named.
func (c Column) SameType(d Column) bool {
	if c.Type != d.Type || len(c.Fields) != len(d.Fields) {
		return false
	}
	for i := range c.Fields {
		if !c.Fields[i].Equal(d.Fields[i]) {
			return false
		}
	}
	return true
}

// TypeString spells the column's type as ParseColumnType reads it:
// Type.String for a flat type; list(T), struct(name T, ...) (a field name
// quoted with double quotes, a quote doubled, when it is not a plain
// identifier) and map(K, V) for nested ones.
func (c Column) TypeString() string {
	if !c.IsNested() {
		return c.Type.String()
	}
	var b strings.Builder
	c.appendType(&b)
	return b.String()
}

func (c Column) appendType(b *strings.Builder) {
	switch c.Type.Kind() {
	case KindList:
		b.WriteString("list(")
		c.Fields[0].appendType(b)
		b.WriteByte(')')
	case KindMap:
		b.WriteString("map(")
		c.Fields[0].appendType(b)
		b.WriteString(", ")
		c.Fields[1].appendType(b)
		b.WriteByte(')')
	case KindStruct:
		b.WriteString("struct(")
		for i, f := range c.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteField(f.Name))
			b.WriteByte(' ')
			f.appendType(b)
		}
		b.WriteByte(')')
	default:
		b.WriteString(c.Type.String())
	}
}

// quoteField quotes a struct field name unless it is a plain identifier.
func quoteField(n string) string {
	plain := n != ""
	for i, r := range n {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return n
	}
	return `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
}

// MarshalJSON writes a column as {"name":..., "type":...} with the type
// as TypeString spells it.
func (c Column) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}{c.Name, c.TypeString()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Column) UnmarshalJSON(b []byte) error {
	var j struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := ParseColumnType(j.Type)
	if err != nil {
		return err
	}
	*c = t.Named(j.Name)
	return nil
}

// ParseColumnType reads a type, flat or nested, in DuckDB's spellings:
// every name ParseType reads, list(T) and T[] (repeatable: int64[][]),
// struct(a int64, "b c" list(string)) (field names plain or quoted with
// double quotes, a quote doubled; unique; at least one field) and
// map(K, V), nested to any depth, case-insensitively. The result has no
// name.
func ParseColumnType(s string) (Column, error) {
	p := typeParser{s: s}
	c, err := p.parse(0)
	if err == nil {
		p.space()
		if p.i < len(p.s) {
			err = fmt.Errorf("unexpected %q", p.s[p.i:])
		}
	}
	if err != nil {
		return Column{}, fmt.Errorf("type %q: %w", s, err)
	}
	return c, nil
}

// maxTypeDepth bounds nesting so that a hostile schema cannot exhaust the
// stack.
const maxTypeDepth = 64

type typeParser struct {
	s string
	i int
}

func (p *typeParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *typeParser) eat(c byte) bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *typeParser) expect(c byte) error {
	if !p.eat(c) {
		if p.i >= len(p.s) {
			return fmt.Errorf("want %q, got the end", c)
		}
		return fmt.Errorf("want %q at %q", c, p.s[p.i:])
	}
	return nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *typeParser) parse(depth int) (Column, error) {
	if depth > maxTypeDepth {
		return Column{}, fmt.Errorf("nested more than %d levels deep", maxTypeDepth)
	}
	p.space()
	start := p.i
	for p.i < len(p.s) && isWordByte(p.s[p.i]) {
		p.i++
	}
	word := strings.ToLower(p.s[start:p.i])
	var c Column
	var err error
	switch save := p.i; {
	case word == "":
		if p.i >= len(p.s) {
			return Column{}, fmt.Errorf("want a type, got the end")
		}
		return Column{}, fmt.Errorf("want a type at %q", p.s[p.i:])
	case (word == "list" || word == "struct" || word == "map") && p.eat('('):
		c, err = p.nested(word, depth)
	default:
		// A flat type runs to the next ',', ')' or '[' outside its own
		// parentheses (decimal(10,2), "timestamp with time zone").
		p.i = save
		open := 0
	scan:
		for ; p.i < len(p.s); p.i++ {
			switch p.s[p.i] {
			case '(':
				open++
			case ')':
				if open == 0 {
					break scan
				}
				open--
			case ',', '[':
				if open == 0 {
					break scan
				}
			}
		}
		var t Type
		if t, err = ParseType(p.s[start:p.i]); err == nil {
			c = Flat(t)
		}
	}
	if err != nil {
		return Column{}, err
	}
	for {
		p.space()
		if !strings.HasPrefix(p.s[p.i:], "[") {
			return c, nil
		}
		p.i++
		if err := p.expect(']'); err != nil {
			return Column{}, err
		}
		if depth++; depth > maxTypeDepth {
			return Column{}, fmt.Errorf("nested more than %d levels deep", maxTypeDepth)
		}
		c = ListOf(c)
	}
}

func (p *typeParser) nested(kind string, depth int) (Column, error) {
	switch kind {
	case "list":
		e, err := p.parse(depth + 1)
		if err != nil {
			return Column{}, err
		}
		return ListOf(e), p.expect(')')
	case "map":
		k, err := p.parse(depth + 1)
		if err != nil {
			return Column{}, err
		}
		if err := p.expect(','); err != nil {
			return Column{}, err
		}
		v, err := p.parse(depth + 1)
		if err != nil {
			return Column{}, err
		}
		return MapOf(k, v), p.expect(')')
	}
	var fields []Column
	seen := map[string]bool{}
	for {
		name, err := p.fieldName()
		if err != nil {
			return Column{}, err
		}
		if seen[name] {
			return Column{}, fmt.Errorf("struct field %q repeated", name)
		}
		seen[name] = true
		f, err := p.parse(depth + 1)
		if err != nil {
			return Column{}, fmt.Errorf("struct field %q: %w", name, err)
		}
		fields = append(fields, f.Named(name))
		if p.eat(')') {
			return StructOf(fields...), nil
		}
		if err := p.expect(','); err != nil {
			return Column{}, err
		}
	}
}

// fieldName reads a struct field's name: a quoted name ("" is a quote) or
// a run of letters, digits and underscores.
func (p *typeParser) fieldName() (string, error) {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		name, rest, err := unquoteName(p.s[p.i:])
		if err != nil {
			return "", fmt.Errorf("struct field name: %w", err)
		}
		p.i = len(p.s) - len(rest)
		return name, nil
	}
	start := p.i
	for p.i < len(p.s) && isWordByte(p.s[p.i]) {
		p.i++
	}
	if start == p.i {
		if p.i >= len(p.s) {
			return "", fmt.Errorf("want a struct field name, got the end")
		}
		return "", fmt.Errorf("want a struct field name at %q (quote names with other characters)", p.s[p.i:])
	}
	return p.s[start:p.i], nil
}

// ListValue is a non-null list of the items (not copied).
func ListValue(items []Value) Value { return nestedValue(KindList, items) }

// StructValue is a non-null struct of the field values, in the Column's
// order (not copied).
func StructValue(fields []Value) Value { return nestedValue(KindStruct, fields) }

// MapValue is a non-null map of keys and values alternating in kv
// (k0, v0, k1, v1, ...; not copied). It panics on an odd length.
func MapValue(kv []Value) Value {
	if len(kv)%2 != 0 {
		panic("functions: MapValue of an odd number of items")
	}
	return nestedValue(KindMap, kv)
}

func nestedValue(k Kind, items []Value) Value {
	v := Value{Type: Type(k), Valid: true, I: int64(len(items))}
	if len(items) > 0 {
		v.p = &items[0]
	}
	return v
}

// Items is a nested value's children: a list's elements, a struct's
// fields, a map's keys and values alternating. Nil for flat values and
// nulls. The slice is the value's own: do not modify it.
func (v Value) Items() []Value {
	if v.p == nil {
		return nil
	}
	return unsafe.Slice(v.p, int(v.I))
}

// CloneValue returns v with its own copy of its string and, for a nested
// value, of its items, to any depth: what an Output that keeps values
// does with those of a borrowed record (BorrowingInput).
func CloneValue(v Value) Value {
	if v.S != "" {
		v.S = strings.Clone(v.S)
	}
	if v.p != nil {
		items := make([]Value, v.I)
		for i, it := range unsafe.Slice(v.p, int(v.I)) {
			items[i] = CloneValue(it)
		}
		v.p = &items[0]
	}
	return v
}

// Len is a nested value's number of elements, fields or map entries.
func (v Value) Len() int {
	if v.p == nil {
		return 0
	}
	if v.Type.Kind() == KindMap {
		return int(v.I) / 2
	}
	return int(v.I)
}

// Equal reports whether two values are equal (both null, or the same
// type and Compare 0), nested values deeply.
func Equal(a, b Value) bool {
	if a.Valid != b.Valid {
		return false
	}
	return !a.Valid || (a.Type == b.Type && Compare(a, b) == 0)
}

// compareNested orders nested values item by item, a prefix first.
func compareNested(a, b Value) int {
	x, y := a.Items(), b.Items()
	for i := range min(len(x), len(y)) {
		if c := Compare(x[i], y[i]); c != 0 {
			return c
		}
	}
	return cmp3(int64(len(x)), int64(len(y)))
}

// AppendJSON appends v, a value of the column's type, as JSON: a list as
// an array, a struct as an object of its field names, a map as an object
// whose names are its keys' Text (DuckDB's to_json does the same); flat
// values as Value.AppendJSON writes them.
func (c *Column) AppendJSON(b []byte, v Value) []byte {
	if !v.Valid || !c.IsNested() || !v.Type.IsNested() {
		return v.AppendJSON(b)
	}
	items := v.Items()
	switch c.Type.Kind() {
	case KindList:
		b = append(b, '[')
		for i, it := range items {
			if i > 0 {
				b = append(b, ',')
			}
			b = c.Fields[0].AppendJSON(b, it)
		}
		return append(b, ']')
	case KindStruct:
		b = append(b, '{')
		for i, it := range items {
			if i > 0 {
				b = append(b, ',')
			}
			if i < len(c.Fields) {
				b = appendJSONString(b, c.Fields[i].Name)
				b = append(b, ':')
				b = c.Fields[i].AppendJSON(b, it)
			}
		}
		return append(b, '}')
	}
	return appendJSONMap(b, items, &c.Fields[1])
}

func appendJSONMap(b []byte, kv []Value, val *Column) []byte {
	b = append(b, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, kv[i].Text())
		b = append(b, ':')
		if val != nil {
			b = val.AppendJSON(b, kv[i+1])
		} else {
			b = kv[i+1].AppendJSON(b)
		}
	}
	return append(b, '}')
}

// appendNestedJSON writes a nested value without its column: a struct's
// fields become an array (their names are in the Column: use
// Column.AppendJSON).
func appendNestedJSON(b []byte, v Value) []byte {
	items := v.Items()
	if v.Type.Kind() == KindMap {
		return appendJSONMap(b, items, nil)
	}
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = it.AppendJSON(b)
	}
	return append(b, ']')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// AppendText appends v as the column shows it in text (CSV, partition
// paths): a nested value as its JSON (Column.AppendJSON), a flat value
// as Value.AppendText.
func (c *Column) AppendText(b []byte, v Value) []byte {
	if v.Valid && v.Type.IsNested() {
		return c.AppendJSON(b, v)
	}
	return v.AppendText(b)
}
