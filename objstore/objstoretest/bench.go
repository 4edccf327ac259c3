package objstoretest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"golang.org/x/sync/errgroup"
)

// RunBenchmarks measures a backend's common operations: small PUTs and GETs
// (chunk markers, small inputs), 64 MiB streamed PUTs and GETs (outputs and
// large inputs) and listing. newBucket returns an empty bucket that it
// cleans up. Compare backends with benchstat on the same machine.
func RunBenchmarks(b *testing.B, newBucket func(tb testing.TB) objstore.Bucket) {
	small := bytes.Repeat([]byte("x"), 1024)
	b.Run("Put1KiB", func(b *testing.B) {
		bk := newBucket(b)
		ctx := context.Background()
		b.SetBytes(int64(len(small)))
		for i := 0; b.Loop(); i++ {
			if _, err := bk.Put(ctx, fmt.Sprintf("small/%08d", i), bytes.NewReader(small), &objstore.PutOptions{Size: 1024}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutCreateOnly1KiB", func(b *testing.B) {
		bk := newBucket(b)
		ctx := context.Background()
		b.SetBytes(int64(len(small)))
		for i := 0; b.Loop(); i++ {
			if _, err := bk.Put(ctx, fmt.Sprintf("small/%08d", i), bytes.NewReader(small), &objstore.PutOptions{Size: 1024, IfNoneMatch: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get1KiB", func(b *testing.B) {
		bk := newBucket(b)
		ctx := context.Background()
		if _, err := bk.Put(ctx, "small", bytes.NewReader(small), nil); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(small)))
		for b.Loop() {
			rc, _, err := bk.Get(ctx, "small", nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, rc)
			rc.Close()
		}
	})
	const big = 64 << 20
	b.Run("Put64MiB", func(b *testing.B) {
		bk := newBucket(b)
		ctx := context.Background()
		b.SetBytes(big)
		for i := 0; b.Loop(); i++ {
			if _, err := bk.Put(ctx, fmt.Sprintf("big/%d", i), RandomReader(uint64(i), big), &objstore.PutOptions{Size: -1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get64MiB", func(b *testing.B) {
		bk := newBucket(b)
		ctx := context.Background()
		if _, err := bk.Put(ctx, "big", RandomReader(1, big), nil); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(big)
		for b.Loop() {
			rc, _, err := bk.Get(ctx, "big", nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
	b.Run("List2000", func(b *testing.B) {
		bk := newBucket(b)
		g, ctx := errgroup.WithContext(context.Background())
		g.SetLimit(32)
		for i := range 2000 {
			g.Go(func() error {
				_, err := bk.Put(ctx, fmt.Sprintf("list/%02d/%05d", i%20, i), bytes.NewReader(small[:10]), nil)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			n := 0
			for _, err := range bk.List(context.Background(), "list/", nil) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 2000 {
				b.Fatalf("listed %d keys, want 2000", n)
			}
		}
		b.ReportMetric(float64(2000*b.N)/b.Elapsed().Seconds(), "keys/s")
	})
}
