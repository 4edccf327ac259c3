package codec

import "github.com/fanout-dev/fanout/functions"

// jsonGuess infers a JSONL column's type, nested or flat, from sample
// values: scalars narrow a TypeGuess (int64 and float64 make float64, as
// in flat columns); arrays make a list of their elements' guess; objects
// a struct of the union of their keys in order of first appearance (a
// map(string, V) past mapInferenceThreshold distinct keys, or for
// objects that are always empty). A column whose sampled values have
// more than one shape (scalar, array, object) is a string holding JSON
// text; so is a value nested deeper than maxInferDepth.
type jsonGuess struct {
	flat                  TypeGuess
	scalar, array, object bool
	deep                  bool
	elem                  *jsonGuess
	names                 []string
	fields                map[string]*jsonGuess
	mapVal                *jsonGuess // past mapInferenceThreshold keys
}

// mapInferenceThreshold is DuckDB's map_inference_threshold: objects with
// more distinct keys in the sample are maps, not structs.
const mapInferenceThreshold = 200

// maxInferDepth keeps inferred types well inside what a schema may nest.
const maxInferDepth = 32

func (g *jsonGuess) add(v []byte, depth int) {
	switch v[0] {
	case 'n':
		return
	case '[':
		g.array = true
		if depth >= maxInferDepth {
			g.deep = true
			return
		}
		if g.elem == nil {
			g.elem = &jsonGuess{}
		}
		_ = eachJSONElement(v, func(e []byte) error {
			g.elem.add(e, depth+1)
			return nil
		})
	case '{':
		g.object = true
		if depth >= maxInferDepth {
			g.deep = true
			return
		}
		_ = eachJSONMember(v, func(raw []byte, e []byte) error {
			k := unquoteJSON(raw)
			if g.mapVal != nil {
				g.mapVal.add(e, depth+1)
				return nil
			}
			f := g.fields[k]
			if f == nil {
				if g.fields == nil {
					g.fields = map[string]*jsonGuess{}
				}
				f = &jsonGuess{}
				g.fields[k] = f
				g.names = append(g.names, k)
				if len(g.names) > mapInferenceThreshold {
					g.toMap()
				}
			}
			f.add(e, depth+1)
			return nil
		})
	default:
		g.scalar = true
		g.flat.json(v)
	}
}

// toMap folds the fields' guesses into one value guess.
func (g *jsonGuess) toMap() {
	g.mapVal = &jsonGuess{}
	for _, n := range g.names {
		g.mapVal.merge(g.fields[n])
	}
	g.names, g.fields = nil, nil
}

// merge adds what o has seen to g.
func (g *jsonGuess) merge(o *jsonGuess) {
	if o == nil {
		return
	}
	f, of := &g.flat, &o.flat
	f.seen, f.bigInt = f.seen || of.seen, f.bigInt || of.bigInt
	f.notInt, f.notFloat, f.notBool, f.notTime = f.notInt || of.notInt, f.notFloat || of.notFloat, f.notBool || of.notBool, f.notTime || of.notTime
	g.scalar, g.array, g.object, g.deep = g.scalar || o.scalar, g.array || o.array, g.object || o.object, g.deep || o.deep
	if o.elem != nil {
		if g.elem == nil {
			g.elem = &jsonGuess{}
		}
		g.elem.merge(o.elem)
	}
	if o.mapVal != nil && g.mapVal == nil {
		g.toMap()
	}
	if g.mapVal != nil {
		g.mapVal.merge(o.mapVal)
		for _, n := range o.names {
			g.mapVal.merge(o.fields[n])
		}
		return
	}
	for _, n := range o.names {
		f := g.fields[n]
		if f == nil {
			if g.fields == nil {
				g.fields = map[string]*jsonGuess{}
			}
			f = &jsonGuess{}
			g.fields[n] = f
			g.names = append(g.names, n)
		}
		f.merge(o.fields[n])
	}
	if len(g.names) > mapInferenceThreshold {
		g.toMap()
	}
}

// column is the guess's type: a string (JSON text) when the values had
// different shapes or nested too deep.
func (g *jsonGuess) column() functions.Column {
	shapes := 0
	for _, b := range []bool{g.scalar, g.array, g.object} {
		if b {
			shapes++
		}
	}
	switch {
	case shapes > 1 || g.deep:
		return functions.Flat(functions.String)
	case g.array:
		return functions.ListOf(g.elem.column())
	case g.object && g.mapVal != nil:
		return functions.MapOf(functions.Flat(functions.String), g.mapVal.column())
	case g.object && len(g.names) == 0:
		return functions.MapOf(functions.Flat(functions.String), functions.Flat(functions.String))
	case g.object:
		fields := make([]functions.Column, len(g.names))
		for i, n := range g.names {
			fields[i] = g.fields[n].column().Named(n)
		}
		return functions.StructOf(fields...)
	}
	return functions.Flat(g.flat.Type())
}
