package builtin

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

func TestAppendTextMatchesText(t *testing.T) {
	for _, v := range []functions.Value{
		functions.StringValue("a,b"), functions.IntValue(-42), functions.FloatValue(1.5e-7),
		functions.FloatValue(math.Inf(-1)), functions.BoolValue(true), functions.BoolValue(false),
		functions.TimeValue(time.Date(2024, 5, 1, 12, 0, 0, 123000, time.UTC)),
		functions.Null(functions.Int64), functions.Null(functions.String),
	} {
		if got, want := string(appendText([]byte("x"), v)), "x"+v.Text(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "cat", want: []string{"cat"}},
		{in: "  grep  -v\tfoo\n", want: []string{"grep", "-v", "foo"}},
		{in: `awk '{print $1}'`, want: []string{"awk", "{print $1}"}},
		{in: `grep "a b" c`, want: []string{"grep", "a b", "c"}},
		{in: `echo "say \"hi\" \\ \$x \n"`, want: []string{"echo", `say "hi" \ $x \n`}},
		{in: `echo a\ b \'c\'`, want: []string{"echo", "a b", "'c'"}},
		{in: `echo ''`, want: []string{"echo", ""}},
		{in: `echo ""x`, want: []string{"echo", "x"}},
		{in: `echo a'b'"c"d`, want: []string{"echo", "abcd"}},
		{in: "echo a \\\n b", want: []string{"echo", "a", "b"}},
		{in: `echo "a|b" 'c;d' e\|f`, want: []string{"echo", "a|b", "c;d", "e|f"}},
		{in: "", err: "empty command"},
		{in: " \t", err: "empty command"},
		{in: `echo 'a`, err: "unterminated ' at offset 5"},
		{in: `echo "a`, err: `unterminated " at offset 5`},
		{in: `echo a\`, err: "ends with a backslash"},
		{in: `echo "$HOME"`, err: `'$' at offset 6 expands in a shell`},
		{in: "echo $HOME", err: "'$' at offset 5 is shell syntax"},
		{in: "cat > out", err: "'>' at offset 4 is shell syntax"},
		{in: "sleep 1 &", err: "'&' at offset 8 is shell syntax"},
		{in: "a;b", err: "';' at offset 1 is shell syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := splitCommand(tt.in)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("got %q, %v, want error %q", got, err, tt.err)
			case tt.err == "" && (err != nil || !slices.Equal(got, tt.want)):
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"empty", nil, ""},
		{"blank", []string{" \n"}, ""},
		{"fits", []string{"ab", "cd\n"}, "; stderr: abcd"},
		{"exactly full", []string{"abcd", "ef"}, "; stderr: abcdef"},
		{"overflow", []string{"abcd", "efgh"}, "; stderr (last 4 KiB): ...cdefgh"},
		{"one big write", []string{"0123456789"}, "; stderr (last 4 KiB): ...456789"},
		{"big write after", []string{"x", "012345"}, "; stderr (last 4 KiB): ...012345"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &tailBuffer{max: 6}
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write: got %d, %v, want %d, nil", n, err, len(w))
				}
			}
			if got := b.suffix(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
