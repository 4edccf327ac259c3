package codec

import (
	"bytes"
	"io"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// BenchmarkParquetRewriteSmallGroups decodes Parquet files of 2,048-row
// row groups (a partition's map files) and writes their rows again as one
// file: the compaction stage's decode and encode of files whose row groups
// are too small to copy.
func BenchmarkParquetRewriteSmallGroups(b *testing.B) {
	data, schema := salesCSV(4 << 20)
	var files [][]byte
	var rows []functions.Row
	eachCSVRow(b, data, schema, func(r functions.Row) { rows = append(rows, append(functions.Row(nil), r...)) })
	for i := 0; i < len(rows); i += 6000 {
		files = append(files, writeAll(b, "parquet", schema, rows[i:min(i+6000, len(rows))], WriterOptions{RowGroupRows: 2048}))
	}
	b.ReportAllocs()
	for b.Loop() {
		var out countingWriter
		pw, err := NewWriter(&out, "parquet", schema, WriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			in, err := NewParquetInput(bytes.NewReader(f), int64(len(f)), ParquetOptions{Schema: schema})
			if err != nil {
				b.Fatal(err)
			}
			for {
				rec, err := in.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := pw.Write(rec.Row); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := pw.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
