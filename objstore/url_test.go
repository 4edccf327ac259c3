package objstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
)

func TestParseURL(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw  string
		want objstore.Location
	}{
		{"s3://bucket", objstore.Location{Scheme: "s3", Bucket: "bucket"}},
		{"s3://bucket/", objstore.Location{Scheme: "s3", Bucket: "bucket"}},
		{"s3://bucket/prefix/", objstore.Location{Scheme: "s3", Bucket: "bucket", Prefix: "prefix/"}},
		{"s3://my.bucket-1/a/b/logs-2024", objstore.Location{Scheme: "s3", Bucket: "my.bucket-1", Prefix: "a/b/logs-2024"}},
		{"S3://bucket/x%20y?z#w", objstore.Location{Scheme: "s3", Bucket: "bucket", Prefix: "x%20y?z#w"}},
		{"file:///abs/dir/", objstore.Location{Scheme: "file", Root: "/abs/dir"}},
		{"file:///abs/dir", objstore.Location{Scheme: "file", Root: "/abs/dir"}},
		{"file:///my%20dir/", objstore.Location{Scheme: "file", Root: "/my dir"}},
		{"file:///", objstore.Location{Scheme: "file", Root: "/"}},
		{"/abs/dir/", objstore.Location{Scheme: "file", Root: "/abs/dir"}},
		{"/abs/../abs/dir", objstore.Location{Scheme: "file", Root: "/abs/dir"}},
		{"rel/dir", objstore.Location{Scheme: "file", Root: filepath.Join(wd, "rel/dir")}},
		{".", objstore.Location{Scheme: "file", Root: wd}},
		{"dir with: colon", objstore.Location{Scheme: "file", Root: filepath.Join(wd, "dir with: colon")}},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := objstore.ParseURL(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			back, err := objstore.ParseURL(got.String())
			if err != nil || back != got {
				t.Fatalf("ParseURL(%q) = %+v, %v; want it back", got.String(), back, err)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, raw := range []string{
		"", "gs://bucket/x", "http://host/x", "s3://", "s3:///key", "s3://ab", "s3://Bucket", "s3://bucket_x",
		"s3://-bucket", "s3://bucket-", "s3://a..b", "s3://192.168.1.1", "s3://" + string(make([]byte, 64)),
		"s3://bucket//double", "file://host/dir", "file://localhost/dir", "file:relative", "file:///a?b", "file:///a#b",
	} {
		if got, err := objstore.ParseURL(raw); err == nil {
			t.Errorf("ParseURL(%q) = %+v, want an error", raw, got)
		}
	}
}

func TestLocationURLs(t *testing.T) {
	tests := []struct {
		loc          objstore.Location
		store, whole string
	}{
		{objstore.Location{Scheme: "s3", Bucket: "b"}, "s3://b", "s3://b"},
		{objstore.Location{Scheme: "s3", Bucket: "b", Prefix: "p/"}, "s3://b", "s3://b/p/"},
		{objstore.Location{Scheme: "file", Root: "/data/in"}, "file:///data/in", "file:///data/in"},
		{objstore.Location{Scheme: "file", Root: "/my dir"}, "file:///my%20dir", "file:///my%20dir"},
	}
	for _, tc := range tests {
		if got := tc.loc.StoreURL(); got != tc.store {
			t.Errorf("%+v.StoreURL() = %q, want %q", tc.loc, got, tc.store)
		}
		if got := tc.loc.String(); got != tc.whole {
			t.Errorf("%+v.String() = %q, want %q", tc.loc, got, tc.whole)
		}
	}
}
