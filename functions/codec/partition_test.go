package codec

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fanout-dev/fanout/functions"
)

// hostileValues are partition values that try to escape the prefix or
// break the layout.
var hostileValues = []string{
	"plain", "../x", "a/b", "x=y", "%2e%2e", "..", ".", ".hidden", "a\\b",
	"żółw/日本", "\x00", "tab\there", "q?u*e:r\"y<>|", "#frag", "[{^}]", "'quote'",
	"a~b", "sp ace", "\x7f", "\xff\xfe", "..%2F..", "/abs", "trailing/",
	strings.Repeat("x", 1000), strings.Repeat("/", 300), strings.Repeat("ż", 300),
}

func TestPartitionPath(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		vals  []functions.Value
		want  string
	}{
		{"two levels", []string{"year", "city"}, []functions.Value{iv(2024), sv("Kraków")}, "year=2024/city=Kraków"},
		{"slash and dots", []string{"p"}, []functions.Value{sv("../x")}, "p=%2E.%2Fx"},
		{"equals", []string{"p"}, []functions.Value{sv("x=y")}, "p=x%3Dy"},
		{"percent", []string{"p"}, []functions.Value{sv("%2e%2e")}, "p=%252e%252e"},
		{"dot dot", []string{"p"}, []functions.Value{sv("..")}, "p=%2E."},
		{"null", []string{"p"}, []functions.Value{functions.Null(functions.String)}, "p=" + DefaultPartition},
		{"empty", []string{"p"}, []functions.Value{sv("")}, "p=" + DefaultPartition},
		{"null int", []string{"p"}, []functions.Value{functions.Null(functions.Int64)}, "p=" + DefaultPartition},
		{"nul byte", []string{"p"}, []functions.Value{sv("\x00")}, "p=%00"},
		{"unicode kept", []string{"p"}, []functions.Value{sv("żółw/日本")}, "p=żółw%2F日本"},
		{"name escaped", []string{"a/b=c"}, []functions.Value{sv("v")}, "a%2Fb%3Dc=v"},
		{"timestamp", []string{"t"}, []functions.Value{functions.Value{Type: functions.Timestamp, Valid: true}}, "t=1970-01-01T00%3A00%3A00Z"},
		{"bool and float", []string{"b", "f"}, []functions.Value{bv(true), fv(0.5)}, "b=true/f=0.5"},
		{"negative zero", []string{"f"}, []functions.Value{fv(math.Copysign(0, -1))}, "f=0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PartitionPath(tt.names, tt.vals); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPartitionPathHostile(t *testing.T) {
	for _, v := range hostileValues {
		t.Run(fmt.Sprintf("%.20q", v), func(t *testing.T) {
			p := PartitionPath([]string{"col", "k"}, []functions.Value{sv(v), iv(1)})
			segs := strings.Split(p, "/")
			if len(segs) != 2 || !strings.HasPrefix(segs[0], "col=") || segs[1] != "k=1" {
				t.Fatalf("path %q does not have exactly the two segments col=... and k=1", p)
			}
			for _, s := range segs {
				if s == "." || s == ".." || len(s) > 255 || !utf8.ValidString(s) || strings.ContainsAny(s, "\\\x00") {
					t.Errorf("bad segment %q", s)
				}
			}
			if clean := filepath.Clean(filepath.Join("/out", p)); !strings.HasPrefix(clean, "/out/") {
				t.Errorf("%q leaves the prefix: %q", p, clean)
			}
			esc := strings.TrimPrefix(segs[0], "col=")
			if strings.Contains(esc, "~") { // cut: the prefix reads back as a prefix of v
				if len(esc) > 200 {
					t.Errorf("cut value is %d bytes", len(esc))
				}
				prefix := UnescapePartitionValue(esc[:strings.LastIndexByte(esc, '~')])
				if utf8.ValidString(v) && !strings.HasPrefix(v, prefix) {
					t.Errorf("cut value %q is not a prefix of the original", prefix)
				}
				return
			}
			if got := UnescapePartitionValue(esc); got != v {
				t.Errorf("round trip: got %q, want %q", got, v)
			}
		})
	}
}

func TestPartitionPathInvalidUTF8(t *testing.T) {
	a := PartitionPath([]string{"p"}, []functions.Value{sv("\xff")})
	b := PartitionPath([]string{"p"}, []functions.Value{sv("\xfe")})
	if !strings.HasPrefix(a, "p=\uFFFD~") || len(a) != len("p=\uFFFD~")+16 || a == b {
		t.Errorf("got %q and %q, want p=\uFFFD~ and distinct hashes", a, b)
	}
}

func TestPartitionPathLongNameKeepsSegmentShort(t *testing.T) {
	name := strings.Repeat("n", 150)
	p := PartitionPath([]string{name}, []functions.Value{sv(strings.Repeat("v", 300))})
	if len(p) > 255 {
		t.Errorf("segment of %d bytes", len(p))
	}
	a := PartitionPath([]string{"c"}, []functions.Value{sv(strings.Repeat("v", 300) + "a")})
	b := PartitionPath([]string{"c"}, []functions.Value{sv(strings.Repeat("v", 300) + "b")})
	if a == b {
		t.Errorf("two long values share the path %q", a)
	}
}

func TestUnescapePartitionValue(t *testing.T) {
	tests := map[string]string{
		"%2F":    "/",
		"%2f":    "/",
		"100%":   "100%",
		"%zz":    "%zz",
		"%2":     "%2",
		"a%25b":  "a%b",
		"plain":  "plain",
		"%E2%82": "\xe2\x82",
	}
	for in, want := range tests {
		if got := UnescapePartitionValue(in); got != want {
			t.Errorf("UnescapePartitionValue(%q) = %q, want %q", in, got, want)
		}
	}
}
