package manifest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	got := JobSpec{}.WithDefaults()
	want := JobSpec{
		Version:              Version,
		Format:               FormatAuto,
		OutputFormat:         FormatParquet,
		ChunkBytes:           64 << 20,
		MaxObjectsPerChunk:   1000,
		MaxAttempts:          3,
		Lease:                Duration(60 * time.Second),
		MaxRecordBytes:       64 << 20,
		MaxDecompressedBytes: 64 << 30,
	}
	if got.Version != want.Version || got.Format != want.Format || got.OutputFormat != want.OutputFormat ||
		got.ChunkBytes != want.ChunkBytes || got.MaxObjectsPerChunk != want.MaxObjectsPerChunk ||
		got.MaxAttempts != want.MaxAttempts || got.Lease != want.Lease ||
		got.MaxRecordBytes != want.MaxRecordBytes || got.MaxDecompressedBytes != want.MaxDecompressedBytes {
		t.Errorf("JobSpec{}.WithDefaults() = %+v, want %+v", got, want)
	}

	set := JobSpec{Format: FormatCSV, OutputFormat: FormatJSONL, ChunkBytes: 5, MaxObjectsPerChunk: 6,
		MaxAttempts: 7, Lease: 8, MaxRecordBytes: 9, MaxDecompressedBytes: 10, Inputs: []string{"s3://a/"}}
	kept := set.WithDefaults()
	kept.Version = 0
	if kept.Format != set.Format || kept.OutputFormat != set.OutputFormat || kept.ChunkBytes != 5 ||
		kept.MaxObjectsPerChunk != 6 || kept.MaxAttempts != 7 || kept.Lease != 8 || kept.MaxRecordBytes != 9 ||
		kept.MaxDecompressedBytes != 10 {
		t.Errorf("WithDefaults changed set fields: got %+v, want %+v", kept, set)
	}
	kept.Inputs[0] = "changed"
	if set.Inputs[0] != "s3://a/" {
		t.Errorf("WithDefaults shares Inputs: original now %q", set.Inputs[0])
	}
}

func TestJobSpecValidate(t *testing.T) {
	valid := func() JobSpec { return testSpec().WithDefaults() }
	tests := []struct {
		name      string
		mutate    func(*JobSpec)
		wantField string // "" for valid
	}{
		{"valid", func(*JobSpec) {}, ""},
		{"valid full", func(s *JobSpec) {
			s.PartitionBy = []string{"a", "b"}
			s.MaxFailed = "2.5%"
			s.Reducers = 4
			s.Format = FormatCSV
			s.CSVWhole = true
		}, ""},
		{"valid inputs from an inventory and a key list only", func(s *JobSpec) {
			s.Inputs = nil
			s.Inventories = []string{"s3://inv/src/cfg/2026-12-06T00-00Z/manifest.json"}
			s.KeyLists = []string{"s3://in/keys.txt.gz"}
		}, ""},
		{"version zero", func(s *JobSpec) { s.Version = 0 }, "version"},
		{"version future", func(s *JobSpec) { s.Version = Version + 1 }, "version"},
		{"no inputs", func(s *JobSpec) { s.Inputs = nil }, "inputs"},
		{"input not a URL", func(s *JobSpec) { s.Inputs = []string{"logs/"} }, "inputs[0]"},
		{"empty input", func(s *JobSpec) { s.Inputs = []string{"s3://a/", ""} }, "inputs[1]"},
		{"inventory not a manifest", func(s *JobSpec) { s.Inventories = []string{"s3://inv/b/cfg/2026-12-06T00-00Z/"} }, "inventories[0]"},
		{"key list a prefix", func(s *JobSpec) { s.KeyLists = []string{"s3://in/keys/"} }, "key_lists[0]"},
		{"unknown format", func(s *JobSpec) { s.Format = "xml" }, "format"},
		{"no function", func(s *JobSpec) { s.Function = "" }, "function"},
		{"empty arg name", func(s *JobSpec) { s.Args = map[string]string{"": "x"} }, "args"},
		{"no output", func(s *JobSpec) { s.Output = "" }, "output"},
		{"output not a URL", func(s *JobSpec) { s.Output = "out" }, "output"},
		{"unknown output format", func(s *JobSpec) { s.OutputFormat = "auto" }, "output_format"},
		{"empty partition column", func(s *JobSpec) { s.PartitionBy = []string{""} }, "partition_by[0]"},
		{"duplicate partition column", func(s *JobSpec) { s.PartitionBy = []string{"a", "a"} }, "partition_by[1]"},
		{"zero chunk bytes", func(s *JobSpec) { s.ChunkBytes = 0 }, "chunk_bytes"},
		{"zero objects per chunk", func(s *JobSpec) { s.MaxObjectsPerChunk = 0 }, "max_objects_per_chunk"},
		{"zero attempts", func(s *JobSpec) { s.MaxAttempts = 0 }, "max_attempts"},
		{"zero lease", func(s *JobSpec) { s.Lease = 0 }, "lease"},
		{"negative lease", func(s *JobSpec) { s.Lease = -1 }, "lease"},
		{"bad max failed", func(s *JobSpec) { s.MaxFailed = "lots" }, "max_failed"},
		{"negative reducers", func(s *JobSpec) { s.Reducers = -1 }, "reducers"},
		{"zero record bytes", func(s *JobSpec) { s.MaxRecordBytes = 0 }, "max_record_bytes"},
		{"zero decompressed bytes", func(s *JobSpec) { s.MaxDecompressedBytes = 0 }, "max_decompressed_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.mutate(&s)
			err := s.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "manifest: spec: "+tt.wantField+":") {
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantField)
			}
		})
	}
}

func TestJobSpecValidateReportsAll(t *testing.T) {
	err := JobSpec{}.Validate()
	if err == nil {
		t.Fatal("JobSpec{}.Validate() = nil, want errors")
	}
	for _, field := range []string{"version", "inputs", "function", "output", "chunk_bytes", "lease"} {
		if !strings.Contains(err.Error(), "manifest: spec: "+field) {
			t.Errorf("JobSpec{}.Validate() = %q, want it to name %s", err, field)
		}
	}
}

func TestParseMaxFailed(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		chunks  int
		want    int
		wantErr bool
	}{
		{"empty", "", 100, 0, false},
		{"zero", "0", 100, 0, false},
		{"count", "5", 100, 5, false},
		{"count above chunks", "500", 100, 500, false},
		{"spaces", " 3 ", 100, 3, false},
		{"percent", "10%", 100, 10, false},
		{"percent floors", "10%", 19, 1, false},
		{"percent below one chunk", "10%", 9, 0, false},
		{"decimal percent", "2.5%", 1000, 25, false},
		{"tenth of a percent exact", "0.1%", 1000, 1, false},
		{"leading dot", ".5%", 1000, 5, false},
		{"trailing dot", "5.%", 100, 5, false},
		{"hundred percent", "100%", 37, 37, false},
		{"hundred point zero", "100.000%", 37, 37, false},
		{"zero percent", "0%", 37, 0, false},
		{"no chunks", "50%", 0, 0, false},
		{"over hundred", "100.01%", 100, 0, true},
		{"negative count", "-1", 100, 0, true},
		{"negative percent", "-5%", 100, 0, true},
		{"plus sign", "+5", 100, 0, true},
		{"garbage", "many", 100, 0, true},
		{"bare percent", "%", 100, 0, true},
		{"dot percent", ".%", 100, 0, true},
		{"exponent", "1e2%", 100, 0, true},
		{"fraction count", "1.5", 100, 0, true},
		{"ratio", "1/2%", 100, 0, true},
		{"double percent", "5%%", 100, 0, true},
		{"overflow", "99999999999999999999999", 100, 0, true},
		{"negative chunks", "1", -1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMaxFailed(tt.in, tt.chunks)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseMaxFailed(%q, %d) = %d, nil; want an error", tt.in, tt.chunks, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseMaxFailed(%q, %d) = %d, %v; want %d, nil", tt.in, tt.chunks, got, err, tt.want)
			}
		})
	}
}

func TestPackOptionsFromSpec(t *testing.T) {
	s := testSpec().WithDefaults()
	s.CSVWhole = true
	got := s.PackOptions()
	want := PackOptions{ChunkBytes: DefaultChunkBytes, MaxObjectsPerChunk: DefaultMaxObjectsPerChunk, CSVWhole: true}
	if got != want {
		t.Errorf("PackOptions() = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("PackOptions().Validate() = %v, want nil", err)
	}
}

func TestJobSpecValidateNamesFieldsByType(t *testing.T) {
	spec := JobSpec{Inputs: []string{"s3://b/in/"}, Function: "grep", Output: "s3://b/out/", OutputFormat: "xml", PartitionBy: []string{"a", "a"}}.WithDefaults()
	err := spec.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() = %v, want a joined error", err)
	}
	var fields []string
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *FieldError", e)
		}
		fields = append(fields, fe.Field)
	}
	if got := strings.Join(fields, " "); got != "output_format partition_by[1]" {
		t.Errorf("fields %q, want output_format partition_by[1]", got)
	}
}

// TestTargetFileSizeDefaults pins --target-file-size's default and that a
// spec that does not set it keeps the job ID it had before the field.
func TestTargetFileSizeDefaults(t *testing.T) {
	for _, c := range []struct {
		name        string
		spec        JobSpec
		aggregating bool
		want        int64
	}{
		{"parquet partitioned", JobSpec{PartitionBy: []string{"region"}}, false, DefaultTargetFileSize},
		{"parquet unpartitioned", JobSpec{OutputFormat: FormatParquet}, false, 0},
		{"parquet aggregated", JobSpec{OutputFormat: FormatParquet}, true, DefaultTargetFileSize},
		{"jsonl partitioned", JobSpec{OutputFormat: FormatJSONL, PartitionBy: []string{"region"}}, false, 0},
		{"jsonl aggregated", JobSpec{OutputFormat: FormatJSONL}, true, 0},
		{"asked", JobSpec{OutputFormat: FormatJSONL, TargetFileSize: 1 << 20}, false, 1 << 20},
		{"off", JobSpec{PartitionBy: []string{"region"}, TargetFileSize: -1}, false, 0},
		{"off aggregated", JobSpec{TargetFileSize: -1}, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.spec.ResolvedTargetFileSize(c.aggregating); got != c.want {
				t.Errorf("got %d, want %d", got, c.want)
			}
		})
	}
	spec := JobSpec{Inputs: []string{"s3://b/in/"}, Function: "convert", Output: "s3://b/out/", PartitionBy: []string{"region"}}
	// The ID of this spec before target_file_size existed.
	if got, want := JobID(spec, "d"), JobID(JobSpec{Inputs: spec.Inputs, Function: spec.Function, Output: spec.Output, PartitionBy: spec.PartitionBy}, "d"); got != want {
		t.Errorf("job ID %s, want %s", got, want)
	}
	if err := (JobSpec{TargetFileSize: 100}).WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "target_file_size") {
		t.Errorf("a 100-byte target: got %v, want an error naming target_file_size", err)
	}
}
