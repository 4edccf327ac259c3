package manifest_test

import (
	"fmt"

	"github.com/fanout-dev/fanout/manifest"
)

func ExampleLayout() {
	l := manifest.NewLayout("warehouse/errors")
	job := "j0123456789abcdef0123"
	fmt.Println(l.ManifestKey(job))
	fmt.Println(l.ShardKey(job, 0))
	fmt.Println(l.MarkerKey(job, manifest.ChunkID(7)))
	fmt.Println(l.StagingPrefix(job, manifest.ChunkID(7), 2))
	fmt.Println(l.CommitKey(job))
	fmt.Println(l.DataKey("day=2026-11-22", "part-c00000007.parquet"))
	fmt.Println(l.SuccessKey())
	// Output:
	// warehouse/errors/_fanout/j0123456789abcdef0123/manifest.json
	// warehouse/errors/_fanout/j0123456789abcdef0123/manifest/000000.json
	// warehouse/errors/_fanout/j0123456789abcdef0123/chunks/b3/c00000007.json
	// warehouse/errors/_fanout/j0123456789abcdef0123/staging/b3/c00000007/2/
	// warehouse/errors/_fanout/j0123456789abcdef0123/_COMMITTED
	// warehouse/errors/day=2026-11-22/part-c00000007.parquet
	// warehouse/errors/_SUCCESS
}

func ExamplePacker() {
	p, err := manifest.NewPacker(manifest.PackOptions{ChunkBytes: 100, MaxObjectsPerChunk: 3})
	if err != nil {
		panic(err)
	}
	var chunks []manifest.Chunk
	for i, size := range []int64{10, 20, 250, 30, 40, 50} {
		key := fmt.Sprintf("logs/%d.log", i)
		format, compression, err := manifest.DetectFormat(key, manifest.FormatAuto)
		if err != nil {
			panic(err)
		}
		obj := manifest.ObjectRef{Store: "s3://in", Key: key, Size: size, ETag: "e", Format: format, Compression: compression}
		chunks = append(chunks, p.AddObject(obj, nil)...)
	}
	chunks = append(chunks, p.Flush()...)
	for _, c := range chunks {
		fmt.Printf("%s %3d bytes:", c.ID, c.Bytes)
		for _, part := range c.Parts {
			fmt.Printf(" %s[%d,%d)", part.Object.Key, part.Start, part.End)
		}
		fmt.Println()
	}
	// Output:
	// c00000000 100 bytes: logs/2.log[0,100)
	// c00000001  75 bytes: logs/2.log[100,175)
	// c00000002  75 bytes: logs/2.log[175,-1)
	// c00000003  60 bytes: logs/0.log[0,-1) logs/1.log[0,-1) logs/3.log[0,-1)
	// c00000004  90 bytes: logs/4.log[0,-1) logs/5.log[0,-1)
}

func ExampleParseMaxFailed() {
	for _, s := range []string{"", "3", "2.5%"} {
		n, err := manifest.ParseMaxFailed(s, 200)
		fmt.Printf("%q of 200 chunks: %d %v\n", s, n, err)
	}
	// Output:
	// "" of 200 chunks: 0 <nil>
	// "3" of 200 chunks: 3 <nil>
	// "2.5%" of 200 chunks: 5 <nil>
}
