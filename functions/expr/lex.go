package expr

import (
	"strings"
)

type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // bare identifier or keyword
	tQIdent         // "quoted identifier"
	tString         // 'string'
	tNumber
	tOp // = == != <> < <= > >= ~ !~
	tLParen
	tRParen
	tComma
	tDot    // . between a nested column and its field
	tLBrack // [ of an element or map key
	tRBrack
)

// token is one lexeme. text is unescaped for strings and quoted identifiers.
type token struct {
	kind tokKind
	pos  int // byte offset in the source
	text string
}

// describe names the token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return "string " + quoteString(t.text)
	case tQIdent:
		return "column " + quoteIdent(t.text)
	}
	return "'" + t.text + "'"
}

// isKeyword reports whether t is the bare keyword kw (lowercase).
func (t token) isKeyword(kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

var keywords = []string{"and", "or", "not", "is", "null", "in", "like", "true", "false"}

func isReserved(word string) bool {
	for _, kw := range keywords {
		if strings.EqualFold(word, kw) {
			return true
		}
	}
	return false
}

// lex splits src into tokens, ending with a tEOF token.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i == len(src) {
			return append(toks, token{kind: tEOF, pos: i}), nil
		}
		start := i
		c := src[i]
		switch {
		case strings.IndexByte("(),", c) >= 0:
			kind := [...]tokKind{tLParen, tRParen, tComma}[strings.IndexByte("(),", c)]
			toks = append(toks, token{kind: kind, pos: i, text: src[i : i+1]})
			i++
		case c == '\'' || c == '"':
			text, n, ok := scanQuoted(src[i:], c)
			if !ok {
				what := "string"
				if c == '"' {
					what = "quoted column name"
				}
				return nil, errorf(src, start, "unterminated %s", what)
			}
			kind := tString
			if c == '"' {
				kind = tQIdent
			}
			toks = append(toks, token{kind: kind, pos: start, text: text})
			i += n
		case isIdentStart(c):
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			toks = append(toks, token{kind: tIdent, pos: start, text: src[start:i]})
		case isDigit(c) || (c == '-' || c == '.') && i+1 < len(src) && isDigit(src[i+1]):
			i = scanNumber(src, i)
			if i < len(src) && (isIdentPart(src[i]) || src[i] == '.') {
				for i < len(src) && (isIdentPart(src[i]) || src[i] == '.') {
					i++
				}
				return nil, errorf(src, start, "invalid number %q", src[start:i])
			}
			toks = append(toks, token{kind: tNumber, pos: start, text: src[start:i]})
		case c == '.' || c == '[' || c == ']':
			kind := [...]tokKind{tDot, tLBrack, tRBrack}[strings.IndexByte(".[]", c)]
			toks = append(toks, token{kind: kind, pos: i, text: src[i : i+1]})
			i++
		default:
			op := scanOp(src[i:])
			if op == "" {
				r := []rune(src[i:])[0]
				return nil, errorf(src, start, "unexpected character %q", r)
			}
			toks = append(toks, token{kind: tOp, pos: start, text: op})
			i += len(op)
		}
	}
}

// scanQuoted reads a string quoted with q, where a doubled q stands for one.
// It returns the unescaped text and the number of bytes consumed.
func scanQuoted(s string, q byte) (text string, n int, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return "", 0, false
}

// scanNumber returns the end of the number starting at i: an optional minus,
// digits with an optional fraction, and an optional exponent.
func scanNumber(s string, i int) int {
	if s[i] == '-' {
		i++
	}
	i = skipDigits(s, i)
	if i < len(s) && s[i] == '.' {
		i = skipDigits(s, i+1)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if k := skipDigits(s, j); k > j {
			i = k
		}
	}
	return i
}

func skipDigits(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

var ops = []string{"==", "!=", "<>", "<=", ">=", "!~", "=", "<", ">", "~"}

func scanOp(s string) string {
	for _, op := range ops {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}

func isSpace(c byte) bool      { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// quoteIdent renders a column name the way the language reads it back.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quoteString renders a string literal the way the language reads it back.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
