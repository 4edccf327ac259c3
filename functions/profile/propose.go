package profile

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/contract"
)

// maxAllowed is the most values a proposed allowed list has; a list is
// proposed only when the column has at least allowedRatio values per
// distinct value and its top values are exact.
const (
	maxAllowed   = 12
	allowedRatio = 3
	// idLikeShare: an integer or string column whose distinct count is at
	// least this share of its values is an identifier: no range is
	// proposed for it.
	idLikeShare = 0.95
)

// ProposeOptions are the settings of Propose.
type ProposeOptions struct {
	// Name and Source go into the contract's name and header comment.
	Name   string
	Source string
	// Ranges proposes min and max for identifier-like and timestamp
	// columns too.
	Ranges bool
}

// Proposal is a proposed contract with, per column, what backs each of
// its rules.
type Proposal struct {
	Contract *contract.Contract
	// Notes has one line per column: the share of records backing each
	// proposed rule.
	Notes []string
}

// Propose proposes a contract that every profiled record passes: the
// inferred type (every value parses as it), required where no value was
// missing, ranges from the whole data (not for identifier-like or
// timestamp columns unless opts.Ranges), and allowed values where the
// exact distinct values are few relative to the count.
func (p *Profile) Propose(opts ProposeOptions) *Proposal {
	c := &contract.Contract{Version: contract.Version, Name: opts.Name}
	pr := &Proposal{Contract: c}
	for _, col := range p.Columns {
		cs := col.summary
		cc := contract.Column{Name: col.Name, Type: col.InferredType}
		var notes []string
		total := col.Count + col.Nulls
		if cs != nil && col.InferredType != "string" && col.Count > 0 {
			notes = append(notes, fmt.Sprintf("type %s: %s", col.InferredType, share(col.Count, col.Count)))
		}
		if col.Nulls == 0 && col.Count > 0 {
			cc.Required = true
			notes = append(notes, "required: "+share(col.Count, total))
		} else {
			notes = append(notes, fmt.Sprintf("nullable: %d of %d missing", col.Nulls, total))
		}
		idLike := col.Count > 1 && float64(col.Distinct) >= idLikeShare*float64(col.Count)
		typ, _ := functions.ParseType(col.InferredType)
		switch k := typ.Kind(); {
		case col.Min == "" || col.Max == "":
			// no range known
		case numericType(typ):
			if (!idLike || opts.Ranges) && col.Count > 0 {
				cc.Min, cc.Max = lit(col.Min), lit(col.Max)
				notes = append(notes, fmt.Sprintf("range [%s, %s]: %s", col.Min, col.Max, share(col.Count, col.Count)))
			} else if idLike {
				notes = append(notes, "identifier-like: no range")
			}
		case k == functions.KindTimestamp || k == functions.KindDate:
			if opts.Ranges && col.Count > 0 {
				cc.Min, cc.Max = lit(col.Min), lit(col.Max)
				notes = append(notes, fmt.Sprintf("range [%s, %s]: %s", col.Min, col.Max, share(col.Count, col.Count)))
			}
		case typ == functions.String:
			if cs != nil && cs.TopError == 0 && len(cs.Top) > 0 && len(cs.Top) <= maxAllowed && col.Count >= allowedRatio*int64(len(cs.Top)) {
				for _, v := range sortedValues(cs.Top) {
					cc.Allowed = append(cc.Allowed, contract.Literal(v))
				}
				notes = append(notes, fmt.Sprintf("%d allowed values: %s", len(cs.Top), share(col.Count, col.Count)))
			} else if cs != nil && !cs.ShapesOver && len(cs.Shapes) == 1 && col.Count > 0 {
				for shape := range cs.Shapes {
					cc.Pattern = shapePattern(shape)
				}
				notes = append(notes, fmt.Sprintf("pattern: %s", share(col.Count, col.Count)))
			}
		}
		pr.Notes = append(pr.Notes, strings.Join(notes, "; "))
		c.Columns = append(c.Columns, cc)
	}
	c.Rules = p.requiredWhen()
	return pr
}

// minRuleSupport is the fewest records a "required when" rule must rest
// on.
const minRuleSupport = 30

// requiredWhen proposes, for a column that is sometimes missing, that it
// is required when a text column with few values has one of the values
// under which it was never missing (at least minRuleSupport records each),
// while under another value it was missing: status = 'shipped' requires
// shipped_at.
func (p *Profile) requiredWhen() []contract.Rule {
	var rules []contract.Rule
	for x, col := range p.Columns {
		if col.Nulls == 0 || col.Count == 0 || !plainName(col.Name) {
			continue
		}
		for _, by := range p.Columns {
			cs := by.summary
			if by.Name == col.Name || cs == nil || cs.CondOver || len(cs.Cond) < 2 || !plainName(by.Name) || col.InferredType == "" {
				continue
			}
			var always []string
			sometimes := false
			for _, v := range sortedKeys(cs.Cond) {
				counts := cs.Cond[v]
				if len(counts) <= 1+x {
					continue
				}
				switch {
				case counts[1+x] > 0:
					sometimes = true
				case counts[0] >= minRuleSupport && !strings.ContainsAny(v, "'\\"):
					always = append(always, v)
				}
			}
			if len(always) == 0 || !sometimes {
				continue
			}
			conds := make([]string, len(always))
			var n int64
			for i, v := range always {
				conds[i] = fmt.Sprintf("%s = '%s'", by.Name, v)
				n += cs.Cond[v][0]
			}
			rules = append(rules, contract.Rule{
				Name:        fmt.Sprintf("%s_required_when_%s", col.Name, by.Name),
				Description: fmt.Sprintf("never missing when %s is %s: %s", by.Name, strings.Join(always, " or "), share(n, n)),
				When:        strings.Join(conds, " or "),
				Require:     []string{col.Name},
			})
		}
	}
	return rules
}

// plainName reports a column name the where language takes as it is.
func plainName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != "" && !slices.Contains([]string{"and", "or", "not", "is", "null", "in", "like", "true", "false"}, strings.ToLower(s))
}

func sortedKeys(m map[string][]int64) []string { return slices.Sorted(maps.Keys(m)) }

// YAML writes the proposal with its notes as comments, for a person to
// review.
func (pr *Proposal) YAML(rows int64, source string) ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(pr.Contract); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if source == "" {
		source = "the input"
	}
	doc.HeadComment = fmt.Sprintf("Proposed by fanout profile from all %d records of %s:\n"+
		"every record profiled passes it. Each column says which share of the records backs each rule.\n"+
		"The format is documented in docs/contracts.md.", rows, source)
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "columns" {
			for j, item := range doc.Content[i+1].Content {
				if j < len(pr.Notes) {
					item.HeadComment = pr.Notes[j]
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return buf.Bytes(), nil
}

func share(n, of int64) string {
	if of == 0 {
		return "no records"
	}
	return fmt.Sprintf("%d of %d records (%s%%)", n, of, strconv.FormatFloat(100*float64(n)/float64(of), 'f', -1, 64))
}

func lit(s string) *contract.Literal {
	l := contract.Literal(s)
	return &l
}

func sortedValues(top []ValueCount) []string {
	out := make([]string, len(top))
	for i, vc := range top {
		out[i] = vc.Value
	}
	return sortStrings(out)
}
