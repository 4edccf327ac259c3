// Package functions defines what fanout runs over records: the Function
// contract, the typed record model (Schema, Value, Row), the explicit
// Registry, and the errors a function returns. Built-in functions are in
// functions/builtin; record readers and writers in functions/codec.
//
// # Writing a function
//
// A Function has a Name (what --fn and Job.Function name), a one-line
// Describe, and Prepare, which checks the job's arguments (Params.Args,
// the input's schema and format) when the job is planned and again for
// each chunk and reduce task, and returns a Task. A Task declares the
// schema of the rows it writes (Output) and maps one chunk: Map reads
// the chunk's records from Input until io.EOF and writes rows to Output.
// A chunk may run more than once (a lost lease, a retry): Map must depend
// only on its input, and the engine keeps exactly one attempt's rows.
//
// A Task that also implements Reducer aggregates: its Map writes partial
// rows whose first KeyColumns columns are the group's key, Merge folds two
// partial rows of one key (in the worker's combiner and in the reduce
// stage, in any order and grouping), and Finish turns each fully merged
// partial row into final rows laid out as Final. Partial state that
// merges without growing, a distinct count or quantiles, is what package
// functions/sketch provides.
//
// Errors: return an error to fail the chunk (retried up to the job's
// attempts), Permanent(err) when a retry cannot help, and a RecordError
// to name the object and offset of the bad record.
//
// Versions: a job records its function's version (VersionOf: a
// Versioner's own, else the build's) and runs only on workers with that
// version, so that two builds never mix in one output.
//
// To run a function, register it beside the built-ins (builtin.Registry,
// then Registry.Register) and hand the registry to cli.Main (your own
// fanout command and its `work` processes) or lambdaapp.Start (your own
// Lambda bootstrap), or run one job from Go with adhoc.Run. The example
// in examples/accesslog does all three, with a map function and an
// aggregating one; functions/builtin's examples show smaller ones.
package functions

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Params is what a function is prepared with.
type Params struct {
	// Args are the user's --arg K=V pairs.
	Args map[string]string
	// Input is the schema of the records the function reads. For the lines
	// format it is LinesSchema (one string column "line").
	Input *Schema
	// InputFormat is lines, csv, jsonl or parquet.
	InputFormat string
}

// Arg returns the named argument or def when it is absent.
func (p Params) Arg(name, def string) string {
	if v, ok := p.Args[name]; ok {
		return v
	}
	return def
}

// Function is a named, stateless factory of tasks. Prepare validates the
// arguments against the input schema and is called once per job on the
// planner (to report bad arguments before any work starts) and once per
// chunk on a worker.
type Function interface {
	Name() string
	// Describe is one line of help for `fanout functions`.
	Describe() string
	Prepare(p Params) (Task, error)
}

// InputSchemer is implemented by a Function that decides how its input is
// read (the validate function reads every contract column as a string, so
// that a value of the wrong type reaches it instead of failing the
// reader). The planner asks it unless the user gave --arg schema=.
type InputSchemer interface {
	// InputSchema returns the schema to read the input with, or nil to
	// let the planner infer one. format is the input format (lines, csv,
	// jsonl or parquet).
	InputSchema(args map[string]string, format string) (*Schema, error)
}

// TextInputer is implemented by a Function that reads every column of a
// CSV or JSONL input as text (the profile: a value of another type is
// counted, not refused by the reader). The planner finds the columns as
// it does without a schema (under --schema-mode union, the union of the
// objects' columns) and reads each as a string; Parquet columns keep
// their types. --arg schema= and InputSchemer come first.
type TextInputer interface {
	TextInput() bool
}

// Task runs the function over one chunk.
type Task interface {
	// Output is the schema of the rows Map writes.
	Output() *Schema
	// Map reads every record of in and writes zero or more rows to out.
	// It must return promptly with ctx's error when ctx is cancelled (the
	// lease was lost). Returning an error fails the chunk; wrap it with
	// Permanent when a retry cannot help.
	Map(ctx context.Context, in Input, out Output) error
}

// Input yields one chunk's records in order.
type Input interface {
	// Schema describes the rows Next returns.
	Schema() *Schema
	// Next returns the next record, or io.EOF after the last one. The
	// record (and its slices) is valid only until the following call.
	// Malformed input returns a *RecordError.
	Next() (*Record, error)
}

// ChunkInput is an Input that knows which chunk of its job it reads: the
// engine's map inputs are. Chunk is the chunk's index (manifest.ChunkID
// names chunk i "c%08d"), dense from 0 in planning order, and the same
// on every attempt of the chunk. A reducer whose merge depends on order
// can key its partial state by it (the profile built-in does).
type ChunkInput interface {
	Input
	Chunk() int
}

// BorrowingInput is an Input that can also return records whose string
// values share the reader's buffers instead of being copied: like Raw,
// they are valid only until the following call. A task that only tests
// values and writes them to its Output (which copies what it keeps) saves
// a copy and an allocation per record; a task that keeps a string must
// use Next.
type BorrowingInput interface {
	Input
	NextBorrowed() (*Record, error)
}

// ColumnPicker is implemented by a Task whose Map reads only some columns
// of its input rows. The engine then has the reader fill only those: the
// other columns of every row are null, and a CSV reader does not parse
// their fields at all, so that a value there that is not of its column's
// type is no error (as in DuckDB, which converts only the columns a query
// reads). The record's structure is still checked: quoting, UTF-8, the
// number of fields. Readers that cannot skip a column (JSONL) fill them
// all as usual.
type ColumnPicker interface {
	// InputColumns returns the positions in Params.Input of the columns
	// Map reads; an empty slice (not nil) when it reads none.
	InputColumns() []int
}

// Output receives a task's rows.
type Output interface {
	// Write stores one row laid out as Task.Output(). The row may be reused
	// by the caller after Write returns, and its strings may be borrowed
	// (BorrowingInput): an Output copies what it keeps.
	Write(row Row) error
}

// FileOutput is implemented by the Output a Reducer's Finish writes to:
// besides rows, it takes whole files (a report) that are staged and
// committed with the job's other output files, so that they become visible
// with them and never before. A file's final name is the name its rows
// would have, with name in place of the part number and extension
// (part-<job>-<reduce task>-<name>).
type FileOutput interface {
	// WriteFile stores data as the file name (letters, digits, '.', '-'
	// and '_').
	WriteFile(name, contentType string, data []byte) error
}

// Record is one input record.
type Record struct {
	// Row holds the values laid out as Input.Schema().
	Row Row
	// Raw is the record's bytes as they appear in the input, without the
	// line terminator: a line, a CSV record, a JSON object. Nil for Parquet.
	Raw []byte
	// Object is the key of the object the record came from.
	Object string
	// Offset is the byte offset of the record's first byte in the
	// (uncompressed) object; for Parquet, the row's index in the file.
	Offset int64
}

// RecordError is malformed input at a known place.
type RecordError struct {
	Object string
	Offset int64 // byte offset (row index for Parquet)
	Line   int64 // 1-based line within the chunk when known, else 0
	Err    error
	// Raw holds the malformed record's bytes when the reader read the
	// whole record (not valid UTF-8, a wrong number of CSV fields, bad
	// quoting, not a JSON object, a value that does not parse as its
	// column's type). The reader is then positioned after it, so that
	// Next may be called again to skip it. Raw is nil when the reader
	// cannot go on past the error. Like a Record's bytes, it is valid only
	// until the following call to Next.
	Raw []byte
	// Skippable says that the reader is positioned after the record even
	// though Raw is nil: a Parquet row one of whose values did not convert.
	Skippable bool
}

// CanSkip reports whether Next may be called again to go past the record:
// the reader read it whole (Raw) or says so (Skippable).
func (e *RecordError) CanSkip() bool { return e.Raw != nil || e.Skippable }

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s at offset %d: %v", e.Object, e.Offset, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (bad arguments, malformed
// input). Nil stays nil.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanentError{err}
}

// IsPermanent reports whether err (or any error it wraps) was marked
// permanent. A *RecordError is always permanent: the same bytes fail again.
func IsPermanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	var r *RecordError
	return errors.As(err, &r)
}

// Registry maps names to functions. It is built explicitly (no init-time
// registration): see builtin.Registry.
type Registry struct {
	fns map[string]Function
}

// NewRegistry returns a registry holding fns.
func NewRegistry(fns ...Function) *Registry {
	r := &Registry{fns: map[string]Function{}}
	for _, f := range fns {
		r.Register(f)
	}
	return r
}

// Register adds f, replacing a function of the same name.
func (r *Registry) Register(f Function) { r.fns[f.Name()] = f }

// Lookup finds a function by name.
func (r *Registry) Lookup(name string) (Function, error) {
	f, ok := r.fns[name]
	if !ok {
		return nil, fmt.Errorf("functions: unknown function %q (known: %s)", name, strings.Join(r.Names(), ", "))
	}
	return f, nil
}

// Names lists the registered functions in order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.fns))
	for n := range r.fns {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
