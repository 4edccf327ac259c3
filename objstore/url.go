package objstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// Location is a parsed storage URL: which store (an S3 bucket or a local
// directory) and which key prefix within it.
//
// For an s3:// URL the store is the bucket and Prefix is everything written
// after "s3://bucket/", kept byte for byte (no percent-decoding, since S3 keys
// may hold '%'). For a file URL or a plain path the directory itself is the
// store: Root is its absolute, cleaned path and Prefix is always "", so that
// "file:///data/in/" lists every file under /data/in with keys relative to
// it ("2024/01/a.csv").
type Location struct {
	// Scheme is "s3" or "file".
	Scheme string
	// Bucket is the S3 bucket name; "" for file locations.
	Bucket string
	// Root is the absolute directory of a file location; "" for s3.
	Root string
	// Prefix is the key prefix within the store, without a leading slash.
	// It ends in "/" when the URL did (or is "" for the store's root).
	Prefix string
}

// ParseURL parses the URLs users give fanout for inputs and outputs:
//
//	s3://bucket               the whole bucket
//	s3://bucket/prefix/       keys under prefix/
//	s3://bucket/logs/2024-    keys starting with "logs/2024-"
//	file:///abs/dir/          the directory /abs/dir (percent-decoded path)
//	/abs/dir, rel/dir, .      a local directory, made absolute
//
// Schemes are case-insensitive. It refuses other schemes, an empty or
// invalid S3 bucket name, file URLs with a host, query or fragment, and an
// empty string.
func ParseURL(raw string) (Location, error) {
	if raw == "" {
		return Location{}, errors.New("objstore: empty storage URL")
	}
	scheme, rest, hasScheme := strings.Cut(raw, "://")
	if !hasScheme {
		if l := strings.ToLower(raw); strings.HasPrefix(l, "file:") || strings.HasPrefix(l, "s3:") {
			return Location{}, fmt.Errorf("objstore: %q: want s3://bucket/prefix, file:///abs/dir or a plain path", raw)
		}
		abs, err := filepath.Abs(raw)
		if err != nil {
			return Location{}, fmt.Errorf("objstore: local path %q: %w", raw, err)
		}
		return Location{Scheme: "file", Root: abs}, nil
	}
	switch strings.ToLower(scheme) {
	case "s3":
		bucket, prefix, _ := strings.Cut(rest, "/")
		if err := checkBucketName(bucket); err != nil {
			return Location{}, fmt.Errorf("objstore: %q: %w", raw, err)
		}
		if strings.HasPrefix(prefix, "/") {
			return Location{}, fmt.Errorf("objstore: %q: key prefix starts with '/' (S3 keys written as s3://bucket//x are almost always a mistake)", raw)
		}
		return Location{Scheme: "s3", Bucket: bucket, Prefix: prefix}, nil
	case "file":
		u, err := url.Parse(raw)
		if err != nil {
			return Location{}, fmt.Errorf("objstore: %q: %w", raw, err)
		}
		if u.Host != "" {
			return Location{}, fmt.Errorf("objstore: %q: file URLs must not name a host (use file:///abs/dir)", raw)
		}
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
			return Location{}, fmt.Errorf("objstore: %q: file URL has a query or fragment (percent-encode '?' and '#', or pass a plain path)", raw)
		}
		if u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
			return Location{}, fmt.Errorf("objstore: %q: file URL path must be absolute (file:///abs/dir)", raw)
		}
		return Location{Scheme: "file", Root: filepath.Clean(u.Path)}, nil
	default:
		return Location{}, fmt.Errorf("objstore: %q: unsupported scheme %q (want s3://, file:// or a local path)", raw, scheme)
	}
}

// StoreURL names the store without the prefix: "s3://bucket" or
// "file:///abs/dir" (percent-encoded).
func (l Location) StoreURL() string {
	if l.Scheme == "file" {
		return (&url.URL{Scheme: "file", Path: l.Root}).String()
	}
	return l.Scheme + "://" + l.Bucket
}

// OpenURL is the URL to open a store with when the work ahead lies under
// prefix: an S3 store's URL followed by the prefix (the store is still the
// whole bucket; bucketurl.Open checks the bucket by listing there, which a
// least-privilege policy allows where a listing of the whole bucket is
// refused). Other stores' URLs are returned unchanged.
func OpenURL(storeURL, prefix string) string {
	if prefix == "" || !strings.HasPrefix(storeURL, "s3://") {
		return storeURL
	}
	return storeURL + "/" + prefix
}

// String returns the location as a URL that ParseURL parses back to l.
func (l Location) String() string {
	if l.Prefix == "" {
		return l.StoreURL()
	}
	return l.StoreURL() + "/" + l.Prefix
}

// checkBucketName applies S3's bucket naming rules for general purpose
// buckets: 3 to 63 characters of lowercase letters, digits, '.' and '-',
// starting and ending with a letter or digit, no "..", not an IPv4 address.
func checkBucketName(name string) error {
	if name == "" {
		return errors.New("empty bucket name")
	}
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(name)-1 {
				return fmt.Errorf("bucket name %q must start and end with a lowercase letter or digit", name)
			}
		default:
			return fmt.Errorf("bucket name %q may hold only lowercase letters, digits, '.' and '-'", name)
		}
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return fmt.Errorf("bucket name %q must not hold \"..\", \".-\" or \"-.\"", name)
	}
	if ip := net.ParseIP(name); ip != nil {
		return fmt.Errorf("bucket name %q must not be an IP address", name)
	}
	return nil
}
