package s3compat

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
)

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for none
	}{
		{"defaults", Config{Bucket: "b"}, ""},
		{"aws endpoint", Config{Bucket: "b", Endpoint: "https://s3.amazonaws.com"}, ""},
		{"no bucket", Config{}, "Config.Bucket"},
		{"small part", Config{Bucket: "b", PartSize: 1 << 20}, "Config.PartSize"},
		{"huge part", Config{Bucket: "b", PartSize: 6 << 30}, "Config.PartSize"},
		{"negative concurrency", Config{Bucket: "b", Concurrency: -1}, "Config.Concurrency"},
		{"endpoint with path", Config{Bucket: "b", Endpoint: "http://h:9000/x"}, "Config.Endpoint"},
		{"endpoint without scheme", Config{Bucket: "b", Endpoint: "h:9000"}, "Config.Endpoint"},
		{"bad encryption", Config{Bucket: "b", Encryption: objstore.Encryption{Mode: "rot13"}}, "Config.Encryption"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			err := cfg.Check()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Check() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Check() = %v, want an error naming %s", err, tt.wantErr)
			case err == nil && (cfg.PartSize != DefaultPartSize || cfg.Concurrency != DefaultConcurrency):
				t.Fatalf("Check() left PartSize %d, Concurrency %d; want defaults %d, %d", cfg.PartSize, cfg.Concurrency, DefaultPartSize, DefaultConcurrency)
			}
		})
	}
}

// responseError stands for an SDK's error carrying an S3 response.
type responseError struct {
	code   string
	status int
}

func (e *responseError) Error() string { return e.code }

func readTestError(err error) (string, int, bool) {
	var re *responseError
	if errors.As(err, &re) {
		return re.code, re.status, true
	}
	return "", 0, false
}

func TestMapErrAndRetryable(t *testing.T) {
	b := &Backend{Name: "test", Errors: readTestError}
	tests := []struct {
		err       error
		sentinel  error // nil: none
		retryable bool
	}{
		{&responseError{"NoSuchKey", 404}, objstore.ErrNotFound, false},
		{&responseError{"", 404}, objstore.ErrNotFound, false},
		{&responseError{"PreconditionFailed", 412}, objstore.ErrPrecondition, false},
		{&responseError{"KeyTooLongError", 400}, objstore.ErrInvalidKey, false},
		{&responseError{"XMinioInvalidObjectName", 400}, objstore.ErrInvalidKey, false},
		{&responseError{"SlowDown", 503}, nil, true},
		{&responseError{"ThrottlingException", 400}, nil, true},
		{&responseError{"RequestLimitExceeded", 400}, nil, true},
		{&responseError{"SlowDownWrite", 503}, nil, true},
		{&responseError{"ConditionalRequestConflict", 409}, nil, true},
		{&responseError{"", 502}, nil, true},
		{&responseError{"AccessDenied", 403}, nil, false},
		{io.ErrUnexpectedEOF, nil, true},
		{errors.New("access denied"), nil, false},
	}
	for _, tt := range tests {
		got := b.MapErr(tt.err)
		if tt.sentinel != nil && !errors.Is(got, tt.sentinel) || !errors.Is(got, tt.err) {
			t.Errorf("MapErr(%v) = %v, want %v wrapping the original", tt.err, got, tt.sentinel)
		}
		if r := b.retryable(tt.err); r != tt.retryable {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, r, tt.retryable)
		}
	}
}

// TestThrottledGetsMoreAttempts: the policy's Throttled accepts S3's
// ways of asking for fewer requests, and nothing else.
func TestThrottledGetsMoreAttempts(t *testing.T) {
	b := &Backend{Name: "test", Errors: readTestError}
	p := b.Policy()
	if p.Throttled == nil || p.ThrottledAttempts <= p.MaxAttempts {
		t.Fatalf("policy gives throttling %d attempts against %d (classifier set: %v)", p.ThrottledAttempts, p.MaxAttempts, p.Throttled != nil)
	}
	for _, tt := range []struct {
		err       error
		throttled bool
	}{
		{&responseError{"SlowDown", 503}, true},
		{&responseError{"SlowDownWrite", 503}, true},
		{&responseError{"", 503}, true},
		{&responseError{"", 429}, true},
		{&responseError{"ThrottlingException", 400}, true},
		{&responseError{"InternalError", 500}, false},
		{&responseError{"XMinioServerNotInitialized", 503}, false},
		{&responseError{"", 502}, false},
		{&responseError{"NoSuchKey", 404}, false},
		{io.ErrUnexpectedEOF, false},
	} {
		if got := p.Throttled(tt.err); got != tt.throttled {
			t.Errorf("Throttled(%v) = %v, want %v", tt.err, got, tt.throttled)
		}
	}
}
