package manifest

import "testing"

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name            string
		key, spec       string
		wantFormat      string
		wantCompression string
		wantErr         bool
	}{
		{"csv", "in/a.csv", "auto", FormatCSV, CompressionNone, false},
		{"tsv", "in/a.tsv", "", FormatCSV, CompressionNone, false},
		{"jsonl", "a.jsonl", "auto", FormatJSONL, CompressionNone, false},
		{"ndjson", "a.ndjson", "auto", FormatJSONL, CompressionNone, false},
		{"json", "a.json", "auto", FormatJSONL, CompressionNone, false},
		{"parquet", "a.parquet", "auto", FormatParquet, CompressionNone, false},
		{"pq", "a.pq", "auto", FormatParquet, CompressionNone, false},
		{"txt", "a.txt", "auto", FormatLines, CompressionNone, false},
		{"log", "a.log", "auto", FormatLines, CompressionNone, false},
		{"no extension", "dir/README", "auto", FormatLines, CompressionNone, false},
		{"unknown extension", "a.xyz", "auto", FormatLines, CompressionNone, false},
		{"dot in directory", "v1.csv/data", "auto", FormatLines, CompressionNone, false},
		{"upper case", "A.CSV.GZ", "auto", FormatCSV, CompressionGzip, false},
		{"csv gz", "a.csv.gz", "auto", FormatCSV, CompressionGzip, false},
		{"gzip", "a.jsonl.gzip", "auto", FormatJSONL, CompressionGzip, false},
		{"zst", "a.log.zst", "auto", FormatLines, CompressionZstd, false},
		{"zstd", "a.csv.zstd", "auto", FormatCSV, CompressionZstd, false},
		{"bz2", "a.ndjson.bz2", "auto", FormatJSONL, CompressionBzip2, false},
		{"bare gz", "a.gz", "auto", FormatLines, CompressionGzip, false},
		{"explicit wins", "a.csv", FormatLines, FormatLines, CompressionNone, false},
		{"explicit keeps compression", "a.txt.gz", FormatJSONL, FormatJSONL, CompressionGzip, false},
		{"explicit parquet", "a.dat", FormatParquet, FormatParquet, CompressionNone, false},
		{"parquet gz", "a.parquet.gz", "auto", "", "", true},
		{"explicit parquet zst", "a.dat.zst", FormatParquet, "", "", true},
		{"unknown spec format", "a.csv", "xml", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c, err := DetectFormat(tt.key, tt.spec)
			if tt.wantErr {
				if err == nil {
					t.Errorf("DetectFormat(%q, %q) = %q, %q, nil; want an error", tt.key, tt.spec, f, c)
				}
				return
			}
			if err != nil {
				t.Fatalf("DetectFormat(%q, %q) error: %v", tt.key, tt.spec, err)
			}
			if f != tt.wantFormat || c != tt.wantCompression {
				t.Errorf("DetectFormat(%q, %q) = %q, %q; want %q, %q", tt.key, tt.spec, f, c, tt.wantFormat, tt.wantCompression)
			}
		})
	}
}

func TestSplittable(t *testing.T) {
	tests := []struct {
		name        string
		format      string
		compression string
		csvWhole    bool
		want        bool
	}{
		{"lines", FormatLines, CompressionNone, false, true},
		{"jsonl", FormatJSONL, CompressionNone, false, true},
		{"csv", FormatCSV, CompressionNone, false, true},
		{"csv whole", FormatCSV, CompressionNone, true, false},
		{"lines whole csv flag", FormatLines, CompressionNone, true, true},
		{"parquet", FormatParquet, CompressionNone, false, false},
		{"gzip lines", FormatLines, CompressionGzip, false, false},
		{"zstd jsonl", FormatJSONL, CompressionZstd, false, false},
		{"bzip2 csv", FormatCSV, CompressionBzip2, false, false},
		{"unknown", "xml", CompressionNone, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Splittable(tt.format, tt.compression, tt.csvWhole); got != tt.want {
				t.Errorf("Splittable(%q, %q, %v) = %v, want %v", tt.format, tt.compression, tt.csvWhole, got, tt.want)
			}
		})
	}
}
