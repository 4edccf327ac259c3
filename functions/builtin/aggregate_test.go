package builtin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
)

// sales is the schema of the random aggregate tests.
var sales = &functions.Schema{Columns: []functions.Column{
	{Name: "region", Type: functions.String},
	{Name: "year", Type: functions.Int64},
	{Name: "qty", Type: functions.Int64},
	{Name: "price", Type: functions.Float64},
	{Name: "note", Type: functions.String},
	{Name: "at", Type: functions.Timestamp},
	{Name: "ok", Type: functions.Bool},
}}

// randomSales returns n rows with a few groups, nulls everywhere, large
// integers and floats that are multiples of 1/8 (so that their sums are
// exact and comparable).
func randomSales(rng *rand.Rand, n int) *sliceInput {
	maybe := func(v functions.Value) functions.Value {
		if rng.IntN(10) == 0 {
			return functions.Null(v.Type)
		}
		return v
	}
	regions := []string{"north", "south", "east", ""}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var rs []functions.Row
	for range n {
		qty := rng.Int64N(2_000_001) - 1_000_000
		if rng.IntN(20) == 0 {
			qty *= 1 << 30 // still far from overflowing in sums of n
		}
		rs = append(rs, functions.Row{
			maybe(functions.StringValue(regions[rng.IntN(len(regions))])),
			maybe(functions.IntValue(2023 + rng.Int64N(2))),
			maybe(functions.IntValue(qty)),
			maybe(functions.FloatValue(float64(rng.Int64N(1<<24)-1<<23) / 8)),
			maybe(functions.StringValue(fmt.Sprintf("n%x", rng.IntN(4096)))),
			maybe(functions.TimeValue(base.Add(time.Duration(rng.Int64N(1e6)) * time.Second))),
			maybe(functions.BoolValue(rng.IntN(2) == 0)),
		})
	}
	return rows(sales, rs...)
}

// serialAggregate is the reference: it groups in and computes each
// aggregate exactly (math/big), in the order of the rows. It supports the
// "agg" lists of the random test.
func serialAggregate(t *testing.T, in *sliceInput, by []string, aggs []string) []string {
	t.Helper()
	type group struct {
		key  functions.Row
		rows []functions.Row
	}
	groups := map[string]*group{}
	var order []string
	for _, rec := range in.recs {
		var key functions.Row
		for _, name := range by {
			key = append(key, rec.Row[in.schema.Index(name)])
		}
		k := keyText(key)
		if groups[k] == nil {
			groups[k] = &group{key: key}
			order = append(order, k)
		}
		groups[k].rows = append(groups[k].rows, rec.Row)
	}
	if len(by) == 0 && len(groups) == 0 {
		groups[""] = &group{}
		order = append(order, "")
	}
	var out []string
	for _, k := range order {
		g := groups[k]
		var fields []string
		for _, v := range g.key {
			fields = append(fields, v.Text())
		}
		for _, agg := range aggs {
			if agg == "count" {
				fields = append(fields, fmt.Sprint(len(g.rows)))
				continue
			}
			fn, col, _ := strings.Cut(strings.TrimSuffix(agg, ")"), "(")
			c := in.schema.Index(col)
			var vals []functions.Value
			for _, r := range g.rows {
				if r[c].Valid {
					vals = append(vals, r[c])
				}
			}
			if len(vals) == 0 {
				fields = append(fields, "")
				continue
			}
			sum := new(big.Rat)
			for _, v := range vals {
				if v.Type == functions.Int64 {
					sum.Add(sum, new(big.Rat).SetInt64(v.I))
				} else {
					sum.Add(sum, new(big.Rat).SetFloat64(v.F))
				}
			}
			var res functions.Value
			switch fn {
			case "sum":
				if vals[0].Type == functions.Int64 {
					if !sum.Num().IsInt64() {
						t.Fatalf("the reference sum of %s overflows", col)
					}
					res = functions.IntValue(sum.Num().Int64())
				} else {
					f, _ := sum.Float64()
					res = functions.FloatValue(f)
				}
			case "avg":
				f, _ := sum.Quo(sum, new(big.Rat).SetInt64(int64(len(vals)))).Float64()
				res = functions.FloatValue(f)
			case "min":
				res = slices.MinFunc(vals, functions.Compare)
			case "max":
				res = slices.MaxFunc(vals, functions.Compare)
			default:
				t.Fatalf("reference: unknown aggregate %s", agg)
			}
			fields = append(fields, res.Text())
		}
		out = append(out, strings.Join(fields, ","))
	}
	slices.Sort(out)
	return out
}

func TestAggregateRandom(t *testing.T) {
	aggs := []string{"count", "sum(qty)", "sum(price)", "min(qty)", "max(qty)", "avg(qty)", "avg(price)",
		"min(price)", "max(price)", "min(note)", "max(note)", "min(at)", "max(at)", "min(ok)", "max(ok)", "max(region)"}
	tests := []struct {
		name string
		by   []string
		n    int
	}{
		{"one group", nil, 300},
		{"by region", []string{"region"}, 300},
		{"by region and year", []string{"region", "year"}, 500},
		{"by bool", []string{"ok"}, 200},
		{"by timestamp", []string{"at"}, 100},
		{"empty", []string{"region"}, 0},
		{"empty one group", nil, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := randomSales(rand.New(rand.NewPCG(uint64(i), 7)), tt.n)
			args := map[string]string{"agg": strings.Join(aggs, ",")}
			if tt.by != nil {
				args["by"] = strings.Join(tt.by, ",")
			}
			got, err := runTimes(t, builtin.Aggregate{}, args, in)
			if err != nil {
				t.Fatal(err)
			}
			if want := serialAggregate(t, in, tt.by, aggs); !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

// nums is a small schema for hand-written aggregate cases.
var nums = &functions.Schema{Columns: []functions.Column{
	{Name: "g", Type: functions.String},
	{Name: "x", Type: functions.Int64},
	{Name: "f", Type: functions.Float64},
}}

// numRows builds rows of nums; nil is null.
func numRows(vals ...[3]any) *sliceInput {
	var rs []functions.Row
	for _, v := range vals {
		r := functions.Row{functions.Null(functions.String), functions.Null(functions.Int64), functions.Null(functions.Float64)}
		if s, ok := v[0].(string); ok {
			r[0] = functions.StringValue(s)
		}
		if x, ok := v[1].(int); ok {
			r[1] = functions.IntValue(int64(x))
		}
		if x, ok := v[1].(int64); ok {
			r[1] = functions.IntValue(x)
		}
		if f, ok := v[2].(float64); ok {
			r[2] = functions.FloatValue(f)
		}
		rs = append(rs, r)
	}
	return rows(nums, rs...)
}

func TestAggregateCases(t *testing.T) {
	inf, nan, negZero := math.Inf(1), math.NaN(), math.Copysign(0, -1)
	tests := []struct {
		name   string
		in     *sliceInput
		args   map[string]string
		schema string
		want   []string
	}{
		{"count is the default", numRows([3]any{"a"}, [3]any{"b"}, [3]any{}), nil,
			"count:int64", []string{"3"}},
		{"empty chunk without by", numRows(), map[string]string{"agg": "count,sum(x),min(g),avg(f)"},
			"count:int64,sum_x:int64,min_g:string,avg_f:float64", []string{"0,,,"}},
		{"empty chunk with by", numRows(), map[string]string{"by": "g", "agg": "count"},
			"g:string,count:int64", []string{}},
		{"nulls are ignored but counted", numRows([3]any{"a", 1, 1.5}, [3]any{"a"}, [3]any{"a", 3}),
			map[string]string{"by": "g", "agg": "count,sum(x),sum(f),avg(x),avg(f),min(f),max(x)"},
			"g:string,count:int64,sum_x:int64,sum_f:float64,avg_x:float64,avg_f:float64,min_f:float64,max_x:int64",
			[]string{"a,3,4,1.5,2.0,1.5,1.5,3"}},
		{"only nulls", numRows([3]any{"a"}, [3]any{"a"}),
			map[string]string{"by": "g", "agg": "sum(x),sum(f),avg(x),min(x),max(f),count"},
			"g:string,sum_x:int64,sum_f:float64,avg_x:float64,min_x:int64,max_f:float64,count:int64",
			[]string{"a,,,,,,2"}},
		{"null key is a group", numRows([3]any{nil, 1}, [3]any{"", 2}, [3]any{nil, 4}),
			map[string]string{"by": "g", "agg": "sum(x)"}, "g:string,sum_x:int64", []string{",2", ",5"}},
		{"float keys -0 and 0 are one", numRows([3]any{"a", 1, negZero}, [3]any{"a", 2, 0.0}, [3]any{"a", 4, nan}, [3]any{"a", 8, nan}),
			map[string]string{"by": "f", "agg": "sum(x)"}, "f:float64,sum_x:int64", []string{"0.0,3", "NaN,12"}},
		{"min and max order -0 < 0 < NaN", numRows([3]any{"a", 1, 0.0}, [3]any{"a", 1, negZero}, [3]any{"a", 1, nan}, [3]any{"a", 1, -inf}, [3]any{"a", 1, 2.0}),
			map[string]string{"agg": "min(f),max(f)"}, "min_f:float64,max_f:float64", []string{"-Inf,NaN"}},
		{"min of zeros", numRows([3]any{"a", 1, 0.0}, [3]any{"a", 1, negZero}),
			map[string]string{"agg": "min(f),max(f)"}, "min_f:float64,max_f:float64", []string{"-0.0,0.0"}},
		{"sum with infinity", numRows([3]any{"a", 0, 1.0}, [3]any{"a", 0, inf}, [3]any{"b", 0, inf}, [3]any{"b", 0, -inf}, [3]any{"c", 0, 1e308}, [3]any{"c", 0, 1e308}),
			map[string]string{"by": "g", "agg": "sum(f)"}, "g:string,sum_f:float64", []string{"a,+Inf", "b,NaN", "c,+Inf"}},
		{"min and max of strings", numRows([3]any{"b"}, [3]any{nil}, [3]any{"a"}, [3]any{"ab"}),
			map[string]string{"agg": "min(g),max(g),count"}, "min_g:string,max_g:string,count:int64", []string{"a,b,4"}},
		{"by and agg on one column", numRows([3]any{"a", 1}, [3]any{"b", 2}),
			map[string]string{"by": "g", "agg": "count(*),max(g)"}, "g:string,count:int64,max_g:string", []string{"a,1,a", "b,1,b"}},
		{"spaces and case", numRows([3]any{"a", 1}, [3]any{"a", 2}),
			map[string]string{"by": " g ", "agg": " Count , SUM( x ) ,, avg(x)"}, "g:string,count:int64,sum_x:int64,avg_x:float64", []string{"a,2,3,1.5"}},
		{"big int avg", numRows([3]any{"a", int64(math.MaxInt64)}, [3]any{"a", int64(math.MaxInt64)}, [3]any{"a", int64(math.MaxInt64 - 2)}),
			map[string]string{"agg": "avg(x)"}, "avg_x:float64", []string{"9.223372036854776e+18"}},
		{"int64 min", numRows([3]any{"a", int64(math.MinInt64)}, [3]any{"a", 0}),
			map[string]string{"agg": "sum(x),min(x)"}, "sum_x:int64,min_x:int64", []string{"-9223372036854775808,-9223372036854775808"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task, err := builtin.Aggregate{}.Prepare(functions.Params{Args: tt.args, Input: tt.in.schema})
			if err != nil {
				t.Fatal(err)
			}
			if got := task.(functions.Reducer).Final().String(); got != tt.schema {
				t.Errorf("got schema %s, want %s", got, tt.schema)
			}
			got, err := runTimes(t, builtin.Aggregate{}, tt.args, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAggregatePartialSchema pins the partial layout the engine stores.
func TestAggregatePartialSchema(t *testing.T) {
	in := &functions.Schema{Columns: []functions.Column{
		{Name: "k", Type: functions.String},
		{Name: "x", Type: functions.Int64},
		{Name: "f", Type: functions.Float64},
		{Name: "c_f", Type: functions.Float64},
	}}
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Input: in, Args: map[string]string{
		"by": "k", "agg": "count,sum(x),sum(f),min(x),max(f),avg(x),avg(f),sum(c_f)"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "k:string,count:int64,__sum_x:int64,__sum_hi_x:int64,__sum_f:float64,__sum_c_f:float64,min_x:int64,max_f:float64," +
		"__avg_sum_x:int64,__avg_hi_x:int64,__avg_n_x:int64,__avg_sum_f:float64,__avg_c_f:float64,__avg_n_f:int64," +
		"__sum_c_f#2:float64,__sum_c_c_f:float64"
	if got := task.Output().String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := task.(functions.Reducer).KeyColumns(), 1; got != want {
		t.Errorf("got %d key columns, want %d", got, want)
	}
}

func TestAggregateOverflow(t *testing.T) {
	const maxInt, minInt = math.MaxInt64, math.MinInt64
	tests := []struct {
		name string
		in   *sliceInput
		args map[string]string
		want string // an error, or the result
	}{
		{"max", numRows([3]any{"a", int64(maxInt)}, [3]any{"a", 1}), map[string]string{"agg": "sum(x)"},
			"aggregate: sum(x): int64 overflow"},
		{"min", numRows([3]any{"a", int64(minInt)}, [3]any{"a", -1}), map[string]string{"agg": "sum(x)"},
			"aggregate: sum(x): int64 overflow"},
		{"names the group", numRows([3]any{"a", 1}, [3]any{"b", int64(maxInt)}, [3]any{"b", int64(maxInt)}), map[string]string{"by": "g", "agg": "sum(x)"},
			`aggregate: sum(x) in group g="b": int64 overflow`},
		{"avg does not overflow", numRows([3]any{"a", int64(maxInt)}, [3]any{"a", int64(maxInt)}), map[string]string{"agg": "avg(x)"},
			"9.223372036854776e+18"},
		// Whether an intermediate sum overflowed depends on how rows were
		// split and merged; the result does not.
		{"overflow on the way", numRows([3]any{"a", int64(maxInt)}, [3]any{"a", 1}, [3]any{"a", -1}, [3]any{"a", int64(maxInt)}, [3]any{"a", int64(minInt)}, [3]any{"a", int64(minInt)}),
			map[string]string{"agg": "sum(x)"}, "-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runTimes(t, builtin.Aggregate{}, tt.args, tt.in)
			if strings.Contains(tt.want, "overflow") {
				if err == nil || err.Error() != tt.want || !errors.Is(err, builtin.ErrOverflow) || !functions.IsPermanent(err) {
					t.Fatalf("got %q, %v, want a permanent error %q", got, err, tt.want)
				}
				return
			}
			if err != nil || !slices.Equal(got, []string{tt.want}) {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

// TestAggregateOverflowWhenMerging maps two chunks whose sums fit and
// merges them into one that does not.
func TestAggregateOverflowWhenMerging(t *testing.T) {
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Input: nums, Args: map[string]string{"agg": "sum(x)"}})
	if err != nil {
		t.Fatal(err)
	}
	red := task.(functions.Reducer)
	var partials []functions.Row
	for _, x := range []int64{math.MaxInt64 - 1, 2} {
		out := &sliceOutput{}
		if err := task.Map(context.Background(), numRows([3]any{"a", x}), out); err != nil {
			t.Fatal(err)
		}
		if err := red.Finish(out.rows[0], &sliceOutput{}); err != nil {
			t.Fatalf("one chunk's sum: %v", err)
		}
		partials = append(partials, out.rows[0])
	}
	if err := red.Merge(partials[0], partials[1]); err != nil {
		t.Fatal(err)
	}
	err = red.Finish(partials[0], &sliceOutput{})
	if !errors.Is(err, builtin.ErrOverflow) || !functions.IsPermanent(err) {
		t.Errorf("got %v, want a permanent ErrOverflow", err)
	}
}

// TestAggregateKahan checks compensated summation, across chunks and
// merges: 1e16 + 1 - 1e16 is 1, where a plain float sum gives 0.
func TestAggregateKahan(t *testing.T) {
	const n = 1000
	var pattern, tenths [][3]any
	var naive float64
	for range n {
		for _, f := range []float64{1e16, 1, -1e16} {
			pattern = append(pattern, [3]any{"a", 0, f})
			naive += f
		}
	}
	for range 10 {
		tenths = append(tenths, [3]any{"a", 0, 0.1})
	}
	if naive == n {
		t.Fatalf("a plain sum gives %v: the test shows nothing", naive)
	}
	shuffled := slices.Clone(pattern)
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	tests := []struct {
		name string
		in   *sliceInput
		want string
	}{
		{"1e16 1 -1e16", numRows(pattern...), fmt.Sprintf("%d.0,%v", n, float64(n)/(3*n))},
		{"shuffled", numRows(shuffled...), fmt.Sprintf("%d.0,%v", n, float64(n)/(3*n))},
		{"ten tenths", numRows(tenths...), "1.0,0.1"},
		{"large and small", numRows([3]any{"a", 0, 1e100}, [3]any{"a", 0, 1.0}, [3]any{"a", 0, -1e100}, [3]any{"a", 0, 1.0}), "2.0,0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runTimes(t, builtin.Aggregate{}, map[string]string{"agg": "sum(f),avg(f)"}, tt.in)
			if err != nil || !slices.Equal(got, []string{tt.want}) {
				t.Errorf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

// BenchmarkAggregateMap measures Map's throughput (rows/s) on a typical
// group-by: a few hundred groups, four aggregates.
func BenchmarkAggregateMap(b *testing.B) {
	sample := randomSales(rand.New(rand.NewPCG(1, 1)), 4096)
	for i := range sample.recs { // 4 regions x 100 years
		sample.recs[i].Row[1] = functions.IntValue(int64(2000 + i%100))
	}
	in := &cycleInput{sample: sample, n: 1_000_000}
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Input: sales, Args: map[string]string{
		"by": "region,year", "agg": "count,sum(qty),avg(price),max(note)"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		in.i = 0
		out := &sliceOutput{}
		if err := task.Map(context.Background(), in, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(in.n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// cycleInput returns n records, cycling through sample's like a reader
// that reuses its row.
type cycleInput struct {
	sample *sliceInput
	n, i   int
	rec    functions.Record
}

func (in *cycleInput) Schema() *functions.Schema { return in.sample.schema }

func (in *cycleInput) Next() (*functions.Record, error) {
	if in.i == in.n {
		return nil, io.EOF
	}
	in.rec.Row = append(in.rec.Row[:0], in.sample.recs[in.i%len(in.sample.recs)].Row...)
	in.i++
	return &in.rec, nil
}

// TestAggregateTypedColumns groups by a date and a decimal(38,10) key and
// sums and averages int32 and float32 columns (as int64 and float64),
// min and max of uint64 above int64, decimals and dates exactly.
func TestAggregateTypedColumns(t *testing.T) {
	d38 := functions.DecimalOf(38, 10)
	schema := &functions.Schema{Columns: []functions.Column{
		{Name: "day", Type: functions.Date}, {Name: "k", Type: d38}, {Name: "n", Type: functions.Int32},
		{Name: "f", Type: functions.Float32}, {Name: "u", Type: functions.Uint64},
	}}
	dec := func(s string) functions.Value {
		v, err := functions.ParseDecimal(d38, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	in := &sliceInput{schema: schema}
	for i, r := range []functions.Row{
		{{Type: functions.Date, Valid: true, I: 19844}, dec("-813180378.8478518982"), {Type: functions.Int32, Valid: true, I: 2147483647}, {Type: functions.Float32, Valid: true, F: 0.5}, {Type: functions.Uint64, Valid: true, I: -1}},
		{{Type: functions.Date, Valid: true, I: 19844}, dec("-813180378.8478518982"), {Type: functions.Int32, Valid: true, I: 2147483647}, {Type: functions.Float32, Valid: true, F: 1.5}, {Type: functions.Uint64, Valid: true, I: 1}},
		{{Type: functions.Date, Valid: true, I: 19845}, dec("813180378.8478518982"), {Type: functions.Int32, Valid: true, I: -5}, functions.Null(functions.Float32), {Type: functions.Uint64, Valid: true, I: 7}},
	} {
		in.recs = append(in.recs, functions.Record{Object: "o", Offset: int64(i), Row: r})
	}
	args := map[string]string{"by": "day,k", "agg": "sum(n),avg(f),min(u),max(u),count"}
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Args: args, Input: schema})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := task.(functions.Reducer).Final().String(), "day:date,k:decimal(38,10),sum_n:int64,avg_f:float64,min_u:uint64,max_u:uint64,count:int64"; got != want {
		t.Errorf("schema %s, want %s", got, want)
	}
	got, err := runTimes(t, builtin.Aggregate{}, args, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2024-05-01,-813180378.8478518982,4294967294,1.0,1,18446744073709551615,2", "2024-05-02,813180378.8478518982,-5,,7,7,1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := (builtin.Aggregate{}).Prepare(functions.Params{Args: map[string]string{"agg": "sum(day)"}, Input: schema}); err == nil || !strings.Contains(err.Error(), "date") {
		t.Errorf("sum of a date: %v, want an error naming its type", err)
	}
}

// decimalRows is a table of a group key g, a decimal(18,4) d, a
// decimal(38,10) w and a uint64 u.
var decimalRows = &functions.Schema{Columns: []functions.Column{
	{Name: "g", Type: functions.String}, {Name: "d", Type: functions.DecimalOf(18, 4)},
	{Name: "w", Type: functions.DecimalOf(38, 10)}, {Name: "u", Type: functions.Uint64},
}}

// decimalRow parses a row of decimalRows from text ("" is null).
func decimalRow(t *testing.T, g, d, w, u string) functions.Row {
	t.Helper()
	row := functions.Row{functions.StringValue(g)}
	for i, s := range []string{d, w} {
		typ := decimalRows.Columns[1+i].Type
		if s == "" {
			row = append(row, functions.Null(typ))
			continue
		}
		v, err := functions.ParseDecimal(typ, s)
		if err != nil {
			t.Fatal(err)
		}
		row = append(row, v)
	}
	if u == "" {
		return append(row, functions.Null(functions.Uint64))
	}
	n, ok := new(big.Int).SetString(u, 10)
	if !ok || !n.IsUint64() {
		t.Fatalf("uint64 %q", u)
	}
	return append(row, functions.Value{Type: functions.Uint64, Valid: true, I: int64(n.Uint64())})
}

// TestAggregateDecimalSums sums and averages decimal and uint64 columns
// across random splits and merges and compares with math/big: sums are
// exact decimal(38,s), averages the exact quotient rounded once.
func TestAggregateDecimalSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	in := &sliceInput{schema: decimalRows}
	type ref struct {
		d, w, u *big.Int
		nd, nw  int64
		nu      int64
	}
	refs := map[string]*ref{}
	digits := func(n int) string { // a random number of n digits
		var b strings.Builder
		b.WriteByte(byte('1' + rng.IntN(9)))
		for range n - 1 {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	for i := range 3000 {
		g := []string{"a", "b", "c"}[rng.IntN(3)]
		r := refs[g]
		if r == nil {
			r = &ref{d: new(big.Int), w: new(big.Int), u: new(big.Int)}
			refs[g] = r
		}
		sign := []string{"", "-"}[rng.IntN(2)]
		d := sign + digits(14) // the largest decimal(18,4) values
		w := sign + digits(36) // 26 digits before the point
		u := new(big.Int).SetUint64(math.MaxUint64 - rng.Uint64N(1000))
		if i%7 == 0 {
			d, w = "", ""
		}
		if d != "" {
			x, _ := new(big.Int).SetString(d, 10)
			r.d.Add(r.d, x)
			y, _ := new(big.Int).SetString(w, 10)
			r.w.Add(r.w, y)
			r.nd++
			r.nw++
			d = d[:len(d)-4] + "." + d[len(d)-4:]
			w = w[:len(w)-10] + "." + w[len(w)-10:]
		}
		r.u.Add(r.u, u)
		r.nu++
		in.recs = append(in.recs, functions.Record{Object: "o", Offset: int64(i), Row: decimalRow(t, g, d, w, u.String())})
	}
	args := map[string]string{"by": "g", "agg": "sum(d),avg(d),sum(w),avg(w),sum(u),avg(u)"}
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Args: args, Input: decimalRows})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := task.(functions.Reducer).Final().String(), "g:string,sum_d:decimal(38,4),avg_d:float64,sum_w:decimal(38,10),avg_w:float64,sum_u:decimal(38,0),avg_u:float64"; got != want {
		t.Errorf("schema %s, want %s", got, want)
	}
	got, err := runTimes(t, builtin.Aggregate{}, args, in)
	if err != nil {
		t.Fatal(err)
	}
	scaled := func(n *big.Int, scale int) string {
		v, err := functions.DecimalFromBig(functions.DecimalOf(38, scale), n)
		if err != nil {
			t.Fatal(err)
		}
		return v.Text()
	}
	avg := func(n *big.Int, count int64, scale int) string {
		d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
		f, _ := new(big.Rat).SetFrac(n, d.Mul(d, big.NewInt(count))).Float64()
		return functions.FloatValue(f).Text()
	}
	var want []string
	for _, g := range []string{"a", "b", "c"} {
		r := refs[g]
		want = append(want, strings.Join([]string{g, scaled(r.d, 4), avg(r.d, r.nd, 4), scaled(r.w, 10), avg(r.w, r.nw, 10), scaled(r.u, 0), avg(r.u, r.nu, 0)}, ","))
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if r := refs["a"]; r.u.IsInt64() || len(r.w.String()) < 38 {
		t.Fatalf("the sums are small (%v, %v): the test shows nothing", r.u, r.w)
	}
}

// TestAggregateDecimalOverflow: a decimal(38,s) sum beyond 38 digits
// fails naming the column and group, whether Map or Merge added the
// values, and never wraps; a sum beyond 128 bits on the way to one that
// fits does not fail.
func TestAggregateDecimalOverflow(t *testing.T) {
	nines := strings.Repeat("9", 28) + "." + strings.Repeat("9", 10) // the largest decimal(38,10)
	tests := []struct {
		name string
		rows [][2]string // g, w
		agg  string
		want string // an error, or the result
	}{
		{"fits", [][2]string{{"a", nines}, {"a", "-" + nines}, {"a", nines}}, "sum(w)", "a," + nines},
		{"beyond 128 bits on the way", [][2]string{{"a", nines}, {"a", nines}, {"a", nines}, {"a", "-" + nines}, {"a", "-" + nines}}, "sum(w)", "a," + nines},
		{"beyond 38 digits", [][2]string{{"a", nines}, {"a", "0.0000000001"}}, "sum(w)",
			`aggregate: sum(w) in group g="a": decimal(38,10) overflow`},
		{"beyond 128 bits", [][2]string{{"b", nines}, {"b", nines}}, "sum(w)",
			`aggregate: sum(w) in group g="b": decimal(38,10) overflow`},
		{"negative beyond 38 digits", [][2]string{{"b", "-" + nines}, {"b", "-" + nines}}, "sum(w)",
			`aggregate: sum(w) in group g="b": decimal(38,10) overflow`},
		{"avg does not overflow", [][2]string{{"b", "-" + nines}, {"b", "-" + nines}}, "avg(w)", "b," + functions.FloatValue(-1e28).Text()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &sliceInput{schema: decimalRows}
			for i, r := range tt.rows {
				in.recs = append(in.recs, functions.Record{Offset: int64(i), Row: decimalRow(t, r[0], "", r[1], "")})
			}
			args := map[string]string{"by": "g", "agg": tt.agg}
			if !strings.Contains(tt.want, "overflow") {
				got, err := runTimes(t, builtin.Aggregate{}, args, in)
				if err != nil || !slices.Equal(got, []string{tt.want}) {
					t.Errorf("got %q, %v, want %q", got, err, tt.want)
				}
				return
			}
			// In one chunk (Map adds) and in one chunk per row (Merge adds).
			for _, split := range []bool{false, true} {
				var err error
				if split {
					err = mapEachMerge(t, args, in)
				} else {
					_, err = mapFinish(t, args, in)
				}
				if err == nil || err.Error() != tt.want || !errors.Is(err, builtin.ErrOverflow) || !functions.IsPermanent(err) {
					t.Errorf("split %v: got %v, want a permanent error %q", split, err, tt.want)
				}
			}
		})
	}
}

// mapFinish maps in as one chunk and finishes its partial rows without
// merging.
func mapFinish(t *testing.T, args map[string]string, in *sliceInput) ([]functions.Row, error) {
	t.Helper()
	in.i = 0
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Args: args, Input: in.schema})
	if err != nil {
		t.Fatal(err)
	}
	out := &sliceOutput{}
	if err := task.Map(context.Background(), in, out); err != nil {
		return nil, err
	}
	final := &sliceOutput{}
	for _, p := range out.rows {
		if err := task.(functions.Reducer).Finish(p, final); err != nil {
			return nil, err
		}
	}
	return final.rows, nil
}

// mapEachMerge maps each row of in as a chunk of its own, merges the
// partial rows in order and finishes the result (in has one group).
func mapEachMerge(t *testing.T, args map[string]string, in *sliceInput) error {
	t.Helper()
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Args: args, Input: in.schema})
	if err != nil {
		t.Fatal(err)
	}
	red := task.(functions.Reducer)
	var acc functions.Row
	for _, rec := range in.recs {
		out := &sliceOutput{}
		if err := task.Map(context.Background(), &sliceInput{schema: in.schema, recs: []functions.Record{rec}}, out); err != nil {
			t.Fatalf("one row: %v", err)
		}
		if acc == nil {
			acc = out.rows[0]
		} else if err := red.Merge(acc, out.rows[0]); err != nil {
			return err
		}
	}
	return red.Finish(acc, &sliceOutput{})
}
