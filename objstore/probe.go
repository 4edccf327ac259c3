package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// ProbeCreateOnly checks that b enforces create-only writes (If-None-Match:
// *), which fanout's exactly-once commit depends on. It writes key
// create-only twice with different random content, expects the second write
// to fail with ErrPrecondition and the first content to survive, and deletes
// key. Use a key nobody else writes (for example under the job's _fanout/
// prefix with a random suffix); a key that already exists is an error.
//
// When the store accepted the second write, the error wraps
// ErrCreateOnlyNotEnforced: such a store (some S3 look-alikes and older
// MinIO releases ignore the header) cannot give exactly-once results, and
// fanout refuses to run jobs on it.
func ProbeCreateOnly(ctx context.Context, b Bucket, key string) (err error) {
	first, second := randomHex(), randomHex()
	if _, err := b.Put(ctx, key, bytes.NewReader(first), &PutOptions{IfNoneMatch: true, Size: int64(len(first))}); err != nil {
		if errors.Is(err, ErrPrecondition) {
			return fmt.Errorf("objstore: probe create-only: key %q already exists; probe with a fresh key: %w", key, err)
		}
		return fmt.Errorf("objstore: probe create-only: first write: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := b.Delete(dctx, key); derr != nil {
			err = errors.Join(err, fmt.Errorf("objstore: probe create-only: removing %q: %w", key, derr))
		}
	}()
	_, err = b.Put(ctx, key, bytes.NewReader(second), &PutOptions{IfNoneMatch: true, Size: int64(len(second))})
	switch {
	case err == nil:
		return notEnforced(b, "a second create-only write of the same key succeeded")
	case !errors.Is(err, ErrPrecondition):
		return fmt.Errorf("objstore: probe create-only: second write: %w", err)
	}
	rc, _, err := b.Get(ctx, key, nil)
	if err != nil {
		return fmt.Errorf("objstore: probe create-only: reading back: %w", err)
	}
	got, err := io.ReadAll(rc)
	err = errors.Join(err, rc.Close())
	if err != nil {
		return fmt.Errorf("objstore: probe create-only: reading back: %w", err)
	}
	if !bytes.Equal(got, first) {
		return notEnforced(b, "a refused create-only write replaced the object anyway")
	}
	return nil
}

func notEnforced(b Bucket, what string) error {
	where := "this store"
	if d, ok := b.(Describer); ok {
		where = d.Describe()
	}
	return fmt.Errorf("%w: %s: %s, so it ignores If-None-Match: *; fanout cannot guarantee exactly-once results there and refuses to run jobs on it",
		ErrCreateOnlyNotEnforced, where, what)
}

func randomHex() []byte {
	var b [16]byte
	rand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}
