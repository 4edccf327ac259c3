package builtin_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// serialWordCount is the reference word count: strings.FieldsFunc and
// strings.ToLower. It returns "word,count" sorted.
func serialWordCount(lines ...string) []string {
	counts := map[string]int{}
	for _, l := range lines {
		for _, w := range strings.FieldsFunc(l, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			counts[strings.ToLower(w)]++
		}
	}
	out := []string{}
	for w, n := range counts {
		out = append(out, fmt.Sprintf("%s,%d", w, n))
	}
	slices.Sort(out)
	return out
}

func TestWordCountUnicode(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string
	}{
		{"empty", "", []string{}},
		{"separators only", " ,;\t— 。", []string{}},
		{"ascii", "The cat, the HAT; the end.", []string{"cat,1", "end,1", "hat,1", "the,3"}},
		{"sharp s", "Straße STRASSE", []string{"strasse,1", "straße,1"}},
		{"accents", "ÉCOLE école Ecole", []string{"ecole,1", "école,2"}},
		{"apostrophe and hyphen", "don't e-mail", []string{"don,1", "e,1", "mail,1", "t,1"}},
		{"digits", "abc123 2024-05-01 ４５６ ٣٤", []string{"01,1", "05,1", "2024,1", "abc123,1", "٣٤,1", "４５６,1"}},
		{"superscript is not a digit", "x² H₂O", []string{"h,1", "o,1", "x,1"}},
		{"cjk runs", "日本語テキスト、中文。한국어", []string{"中文,1", "日本語テキスト,1", "한국어,1"}},
		{"mixed scripts", "abcДЕФ ΣΟΦΊΑ ДЕФabc", []string{"abcдеф,1", "σοφία,1", "дефabc,1"}},
		{"combining mark splits", "e\u0301te\u0301", []string{"e,1", "te,1"}},
		{"invalid utf-8 splits", "\xffab\xfeCD\xc3", []string{"ab,1", "cd,1"}},
		{"special lowercase", "İSTANBUL \u212aELVIN", []string{"istanbul,1", "kelvin,1"}},
		{"ascii then unicode", "NAÏVE naïve", []string{"naïve,2"}},
		{"long word", strings.Repeat("Ab", 5000), []string{strings.Repeat("ab", 5000) + ",1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runTimes(t, builtin.WordCount{}, nil, lines(tt.line, tt.line))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{} // the line is there twice
			for _, w := range tt.want {
				word, n, _ := strings.Cut(w, ",")
				i, _ := strconv.Atoi(n)
				want = append(want, fmt.Sprintf("%s,%d", word, 2*i))
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			if ref := serialWordCount(tt.line, tt.line); !slices.Equal(got, ref) {
				t.Errorf("got %q, want the reference's %q", got, ref)
			}
		})
	}
}

// randomText returns n lines of words from a small vocabulary of scripts,
// capitalisations and separators, so that words repeat across chunks.
func randomText(rng *rand.Rand, n int) []string {
	vocab := []string{"the", "The", "THE", "of", "fanout", "Fanout", "x1", "42", "Straße", "STRASSE",
		"école", "ÉCOLE", "日本語", "中文", "Ωmega", "ΣΟΦΊΑ", "naïve", "NAÏVE", "٣٤", "a", "I", "İ"}
	seps := []string{" ", " ", " ", ", ", ". ", "\t", "—", "、", "'", "-", "\xff", "  "}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(vocab[rng.IntN(len(vocab))])
			if rng.IntN(20) == 0 {
				fmt.Fprintf(&b, "%d", rng.IntN(1000)) // a rarer word
			}
			b.WriteString(seps[rng.IntN(len(seps))])
		}
		out[i] = b.String()
	}
	return out
}

func TestWordCountRandom(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			text := randomText(rand.New(rand.NewPCG(seed, 1)), 500)
			got, err := runTimes(t, builtin.WordCount{}, nil, lines(text...))
			if err != nil {
				t.Fatal(err)
			}
			if want := serialWordCount(text...); !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestWordCountFlush maps more distinct words than Map keeps, so that it
// writes some words twice; the partial counts still add up.
func TestWordCountFlush(t *testing.T) {
	const distinct = 150_000
	var text []string
	for i := range 2 * distinct {
		text = append(text, fmt.Sprintf("w%d", i%distinct))
	}
	task, err := builtin.WordCount{}.Prepare(functions.Params{Input: functions.LinesSchema})
	if err != nil {
		t.Fatal(err)
	}
	out := &sliceOutput{}
	if err := task.Map(context.Background(), lines(text...), out); err != nil {
		t.Fatal(err)
	}
	if len(out.rows) <= distinct {
		t.Errorf("got %d partial rows, want more than %d (the table flushed)", len(out.rows), distinct)
	}
	counts := map[string]int64{}
	for _, r := range out.rows {
		counts[r[0].S] += r[1].I
	}
	if len(counts) != distinct {
		t.Errorf("got %d words, want %d", len(counts), distinct)
	}
	for w, n := range counts {
		if n != 2 {
			t.Fatalf("%s: got count %d, want 2", w, n)
		}
	}
}

func TestWordCountSource(t *testing.T) {
	withRaw := rows(people, functions.Row{functions.StringValue("Ann"), functions.IntValue(7), functions.BoolValue(true)})
	withRaw.recs[0].Raw = []byte(`Ann,7,true`)
	tests := []struct {
		name string
		in   *sliceInput
		args map[string]string
		want []string
	}{
		{"raw bytes", withRaw, nil, []string{"7,1", "ann,1", "true,1"}},
		{"first column without raw bytes", peopleInput(), nil, []string{"alice,1", "bob,1"}},
		{"column", withRaw, map[string]string{"column": "age"}, []string{"7,1"}},
		{"column null is empty", peopleInput(), map[string]string{"column": "vip"}, []string{"false,1", "true,1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runTimes(t, builtin.WordCount{}, tt.args, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzWordCount(f *testing.F) {
	for _, s := range []string{"", "a", "Hello, World!", "Straße ÉCOLE", "日本語、中文", "e\u0301", "\xff\xfe", "x²", "İ\u212a", "AbC1 dé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		task, err := builtin.WordCount{}.Prepare(functions.Params{Input: functions.LinesSchema})
		if err != nil {
			t.Fatal(err)
		}
		out := &sliceOutput{}
		if err := task.Map(context.Background(), lines(s), out); err != nil {
			t.Fatal(err)
		}
		if got, want := texts(out.rows), serialWordCount(s); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", s, got, want)
		}
	})
}
