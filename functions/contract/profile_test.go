package contract_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/contract"
)

func TestProfilerProposesAContractItsSampleMeets(t *testing.T) {
	names := []string{"id", "code", "region", "qty", "price", "ok", "day", "note"}
	schema := &functions.Schema{}
	for _, n := range names {
		schema.Columns = append(schema.Columns, functions.Column{Name: n, Type: functions.String})
	}
	p := contract.NewProfiler(schema)
	var rows []functions.Row
	regions := []string{"eu", "us", "ap"}
	for i := range 300 {
		note := fmt.Sprintf("note %d", i)
		if i%7 == 0 {
			note = ""
		}
		row := stringRow(fmt.Sprint(i+1), fmt.Sprintf("%03d", i%50), regions[i%3], fmt.Sprint(i%9-4),
			fmt.Sprintf("%d.25", i), []string{"true", "false"}[i%2], fmt.Sprintf("2024-05-%02d", i%28+1), note)
		rows = append(rows, row)
		p.Add(row)
	}
	yml, err := p.Propose(contract.ProposeOptions{Name: "t", Source: "a test"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(yml), "# Proposed by fanout infer from 300 records of a test") {
		t.Errorf("no header comment in\n%s", yml)
	}
	c, err := contract.Parse(yml)
	if err != nil {
		t.Fatalf("the proposal does not parse: %v\n%s", err, yml)
	}
	byName := map[string]contract.Column{}
	for _, col := range c.Columns {
		byName[col.Name] = col
	}
	wantTypes := map[string]string{"id": "int64", "code": "string", "region": "string", "qty": "int64",
		"price": "float64", "ok": "bool", "day": "timestamptz", "note": "string"}
	for n, w := range wantTypes {
		if got := byName[n].Type; got != w {
			t.Errorf("column %s: got type %q, want %q", n, got, w)
		}
	}
	if !byName["id"].Required || byName["note"].Required {
		t.Errorf("got required id %v note %v, want true false", byName["id"].Required, byName["note"].Required)
	}
	if got := byName["region"].Allowed; !slices.Equal(got, []contract.Literal{"ap", "eu", "us"}) {
		t.Errorf("region: got allowed %v, want ap, eu, us", got)
	}
	if byName["note"].Allowed != nil || byName["code"].Allowed != nil {
		t.Errorf("allowed lists for many-valued columns: note %v code %v", byName["note"].Allowed, byName["code"].Allowed)
	}
	if q := byName["qty"]; q.Min == nil || *q.Min != "-4" || *q.Max != "4" {
		t.Errorf("qty: got range %v..%v, want -4..4", q.Min, q.Max)
	}
	if d := byName["day"]; d.Min == nil || *d.Min != "2024-05-01" || *d.Max != "2024-05-28" {
		t.Errorf("day: got range %v..%v, want 2024-05-01..2024-05-28", d.Min, d.Max)
	}
	if !slices.Equal(c.PrimaryKey, []string{"id"}) {
		t.Errorf("got primary key %v, want [id]", c.PrimaryKey)
	}
	v, err := c.Compile(c.ReadSchema())
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		if _, viol := v.Check(row); len(viol) > 0 {
			t.Fatalf("sample row %d breaks the proposal: %+v\n%s", i, viol, yml)
		}
	}
}

func TestProfilerKeepsParquetTypes(t *testing.T) {
	schema := &functions.Schema{Columns: []functions.Column{{Name: "n", Type: functions.Int64}, {Name: "f", Type: functions.Float64}}}
	p := contract.NewProfiler(schema)
	p.Add(functions.Row{functions.IntValue(5), functions.FloatValue(1)})
	p.Add(functions.Row{functions.IntValue(-2), functions.Null(functions.Float64)})
	c := p.Contract(contract.ProposeOptions{})
	if c.Columns[0].Type != "int64" || *c.Columns[0].Min != "-2" || !c.Columns[0].Required {
		t.Errorf("column n: got %+v, want a required int64 from -2", c.Columns[0])
	}
	if c.Columns[1].Type != "float64" || c.Columns[1].Required {
		t.Errorf("column f: got %+v, want an optional float64", c.Columns[1])
	}
}
