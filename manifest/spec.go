package manifest

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults filled in by JobSpec.WithDefaults, and the shard size a planner
// uses unless told otherwise.
const (
	DefaultFormat               = FormatAuto
	DefaultOutputFormat         = FormatParquet
	DefaultChunkBytes           = 64 << 20
	DefaultMaxObjectsPerChunk   = 1000
	DefaultMaxAttempts          = 3
	DefaultLease                = Duration(60 * time.Second)
	DefaultMaxRecordBytes       = 64 << 20
	DefaultMaxDecompressedBytes = 64 << 30
	DefaultShardSize            = 10000
	// BackupMinAge is the least time a task runs before a backup attempt
	// may start, whatever the median: below it a backup costs more than it
	// saves.
	BackupMinAge = 2 * time.Second
)

// WithDefaults returns a copy of s with every zero field that has a
// default filled in (see the Default constants) and Version set to the
// current Version. Lists and maps are copied, so that the result shares
// nothing with s.
func (s JobSpec) WithDefaults() JobSpec {
	s.Inputs = slices.Clone(s.Inputs)
	s.Inventories = slices.Clone(s.Inventories)
	s.KeyLists = slices.Clone(s.KeyLists)
	s.PartitionBy = slices.Clone(s.PartitionBy)
	s.SortBy = slices.Clone(s.SortBy)
	s.Args = maps.Clone(s.Args)
	if s.Version == 0 {
		s.Version = Version
	}
	if s.Format == "" {
		s.Format = DefaultFormat
	}
	if s.OutputFormat == "" {
		s.OutputFormat = DefaultOutputFormat
	}
	if s.ChunkBytes == 0 {
		s.ChunkBytes = DefaultChunkBytes
	}
	if s.MaxObjectsPerChunk == 0 {
		s.MaxObjectsPerChunk = DefaultMaxObjectsPerChunk
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = DefaultMaxAttempts
	}
	if s.Lease == 0 {
		s.Lease = DefaultLease
	}
	if s.MaxRecordBytes == 0 {
		s.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if s.MaxDecompressedBytes == 0 {
		s.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	return s
}

// What a malformed record does (JobSpec.OnError).
const (
	OnErrorFail   = "fail"
	OnErrorReject = "reject"
	OnErrorSkip   = "skip"
)

// How objects whose columns differ are read (JobSpec.SchemaMode).
const (
	SchemaUnion = "union"
	SchemaFixed = "fixed"
)

// FieldError is a problem with one field of a JobSpec, named by its JSON
// name (with an index for a list's element, as in "inputs[1]"), so that
// a caller can name the setting the field came from (a CLI flag).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return "manifest: spec: " + e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks a complete spec (normally one returned by WithDefaults)
// and reports every problem found, each a *FieldError naming its field by
// its JSON name.
func (s JobSpec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		field, rest, _ := strings.Cut(fmt.Sprintf(format, args...), ": ")
		errs = append(errs, &FieldError{Field: field, Err: errors.New(rest)})
	}
	if s.Version < 1 || s.Version > Version {
		bad("version: %d unsupported (this build reads 1 to %d; WithDefaults sets it)", s.Version, Version)
	}
	if len(s.Inputs)+len(s.Inventories)+len(s.KeyLists) == 0 {
		bad("inputs: none given")
	}
	for i, in := range s.Inputs {
		if !strings.Contains(in, "://") {
			bad("inputs[%d]: %q is not a URL (want s3://bucket/prefix/, file:///dir/ ...)", i, in)
		}
	}
	for i, in := range s.Inventories {
		if !strings.Contains(in, "://") || !strings.HasSuffix(in, "/manifest.json") {
			bad("inventories[%d]: %q is not the URL of an inventory report's manifest.json (want s3://bucket/.../manifest.json)", i, in)
		}
	}
	for i, in := range s.KeyLists {
		if !strings.Contains(in, "://") || strings.HasSuffix(in, "/") {
			bad("key_lists[%d]: %q is not the URL of an object (want s3://bucket/keys.txt, file:///dir/keys.txt ...)", i, in)
		}
	}
	if !isInputFormat(s.Format) {
		bad("format: unknown input format %q (want auto, lines, csv, jsonl or parquet)", s.Format)
	}
	if s.Function == "" {
		bad("function: empty")
	}
	for k := range s.Args {
		if k == "" {
			bad("args: empty argument name")
		}
	}
	if s.Output == "" {
		bad("output: empty")
	} else if !strings.Contains(s.Output, "://") {
		bad("output: %q is not a URL (want s3://bucket/prefix/, file:///dir/ ...)", s.Output)
	}
	if !isOutputFormat(s.OutputFormat) {
		bad("output_format: unknown output format %q (want parquet, jsonl, csv or lines)", s.OutputFormat)
	}
	seen := make(map[string]bool, len(s.PartitionBy))
	for i, col := range s.PartitionBy {
		switch {
		case col == "":
			bad("partition_by[%d]: empty column name", i)
		case seen[col]:
			bad("partition_by[%d]: column %q given twice", i, col)
		}
		seen[col] = true
	}
	errs = append(errs, validateSortBy(s.SortBy, s.PartitionBy)...)
	if s.RowGroupRows < 0 {
		bad("row_group_rows: %d is negative", s.RowGroupRows)
	}
	if s.RowGroupBytes < 0 {
		bad("row_group_bytes: %d is negative", s.RowGroupBytes)
	}
	if s.ChunkBytes <= 0 {
		bad("chunk_bytes: %d is not positive", s.ChunkBytes)
	}
	if s.MaxObjectsPerChunk <= 0 {
		bad("max_objects_per_chunk: %d is not positive", s.MaxObjectsPerChunk)
	}
	if s.MaxAttempts < 1 {
		bad("max_attempts: %d is less than 1", s.MaxAttempts)
	}
	if s.Lease <= 0 {
		bad("lease: %v is not positive", s.Lease)
	}
	// The field names what the parsers' own prefix says.
	if _, err := ParseMaxFailed(s.MaxFailed, 0); err != nil {
		errs = append(errs, &FieldError{Field: "max_failed", Err: errors.New(strings.TrimPrefix(err.Error(), "manifest: max failed "))})
	}
	if s.BackupAfter != 0 && !(s.BackupAfter >= 1 && s.BackupAfter <= 1000) {
		bad("backup_after: %v is not 0 (off) or a multiple of the median from 1 to 1000", s.BackupAfter)
	}
	if s.Reducers < 0 {
		bad("reducers: %d is negative", s.Reducers)
	}
	if _, err := ParseMaxRejected(s.MaxRejected, 0); err != nil {
		errs = append(errs, &FieldError{Field: "max_rejected", Err: errors.New(strings.TrimPrefix(err.Error(), "manifest: max rejected "))})
	}
	switch s.OnError {
	case "", OnErrorFail, OnErrorReject, OnErrorSkip:
	default:
		bad("on_error: %q is not fail, reject or skip", s.OnError)
	}
	switch s.SchemaMode {
	case "", SchemaUnion, SchemaFixed:
	default:
		bad("schema_mode: %q is not union or fixed", s.SchemaMode)
	}
	if s.MaxRowsPerFile < 0 {
		bad("max_rows_per_file: %d is negative", s.MaxRowsPerFile)
	}
	if t := s.TargetFileSize; t > 0 && t < MinTargetFileSize {
		bad("target_file_size: %d bytes is below the least, %d (or negative: off)", t, MinTargetFileSize)
	}
	if s.MaxRecordBytes <= 0 {
		bad("max_record_bytes: %d is not positive", s.MaxRecordBytes)
	}
	if s.MaxDecompressedBytes <= 0 {
		bad("max_decompressed_bytes: %d is not positive", s.MaxDecompressedBytes)
	}
	return errors.Join(errs...)
}

func isInputFormat(f string) bool {
	switch f {
	case FormatAuto, FormatLines, FormatCSV, FormatJSONL, FormatParquet:
		return true
	}
	return false
}

func isOutputFormat(f string) bool {
	switch f {
	case FormatParquet, FormatJSONL, FormatCSV, FormatLines:
		return true
	}
	return false
}

// ParseMaxFailed turns a failure tolerance into the number of chunks
// (out of chunks) that may fail while the job still commits: "" or "0"
// allows none, "N" allows N chunks, and "P%" allows floor(P*chunks/100)
// chunks, P being a decimal number from 0 to 100 ("2.5%"). The percentage
// is computed exactly, without floating-point rounding.
func ParseMaxFailed(s string, chunks int) (allowed int, err error) {
	if chunks < 0 {
		return 0, fmt.Errorf("manifest: max failed: negative chunk count %d", chunks)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		if !isDecimal(p) {
			return 0, fmt.Errorf("manifest: max failed %q: want N or P%% with P a decimal from 0 to 100", truncate(s, 40))
		}
		r, ok := new(big.Rat).SetString(p)
		if !ok {
			return 0, fmt.Errorf("manifest: max failed %q: bad percentage", truncate(s, 40))
		}
		if r.Cmp(big.NewRat(100, 1)) > 0 {
			return 0, fmt.Errorf("manifest: max failed %q: more than 100%%", truncate(s, 40))
		}
		r.Mul(r, new(big.Rat).SetInt64(int64(chunks)))
		r.Quo(r, big.NewRat(100, 1))
		// Quo of non-negative numbers truncates, which is the floor.
		n := new(big.Int).Quo(r.Num(), r.Denom())
		return int(n.Int64()), nil
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("manifest: max failed %q: want N or P%% with N a non-negative integer", truncate(s, 40))
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("manifest: max failed %q: %w", truncate(s, 40), err)
	}
	return n, nil
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDecimal reports whether s is an unsigned decimal number: digits with
// an optional fraction ("12", "12.5", "0.25", ".5", "5.").
func isDecimal(s string) bool {
	whole, frac, hasDot := strings.Cut(s, ".")
	if !hasDot {
		return isDigits(whole)
	}
	return (whole == "" || isDigits(whole)) && (frac == "" || isDigits(frac)) && whole+frac != ""
}

// PackOptions returns the Packer options the spec asks for.
func (s JobSpec) PackOptions() PackOptions {
	return PackOptions{ChunkBytes: s.ChunkBytes, MaxObjectsPerChunk: s.MaxObjectsPerChunk, CSVWhole: s.CSVWhole}
}
