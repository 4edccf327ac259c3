package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// jobIDHexLen is the number of hex digits of a job ID after its "j".
const jobIDHexLen = 20

// JobID derives a job's ID from its spec and a digest of its input listing
// (keys, sizes and ETags, computed by the planner), so that submitting the
// same spec over the same input twice is one job; spec.Nonce forces a new
// ID. The ID is "j" followed by 20 lowercase hex digits of a SHA-256 over
// the canonical JSON encoding of spec.WithDefaults() (so that a default
// spelled out and a default left zero give the same ID; empty and nil
// lists are the same too) and the digest.
func JobID(spec JobSpec, listingDigest string) string {
	spec = spec.WithDefaults()
	spec.ListDirs = false // how the inputs are listed, not which
	if len(spec.Inputs) == 0 {
		spec.Inputs = nil
	}
	if len(spec.PartitionBy) == 0 {
		spec.PartitionBy = nil
	}
	if len(spec.Inventories) == 0 {
		spec.Inventories = nil
	}
	if len(spec.KeyLists) == 0 {
		spec.KeyLists = nil
	}
	if len(spec.SortBy) == 0 {
		spec.SortBy = nil
	}
	// Marshal cannot fail: JobSpec holds only strings, numbers, a string
	// map (keys sorted by encoding/json) and Duration.
	b, err := json.Marshal(spec)
	if err != nil {
		panic("manifest: encoding a JobSpec: " + err.Error())
	}
	h := sha256.New()
	h.Write(b)
	// JSON never holds a raw NUL, so the separator keeps the encoding
	// unambiguous.
	h.Write([]byte{0})
	h.Write([]byte(listingDigest))
	return "j" + hex.EncodeToString(h.Sum(nil))[:jobIDHexLen]
}

// ValidJobID reports whether s has the form of a job ID: "j" and 20
// lowercase hex digits. Keys are built from job IDs, so nothing else is
// accepted.
func ValidJobID(s string) bool {
	if len(s) != 1+jobIDHexLen || s[0] != 'j' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ChunkID names the chunk of index i (i >= 0): "c" and i in at least 8
// digits, so that IDs sort like their indexes below 100,000,000. It panics
// when i is negative, a caller's bug.
func ChunkID(i int) string {
	if i < 0 {
		panic(fmt.Sprintf("manifest: ChunkID(%d): negative chunk index", i))
	}
	return fmt.Sprintf("c%08d", i)
}

// ChunkIndex is the inverse of ChunkID: it accepts only IDs that ChunkID
// produces (no sign, no extra leading zeros).
func ChunkIndex(id string) (int, error) {
	digits, ok := strings.CutPrefix(id, "c")
	if !ok || len(digits) < 8 {
		return 0, fmt.Errorf("manifest: %q is not a chunk ID", truncate(id, 40))
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("manifest: %q is not a chunk ID", truncate(id, 40))
		}
	}
	if len(digits) > 8 && digits[0] == '0' {
		return 0, fmt.Errorf("manifest: %q is not a chunk ID (leading zero)", truncate(id, 40))
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return 0, fmt.Errorf("manifest: chunk ID %q: %w", truncate(id, 40), err)
	}
	return n, nil
}

// ValidChunkID reports whether id is a chunk ID (see ChunkIndex).
func ValidChunkID(id string) bool {
	_, err := ChunkIndex(id)
	return err == nil
}

// ShardOf is the index of the manifest shard holding the chunk of index
// chunkIndex. It panics when shardSize is not positive.
func ShardOf(chunkIndex, shardSize int) int {
	if shardSize <= 0 {
		panic(fmt.Sprintf("manifest: ShardOf: shard size %d is not positive", shardSize))
	}
	return chunkIndex / shardSize
}

// ShardCount is the number of shards that hold chunks chunks in shards of
// shardSize. It panics when shardSize is not positive.
func ShardCount(chunks, shardSize int) int {
	if shardSize <= 0 {
		panic(fmt.Sprintf("manifest: ShardCount: shard size %d is not positive", shardSize))
	}
	n := chunks / shardSize
	if chunks%shardSize != 0 {
		n++
	}
	return n
}
