// Package codec reads and writes the record formats fanout works with:
// newline-delimited lines, CSV and JSONL byte ranges (with the record
// ownership rule that lets a planner cut an object anywhere), Parquet row
// groups, compressed streams, schema inference from a sample, and the
// Hive-style partition paths output is written under.
//
// Every reader returns a functions.Input. Malformed input is reported as a
// *functions.RecordError naming the object and the byte offset (row index
// for Parquet) of the bad record; no byte sequence makes a reader panic or
// buffer more than its configured record limit. When the text readers
// read the bad record whole (invalid UTF-8, a wrong field count, bad
// quoting, invalid JSON, a value of the wrong type), the error carries its
// bytes in RecordError.Raw and Next may be called again to go on with the
// next record: that is how the validate function quarantines such records
// instead of failing the chunk.
//
// Sorted output (sort.go), for --sort-by and for writers that compact
// sorted files into bigger ones:
//
//   - CompareRows(schema, []SortKey) (RowCompare, error): DuckDB's ORDER BY
//     over every flat type (SortKey{Column, Desc, NullsFirst}; nulls last
//     by default, NaN above +Inf).
//   - NewSorter(schema, SortOptions{Keys, MemoryBytes, TempDir}): an
//     external merge sort; Add rows, then Sorted() returns a RowSource;
//     runs spill to TempDir past MemoryBytes; Close removes them.
//   - NewSortedWriter(w Writer, schema, SortOptions): a Writer (and
//     RowGroupWriter: EndRowGroup spills) whose Close writes the rows
//     sorted into w and closes it; Discard drops them.
//   - NewMerge(RowCompare, []RowSource) *Merge: a k-way merge of sorted
//     RowSources (Next() (functions.Row, error), io.EOF at the end), stable
//     by source order; InputRows(functions.Input) reads a file read with
//     NewInput as a RowSource.
package codec

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrQuotedNewlineAtBoundary means a CSV record owned by a byte-range
	// chunk holds a quoted newline at or after the chunk's end, so the next
	// chunk would begin inside a quoted field. Process such CSV whole.
	ErrQuotedNewlineAtBoundary = errors.New("csv: quoted newline crosses the chunk boundary, so the next chunk would start inside a quoted field; process this CSV whole (--csv-whole)")

	// ErrRecordTooLarge means a record is longer than the reader's
	// MaxRecordBytes.
	ErrRecordTooLarge = errors.New("record too large")

	// ErrHeaderMismatch means a CSV object's header row differs from the
	// header the reader was given.
	ErrHeaderMismatch = errors.New("csv header differs from the expected header")

	// ErrDecompressedTooLarge means a compressed object expands beyond the
	// allowed number of bytes (for example a gzip bomb).
	ErrDecompressedTooLarge = errors.New("decompressed data exceeds the limit")

	// ErrNestedColumn means a schema names a nested (group or repeated)
	// Parquet column as a type it does not read as (its own nested type
	// or string, its JSON), or a flat column as a nested type.
	ErrNestedColumn = errors.New("nested or repeated Parquet column")

	// ErrCorruptParquet means a Parquet file's structure is invalid.
	ErrCorruptParquet = errors.New("corrupt Parquet file")

	// ErrUnsupportedParquet means a Parquet file uses a type or codec
	// fanout does not read (yet), or one parquet-go is known to decode
	// wrongly: the file is refused rather than read inexactly.
	ErrUnsupportedParquet = errors.New("unsupported Parquet feature")

	// ErrInexactValue means a value cannot be held exactly by fanout's
	// record model (bytes that are not UTF-8 text, a decimal with more
	// digits than a float64 holds, a timestamp finer than microseconds):
	// the record is refused rather than committed changed.
	ErrInexactValue = errors.New("value cannot be represented exactly")
)
