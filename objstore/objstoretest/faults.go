package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
)

// FaultKind is what a FaultTransport does to a matching request.
type FaultKind int

const (
	// Throttle answers 503 SlowDown without sending the request.
	Throttle FaultKind = iota
	// Reset fails the request with a connection reset without sending it.
	Reset
	// LoseResponse sends the request, lets the server act on it, and then
	// fails with a connection reset, as if the response were lost.
	LoseResponse
)

// Fault is one rule of a FaultTransport: the first Times requests for
// which Match returns true get Kind.
type Fault struct {
	Match func(*http.Request) bool
	Kind  FaultKind
	Times int
}

// FaultTransport is an http.RoundTripper for S3 backends that injects
// faults into chosen requests and counts the requests it sees.
type FaultTransport struct {
	Base http.RoundTripper

	mu     sync.Mutex
	faults []*Fault
	hits   map[*Fault]int
	seen   []string
}

// NewFaultTransport returns a FaultTransport over a clone of
// http.DefaultTransport.
func NewFaultTransport() *FaultTransport {
	return &FaultTransport{Base: http.DefaultTransport.(*http.Transport).Clone(), hits: map[*Fault]int{}}
}

// Add installs faults (after the store's construction, so that its
// start-up requests are not affected) and forgets the requests seen.
func (f *FaultTransport) Add(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range faults {
		f.faults = append(f.faults, &faults[i])
	}
	f.seen = nil
}

// Hits returns how many requests the i-th fault added so far hit.
func (f *FaultTransport) Hits(i int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[f.faults[i]]
}

// Seen returns "METHOD kind" for every request since the last Add, where
// kind is one of put, part, complete, create, get, head, list, delete,
// deletes (DeleteObjects), copy or other.
func (f *FaultTransport) Seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// RoundTrip implements http.RoundTripper.
func (f *FaultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.seen = append(f.seen, RequestKind(req))
	var hit *Fault
	for _, ft := range f.faults {
		if f.hits[ft] < ft.Times && ft.Match(req) {
			f.hits[ft]++
			hit = ft
			break
		}
	}
	f.mu.Unlock()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	switch {
	case hit == nil:
		return f.Base.RoundTrip(req)
	case hit.Kind == LoseResponse:
		resp, err := f.Base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, reset
	}
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if hit.Kind == Reset {
		return nil, reset
	}
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><Resource>` +
		req.URL.Path + `</Resource><RequestId>fault</RequestId></Error>`
	if req.Method == http.MethodHead {
		body = ""
	}
	return &http.Response{
		Status:        "503 Service Unavailable",
		StatusCode:    http.StatusServiceUnavailable,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/xml"}, "Retry-After": {"0"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// RequestKind classifies an S3 request, as "PUT put", "POST complete"...
func RequestKind(req *http.Request) string {
	q := req.URL.Query()
	kind := "other"
	switch req.Method {
	case http.MethodPut:
		switch {
		case q.Has("partNumber"):
			kind = "part"
		case req.Header.Get("X-Amz-Copy-Source") != "":
			kind = "copy"
		default:
			kind = "put"
		}
	case http.MethodPost:
		switch {
		case q.Has("uploadId"):
			kind = "complete"
		case q.Has("uploads"):
			kind = "create"
		case q.Has("delete"):
			kind = "deletes"
		}
	case http.MethodGet:
		if q.Get("list-type") == "2" {
			kind = "list"
		} else {
			kind = "get"
		}
	case http.MethodHead:
		kind = "head"
	case http.MethodDelete:
		kind = "delete"
	}
	return req.Method + " " + kind
}

// IsKind returns a Match function for requests of the given RequestKind
// that also carry header (any value) when header is not empty.
func IsKind(kind, header string) func(*http.Request) bool {
	return func(req *http.Request) bool {
		return RequestKind(req) == kind && (header == "" || req.Header.Get(header) != "")
	}
}

// RunHTTPFaults checks an S3 backend's retries with a FaultTransport:
// throttled and reset requests are retried, listings resume where they
// broke, 404 and 412 are not retried, and a conditional write whose
// response was lost after the server applied it reports success rather
// than losing to itself. newBucket returns an empty bucket whose client
// sends every request through rt.
func RunHTTPFaults(t *testing.T, newBucket func(t *testing.T, rt http.RoundTripper) objstore.Bucket) {
	setup := func(t *testing.T) (objstore.Bucket, *FaultTransport) {
		ft := NewFaultTransport()
		return newBucket(t, ft), ft
	}
	t.Run("ThrottledPutAndGet", func(t *testing.T) {
		b, ft := setup(t)
		ft.Add(Fault{Match: IsKind("PUT put", ""), Kind: Throttle, Times: 2},
			Fault{Match: IsKind("GET get", ""), Kind: Throttle, Times: 2},
			Fault{Match: IsKind("HEAD head", ""), Kind: Reset, Times: 2})
		put(t, b, "k", []byte("v"))
		if got, _ := get(t, b, "k", nil); string(got) != "v" {
			t.Fatalf("Get = %q", got)
		}
		if _, err := b.Stat(ctxFor(t), "k"); err != nil {
			t.Fatalf("Stat after resets: %v", err)
		}
		for i := range 3 {
			if ft.Hits(i) != 2 {
				t.Fatalf("fault %d hit %d times, want 2", i, ft.Hits(i))
			}
		}
	})
	t.Run("ListResumes", func(t *testing.T) {
		b, ft := setup(t)
		var keys []string
		for i := range 30 {
			keys = append(keys, fmt.Sprintf("l/%02d", i))
		}
		putAll(t, b, keys)
		calls := 0
		ft.Add(Fault{Match: func(r *http.Request) bool {
			if RequestKind(r) != "GET list" {
				return false
			}
			calls++
			return calls == 2 || calls == 4
		}, Kind: Reset, Times: 2})
		equalKeys(t, "List with resets", listKeys(t, b, "l/", &objstore.ListOptions{PageSize: 10}), keys)
		if ft.Hits(0) != 2 {
			t.Fatalf("reset %d list requests, want 2", ft.Hits(0))
		}
	})
	t.Run("NotRetried", func(t *testing.T) {
		b, ft := setup(t)
		put(t, b, "k", []byte("v"))
		ft.Add()
		ctx := ctxFor(t)
		_, err := b.Stat(ctx, "missing")
		wantErr(t, "Stat(missing)", err, objstore.ErrNotFound)
		_, err = b.Put(ctx, "k", strings.NewReader("x"), &objstore.PutOptions{IfNoneMatch: true})
		wantErr(t, "create-only Put of an existing key", err, objstore.ErrPrecondition)
		if seen := ft.Seen(); len(seen) != 2 {
			t.Fatalf("requests %q, want one HEAD and one PUT", seen)
		}
	})
	for _, size := range []int64{100, multipartSize} {
		kind, header := "PUT put", "If-None-Match"
		if size > 16<<20 {
			kind = "POST complete"
		}
		t.Run(fmt.Sprintf("LostCreateOnlyResponse/%d", size), func(t *testing.T) {
			if size > 1<<20 && testing.Short() {
				t.Skip("uploads 34 MiB; skipped in -short mode; scripts/test.sh runs it")
			}
			b, ft := setup(t)
			ft.Add(Fault{Match: IsKind(kind, header), Kind: LoseResponse, Times: 1})
			info, err := b.Put(ctxFor(t), "marker", RandomReader(5, size), &objstore.PutOptions{IfNoneMatch: true})
			if err != nil {
				t.Fatalf("create-only Put whose first response was lost: %v (requests %q)", err, ft.Seen())
			}
			if ft.Hits(0) != 1 {
				t.Fatalf("the fault did not fire; requests %q", ft.Seen())
			}
			got, sum := hashObject(t, b, "marker")
			if got.ETag != info.ETag || sum != RandomSum(5, size) {
				t.Fatalf("stored object %+v is not the Put's %+v", got, info)
			}
		})
		t.Run(fmt.Sprintf("CreateOnlyLostToAnotherAfterRetry/%d", size), func(t *testing.T) {
			if size > 1<<20 && testing.Short() {
				t.Skip("uploads 34 MiB; skipped in -short mode; scripts/test.sh runs it")
			}
			b, ft := setup(t)
			put(t, b, "marker", []byte("the other writer's"))
			ft.Add(Fault{Match: IsKind(kind, header), Kind: Reset, Times: 1})
			_, err := b.Put(ctxFor(t), "marker", RandomReader(5, size), &objstore.PutOptions{IfNoneMatch: true})
			wantErr(t, "create-only Put of an existing key, retried", err, objstore.ErrPrecondition)
			if ft.Hits(0) != 1 {
				t.Fatalf("the fault did not fire; requests %q", ft.Seen())
			}
			if got, _ := get(t, b, "marker", nil); string(got) != "the other writer's" {
				t.Fatalf("the object was replaced: %.40q", got)
			}
		})
	}
	t.Run("LostIfMatchResponse", func(t *testing.T) {
		b, ft := setup(t)
		old := put(t, b, "k", []byte("v1"))
		ft.Add(Fault{Match: IsKind("PUT put", "If-Match"), Kind: LoseResponse, Times: 1})
		if _, err := b.Put(ctxFor(t), "k", bytes.NewReader([]byte("v2")), &objstore.PutOptions{IfMatch: old.ETag}); err != nil {
			t.Fatalf("If-Match Put whose first response was lost: %v", err)
		}
		if got, _ := get(t, b, "k", nil); string(got) != "v2" {
			t.Fatalf("stored %q", got)
		}
	})
	t.Run("ThrottledMultipart", func(t *testing.T) {
		if testing.Short() {
			t.Skip("uploads 34 MiB; skipped in -short mode; scripts/test.sh runs it")
		}
		b, ft := setup(t)
		ft.Add(Fault{Match: IsKind("PUT part", ""), Kind: Throttle, Times: 3},
			Fault{Match: IsKind("POST create", ""), Kind: Reset, Times: 1},
			Fault{Match: IsKind("POST complete", ""), Kind: Throttle, Times: 1})
		if _, err := b.Put(ctxFor(t), "big", RandomReader(3, multipartSize), nil); err != nil {
			t.Fatalf("multipart Put with throttled parts: %v", err)
		}
		if _, sum := hashObject(t, b, "big"); sum != RandomSum(3, multipartSize) {
			t.Fatal("stored bytes differ")
		}
		for i := range 3 {
			if ft.Hits(i) == 0 {
				t.Fatalf("fault %d did not fire; requests %q", i, ft.Seen())
			}
		}
	})
	t.Run("CancelDuringBackoff", func(t *testing.T) {
		b, ft := setup(t)
		ctx, cancel := context.WithCancel(ctxFor(t))
		gets := 0
		ft.Add(Fault{Match: func(r *http.Request) bool {
			if RequestKind(r) != "GET get" {
				return false
			}
			if gets++; gets == 2 {
				cancel() // while the store is about to back off
			}
			return true
		}, Kind: Throttle, Times: 1000})
		_, _, err := b.Get(ctx, "k", nil)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Get cancelled while backing off: got error %v, want context.Canceled", err)
		}
	})
}

// CheckMultipartCopy copies an object of size bytes, which the caller has
// made larger than the backend's single-copy limit, and checks the copy's
// bytes and that a stale IfMatch is refused.
func CheckMultipartCopy(t *testing.T, b objstore.Bucket, size int64) {
	ctx := ctxFor(t)
	src, err := b.Put(ctx, "src", RandomReader(11, size), nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.Copy(ctx, "dst", "src", &objstore.CopyOptions{IfMatch: src.ETag})
	if err != nil {
		t.Fatalf("multipart Copy: %v", err)
	}
	got, sum := hashObject(t, b, "dst")
	if got.Size != size || got.ETag != info.ETag || sum != RandomSum(11, size) {
		t.Fatalf("copy is %+v (Copy said %+v), want %d bytes equal to the source", got, info, size)
	}
	_, err = b.Copy(ctx, "dst2", "src", &objstore.CopyOptions{IfMatch: "0123456789abcdef0123456789abcdef"})
	wantErr(t, "multipart Copy with a stale IfMatch", err, objstore.ErrPrecondition)
	wantMissing(t, b, "dst2")
}
