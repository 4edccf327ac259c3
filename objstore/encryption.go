package objstore

import (
	"fmt"
	"strings"
)

// Server-side encryption modes (the x-amz-server-side-encryption values).
const (
	// EncryptionS3 is SSE-S3: the store encrypts with keys it manages.
	EncryptionS3 = "AES256"
	// EncryptionKMS is SSE-KMS: the store encrypts with a KMS key.
	EncryptionKMS = "aws:kms"
)

// Encryption is the server-side encryption an S3 backend asks for on
// every object it writes (Put, Copy, both single and multipart), set in
// the backend's Config. The zero value asks for nothing, so the bucket's
// default encryption applies. Reads need no setting. File stores ignore
// it.
//
// With SSE-KMS an object's ETag is not the MD5 of its content; a
// conditional write whose response was lost is then reported as refused
// rather than recognised as the writer's own (see PutOptions.IfMatch).
type Encryption struct {
	// Mode is "", EncryptionS3 or EncryptionKMS.
	Mode string
	// KMSKeyID is the KMS key of EncryptionKMS (key ID, ARN or alias);
	// empty means the account's AWS managed key for S3.
	KMSKeyID string
}

// ParseEncryption reads the command-line form of an Encryption: "" or
// "none" (the bucket's default), "s3" (SSE-S3), "kms" (SSE-KMS with the
// AWS managed key) or "kms:KEY" (SSE-KMS with that key).
func ParseEncryption(s string) (Encryption, error) {
	mode, key, hasKey := strings.Cut(strings.TrimSpace(s), ":")
	switch strings.ToLower(mode) {
	case "", "none":
		if hasKey {
			break
		}
		return Encryption{}, nil
	case "s3", "sse-s3", "aes256":
		if hasKey {
			break
		}
		return Encryption{Mode: EncryptionS3}, nil
	case "kms", "sse-kms", "aws:kms":
		if hasKey && key == "" {
			return Encryption{}, fmt.Errorf("objstore: encryption %q: empty KMS key after \"kms:\"", s)
		}
		return Encryption{Mode: EncryptionKMS, KMSKeyID: key}, nil
	}
	return Encryption{}, fmt.Errorf("objstore: encryption %q: want none, s3, kms or kms:KEY", s)
}

// String returns the command-line form.
func (e Encryption) String() string {
	switch e.Mode {
	case EncryptionS3:
		return "s3"
	case EncryptionKMS:
		if e.KMSKeyID != "" {
			return "kms:" + e.KMSKeyID
		}
		return "kms"
	}
	return "none"
}

// Validate reports an unknown mode, or a key without SSE-KMS.
func (e Encryption) Validate() error {
	switch {
	case e.Mode != "" && e.Mode != EncryptionS3 && e.Mode != EncryptionKMS:
		return fmt.Errorf("objstore: encryption mode %q is not %q or %q", e.Mode, EncryptionS3, EncryptionKMS)
	case e.KMSKeyID != "" && e.Mode != EncryptionKMS:
		return fmt.Errorf("objstore: a KMS key (%s) needs encryption mode %q", e.KMSKeyID, EncryptionKMS)
	}
	return nil
}
