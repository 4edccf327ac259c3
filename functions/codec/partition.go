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
// / \ % = : # ? * " < > | ' [ ] { } ^ ~ become %XX (uppercase hex), as
// does a leading '.' (so "." and ".." cannot arise); other UTF-8 (spaces,
// "żółw", "日本") is kept. A null or empty value is DefaultPartition (a
// string value equal to DefaultPartition therefore reads back as null, as
// in Hive).
//
// Text that cannot be kept exactly ends with "~" and 16 hex digits of the
// SHA-256 of the whole text; '~' itself is always escaped, so such a path
// never equals another value's. That is: a value whose escaped form is
// longer than 200 bytes (less when the escaped name is longer than 54
// bytes, so that the segment stays within 255 bytes, the limit of common
// filesystems) or a name longer than 120 bytes, cut at a character
// boundary; and text that is not valid UTF-8, whose bad bytes become
// U+FFFD. Readers then see that form, not the original value (which stays
// in the data files when the column is also written there).
//
// What DuckDB 1.5 gives back (read_parquet(..., hive_partitioning=true),
// checked by TestPartitionPathDuckDB): it percent-decodes partition
// values, so every escaped value reads back as the original text (a cut
// value as its cut form, "~" included) and DefaultPartition reads back as
// NULL. It does not decode partition column names: a name with escaped
// characters ("odd name%" -> "odd name%25") appears escaped, so partition
// columns are best named with letters, digits and '_'. A path value that
// decodes to invalid UTF-8 makes DuckDB fail the whole query, which is why
// such text is replaced rather than escaped byte by byte.
func PartitionPath(names []string, vals []functions.Value) string {
	if len(names) != len(vals) {
		panic(fmt.Sprintf("codec.PartitionPath: %d names, %d values", len(names), len(vals)))
	}
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('/')
		}
		n := pathName(name, maxPartitionNameBytes)
		b.WriteString(n)
		b.WriteByte('=')
		v := vals[i]
		if v.Type == functions.Float64 && v.F == 0 {
			v.F = 0 // -0 and +0 share a partition, as they share a group
		}
		text := v.Text()
		if !v.Valid || text == "" {
			b.WriteString(DefaultPartition)
			continue
		}
		b.WriteString(pathName(text, min(maxPartitionValueBytes, maxSegmentBytes-len(n)-1)))
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

// pathName escapes a name or value and limits its length. Text that is
// not valid UTF-8 has its bad bytes replaced by U+FFFD (DuckDB refuses to
// read a path value that decodes to invalid UTF-8) and gets the hash
// suffix, so that it stays distinct.
func pathName(s string, limit int) string {
	if !utf8.ValidString(s) {
		esc := escapePathName(strings.ToValidUTF8(s, "\uFFFD"))
		return cutWithHash(esc, s, min(limit, len(esc)+hashSuffixBytes))
	}
	esc := escapePathName(s)
	if len(esc) <= limit {
		return esc
	}
	return cutWithHash(esc, s, limit)
}

// cutWithHash cuts an escaped name or value longer than limit at a
// character (or %XX) boundary and appends "~" and a hash of the original.
func cutWithHash(esc, original string, limit int) string {
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
