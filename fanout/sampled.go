package fanout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
)

// SampledTypeError is a value that does not fit the type the planner
// inferred for its column from a sample (the first sampleRecords records,
// at most sampleBytes, of an object: a JSONL column whose first float
// appears after the sample, a CSV column whose first "n/a" does). fanout
// does not widen a column after planning; the error names the --arg
// schema= that reads the value, the job's schema with that column widened
// (int64 to float64 when the value is a number, to decimal(38,0) when it
// is an integer beyond int64, string otherwise).
type SampledTypeError struct {
	Column string
	Type   functions.Type
	// Schema is the job's schema with Column widened: what --arg schema=
	// should say.
	Schema string
	Err    error
}

func (e *SampledTypeError) Error() string {
	return fmt.Sprintf("%v; the column's type %v was inferred from a sample (the first %d records or %d KiB of an object): "+
		"read it as a wider type with --arg schema=%s", e.Err, e.Type, sampleRecords, sampleBytes>>10, e.Schema)
}

func (e *SampledTypeError) Unwrap() error { return e.Err }

// explainSampled wraps, in a record error, a value that does not convert
// to a type inferred from a sample into a *SampledTypeError. Errors of a
// schema the user or the function gave pass unchanged.
func (in *chunkInput) explainSampled(err error) {
	var re *functions.RecordError
	var ve *codec.ValueError
	if !errors.As(err, &re) || !errors.As(re.Err, &ve) || !in.js.inferred() {
		return
	}
	var se *SampledTypeError
	if errors.As(re.Err, &se) {
		return
	}
	wide := functions.String
	if _, perr := strconv.ParseFloat(ve.Value, 64); perr == nil && ve.Type == functions.Int64 {
		wide = functions.Float64
		if _, derr := functions.ParseDecimal(functions.DecimalOf(38, 0), ve.Value); derr == nil && !strings.ContainsAny(ve.Value, ".eE") {
			// An integer beyond int64: a float64 would round it.
			wide = functions.DecimalOf(38, 0)
		}
	}
	s := *in.js.schema
	s.Columns = append([]functions.Column(nil), s.Columns...)
	for i := range s.Columns {
		if s.Columns[i].Name == ve.Column {
			s.Columns[i] = functions.Flat(wide).Named(ve.Column) // a nested column becomes JSON text
		}
	}
	re.Err = &SampledTypeError{Column: ve.Column, Type: ve.Type, Schema: s.String(), Err: re.Err}
}

// inferred reports whether the job's input types were inferred from a
// sample: a CSV or JSONL job without --arg schema= (a function that reads
// its input its own way reads strings, which every value converts to).
func (js *jobState) inferred() bool {
	f := js.m.Format
	return js.m.Spec.Args["schema"] == "" && (f == manifest.FormatCSV || f == manifest.FormatJSONL)
}
