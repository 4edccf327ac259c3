package expr

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

var testSchema = &functions.Schema{Columns: []functions.Column{
	{Name: "name", Type: functions.String},
	{Name: "age", Type: functions.Int64},
	{Name: "score", Type: functions.Float64},
	{Name: "vip", Type: functions.Bool},
	{Name: "ts", Type: functions.Timestamp},
	{Name: "user name", Type: functions.String},
	{Name: "tag", Type: functions.String},
	{Name: "and", Type: functions.Int64},
}}

func ts(s string) functions.Value {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return functions.TimeValue(t)
}

var (
	alice = functions.Row{
		functions.StringValue("alice"), functions.IntValue(30), functions.FloatValue(0.5),
		functions.BoolValue(true), ts("2024-05-01T12:00:00Z"), functions.StringValue("Alice A"),
		functions.StringValue("50%"), functions.IntValue(1),
	}
	bob = functions.Row{
		functions.StringValue("bob"), functions.IntValue(17), functions.FloatValue(1),
		functions.BoolValue(false), ts("2023-12-31T23:59:59Z"), functions.StringValue("Bob_B"),
		functions.StringValue("500"), functions.IntValue(2),
	}
	nulls = functions.Row{
		functions.Null(functions.String), functions.Null(functions.Int64), functions.Null(functions.Float64),
		functions.Null(functions.Bool), functions.Null(functions.Timestamp), functions.Null(functions.String),
		functions.Null(functions.String), functions.Null(functions.Int64),
	}
)

func mustCompile(t testing.TB, src string, schema *functions.Schema) *Expr {
	t.Helper()
	e, err := Compile(src, schema)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return e
}

func TestEval(t *testing.T) {
	const T, F = true, false
	// want holds the results for alice, bob and the row of nulls.
	tests := []struct {
		src  string
		want [3]bool
	}{
		// Comparison operators, literal on either side.
		{"age = 30", [3]bool{T, F, F}},
		{"age == 30", [3]bool{T, F, F}},
		{"age != 30", [3]bool{F, T, F}},
		{"age <> 30", [3]bool{F, T, F}},
		{"age < 18", [3]bool{F, T, F}},
		{"age <= 17", [3]bool{F, T, F}},
		{"age > 17", [3]bool{T, F, F}},
		{"age >= 17", [3]bool{T, T, F}},
		{"30 = age", [3]bool{T, F, F}},
		{"18 > age", [3]bool{F, T, F}},
		{"age>-1", [3]bool{T, T, F}},
		// Numbers of both kinds and numeric strings.
		{"age > 17.5", [3]bool{T, F, F}},
		{"age < 17.5", [3]bool{F, T, F}},
		{"age = 30.0", [3]bool{T, F, F}},
		{"age > '17'", [3]bool{T, F, F}},
		{"age < 1e3", [3]bool{T, T, F}},
		{"score > 0.4", [3]bool{T, T, F}},
		{"score = 1", [3]bool{F, T, F}},
		{"score != 0.5", [3]bool{F, T, F}},
		{"score < '0.75'", [3]bool{T, F, F}},
		{"age > score", [3]bool{T, T, F}},
		{"score >= age", [3]bool{F, F, F}},
		// Strings, bools, timestamps.
		{"name = 'alice'", [3]bool{T, F, F}},
		{"name < 'b'", [3]bool{T, F, F}},
		{"name > 'alice'", [3]bool{F, T, F}},
		{"name = tag", [3]bool{F, F, F}},
		{`"user name" = 'Alice A'`, [3]bool{T, F, F}},
		{`"and" = 2`, [3]bool{F, T, F}},
		{"vip", [3]bool{T, F, F}},
		{"not vip", [3]bool{F, T, F}},
		{"vip = true", [3]bool{T, F, F}},
		{"vip = 'false'", [3]bool{F, T, F}},
		{"vip != FALSE", [3]bool{T, F, F}},
		{"vip > false", [3]bool{T, F, F}},
		{"ts >= '2024-01-01'", [3]bool{T, F, F}},
		{"ts < '2024-01-01T00:00:00Z'", [3]bool{F, T, F}},
		{"ts = '2024-05-01T14:00:00+02:00'", [3]bool{T, F, F}},
		{"ts = '2024-05-01 12:00:00'", [3]bool{T, F, F}},
		{"ts = '2024-05-01T12:00:00'", [3]bool{T, F, F}},
		// Nulls.
		{"name is null", [3]bool{F, F, T}},
		{"name is not null", [3]bool{T, T, F}},
		{"vip IS NOT NULL", [3]bool{T, T, F}},
		{"not (age > 18)", [3]bool{F, T, F}},
		{"age > 18 or true", [3]bool{T, T, T}},
		{"age > 18 and false", [3]bool{F, F, F}},
		{"not (age > 18 and false)", [3]bool{T, T, T}},
		{"name is null or age > 18", [3]bool{T, F, T}},
		// in.
		{"name in ('alice', 'carol')", [3]bool{T, F, F}},
		{"name not in ('alice')", [3]bool{F, T, F}},
		{"age in (17, 18)", [3]bool{F, T, F}},
		{"age in (17.0)", [3]bool{F, T, F}},
		{"age in (17.5, '30')", [3]bool{T, F, F}},
		{"score in (1)", [3]bool{F, T, F}},
		{"vip in (true)", [3]bool{T, F, F}},
		{"ts in ('2024-05-01T12:00:00Z', '2020-01-01')", [3]bool{T, F, F}},
		// like.
		{"name like 'a%'", [3]bool{T, F, F}},
		{"name LIKE '_ob'", [3]bool{F, T, F}},
		{"name like '%'", [3]bool{T, T, F}},
		{"name like 'b'", [3]bool{F, F, F}},
		{"name not like 'a%'", [3]bool{F, T, F}},
		{`"user name" like '%\_B'`, [3]bool{F, T, F}},
		{`"user name" like '%_B'`, [3]bool{F, T, F}},
		{`tag like '50\%'`, [3]bool{T, F, F}},
		{`tag like '50%'`, [3]bool{T, T, F}},
		// Regular expressions.
		{"name ~ '^a'", [3]bool{T, F, F}},
		{"name ~ 'o'", [3]bool{F, T, F}},
		{"name !~ '^a'", [3]bool{F, T, F}},
		{"name ~ '(?i)BOB'", [3]bool{F, T, F}},
		{"not name ~ 'o'", [3]bool{T, F, F}},
		// Precedence: not, then and, then or.
		{"age = 30 or age = 17 and name = 'x'", [3]bool{T, F, F}},
		{"(age = 30 or age = 17) and name = 'x'", [3]bool{F, F, F}},
		{"age = 17 and name = 'bob' or vip", [3]bool{T, T, F}},
		{"not age = 30 or vip", [3]bool{T, T, F}},
		{"not not vip", [3]bool{T, F, F}},
		{"NOT vip AND name IS NOT NULL", [3]bool{F, T, F}},
		// Constants.
		{"true", [3]bool{T, T, T}},
		{"false", [3]bool{F, F, F}},
		{"1 < 2", [3]bool{T, T, T}},
		{"1 = 1.0", [3]bool{T, T, T}},
		{"'a' = 'b'", [3]bool{F, F, F}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e := mustCompile(t, tt.src, testSchema)
			for i, row := range []functions.Row{alice, bob, nulls} {
				if got := e.Eval(row); got != tt.want[i] {
					t.Errorf("row %d: got %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

// TestThreeValuedLogic checks and, or and not against SQL's truth tables.
func TestThreeValuedLogic(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "p", Type: functions.Bool}, {Name: "q", Type: functions.Bool}}}
	vals := []functions.Value{functions.BoolValue(false), functions.BoolValue(true), functions.Null(functions.Bool)}
	and := [3][3]tri{{no, no, no}, {no, yes, unknown}, {no, unknown, unknown}}
	or := [3][3]tri{{no, yes, unknown}, {yes, yes, yes}, {unknown, yes, unknown}}
	not := [3]tri{yes, no, unknown}
	eAnd, eOr, eNot := mustCompile(t, "p and q", schema), mustCompile(t, "p or q", schema), mustCompile(t, "not p", schema)
	for i, p := range vals {
		if got := eNot.root.eval(functions.Row{p, p}); got != not[i] {
			t.Errorf("not %v: got %v, want %v", p.Text(), got, not[i])
		}
		for j, q := range vals {
			row := functions.Row{p, q}
			if got := eAnd.root.eval(row); got != and[i][j] {
				t.Errorf("%v and %v: got %v, want %v", p.Text(), q.Text(), got, and[i][j])
			}
			if got := eOr.root.eval(row); got != or[i][j] {
				t.Errorf("%v or %v: got %v, want %v", p.Text(), q.Text(), got, or[i][j])
			}
		}
	}
}

func TestNumericEdges(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "i", Type: functions.Int64}, {Name: "f", Type: functions.Float64}}}
	big := int64(1<<53 + 1) // not representable as a float64
	tests := []struct {
		src  string
		row  functions.Row
		want bool
	}{
		{"i > 9007199254740992.0", functions.Row{functions.IntValue(big), functions.FloatValue(0)}, true},
		{"i = 9007199254740993", functions.Row{functions.IntValue(big), functions.FloatValue(0)}, true},
		{"f < i", functions.Row{functions.IntValue(big), functions.FloatValue(1 << 53)}, true},
		{"f in (9007199254740993)", functions.Row{functions.IntValue(0), functions.FloatValue(1 << 53)}, false},
		{"i < 1e300", functions.Row{functions.IntValue(math.MaxInt64), functions.FloatValue(0)}, true},
		{"i > -1e300", functions.Row{functions.IntValue(math.MinInt64), functions.FloatValue(0)}, true},
		{"i > -0.5", functions.Row{functions.IntValue(0), functions.FloatValue(0)}, true},
		{"i < -0.5", functions.Row{functions.IntValue(-1), functions.FloatValue(0)}, true},
		{"f = f", functions.Row{functions.IntValue(0), functions.FloatValue(math.NaN())}, false},
		{"f != f", functions.Row{functions.IntValue(0), functions.FloatValue(math.NaN())}, true},
		{"f < 1", functions.Row{functions.IntValue(0), functions.FloatValue(math.NaN())}, false},
		{"i = f", functions.Row{functions.IntValue(0), functions.FloatValue(math.NaN())}, false},
		{"f = 'NaN'", functions.Row{functions.IntValue(0), functions.FloatValue(math.NaN())}, false},
		{"f > 'inf'", functions.Row{functions.IntValue(0), functions.FloatValue(math.Inf(1))}, false},
		{"f = 'inf'", functions.Row{functions.IntValue(0), functions.FloatValue(math.Inf(1))}, true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			if got := mustCompile(t, tt.src, schema).Eval(tt.row); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestShortRowReadsNull(t *testing.T) {
	e := mustCompile(t, "tag is null and not (age = 1)", testSchema)
	if got := e.Eval(functions.Row{functions.StringValue("x")}); got {
		t.Errorf("got %v, want false (age is null, so not (age = 1) is unknown)", got)
	}
	if got := mustCompile(t, "tag is null", testSchema).Eval(nil); !got {
		t.Errorf("got %v, want true", got)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, src string
		pos       int
		msg       string // a substring of Error.Msg
	}{
		{"empty", "  ", 1, "empty expression"},
		{"missing operand", "age >", 6, "expected a column or a literal, found end of expression"},
		{"unknown column", "age > 1 and nope = 1", 13, `unknown column "nope" (columns: name, age, score, vip, ts, "user name", tag, "and")`},
		{"misspelt column", "age > 1 and agee = 1", 13, `unknown column "agee" (did you mean "age"?)`},
		{"case differs", "Age = 1", 1, `unknown column "Age" (did you mean "age"?)`},
		{"unknown quoted column", `"user_name" = 'x'`, 1, `unknown column "user_name"`},
		{"string to int", "age > 'abc'", 7, `cannot compare int64 column "age" with 'abc'`},
		{"int to string", "name = 42", 8, `cannot compare string column "name" with 42: write a string literal such as '42'`},
		{"bad time", "ts > 'yesterday'", 6, `cannot compare timestamptz column "ts" with 'yesterday': want a time`},
		{"int to time", "ts > 2024", 6, `cannot compare timestamptz column "ts" with 2024`},
		{"bool from int", "vip = 1", 7, `cannot compare bool column "vip" with 1`},
		{"column types", "name = age", 6, `cannot compare string column "name" with int64 column "age"`},
		{"literal types", "1 = 'a'", 3, "cannot compare 1 with 'a'"},
		{"null comparison", "age = null", 7, "use is null"},
		{"null left", "NULL <> age", 1, "use is null"},
		{"open paren", "(age = 1", 9, "expected ')' to close the '(' at position 1, found end of expression"},
		{"extra paren", "age = 1)", 8, "expected and, or or the end of the expression, found ')'"},
		{"missing and", "age = 1 name = 'x'", 9, "found 'name'"},
		{"unterminated string", "name = 'abc", 8, "unterminated string"},
		{"unterminated column", `"user name = 'x'`, 1, "unterminated quoted column name"},
		{"bad character", "age # 1", 5, "unexpected character '#'"},
		{"bang alone", "age ! 1", 5, "unexpected character '!'"},
		{"bad number", "12abc = age", 1, `invalid number "12abc"`},
		{"two dots", "age = 1.2.3", 7, `invalid number "1.2.3"`},
		{"huge number", "age = 1e999", 7, "number 1e999 out of range"},
		{"keyword as column", "and = 1", 1, `found keyword and (quote a column of that name: "and")`},
		{"bare column", "age", 4, `expected an operator after int64 column "age", found end of expression`},
		{"bare string", "'x' and vip", 5, "expected an operator after 'x'"},
		{"is what", "age is 1", 8, "expected null after is, found '1'"},
		{"is literal", "1 is null", 1, "the left side of is null must be a column, found 1"},
		{"not what", "name not between", 10, "expected in or like after not, found 'between'"},
		{"like int", "age like '1%'", 1, `like needs a string column, found int64 column "age"`},
		{"like literal", "'a' like 'b'", 1, "the left side of like must be a column"},
		{"like column", "name like tag", 11, "expected a 'pattern' after like, found 'tag'"},
		{"regexp int", "age ~ '1'", 1, `~ needs a string column, found int64 column "age"`},
		{"bad regexp", "name ~ 'a('", 8, "bad regular expression: error parsing regexp: missing closing ): `a(`"},
		{"regexp column", "name !~ tag", 9, "expected a 'regular expression' after !~"},
		{"in paren", "age in 1", 8, "expected '(' after in, found '1'"},
		{"in empty", "name in ()", 10, "expected a column or a literal, found ')'"},
		{"in separator", "name in ('a' 'b')", 14, "expected ',' or ')' in the in list, found string 'b'"},
		{"in null", "age in (1, null)", 12, "null in an in list never matches"},
		{"in column", "age in (1, and)", 12, "found keyword and"},
		{"in quoted column", `age in (1, "and")`, 12, `an in list holds literals only, found int64 column "and"`},
		{"in bad literal", "age in (1, 'x')", 12, `cannot compare int64 column "age" with 'x'`},
		{"in literal", "1 in (1)", 1, "the left side of in must be a column"},
		{"dangling not", "vip and not", 12, "found end of expression"},
		{"dangling or", "vip or", 7, "found end of expression"},
		{"positions count characters", "name = 'ééé' and x = 1", 18, `unknown column "x"`},
		{"too deep", strings.Repeat("(", maxDepth+1) + "vip" + strings.Repeat(")", maxDepth+1), maxDepth + 1, "nested more than 500 deep"},
		{"too many nots", strings.Repeat("not ", maxDepth+1) + "vip", 4*maxDepth + 1, "nested more than 500 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(tt.src, testSchema)
			var xerr *Error
			if !errors.As(err, &xerr) {
				t.Fatalf("Compile(%q) = %v, %v; want an *Error", tt.src, e, err)
			}
			if xerr.Pos != tt.pos || !strings.Contains(xerr.Msg, tt.msg) {
				t.Errorf("got position %d: %s\nwant position %d: ...%s...", xerr.Pos, xerr.Msg, tt.pos, tt.msg)
			}
			if want := fmt.Sprintf("expr: position %d: ", tt.pos); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %q, want prefix %q", err.Error(), want)
			}
		})
	}
}

func TestNestingWithinLimit(t *testing.T) {
	src := strings.Repeat("(", maxDepth) + "vip" + strings.Repeat(")", maxDepth)
	if !mustCompile(t, src, testSchema).Eval(alice) {
		t.Error("got false, want true")
	}
}

func TestColumns(t *testing.T) {
	e := mustCompile(t, `age = 1 and "user name" like 'x' or age in (2) or 1 = 1 or tag is null`, testSchema)
	got := e.Columns()
	if want := []string{"age", "user name", "tag"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	got[0] = "changed"
	if e.Columns()[0] != "age" {
		t.Error("Columns returned the expression's own slice")
	}
	if got := mustCompile(t, "true", testSchema).Columns(); len(got) != 0 {
		t.Errorf("got %q, want none", got)
	}
}

func TestString(t *testing.T) {
	const src = "age = 1 or vip"
	if got := mustCompile(t, src, testSchema).String(); got != src {
		t.Errorf("got %q, want %q", got, src)
	}
}

func TestEvalDoesNotAllocate(t *testing.T) {
	e := mustCompile(t, `(age > 17.5 and name like 'a%e' and name in ('alice', 'bob')) or not (ts < '2024-01-01' and "user name" ~ '^B') or score is null`, testSchema)
	for _, row := range []functions.Row{alice, bob, nulls} {
		if n := testing.AllocsPerRun(100, func() { e.Eval(row) }); n != 0 {
			t.Errorf("got %v allocations per Eval, want 0", n)
		}
	}
}

// TestLikeMatchesRegexp checks likeMatch against a regular expression built
// from the same pattern, over many small patterns and strings.
func TestLikeMatchesRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(alphabet []string, max int) string {
		var b strings.Builder
		for range rng.IntN(max + 1) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 20000 {
		pat := word([]string{"a", "b", "é", "%", "_", `\`}, 6)
		s := word([]string{"a", "b", "é", "%", "_"}, 8)
		var re strings.Builder
		re.WriteString(`^(?s:`)
		for i := 0; i < len(pat); i++ {
			switch c := pat[i]; {
			case c == '%':
				re.WriteString(".*")
			case c == '_':
				re.WriteString(".")
			case c == '\\' && i+1 < len(pat):
				i++
				re.WriteString(regexp.QuoteMeta(pat[i : i+1]))
				if pat[i] >= 0x80 { // the second byte of é
					i++
					re.WriteString(regexp.QuoteMeta(pat[i : i+1]))
				}
			default:
				re.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			}
		}
		re.WriteString(`)$`)
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := likeMatch(compileLike(pat), s); got != want {
			t.Fatalf("like %q on %q: got %v, want %v (regexp %s)", pat, s, got, want, re.String())
		}
	}
}

func BenchmarkEval(b *testing.B) {
	e := mustCompile(b, `age > 17 and name like 'a%' and tag in ('x', '50%') or vip`, testSchema)
	for b.Loop() {
		e.Eval(alice)
		e.Eval(bob)
	}
}

func TestTypedColumnsCompareExactly(t *testing.T) {
	d38 := functions.DecimalOf(38, 10)
	schema := &functions.Schema{Columns: []functions.Column{
		{Name: "price", Type: functions.DecimalOf(10, 2)},
		{Name: "big", Type: d38},
		{Name: "day", Type: functions.Date},
		{Name: "at", Type: functions.Time},
		{Name: "u", Type: functions.Uint64},
		{Name: "small", Type: functions.Int8},
		{Name: "f", Type: functions.Float32},
		{Name: "id", Type: functions.UUID},
		{Name: "tsns", Type: functions.TimestampOf(functions.Nanos, false)},
		{Name: "other", Type: d38},
	}}
	parse := func(typ functions.Type, s string) functions.Value {
		v, err := functions.ParseDecimal(typ, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	row := functions.Row{
		parse(functions.DecimalOf(10, 2), "10.05"), parse(d38, "813180378.8478518982"),
		{Type: functions.Date, Valid: true, I: 19844}, // 2024-05-01
		{Type: functions.Time, Valid: true, I: 12 * 3600e6},
		{Type: functions.Uint64, Valid: true, I: -1}, // 2^64-1
		{Type: functions.Int8, Valid: true, I: -3},
		{Type: functions.Float32, Valid: true, F: float64(float32(0.1))},
		{Type: functions.UUID, Valid: true, S: "\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x02\x03\x04\x05\x06\x07\x08"},
		{Type: functions.TimestampOf(functions.Nanos, false), Valid: true, I: 1714525323123456789},
		parse(d38, "813180378.8478518983"),
	}
	for src, want := range map[string]bool{
		"price = 10.05":                               true,
		"price > 10.04":                               true,
		"price < 10.05":                               false,
		"price in (10.05, 3)":                         true,
		"big = 813180378.8478518982":                  true,
		"big < 813180378.8478518983":                  true,
		"big > 813180378.8478518981":                  true,
		"big < other":                                 true,
		"day = '2024-05-01'":                          true,
		"day > '2024-04-30'":                          true,
		"at = '12:00:00'":                             true,
		"u = 18446744073709551615":                    true,
		"u > 9223372036854775807":                     true,
		"small = -3":                                  true,
		"small < 0.5":                                 true,
		"small in (-3, 4)":                            true,
		"f = 0.1":                                     true,
		"id = '12345678-9abc-def0-0102-030405060708'": true,
		"tsns > '2024-05-01T01:02:03.123456788Z'":     true,
		"tsns = '2024-05-01T01:02:03.123456789Z'":     true,
	} {
		e := mustCompile(t, src, schema)
		if got := e.Eval(row); got != want {
			t.Errorf("%s: got %v, want %v", src, got, want)
		}
	}
	for _, bad := range []string{"price = 10.055", "day = 'yesterday'", "u = -1", "id = 'nope'", "at = 12"} {
		if _, err := Compile(bad, schema); err == nil {
			t.Errorf("Compile(%q) succeeded, want an error", bad)
		}
	}
}

// Field access into nested columns: a.b, x[1] (1-based, -1 the last),
// m['k']; a missing field, element or key, or a null on the way, is null.
func TestNestedFieldAccess(t *testing.T) {
	s, err := functions.ParseSchema(`id:int64,tags:list(string),u:struct(name string, "geo x" struct(lat float64)),m:map(string, int64),mi:map(int32, bool)`)
	if err != nil {
		t.Fatal(err)
	}
	str, i64, f64 := functions.StringValue, functions.IntValue, functions.FloatValue
	rows := []functions.Row{
		{i64(1), functions.ListValue([]functions.Value{str("a"), str("b")}), functions.StructValue([]functions.Value{str("ann"), functions.StructValue([]functions.Value{f64(1.5)})}),
			functions.MapValue([]functions.Value{str("k"), i64(7), str("n"), functions.Null(functions.Int64)}), functions.MapValue([]functions.Value{{Type: functions.Int32, Valid: true, I: 3}, functions.BoolValue(true)})},
		{i64(2), functions.ListValue(nil), functions.StructValue([]functions.Value{functions.Null(functions.String), functions.Null(functions.Type(functions.KindStruct))}),
			functions.MapValue(nil), functions.Null(functions.Type(functions.KindMap))},
		{i64(3), functions.Null(functions.Type(functions.KindList)), functions.Null(functions.Type(functions.KindStruct)), functions.Null(functions.Type(functions.KindMap)), functions.Null(functions.Type(functions.KindMap))},
	}
	for src, want := range map[string][]bool{
		"tags[1] = 'a'":                          {true, false, false},
		"tags[-1] = 'b'":                         {true, false, false},
		"tags[3] is null":                        {true, true, true},
		"u.name like 'a%'":                       {true, false, false},
		`u."geo x".lat > 1`:                      {true, false, false},
		`u."geo x" is null`:                      {false, true, true},
		"m['k'] = 7":                             {true, false, false},
		"m['n'] is null and m is not null":       {true, true, false},
		"mi[3]":                                  {true, false, false},
		"tags is null or u.name in ('x', 'ann')": {true, false, true},
		"not tags[1] ~ '^a'":                     {false, false, false},
	} {
		e := mustCompile(t, src, s)
		for i, r := range rows {
			if got := e.Eval(r); got != want[i] {
				t.Errorf("%s on row %d = %v, want %v", src, i+1, got, want[i])
			}
		}
		if n := testing.AllocsPerRun(20, func() { e.Eval(rows[0]) }); n != 0 {
			t.Errorf("%s: %v allocations per Eval, want 0", src, n)
		}
	}
	for src, msg := range map[string]string{
		"tags = 'x'":      `"tags" is list(string): compare its fields`,
		"id = u":          `"u" is struct(name string, "geo x" struct(lat float64))`,
		"u.nope = 1":      `"u" has no field "nope" (fields: "name", "geo x")`,
		"id.x = 1":        `"id" is int64, not a struct`,
		"tags[0] = 'a'":   "non-zero integer",
		"m[1] = 1":        "key type string",
		"u[1] = 1":        "not a list or map",
		"u.\"geo x\" = 1": "compare its fields",
		"tags[1 = 'a'":    "expected ]",
	} {
		if _, err := Compile(src, s); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Compile(%s): %v, want an error saying %s", src, err, msg)
		}
	}
}
