package codec

import (
	"fmt"

	"github.com/fanout-dev/fanout/functions"
)

// convertNested turns one JSON value into a value of the nested column
// col (path names it in drift counts: "user.address"): a JSON array into
// a list, an object into a struct (by field name; a missing key is a
// null field, a key the struct lacks is dropped and counted as the
// column "path.key", as a top-level key the schema lacks) or into a map
// (its names parsed as the key type, in their order). null is null at
// any level. Any other JSON value is an error naming the type.
func (in *jsonlInput) convertNested(col *functions.Column, v []byte, path string) (functions.Value, error) {
	if v[0] == 'n' {
		return functions.Null(col.Type), nil
	}
	switch k := col.Type.Kind(); {
	case k == functions.KindList && v[0] == '[':
		start := len(in.stack)
		elem := &col.Fields[0]
		err := eachJSONElement(v, func(e []byte) error {
			x, err := in.value(elem, e, path)
			in.stack = append(in.stack, x)
			return err
		})
		return functions.ListValue(in.keep(start)), err
	case k == functions.KindStruct && v[0] == '{':
		start := len(in.stack)
		for i := range col.Fields {
			in.stack = append(in.stack, functions.Null(col.Fields[i].Type))
		}
		err := eachJSONMember(v, func(key string, e []byte) error {
			f := fieldIndex(col.Fields, key)
			if f < 0 {
				in.dropName(path + "." + key)
				return nil
			}
			x, err := in.value(&col.Fields[f], e, path+"."+key)
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
		err := eachJSONMember(v, func(key string, e []byte) error {
			kv, err := ParseValue(kc.Type, key)
			if err == nil && !kv.Valid {
				err = fmt.Errorf("map key %q is not a %v", key, kc.Type)
			}
			if err != nil {
				return err
			}
			x, err := in.value(vc, e, path)
			in.stack = append(in.stack, kv, x)
			return err
		})
		return functions.MapValue(in.keep(start)), err
	}
	return functions.Value{}, fmt.Errorf("JSON value %s is not a %s", quoteShort(string(v)), col.TypeString())
}

// value converts a JSON value to col's type, nested or flat.
func (in *jsonlInput) value(col *functions.Column, v []byte, path string) (functions.Value, error) {
	if col.Fields != nil {
		return in.convertNested(col, v, path)
	}
	if col.Type == functions.String && (v[0] == '{' || v[0] == '[') {
		in.countJSON(path)
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

func fieldIndex(fields []functions.Column, name string) int {
	for i := range fields {
		if fields[i].Name == name {
			return i
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

// eachJSONMember calls fn with each name and value of a valid JSON
// object, in order; it stops at fn's first error.
func eachJSONMember(v []byte, fn func(string, []byte) error) error {
	i := skipWS(v, 1)
	if v[i] == '}' {
		return nil
	}
	for {
		kEnd := stringEnd(v, i)
		key := unquoteJSON(v[i:kEnd])
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
