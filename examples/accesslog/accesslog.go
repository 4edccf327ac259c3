// Package accesslog is an example of functions of your own run by fanout:
// Parse turns web server access log lines (the Common Log Format and
// Apache's and nginx's "combined" format) into typed records, and
// Visitors counts the distinct visitors (client addresses) and the hits of
// every page, an aggregating function with Map, Merge and Finish whose
// distinct count is a mergeable HyperLogLog state (package
// functions/sketch).
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
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/sketch"
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
// number of distinct visitors (client addresses) and of hits. The
// distinct count is a HyperLogLog (sketch.Distinct, the one fanout
// profile uses): each chunk's Map keeps one sketch per page and writes its
// state into the page's partial row, Merge unites two states (in the
// worker's combiner and in the reduce), Finish estimates. A page's state
// is at most 16 KiB however many visitors it has; the count is within
// sketch.DistinctError (0.81%) relative standard error, and (nearly)
// exact below a few hundred visitors. Hits are counted exactly.
type Visitors struct{}

// VisitorsSchema is the layout of Visitors' final rows.
var VisitorsSchema = &functions.Schema{Columns: []functions.Column{
	{Name: "path", Type: functions.String}, {Name: "visitors", Type: functions.Int64}, {Name: "hits", Type: functions.Int64},
}}

// visitorsPartial is the layout of Visitors' partial rows: the page, its
// visitors' HyperLogLog state and its hits.
var visitorsPartial = &functions.Schema{Columns: []functions.Column{
	{Name: "path", Type: functions.String}, {Name: "visitors_hll", Type: functions.Binary}, {Name: "hits", Type: functions.Int64},
}}

func (Visitors) Name() string { return "visitors" }
func (Visitors) Describe() string {
	return "distinct visitors (client addresses, HyperLogLog) and hits per page of web access logs"
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

// page is one page's state while a chunk is read.
type page struct {
	visitors *sketch.Distinct
	hits     int64
}

// Map keeps a sketch per page over the chunk and writes one partial row
// per page at its end.
func (visitorsTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	pages := map[string]*page{}
	err := eachEntry(ctx, in, func(e entry) error {
		p := pages[e.path]
		if p == nil {
			p = &page{visitors: sketch.NewDistinct()}
			pages[e.path] = p
		}
		p.visitors.Add(e.ip)
		p.hits++
		return nil
	})
	if err != nil {
		return err
	}
	for _, path := range slices.Sorted(maps.Keys(pages)) {
		state, err := pages[path].visitors.MarshalBinary()
		if err != nil {
			return err
		}
		if err := out.Write(functions.Row{functions.StringValue(path), binaryValue(state), functions.IntValue(pages[path].hits)}); err != nil {
			return err
		}
	}
	return nil
}

func binaryValue(b []byte) functions.Value {
	return functions.Value{Type: functions.Binary, Valid: true, S: string(b)}
}

// Merge unites the visitor sketches and adds the hits.
func (visitorsTask) Merge(acc, in functions.Row) error {
	a, err := sketch.DistinctFrom([]byte(acc[1].S))
	if err != nil {
		return functions.Permanent(err)
	}
	b, err := sketch.DistinctFrom([]byte(in[1].S))
	if err != nil {
		return functions.Permanent(err)
	}
	if err := a.Merge(b); err != nil {
		return functions.Permanent(err)
	}
	state, err := a.MarshalBinary()
	if err != nil {
		return err
	}
	acc[1] = binaryValue(state)
	acc[2].I += in[2].I
	return nil
}

func (visitorsTask) Finish(partial functions.Row, out functions.Output) error {
	d, err := sketch.DistinctFrom([]byte(partial[1].S))
	if err != nil {
		return functions.Permanent(err)
	}
	// An estimate above the hits cannot be right: there are at most as
	// many visitors as hits.
	n := min(int64(d.Estimate()), partial[2].I)
	return out.Write(functions.Row{partial[0], functions.IntValue(n), partial[2]})
}
