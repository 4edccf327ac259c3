package objstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/filestore"
	"github.com/fanout-dev/fanout/objstore/objstoretest"
)

func newFileStore(t *testing.T) *filestore.Store {
	s, err := filestore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestProbeCreateOnly(t *testing.T) {
	ctx := context.Background()
	s := newFileStore(t)
	if err := objstore.ProbeCreateOnly(ctx, s, "_fanout/probe"); err != nil {
		t.Fatalf("file store: %v", err)
	}
	if _, err := s.Stat(ctx, "_fanout/probe"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("probe key left behind: Stat error %v", err)
	}
}

func TestProbeCreateOnlyRefusesStoreIgnoringIt(t *testing.T) {
	ctx := context.Background()
	s := newFileStore(t)
	err := objstore.ProbeCreateOnly(ctx, objstoretest.IgnoreCreateOnly(s), "_fanout/probe")
	if !errors.Is(err, objstore.ErrCreateOnlyNotEnforced) {
		t.Fatalf("got error %v, want ErrCreateOnlyNotEnforced", err)
	}
	if !strings.Contains(err.Error(), "refuses to run jobs") {
		t.Fatalf("error %q does not say what it means for jobs", err)
	}
	if _, err := s.Stat(ctx, "_fanout/probe"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("probe key left behind: Stat error %v", err)
	}
}

func TestProbeCreateOnlyExistingKey(t *testing.T) {
	ctx := context.Background()
	s := newFileStore(t)
	if _, err := s.Put(ctx, "taken", strings.NewReader("someone's"), nil); err != nil {
		t.Fatal(err)
	}
	err := objstore.ProbeCreateOnly(ctx, s, "taken")
	if err == nil || errors.Is(err, objstore.ErrCreateOnlyNotEnforced) {
		t.Fatalf("got error %v, want one saying the key exists", err)
	}
	if _, err := s.Stat(ctx, "taken"); err != nil {
		t.Fatalf("probe removed a key it did not write: %v", err)
	}
}
