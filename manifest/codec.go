package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// validator is a document that checks its own invariants.
type validator interface{ Validate() error }

// Encode returns v as compact JSON followed by a newline, without HTML
// escaping. A document of this package (Manifest, Shard, ChunkMarker,
// CommitRecord, as value or pointer) is validated first, so that nothing
// its decoder would refuse is ever written.
func Encode(v any) ([]byte, error) {
	var doc validator
	switch d := v.(type) {
	case *Manifest, *Shard, *ChunkMarker, *CommitRecord, *FileList, *Owner, *CancelRecord, *CompactPlan, *TaskList:
		doc = d.(validator)
	case Manifest:
		doc = &d
	case Shard:
		doc = &d
	case ChunkMarker:
		doc = &d
	case CommitRecord:
		doc = &d
	case FileList:
		doc = &d
	}
	if doc != nil {
		if err := doc.Validate(); err != nil {
			return nil, err
		}
	}
	if m, ok := doc.(*ChunkMarker); ok {
		if b, ok := appendMarker(make([]byte, 0, 1024), m); ok {
			return b, nil
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("manifest: encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

// DecodeManifest decodes and validates a Manifest (see Manifest.Validate).
// Errors match ErrUnsupportedVersion or ErrInvalid.
func DecodeManifest(b []byte) (*Manifest, error) {
	return decode[Manifest]("manifest", b)
}

// DecodeShard decodes and validates a Shard (see Shard.Validate; use
// Manifest.CheckShard to check it belongs to a manifest). Errors match
// ErrUnsupportedVersion or ErrInvalid.
func DecodeShard(b []byte) (*Shard, error) {
	return decode[Shard]("shard", b)
}

// DecodeMarker decodes and validates a ChunkMarker (see
// ChunkMarker.Validate). Errors match ErrUnsupportedVersion or ErrInvalid.
func DecodeMarker(b []byte) (*ChunkMarker, error) {
	if m, ok := decodeMarkerFast(b); ok && m.Validate() == nil {
		return m, nil
	}
	return decode[ChunkMarker]("marker", b)
}

// DecodeCommit decodes and validates a CommitRecord (see
// CommitRecord.Validate). Errors match ErrUnsupportedVersion or
// ErrInvalid.
func DecodeCommit(b []byte) (*CommitRecord, error) {
	return decode[CommitRecord]("commit", b)
}

// DecodeFileList decodes and validates one part of a commit record's files
// (see FileList.Validate; the reader checks it is the part the record
// names). Errors match ErrUnsupportedVersion or ErrInvalid.
func DecodeFileList(b []byte) (*FileList, error) {
	return decode[FileList]("file list", b)
}

// decode reads one JSON object and nothing after it. A document that
// does not decode or validate has its version read first, so that one
// from a newer release is reported as such rather than as whatever its
// new shape breaks. Unknown fields are ignored: a release may add
// optional fields without a new Version.
//
// A document that decodes and validates is decoded once: every Validate
// checks the version first, so it was one this build reads (reading the
// version first cost a second pass over every shard, marker and commit
// record, a sixth of the scale simulation's CPU).
func decode[T any, PT interface {
	*T
	validator
}](kind string, b []byte) (*T, error) {
	if v := new(T); json.Unmarshal(b, v) == nil && PT(v).Validate() == nil {
		return v, nil
	}
	var probe struct {
		Version json.RawMessage `json:"version"`
	}
	// json.Unmarshal refuses anything after the top-level value.
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, invalid(kind, err)
	}
	if probe.Version == nil {
		return nil, invalid(kind, errors.New("no version"))
	}
	var version int
	if err := json.Unmarshal(probe.Version, &version); err != nil {
		return nil, invalid(kind, fmt.Errorf("version %s is not an integer", truncate(string(probe.Version), 40)))
	}
	if err := checkVersion(kind, version); err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, invalid(kind, err)
	}
	if err := PT(v).Validate(); err != nil {
		return nil, err
	}
	return v, nil
}
