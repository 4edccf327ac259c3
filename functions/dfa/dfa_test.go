package dfa_test

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	grafanaregexp "github.com/grafana/regexp"

	"github.com/fanout-dev/fanout/functions/dfa"
)

var patterns = []string{
	`ka[a-z]*lo`, `ka.*lo`, `kalo`, `a|b`, `(?i)kA.*Lo`, `x*`, ``, `[^a-z]+q`, `日.本`,
	`(ab|cd)+e`, `\d{3}-\d{2}`, `[[:alpha:]]+ü`, `(?s)a.b`, `a.b`, `\pL\pN`, `[^\x00-\x7f]{2}`,
	`(foo|foobar)baz`, `a{2,5}?c`, `(?U)a+b`, `ü+`, `[ä-ü]`, `\x{FFFD}`, `.`, `(a|)b`,
	// Empty-width assertions: left to the regexp package.
	`^ka`, `lo$`, `\bka`, `(?m)^x`,
}

var inputs = []string{
	"", "kalo", "ka lo", "kaxxlo", "KaLo", "abc", "xyz\nq", "日x本", "abcde", "cdcde", "123-45",
	"Ümlautü", "a\nb", "aXb", "a1", "äöü", "foobarbaz", "aaac", "aab", "\xff\xfe", "ka\xffzlo",
	"zzz kaXXXXXXXXlo zz", "b", "ta kax9zo loéßzo. øvetaø! lo's", "x",
}

// TestMatchIsRegexpMatch compares Match with regexp's on every pattern
// and input above, and on random lines of the bench's alphabet.
func TestMatchIsRegexpMatch(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	words := []string{"ka", "lo", "ta", "ne", "zo", "x9", "日", "本", "ü", "ø", "é", "ß", " ", "!", "'s", "\n", "\xff", "7", "Ka", "LO"}
	lines := append([]string(nil), inputs...)
	for range 2000 {
		var b strings.Builder
		for range rnd.IntN(30) {
			b.WriteString(words[rnd.IntN(len(words))])
		}
		lines = append(lines, b.String())
	}
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		m := dfa.New(re)
		for _, in := range lines {
			if got, want := m.Match([]byte(in)), re.Match([]byte(in)); got != want {
				t.Errorf("%q on %q: got %v, want %v (regexp)", p, in, got, want)
			}
		}
	}
}

// TestMatchPastItsBounds: an expression whose automaton grows past its
// bound of states still answers as regexp does.
func TestMatchPastItsBounds(t *testing.T) {
	re := regexp.MustCompile(`a[ab]{14}c`) // 2^14 states to tell every position apart
	m := dfa.New(re)
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		b := make([]byte, 40)
		for i := range b {
			b[i] = "abc"[rnd.IntN(3)]
		}
		if got, want := m.Match(b), re.Match(b); got != want {
			t.Fatalf("%q: got %v, want %v", b, got, want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	for _, p := range patterns {
		for _, in := range inputs[:6] {
			f.Add(p, in)
		}
	}
	f.Fuzz(func(t *testing.T, p, in string) {
		re, err := regexp.Compile(p)
		if err != nil {
			return
		}
		if got, want := dfa.New(re).Match([]byte(in)), re.Match([]byte(in)); got != want {
			t.Errorf("%q on %q: got %v, want %v (regexp)", p, in, got, want)
		}
	})
}

// BenchmarkMatch: lines like the bench's text (scripts/gen text), Match
// against regexp's.
func BenchmarkMatch(b *testing.B) {
	rnd := rand.New(rand.NewPCG(5, 6))
	words := []string{"ka", "lo", "ta", "ne", "zo", "x9", "mi", "ve", "ru", "日", "本", "ü", "ø", "é", "ß"}
	var lines [][]byte
	var n int
	for range 10000 {
		var s strings.Builder
		for range 20 {
			for range 1 + rnd.IntN(3) {
				s.WriteString(words[rnd.IntN(len(words))])
			}
			s.WriteString(" ,.!)"[rnd.IntN(5):][:1])
		}
		lines = append(lines, []byte(s.String()))
		n += s.Len()
	}
	for _, p := range []string{`ka[a-z]*lo`, `ka.*lo`} {
		re := regexp.MustCompile(p)
		b.Run("regexp/"+p, func(b *testing.B) {
			b.SetBytes(int64(n))
			for range b.N {
				for _, l := range lines {
					re.Match(l)
				}
			}
		})
		// grafana/regexp: Go's regexp with the speed-ups Prometheus
		// uses (a well-kept library: the alternative to hand-written
		// code that scripts/bench.sh compares with).
		gre := grafanaregexp.MustCompile(p)
		b.Run("grafana-regexp/"+p, func(b *testing.B) {
			b.SetBytes(int64(n))
			for range b.N {
				for _, l := range lines {
					gre.Match(l)
				}
			}
		})
		b.Run("dfa/"+p, func(b *testing.B) {
			m := dfa.New(re)
			b.SetBytes(int64(n))
			for range b.N {
				for _, l := range lines {
					m.Match(l)
				}
			}
		})
	}
}
