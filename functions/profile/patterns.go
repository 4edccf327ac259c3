package profile

import (
	"cmp"
	"errors"
	"slices"
	"strings"
)

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
