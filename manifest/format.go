package manifest

import (
	"fmt"
	"path"
	"strings"
)

// DetectFormat resolves an object's format and compression. Compression
// comes from the key's last extension (.gz and .gzip: gzip; .zst and
// .zstd: zstd; .bz2: bzip2; anything else: none). An explicit specFormat
// (lines, csv, jsonl, parquet) wins; with "auto" or "" the extension left
// after the compression one picks the format: .csv and .tsv: csv; .jsonl,
// .ndjson and .json: jsonl; .parquet and .pq: parquet; anything else,
// .txt and .log included: lines. Extensions match case-insensitively.
//
// Parquet compresses its pages itself and must be read with ranged GETs,
// so a compressed Parquet object is an error, as is an unknown specFormat.
func DetectFormat(key, specFormat string) (format, compression string, err error) {
	name := strings.ToLower(path.Base(key))
	ext := path.Ext(name)
	switch ext {
	case ".gz", ".gzip":
		compression = CompressionGzip
	case ".zst", ".zstd":
		compression = CompressionZstd
	case ".bz2":
		compression = CompressionBzip2
	}
	if compression != CompressionNone {
		name = strings.TrimSuffix(name, ext)
		ext = path.Ext(name)
	}
	switch specFormat {
	case FormatAuto, "":
		switch ext {
		case ".csv", ".tsv":
			format = FormatCSV
		case ".jsonl", ".ndjson", ".json":
			format = FormatJSONL
		case ".parquet", ".pq":
			format = FormatParquet
		default:
			format = FormatLines
		}
	case FormatLines, FormatCSV, FormatJSONL, FormatParquet:
		format = specFormat
	default:
		return "", "", fmt.Errorf("manifest: %q: unknown input format %q", truncate(key, 200), specFormat)
	}
	if format == FormatParquet && compression != CompressionNone {
		return "", "", fmt.Errorf("manifest: %q: a Parquet object cannot be %s-compressed as a whole (Parquet compresses its pages itself)", truncate(key, 200), compression)
	}
	return format, compression, nil
}

// Splittable reports whether an object of this format and compression can
// be cut into byte ranges (see Part for the ownership rule): uncompressed
// lines and JSONL, and uncompressed CSV unless csvWhole says quoted fields
// may hold newlines. Parquet is split by row groups instead.
func Splittable(format, compression string, csvWhole bool) bool {
	if compression != CompressionNone {
		return false
	}
	switch format {
	case FormatLines, FormatJSONL:
		return true
	case FormatCSV:
		return !csvWhole
	}
	return false
}
