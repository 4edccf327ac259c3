package codec

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSONL reader's scanner: one pass over a line that checks its JSON
// syntax as encoding/json's json.Valid does (the same grammar, the same
// nesting limit) while the reader converts the values it wants, instead
// of a json.Valid pass before the scan (a quarter of the reader's time on
// nested events). A line the scanner refuses is reported as json.Valid and
// json.Unmarshal report it (jsonlInput.lineError), so messages do not
// depend on which pass found the fault. FuzzJSONScanAgreesWithEncodingJSON
// holds the scanner to json.Valid and its strings to json.Unmarshal's.

// errJSONSyntax is the scanner's finding that a line is not JSON.
var errJSONSyntax = errors.New("invalid JSON")

// maxJSONDepth is encoding/json's nesting limit: json.Valid refuses
// arrays and objects nested deeper.
const maxJSONDepth = 10000

// jsonScan walks one line; i is the next byte to read.
type jsonScan struct {
	b []byte
	i int
}

// ws skips JSON whitespace.
func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *jsonScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// expect consumes c after whitespace.
func (s *jsonScan) expect(c byte) error {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return nil
	}
	return errJSONSyntax
}

// strStop marks the bytes that end a string's plain run: the closing
// quote, a backslash and the control characters JSON forbids in strings.
var strStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// str reads the string literal at s.i (its quote included) and returns it
// with its quotes and whether it holds an escape.
func (s *jsonScan) str() (lit []byte, escaped bool, err error) {
	b := s.b
	start := s.i
	i := s.i + 1
	for {
		for i < len(b) && !strStop[b[i]] {
			i++
		}
		if i >= len(b) {
			return nil, false, errJSONSyntax
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return b[start:s.i], escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return nil, false, errJSONSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
					return nil, false, errJSONSyntax
				}
				i += 6
			default:
				return nil, false, errJSONSyntax
			}
		default: // a control character
			return nil, false, errJSONSyntax
		}
	}
}

// hex4 decodes four hex digits, or returns -1.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number reads the number at s.i (JSON's grammar: -?(0|[1-9][0-9]*)
// (\.[0-9]+)?([eE][+-]?[0-9]+)?) and returns it.
func (s *jsonScan) number() ([]byte, error) {
	b := s.b
	start, i := s.i, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		}
	default:
		return nil, errJSONSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, errJSONSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, errJSONSyntax
		}
	}
	s.i = i
	return b[start:i], nil
}

// literal reads true, false or null at s.i.
func (s *jsonScan) literal() ([]byte, error) {
	var want string
	switch s.peek() {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	case 'n':
		want = "null"
	default:
		return nil, errJSONSyntax
	}
	if len(s.b)-s.i < len(want) || string(s.b[s.i:s.i+len(want)]) != want {
		return nil, errJSONSyntax
	}
	s.i += len(want)
	return s.b[s.i-len(want) : s.i], nil
}

// skip reads any JSON value at s.i (after whitespace) whose container is
// at nesting depth depth, and returns it.
func (s *jsonScan) skip(depth int) ([]byte, error) {
	s.ws()
	start := s.i
	var err error
	switch c := s.peek(); {
	case c == '"':
		_, _, err = s.str()
	case c == '{' || c == '[':
		err = s.skipContainer(depth + 1)
	case c == '-' || '0' <= c && c <= '9':
		_, err = s.number()
	default:
		_, err = s.literal()
	}
	if err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// skipContainer reads the array or object at s.i, itself at nesting
// depth depth.
func (s *jsonScan) skipContainer(depth int) error {
	if depth > maxJSONDepth {
		return errJSONSyntax
	}
	if s.b[s.i] == '[' {
		s.i++
		s.ws()
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if _, err := s.skip(depth); err != nil {
				return err
			}
			if more, err := s.next(']'); err != nil || !more {
				return err
			}
		}
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if _, err := s.key(); err != nil {
			return err
		}
		if _, err := s.skip(depth); err != nil {
			return err
		}
		if more, err := s.next('}'); err != nil || !more {
			return err
		}
	}
}

// key reads a member's name (its literal, quotes included) and the colon
// after it.
func (s *jsonScan) key() ([]byte, error) {
	s.ws()
	if s.peek() != '"' {
		return nil, errJSONSyntax
	}
	k, _, err := s.str()
	if err != nil {
		return nil, err
	}
	return k, s.expect(':')
}

// next reads what follows an element or member: a comma (more is true)
// or the closing byte.
func (s *jsonScan) next(closing byte) (more bool, err error) {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		return true, nil
	case closing:
		s.i++
		return false, nil
	}
	return false, errJSONSyntax
}

// appendUnquoted appends the text of lit, a valid JSON string literal
// (quotes included), as json.Unmarshal decodes it: escapes resolved, a
// surrogate pair as its character, a lone surrogate and bytes that are
// not UTF-8 as U+FFFD.
func appendUnquoted(dst, lit []byte) []byte {
	s := lit[1 : len(lit)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			if run := s[i:j]; utf8.Valid(run) {
				dst = append(dst, run...)
			} else { // json.Unmarshal's coercion to well-formed UTF-8
				for _, r := range string(run) {
					dst = utf8.AppendRune(dst, r)
				}
			}
			i = j
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// unquoteJSON decodes a valid JSON string literal (quotes included).
func unquoteJSON(v []byte) string {
	return string(appendUnquoted(make([]byte, 0, len(v)-2), v))
}
