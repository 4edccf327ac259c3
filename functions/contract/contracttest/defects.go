// Package contracttest generates data with known defects for the tests of
// data contracts (the validate and duplicates functions, in embedded mode
// and on the local services): CSV or JSONL objects of sales records, some
// of which break exactly one rule, some of which repeat a primary key, and
// the oracle that says, independently of fanout's code, which records are
// valid (and how they read once cleansed), which were rejected for which
// rule, and which keys are duplicated. It is imported only by tests.
package contracttest

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Contract is the contract the generated data is checked against.
const Contract = `# The contract of contracttest's generated sales data.
version: 1
name: sales
primary_key: [id]
columns:
  - {name: id, type: int64, min: 1}
  - {name: region, required: true, trim: true, case: lower, allowed: [north, south, east, west]}
  - {name: sku, required: true, pattern: '[A-Z]{3}-[0-9]{3}'}
  - {name: quantity, type: int64, required: true, min: 1, max: 1000}
  - {name: amount, type: float64, required: true, min: 0}
  - {name: sold_at, type: timestamp, required: true, format: '%Y-%m-%d %H:%M:%S'}
  - {name: status, required: true, allowed: [open, shipped]}
  - {name: shipped_at, type: timestamp, nullable: true}
  - {name: note}
rules:
  - {name: shipped_needs_date, when: "status = 'shipped'", require: [shipped_at]}
`

// Columns are the contract's columns in order.
var Columns = []string{"id", "region", "sku", "quantity", "amount", "sold_at", "status", "shipped_at", "note"}

// Defect kinds, each with the one violation (rule/column) it causes.
var defectKinds = []struct{ kind, rule, column string }{
	{"wrong type", "type", "amount"},
	{"missing required value", "required", "region"},
	{"below the minimum", "min", "quantity"},
	{"above the maximum", "max", "quantity"},
	{"not an allowed value", "allowed", "region"},
	{"pattern", "pattern", "sku"},
	{"timestamp format", "type", "sold_at"},
	{"record rule", "shipped_needs_date", "shipped_at"},
	{"broken encoding", "encoding", ""},
	{"malformed record", "malformed", ""},
}

// Defect is one record that must be rejected.
type Defect struct {
	Object string // the object's name as generated (see Dataset.Files)
	Offset int64  // byte offset of the record in the uncompressed object
	Raw    []byte // the record as written, without its line terminator
	Kind   string
	Rule   string // the violation: rule and column ("" for the record)
	Column string
}

// Valid is a valid record as it must read once cleansed and typed.
type Valid struct {
	ID        int64
	Region    string
	SKU       string
	Quantity  int64
	Cents     int64 // amount * 100
	SoldAt    int64 // microseconds since the epoch
	Status    string
	ShippedAt *int64
	Note      *string
}

// Key renders a valid record canonically, for comparing multisets.
func (v Valid) Key() string {
	ship, note := "null", "null"
	if v.ShippedAt != nil {
		ship = strconv.FormatInt(*v.ShippedAt, 10)
	}
	if v.Note != nil {
		note = strconv.Quote(*v.Note)
	}
	return fmt.Sprintf("%d|%s|%s|%d|%d|%d|%s|%s|%s", v.ID, v.Region, v.SKU, v.Quantity, v.Cents, v.SoldAt, v.Status, ship, note)
}

// Dataset is generated data and its oracle.
type Dataset struct {
	// Files maps object names (relative, such as "in/sales-00.csv" or
	// "in/sales-03.csv.gz") to their bytes.
	Files map[string][]byte
	// Records is the number of records written.
	Records int
	Valid   []Valid
	Defects []Defect
	// Duplicates counts, for every id held by more than one valid record,
	// its records.
	Duplicates map[int64]int
	// Counters are the cleansing counts validate must report.
	Counters map[string]int64
}

// ValidKeys returns the valid records' keys, sorted.
func (d *Dataset) ValidKeys() []string {
	keys := make([]string, len(d.Valid))
	for i, v := range d.Valid {
		keys[i] = v.Key()
	}
	slices.Sort(keys)
	return keys
}

// DefectAt finds the defect at the object (compared by base name) and
// offset.
func (d *Dataset) DefectAt(object string, offset int64) (Defect, bool) {
	for _, x := range d.Defects {
		if path.Base(x.Object) == path.Base(object) && x.Offset == offset {
			return x, true
		}
	}
	return Defect{}, false
}

// record is one generated record's fields, as text (nil: absent).
type record struct {
	fields []*string
	extra  bool // one field too many (malformed)
	broken bool // not valid UTF-8
}

func str(s string) *string { return &s }

// Generate writes files objects of rows records each, in format csv or
// jsonl; the last object is gzip-compressed when there are several.
// Every 11th record or so has one defect (the kinds in turn), every 23rd
// valid record repeats an earlier valid record's id.
func Generate(seed uint64, format string, files, rows int) *Dataset {
	return generate(seed, format, files, rows, true)
}

// Clean generates data as Generate does, without defects or duplicated
// keys.
func Clean(seed uint64, format string, files, rows int) *Dataset {
	return generate(seed, format, files, rows, false)
}

func generate(seed uint64, format string, files, rows int, defects bool) *Dataset {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	d := &Dataset{Files: map[string][]byte{}, Duplicates: map[int64]int{}, Counters: map[string]int64{}}
	regions := []string{"north", "south", "east", "west"}
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	nextID := int64(1)
	var validIDs []int64
	defect := 0
	for f := range files {
		name := fmt.Sprintf("in/sales-%02d.%s", f, format)
		var body bytes.Buffer
		if format == "csv" {
			body.WriteString(strings.Join(Columns, ",") + "\n")
		}
		for i := range rows {
			id := nextID
			nextID++
			sold := base.Add(time.Duration(r.IntN(90*24*3600)) * time.Second)
			v := Valid{ID: id, Region: regions[r.IntN(4)], SKU: fmt.Sprintf("%c%c%c-%03d", 'A'+r.IntN(26), 'A'+r.IntN(26), 'A'+r.IntN(26), r.IntN(1000)),
				Quantity: 1 + int64(r.IntN(1000)), Cents: int64(r.IntN(1000000)), SoldAt: sold.UnixMicro(), Status: "open"}
			region := v.Region
			switch r.IntN(6) {
			case 0:
				region = strings.ToUpper(region) // cleansed by case: lower
			case 1:
				region = "  " + region + " " // cleansed by trim
			}
			if r.IntN(3) == 0 {
				v.Status = "shipped"
				at := sold.Add(time.Duration(1+r.IntN(100)) * time.Hour).UnixMicro()
				v.ShippedAt = &at
			}
			if r.IntN(5) > 0 {
				v.Note = str(fmt.Sprintf("note %d%s", id, strings.Repeat(", \"quoted\" x", r.IntN(4))))
			}
			fields := []*string{str(strconv.FormatInt(id, 10)), str(region), str(v.SKU), str(strconv.FormatInt(v.Quantity, 10)),
				str(fmt.Sprintf("%d.%02d", v.Cents/100, v.Cents%100)), str(sold.Format(time.DateTime)), str(v.Status), nil, v.Note}
			if v.ShippedAt != nil {
				fields[7] = str(time.UnixMicro(*v.ShippedAt).UTC().Format(time.RFC3339))
			}
			rec := record{fields: fields}
			var bad *Defect
			switch {
			case defects && (f*rows+i)%11 == 5:
				k := defectKinds[defect%len(defectKinds)]
				defect++
				bad = &Defect{Object: name, Kind: k.kind, Rule: k.rule, Column: k.column}
				switch k.kind {
				case "wrong type":
					fields[4] = str("12.x")
				case "missing required value":
					fields[1] = nil
				case "below the minimum":
					fields[3] = str("0")
				case "above the maximum":
					fields[3] = str("1001")
				case "not an allowed value":
					fields[1] = str("mars")
				case "pattern":
					fields[2] = str(strings.ToLower(v.SKU))
				case "timestamp format":
					fields[5] = str(sold.Format("2006/01/02 15:04"))
				case "record rule":
					fields[6], fields[7] = str("shipped"), nil
				case "broken encoding":
					fields[8] = str("caf\xe9 " + strconv.FormatInt(id, 10)) // Latin-1, not UTF-8
					rec.broken = true
				case "malformed record":
					rec.extra = true
				}
			case defects && len(validIDs) > 0 && (f*rows+i)%23 == 7:
				v.ID = validIDs[r.IntN(len(validIDs))] // a duplicate key
				fields[0] = str(strconv.FormatInt(v.ID, 10))
			}
			off := int64(body.Len())
			raw := encode(format, rec)
			body.Write(raw)
			body.WriteByte('\n')
			d.Records++
			if bad != nil {
				bad.Offset, bad.Raw = off, raw
				d.Defects = append(d.Defects, *bad)
				continue
			}
			switch {
			case region == strings.ToUpper(v.Region):
				d.Counters["case.region"]++
			case region != v.Region:
				d.Counters["trim.region"]++
			}
			validIDs = append(validIDs, v.ID)
			d.Valid = append(d.Valid, v)
		}
		data := body.Bytes()
		if files > 1 && f == files-1 {
			var gz bytes.Buffer
			w := gzip.NewWriter(&gz)
			w.Write(data)
			w.Close()
			for i := range d.Defects {
				if d.Defects[i].Object == name {
					d.Defects[i].Object = name + ".gz"
				}
			}
			name, data = name+".gz", gz.Bytes()
		}
		d.Files[name] = data
	}
	count := map[int64]int{}
	for _, v := range d.Valid {
		count[v.ID]++
	}
	for id, n := range count {
		if n > 1 {
			d.Duplicates[id] = n
		}
	}
	return d
}

// encode writes one record without its line terminator.
func encode(format string, rec record) []byte {
	var b bytes.Buffer
	if format == "csv" {
		w := csv.NewWriter(&b)
		fields := make([]string, len(rec.fields))
		for i, f := range rec.fields {
			if f != nil {
				fields[i] = *f
			}
		}
		if rec.extra {
			fields = append(fields, "extra")
		}
		w.Write(fields)
		w.Flush()
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	if rec.extra {
		return []byte(`{"id": 1, "region": "north",`) // not a JSON object
	}
	b.WriteByte('{')
	for i, f := range rec.fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(Columns[i])
		b.Write(k)
		b.WriteByte(':')
		switch {
		case f == nil:
			b.WriteString("null")
		case rec.broken && i == 8:
			b.WriteString(`"` + *f + `"`) // raw bytes: json.Marshal would repair them
		case (i == 0 || i == 3) && isDigits(*f):
			b.WriteString(*f) // numbers as JSON numbers
		default:
			v, _ := json.Marshal(*f)
			b.Write(v)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// RejectedLine is one line of a rejected-record file, as the engine
// documents it (decoded here with encoding/json, not fanout's code).
type RejectedLine struct {
	Object       string  `json:"object"`
	Offset       int64   `json:"offset"`
	Record       *string `json:"record"`
	RecordBase64 []byte  `json:"record_base64"`
	Violations   []struct {
		Rule    string `json:"rule"`
		Column  string `json:"column"`
		Message string `json:"message"`
	} `json:"violations"`
}

// CheckRejected compares the rejected-record files' lines with the
// defects: every defect exactly once, with its one violation and the
// record as written. It returns the problems found (at most 20).
func (d *Dataset) CheckRejected(lines [][]byte) []string {
	var problems []string
	bad := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var rl RejectedLine
		if err := json.Unmarshal(l, &rl); err != nil {
			bad("rejected line %q: %v", l, err)
			continue
		}
		key := fmt.Sprintf("%s@%d", path.Base(rl.Object), rl.Offset)
		if seen[key] {
			bad("%s rejected twice", key)
		}
		seen[key] = true
		x, ok := d.DefectAt(rl.Object, rl.Offset)
		if !ok {
			bad("%s rejected but it is valid: %s", key, l)
			continue
		}
		var got []string
		for _, v := range rl.Violations {
			got = append(got, v.Rule+"/"+v.Column)
			if v.Message == "" {
				bad("%s: violation %s/%s without a message", key, v.Rule, v.Column)
			}
		}
		if want := x.Rule + "/" + x.Column; len(got) != 1 || got[0] != want {
			bad("%s (%s): got violations %v, want [%s]", key, x.Kind, got, want)
		}
		record := rl.RecordBase64
		if rl.Record != nil {
			record = []byte(*rl.Record)
		}
		if !bytes.Equal(record, x.Raw) {
			bad("%s: got record %q, want %q", key, record, x.Raw)
		}
	}
	for _, x := range d.Defects {
		if key := fmt.Sprintf("%s@%d", path.Base(x.Object), x.Offset); !seen[key] {
			bad("%s (%s) was not rejected", key, x.Kind)
		}
	}
	return problems
}

// ByRule and ByColumn are the per-rule and per-column counts the report
// must give.
func (d *Dataset) ByRule() map[string]int64 {
	m := map[string]int64{}
	for _, x := range d.Defects {
		m[x.Rule]++
	}
	return m
}

// ByColumn counts the defects per column (whole-record defects have
// none).
func (d *Dataset) ByColumn() map[string]int64 {
	m := map[string]int64{}
	for _, x := range d.Defects {
		if x.Column != "" {
			m[x.Column]++
		}
	}
	return m
}

// KeyOfJSONL renders one line of fanout's JSONL output of the validate
// function (partition columns, which the files leave out, given in
// partition) as Valid.Key does, decoding it with encoding/json.
func KeyOfJSONL(line []byte, partition map[string]string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return "", fmt.Errorf("output line %q: %w", line, err)
	}
	for k, v := range partition {
		m[k] = v
	}
	var v Valid
	var err error
	num := func(k string) int64 {
		n, ok := m[k].(json.Number)
		i, e := n.Int64()
		if !ok || e != nil {
			err = fmt.Errorf("output line %q: %s is not an integer", line, k)
		}
		return i
	}
	text := func(k string) string {
		s, ok := m[k].(string)
		if !ok {
			err = fmt.Errorf("output line %q: %s is not a string", line, k)
		}
		return s
	}
	micros := func(k string) *int64 {
		if m[k] == nil {
			return nil
		}
		// A timestamptz is written with its zone, a timestamp (wall
		// clock, as the contract's sold_at) without.
		t, e := time.Parse(time.RFC3339Nano, text(k))
		if e != nil {
			t, e = time.Parse("2006-01-02T15:04:05.999999999", text(k))
		}
		if e != nil {
			err = fmt.Errorf("output line %q: %s: %w", line, k, e)
		}
		us := t.UnixMicro()
		return &us
	}
	v.ID, v.Region, v.SKU, v.Quantity, v.Status = num("id"), text("region"), text("sku"), num("quantity"), text("status")
	an, _ := m["amount"].(json.Number)
	amount, e := an.Float64()
	if e != nil {
		return "", fmt.Errorf("output line %q: amount: %w", line, e)
	}
	v.Cents = int64(amount*100 + 0.5)
	if at := micros("sold_at"); at != nil {
		v.SoldAt = *at
	}
	v.ShippedAt = micros("shipped_at")
	if m["note"] != nil {
		v.Note = str(text("note"))
	}
	return v.Key(), err
}

// KeyOfValues renders a valid record read by another tool (DuckDB) as
// Valid.Key does: cents is round(amount*100), the timestamps are epoch
// microseconds, nil is null.
func KeyOfValues(id int64, region, sku string, quantity, cents, soldAt int64, status string, shippedAt *int64, note *string) string {
	return Valid{ID: id, Region: region, SKU: sku, Quantity: quantity, Cents: cents, SoldAt: soldAt, Status: status, ShippedAt: shippedAt, Note: note}.Key()
}
