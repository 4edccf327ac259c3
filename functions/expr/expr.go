package expr

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
)

// maxDepth bounds the nesting of parentheses and not, so that a hostile
// expression cannot exhaust the stack.
const maxDepth = 500

// Expr is a compiled expression. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root node
	cols []string
}

// Compile parses src and checks it against schema: every column must exist
// and every comparison must be possible. A nil schema has no columns. The
// error is an *Error.
func Compile(src string, schema *functions.Schema) (*Expr, error) {
	if schema == nil {
		schema = &functions.Schema{}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks, schema: schema}
	if toks[0].kind == tEOF {
		return nil, p.errorf(0, "empty expression")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errorf(t.pos, "expected and, or or the end of the expression, found %s", t.describe())
	}
	return &Expr{src: src, root: root, cols: p.cols}, nil
}

// Eval reports whether row, laid out as the schema the expression was
// compiled against, satisfies the expression. Unknown (a comparison with
// null) counts as false. A row shorter than the schema reads as nulls.
func (e *Expr) Eval(row functions.Row) bool { return e.root.eval(row) == yes }

// Columns lists the columns the expression reads, in order of first use.
func (e *Expr) Columns() []string { return slices.Clone(e.cols) }

// String returns the source of the expression.
func (e *Expr) String() string { return e.src }

// Error is a syntax or type error in an expression.
type Error struct {
	// Pos is the 1-based position (in characters) in the source where the
	// problem is.
	Pos int
	// Msg says what is wrong; it names the column involved, if any.
	Msg string
}

// Error renders the error as "expr: position N: message".
func (e *Error) Error() string { return fmt.Sprintf("expr: position %d: %s", e.Pos, e.Msg) }

func errorf(src string, bytePos int, format string, args ...any) *Error {
	return &Error{
		Pos: utf8.RuneCountInString(src[:bytePos]) + 1,
		Msg: fmt.Sprintf(format, args...),
	}
}

type parser struct {
	src    string
	toks   []token
	i      int
	schema *functions.Schema
	cols   []string // columns referenced, in order of first use
	depth  int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(bytePos int, format string, args ...any) error {
	return errorf(p.src, bytePos, format, args...)
}

func (p *parser) parseOr() (node, error) {
	l, err := p.parseAnd()
	for err == nil && p.peek().isKeyword("or") {
		p.next()
		var r node
		r, err = p.parseAnd()
		l = &orNode{l, r}
	}
	return l, err
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseNot()
	for err == nil && p.peek().isKeyword("and") {
		p.next()
		var r node
		r, err = p.parseNot()
		l = &andNode{l, r}
	}
	return l, err
}

func (p *parser) parseNot() (node, error) {
	t := p.peek()
	if !t.isKeyword("not") && t.kind != tLParen {
		return p.parseCmp()
	}
	p.next()
	if p.depth++; p.depth > maxDepth {
		return nil, p.errorf(t.pos, "expression nested more than %d deep", maxDepth)
	}
	defer func() { p.depth-- }()
	if t.kind == tLParen {
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errorf(c.pos, "expected ')' to close the '(' at position %d, found %s",
				utf8.RuneCountInString(p.src[:t.pos])+1, c.describe())
		}
		return x, nil
	}
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	return &notNode{x}, nil
}

func (p *parser) parseCmp() (node, error) {
	l, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if l.nested != nil && !t.isKeyword("is") {
		return nil, p.errorf(l.pos, "%s is %s: compare its fields (a.b), elements (x[1]) or map values (m['k']); only is [not] null takes a nested value", l.name, l.nested.TypeString())
	}
	switch {
	case t.kind == tOp:
		p.next()
		if t.text == "~" || t.text == "!~" {
			return p.regexp(l, t)
		}
		r, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		if r.nested != nil {
			return nil, p.errorf(r.pos, "%s is %s: compare its fields (a.b), elements (x[1]) or map values (m['k'])", r.name, r.nested.TypeString())
		}
		return p.compare(l, t, r)
	case t.isKeyword("is"):
		p.next()
		not := p.peek().isKeyword("not")
		if not {
			p.next()
		}
		if n := p.next(); !n.isKeyword("null") {
			return nil, p.errorf(n.pos, "expected null after is, found %s", n.describe())
		}
		if err := p.needColumn(l, "is null"); err != nil {
			return nil, err
		}
		return maybeNot(not, &isNullNode{x: l.operand}), nil
	case t.isKeyword("not") || t.isKeyword("in") || t.isKeyword("like"):
		p.next()
		not := t.isKeyword("not")
		if not {
			t = p.next()
		}
		var x node
		switch {
		case t.isKeyword("in"):
			x, err = p.in(l)
		case t.isKeyword("like"):
			x, err = p.like(l)
		default:
			return nil, p.errorf(t.pos, "expected in or like after not, found %s", t.describe())
		}
		if err != nil {
			return nil, err
		}
		return maybeNot(not, x), nil
	}
	if !l.null && l.typ == functions.Bool {
		return &boolNode{l.operand}, nil
	}
	return nil, p.errorf(t.pos, "expected an operator after %s, found %s", l.describe(), t.describe())
}

func maybeNot(not bool, x node) node {
	if not {
		return &notNode{x}
	}
	return x
}

// term is a parsed operand: a column or a literal.
type term struct {
	operand
	pos  int
	typ  functions.Type // the column's type, or the literal's natural type
	name string         // the column's name
	text string         // the literal's source text
	null bool           // the null literal
	str  bool           // a string literal
	// nested is the column type of a term that is a list, struct or map
	// (only is [not] null takes one).
	nested *functions.Column
}

func (t term) describe() string {
	if t.col >= 0 {
		return fmt.Sprintf("%s column %s", t.typ, t.name)
	}
	return t.text
}

func (p *parser) parseTerm() (term, error) {
	t := p.next()
	lit := term{operand: operand{col: -1}, pos: t.pos, text: t.text}
	switch t.kind {
	case tIdent:
		switch strings.ToLower(t.text) {
		case "true", "false":
			lit.typ, lit.val = functions.Bool, functions.BoolValue(strings.EqualFold(t.text, "true"))
			return lit, nil
		case "null":
			lit.null = true
			return lit, nil
		}
		if isReserved(t.text) {
			return term{}, p.errorf(t.pos, "expected a column or a literal, found keyword %s (quote a column of that name: %s)",
				strings.ToLower(t.text), quoteIdent(t.text))
		}
		return p.column(t)
	case tQIdent:
		return p.column(t)
	case tString:
		lit.text, lit.str = quoteString(t.text), true
		lit.typ, lit.val = functions.String, functions.StringValue(t.text)
		return lit, nil
	case tNumber:
		v, ok := parseNumber(t.text)
		if !ok {
			return term{}, p.errorf(t.pos, "number %s out of range", t.text)
		}
		lit.typ, lit.val = v.Type, v
		return lit, nil
	}
	return term{}, p.errorf(t.pos, "expected a column or a literal, found %s", t.describe())
}

func (p *parser) column(t token) (term, error) {
	i := p.schema.Index(t.text)
	if i < 0 {
		return term{}, p.errorf(t.pos, "unknown column %s%s", quoteIdent(t.text), p.known(t.text))
	}
	if !slices.Contains(p.cols, t.text) {
		p.cols = append(p.cols, t.text)
	}
	tm := term{operand: operand{col: i}, pos: t.pos, name: quoteIdent(t.text)}
	col := p.schema.Columns[i]
	for {
		switch k := p.peek().kind; {
		case k == tDot:
			p.next()
			f := p.next()
			if f.kind != tIdent && f.kind != tQIdent {
				return term{}, p.errorf(f.pos, "expected a field name after %s., found %s", tm.name, f.describe())
			}
			if col.Type.Kind() != functions.KindStruct {
				return term{}, p.errorf(f.pos, "%s is %s, not a struct: it has no field %s", tm.name, col.TypeString(), quoteIdent(f.text))
			}
			j := slices.IndexFunc(col.Fields, func(c functions.Column) bool { return c.Name == f.text })
			if j < 0 {
				names := make([]string, len(col.Fields))
				for n, c := range col.Fields {
					names[n] = quoteIdent(c.Name)
				}
				return term{}, p.errorf(f.pos, "%s has no field %s (fields: %s)", tm.name, quoteIdent(f.text), strings.Join(names, ", "))
			}
			col = col.Fields[j]
			tm.path = append(tm.path, step{kind: functions.KindStruct, i: j, typ: col.Type})
			tm.name += "." + quoteIdent(f.text)
		case k == tLBrack:
			open := p.next()
			at := p.next()
			if c := p.next(); c.kind != tRBrack {
				return term{}, p.errorf(c.pos, "expected ] after %s[%s, found %s", tm.name, at.text, c.describe())
			}
			st := step{kind: col.Type.Kind()}
			switch st.kind {
			case functions.KindList:
				n, err := strconv.Atoi(at.text)
				if at.kind != tNumber || err != nil || n == 0 {
					return term{}, p.errorf(at.pos, "%s is %s: index it with a non-zero integer (1 is the first element, -1 the last), not %s", tm.name, col.TypeString(), at.describe())
				}
				st.i = n
				col = col.Elem()
				tm.name += "[" + at.text + "]"
			case functions.KindMap:
				key, err := p.mapKey(at, col.MapKey())
				if err != nil {
					return term{}, p.errorf(at.pos, "%s is %s: %v", tm.name, col.TypeString(), err)
				}
				st.key = key
				col = col.MapValue()
				tm.name += "[" + at.text + "]"
			default:
				return term{}, p.errorf(open.pos, "%s is %s, not a list or map: it cannot be indexed", tm.name, col.TypeString())
			}
			st.typ = col.Type
			tm.path = append(tm.path, st)
		default:
			tm.typ = col.Type
			if col.IsNested() {
				tm.nested = &col
			}
			return tm, nil
		}
	}
}

// mapKey is the literal token t as a value of a map's key type: a string
// for string keys, an integer for integer keys.
func (p *parser) mapKey(t token, key functions.Column) (functions.Value, error) {
	switch {
	case key.Type == functions.String && t.kind == tString:
		return functions.StringValue(t.text), nil
	case key.Type.IsInteger() && t.kind == tNumber:
		if v, ok, err := functions.ParseText(key.Type, t.text); ok && err == nil {
			return v, nil
		}
		if v, err := strconv.ParseInt(t.text, 10, 64); err == nil && key.Type == functions.Int64 {
			return functions.IntValue(v), nil
		}
	}
	return functions.Value{}, fmt.Errorf("look a key up with a literal of its key type %s, not %s", key.TypeString(), t.describe())
}

// known lists the schema's columns for an unknown column's error, or
// suggests the one it most likely misspells.
func (p *parser) known(name string) string {
	names := p.schema.Names()
	if c := functions.Closest(name, names); c != "" {
		return fmt.Sprintf(" (did you mean %s?)", quoteIdent(c))
	}
	if len(names) == 0 {
		return " (the schema has no columns)"
	}
	const max = 20
	more := ""
	if len(names) > max {
		names, more = names[:max], fmt.Sprintf(", and %d more", len(names)-max)
	}
	for i, n := range names {
		if !isPlainIdent(n) {
			names[i] = quoteIdent(n)
		}
	}
	return " (columns: " + strings.Join(names, ", ") + more + ")"
}

func isPlainIdent(s string) bool {
	if s == "" || !isIdentStart(s[0]) || isReserved(s) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentPart(s[i]) {
			return false
		}
	}
	return true
}

func (p *parser) needColumn(l term, what string) error {
	if l.col < 0 {
		return p.errorf(l.pos, "the left side of %s must be a column, found %s", what, l.describe())
	}
	return nil
}

func (p *parser) needStringColumn(l term, what string) error {
	if err := p.needColumn(l, what); err != nil {
		return err
	}
	if l.typ != functions.String {
		return p.errorf(l.pos, "%s needs a string column, found %s", what, l.describe())
	}
	return nil
}

func (p *parser) compare(l term, opTok token, r term) (node, error) {
	for _, t := range []term{l, r} {
		if t.null {
			return nil, p.errorf(t.pos, "a comparison with null is never true: use is null or is not null")
		}
	}
	t1, t2 := l.typ, r.typ
	switch {
	case l.col >= 0 && r.col < 0:
		v, err := p.convert(r, l)
		if err != nil {
			return nil, err
		}
		r.val, t2 = v, v.Type
	case l.col < 0 && r.col >= 0:
		v, err := p.convert(l, r)
		if err != nil {
			return nil, err
		}
		l.val, t1 = v, v.Type
	}
	kind, ok := kindOf(t1, t2)
	if !ok {
		return nil, p.errorf(opTok.pos, "cannot compare %s with %s", l.describe(), r.describe())
	}
	return &cmpNode{l: l.operand, r: r.operand, op: opOf(opTok.text), kind: kind}, nil
}

// convert returns the literal lit as a value comparable with column col, or
// an error naming both. Numbers stay int64 or float64 for numeric columns:
// the comparison mixes them exactly.
func (p *parser) convert(lit, col term) (functions.Value, error) {
	v := lit.val
	switch col.typ {
	case functions.String:
		if lit.str {
			return v, nil
		}
		return v, p.errorf(lit.pos, "cannot compare %s with %s: write a string literal such as %s",
			col.describe(), lit.text, quoteString(lit.text))
	case functions.Int64, functions.Float64:
		switch {
		case v.Type == functions.Int64 || v.Type == functions.Float64:
			return v, nil
		case lit.str:
			if n, ok := parseNumber(v.S); ok {
				return n, nil
			}
		}
	case functions.Bool:
		switch {
		case v.Type == functions.Bool:
			return v, nil
		case lit.str:
			if b, err := strconv.ParseBool(v.S); err == nil {
				return functions.BoolValue(b), nil
			}
		}
	case functions.Timestamp:
		if lit.str {
			if t, ok := parseTime(v.S); ok {
				return functions.TimeValue(t), nil
			}
			return v, p.errorf(lit.pos, "cannot compare %s with %s: want a time such as 2024-05-01T12:00:00Z or 2024-05-01",
				col.describe(), lit.text)
		}
	default:
		return p.convertTyped(lit, col)
	}
	return v, p.errorf(lit.pos, "cannot compare %s with %s", col.describe(), lit.text)
}

// convertTyped converts a literal for a column of one of the types beyond
// the first five: exactly, or an error. Integers of any width compare as
// int64 (exactly, also with floats); float32 columns with the literal
// rounded to float32 (as DuckDB casts it); decimals, unsigned 64-bit
// integers, dates, times and the other timestamps take the literal in the
// column's own type, so that the comparison is exact (a literal with
// more digits than the decimal's scale is an error, not a rounding).
func (p *parser) convertTyped(lit, col term) (functions.Value, error) {
	v, t := lit.val, col.typ
	fail := func(why string) (functions.Value, error) {
		return v, p.errorf(lit.pos, "cannot compare %s with %s%s", col.describe(), lit.text, why)
	}
	switch {
	case t.IsInteger() && t != functions.Uint64:
		if v.Type == functions.Int64 || v.Type == functions.Float64 {
			return v, nil
		}
	case t == functions.Float32:
		switch v.Type {
		case functions.Int64:
			return functions.Value{Type: t, Valid: true, F: float64(float32(v.I))}, nil
		case functions.Float64:
			return functions.Value{Type: t, Valid: true, F: float64(float32(v.F))}, nil
		}
	case t.Kind() == functions.KindTimestamp:
		if lit.str {
			tm, ok := parseTime(v.S)
			if !ok {
				return fail(": want a time such as 2024-05-01T12:00:00Z or 2024-05-01")
			}
			tv, err := functions.TimestampAt(t, tm)
			if err != nil {
				return fail(": " + err.Error())
			}
			return tv, nil
		}
	case t == functions.Uint64 || t.Kind() == functions.KindDecimal:
		if !lit.str && (v.Type == functions.Int64 || v.Type == functions.Float64) {
			tv, _, err := functions.ParseText(t, lit.text)
			if err != nil {
				return fail(": " + err.Error())
			}
			return tv, nil
		}
	default: // date, time, binary (base64), uuid: from a string literal
		if lit.str {
			tv, ok, err := functions.ParseText(t, v.S)
			if ok && err == nil {
				return tv, nil
			}
			if err != nil {
				return fail(": " + err.Error())
			}
		}
	}
	return fail("")
}

func (p *parser) in(l term) (node, error) {
	if err := p.needColumn(l, "in"); err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != tLParen {
		return nil, p.errorf(t.pos, "expected '(' after in, found %s", t.describe())
	}
	n := &inNode{x: l.operand}
	switch l.typ.Field() {
	case functions.FieldS:
		n.strs = map[string]struct{}{}
	case functions.FieldF:
		n.floats = map[float64]struct{}{}
	default:
		n.ints = map[int64]struct{}{}
	}
	for {
		lit, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		switch {
		case lit.col >= 0:
			return nil, p.errorf(lit.pos, "an in list holds literals only, found %s", lit.describe())
		case lit.null:
			return nil, p.errorf(lit.pos, "null in an in list never matches: use is null")
		}
		v, err := p.convert(lit, l)
		if err != nil {
			return nil, err
		}
		n.add(v)
		switch t := p.next(); t.kind {
		case tComma:
		case tRParen:
			return n, nil
		default:
			return nil, p.errorf(t.pos, "expected ',' or ')' in the in list, found %s", t.describe())
		}
	}
}

func (p *parser) like(l term) (node, error) {
	if err := p.needStringColumn(l, "like"); err != nil {
		return nil, err
	}
	t := p.next()
	if t.kind != tString {
		return nil, p.errorf(t.pos, "expected a 'pattern' after like, found %s", t.describe())
	}
	return &likeNode{x: l.operand, pat: compileLike(t.text)}, nil
}

func (p *parser) regexp(l term, opTok token) (node, error) {
	if err := p.needStringColumn(l, opTok.text); err != nil {
		return nil, err
	}
	t := p.next()
	if t.kind != tString {
		return nil, p.errorf(t.pos, "expected a 'regular expression' after %s, found %s", opTok.text, t.describe())
	}
	re, err := regexp.Compile(t.text)
	if err != nil {
		return nil, p.errorf(t.pos, "bad regular expression: %v", err)
	}
	return maybeNot(opTok.text == "!~", &regexpNode{x: l.operand, re: re}), nil
}

// parseNumber reads an integer, or else a float, in decimal.
func parseNumber(s string) (functions.Value, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return functions.IntValue(i), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return functions.Value{}, false
	}
	return functions.FloatValue(f), true
}

// timeLayouts are the forms a timestamp literal may take; those without a
// zone are UTC.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
