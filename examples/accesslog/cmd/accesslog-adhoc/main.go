// Command accesslog-adhoc counts the visitors of every page of the access
// logs under a prefix in one call (adhoc.Run): in this process, or with
// FANOUT_REDIS_URL set, together with the `work` processes of the
// accesslog command on that Redis.
//
//	accesslog-adhoc [-chunk-size SIZE] s3://logs/2026/ s3://logs/visitors/
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/fanout-dev/fanout/examples/accesslog"
	"github.com/fanout-dev/fanout/fanout/adhoc"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

func main() {
	chunkSize := flag.String("chunk-size", "64MiB", "target `SIZE` of a chunk (as fanout run's --chunk-size)")
	flag.Parse()
	if flag.NArg() != 2 {
		log.Fatal("usage: accesslog-adhoc [-chunk-size SIZE] IN OUT")
	}
	chunk, err := manifest.ParseSize(*chunkSize)
	if err != nil {
		log.Fatalf("-chunk-size: %v", err)
	}
	res, err := adhoc.Run(context.Background(), adhoc.Job{
		In: flag.Arg(0), Function: accesslog.Visitors{}, Out: flag.Arg(1), Format: "lines", OutputFormat: "csv",
		Spec:   manifest.JobSpec{ChunkBytes: chunk},
		Bucket: bucketurl.Options{Endpoint: os.Getenv("AWS_ENDPOINT_URL_S3"), Region: os.Getenv("AWS_REGION")},
		Redis:  os.Getenv("FANOUT_REDIS_URL"), RedisPrefix: os.Getenv("FANOUT_REDIS_PREFIX"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.State, res.RecordsIn, "lines,", res.RecordsOut, "pages")
}
