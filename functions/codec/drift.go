package codec

// Drift is how the columns of what a reader read differed from its
// schema, counted over the records it returned: Filled, per schema column
// the object lacks (a CSV header or a Parquet file without it, a JSON
// object without the key), the records given null; Dropped, per column of
// the object the schema lacks, the values left out. Columns are matched by
// name (header-less CSV is positional and never drifts).
//
// AsJSON counts, per string column (or nested field, "a.b"), the JSON
// arrays and objects a JSONL reader kept as their JSON text: the column's
// sampled values had different shapes (or the schema says string).
type Drift struct {
	Filled, Dropped map[string]int64
	AsJSON          map[string]int64
}

// DriftInput is implemented by the readers NewInput returns for CSV and
// JSONL and by NewParquetInput's.
type DriftInput interface {
	// Drift returns the counts so far; the maps are the caller's.
	Drift() Drift
}

func (d *Drift) add(m *map[string]int64, col string, n int64) {
	if n <= 0 {
		return
	}
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[col] += n
}

// Drift implements DriftInput: schema columns without a header field are
// filled, header fields without a schema column dropped, in every record.
func (in *csvInput) Drift() Drift {
	var d Drift
	if in.opts.NoHeader || in.opts.Schema == nil || in.schema == nil || in.rows == 0 {
		return d
	}
	mapped := make([]bool, len(in.schema.Columns))
	for i, c := range in.colOf {
		if c >= 0 {
			mapped[c] = true
		} else {
			d.add(&d.Dropped, in.header[i], in.rows)
		}
	}
	for c, ok := range mapped {
		if !ok {
			d.add(&d.Filled, in.schema.Columns[c].Name, in.rows)
		}
	}
	return d
}

// Drift implements DriftInput: a schema column is filled in every record
// without its key, a key the schema lacks dropped in every record with it.
func (in *jsonlInput) Drift() Drift {
	var d Drift
	for c, col := range in.schema.Columns {
		d.add(&d.Filled, col.Name, in.rows-in.present[c])
	}
	for k, n := range in.dropped {
		d.add(&d.Dropped, k, n)
	}
	for k, n := range in.asJSON {
		d.add(&d.AsJSON, k, n)
	}
	return d
}

// Drift implements DriftInput: schema columns the file lacks are filled,
// file columns the schema lacks dropped, in every row.
func (in *parquetInput) Drift() Drift {
	var d Drift
	for _, c := range in.missing {
		d.add(&d.Filled, c, in.rows)
	}
	for _, c := range in.extra {
		d.add(&d.Dropped, c, in.rows)
	}
	return d
}
