package cli

import (
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions/builtin"
)

// TestJobFlagsSizes checks that the size flags reach the spec through the
// one size parser, binary and decimal units as README's CLI reference
// says.
func TestJobFlagsSizes(t *testing.T) {
	f := jobFlags{functions: builtin.Registry(), inputs: []string{"file:///in/"}, fn: "grep", out: "file:///out/", maxFailed: "0",
		chunkSize: "1TiB", maxRecord: "1MB", maxInflate: "2GiB"}
	spec, err := f.spec()
	if err != nil {
		t.Fatal(err)
	}
	if spec.ChunkBytes != 1<<40 || spec.MaxRecordBytes != 1e6 || spec.MaxDecompressedBytes != 2<<30 {
		t.Errorf("spec sizes %d, %d, %d; want %d, %d, %d", spec.ChunkBytes, spec.MaxRecordBytes, spec.MaxDecompressedBytes, int64(1<<40), int64(1e6), int64(2<<30))
	}
	f.chunkSize = "1e9"
	if _, err := f.spec(); err == nil || !strings.Contains(err.Error(), "--chunk-size") {
		t.Errorf("--chunk-size 1e9: got %v, want an error naming --chunk-size", err)
	}
}
