package codec

import (
	"fmt"
	"strings"

	"github.com/fanout-dev/fanout/functions"
)

// ValueError is a CSV field or JSON value that does not convert to its
// column's type. It comes inside a functions.RecordError naming the object
// and the offset; the engine adds to it which --arg schema= reads the value
// when the type was inferred from a sample.
type ValueError struct {
	Column string
	Type   functions.Type
	// Value is the field's text (a JSON value as written), cut to 200
	// bytes.
	Value string
	Err   error
}

func newValueError(col functions.Column, value string, err error) *ValueError {
	if len(value) > 200 {
		value = value[:200]
	}
	return &ValueError{Column: col.Name, Type: col.Type, Value: strings.Clone(value), Err: err} // value may be borrowed
}

func (e *ValueError) Error() string { return fmt.Sprintf("column %q: %v", e.Column, e.Err) }

func (e *ValueError) Unwrap() error { return e.Err }
