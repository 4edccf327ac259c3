package codec

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/fanout-dev/fanout/localstack"
)

func gzipBytes(t testing.TB, parts ...string) []byte {
	var b bytes.Buffer
	for _, p := range parts { // one member per part
		w := gzip.NewWriter(&b)
		w.Write([]byte(p))
		w.Close()
	}
	return b.Bytes()
}

func zstdBytes(t testing.TB, s string) []byte {
	w, _ := zstd.NewWriter(nil)
	return w.EncodeAll([]byte(s), nil)
}

// bzip2Hello is "hello\n" compressed by bzip2(1).
var bzip2Hello = []byte("\x42\x5a\x68\x39\x31\x41\x59\x26\x53\x59\xc1\xc0\x80\xe2\x00\x00\x01\x41\x00\x00\x10\x02\x44\xa0\x00\x30\xcd\x00\xc3\x46\x29\x97\x17\x72\x45\x38\x50\x90\xc1\xc0\x80\xe2")

func TestDecompress(t *testing.T) {
	tests := []struct {
		name        string
		compression string
		data        []byte
		max         int64
		want        string
		wantErr     error // errors.Is target, or nil
		errText     string
	}{
		{"none", "", []byte("plain"), 0, "plain", nil, ""},
		{"gzip", "gzip", gzipBytes(t, "hello"), 0, "hello", nil, ""},
		{"gzip multi-member", "gz", gzipBytes(t, "a\n", "b\n"), 0, "a\nb\n", nil, ""},
		{"zstd", "zstd", zstdBytes(t, "zz"), 0, "zz", nil, ""},
		{"bzip2", "bzip2", bzip2Hello, 0, "hello\n", nil, ""},
		{"limit exact", "gzip", gzipBytes(t, "12345"), 5, "12345", nil, ""},
		{"gzip bomb", "gzip", gzipBytes(t, strings.Repeat("0", 1<<20)), 1000, "", ErrDecompressedTooLarge, "bomb.gz"},
		{"plain over limit", "", []byte("123456"), 5, "", ErrDecompressedTooLarge, "bomb.gz"},
		{"truncated gzip", "gzip", gzipBytes(t, strings.Repeat("abc", 1000))[:30], 0, "", io.ErrUnexpectedEOF, "bomb.gz"},
		{"not gzip", "gzip", []byte("hello"), 0, "", nil, `"bomb.gz"`},
		{"empty gzip", "gzip", nil, 0, "", io.ErrUnexpectedEOF, "bomb.gz"},
		{"corrupt zstd", "zstd", append(zstdBytes(t, "x")[:6], 0xff, 0xff, 0xff), 0, "", nil, "bomb.gz"},
		{"corrupt bzip2", "bzip2", []byte("BZh9garbage"), 0, "", nil, "bomb.gz"},
		{"unknown", "lzma", []byte("x"), 0, "", nil, "unknown compression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := Decompress(bytes.NewReader(tt.data), tt.compression, tt.max, "bomb.gz")
			var got []byte
			if err == nil {
				got, err = io.ReadAll(rc)
				if cerr := rc.Close(); cerr != nil && err == nil {
					err = cerr
				}
			}
			if tt.errText == "" && tt.wantErr == nil {
				if err != nil || string(got) != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %q, nil error; want an error", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not contain %q", err, tt.errText)
			}
		})
	}
}

// TestDecompressBzip2FromTool reads a stream bzip2(1) wrote: Go's
// compress/bzip2 only decompresses, so the input comes from Debian's bzip2,
// which scripts/tools.sh installs. Without it the test skips, and fails
// under FANOUT_REQUIRE_SERVICES=1 (scripts/test.sh, CI).
func TestDecompressBzip2FromTool(t *testing.T) {
	if _, err := exec.LookPath("bzip2"); err != nil {
		localstack.Missing(t, "bzip2 (scripts/tools.sh installs it: apt-get install bzip2)")
	}
	// About 540 KB, compressed with -1 (100 KB blocks): a stream of several blocks.
	var want bytes.Buffer
	for i := range 50000 {
		fmt.Fprintf(&want, "line %d\n", i*7919%100003)
	}
	cmd := exec.Command("bzip2", "-1", "-c")
	cmd.Stdin = bytes.NewReader(want.Bytes())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := Decompress(bytes.NewReader(out), "bz2", 0, "x.bz2")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %d bytes (equal: %v), %v; want the %d bytes given to bzip2", len(got), bytes.Equal(got, want.Bytes()), err, want.Len())
	}
}

func FuzzDecompress(f *testing.F) {
	f.Add([]byte("plain"), uint8(0))
	f.Add(gzipBytes(f, "hello", "world"), uint8(1))
	f.Add(zstdBytes(f, strings.Repeat("z", 100)), uint8(2))
	f.Add(bzip2Hello, uint8(3))
	kinds := []string{"", "gzip", "zstd", "bzip2"}
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte, kind uint8) {
		k := kinds[int(kind)%len(kinds)]
		// The oracle where there is one: the bytes themselves, and the
		// standard library's gzip for klauspost's (nil: no oracle, or it
		// refuses the input).
		var want []byte
		switch k {
		case "":
			want = data
		case "gzip":
			if zr, err := stdgzip.NewReader(bytes.NewReader(data)); err == nil {
				if b, err := io.ReadAll(io.LimitReader(zr, limit+1)); err == nil && len(b) <= limit {
					want = b
				}
			}
		}
		rc, err := Decompress(bytes.NewReader(data), k, limit, "fuzz")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the object", err)
			}
			// klauspost's gzip refuses a member header with reserved FLG
			// bits set, as RFC 1952 says a decompressor must; the
			// standard library reads it: no oracle for such a header.
			if want != nil && !strings.Contains(err.Error(), "gzip: invalid header") {
				t.Fatalf("%s: error %v; the oracle reads %d bytes", k, err, len(want))
			}
			return
		}
		defer rc.Close()
		var got bytes.Buffer
		n, err := io.Copy(&got, rc)
		if n > limit {
			t.Fatalf("%d bytes past the limit", n)
		}
		if err != nil && !strings.Contains(err.Error(), "fuzz") {
			t.Fatalf("error %q does not name the object", err)
		}
		if want != nil && err != nil && strings.Contains(err.Error(), "gzip: invalid header") && bytes.HasPrefix(want, got.Bytes()) {
			// The same refusal at a later member's header (reserved FLG
			// bits): what came before it is the oracle's, then the error.
			return
		}
		if want != nil && (err != nil || !bytes.Equal(got.Bytes(), want)) {
			t.Fatalf("%s: got %d bytes (equal: %v), %v; the oracle reads %d bytes", k, got.Len(), bytes.Equal(got.Bytes(), want), err, len(want))
		}
	})
}
