// Package expr is the filter language of `--arg where=EXPR`: comparisons of
// columns and literals joined by and, or and not. An expression is compiled
// once against the input schema, so that unknown columns and impossible
// comparisons are reported before any work starts, and is then evaluated per
// row without allocating.
//
// # Language
//
// Examples:
//
//	age >= 18 and country in ('DE', 'FR')
//	status != 'deleted' and (score > 0.5 or vip)
//	"user name" like 'a%' and email is not null
//	ts >= '2024-05-01' and path ~ '^/api/v[0-9]+/'
//
// Grammar, from loosest to tightest binding:
//
//	expr    := and ("or" and)*
//	and     := not ("and" not)*
//	not     := "not" not | "(" expr ")" | cmp
//	cmp     := operand op operand
//	         | column "is" ["not"] "null"
//	         | column ["not"] "in" "(" literal ("," literal)* ")"
//	         | column ["not"] "like" 'pattern'
//	         | column ("~" | "!~") 'regexp'
//	         | operand                     (a bool column or literal on its own)
//	op      := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//	operand := column | literal
//	column  := name ("." name | "[" integer "]" | "[" literal "]")*
//
// So `a = 1 or b = 2 and c = 3` means `a = 1 or (b = 2 and c = 3)`, and
// `not a = 1` means `not (a = 1)`. Keywords (and, or, not, is, null, in, like,
// true, false) are case-insensitive; column names are not.
//
// Columns are bare identifiers ([A-Za-z_][A-Za-z0-9_]*) or double-quoted
// names for anything else ("user name", "order"). Inside nested columns,
// a.b is a struct's field, x[1] a list's element (1 is the first, -1 the
// last) and m['k'] a map's value (the key a literal of the key type), to
// any depth (user.tags[1], "a b"."c d"); a field, element or key that is
// not there, or a null on the way, is null. A list, struct or map itself
// takes only is [not] null. Literals are single-quoted
// strings, integers (42, -7), floats (0.5, 1e-3), true, false and null. A
// quote is doubled inside the quotes it would close:
//
//	"say ""hi""" = 'it''s'
//
// # Types
//
// A literal compared with a column is converted to the column's type when the
// expression is compiled, and a literal that cannot be converted is an error:
//
//   - string columns take string literals only (write '200', not 200);
//   - int64 and float64 columns take numbers and numeric strings ('42'); ints
//     and floats compare numerically and exactly (age > 17.5 is age >= 18);
//   - bool columns take true, false and the strings 'true', 'false', '1', '0'
//     (and the other forms of strconv.ParseBool);
//   - timestamp columns take strings in RFC 3339 (2024-05-01T12:00:00Z,
//     2024-05-01T14:00:00+02:00), without a zone (2024-05-01T12:00:00 or
//     2024-05-01 12:00:00, read as UTC), or a date (2024-05-01, midnight UTC).
//
// Two columns can be compared when they have the same type or are both
// numeric. Strings compare byte-wise, bools as false < true. Comparing with
// the null literal is an error: write `is null` or `is not null`.
//
// like and ~ need a string column. In a like pattern % matches any run of
// characters and _ exactly one character; \% and \_ match a literal % or _,
// and \\ a backslash. like matches the whole value, case-sensitively. ~
// matches a Go regular expression (https://pkg.go.dev/regexp/syntax)
// anywhere in the value: anchor it with ^ and $, make it case-insensitive
// with (?i). !~ is its negation.
//
// # Nulls
//
// As in SQL, a comparison, in, like or ~ with a null value is unknown rather
// than true or false; not unknown is unknown; false and unknown is false;
// true or unknown is true. A row passes only when the whole expression is
// true. So with age null, both `age > 18` and `not (age > 18)` drop the row;
// use `age is null` or `age is not null` to test for null.
//
// # Use
//
//	e, err := expr.Compile("age >= 18", schema) // err is an *expr.Error
//	...
//	if e.Eval(row) { // row laid out as schema
//		...
//	}
package expr
