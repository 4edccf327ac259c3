package codec

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/fanout-dev/fanout/functions"
)

// nested reads one JSON value (at in.sc.i, after whitespace) as a value
// of the nested column col (in.path names it in drift counts:
// "user.address"; depth is the nesting of its container): a JSON array
// into a list, an object into a struct (by field name; a missing key is a
// null field, a key the struct lacks is dropped and counted as the column
// "path.key", as a top-level key the schema lacks) or into a map (its
// names parsed as the key type, in their order). null is null at any
// level. Any other JSON value is an error naming the type.
func (in *jsonlInput) nested(col *functions.Column, depth int) (functions.Value, error) {
	s := &in.sc
	c := s.peek()
	if c == 'n' {
		if _, err := s.literal(); err != nil {
			return functions.Value{}, err
		}
		return functions.Null(col.Type), nil
	}
	depth++
	switch k := col.Type.Kind(); {
	case k == functions.KindList && c == '[':
		if depth > maxJSONDepth {
			return functions.Value{}, errJSONSyntax
		}
		start := len(in.stack)
		elem := &col.Fields[0]
		s.i++
		s.ws()
		if s.peek() == ']' {
			s.i++
			return functions.ListValue(nil), nil
		}
		for {
			s.ws()
			var x functions.Value
			var err error
			if elem.Fields != nil { // in.value, a call less per element
				x, err = in.nested(elem, depth)
			} else {
				x, err = in.flat(elem.Type, depth)
			}
			if err != nil {
				in.stack = in.stack[:start]
				return functions.Value{}, err
			}
			in.stack = append(in.stack, x)
			if more, err := s.next(']'); err != nil {
				in.stack = in.stack[:start]
				return functions.Value{}, err
			} else if !more {
				return functions.ListValue(in.keep(start)), nil
			}
		}
	case k == functions.KindStruct && c == '{':
		if depth > maxJSONDepth {
			return functions.Value{}, errJSONSyntax
		}
		start := len(in.stack)
		for i := range col.Fields {
			in.stack = append(in.stack, functions.Null(col.Fields[i].Type))
		}
		if err := in.structMembers(col, start, depth, 0); err != nil {
			in.stack = in.stack[:start]
			return functions.Value{}, err
		}
		return functions.StructValue(in.keep(start)), nil
	case k == functions.KindMap && c == '{':
		if depth > maxJSONDepth {
			return functions.Value{}, errJSONSyntax
		}
		start := len(in.stack)
		kc, vc := &col.Fields[0], &col.Fields[1]
		if kc.Fields != nil {
			if _, err := s.skip(depth - 1); err != nil {
				return functions.Value{}, err
			}
			return functions.Value{}, fmt.Errorf("a map of %s keys cannot be read from JSON (its keys are text)", kc.TypeString())
		}
		err := in.members(func(raw []byte) error {
			var kv functions.Value
			var err error
			if kc.Type == functions.String {
				kv = functions.StringValue(in.text(raw, bytes.IndexByte(raw, '\\') >= 0))
			} else {
				key := unquoteJSON(raw)
				kv, err = ParseValue(kc.Type, key)
				if err == nil && !kv.Valid {
					err = fmt.Errorf("map key %q is not a %v", key, kc.Type)
				}
				if err != nil {
					return fmt.Errorf("map key: %w", err)
				}
			}
			s.ws()
			x, err := in.value(vc, depth)
			in.stack = append(in.stack, kv, x)
			return err
		})
		if err != nil {
			in.stack = in.stack[:start]
			return functions.Value{}, err
		}
		return functions.MapValue(in.keep(start)), nil
	}
	v, err := s.skip(depth - 1)
	if err != nil {
		return functions.Value{}, err
	}
	return functions.Value{}, fmt.Errorf("JSON value %s is not a %s", quoteShort(string(v)), col.TypeString())
}

// structMembers reads the object at in.sc.i into the fields of the struct
// col, whose values wait on the stack from start on (null until their
// member comes); next is the field tried first.
func (in *jsonlInput) structMembers(col *functions.Column, start, depth, next int) error {
	s := &in.sc
	s.i++ // '{'
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.key()
		if err != nil {
			return err
		}
		s.ws()
		if f := fieldIndex(col.Fields, key, next); f < 0 {
			in.dropName(in.pathString() + "." + unquoteJSON(key))
			if _, err := s.skip(depth); err != nil {
				return err
			}
		} else {
			next = f + 1 // members usually come in the fields' order
			fc := &col.Fields[f]
			in.path = append(in.path, fc.Name)
			var x functions.Value
			if fc.Fields != nil { // in.value, a call less per member
				x, err = in.nested(fc, depth)
			} else {
				x, err = in.flat(fc.Type, depth)
			}
			in.path = in.path[:len(in.path)-1]
			if err != nil {
				return err
			}
			in.stack[start+f] = x
		}
		if more, err := s.next('}'); err != nil || !more {
			return err
		}
	}
}

// members reads the object at in.sc.i, calling fn with each member's name
// (its literal, quotes included) when the scan is at its value; fn reads
// the value.
func (in *jsonlInput) members(fn func(key []byte) error) error {
	s := &in.sc
	s.i++ // '{'
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.key()
		if err != nil {
			return err
		}
		s.ws()
		if err := fn(key); err != nil {
			return err
		}
		if more, err := s.next('}'); err != nil || !more {
			return err
		}
	}
}

// pathString names the value being converted for the drift counts
// (column.field.field), from in.path.
func (in *jsonlInput) pathString() string { return strings.Join(in.path, ".") }

// value reads a JSON value (at in.sc.i, after whitespace) as col's type,
// nested or flat; depth is the nesting of its container. (Small enough to
// be inlined: a Value returned through one call less.)
func (in *jsonlInput) value(col *functions.Column, depth int) (functions.Value, error) {
	if col.Fields != nil {
		return in.nested(col, depth)
	}
	return in.flat(col.Type, depth)
}

// keep moves stack[start:] into the slab and returns it there.
func (in *jsonlInput) keep(start int) []functions.Value {
	items := in.stack[start:]
	in.stack = in.stack[:start]
	if len(items) == 0 {
		return nil
	}
	if cap(in.slab)-len(in.slab) < len(items) {
		in.slab = make([]functions.Value, 0, max(256, 2*cap(in.slab), len(items)))
	}
	n := len(in.slab)
	in.slab = append(in.slab, items...)
	return in.slab[n:len(in.slab):len(in.slab)]
}

// fieldIndex finds the field named by the JSON string literal key
// (quotes included), trying from first on; -1 when there is none.
func fieldIndex(fields []functions.Column, key []byte, first int) int {
	name := key[1 : len(key)-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		name = []byte(unquoteJSON(key))
	}
	for i := range fields {
		j := (first + i) % len(fields)
		if fields[j].Name == string(name) {
			return j
		}
	}
	return -1
}

// eachJSONElement calls fn with each element of a valid JSON array; it
// stops at fn's first error.
func eachJSONElement(v []byte, fn func([]byte) error) error {
	i := skipWS(v, 1)
	if v[i] == ']' {
		return nil
	}
	for {
		end := valueEnd(v, i)
		if err := fn(v[i:end]); err != nil {
			return err
		}
		i = skipWS(v, end)
		if v[i] != ',' {
			return nil
		}
		i = skipWS(v, i+1)
	}
}

// eachJSONMember calls fn with each name (its JSON string literal, quotes
// included) and value of a valid JSON object, in order; it stops at fn's
// first error.
func eachJSONMember(v []byte, fn func([]byte, []byte) error) error {
	i := skipWS(v, 1)
	if v[i] == '}' {
		return nil
	}
	for {
		kEnd := stringEnd(v, i)
		key := v[i:kEnd]
		i = skipWS(v, skipWS(v, kEnd)+1)
		end := valueEnd(v, i)
		if err := fn(key, v[i:end]); err != nil {
			return err
		}
		i = skipWS(v, end)
		if v[i] != ',' {
			return nil
		}
		i = skipWS(v, i+1)
	}
}
