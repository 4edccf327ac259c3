package functions

import (
	"strings"
	"unicode/utf8"
)

// Closest returns the candidate that name most likely misspells, for a
// "did you mean" hint, or "" when none is close: the same name in another
// case, a candidate that name abbreviates (at least three characters),
// or the nearest by edit distance when at most about a third of name
// differs.
func Closest(name string, candidates []string) string {
	lower := strings.ToLower(name)
	best, bestD := "", -1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if lc == lower {
			return c
		}
		d := editDistance(lower, lc)
		if utf8.RuneCountInString(lower) >= 3 && strings.HasPrefix(lc, lower) {
			d = 1
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(1, utf8.RuneCountInString(name)/3) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b in
// runes: insertions, deletions, substitutions and transpositions of two
// neighbours ("lien" for "line") cost one each.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
