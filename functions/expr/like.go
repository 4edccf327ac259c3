package expr

import (
	"strings"
	"unicode/utf8"
)

// likeTok is one piece of a like pattern.
type likeTok struct {
	kind likeKind
	lit  string // for likeLit
}

type likeKind uint8

const (
	likeLit  likeKind = iota // a literal run of bytes
	likeOne                  // _: one character
	likeMany                 // %: any run of characters
)

// compileLike splits a like pattern into literal runs and wildcards. A
// backslash makes the character after it literal; a trailing backslash is
// itself literal. Runs of % collapse into one.
func compileLike(pat string) []likeTok {
	var toks []likeTok
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, likeTok{kind: likeLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '%':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != likeMany {
				toks = append(toks, likeTok{kind: likeMany})
			}
		case '_':
			flush()
			toks = append(toks, likeTok{kind: likeOne})
		case '\\':
			if i+1 == len(pat) {
				lit.WriteByte(c)
				continue
			}
			_, n := utf8.DecodeRuneInString(pat[i+1:])
			lit.WriteString(pat[i+1 : i+1+n])
			i += n
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return toks
}

// likeMatch reports whether s matches the whole pattern. On a mismatch it
// backtracks only to the most recent %, letting it absorb one more
// character: that is enough, because everything after a % matches
// deterministically until the next %. Time is O(len(s)·len(pat)); it never
// allocates.
func likeMatch(pat []likeTok, s string) bool {
	pi, si := 0, 0
	star, starS := -1, 0 // the last % seen and where its match ends
	for {
		if pi < len(pat) {
			switch t := pat[pi]; t.kind {
			case likeMany:
				star, starS = pi, si
				pi++
				continue
			case likeOne:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					pi++
					continue
				}
			case likeLit:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					pi++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if star < 0 || starS == len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		pi, si = star+1, starS
	}
}
