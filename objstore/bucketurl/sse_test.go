package bucketurl_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

func TestParseEncryption(t *testing.T) {
	tests := []struct {
		in   string
		want objstore.Encryption
		bad  bool
	}{
		{"", objstore.Encryption{}, false},
		{"none", objstore.Encryption{}, false},
		{"s3", objstore.Encryption{Mode: objstore.EncryptionS3}, false},
		{"kms", objstore.Encryption{Mode: objstore.EncryptionKMS}, false},
		{"kms:arn:aws:kms:eu-west-1:1:key/abc", objstore.Encryption{Mode: objstore.EncryptionKMS, KMSKeyID: "arn:aws:kms:eu-west-1:1:key/abc"}, false},
		{"kms:", objstore.Encryption{}, true},
		{"s3:key", objstore.Encryption{}, true},
		{"gpg", objstore.Encryption{}, true},
	}
	for _, tc := range tests {
		got, err := objstore.ParseEncryption(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseEncryption(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
		if err == nil {
			if back, _ := objstore.ParseEncryption(got.String()); back != got {
				t.Errorf("%q: String() %q parses back to %+v", tc.in, got.String(), back)
			}
		}
	}
}

// TestServerSideEncryption writes single-part and multipart objects and
// copies with both S3 backends asking for SSE-S3 and SSE-KMS, on a private
// MinIO with a static KMS key, and checks what the server stored.
func TestServerSideEncryption(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	m := localstack.StartMinIO(t, "MINIO_KMS_SECRET_KEY=fanout-test-key:"+base64.StdEncoding.EncodeToString(key))
	m.MakeBucket("sse")
	for _, env := range m.AWSEnv("") {
		k, v, _ := strings.Cut(env, "=")
		t.Setenv(k, v)
	}
	client := m.Client()
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16) // 11 MiB: three 5 MiB parts
	for _, backend := range []string{bucketurl.BackendMinIO, bucketurl.BackendAWS} {
		for _, enc := range []objstore.Encryption{{Mode: objstore.EncryptionS3}, {Mode: objstore.EncryptionKMS, KMSKeyID: "fanout-test-key"}, {}} {
			t.Run(backend+"/"+enc.String(), func(t *testing.T) {
				b, _, err := bucketurl.Open(ctx, "s3://sse", bucketurl.Options{S3Backend: backend, Endpoint: m.Endpoint, Region: m.Region,
					PartSize: 5 << 20, Encryption: enc})
				if err != nil {
					t.Fatal(err)
				}
				p := backend + "-" + enc.String() + "/"
				if _, err := b.Put(ctx, p+"small", strings.NewReader("hello"), &objstore.PutOptions{IfNoneMatch: true}); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Put(ctx, p+"big", bytes.NewReader(big), nil); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Copy(ctx, p+"copy", p+"small", nil); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"small", "big", "copy"} {
					st, err := client.StatObject(ctx, "sse", p+k, minio.StatObjectOptions{})
					if err != nil {
						t.Fatal(err)
					}
					got := st.Metadata.Get("X-Amz-Server-Side-Encryption")
					if got != enc.Mode {
						t.Errorf("%s: stored with encryption %q, want %q", k, got, enc.Mode)
					}
					if enc.KMSKeyID != "" && !strings.Contains(st.Metadata.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), enc.KMSKeyID) {
						t.Errorf("%s: KMS key %q, want %s", k, st.Metadata.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), enc.KMSKeyID)
					}
				}
				rc, _, err := b.Get(ctx, p+"copy", nil)
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				got.ReadFrom(rc)
				rc.Close()
				if got.String() != "hello" {
					t.Errorf("read back %q", got.String())
				}
			})
		}
	}
}
