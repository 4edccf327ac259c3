package codec

// Nested columns in the Parquet writer. A list, struct or map column is a
// tree whose leaves are ordinary pqOutColumns with repetition and
// definition levels (Dremel shredding), laid out as the format's
// LogicalTypes.md asks and as DuckDB, Arrow and Spark write them:
//
//	optional group a (LIST) { repeated group list { optional T element; } }
//	optional group m (MAP) { repeated group key_value { required K key; optional V value; } }
//	optional group s { optional T f; ... }
//
// Every level is optional (nullable) except a map's key. Each optional or
// repeated node adds one definition level; each repeated one a repetition
// level. A row writes, into every leaf under a column, one entry per
// element reached: a null or an empty list at some node writes one entry
// into each leaf below it, with the definition level of that node's
// parent (null) or of the node itself (empty), so that a reader tells
// null from empty at every level. Nested leaves are written PLAIN (no
// dictionary): a dictionary that fills mid-row would split the row across
// pages, which DATA_PAGE_V2 does not allow.

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fanout-dev/fanout/functions"
)

// outNode is one node of a column's tree in the writer.
type outNode struct {
	col      functions.Column
	name     string // the node's name in the Parquet schema
	required bool   // a map's key
	// rep is a list's or map's repetition level (of its repeated group).
	rep      int
	children []*outNode     // list: element; struct: fields; map: key, value
	leaf     *pqOutColumn   // a flat node's column
	leaves   []*pqOutColumn // every leaf under the node
	path     []string       // the path to the node in the schema
}

// outTree builds the node of col at path, def and rep being the levels of
// its parent, and adds its leaves to w.cols.
func (w *parquetWriter) outTree(col functions.Column, path []string, def, rep int, required bool) (*outNode, error) {
	n := &outNode{col: col, name: col.Name, required: required, path: append(path[:len(path):len(path)], col.Name)}
	if !required {
		def++
	}
	switch col.Type.Kind() {
	case functions.KindList, functions.KindMap:
		n.rep = rep + 1
		inner := append(n.path[:len(n.path):len(n.path)], "list")
		var fields []functions.Column
		var req []bool
		if col.Type.Kind() == functions.KindList {
			fields, req = []functions.Column{col.Elem().Named("element")}, []bool{false}
		} else {
			inner[len(inner)-1] = "key_value"
			if col.MapKey().IsNested() {
				return nil, fmt.Errorf("codec: column %q: parquet map keys of type %s are not supported", strings.Join(n.path, "."), col.MapKey().TypeString())
			}
			fields, req = []functions.Column{col.MapKey().Named("key"), col.MapValue().Named("value")}, []bool{true, false}
		}
		for i, f := range fields {
			ch, err := w.outTree(f, inner, def+1, rep+1, req[i])
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, ch)
			n.leaves = append(n.leaves, ch.leaves...)
		}
	case functions.KindStruct:
		if len(col.Fields) == 0 {
			return nil, fmt.Errorf("codec: column %q: a struct without fields cannot be written to parquet", strings.Join(n.path, "."))
		}
		for _, f := range col.Fields {
			ch, err := w.outTree(f, n.path, def, rep, false)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, ch)
			n.leaves = append(n.leaves, ch.leaves...)
		}
	default:
		c := newPQOutColumn(col, w.strings)
		c.path, c.maxDef, c.maxRep, c.required = n.path, def, rep, required
		c.name = strings.Join(n.path, ".")
		if len(n.path) > 1 && c.dict != nil {
			c.dict, c.plainMode = nil, true // see the top of this file
		}
		n.leaf = c
		n.leaves = []*pqOutColumn{c}
		w.cols = append(w.cols, c)
	}
	return n, nil
}

// shred writes v, a value of n's column, into n's leaves; def and rep are
// the levels of n's parent and the repetition level this entry starts at.
func (w *parquetWriter) shred(n *outNode, v functions.Value, def, rep int) error {
	if !v.Valid {
		if n.required {
			return fmt.Errorf("codec: parquet column %q: a null map key", strings.Join(n.path, "."))
		}
		n.empty(def, rep)
		return nil
	}
	if !n.required {
		def++
	}
	if c := n.leaf; c != nil {
		if v.Type != c.typ {
			return fmt.Errorf("codec: parquet column %q: got a %v value, want %v", c.name, v.Type, c.typ)
		}
		w.rgBytes += int64(8 + len(v.S))
		c.reps = append(c.reps, byte(rep))
		if rep == 0 {
			c.pageRows++
		}
		c.defs = append(c.defs, byte(def))
		return c.addValue(w, &v)
	}
	if v.Type.Kind() != n.col.Type.Kind() {
		return fmt.Errorf("codec: parquet column %q: got a %v value, want %s", strings.Join(n.path, "."), v.Type, n.col.TypeString())
	}
	items := v.Items()
	switch n.col.Type.Kind() {
	case functions.KindStruct:
		if len(items) != len(n.children) {
			return fmt.Errorf("codec: parquet column %q: a struct value of %d fields, want %d", strings.Join(n.path, "."), len(items), len(n.children))
		}
		for i, ch := range n.children {
			if err := w.shred(ch, items[i], def, rep); err != nil {
				return err
			}
		}
		return nil
	case functions.KindList:
		if len(items) == 0 {
			n.empty(def, rep)
			return nil
		}
		for i, it := range items {
			r := rep
			if i > 0 {
				r = n.rep
			}
			if err := w.shred(n.children[0], it, def+1, r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(items) == 0 {
		n.empty(def, rep)
		return nil
	}
	for i := 0; i+1 < len(items); i += 2 {
		r := rep
		if i > 0 {
			r = n.rep
		}
		if err := w.shred(n.children[0], items[i], def+1, r); err != nil {
			return err
		}
		if err := w.shred(n.children[1], items[i+1], def+1, r); err != nil {
			return err
		}
	}
	return nil
}

// empty writes one entry of definition level def (the node is null at
// its parent's level, or a list or map is empty at its own) into every
// leaf under n.
func (n *outNode) empty(def, rep int) {
	for _, c := range n.leaves {
		c.reps = append(c.reps, byte(rep))
		if rep == 0 {
			c.pageRows++
		}
		c.defs = append(c.defs, byte(def))
		c.nulls++
	}
}

// appendSchema appends n's schema elements, depth first.
func (n *outNode) appendSchema(s []format.SchemaElement) []format.SchemaElement {
	if n.leaf != nil {
		return append(s, n.leaf.schemaElement())
	}
	e := format.SchemaElement{Name: n.name, RepetitionType: thrift.New(format.Optional)}
	switch n.col.Type.Kind() {
	case functions.KindStruct:
		e.NumChildren = thrift.New(int32(len(n.children)))
		s = append(s, e)
	case functions.KindList:
		e.NumChildren = thrift.New(int32(1))
		e.ConvertedType = thrift.New(deprecated.List)
		e.LogicalType = format.LogicalType{Value: new(format.ListType)}
		s = append(s, e, format.SchemaElement{Name: "list", RepetitionType: thrift.New(format.Repeated), NumChildren: thrift.New(int32(1))})
	case functions.KindMap:
		e.NumChildren = thrift.New(int32(1))
		e.ConvertedType = thrift.New(deprecated.Map)
		e.LogicalType = format.LogicalType{Value: new(format.MapType)}
		s = append(s, e, format.SchemaElement{Name: "key_value", RepetitionType: thrift.New(format.Repeated), NumChildren: thrift.New(int32(2))})
	}
	for _, ch := range n.children {
		s = ch.appendSchema(s)
	}
	return s
}
