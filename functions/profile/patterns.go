package profile

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

const (
	// maxShapes is how many shapes a column may have before none is kept.
	maxShapes = 8
	// maxShapeLen is the longest value (in bytes) a shape is taken of.
	maxShapeLen = 64
)

// appendShape appends the shape of s: each ASCII upper-case letter as 'A',
// lower-case letter as 'a', digit as '9', and every other character as
// itself escaped by a backslash. ok is false when s is too long to have a
// useful shape.
func appendShape(dst []byte, s string) ([]byte, bool) {
	if len(s) > maxShapeLen {
		return dst, false
	}
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			dst = append(dst, 'A')
		case r >= 'a' && r <= 'z':
			dst = append(dst, 'a')
		case r >= '0' && r <= '9':
			dst = append(dst, '9')
		default:
			dst = append(dst, '\\')
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst, true
}

// shapePattern turns a shape into the Go regular expression that matches
// exactly the strings of that shape: runs of a class as [A-Z]{n},
// [a-z]{n}, [0-9]{n}, other characters quoted.
func shapePattern(shape string) string {
	var b strings.Builder
	for i := 0; i < len(shape); {
		c := shape[i]
		if c == '\\' {
			r, n := utf8.DecodeRuneInString(shape[i+1:])
			b.WriteString(regexp.QuoteMeta(string(r)))
			i += 1 + n
			continue
		}
		j := i
		for j < len(shape) && shape[j] == c {
			j++
		}
		class := map[byte]string{'A': "[A-Z]", 'a': "[a-z]", '9': "[0-9]"}[c]
		if j-i == 1 {
			b.WriteString(class)
		} else {
			fmt.Fprintf(&b, "%s{%d}", class, j-i)
		}
		i = j
	}
	return b.String()
}

var errColumns = errors.New("profile: summaries of different columns")

// sortedTop orders counters by count, largest first, ties by value, so
// that the order (and the cut of a merge) is deterministic.
func sortedTop(m map[string]int64) []ValueCount {
	out := make([]ValueCount, 0, len(m))
	for k, n := range m {
		out = append(out, ValueCount{k, n})
	}
	slices.SortFunc(out, func(a, b ValueCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

// isoDate reports whether s starts as an ISO 8601 date (YYYY-MM-DD); the
// caller has checked that it parses as a timestamp.
func isoDate(s string) bool {
	return len(s) >= 10 && s[4] == '-' && s[7] == '-' && isDigits(s[:4]) && isDigits(s[5:7]) && isDigits(s[8:10])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isEmail is a plain shape check: one @, something before it, a dot in
// the domain with something on both sides, and no white space.
func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || strings.IndexByte(s[at+1:], '@') >= 0 || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	domain := s[at+1:]
	dot := strings.LastIndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-1
}

// isUUID reports the 8-4-4-4-12 hexadecimal form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func sortStrings(s []string) []string { slices.Sort(s); return s }
