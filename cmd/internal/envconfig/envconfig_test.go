package envconfig

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

func TestBucket(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    bucketurl.Options
		wantErr string
	}{
		{"nothing set", nil, bucketurl.Options{}, ""},
		{"general endpoint", map[string]string{Endpoint: "http://general:9000"}, bucketurl.Options{Endpoint: "http://general:9000"}, ""},
		{"S3 endpoint wins", map[string]string{Endpoint: "http://general:9000", EndpointS3: "http://s3:9000"},
			bucketurl.Options{Endpoint: "http://s3:9000"}, ""},
		{"default region", map[string]string{DefaultRegion: "eu-west-1"}, bucketurl.Options{Region: "eu-west-1"}, ""},
		{"AWS_REGION wins", map[string]string{DefaultRegion: "eu-west-1", Region: "us-west-2"}, bucketurl.Options{Region: "us-west-2"}, ""},
		{"backend", map[string]string{S3Backend: "aws"}, bucketurl.Options{S3Backend: "aws"}, ""},
		{"sse", map[string]string{SSE: "kms:alias/k"},
			bucketurl.Options{Encryption: objstore.Encryption{Mode: objstore.EncryptionKMS, KMSKeyID: "alias/k"}}, ""},
		{"bad sse", map[string]string{SSE: "gpg"}, bucketurl.Options{}, SSE},
		{"metadata endpoint allowed", map[string]string{AllowMetadataEndpoint: "1"}, bucketurl.Options{AllowMetadataEndpoint: true}, ""},
		// Only 1 allows it, as before this package existed.
		{"metadata endpoint not 1", map[string]string{AllowMetadataEndpoint: "true"}, bucketurl.Options{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			read := map[string]bool{}
			got, err := Bucket(func(name string) string {
				read[name] = true
				return tc.env[name]
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Bucket: %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Bucket = %+v, want %+v", got, tc.want)
			}
			for name := range read {
				if !isBucketVar(name) {
					t.Errorf("Bucket read %s, which BucketVars does not list", name)
				}
			}
		})
	}
}

func TestRedis(t *testing.T) {
	for _, tc := range []struct {
		name                string
		env                 map[string]string
		wantURL, wantPrefix string
	}{
		{"nothing set", nil, "", DefaultRedisPrefix},
		{"both", map[string]string{RedisURL: "redis://h:6379/0", RedisPrefix: "p"}, "redis://h:6379/0", "p"},
		{"default prefix", map[string]string{RedisURL: "redis://h:6379/0"}, "redis://h:6379/0", "fanout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, prefix := Redis(func(name string) string { return tc.env[name] })
			if url != tc.wantURL || prefix != tc.wantPrefix {
				t.Errorf("Redis = %q, %q; want %q, %q", url, prefix, tc.wantURL, tc.wantPrefix)
			}
		})
	}
}

func isBucketVar(name string) bool {
	for _, v := range BucketVars {
		if v.Name == name {
			return true
		}
	}
	return false
}

// TestREADMEListsEveryVariable checks that the README's Environment
// section names every environment variable the commands' code names: the
// variables are found as string literals in the non-test Go files of
// cmd/ (the libraries read none).
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### Environment\n")
	if !ok {
		t.Fatal("README.md has no \"### Environment\" section")
	}
	if i := strings.Index(section, "\n#"); i >= 0 {
		section = section[:i]
	}
	literal := regexp.MustCompile(`"((?:FANOUT|AWS)_[A-Z0-9_]+|GOGC|GOMEMLIMIT)"`)
	found := map[string]string{} // name -> a file naming it
	err = filepath.WalkDir("../..", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(src), -1) {
			found[m[1]] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 20 {
		t.Fatalf("found only %d variable names in cmd/: %v", len(found), found)
	}
	for name, file := range found {
		if !strings.Contains(section, "`"+name+"`") {
			t.Errorf("%s (named in %s) is missing from the README's Environment section", name, file)
		}
	}
}
