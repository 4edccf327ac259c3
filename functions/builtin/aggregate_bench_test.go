package builtin_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/functions/codec"
)

// benchSalesCSV returns about size bytes of the sales CSV scripts/gen
// writes (bench.sh's group-by row reads it) and the schema the planner
// infers for it.
func benchSalesCSV(size int) ([]byte, *functions.Schema) {
	var buf bytes.Buffer
	buf.WriteString("order_id,region,product,quantity,price,discount,ordered_at\n")
	regions := []string{"eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast", "sa-east", "af-south"}
	r := rand.New(rand.NewPCG(1, 2))
	id := r.Int64N(1 << 40)
	for buf.Len() < size {
		id++
		fmt.Fprintf(&buf, "%d,%s,p%04d,%d,%.2f,%.2f,2026-%02d-%02dT%02d:%02d:%02dZ\n", id, regions[r.IntN(len(regions))],
			r.IntN(5000), 1+r.IntN(20), float64(r.IntN(50000))/100, float64(r.IntN(30))/100, 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
	}
	return buf.Bytes(), &functions.Schema{Columns: []functions.Column{
		{Name: "order_id", Type: functions.Int64}, {Name: "region", Type: functions.String},
		{Name: "product", Type: functions.String}, {Name: "quantity", Type: functions.Int64},
		{Name: "price", Type: functions.Float64}, {Name: "discount", Type: functions.Float64},
		{Name: "ordered_at", Type: functions.Timestamp}}}
}

// BenchmarkAggregateCSV measures the map side of bench.sh's group-by row
// (by=region,quantity, agg=count,sum(quantity),avg(price)) over 16 MiB of
// sales CSV in memory: the CSV reader and Map together, what a worker
// spends per chunk besides reading the object. cpu-ms/op is the
// process's CPU time per 16 MiB (user and system, the garbage collector's
// included): steadier than the time per op on a machine shared with
// other work.
func BenchmarkAggregateCSV(b *testing.B) {
	data, schema := benchSalesCSV(16 << 20)
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Input: schema, InputFormat: "csv", Args: map[string]string{
		"by": "region,quantity", "agg": "count,sum(quantity),avg(price)"}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		in, err := codec.NewInput(bytes.NewReader(data), codec.InputOptions{Format: "csv", End: -1, Schema: schema,
			Columns: task.(functions.ColumnPicker).InputColumns()})
		if err != nil {
			b.Fatal(err)
		}
		out := &sliceOutput{}
		if err := task.Map(context.Background(), in, out); err != nil {
			b.Fatal(err)
		}
		if len(out.rows) != 160 {
			b.Fatalf("got %d groups, want 160", len(out.rows))
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

// processCPU returns the CPU time the process has used, in nanoseconds.
func processCPU(b testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// TestAggregateKeepsNoBorrowedString: Map reads records with borrowed
// strings (the CSV reader's, which share its buffer and are overwritten
// as it reads on), so the group keys and the min and max it keeps must be
// copies. Over 20,000 CSV records (many read buffers), the partial rows
// equal what the generator counted.
func TestAggregateKeepsNoBorrowedString(t *testing.T) {
	var data bytes.Buffer
	data.WriteString("id,region,product\n")
	type group struct {
		n        int64
		min, max string
	}
	want := map[string]*group{}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20_000 {
		region := strings.Repeat(string(rune('a'+r.IntN(5))), 1+r.IntN(12))
		product := fmt.Sprintf("p%0*d", 1+r.IntN(8), r.IntN(1_000_000))
		fmt.Fprintf(&data, "%d,%s,%s\n", i, region, product)
		g := want[region]
		if g == nil {
			g = &group{min: product, max: product}
			want[region] = g
		}
		g.n++
		g.min, g.max = min(g.min, product), max(g.max, product)
	}
	schema := &functions.Schema{Columns: []functions.Column{{Name: "id", Type: functions.Int64}, {Name: "region", Type: functions.String}, {Name: "product", Type: functions.String}}}
	task, err := builtin.Aggregate{}.Prepare(functions.Params{Input: schema, InputFormat: "csv", Args: map[string]string{
		"by": "region", "agg": "count,min(product),max(product)"}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := codec.NewInput(bytes.NewReader(data.Bytes()), codec.InputOptions{Format: "csv", End: -1, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := in.(functions.BorrowingInput); !ok {
		t.Fatal("the CSV reader does not lend strings: the test shows nothing")
	}
	out := &sliceOutput{}
	if err := task.Map(context.Background(), in, out); err != nil {
		t.Fatal(err)
	}
	got := out.texts()
	slices.Sort(got)
	var wantTexts []string
	for region, g := range want {
		wantTexts = append(wantTexts, fmt.Sprintf("%s,%d,%s,%s", region, g.n, g.min, g.max))
	}
	slices.Sort(wantTexts)
	if !slices.Equal(got, wantTexts) {
		t.Errorf("got %d groups %q\nwant %d %q", len(got), got, len(wantTexts), wantTexts)
	}
}
