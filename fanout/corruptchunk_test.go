package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/simstore"
)

// TestACorruptChunkInAShardFailsThatChunk breaks one chunk of a planned
// job's manifest shard (an input object of negative size): a worker
// reads a shard's chunks apart and decodes only the one it runs
// (manifest.SplitShard), so that chunk fails for good naming its shard
// and what is wrong, and the shard's other chunks run and publish.
func TestACorruptChunkInAShardFailsThatChunk(t *testing.T) {
	ctx := context.Background()
	b := simstore.New(simstore.Config{Name: "corrupt"})
	const chunks = 6
	for i := range chunks {
		if _, err := b.Put(ctx, fmt.Sprintf("in/%05d.txt", i), strings.NewReader(fmt.Sprintf("line %d\n", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	q := memqueue.New(memqueue.Config{})
	newEngine := func() *fanout.Engine {
		e, err := fanout.New(fanout.Config{Queue: q, Admin: q, Functions: builtin.Registry(),
			Open: func(context.Context, string) (objstore.Bucket, error) { return b, nil }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	e := newEngine()
	spec := manifest.JobSpec{Inputs: []string{"s3://corrupt/in/"}, Function: "convert", Output: "s3://corrupt/out/",
		OutputFormat: "jsonl", MaxObjectsPerChunk: 1}.WithDefaults()
	info, err := e.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	layout := manifest.NewLayout("out/")
	m, err := manifest.DecodeManifest(readKey(t, b, layout.ManifestKey(info.Job)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Shards != 1 || m.Chunks != chunks {
		t.Fatalf("%d shards, %d chunks; want 1 shard of %d chunks", m.Shards, m.Chunks, chunks)
	}
	key := m.ShardKey(layout, 0)
	var shard map[string]any
	if err := json.Unmarshal(readKey(t, b, key), &shard); err != nil {
		t.Fatal(err)
	}
	bad := shard["chunks"].([]any)[3].(map[string]any)
	bad["parts"].([]any)[0].(map[string]any)["object"].(map[string]any)["size"] = -7
	body, err := json.Marshal(shard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, key, bytes.NewReader(body), nil); err != nil {
		t.Fatal(err)
	}
	// The rewritten shard has another ETag and other offsets than its
	// block table says (a replaced shard is refused whole:
	// TestAReplacedShardIsRefused): the manifest loses its table, as one
	// written before block tables, whose shards are read whole.
	m.BlockChunks, m.ShardBlocks = 0, nil
	if _, err := b.Put(ctx, layout.ManifestKey(info.Job), bytes.NewReader(mustEncodeManifest(t, m)), nil); err != nil {
		t.Fatal(err)
	}

	// An engine of its own: the first cached the manifest as planned.
	_, err = newEngine().Wait(ctx, spec.Output, info.Job, fanout.RunOptions{Workers: 2})
	var jf *fanout.JobFailedError
	if !errors.As(err, &jf) {
		t.Fatalf("Wait: %v; want a JobFailedError", err)
	}
	if len(jf.Failed) != 1 || jf.Failed[0].Chunk != "c00000003" ||
		!strings.Contains(jf.Failed[0].Reason, "manifest shard 0") || !strings.Contains(jf.Failed[0].Reason, "size") {
		t.Fatalf("failed chunks %+v; want only c00000003, its reason naming manifest shard 0 and the size", jf.Failed)
	}
	for i := range chunks {
		mk, err := manifest.DecodeMarker(readKey(t, b, layout.MarkerKey(info.Job, manifest.ChunkID(i))))
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if want := i != 3; (mk.State == manifest.MarkerDone) != want {
			t.Errorf("chunk %d's marker is %s; want done: %v", i, mk.State, want)
		}
		if mk.State == manifest.MarkerFailed && mk.Attempts != 1 {
			t.Errorf("chunk %d failed after %d attempts; want 1 (a corrupt manifest is permanent)", i, mk.Attempts)
		}
	}
}

func mustEncodeManifest(t *testing.T, m *manifest.Manifest) []byte {
	t.Helper()
	body, err := manifest.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func readKey(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, _, err := b.Get(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
