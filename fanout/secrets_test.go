package fanout_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/objstore"
)

func TestSecretValues(t *testing.T) {
	environ := []string{
		"AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=aws-secret", "AWS_SESSION_TOKEN=session-tok",
		"FANOUT_REDIS_URL=redis://fanout:p%40ss-word@127.0.0.1:6379/0", "FANOUT_WEBHOOK_SECRET=hook", "FANOUT_SPEC_KEY=spec-key",
		"DB_PASSWORD=dbpw", "PATH=/usr/bin", "HOME=/root", "EMPTY_SECRET=", "ENDPOINT_URL=http://user@host/x",
	}
	got := fanout.SecretValues(environ)
	want := []string{"aws-secret", "session-tok", "p%40ss-word", "p@ss-word", "hook", "spec-key", "dbpw"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRedact(t *testing.T) {
	q := memqueue.New(memqueue.Config{})
	open := func(context.Context, string) (objstore.Bucket, error) { return nil, errors.New("no store") }
	e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Open: open, Functions: builtin.Registry(),
		Secrets: []string{"abc", "secret-1", "secret-1-longer", ""}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"key=secret-1 and secret-1-longer; abc", "key=[redacted] and [redacted]; abc"},
		{"nothing here", "nothing here"},
	}
	for _, tt := range tests {
		if got := e.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
