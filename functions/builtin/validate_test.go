package builtin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

const peopleContract = `
primary_key: [id]
columns:
  - {name: id, type: int64}
  - {name: name, required: true, trim: true}
  - {name: age, type: int64, min: 0, max: 150}
`

// step is one Next result of a scriptedInput: a record or an error.
type step struct {
	rec functions.Record
	err error
}

// scriptedInput returns its steps in order, then io.EOF.
type scriptedInput struct {
	schema *functions.Schema
	steps  []step
	i      int
}

func (in *scriptedInput) Schema() *functions.Schema { return in.schema }

func (in *scriptedInput) Next() (*functions.Record, error) {
	if in.i == len(in.steps) {
		return nil, io.EOF
	}
	in.i++
	s := &in.steps[in.i-1]
	if s.err != nil {
		return nil, s.err
	}
	return &s.rec, nil
}

// csvRecord is a record as the CSV reader gives it with a string schema.
func csvRecord(off int64, raw string) step {
	row := functions.Row{}
	for _, f := range strings.Split(raw, ",") {
		if f == "" {
			row = append(row, functions.Null(functions.String))
		} else {
			row = append(row, functions.StringValue(f))
		}
	}
	return step{rec: functions.Record{Row: row, Raw: []byte(raw), Object: "in.csv", Offset: off}}
}

func malformedRecord(off int64, raw string, err error) step {
	return step{err: &functions.RecordError{Object: "in.csv", Offset: off, Err: err, Raw: []byte(raw)}}
}

// rejectingOutput is an in-memory Output with a rejected side output and
// counters, as the engine's.
type rejectingOutput struct {
	sliceOutput
	rejected []string // object@offset rule/column ...
	counters map[string]int64
}

func (o *rejectingOutput) Reject(rec *functions.Record, v []functions.Violation) error {
	s := fmt.Sprintf("%s@%d", rec.Object, rec.Offset)
	for _, x := range v {
		s += " " + x.Rule + "/" + x.Column
	}
	o.rejected = append(o.rejected, s)
	return nil
}

func (o *rejectingOutput) Count(name string, n int64) {
	if o.counters == nil {
		o.counters = map[string]int64{}
	}
	o.counters[name] += n
}

var stringPeople = &functions.Schema{Columns: []functions.Column{{Name: "id"}, {Name: "name"}, {Name: "age"}}}

func peopleSteps() []step {
	return []step{
		csvRecord(10, "1, alice ,30"),
		csvRecord(20, "2,bob,x"),
		malformedRecord(30, "3,carol", errors.New("record has 2 fields, the header has 3")),
		malformedRecord(40, "4,d\xffve,40", errors.New("record is not valid UTF-8")),
		csvRecord(50, "5,,200"),
		csvRecord(60, "6,eve,"),
	}
}

func TestValidateRejectsEveryBrokenRecordOnce(t *testing.T) {
	task, err := builtin.Validate{}.Prepare(functions.Params{Args: map[string]string{"contract": peopleContract}, Input: stringPeople})
	if err != nil {
		t.Fatal(err)
	}
	if got := task.Output().String(); got != "id:int64,name:string,age:int64" {
		t.Fatalf("got output schema %s", got)
	}
	out := &rejectingOutput{}
	if err := task.Map(context.Background(), &scriptedInput{schema: stringPeople, steps: peopleSteps()}, out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.texts(), []string{"1,alice,30", "6,eve,"}; !slices.Equal(got, want) {
		t.Errorf("valid rows: got %q, want %q", got, want)
	}
	want := []string{"in.csv@20 type/age", "in.csv@30 malformed/", "in.csv@40 encoding/", "in.csv@50 required/name max/age"}
	if !slices.Equal(out.rejected, want) {
		t.Errorf("rejected: got %q, want %q", out.rejected, want)
	}
	if out.counters["trim.name"] != 1 || len(out.counters) != 1 {
		t.Errorf("counters: got %v, want trim.name 1", out.counters)
	}
}

func TestValidateSelectWhereRenameAndConvert(t *testing.T) {
	args := map[string]string{"contract": peopleContract, "select": "name,age", "where": "age >= 18", "rename": "name:who"}
	for _, fn := range []functions.Function{builtin.Validate{}, builtin.Convert{}} {
		t.Run(fn.Name(), func(t *testing.T) {
			task, err := fn.Prepare(functions.Params{Args: args, Input: stringPeople})
			if err != nil {
				t.Fatal(err)
			}
			if got := task.Output().String(); got != "who:string,age:int64" {
				t.Fatalf("got output schema %s", got)
			}
			out := &rejectingOutput{}
			if err := task.Map(context.Background(), &scriptedInput{schema: stringPeople, steps: peopleSteps()}, out); err != nil {
				t.Fatal(err)
			}
			if got := out.texts(); !slices.Equal(got, []string{"alice,30"}) {
				t.Errorf("got %q, want alice,30 (eve has no age)", got)
			}
			if len(out.rejected) != 4 {
				t.Errorf("got %d rejected, want 4", len(out.rejected))
			}
		})
	}
}

func TestValidateFailsWhatItCannotReject(t *testing.T) {
	prepare := func(t *testing.T) functions.Task {
		task, err := builtin.Validate{}.Prepare(functions.Params{Args: map[string]string{"contract": peopleContract}, Input: stringPeople})
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
	t.Run("no side output", func(t *testing.T) {
		err := prepare(t).Map(context.Background(), &scriptedInput{schema: stringPeople, steps: peopleSteps()}, &sliceOutput{})
		if !functions.IsPermanent(err) || !strings.Contains(err.Error(), "cannot take rejected records") {
			t.Fatalf("got %v, want a permanent error about the output", err)
		}
	})
	t.Run("reader that cannot skip", func(t *testing.T) {
		re := &functions.RecordError{Object: "in.csv", Offset: 5, Err: errors.New("too large")}
		err := prepare(t).Map(context.Background(), &scriptedInput{schema: stringPeople, steps: []step{{err: re}}}, &rejectingOutput{})
		if !errors.Is(err, re) {
			t.Fatalf("got %v, want the reader's error", err)
		}
	})
	t.Run("reader stuck on one record", func(t *testing.T) {
		bad := malformedRecord(7, "x", errors.New("bad header"))
		out := &rejectingOutput{}
		err := prepare(t).Map(context.Background(), &scriptedInput{schema: stringPeople, steps: []step{bad, bad}}, out)
		if err == nil || len(out.rejected) != 1 {
			t.Fatalf("got %v with %d rejected, want the error after one rejection", err, len(out.rejected))
		}
	})
	t.Run("bad contract", func(t *testing.T) {
		_, err := builtin.Validate{}.Prepare(functions.Params{Args: map[string]string{"contract": "columns: [{name: nope}]"}, Input: stringPeople})
		if !functions.IsPermanent(err) || !strings.Contains(err.Error(), `"nope" is not in the input`) {
			t.Fatalf("got %v, want a permanent error naming the column", err)
		}
	})
	t.Run("no contract", func(t *testing.T) {
		_, err := builtin.Validate{}.Prepare(functions.Params{Args: map[string]string{}, Input: stringPeople})
		if err == nil || !strings.Contains(err.Error(), "missing argument contract") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestValidateTellsThePlannerToReadStrings(t *testing.T) {
	args := map[string]string{"contract": peopleContract}
	for _, fn := range []functions.InputSchemer{builtin.Validate{}, builtin.Convert{}, builtin.Duplicates{}} {
		s, err := fn.InputSchema(args, "csv")
		if err != nil || s.String() != "id:string,name:string,age:string" {
			t.Errorf("%T: got %v, %v; want every column a string", fn, s, err)
		}
		if s, err := fn.InputSchema(args, "lines"); s != nil || err != nil {
			t.Errorf("%T lines: got %v, %v; want nil", fn, s, err)
		}
	}
	if s, err := (builtin.Convert{}).InputSchema(map[string]string{}, "csv"); s != nil || err != nil {
		t.Errorf("convert without a contract: got %v, %v; want nil (infer)", s, err)
	}
}

func TestDuplicatesReportsEachKeyOnceAcrossChunks(t *testing.T) {
	in := &sliceInput{schema: stringPeople}
	want := map[string]int{} // id -> records
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 400 {
		id := i
		if i%10 == 3 {
			id = rng.IntN(i) // a duplicate of an earlier id
		}
		age := "30"
		if i%17 == 0 {
			age = "-1" // invalid: not counted
		} else {
			want[fmt.Sprint(id)]++
		}
		rec := csvRecord(int64(i*100), fmt.Sprintf("%d,n%d,%s", id, i, age)).rec
		rec.Object = fmt.Sprintf("part-%d.csv", i%3)
		in.recs = append(in.recs, rec)
	}
	rows, err := mapReduce(t, rng, builtin.Duplicates{}, map[string]string{"contract": peopleContract}, in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rows {
		id := r[0].Text()
		if _, dup := got[id]; dup {
			t.Errorf("key %s reported twice", id)
		}
		got[id] = int(r[1].I)
		var locs []struct {
			Object string `json:"object"`
			Offset int64  `json:"offset"`
		}
		if err := json.Unmarshal([]byte(r[2].S), &locs); err != nil {
			t.Fatalf("locations %q: %v", r[2].S, err)
		}
		if len(locs) != got[id] || !slices.IsSortedFunc(locs, func(a, b struct {
			Object string `json:"object"`
			Offset int64  `json:"offset"`
		}) int {
			return strings.Compare(fmt.Sprintf("%s/%09d", a.Object, a.Offset), fmt.Sprintf("%s/%09d", b.Object, b.Offset))
		}) {
			t.Errorf("key %s: got locations %v for count %d, want all of them in order", id, locs, got[id])
		}
	}
	for id, n := range want {
		if n > 1 && got[id] != n {
			t.Errorf("key %s: got count %d, want %d", id, got[id], n)
		}
		if n == 1 && got[id] != 0 {
			t.Errorf("key %s is unique but was reported", id)
		}
	}
}

func TestDuplicatesWithoutContract(t *testing.T) {
	in := rows(people,
		functions.Row{functions.StringValue("a"), functions.IntValue(1), functions.Null(functions.Bool)},
		functions.Row{functions.StringValue("a"), functions.IntValue(2), functions.Null(functions.Bool)},
		functions.Row{functions.Null(functions.String), functions.IntValue(3), functions.Null(functions.Bool)},
		functions.Row{functions.Null(functions.String), functions.IntValue(4), functions.Null(functions.Bool)},
	)
	got, err := mapReduce(t, rand.New(rand.NewPCG(1, 2)), builtin.Duplicates{}, map[string]string{"key": "name"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0][0].S != "a" || got[0][1].I != 2 {
		t.Fatalf("got %v, want one row a,2 (null keys are not duplicates)", got)
	}
	if _, err := (builtin.Duplicates{}).Prepare(functions.Params{Args: map[string]string{}, Input: people}); err == nil {
		t.Fatal("no key: got no error")
	}
	if _, err := (builtin.Duplicates{}).Prepare(functions.Params{Args: map[string]string{"contract": "columns: [{name: name}]"}, Input: people}); err == nil ||
		!strings.Contains(err.Error(), "primary_key") {
		t.Fatalf("contract without a key: got %v", err)
	}
}
