package contract

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/expr"
)

// Validator checks records against a contract compiled for one input
// schema. It keeps scratch space and counters, so it is not safe for
// concurrent use: each task compiles its own.
type Validator struct {
	out   *functions.Schema
	pk    []int
	cols  []colCheck
	rules []ruleCheck

	counterNames []string
	counts       []int64
	pending      []int // counters the last checked record would add

	row  functions.Row
	bad  []bool // column i broke a rule in the last record
	viol []functions.Violation
}

type colCheck struct {
	name     string
	typ      functions.Type
	src      int // input column
	required bool
	trim     bool
	lower    bool
	upper    bool
	coerce   bool
	format   tsFormat
	fmtText  string
	def      *functions.Value
	min, max *functions.Value
	allowed  map[string]bool
	allowTxt string
	pattern  *regexp.Regexp
	patSrc   string
	minLen   int // -1: none
	maxLen   int // -1: none

	cTrim, cCase, cCoerce, cDefault int // counter indexes
}

type ruleCheck struct {
	name        string
	fails       *expr.Expr // not (check)
	check       string
	require     []int
	when        *expr.Expr
	whenPresent int // -1: none
	cond        string
}

// Compile fixes the contract against in, the schema the records are read
// with (normally ReadSchema: every column a string; a typed input such as
// Parquet works too, values of another type are checked through their
// text). Every contract column must be in the input. Literals, patterns,
// formats and rule expressions are checked here.
func (c *Contract) Compile(in *functions.Schema) (*Validator, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	v := &Validator{out: c.Schema()}
	pk := map[string]bool{}
	for _, k := range c.PrimaryKey {
		pk[k] = true
		v.pk = append(v.pk, v.out.Index(k))
	}
	counter := func(action, col string) int {
		v.counterNames = append(v.counterNames, action+"."+col)
		return len(v.counterNames) - 1
	}
	for i, col := range c.Columns {
		where := fmt.Sprintf("contract: column %q", col.Name)
		cc := colCheck{name: col.Name, typ: v.out.Columns[i].Type, src: in.Index(col.Name), minLen: -1, maxLen: -1,
			required: col.Required || pk[col.Name] || (col.Nullable != nil && !*col.Nullable),
			trim:     c.Cleansing.Trim, coerce: c.Cleansing.Coerce, fmtText: col.Format}
		if cc.src < 0 {
			return nil, fmt.Errorf("%s is not in the input (columns: %s)", where, strings.Join(in.Names(), ", "))
		}
		if col.Trim != nil {
			cc.trim = *col.Trim
		}
		if col.Coerce != nil {
			cc.coerce = *col.Coerce
		}
		caseTo := c.Cleansing.Case
		if col.Case != nil {
			caseTo = *col.Case
		}
		if cc.typ == functions.String {
			cc.lower, cc.upper = caseTo == "lower", caseTo == "upper"
		} else {
			cc.trim = false // other types ignore surrounding spaces anyway
		}
		var err error
		if cc.format, err = parseFormat(col.Format); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		lit := func(what string, l *Literal) (*functions.Value, error) {
			if l == nil {
				return nil, nil
			}
			val, err := parseStrict(cc.typ, string(*l), cc.format)
			if err != nil && cc.typ.Kind() == functions.KindTimestamp {
				val, err = parseStrict(cc.typ, string(*l), tsFormat{})
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %s %s is not %s", where, what, quote(string(*l)), article(cc.typ))
			}
			return &val, nil
		}
		if cc.def, err = lit("default", col.Default); err != nil {
			return nil, err
		}
		if cc.min, err = lit("min", col.Min); err != nil {
			return nil, err
		}
		if cc.max, err = lit("max", col.Max); err != nil {
			return nil, err
		}
		if cc.min != nil && cc.max != nil && functions.Compare(*cc.min, *cc.max) > 0 {
			return nil, fmt.Errorf("%s: min %s is greater than max %s", where, cc.min.Text(), cc.max.Text())
		}
		if len(col.Allowed) > 0 {
			cc.allowed = map[string]bool{}
			var shown []string
			for _, a := range col.Allowed {
				val, err := lit("allowed value", &a)
				if err != nil {
					return nil, err
				}
				cc.allowed[val.Text()] = true
				if len(shown) < 10 {
					shown = append(shown, val.Text())
				}
			}
			cc.allowTxt = strings.Join(shown, ", ")
			if len(col.Allowed) > len(shown) {
				cc.allowTxt += fmt.Sprintf(" and %d more", len(col.Allowed)-len(shown))
			}
		}
		if col.Pattern != "" {
			if cc.pattern, err = regexp.Compile(`^(?:` + col.Pattern + `)$`); err != nil {
				return nil, fmt.Errorf("%s: pattern: %w", where, err)
			}
			cc.patSrc = col.Pattern
		}
		if col.MinLength != nil {
			cc.minLen = *col.MinLength
		}
		if col.MaxLength != nil {
			cc.maxLen = *col.MaxLength
		}
		if cc.minLen >= 0 && cc.maxLen >= 0 && cc.minLen > cc.maxLen {
			return nil, fmt.Errorf("%s: min_length %d is greater than max_length %d", where, cc.minLen, cc.maxLen)
		}
		cc.cTrim, cc.cCase = counter("trim", col.Name), counter("case", col.Name)
		cc.cCoerce, cc.cDefault = counter("coerce", col.Name), counter("default", col.Name)
		v.cols = append(v.cols, cc)
	}
	for _, r := range c.Rules {
		rc := ruleCheck{name: r.Name, whenPresent: -1}
		if r.Check != "" {
			if _, err := compileExpr("rule "+r.Name+": check", r.Check, v.out); err != nil {
				return nil, err
			}
			// Broken when the check is false: not (check) is true. A
			// check that is unknown (a null) passes, as SQL's CHECK does.
			fails, err := compileExpr("rule "+r.Name+": check", "not ("+r.Check+"\n)", v.out)
			if err != nil {
				return nil, err
			}
			rc.fails, rc.check = fails, r.Check
		}
		for _, col := range r.Require {
			rc.require = append(rc.require, v.out.Index(col))
		}
		switch {
		case r.When != "":
			var err error
			if rc.when, err = compileExpr("rule "+r.Name+": when", r.When, v.out); err != nil {
				return nil, err
			}
			rc.cond = "when " + r.When
		case r.WhenPresent != "":
			rc.whenPresent = v.out.Index(r.WhenPresent)
			rc.cond = "when " + r.WhenPresent + " is present"
		}
		v.rules = append(v.rules, rc)
	}
	v.counts = make([]int64, len(v.counterNames))
	v.row = make(functions.Row, len(v.cols))
	v.bad = make([]bool, len(v.cols))
	return v, nil
}

// Schema is the schema of the rows Check returns.
func (v *Validator) Schema() *functions.Schema { return v.out }

// PrimaryKey lists the positions of the primary key's columns in the rows
// Check returns.
func (v *Validator) PrimaryKey() []int { return slices.Clone(v.pk) }

// Check cleanses and checks one record, laid out as the schema the
// Validator was compiled for. It returns the typed, cleansed row (laid out
// as Schema; a value that broke a rule is null in it) and every rule the
// record broke, empty when the record is valid. Both are valid until the
// next call. The cleansing counted by Counters is added only when the
// caller keeps the record (Accept).
func (v *Validator) Check(in functions.Row) (functions.Row, []functions.Violation) {
	v.viol = v.viol[:0]
	v.pending = v.pending[:0]
	for i := range v.cols {
		v.row[i], v.bad[i] = v.column(&v.cols[i], cell(in, v.cols[i].src))
	}
	for i := range v.rules {
		v.rule(&v.rules[i])
	}
	return v.row, v.viol
}

// Accept counts the cleansing of the last record checked: call it when the
// record is written.
func (v *Validator) Accept() {
	for _, c := range v.pending {
		v.counts[c]++
	}
	v.pending = v.pending[:0]
}

// Counters returns the cleansing counted so far by name
// (<action>.<column>, action trim, case, coerce or default), leaving out
// zeros.
func (v *Validator) Counters() map[string]int64 {
	out := map[string]int64{}
	for i, n := range v.counts {
		if n > 0 {
			out[v.counterNames[i]] = n
		}
	}
	return out
}

func (v *Validator) violate(rule, col, format string, args ...any) {
	v.viol = append(v.viol, functions.Violation{Rule: rule, Column: col, Message: fmt.Sprintf(format, args...)})
}

// column cleanses and checks one value; bad reports a broken rule.
func (v *Validator) column(c *colCheck, in functions.Value) (out functions.Value, bad bool) {
	var text string
	switch {
	case !in.Valid:
		return v.missing(c)
	case in.Type == c.typ && c.typ != functions.String:
		out = in // a typed input of the right type
	default:
		switch in.Type.Kind() {
		case functions.KindString:
			text = in.S
		case functions.KindFloat64:
			// A float into another type goes through its shortest text
			// without a forced decimal: 4.0 into an int64 column is "4".
			text = strconv.FormatFloat(in.F, 'g', -1, 64)
		case functions.KindFloat32:
			text = strconv.FormatFloat(in.F, 'g', -1, 32)
		default:
			text = in.Text()
		}
		if c.trim {
			if t := strings.TrimSpace(text); t != text {
				text = t
				v.pending = append(v.pending, c.cTrim)
			}
		}
		if text == "" || (c.typ != functions.String && strings.TrimSpace(text) == "") {
			return v.missing(c)
		}
		if c.lower || c.upper {
			t := text
			if c.lower {
				t = strings.ToLower(text)
			} else {
				t = strings.ToUpper(text)
			}
			if t != text {
				text = t
				v.pending = append(v.pending, c.cCase)
			}
		}
		var err error
		out, err = parseStrict(c.typ, text, c.format)
		if err != nil {
			var ok bool
			if c.coerce {
				out, ok = parseLenient(c.typ, text, c.format)
			}
			if !ok {
				if c.fmtText != "" {
					v.violate(RuleType, c.name, "%s is not %s in the format %q", quote(text), article(c.typ), c.fmtText)
				} else {
					v.violate(RuleType, c.name, "%s is not %s", quote(text), article(c.typ))
				}
				return functions.Null(c.typ), true
			}
			v.pending = append(v.pending, c.cCoerce)
		}
	}
	n := len(v.viol)
	if c.min != nil && functions.Compare(out, *c.min) < 0 {
		v.violate(RuleMin, c.name, "%s is less than the minimum %s", show(out), show(*c.min))
	}
	if c.max != nil && functions.Compare(out, *c.max) > 0 {
		v.violate(RuleMax, c.name, "%s is greater than the maximum %s", show(out), show(*c.max))
	}
	if c.allowed != nil && !c.allowed[out.Text()] {
		v.violate(RuleAllowed, c.name, "%s is not one of the allowed values (%s)", show(out), c.allowTxt)
	}
	if c.typ == functions.String {
		if c.pattern != nil && !c.pattern.MatchString(out.S) {
			v.violate(RulePattern, c.name, "%s does not match the pattern %s", quote(out.S), quote(c.patSrc))
		}
		if c.minLen >= 0 || c.maxLen >= 0 {
			n := utf8.RuneCountInString(out.S)
			if c.minLen >= 0 && n < c.minLen {
				v.violate(RuleMinLength, c.name, "%s is %d characters long, shorter than %d", quote(out.S), n, c.minLen)
			}
			if c.maxLen >= 0 && n > c.maxLen {
				v.violate(RuleMaxLength, c.name, "%s is %d characters long, longer than %d", quote(out.S), n, c.maxLen)
			}
		}
	}
	if len(v.viol) > n {
		return functions.Null(c.typ), true
	}
	return out, false
}

// missing handles a null or empty value: the default, or a violation when
// the column is required.
func (v *Validator) missing(c *colCheck) (functions.Value, bool) {
	switch {
	case c.def != nil:
		v.pending = append(v.pending, c.cDefault)
		return *c.def, false
	case c.required:
		v.violate(RuleRequired, c.name, "missing value")
		return functions.Null(c.typ), true
	}
	return functions.Null(c.typ), false
}

// rule checks a whole-record rule on the cleansed row. A column that
// already broke a rule is not reported again as missing.
func (v *Validator) rule(r *ruleCheck) {
	if r.fails != nil {
		if r.fails.Eval(v.row) {
			v.violate(r.name, "", "check failed: %s", r.check)
		}
		return
	}
	switch {
	case r.when != nil && !r.when.Eval(v.row):
		return
	case r.whenPresent >= 0 && !present(v.row[r.whenPresent]):
		return
	}
	for _, i := range r.require {
		if !v.bad[i] && !present(v.row[i]) {
			if r.cond != "" {
				v.violate(r.name, v.cols[i].name, "missing value, required %s", r.cond)
			} else {
				v.violate(r.name, v.cols[i].name, "missing value")
			}
		}
	}
}

// present reports a value that is neither null nor an empty string.
func present(v functions.Value) bool {
	return v.Valid && !(v.Type == functions.String && v.S == "")
}

// show renders a value for a message.
func show(v functions.Value) string {
	if v.Type == functions.String {
		return quote(v.S)
	}
	return v.Text()
}

// cell returns row[i], or null when the row is too short.
func cell(row functions.Row, i int) functions.Value {
	if i < len(row) {
		return row[i]
	}
	return functions.Value{}
}

// article names a type with its indefinite article: "an int64".
func article(t functions.Type) string {
	if t == functions.Int64 {
		return "an int64"
	}
	return "a " + t.String()
}
