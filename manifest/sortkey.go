package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// SortKey is one column of a job's output order (JobSpec.SortBy): rows
// are sorted within each output file by the first key, then the next.
// The zero flags are DuckDB's defaults: ascending, nulls last (in both
// directions). In JSON a key is its text, as ParseSortKey reads it.
type SortKey struct {
	Column     string
	Desc       bool
	NullsFirst bool
}

// String is the key as ParseSortKey reads it, with every part spelled
// out: `amount DESC NULLS LAST`; a name that holds a comma, a space or a
// quote is quoted ("a b"), a quote doubled.
func (k SortKey) String() string {
	name := k.Column
	if name == "" || strings.ContainsAny(name, ", \t\"") {
		name = `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
	}
	dir, nulls := " ASC", " NULLS LAST"
	if k.Desc {
		dir = " DESC"
	}
	if k.NullsFirst {
		nulls = " NULLS FIRST"
	}
	return name + dir + nulls
}

func (k SortKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *SortKey) UnmarshalText(b []byte) error {
	v, err := ParseSortKey(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseSortKey reads one key as DuckDB's ORDER BY spells it: a column name
// (double-quoted when it holds spaces or commas, a quote doubled), then
// optionally ASC or DESC, then optionally NULLS FIRST or NULLS LAST,
// case-insensitively: `ts`, `amount desc`, `"unit price" DESC NULLS FIRST`.
func ParseSortKey(s string) (SortKey, error) {
	var k SortKey
	rest := strings.TrimSpace(s)
	if strings.HasPrefix(rest, `"`) {
		var b strings.Builder
		closed := false
		i := 1
		for ; i < len(rest); i++ {
			if rest[i] != '"' {
				b.WriteByte(rest[i])
				continue
			}
			if i+1 < len(rest) && rest[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			closed = true
			break
		}
		if !closed {
			return k, fmt.Errorf("sort key %q: quoted column name not closed", s)
		}
		k.Column, rest = b.String(), rest[i+1:]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return k, fmt.Errorf("sort key %q: %q after the quoted name", s, rest)
		}
	} else {
		name, after, _ := strings.Cut(rest, " ")
		k.Column, rest = name, after
	}
	if k.Column == "" {
		return k, fmt.Errorf("sort key %q: no column name", s)
	}
	words := strings.Fields(strings.ToUpper(rest))
	if len(words) > 0 && (words[0] == "ASC" || words[0] == "DESC") {
		k.Desc = words[0] == "DESC"
		words = words[1:]
	}
	if len(words) >= 2 && words[0] == "NULLS" && (words[1] == "FIRST" || words[1] == "LAST") {
		k.NullsFirst = words[1] == "FIRST"
		words = words[2:]
	}
	if len(words) > 0 {
		return k, fmt.Errorf("sort key %q: %q is not ASC, DESC, NULLS FIRST or NULLS LAST", s, strings.Join(words, " "))
	}
	return k, nil
}

// ParseSortBy reads a comma-separated list of keys (ParseSortKey; a comma
// inside a quoted name is the name's): "region, amount DESC NULLS FIRST".
// The empty string is no keys.
func ParseSortBy(s string) ([]SortKey, error) {
	var keys []SortKey
	start, quoted := 0, false
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] == '"' {
			quoted = !quoted
		}
		if i < len(s) && (s[i] != ',' || quoted) {
			continue
		}
		part := s[start:i]
		start = i + 1
		if strings.TrimSpace(part) == "" {
			if i == len(s) && len(keys) == 0 {
				break
			}
			return nil, fmt.Errorf("sort by %q: empty key", s)
		}
		k, err := ParseSortKey(part)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// validateSortBy checks the keys of a spec: named, each column once, and
// not a partition column (constant within a file).
func validateSortBy(keys []SortKey, partitionBy []string) []error {
	var errs []error
	seen := map[string]bool{}
	for i, k := range keys {
		field := fmt.Sprintf("sort_by[%d]", i)
		switch {
		case k.Column == "":
			errs = append(errs, &FieldError{Field: field, Err: errors.New("empty column name")})
		case seen[k.Column]:
			errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf("column %q given twice", k.Column)})
		}
		for _, p := range partitionBy {
			if p == k.Column {
				errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf("column %q is a partition column: it has one value in each file", k.Column)})
			}
		}
		seen[k.Column] = true
	}
	return errs
}
