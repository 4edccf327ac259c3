package filestore_test

import (
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/filestore"
	"github.com/fanout-dev/fanout/objstore/objstoretest"
)

func newStore(tb testing.TB) objstore.Bucket {
	s, err := filestore.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Bucket { return newStore(t) }, objstoretest.PathKeys())
}

func BenchmarkStore(b *testing.B) { objstoretest.RunBenchmarks(b, newStore) }
