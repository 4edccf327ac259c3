package builtin

import (
	"errors"
	"fmt"
	"strings"
)

// splitCommand splits a command line into words the way a POSIX shell does
// for plain words and quotes, and expands nothing: '...' is literal, "..."
// honours \" \\ \$ \` and backslash-newline, and outside quotes a backslash
// makes the next character literal. Characters that would mean something
// else to a shell (| & ; < > ( ) $ `) are an error unless quoted, so that a
// pipeline does not silently become arguments.
func splitCommand(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("the command ends with a backslash")
			}
			i++
			if s[i] != '\n' { // backslash-newline joins lines
				w.WriteByte(s[i])
				inWord = true
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' at offset %d", i)
			}
			w.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			start := i
			for i++; ; i++ {
				if i == len(s) {
					return nil, fmt.Errorf(`unterminated " at offset %d`, start)
				}
				c := s[i]
				if c == '"' {
					break
				}
				if c == '$' || c == '`' {
					return nil, fmt.Errorf("%q at offset %d expands in a shell: escape it, use '...', or set shell=true", c, i)
				}
				if c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] == '\n' {
						continue
					}
					c = s[i]
				}
				w.WriteByte(c)
			}
			inWord = true
		case strings.IndexByte("|&;<>()$`", c) >= 0:
			return nil, fmt.Errorf("%q at offset %d is shell syntax: quote it, or set shell=true", c, i)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}
