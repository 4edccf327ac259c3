package builtin

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/contract"
)

// maxLocations is how many places of one duplicated key Duplicates keeps
// (the first ones in object and offset order); count has them all.
const maxLocations = 16

// Duplicates is the duplicates function: it reports every primary-key
// value held by more than one record across the whole job, once, with the
// number of records and where they are. It aggregates through the engine's
// reduce stage (its task is a functions.Reducer), so duplicates in
// different chunks and objects are found.
//
// Arguments:
//
//	contract=TEXT   the contract: its primary_key is the key, and only
//	                records valid under it count (the others are what
//	                validate rejects; they are counted as "invalid")
//	key=col,...     the key columns (instead of, or overriding, the
//	                contract's primary_key)
//
// One of them is required. Without a contract, records with a null key
// column are skipped and counted as "null_key". The output is the key
// columns, count (int64, at least 2) and locations: a JSON array of
// {"object": ..., "offset": ...}, the first 16 records in object and
// offset order.
type Duplicates struct{}

// Name returns "duplicates".
func (Duplicates) Name() string { return "duplicates" }

// Describe returns one line of help.
func (Duplicates) Describe() string {
	return "primary-key values held by more than one record across the job: contract=TEXT (--contract FILE) and/or key=col,..."
}

// InputSchema reads every contract column as a string, as validate does.
func (Duplicates) InputSchema(args map[string]string, format string) (*functions.Schema, error) {
	return contractReadSchema(args, format)
}

// Prepare finds the key columns.
func (Duplicates) Prepare(p functions.Params) (functions.Task, error) {
	const fn = "duplicates"
	if err := checkArgs(fn, p.Args, "contract", "key"); err != nil {
		return nil, err
	}
	in, err := inputSchema(fn, p)
	if err != nil {
		return nil, err
	}
	t := &duplicatesTask{rows: in}
	if _, ok := p.Args["contract"]; ok {
		if t.v, err = compileContract(fn, p, in); err != nil {
			return nil, err
		}
		t.rows = t.v.Schema()
		t.key = t.v.PrimaryKey()
	}
	if key, ok := p.Args["key"]; ok {
		if t.key, err = selectColumns(t.rows, key); err != nil {
			return nil, argError(fn, "key", key, err)
		}
	}
	if len(t.key) == 0 {
		return nil, functions.Permanent(fmt.Errorf("%s: no key: give key=col,... or a contract with a primary_key", fn))
	}
	if err := flatColumns(t.rows, t.key, "a key"); err != nil {
		return nil, functions.Permanent(fmt.Errorf("%s: %w", fn, err))
	}
	t.partial, t.final = &functions.Schema{}, &functions.Schema{}
	for _, c := range t.key {
		t.partial.Columns = append(t.partial.Columns, t.rows.Columns[c])
		t.final.Columns = append(t.final.Columns, t.rows.Columns[c])
	}
	t.partial.Columns = append(t.partial.Columns,
		functions.Column{Name: "count", Type: functions.Int64}, functions.Column{Name: "locations", Type: functions.String})
	t.final.Columns = append(t.final.Columns,
		functions.Column{Name: "count", Type: functions.Int64}, functions.Column{Name: "locations", Type: functions.String})
	return t, nil
}

// duplicatesTask writes one partial row per record: the key, count 1 and
// the record's place; the engine merges them by key.
type duplicatesTask struct {
	v              *contract.Validator // nil without a contract
	rows           *functions.Schema   // the rows keys are taken from
	key            []int
	partial, final *functions.Schema
}

var _ functions.Reducer = (*duplicatesTask)(nil)

func (t *duplicatesTask) Output() *functions.Schema { return t.partial }
func (t *duplicatesTask) KeyColumns() int           { return len(t.key) }
func (t *duplicatesTask) Final() *functions.Schema  { return t.final }

func (t *duplicatesTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	row := make(functions.Row, len(t.key)+2)
	var locs []byte
	var nullKeys int64
	write := func(rec *functions.Record, r functions.Row) error {
		for i, c := range t.key {
			v := cell(r, c)
			if !v.Valid {
				nullKeys++
				return nil
			}
			row[i] = keyValue(v, t.rows.Columns[c].Type)
		}
		locs = appendLocation(locs[:0], rec.Object, rec.Offset)
		row[len(t.key)] = functions.IntValue(1)
		row[len(t.key)+1] = functions.StringValue(string(locs))
		return out.Write(row)
	}
	counts := map[string]int64{}
	if t.v == nil {
		if err := each(ctx, in, func(rec *functions.Record) error { return write(rec, rec.Row) }); err != nil {
			return err
		}
		counts["null_key"] = nullKeys
	} else {
		skip := &countingRejecter{}
		err := eachChecked(ctx, in, t.v, skip, func(rec *functions.Record, valid functions.Row) error {
			return write(rec, valid)
		})
		if err != nil {
			return err
		}
		counts["invalid"] = skip.n
	}
	reportCounters(out, counts)
	return nil
}

// countingRejecter drops rejected records, counting them.
type countingRejecter struct{ n int64 }

func (c *countingRejecter) Reject(*functions.Record, []functions.Violation) error {
	c.n++
	return nil
}

// Merge adds the counts and keeps the first locations.
func (t *duplicatesTask) Merge(acc, in functions.Row) error {
	k := len(t.key)
	acc[k].I += in[k].I
	merged, err := mergeLocations([]byte(acc[k+1].S), []byte(in[k+1].S))
	if err != nil {
		return functions.Permanent(fmt.Errorf("duplicates: %w", err))
	}
	acc[k+1].S = string(merged)
	return nil
}

// Finish writes the keys held by more than one record.
func (t *duplicatesTask) Finish(partial functions.Row, out functions.Output) error {
	k := len(t.key)
	if partial[k].I < 2 {
		return nil
	}
	locs, err := decodeLocations([]byte(partial[k+1].S))
	if err != nil {
		return functions.Permanent(fmt.Errorf("duplicates: %w", err))
	}
	js, err := json.Marshal(locs)
	if err != nil {
		return err
	}
	row := make(functions.Row, k+2)
	copy(row, partial[:k+1])
	row[k+1] = functions.StringValue(string(js))
	return out.Write(row)
}

// location is one record's place.
type location struct {
	Object string `json:"object"`
	Offset int64  `json:"offset"`
}

// appendLocation encodes one location: uvarint(len object) object
// varint(offset). A list is such entries in object and offset order.
func appendLocation(dst []byte, object string, offset int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(object)))
	dst = append(dst, object...)
	return binary.AppendVarint(dst, offset)
}

func decodeLocations(b []byte) ([]location, error) {
	var out []location
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, errCorruptState
		}
		obj := string(b[n : n+int(l)])
		b = b[n+int(l):]
		off, m := binary.Varint(b)
		if m <= 0 {
			return nil, errCorruptState
		}
		b = b[m:]
		out = append(out, location{Object: obj, Offset: off})
	}
	return out, nil
}

// mergeLocations merges two sorted lists, keeping the first maxLocations.
func mergeLocations(a, b []byte) ([]byte, error) {
	la, err := decodeLocations(a)
	if err != nil {
		return nil, err
	}
	lb, err := decodeLocations(b)
	if err != nil {
		return nil, err
	}
	var out []byte
	for n := 0; n < maxLocations && (len(la) > 0 || len(lb) > 0); n++ {
		var next location
		if len(lb) == 0 || (len(la) > 0 && compareLocation(la[0], lb[0]) <= 0) {
			next, la = la[0], la[1:]
		} else {
			next, lb = lb[0], lb[1:]
		}
		out = appendLocation(out, next.Object, next.Offset)
	}
	return out, nil
}

func compareLocation(a, b location) int {
	if c := cmp.Compare(a.Object, b.Object); c != 0 {
		return c
	}
	return cmp.Compare(a.Offset, b.Offset)
}
