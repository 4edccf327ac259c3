package codec

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/fanout-dev/fanout/functions"
)

// convertNested turns one JSON value into a value of the nested column
// col (in.path names it in drift counts: "user.address"): a JSON array into
// a list, an object into a struct (by field name; a missing key is a
// null field, a key the struct lacks is dropped and counted as the
// column "path.key", as a top-level key the schema lacks) or into a map
// (its names parsed as the key type, in their order). null is null at
// any level. Any other JSON value is an error naming the type.
func (in *jsonlInput) convertNested(col *functions.Column, v []byte) (functions.Value, error) {
	if v[0] == 'n' {
		return functions.Null(col.Type), nil
	}
	switch k := col.Type.Kind(); {
	case k == functions.KindList && v[0] == '[':
		start := len(in.stack)
		elem := &col.Fields[0]
		err := eachJSONElement(v, func(e []byte) error {
			x, err := in.value(elem, e)
			in.stack = append(in.stack, x)
			return err
		})
		return functions.ListValue(in.keep(start)), err
	case k == functions.KindStruct && v[0] == '{':
		start := len(in.stack)
		for i := range col.Fields {
			in.stack = append(in.stack, functions.Null(col.Fields[i].Type))
		}
		next := 0 // members usually come in the fields' order
		err := eachJSONMember(v, func(key []byte, e []byte) error {
			f := fieldIndex(col.Fields, key, next)
			if f < 0 {
				in.dropName(in.pathString() + "." + unquoteJSON(key))
				return nil
			}
			next = f + 1
			in.path = append(in.path, col.Fields[f].Name)
			x, err := in.value(&col.Fields[f], e)
			in.path = in.path[:len(in.path)-1]
			in.stack[start+f] = x
			return err
		})
		return functions.StructValue(in.keep(start)), err
	case k == functions.KindMap && v[0] == '{':
		start := len(in.stack)
		kc, vc := &col.Fields[0], &col.Fields[1]
		if kc.Fields != nil {
			in.stack = in.stack[:start]
			return functions.Value{}, fmt.Errorf("a map of %s keys cannot be read from JSON (its keys are text)", kc.TypeString())
		}
		err := eachJSONMember(v, func(raw []byte, e []byte) error {
			key := unquoteJSON(raw)
			kv, err := ParseValue(kc.Type, key)
			if err == nil && !kv.Valid {
				err = fmt.Errorf("map key %q is not a %v", key, kc.Type)
			}
			if err != nil {
				return fmt.Errorf("map key: %w", err)
			}
			x, err := in.value(vc, e)
			in.stack = append(in.stack, kv, x)
			return err
		})
		return functions.MapValue(in.keep(start)), err
	}
	return functions.Value{}, fmt.Errorf("JSON value %s is not a %s", quoteShort(string(v)), col.TypeString())
}

// pathString names the value being converted for the drift counts
// (column.field.field), from in.path.
func (in *jsonlInput) pathString() string { return strings.Join(in.path, ".") }

// value converts a JSON value to col's type, nested or flat.
func (in *jsonlInput) value(col *functions.Column, v []byte) (functions.Value, error) {
	if col.Fields != nil {
		return in.convertNested(col, v)
	}
	if col.Type == functions.String && (v[0] == '{' || v[0] == '[') {
		in.countJSON(in.pathString())
	}
	return in.convert(col.Type, v)
}

// keep moves stack[start:] into the slab and returns it there.
func (in *jsonlInput) keep(start int) []functions.Value {
	items := in.stack[start:]
	in.stack = in.stack[:start]
	if len(items) == 0 {
		return nil
	}
	if cap(in.slab)-len(in.slab) < len(items) {
		in.slab = make([]functions.Value, 0, max(256, len(items)))
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
