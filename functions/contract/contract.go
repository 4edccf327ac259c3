// Package contract is fanout's data contract: a YAML or JSON document that
// says what every record of a dataset must look like (columns with a type,
// required or nullable, ranges, allowed values, patterns, lengths,
// timestamp formats; whole-record rules; the primary key) and which
// explicit cleansing may be applied first (trim, case, type coercion,
// defaults).
//
// Parse reads a contract; Compile fixes it against the input schema into a
// Validator, which checks one record at a time and returns every rule the
// record broke, each named (functions.Violation), together with the typed,
// cleansed row. The validate built-in (functions/builtin) runs a Validator
// over every record of a job, sends valid rows to the output and broken
// ones to the engine's rejected side output; a Profiler proposes a
// contract from a sample (`fanout infer`).
//
// The format is documented with an example in docs/contracts.md.
package contract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/expr"
)

// Version is the contract format version this package reads and writes.
const Version = 1

// Contract is a parsed data contract.
type Contract struct {
	// Version is the format version; 0 means Version.
	Version     int    `yaml:"version,omitempty"`
	Name        string `yaml:"name,omitempty"`
	Description string `yaml:"description,omitempty"`
	// PrimaryKey lists the columns whose values identify a record. They
	// are required; their duplicates across a whole job are reported by
	// the duplicates built-in.
	PrimaryKey []string `yaml:"primary_key,omitempty,flow"`
	// Cleansing is the cleansing every column gets unless it says
	// otherwise.
	Cleansing Cleansing `yaml:"cleansing,omitempty"`
	Columns   []Column  `yaml:"columns"`
	Rules     []Rule    `yaml:"rules,omitempty"`
}

// Cleansing is the explicit cleansing applied to a value before it is
// checked. Every change it makes to a record that is written is counted.
type Cleansing struct {
	// Trim removes leading and trailing white space from strings.
	Trim bool `yaml:"trim,omitempty"`
	// Case is lower or upper: strings are converted to it.
	Case string `yaml:"case,omitempty"`
	// Coerce accepts values of a near type: integral decimals (42.0,
	// 1e3) for int64; yes/no, y/n, t/f, on/off for bool; epoch seconds
	// and the default layouts for a timestamp with a format.
	Coerce bool `yaml:"coerce,omitempty"`
}

// Column is one column's contract.
type Column struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Type is string (default), int64, float64, bool or timestamp (and the
	// aliases functions.ParseType accepts).
	Type string `yaml:"type,omitempty"`
	// Required means the value must be present: not null and not empty.
	Required bool `yaml:"required,omitempty"`
	// Nullable false is another way to say Required.
	Nullable *bool `yaml:"nullable,omitempty"`
	// Min and Max bound the value (inclusive): numbers, timestamps, or
	// strings (compared byte-wise).
	Min *Literal `yaml:"min,omitempty"`
	Max *Literal `yaml:"max,omitempty"`
	// Allowed lists the only values accepted.
	Allowed []Literal `yaml:"allowed,omitempty,flow"`
	// Pattern is a Go regular expression the whole string must match.
	Pattern string `yaml:"pattern,omitempty"`
	// MinLength and MaxLength bound a string's length in characters.
	MinLength *int `yaml:"min_length,omitempty"`
	MaxLength *int `yaml:"max_length,omitempty"`
	// Format is a timestamp's layout: a Go layout (2006-01-02 15:04:05),
	// a strftime pattern (%Y-%m-%d %H:%M:%S), or rfc3339, date, unix
	// (epoch seconds) or unix_ms. Without it a timestamp is RFC 3339, with
	// a space instead of the T, or a date.
	Format string `yaml:"format,omitempty"`
	// Trim, Case and Coerce override the contract's Cleansing for this
	// column (Case "none" turns it off).
	Trim   *bool   `yaml:"trim,omitempty"`
	Case   *string `yaml:"case,omitempty"`
	Coerce *bool   `yaml:"coerce,omitempty"`
	// Default replaces a missing value (null or empty).
	Default *Literal `yaml:"default,omitempty"`
}

// Rule is a whole-record rule. Exactly one of Check and Require is set.
type Rule struct {
	// Name identifies the rule in rejected records and in the report.
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Check is an expression (the where language of functions/expr, over
	// the contract's typed columns) that a record must not make false.
	// As in SQL's CHECK, a check that is unknown because of a null passes.
	Check string `yaml:"check,omitempty"`
	// Require lists columns that must be present (not null, not empty)
	// when the condition holds: When (an expression that is true) or
	// WhenPresent (a column that has a value); always when neither is set.
	Require     []string `yaml:"require,omitempty,flow"`
	When        string   `yaml:"when,omitempty"`
	WhenPresent string   `yaml:"when_present,omitempty"`
}

// Literal is a scalar of a contract (a bound, an allowed value, a
// default) as written; Compile converts it to its column's type.
type Literal string

// UnmarshalYAML accepts any scalar (number, string, bool, date).
func (l *Literal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return fmt.Errorf("line %d: want a single value (a number, a string or a bool)", n.Line)
	}
	*l = Literal(n.Value)
	return nil
}

// MarshalYAML writes numbers and bools plainly and anything else as a
// string.
func (l Literal) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: string(l), Tag: "!!str"}
	var probe any
	if err := yaml.Unmarshal([]byte(l), &probe); err == nil {
		switch probe.(type) {
		case int, int64, uint64, float64, bool:
			n.Tag = ""
		}
	}
	return n, nil
}

// Rule kinds of column rules, and of records the reader could not parse.
// They name violations (functions.Violation.Rule) and the report's
// per-rule counts; a record rule cannot take one of these names.
const (
	RuleRequired  = "required"
	RuleType      = "type"
	RuleMin       = "min"
	RuleMax       = "max"
	RuleAllowed   = "allowed"
	RulePattern   = "pattern"
	RuleMinLength = "min_length"
	RuleMaxLength = "max_length"
	// RuleMalformed is a record the reader could not parse (bad quoting,
	// a wrong number of CSV fields, a line that is not a JSON object).
	RuleMalformed = functions.RuleMalformed
	// RuleEncoding is a record that is not valid UTF-8.
	RuleEncoding = functions.RuleEncoding
)

var reservedRules = []string{RuleRequired, RuleType, RuleMin, RuleMax, RuleAllowed, RulePattern,
	RuleMinLength, RuleMaxLength, RuleMalformed, RuleEncoding}

// ruleName is what a record rule may be called.
var ruleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Parse reads a contract written in YAML or JSON (JSON is YAML too) and
// checks it: unknown fields, unknown types, duplicate or unknown columns,
// bad rules are errors naming what is wrong. Expressions and literals are
// checked by Compile, which knows the types.
func Parse(data []byte) (*Contract, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Contract
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("contract: empty document")
		}
		return nil, fmt.Errorf("contract: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("contract: more than one document")
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// check reports the contract's structural problems, joined.
func (c *Contract) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("contract: "+format, args...)) }
	if c.Version < 0 || c.Version > Version {
		bad("version %d: this build reads version %d", c.Version, Version)
	}
	if len(c.Columns) == 0 {
		bad("no columns")
	}
	if err := checkCase(c.Cleansing.Case); err != nil {
		bad("cleansing: %v", err)
	}
	seen := map[string]bool{}
	for i, col := range c.Columns {
		where := fmt.Sprintf("columns[%d] %q", i, col.Name)
		switch {
		case col.Name == "":
			bad("columns[%d]: no name", i)
		case seen[col.Name]:
			bad("%s: column listed twice", where)
		case strings.ContainsAny(col.Name, ",:"):
			// Schemas travel as name:type,... (see functions.ParseSchema).
			bad("%s: a column name cannot hold a comma or a colon", where)
		}
		seen[col.Name] = true
		t, err := col.typ()
		if err != nil {
			bad("%s: %v", where, err)
			continue
		}
		if col.Nullable != nil && *col.Nullable && col.Required {
			bad("%s: both required and nullable", where)
		}
		if col.Case != nil && *col.Case != "none" {
			if err := checkCase(*col.Case); err != nil {
				bad("%s: %v", where, err)
			}
		}
		if t != functions.String {
			switch {
			case col.Pattern != "":
				bad("%s: pattern needs a string column (the type is %v)", where, t)
			case col.MinLength != nil || col.MaxLength != nil:
				bad("%s: min_length and max_length need a string column (the type is %v)", where, t)
			case col.Case != nil && *col.Case != "none":
				bad("%s: case needs a string column (the type is %v)", where, t)
			}
		}
		if t == functions.Bool && (col.Min != nil || col.Max != nil) {
			bad("%s: a bool column has no range", where)
		}
		if col.Format != "" && t.Kind() != functions.KindTimestamp {
			bad("%s: format needs a timestamp column (the type is %v)", where, t)
		}
		if (col.MinLength != nil && *col.MinLength < 0) || (col.MaxLength != nil && *col.MaxLength < 0) {
			bad("%s: negative length", where)
		}
	}
	pk := map[string]bool{}
	for _, k := range c.PrimaryKey {
		switch {
		case !seen[k]:
			bad("primary_key: %q is not a column", k)
		case pk[k]:
			bad("primary_key: %q listed twice", k)
		}
		pk[k] = true
	}
	names := map[string]bool{}
	for i, r := range c.Rules {
		where := fmt.Sprintf("rules[%d] %q", i, r.Name)
		switch {
		case r.Name == "":
			bad("rules[%d]: no name", i)
		case !ruleName.MatchString(r.Name):
			bad("%s: a rule name is letters, digits, _, . and - (starting with a letter or _)", where)
		case slices.Contains(reservedRules, r.Name):
			bad("%s: %q names a column rule; choose another name", where, r.Name)
		case names[r.Name]:
			bad("%s: rule name used twice", where)
		}
		names[r.Name] = true
		switch {
		case r.Check != "" && len(r.Require) > 0:
			bad("%s: check and require are separate rules", where)
		case r.Check == "" && len(r.Require) == 0:
			bad("%s: give check (an expression) or require (columns)", where)
		case r.Check != "" && (r.When != "" || r.WhenPresent != ""):
			bad("%s: when and when_present go with require", where)
		case r.When != "" && r.WhenPresent != "":
			bad("%s: give when or when_present, not both", where)
		}
		for _, col := range r.Require {
			if !seen[col] {
				bad("%s: require: %q is not a column", where, col)
			}
		}
		if r.WhenPresent != "" && !seen[r.WhenPresent] {
			bad("%s: when_present: %q is not a column", where, r.WhenPresent)
		}
	}
	return errors.Join(errs...)
}

func checkCase(c string) error {
	switch c {
	case "", "lower", "upper":
		return nil
	}
	return fmt.Errorf("case %q: want lower or upper", c)
}

// typ is the column's type (string when not given).
func (col *Column) typ() (functions.Type, error) {
	if col.Type == "" {
		return functions.String, nil
	}
	if c, err := functions.ParseColumnType(col.Type); err == nil && c.IsNested() {
		return 0, fmt.Errorf("type %s: a contract checks flat columns; nested types (list, struct, map) are not supported in contracts", c.TypeString())
	}
	return functions.ParseType(col.Type)
}

// Schema is the schema of valid rows: the contract's columns, in order,
// with their types.
func (c *Contract) Schema() *functions.Schema {
	s := &functions.Schema{Columns: make([]functions.Column, len(c.Columns))}
	for i, col := range c.Columns {
		t, _ := col.typ()
		s.Columns[i] = functions.Column{Name: col.Name, Type: t}
	}
	return s
}

// ReadSchema is the schema to read the input with: the contract's columns,
// every one as a string, so that a value of the wrong type reaches the
// Validator (and is rejected with its record) instead of failing the
// reader. Parquet columns read as strings give their text.
func (c *Contract) ReadSchema() *functions.Schema {
	s := c.Schema()
	for i := range s.Columns {
		s.Columns[i].Type = functions.String
	}
	return s
}

// Marshal writes the contract as YAML.
func (c *Contract) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	return buf.Bytes(), nil
}

// compileExpr compiles a rule's expression against the valid rows'
// schema, naming the rule in the error.
func compileExpr(what, src string, s *functions.Schema) (*expr.Expr, error) {
	e, err := expr.Compile(src, s)
	if err != nil {
		return nil, fmt.Errorf("contract: %s %q: %w", what, src, err)
	}
	return e, nil
}
