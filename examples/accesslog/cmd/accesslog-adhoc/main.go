// Command accesslog-adhoc counts the visitors of every page of the access
// logs under a prefix in one call (adhoc.Run): in this process, or with
// FANOUT_REDIS_URL set, together with the `work` processes of the
// accesslog command on that Redis.
//
//	accesslog-adhoc s3://logs/2026/ s3://logs/visitors/
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/fanout-dev/fanout/examples/accesslog"
	"github.com/fanout-dev/fanout/fanout/adhoc"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: accesslog-adhoc IN OUT")
	}
	res, err := adhoc.Run(context.Background(), adhoc.Job{
		In: os.Args[1], Function: accesslog.Visitors{}, Out: os.Args[2], Format: "lines", OutputFormat: "csv",
		Bucket: bucketurl.Options{Endpoint: os.Getenv("AWS_ENDPOINT_URL_S3"), Region: os.Getenv("AWS_REGION")},
		Redis:  os.Getenv("FANOUT_REDIS_URL"), RedisPrefix: os.Getenv("FANOUT_REDIS_PREFIX"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.State, res.RecordsIn, "lines,", res.RecordsOut, "pages")
}
