package s3compat

import (
	"errors"
	"io"
	"net/url"
	"testing"
)

func TestTransientNetworkError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{io.ErrUnexpectedEOF, true},
		// minio-go's rewording of io.EOF from a server that closed the
		// connection (MinIO restarting).
		{&url.Error{Op: "Put", URL: "http://127.0.0.1:9000/b/k", Err: errors.New("Connection closed by foreign host http://127.0.0.1:9000/b/k. Retry again.")}, true},
		{errors.New("access denied"), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := TransientNetworkError(tc.err); got != tc.want {
			t.Errorf("TransientNetworkError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
