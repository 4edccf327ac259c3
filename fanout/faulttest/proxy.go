package faulttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// S3Proxy is a reverse proxy in front of an S3 endpoint. Point one worker
// at it (AWS_ENDPOINT_URL_S3=proxy.URL) and its hooks see every request of
// that worker: they may hold a request before the store sees it, hold the
// response after the store acted on it (the window between a write and
// what the writer does next), or drop either. The Host header is passed on
// unchanged, so that SigV4 signatures still verify.
type S3Proxy struct {
	URL string

	target *url.URL
	srv    *httptest.Server
	closed chan struct{}

	mu     sync.Mutex
	before func(*http.Request) error
	after  func(*http.Request, *http.Response) error
}

// ErrDrop is what a hook returns to fail the request with 503 instead of
// passing it on.
var ErrDrop = errors.New("faulttest: request dropped by the proxy")

// NewS3Proxy starts a proxy to upstream (http://host:port), closed when
// the test ends.
func NewS3Proxy(t testing.TB, upstream string) *S3Proxy {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &S3Proxy{target: target, closed: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // signed by the client
		},
		ModifyResponse: func(resp *http.Response) error {
			p.mu.Lock()
			after := p.after
			p.mu.Unlock()
			if after == nil {
				return nil
			}
			return after(resp.Request, resp)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Content-Type", "application/xml")
			code := http.StatusBadGateway
			if errors.Is(err, ErrDrop) {
				code = http.StatusServiceUnavailable
			}
			w.WriteHeader(code)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>` +
				"faulttest proxy: " + strings.ReplaceAll(err.Error(), "<", "&lt;") + `</Message></Error>`))
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		before := p.before
		p.mu.Unlock()
		if before != nil {
			if err := before(r); err != nil {
				rp.ErrorHandler(w, r, err)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// Close releases every held request (Closed is closed) and stops the
// proxy.
func (p *S3Proxy) Close() {
	select {
	case <-p.closed:
		return
	default:
	}
	close(p.closed)
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// Closed is closed when the proxy shuts down; hooks that hold a request
// must give up then.
func (p *S3Proxy) Closed() <-chan struct{} { return p.closed }

// Before installs a hook called with each request before it is passed on
// (nil removes it). It may block; a non-nil error fails the request.
func (p *S3Proxy) Before(hook func(*http.Request) error) {
	p.mu.Lock()
	p.before = hook
	p.mu.Unlock()
}

// After installs a hook called with each response once the store has
// acted on the request, before the client sees the response (nil removes
// it). It may block; a non-nil error replaces the response with a 502.
func (p *S3Proxy) After(hook func(*http.Request, *http.Response) error) {
	p.mu.Lock()
	p.after = hook
	p.mu.Unlock()
}

// Replay sends a request the client has given up on to the store anyway,
// with body (read from r beforehand), and waits for the store's answer:
// a write cut off in flight that still lands, as it may on any S3.
func (p *S3Proxy) Replay(r *http.Request, body []byte) error {
	u := *p.target
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	out, err := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host // signed by the client
	out.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("replayed %s %s: %s", r.Method, r.URL.Path, resp.Status)
	}
	return nil
}

// ObjectKey returns the object key of a path-style S3 request
// (/bucket/key), "" for bucket-level requests.
func ObjectKey(r *http.Request) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return key
}

// IsMarkerPut reports whether r creates a chunk marker
// (<out>/_fanout/<job>/chunks/<hh>/<chunk>.json with If-None-Match: *).
func IsMarkerPut(r *http.Request) bool {
	k := ObjectKey(r)
	return r.Method == http.MethodPut && r.Header.Get("If-None-Match") == "*" &&
		strings.Contains(k, "_fanout/") && strings.Contains(k, "/chunks/") && strings.HasSuffix(k, ".json")
}

// OutputWrite reports a request that writes part of an attempt's output
// file for job: a staging PUT (<out>/_fanout/<job>/staging/<hh>/<chunk>/
// <epoch>/..., see StagingChunk) or, on a store with uploads (the no-copy
// commit), the start of an upload of a file named part-<job>-<chunk>-...
// (POST ?uploads) or the PUT of one of its parts. It returns the chunk,
// the attempt ("<chunk>/<epoch>" for staging; the chunk for uploads, whose
// keys name no attempt) and whether the request starts a file (a staging
// PUT or an upload's start: once per file).
func OutputWrite(r *http.Request, job string) (chunk, attempt string, start, ok bool) {
	if chunk, epoch, ok := StagingChunk(r); ok {
		return chunk, chunk + "/" + epoch, true, true
	}
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		start = true
	case r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId"):
	default:
		return "", "", false, false
	}
	k := ObjectKey(r)
	name, found := strings.CutPrefix(k[strings.LastIndex(k, "/")+1:], "part-"+job+"-")
	if !found || strings.Contains(k, "/_fanout/") {
		return "", "", false, false
	}
	chunk, _, _ = strings.Cut(name, "-")
	return chunk, chunk, start, true
}

// StagingChunk returns the chunk and epoch directory of a staging write
// (<out>/_fanout/<job>/staging/<hh>/<chunk>/<epoch>/...), or ok false.
func StagingChunk(r *http.Request) (chunk, epoch string, ok bool) {
	if r.Method != http.MethodPut {
		return "", "", false
	}
	_, rest, found := strings.Cut(ObjectKey(r), "/staging/")
	if !found {
		return "", "", false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 4 {
		return "", "", false
	}
	return parts[1], parts[2], true
}
