// Package accesslog is an example of functions of your own run by fanout:
// Parse turns web server access log lines (the Common Log Format and
// Apache's and nginx's "combined" format) into typed records, and
// Visitors counts the distinct visitors (client addresses) and the hits of
// every page, an aggregating function with Map, Merge and Finish.
//
// The programs under cmd/ run them: accesslog is the complete fanout
// command line with these two functions beside the built-in ones
// (cli.Main), accesslog-lambda the Lambda bootstrap (lambdaapp.Start), and
// accesslog-adhoc runs one job from Go code (adhoc.Run).
package accesslog

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
)

// Functions returns the example's functions, for a program's registry.
func Functions() []functions.Function { return []functions.Function{Parse{}, Visitors{}} }

// line matches a Common Log Format line, with the combined format's
// referer and user agent optional at its end.
var line = regexp.MustCompile(`^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\d+|-)`)

// clfTime is the layout of the log's time stamps.
const clfTime = "02/Jan/2006:15:04:05 -0700"

// entry is one parsed log line.
type entry struct {
	ip, method, path string
	at               time.Time
	status, bytes    int64
}

// parseLine parses one access log line.
func parseLine(s string) (entry, error) {
	m := line.FindStringSubmatch(s)
	if m == nil {
		return entry{}, fmt.Errorf("not an access log line: %.80q", s)
	}
	at, err := time.Parse(clfTime, m[2])
	if err != nil {
		return entry{}, fmt.Errorf("time %q: %w", m[2], err)
	}
	status, _ := strconv.ParseInt(m[5], 10, 64) // three digits
	var size int64
	if m[6] != "-" {
		if size, err = strconv.ParseInt(m[6], 10, 64); err != nil {
			return entry{}, fmt.Errorf("size %q: %w", m[6], err)
		}
	}
	path, _, _ := strings.Cut(m[4], "?")
	return entry{ip: m[1], at: at.UTC(), method: m[3], path: path, status: status, bytes: size}, nil
}

// eachEntry calls fn with every parsed line of in (lines input). A line
// that does not parse fails the chunk, naming its object and offset.
func eachEntry(ctx context.Context, in functions.Input, fn func(entry) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Row[0].S == "" {
			continue
		}
		e, err := parseLine(rec.Row[0].S)
		if err != nil {
			return functions.Permanent(&functions.RecordError{Object: rec.Object, Offset: rec.Offset, Err: err})
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// noArgs refuses every argument but the planner's own.
func noArgs(fn string, p functions.Params) error {
	for name := range p.Args {
		if name != "schema" {
			return functions.Permanent(fmt.Errorf("%s: unknown argument %q (it takes none)", fn, name))
		}
	}
	if p.InputFormat != "" && p.InputFormat != "lines" {
		return functions.Permanent(fmt.Errorf("%s: reads access logs as lines, not %s (--format lines)", fn, p.InputFormat))
	}
	return nil
}

// Parse is the map function "accesslog": one typed record per log line.
type Parse struct{}

// ParsedSchema is the layout of Parse's records.
var ParsedSchema = &functions.Schema{Columns: []functions.Column{
	{Name: "ip", Type: functions.String}, {Name: "time", Type: functions.Timestamp},
	{Name: "method", Type: functions.String}, {Name: "path", Type: functions.String},
	{Name: "status", Type: functions.Int64}, {Name: "bytes", Type: functions.Int64},
}}

func (Parse) Name() string { return "accesslog" }
func (Parse) Describe() string {
	return "parse web access log lines (common or combined format) into ip, time, method, path, status, bytes"
}

func (Parse) Prepare(p functions.Params) (functions.Task, error) {
	if err := noArgs("accesslog", p); err != nil {
		return nil, err
	}
	return parseTask{}, nil
}

type parseTask struct{}

func (parseTask) Output() *functions.Schema { return ParsedSchema }

func (parseTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	row := make(functions.Row, 6)
	return eachEntry(ctx, in, func(e entry) error {
		row[0], row[1], row[2] = functions.StringValue(e.ip), functions.TimeValue(e.at), functions.StringValue(e.method)
		row[3], row[4], row[5] = functions.StringValue(e.path), functions.IntValue(e.status), functions.IntValue(e.bytes)
		return out.Write(row)
	})
}

// Visitors is the aggregating function "visitors": per page (path), the
// number of distinct client addresses and of hits. Its partial state is
// the page's sorted set of addresses (newline-separated) and its hit
// count, so the count is exact; memory per page grows with its distinct
// visitors (a HyperLogLog state would bound it at the cost of exactness).
type Visitors struct{}

// VisitorsSchema is the layout of Visitors' final rows.
var VisitorsSchema = &functions.Schema{Columns: []functions.Column{
	{Name: "path", Type: functions.String}, {Name: "visitors", Type: functions.Int64}, {Name: "hits", Type: functions.Int64},
}}

var visitorsPartial = &functions.Schema{Columns: []functions.Column{
	{Name: "path", Type: functions.String}, {Name: "ips", Type: functions.String}, {Name: "hits", Type: functions.Int64},
}}

func (Visitors) Name() string { return "visitors" }
func (Visitors) Describe() string {
	return "distinct visitors (client addresses) and hits per page of web access logs"
}

func (Visitors) Prepare(p functions.Params) (functions.Task, error) {
	if err := noArgs("visitors", p); err != nil {
		return nil, err
	}
	return visitorsTask{}, nil
}

type visitorsTask struct{}

func (visitorsTask) Output() *functions.Schema { return visitorsPartial }
func (visitorsTask) KeyColumns() int           { return 1 }
func (visitorsTask) Final() *functions.Schema  { return VisitorsSchema }

// Map writes one partial row per line; the engine combines rows of equal
// pages before they leave the worker.
func (visitorsTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	row := make(functions.Row, 3)
	return eachEntry(ctx, in, func(e entry) error {
		row[0], row[1], row[2] = functions.StringValue(e.path), functions.StringValue(e.ip), functions.IntValue(1)
		return out.Write(row)
	})
}

// Merge unites the address sets and adds the hits.
func (visitorsTask) Merge(acc, in functions.Row) error {
	acc[1].S = union(acc[1].S, in[1].S)
	acc[2].I += in[2].I
	return nil
}

// union merges two sorted newline-separated sets.
func union(a, b string) string {
	if a == b {
		return a
	}
	set := append(strings.Split(a, "\n"), strings.Split(b, "\n")...)
	slices.Sort(set)
	return strings.Join(slices.Compact(set), "\n")
}

func (visitorsTask) Finish(partial functions.Row, out functions.Output) error {
	n := int64(strings.Count(partial[1].S, "\n") + 1)
	return out.Write(functions.Row{partial[0], functions.IntValue(n), partial[2]})
}
