package profile

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"strconv"
)

// reportTemplate is the HTML report: one file, CSS inline, charts as inline
// SVG, no script and nothing fetched from the network.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":   func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" },
	"num":   func(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) },
	"deref": func(f *float64) float64 { return *f },
	"hist":  histogramSVG,
	"bars":  topBars,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Profile of {{.Source}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#243447;color:#fff;padding:16px 24px}
header h1{margin:0;font-size:20px}
main{padding:16px 24px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:16px}
.card{background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.15);padding:12px 16px}
.card h2{margin:0 0 4px;font-size:16px}
.type{color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12px}
td,th{padding:2px 6px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#fff;padding:12px;border-radius:6px;overflow:auto;font-size:12px}
svg{display:block;margin:6px 0}
.note{color:#666;font-size:12px}
</style></head>
<body>
<header><h1>Profile of {{.Source}}</h1>
<div>{{.P.Rows}} records in {{len .P.Objects}} objects, {{len .P.Columns}} columns</div></header>
<main>
<section class="cards">
{{range .P.Columns}}<div class="card" id="col-{{.Name}}">
<h2>{{.Name}}</h2><div class="type">{{.InferredType}}{{if ne .InferredType .DeclaredType}} (read as {{.DeclaredType}}){{end}}</div>
<table>
<tr><th>values</th><td class="n">{{.Count}}</td><th>missing</th><td class="n">{{.Nulls}} ({{pct .NullShare}})</td></tr>
<tr><th>distinct{{if .TopError}} ≈{{end}}</th><td class="n">{{.Distinct}}</td><th>length</th><td class="n">{{.MinLength}}–{{.MaxLength}}</td></tr>
{{if .Min}}<tr><th>min</th><td colspan="3">{{.Min}}</td></tr><tr><th>max</th><td colspan="3">{{.Max}}</td></tr>{{end}}
{{if .Mean}}<tr><th>mean</th><td class="n">{{num (deref .Mean)}}</td><th>stddev</th><td class="n">{{if .Stddev}}{{num (deref .Stddev)}}{{end}}</td></tr>
<tr><th>sum</th><td colspan="3">{{.Sum}}{{if not .SumExact}} (float64){{end}}</td></tr>
<tr><th>median</th><td class="n">{{num (index .Quantiles "p50")}}</td><th>p01–p99</th><td class="n">{{num (index .Quantiles "p01")}} – {{num (index .Quantiles "p99")}}</td></tr>{{end}}
{{range $k, $v := .ParseShare}}<tr><th>parses as {{$k}}</th><td colspan="3">{{pct $v}}</td></tr>{{end}}
{{range $k, $v := .Patterns}}{{if $v}}<tr><th>pattern {{$k}}</th><td colspan="3">{{$v}}</td></tr>{{end}}{{end}}
</table>
{{if .Histogram}}{{hist .Histogram}}{{end}}
{{bars .Top}}{{if .TopError}}<div class="note">top counts low by at most {{.TopError}}</div>{{end}}
</div>
{{end}}</section>
<h2>Proposed contract</h2>
<pre id="contract">{{.Contract}}</pre>
<h2>Records per object</h2>
<table id="objects"><tr><th>object</th><th>records</th></tr>
{{range .P.Objects}}<tr><td>{{.Object}}</td><td class="n">{{.Rows}}</td></tr>{{end}}
</table>
<h2>Errors of the estimates</h2>
<table>{{range $k, $v := .P.Errors}}<tr><th>{{$k}}</th><td>{{$v}}</td></tr>{{end}}</table>
</main></body></html>
`))

// Report renders the profile as a self-contained HTML page. source names
// the input; contractYAML is the proposed contract.
func Report(p *Profile, source string, contractYAML []byte) ([]byte, error) {
	var buf bytes.Buffer
	err := reportTemplate.Execute(&buf, struct {
		P        *Profile
		Source   string
		Contract string
	}{p, source, string(contractYAML)})
	if err != nil {
		return nil, fmt.Errorf("profile: report: %w", err)
	}
	return buf.Bytes(), nil
}

// histogramSVG draws the bins as bars.
func histogramSVG(bins []Bin) template.HTML {
	const w, h = 340, 80
	var peak float64
	for _, b := range bins {
		peak = math.Max(peak, b.Count)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<svg class="hist" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="histogram">`, w, h+14, w, h+14)
	bw := float64(w) / float64(len(bins))
	for i, b := range bins {
		bh := 0.0
		if peak > 0 {
			bh = b.Count / peak * h
		}
		fmt.Fprintf(&buf, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a7ab7"><title>%s – %s: %.0f</title></rect>`,
			float64(i)*bw+1, h-bh, bw-2, bh, template.HTMLEscapeString(formatFloat(b.Lo)), template.HTMLEscapeString(formatFloat(b.Hi)), b.Count)
	}
	if len(bins) > 0 {
		fmt.Fprintf(&buf, `<text x="0" y="%d" font-size="10">%s</text><text x="%d" y="%d" font-size="10" text-anchor="end">%s</text>`,
			h+12, template.HTMLEscapeString(strconv.FormatFloat(bins[0].Lo, 'g', 6, 64)), w, h+12, template.HTMLEscapeString(strconv.FormatFloat(bins[len(bins)-1].Hi, 'g', 6, 64)))
	}
	buf.WriteString(`</svg>`)
	return template.HTML(buf.String())
}

// topBars draws the top values as horizontal bars with their counts.
func topBars(top []ValueCount) template.HTML {
	if len(top) == 0 {
		return ""
	}
	n := min(len(top), 10)
	const w, row = 340, 16
	peak := top[0].Count
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<svg class="top" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="top values">`, w, n*row, w, n*row)
	for i, vc := range top[:n] {
		bw := 0.0
		if peak > 0 {
			bw = float64(vc.Count) / float64(peak) * 160
		}
		label := vc.Value
		if len([]rune(label)) > 24 {
			label = string([]rune(label)[:23]) + "…"
		}
		y := i * row
		fmt.Fprintf(&buf, `<text x="0" y="%d" font-size="11">%s</text><rect x="150" y="%d" width="%.1f" height="%d" fill="#8fb36b"></rect><text x="%.1f" y="%d" font-size="10">%d</text>`,
			y+12, template.HTMLEscapeString(label), y+2, bw, row-4, 154+bw, y+12, vc.Count)
	}
	buf.WriteString(`</svg>`)
	return template.HTML(buf.String())
}
