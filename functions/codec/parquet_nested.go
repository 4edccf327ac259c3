package codec

// Nested Parquet columns: lists, maps, structs and unannotated repeated
// fields, read from their leaf columns' repetition and definition levels
// (Dremel record assembly).
//
// Each leaf column is a stream of entries (repetition level r, definition
// level d, value). A node of the schema tree knows the definition level
// at which it is present (def) and, for a list or map, the level at which
// it has at least one element (repDef) and the repetition level of its
// repeated field (rep). Assembling a row walks the tree: a node whose
// first leaf's entry has d < def is null, and every leaf under it then
// holds exactly one entry for it; a list with d < repDef is empty, the
// same way; otherwise a list reads an element, then another as long as
// the first leaf's next entry has r == rep. Every step is checked against
// every leaf under the node (same decision, same levels), and every row
// must end where each leaf's next row begins (r == 0): a file whose levels
// do not describe one tree is corrupt, never assembled into a guess.

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/fanout-dev/fanout/functions"
)

// pqNodeKind is what a node of the schema tree assembles into.
type pqNodeKind uint8

const (
	pqLeafNode pqNodeKind = iota
	pqStructNode
	pqListNode
	pqMapNode
)

// pqNode is one node of a nested column's schema tree.
type pqNode struct {
	name     string
	kind     pqNodeKind
	optional bool // null when its leaves' d < def
	def      int  // the definition level at which the node is present
	// repDef and rep, of a list or map: the definition level at which it
	// holds at least one element, and its repeated field's repetition
	// level.
	repDef, rep int
	// children are a struct's fields, a list's element, a map's key and
	// value.
	children []*pqNode
	// leaves index the column's leaf readers under this node (DFS order;
	// the first one decides, the others are checked against it).
	leaves []int

	// column is the node's type (unnamed).
	column functions.Column
	// scratch collects a list's or map's items or a struct's fields
	// while they are assembled (a node is never inside itself).
	scratch []functions.Value

	// A leaf's file column and conversion.
	col  *parquet.Column
	typ  functions.Type
	conv func(parquet.Value) (functions.Value, error)
}

// pqSchemaError is a schema fanout cannot read as a tree.
func pqSchemaError(path []string, format string, args ...any) error {
	return fmt.Errorf("%w: column %q: %s", ErrUnsupportedParquet, strings.Join(path, "."), fmt.Sprintf(format, args...))
}

// pqTreeBuilder builds nested columns' trees from the file's schema.
type pqTreeBuilder struct {
	f      *parquet.File
	leaves []*format.SchemaElement // leafElements
	cols   []*parquet.Column       // leaf columns by index
	nleaf  int                     // leaves added to the current column
	leafOf []*pqNode               // the current column's leaves, in order
}

func newTreeBuilder(f *parquet.File) *pqTreeBuilder {
	b := &pqTreeBuilder{f: f, leaves: leafElements(f)}
	var walk func(c *parquet.Column)
	walk = func(c *parquet.Column) {
		if c.Leaf() {
			if i := c.Index(); i >= 0 {
				for len(b.cols) <= i {
					b.cols = append(b.cols, nil)
				}
				b.cols[i] = c
			}
			return
		}
		for _, ch := range c.Columns() {
			walk(ch)
		}
	}
	walk(f.Root())
	return b
}

// element is the file's schema element of column c (nil if unknown).
func (b *pqTreeBuilder) element(c *parquet.Column) *format.SchemaElement {
	// The schema list is the tree in depth-first order: find c by
	// walking it alongside parquet-go's tree.
	var found *format.SchemaElement
	schema := b.f.Metadata().Schema
	i := 0
	var walk func(pc *parquet.Column) bool
	walk = func(pc *parquet.Column) bool {
		if i >= len(schema) {
			return false
		}
		el := &schema[i]
		i++
		if pc == c {
			found = el
			return true
		}
		for _, ch := range pc.Columns() {
			if walk(ch) {
				return true
			}
		}
		return false
	}
	walk(b.f.Root())
	return found
}

func isList(el *format.SchemaElement) bool {
	if el == nil {
		return false
	}
	if _, ok := el.LogicalType.Value.(*format.ListType); ok {
		return true
	}
	return el.ConvertedType.Valid && el.ConvertedType.V == deprecated.List
}

func isMap(el *format.SchemaElement) bool {
	if el == nil {
		return false
	}
	if _, ok := el.LogicalType.Value.(*format.MapType); ok {
		return true
	}
	return el.ConvertedType.Valid && (el.ConvertedType.V == deprecated.Map || el.ConvertedType.V == deprecated.MapKeyValue)
}

// column builds the tree of a top-level column.
func (b *pqTreeBuilder) column(c *parquet.Column) (*pqNode, error) {
	b.nleaf, b.leafOf = 0, nil
	return b.node(c, []string{c.Name()}, 0, 0, false)
}

// node builds the node of column c whose parent is present at definition
// level def and repetition level rep. asRequired reads c as a required
// field whatever its repetition says (a list's repeated field that is its
// own element).
func (b *pqTreeBuilder) node(c *parquet.Column, path []string, def, rep int, asRequired bool) (*pqNode, error) {
	if len(path) > 64 {
		return nil, pqSchemaError(path, "nested more than 64 levels deep")
	}
	if c.Repeated() && !asRequired {
		// A repeated field outside a LIST or MAP: a required list of
		// required elements, the field itself.
		elem, err := b.node(c, path, def+1, rep+1, true)
		if err != nil {
			return nil, err
		}
		n := &pqNode{name: c.Name(), kind: pqListNode, def: def, repDef: def + 1, rep: rep + 1, children: []*pqNode{elem}}
		n.leaves = elem.leaves
		n.column = functions.ListOf(elem.column)
		return n, nil
	}
	n := &pqNode{name: c.Name(), def: def}
	if c.Optional() && !asRequired {
		n.optional = true
		n.def++
	}
	if c.Leaf() {
		return b.leaf(n, c, path, rep)
	}
	el := b.element(c)
	kids := c.Columns()
	switch {
	case isMap(el):
		if len(kids) != 1 || !kids[0].Repeated() || kids[0].Leaf() {
			return nil, pqSchemaError(path, "a MAP must hold one repeated group (it holds %d fields)", len(kids))
		}
		kv := kids[0]
		if len(kv.Columns()) == 1 {
			// A MAP without values (a set): read, as Arrow reads it, as
			// the list of its keys.
			n.kind, n.repDef, n.rep = pqListNode, n.def+1, rep+1
			k := kv.Columns()[0]
			elem, err := b.node(k, append(path, kv.Name(), k.Name()), n.repDef, n.rep, false)
			if err != nil {
				return nil, err
			}
			if elem.kind != pqLeafNode {
				return nil, pqSchemaError(path, "a MAP's key must be a primitive type")
			}
			n.children = []*pqNode{elem}
			break
		}
		if len(kv.Columns()) != 2 {
			return nil, pqSchemaError(path, "a MAP's repeated group must hold a key and a value field (it holds %d fields)", len(kv.Columns()))
		}
		n.kind, n.repDef, n.rep = pqMapNode, n.def+1, rep+1
		for i, ch := range kv.Columns() {
			k, err := b.node(ch, append(path, ch.Name()), n.repDef, n.rep, false)
			if err != nil {
				return nil, err
			}
			if i == 0 && k.kind != pqLeafNode {
				return nil, pqSchemaError(path, "a MAP's key must be a primitive type")
			}
			n.children = append(n.children, k)
		}
	case isList(el):
		if len(kids) != 1 || !kids[0].Repeated() {
			return nil, pqSchemaError(path, "a LIST must hold one repeated field (it holds %d fields)", len(kids))
		}
		n.kind, n.repDef, n.rep = pqListNode, n.def+1, rep+1
		r := kids[0]
		var elem *pqNode
		var err error
		// The Parquet format's backward-compatibility rules for lists:
		// the repeated field is itself the (required) element when it is
		// primitive, a group of several fields, or a group of one field
		// named "array" or "<list>_tuple" (2-level lists); otherwise its
		// one field is the element (the 3-level list).
		if r.Leaf() || len(r.Columns()) != 1 || r.Name() == "array" || r.Name() == c.Name()+"_tuple" {
			elem, err = b.node(r, append(path, r.Name()), n.repDef, n.rep, true)
		} else {
			e := r.Columns()[0]
			elem, err = b.node(e, append(path, r.Name(), e.Name()), n.repDef, n.rep, false)
		}
		if err != nil {
			return nil, err
		}
		n.children = []*pqNode{elem}
	default:
		if len(kids) == 0 {
			return nil, pqSchemaError(path, "a group without fields")
		}
		n.kind = pqStructNode
		for _, ch := range kids {
			k, err := b.node(ch, append(path, ch.Name()), n.def, rep, false)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, k)
		}
	}
	for _, ch := range n.children {
		n.leaves = append(n.leaves, ch.leaves...)
	}
	switch n.kind {
	case pqMapNode:
		n.column = functions.MapOf(n.children[0].column, n.children[1].column)
	case pqListNode:
		n.column = functions.ListOf(n.children[0].column)
	default:
		fields := make([]functions.Column, len(n.children))
		seen := map[string]bool{}
		for i, ch := range n.children {
			if seen[ch.name] {
				return nil, pqSchemaError(path, "two fields named %q", ch.name)
			}
			seen[ch.name] = true
			fields[i] = ch.column.Named(ch.name)
		}
		n.column = functions.StructOf(fields...)
	}
	return n, nil
}

func (b *pqTreeBuilder) leaf(n *pqNode, c *parquet.Column, path []string, rep int) (*pqNode, error) {
	if c.MaxDefinitionLevel() != n.def || c.MaxRepetitionLevel() != rep {
		// parquet-go decodes the pages with its own levels: they must
		// be the tree's.
		return nil, pqSchemaError(path, "levels (max definition %d, repetition %d) disagree with the schema tree's (%d, %d)", c.MaxDefinitionLevel(), c.MaxRepetitionLevel(), n.def, rep)
	}
	t, conv, err := leafConverter(c, b.leaves)
	if err != nil {
		return nil, &ColumnError{Column: strings.Join(path, "."), RowGroup: -1, Err: err}
	}
	n.kind, n.col, n.typ, n.conv = pqLeafNode, c, t, conv
	n.column = functions.Flat(t)
	n.leaves = []int{b.nleaf}
	b.nleaf++
	b.leafOf = append(b.leafOf, n)
	return n, nil
}

// leafEnt is one entry of a leaf column: its levels and its value
// (converted; err when the conversion failed).
type leafEnt struct {
	r, d int32
	v    functions.Value
	err  error
}

// pageReader reads the data pages of one column chunk, checking each
// page's decoded values against its header.
type pageReader struct {
	pages  parquet.Pages
	page   parquet.Page
	values parquet.ValueReader

	// headers holds the value and null counts the data page headers of
	// the current column chunk claim, in order; page indexes it, and
	// pageValues, pageNulls and pageRows count what the decoder gave for
	// it.
	headers                         []pageCounts
	pageIdx                         int
	pageValues, pageNulls, pageRows int64
	// levels is set for nested columns' leaves, whose pages' rows are
	// counted (pageRows) and checked against a V2 header's.
	levels bool
}

// next reads up to len(buf) values of the current page, opening the next
// page first when none is open; end reports that the page is done (call
// pageDone after counting its nulls). io.EOF means the chunk has no more
// pages.
func (p *pageReader) next(buf []parquet.Value) (k int, end bool, err error) {
	if p.values == nil {
		pg, err := p.pages.ReadPage()
		if err != nil {
			return 0, false, err
		}
		if p.pageIdx >= len(p.headers) {
			parquet.Release(pg)
			return 0, false, fmt.Errorf("the decoder gives more data pages than the chunk's %d page headers", len(p.headers))
		}
		if h := p.headers[p.pageIdx]; pg.NumValues() != h.values {
			parquet.Release(pg)
			return 0, false, fmt.Errorf("data page %d: the decoder gives %d values, its header says %d", p.pageIdx, pg.NumValues(), h.values)
		}
		p.page, p.values = pg, pg.Values()
		p.pageValues, p.pageNulls, p.pageRows = 0, 0, 0
	}
	k, err = p.values.ReadValues(buf)
	p.pageValues += int64(k)
	if err == io.EOF {
		parquet.Release(p.page)
		p.page, p.values = nil, nil
		return k, true, nil
	}
	return k, false, err
}

// pageDone checks what the decoder gave for the page just read against
// its header: as many values, and as many nulls and rows when a V2
// header says.
func (p *pageReader) pageDone() error {
	h := p.headers[p.pageIdx]
	if p.pageValues != h.values {
		return fmt.Errorf("data page %d: the decoder gave %d values, its header says %d", p.pageIdx, p.pageValues, h.values)
	}
	if h.nulls >= 0 && p.pageNulls != h.nulls {
		return fmt.Errorf("data page %d: the decoder gave %d nulls, its header says %d", p.pageIdx, p.pageNulls, h.nulls)
	}
	if p.levels && h.rows >= 0 && p.pageRows != h.rows {
		return fmt.Errorf("data page %d: its levels start %d rows, its header says %d", p.pageIdx, p.pageRows, h.rows)
	}
	p.pageIdx++
	return nil
}

func (p *pageReader) close() {
	if p.page != nil {
		parquet.Release(p.page)
	}
	if p.pages != nil {
		_ = catch(p.pages.Close)
	}
	p.page, p.values, p.pages = nil, nil, nil
}

// pqLeafReader reads one leaf of a nested column: its entries, a batch
// of rows at a time.
type pqLeafReader struct {
	pageReader
	name           string // the leaf's path
	node           *pqNode
	maxRep, maxDef int32
	buf            []parquet.Value
	// ents holds the entries read: the current batch's rows, then the
	// start of the next; pos is the assembly's cursor; starts are the
	// batch's row starts in ents (and the next row's, or len(ents)).
	ents   []leafEnt
	pos    int
	starts []int
	eof    bool // the chunk has no more pages
}

// reset prepares the reader for a new column chunk.
func (l *pqLeafReader) reset() {
	l.ents, l.pos, l.starts, l.eof = l.ents[:0], 0, l.starts[:0], false
	l.pageIdx, l.pageValues, l.pageNulls, l.pageRows = 0, 0, 0, 0
}

// fill reads the entries of the next n rows into ents (dropping those
// of the batch before), with the next row's first entry when last is
// false; when last is true the chunk must end with the n-th row.
func (l *pqLeafReader) fill(n int, last bool) error {
	// Keep what was read past the previous batch.
	if l.pos > 0 {
		rest := copy(l.ents, l.ents[l.pos:])
		clear(l.ents[rest:])
		l.ents = l.ents[:rest]
		l.pos = 0
	}
	l.starts = l.starts[:0]
	for i, e := range l.ents {
		if e.r == 0 {
			l.starts = append(l.starts, i)
		}
	}
	for !l.eof && len(l.starts) <= n {
		k, end, err := l.next(l.buf)
		if err == io.EOF {
			l.eof = true
			break
		}
		if err != nil {
			return err
		}
		for _, v := range l.buf[:k] {
			r, d := int32(v.RepetitionLevel()), int32(v.DefinitionLevel())
			if r > l.maxRep || d > l.maxDef || r < 0 || d < 0 {
				return fmt.Errorf("data page %d: levels (repetition %d, definition %d) above the column's maximum (%d, %d)", l.pageIdx, r, d, l.maxRep, l.maxDef)
			}
			if r == 0 {
				l.starts = append(l.starts, len(l.ents))
				l.pageRows++
			} else if len(l.ents) == 0 {
				return fmt.Errorf("data page %d: the column chunk starts with repetition level %d, not a new row", l.pageIdx, r)
			}
			e := leafEnt{r: r, d: d}
			if d == l.maxDef {
				if v.IsNull() {
					return fmt.Errorf("data page %d: a null value at the full definition level %d", l.pageIdx, d)
				}
				e.v, e.err = l.node.conv(v)
			} else {
				l.pageNulls++
			}
			l.ents = append(l.ents, e)
		}
		clear(l.buf[:k])
		if end {
			if err := l.pageDone(); err != nil {
				return err
			}
		}
	}
	switch {
	case len(l.starts) < n:
		return fmt.Errorf("the column's levels end after %d of a batch's %d rows", len(l.starts), n)
	case last && len(l.starts) > n:
		return fmt.Errorf("the column's levels hold more rows than the row group's")
	case !last && len(l.starts) == n:
		return fmt.Errorf("the column's levels end after the batch's %d rows, before the row group's end", n)
	}
	if len(l.starts) == n {
		l.starts = append(l.starts, len(l.ents))
	}
	return nil
}

// newNestedReader makes the reader of a nested column whose tree the
// builder has just built.
func (b *pqTreeBuilder) newNestedReader(root *pqNode, out int) *pqNestedReader {
	r := &pqNestedReader{name: root.name, out: out, root: root, vals: make([]functions.Value, parquetBatch)}
	for _, n := range b.leafOf {
		r.leaves = append(r.leaves, &pqLeafReader{
			pageReader: pageReader{levels: true},
			name:       strings.Join(n.col.Path(), "."),
			node:       n,
			maxRep:     int32(n.col.MaxRepetitionLevel()),
			maxDef:     int32(n.col.MaxDefinitionLevel()),
			buf:        make([]parquet.Value, parquetBatch),
		})
	}
	return r
}

// pqNestedReader reads one nested top-level column.
type pqNestedReader struct {
	name   string
	out    int
	root   *pqNode
	leaves []*pqLeafReader
	// vals holds the batch's assembled values, rowErrs their rows'
	// conversion errors (shared with parquetInput).
	vals       []functions.Value
	rowErrs    []error
	hasRowErrs *bool
	rowErr     error // the first conversion error met in the current row
	// asText reads the column as its JSON text (a schema saying string);
	// castTo, when set, is the wider type the schema reads it as.
	asText bool
	text   []byte
	castTo *functions.Column
	// slab holds the items of the values assembled: a new one when it
	// is full, never reused (the values handed out keep pointing there).
	slab []functions.Value
}

// alloc copies items into the slab.
func (r *pqNestedReader) alloc(items []functions.Value) []functions.Value {
	n := len(items)
	if n == 0 {
		return nil
	}
	if cap(r.slab)-len(r.slab) < n {
		r.slab = make([]functions.Value, 0, max(n, 4096))
	}
	out := r.slab[len(r.slab) : len(r.slab)+n : len(r.slab)+n]
	r.slab = r.slab[:len(r.slab)+n]
	copy(out, items)
	return out
}

// read assembles the next n rows.
func (r *pqNestedReader) read(n int, last bool) error {
	for _, l := range r.leaves {
		if err := l.fill(n, last); err != nil {
			return fmt.Errorf("leaf %q: %w", l.name, err)
		}
	}
	for i := range n {
		r.rowErr = nil
		for _, l := range r.leaves {
			if l.pos != l.starts[i] {
				return fmt.Errorf("row %d of the batch: leaf %q is at entry %d, its row starts at %d", i, l.name, l.pos, l.starts[i])
			}
		}
		v, err := r.value(r.root)
		if err != nil {
			return err
		}
		for _, l := range r.leaves {
			if l.pos != l.starts[i+1] {
				return fmt.Errorf("leaf %q: the row's other leaves end at its entry %d, its next row starts at %d", l.name, l.pos, l.starts[i+1])
			}
		}
		r.vals[i] = v
		if r.rowErr != nil && r.rowErrs[i] == nil {
			r.rowErrs[i] = &ColumnError{Column: r.name, RowGroup: -1, Err: r.rowErr}
			*r.hasRowErrs = true
		}
	}
	return nil
}

// cur is the entry of leaf i of node n at the cursor.
func (r *pqNestedReader) cur(n *pqNode, i int) (*pqLeafReader, *leafEnt, error) {
	l := r.leaves[n.leaves[i]]
	if l.pos >= len(l.ents) {
		return l, nil, fmt.Errorf("leaf %q ends inside a row", l.name)
	}
	return l, &l.ents[l.pos], nil
}

// skip consumes one entry of every leaf under n for a null or empty n:
// each must hold exactly that (d == want, the same r as the first).
func (r *pqNestedReader) skip(n *pqNode, want, rep int32) error {
	for i := range n.leaves {
		l, e, err := r.cur(n, i)
		if err != nil {
			return err
		}
		if e.d != want || e.r != rep {
			return fmt.Errorf("leaf %q: levels (%d, %d) where the column's other leaves say (%d, %d)", l.name, e.r, e.d, rep, want)
		}
		l.pos++
	}
	return nil
}

// value assembles the value of node n at the leaves' cursors.
func (r *pqNestedReader) value(n *pqNode) (functions.Value, error) {
	null := functions.Null(n.column.Type)
	l, e, err := r.cur(n, 0)
	if err != nil {
		return null, err
	}
	d := int(e.d)
	if d < n.def {
		if !n.optional || d != n.def-1 {
			return null, fmt.Errorf("leaf %q: definition level %d inside a value present at level %d", l.name, d, n.def)
		}
		return null, r.skip(n, e.d, e.r)
	}
	switch n.kind {
	case pqLeafNode:
		l.pos++
		if e.err != nil {
			if r.rowErr == nil {
				r.rowErr = e.err
			}
			return null, nil
		}
		return e.v, nil
	case pqStructNode:
		n.scratch = n.scratch[:0]
		for _, ch := range n.children {
			v, err := r.value(ch)
			if err != nil {
				return null, err
			}
			n.scratch = append(n.scratch, v)
		}
		return functions.StructValue(r.alloc(n.scratch)), nil
	}
	// A list or a map.
	if d < n.repDef {
		if err := r.skip(n, e.d, e.r); err != nil {
			return null, err
		}
		if n.kind == pqMapNode {
			return functions.MapValue(nil), nil
		}
		return functions.ListValue(nil), nil
	}
	n.scratch = n.scratch[:0]
	for {
		for _, ch := range n.children {
			v, err := r.value(ch)
			if err != nil {
				return null, err
			}
			if n.kind == pqMapNode && ch == n.children[0] && !v.Valid && r.rowErr == nil {
				r.rowErr = fmt.Errorf("%w: a null map key (a map entry has a key)", ErrInexactValue)
			}
			n.scratch = append(n.scratch, v)
		}
		// Another element when the next entry repeats at this level;
		// every leaf under n must agree.
		more := false
		for i := range n.leaves {
			l := r.leaves[n.leaves[i]]
			next := l.pos < len(l.ents) && int(l.ents[l.pos].r) >= n.rep
			if next && int(l.ents[l.pos].r) > n.rep {
				return null, fmt.Errorf("leaf %q: repetition level %d after a complete element of a list at level %d", l.name, l.ents[l.pos].r, n.rep)
			}
			if i == 0 {
				more = next
			} else if next != more {
				return null, fmt.Errorf("leaf %q: the list at repetition level %d goes on in one leaf and ends in another", l.name, n.rep)
			}
		}
		if !more {
			break
		}
	}
	items := r.alloc(n.scratch)
	if n.kind == pqMapNode {
		return functions.MapValue(items), nil
	}
	return functions.ListValue(items), nil
}

// nestedColumn is the schema column of a nested column.
func nestedColumn(n *pqNode) functions.Column { return n.column.Named(n.name) }

// nestedCastable reports whether every value of the nested column type
// from reads exactly as the type to, which the union of several files'
// schemas gives (widerColumn in the planner): the same kinds, elements,
// keys and values castable, every field of a struct in to's (by name; to
// may have more, read as null), flat leaves as castable says.
func nestedCastable(from, to functions.Column) bool {
	if !from.IsNested() && !to.IsNested() {
		return castable(from.Type, to.Type)
	}
	if from.Type != to.Type {
		return false
	}
	switch from.Type.Kind() {
	case functions.KindList:
		return nestedCastable(from.Elem(), to.Elem())
	case functions.KindMap:
		return nestedCastable(from.MapKey(), to.MapKey()) && nestedCastable(from.MapValue(), to.MapValue())
	}
	for _, f := range from.Fields {
		j := slices.IndexFunc(to.Fields, func(g functions.Column) bool { return g.Name == f.Name })
		if j < 0 || !nestedCastable(f, to.Fields[j]) {
			return false
		}
	}
	return true
}

// cast converts v, a value of from, to the type to (nestedCastable).
func (r *pqNestedReader) cast(v functions.Value, from, to functions.Column) functions.Value {
	if !v.Valid {
		return functions.Null(to.Type)
	}
	if !to.IsNested() {
		return castValue(v, to.Type)
	}
	items := v.Items()
	switch to.Type.Kind() {
	case functions.KindList:
		out := make([]functions.Value, len(items))
		for i, e := range items {
			out[i] = r.cast(e, from.Elem(), to.Elem())
		}
		return functions.ListValue(out)
	case functions.KindMap:
		out := make([]functions.Value, len(items))
		for i := 0; i < len(items); i += 2 {
			out[i] = r.cast(items[i], from.MapKey(), to.MapKey())
			out[i+1] = r.cast(items[i+1], from.MapValue(), to.MapValue())
		}
		return functions.MapValue(out)
	}
	out := make([]functions.Value, len(to.Fields))
	for j, g := range to.Fields {
		out[j] = functions.Null(g.Type)
		for i, f := range from.Fields {
			if f.Name == g.Name {
				out[j] = r.cast(items[i], f, g)
				break
			}
		}
	}
	return functions.StructValue(out)
}
