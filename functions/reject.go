package functions

import (
	"errors"
	"unicode/utf8"
)

// Rules of a record the reader could not read (Violation.Rule).
const (
	// RuleMalformed is a record the reader could not parse (bad quoting,
	// a wrong number of CSV fields, a line that is not a JSON object, a
	// value that does not parse as its column's type).
	RuleMalformed = "malformed"
	// RuleEncoding is a record that is not valid UTF-8.
	RuleEncoding = "encoding"
)

// Malformed turns a reader's error into the record to reject and its
// violation when the error is a *RecordError the reader can go past
// (RecordError.CanSkip): the record holds the object, the offset and the
// bytes read (Raw), the violation the rule (RuleEncoding for bytes that
// are not UTF-8, RuleMalformed otherwise) and the reason. ok is false for
// any other error. The validate function and the engine's --on-error
// reject and skip both use it, so that a malformed record reads the same
// in <out>/_rejected/ whoever rejected it.
func Malformed(err error) (re *RecordError, rec Record, v Violation, ok bool) {
	if !errors.As(err, &re) || !re.CanSkip() {
		return nil, Record{}, Violation{}, false
	}
	rule := RuleMalformed
	if re.Raw != nil && !utf8.Valid(re.Raw) {
		rule = RuleEncoding
	}
	return re, Record{Raw: re.Raw, Object: re.Object, Offset: re.Offset}, Violation{Rule: rule, Message: re.Err.Error()}, true
}

// Violation is one rule a record broke.
type Violation struct {
	// Rule names the rule: a column rule's kind (required, type, min, max,
	// allowed, pattern, min_length, max_length), a record rule's name, or
	// malformed / encoding for a record the reader could not parse.
	Rule string `json:"rule"`
	// Column is the column the rule is about, "" for a rule about the
	// whole record.
	Column string `json:"column,omitempty"`
	// Message says what was wrong, for a person.
	Message string `json:"message"`
}

// Rejecter is implemented by an Output that takes rejected records on a
// side output: the engine's map output writes them under the attempt's
// staging prefix, the commit publishes them under <out>/_rejected/ with
// the winning attempt's files, and the job's report counts them per rule
// and per column. A function finds it by type assertion on its Output.
type Rejecter interface {
	// Reject records that rec broke every rule in violations (at least
	// one). rec.Raw is the record as it appears in the input (nil for
	// Parquet, whose rec.Row is kept instead); rec.Row is nil for a record
	// the reader could not parse. Neither rec nor violations is retained.
	Reject(rec *Record, violations []Violation) error
}

// Counter is implemented by an Output that keeps named counters for the
// job's report (a validating function counts the values it cleansed: trim,
// case, coerce, default). Counts of the winning attempt of each chunk are
// summed by the commit. A function finds it by type assertion on its
// Output.
type Counter interface {
	// Count adds n to the counter name.
	Count(name string, n int64)
}
