// Package builtin holds the functions fanout ships with: convert, grep,
// count and exec, validate (data contracts, with rejected records on the
// engine's side output), and the aggregating wordcount, aggregate,
// distinct, topk and duplicates, whose tasks are functions.Reducers.
// Registry returns them in a functions.Registry, to which a program can
// add its own functions.
//
// Every function accepts the argument schema, which belongs to the planner
// (it declares the input's column types) and is ignored here. Bad arguments
// are reported by Prepare as permanent errors naming the argument.
package builtin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
)

// Registry returns a new registry holding the built-in functions. Callers
// may Register their own functions on it.
func Registry() *functions.Registry {
	return functions.NewRegistry(Aggregate{}, Convert{}, Count{}, Distinct{}, Duplicates{}, Exec{}, Grep{}, Profile{}, TopK{}, Validate{}, WordCount{})
}

// plannerArgs are consumed by the planner and accepted by every function.
var plannerArgs = append(append([]string{"schema"}, codec.CSVArgNames()...), codec.ParquetArgNames()...)

// CommonArgs describes the arguments every function takes (the planner
// reads them), for help texts.
const CommonArgs = `schema=name:type,..., the columns and types of CSV and JSONL input (default: inferred from a sample of the first object), a type being string, binary, bool, int8..int64, uint8..uint64, float32, float64, decimal(p,s), date, time, timestamp (wall clock), timestamptz (an instant; both in µs, or _ms, _ns), uuid, list(T), struct(name T, ...) or map(K, V), or DuckDB's spelling of one (integer, ubigint, blob, timestamp_ns, ...); and the CSV options of the input reader (named as DuckDB's read_csv names them): ` + codec.CSVArgs + `; and the Parquet reader's: ` + codec.ParquetArgs

// checkArgs reports the first argument (by name) that fn does not take.
func checkArgs(fn string, args map[string]string, valid ...string) error {
	for _, name := range slices.Sorted(maps.Keys(args)) {
		if !slices.Contains(valid, name) && !slices.Contains(plannerArgs, name) {
			all := slices.Sorted(slices.Values(append(slices.Clone(valid), plannerArgs...)))
			if c := functions.Closest(name, all); c != "" {
				return functions.Permanent(fmt.Errorf("%s: unknown argument %q (did you mean %s? valid: %s)", fn, name, c, strings.Join(all, ", ")))
			}
			return functions.Permanent(fmt.Errorf("%s: unknown argument %q (valid: %s)", fn, name, strings.Join(all, ", ")))
		}
	}
	return nil
}

// argError reports a bad value of the argument name.
func argError(fn, name, value string, err error) error {
	return functions.Permanent(fmt.Errorf("%s: %s=%q: %w", fn, name, value, err))
}

// boolArg parses an optional bool argument.
func boolArg(fn string, p functions.Params, name string) (bool, error) {
	v, ok := p.Args[name]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, argError(fn, name, v, errors.New("want true or false"))
	}
	return b, nil
}

// inputSchema returns the input schema, which the planner always sets.
func inputSchema(fn string, p functions.Params) (*functions.Schema, error) {
	if p.Input == nil {
		return nil, functions.Permanent(fmt.Errorf("%s: no input schema", fn))
	}
	return p.Input, nil
}

// columnIndex finds a column or says which exist.
func columnIndex(s *functions.Schema, name string) (int, error) {
	if i := s.Index(name); i >= 0 {
		return i, nil
	}
	if c := functions.Closest(name, s.Names()); c != "" {
		return -1, fmt.Errorf("unknown column %q (did you mean %q? columns: %s)", name, c, strings.Join(s.Names(), ", "))
	}
	return -1, fmt.Errorf("unknown column %q (columns: %s)", name, strings.Join(s.Names(), ", "))
}

// flatColumns refuses nested columns (list, struct, map) among cols:
// keys, sort orders and aggregates need flat values.
func flatColumns(s *functions.Schema, cols []int, what string) error {
	for _, c := range cols {
		if col := s.Columns[c]; col.IsNested() {
			return fmt.Errorf("column %q is %s: %s over nested columns is not supported", col.Name, col.TypeString(), what)
		}
	}
	return nil
}

// each calls fn for every record of in until io.EOF, and notices ctx's
// cancellation within a few hundred records.
func each(ctx context.Context, in functions.Input, fn func(*functions.Record) error) error {
	return eachOf(ctx, in.Next, fn)
}

// eachBorrowed is each for a fn that keeps no string of a record beyond
// its call (writing one to an Output is fine: Outputs copy): records
// come from NextBorrowed when in lends strings.
func eachBorrowed(ctx context.Context, in functions.Input, fn func(*functions.Record) error) error {
	if b, ok := in.(functions.BorrowingInput); ok {
		return eachOf(ctx, b.NextBorrowed, fn)
	}
	return eachOf(ctx, in.Next, fn)
}

func eachOf(ctx context.Context, next func() (*functions.Record, error), fn func(*functions.Record) error) error {
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// cell returns row[i], or null when the row is too short.
func cell(row functions.Row, i int) functions.Value {
	if i < len(row) {
		return row[i]
	}
	return functions.Value{}
}

// appendText appends v.Text() to b without allocating.
func appendText(b []byte, v functions.Value) []byte {
	if !v.Valid {
		return b
	}
	switch v.Type {
	case functions.Int64:
		return strconv.AppendInt(b, v.I, 10)
	case functions.Float64:
		return functions.AppendFloat(b, v.F, 64)
	case functions.Bool:
		return strconv.AppendBool(b, v.Bool())
	case functions.String:
		return append(b, v.S...)
	}
	return v.AppendText(b)
}
