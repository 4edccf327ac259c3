package codec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
)

// DefaultPartition is the path value of a null or empty partition value,
// as in Hive, Spark and DuckDB (which read it back as NULL).
const DefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// Partition path segment limits: a path segment longer than 255 bytes
// fails on common local filesystems.
const (
	maxPartitionValueBytes = 200
	maxPartitionNameBytes  = 120
	maxSegmentBytes        = 255
	hashSuffixBytes        = 17 // "~" and 16 hex digits
)

// PartitionPath returns the Hive-style path "name=value/name2=value2" of
// one partition (without a trailing slash). It panics if names and vals
// differ in length.
//
// Names and values (rendered with Value.Text) are escaped like Hive's and
// Spark's escapePathName, so that no value can add a path level or leave
// the output prefix: control characters, DEL, and
// / \ % = : # ? * " < > | ' [ ] { } ^ ~ become %XX (uppercase hex), as do
// bytes that are not valid UTF-8 and a leading '.' (so "." and ".." cannot
// arise); other UTF-8 (spaces, "żółw", "日本") is kept. A null or empty
// value is DefaultPartition (a string value equal to DefaultPartition
// therefore reads back as null, as in Hive).
//
// A value whose escaped form is longer than 200 bytes (less when the
// escaped name is longer than 54 bytes, so that the segment stays within
// 255 bytes), and a name longer than 120 bytes, is cut at a character
// boundary and ends with "~" and 16 hex digits of the SHA-256 of the whole
// unescaped text; '~' itself is always escaped, so a cut value cannot equal
// any other value's path. Readers (DuckDB, Spark) then see the cut form,
// not the original value, which stays in the data files when the column is
// also written there.
//
// DuckDB 1.5 (read_parquet with hive_partitioning=true) percent-decodes
// partition values: every escaped value reads back as the original text,
// and DefaultPartition reads back as NULL. See TestPartitionPathDuckDB.
func PartitionPath(names []string, vals []functions.Value) string {
	if len(names) != len(vals) {
		panic(fmt.Sprintf("codec.PartitionPath: %d names, %d values", len(names), len(vals)))
	}
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('/')
		}
		n := limitEscaped(escapePathName(name), name, maxPartitionNameBytes)
		b.WriteString(n)
		b.WriteByte('=')
		text := vals[i].Text()
		if !vals[i].Valid || text == "" {
			b.WriteString(DefaultPartition)
			continue
		}
		limit := min(maxPartitionValueBytes, maxSegmentBytes-len(n)-1)
		b.WriteString(limitEscaped(escapePathName(text), text, limit))
	}
	return b.String()
}

// UnescapePartitionValue undoes the %XX escapes of a path name or value
// (upper or lower case hex); a '%' not followed by two hex digits stays as
// it is. DefaultPartition is returned unchanged: compare with it to find
// nulls.
func UnescapePartitionValue(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// escapeByte lists the ASCII bytes escaped in path names.
var escapeByte = func() (t [128]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t[0x7f] = true
	for _, c := range []byte("/\\%=:#?*\"<>|'[]{}^~") {
		t[c] = true
	}
	return t
}()

func escapePathName(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); {
		c := s[i]
		esc := false
		size := 1
		switch {
		case c < utf8.RuneSelf:
			esc = escapeByte[c] || (i == 0 && c == '.')
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				esc = true
			} else {
				size = n
			}
		}
		if esc && b == nil {
			b = make([]byte, i, len(s)+8)
			copy(b, s[:i])
		}
		switch {
		case esc:
			b = append(b, '%', hexdigits[c>>4], hexdigits[c&15])
		case b != nil:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	if b == nil {
		return s
	}
	return string(b)
}

// limitEscaped cuts an escaped name or value longer than limit at a
// character (or %XX) boundary and appends "~" and a hash of the original.
func limitEscaped(esc, original string, limit int) string {
	if len(esc) <= limit {
		return esc
	}
	keep := limit - hashSuffixBytes
	cut := 0
	for cut < len(esc) {
		n := 1
		if esc[cut] == '%' {
			n = 3
		} else if esc[cut] >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(esc[cut:])
		}
		if cut+n > keep {
			break
		}
		cut += n
	}
	sum := sha256.Sum256([]byte(original))
	return esc[:cut] + "~" + hex.EncodeToString(sum[:8])
}
