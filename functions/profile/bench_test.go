package profile_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/profile"
)

// BenchmarkAccumulatorAdd profiles sales-like records read as text (the
// profile function's case): an id, a region of few values, a product, a
// quantity, an amount and a timestamp.
func BenchmarkAccumulatorAdd(b *testing.B) {
	sales := &functions.Schema{Columns: []functions.Column{
		{Name: "order_id"}, {Name: "region"}, {Name: "product"}, {Name: "quantity"}, {Name: "amount"}, {Name: "ordered_at"},
	}}
	regions := []string{"eu-west", "us-east", "ap-south", "sa-east"}
	rows := make([]functions.Row, 10_000)
	for i := range rows {
		rows[i] = functions.Row{
			functions.StringValue(strconv.Itoa(i)), functions.StringValue(regions[i%4]),
			functions.StringValue(fmt.Sprintf("p%03d", i*7%200)), functions.StringValue(strconv.Itoa(1 + i%9)),
			functions.StringValue(fmt.Sprintf("%d.%02d", i%1000, i%100)),
			functions.StringValue(fmt.Sprintf("2026-01-%02dT%02d:%02d:00Z", 1+i%28, i%24, i%60)),
		}
	}
	b.ReportAllocs()
	a := profile.NewAccumulator(sales)
	for i := 0; b.Loop(); i++ {
		a.Add("obj", rows[i%len(rows)])
	}
}
