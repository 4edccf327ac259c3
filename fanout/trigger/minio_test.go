package trigger_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/fanout/trigger"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// TestProcessOnMinIO runs triggered jobs over keys that need escaping and
// checks that each job reads exactly its objects, once.
func TestProcessOnMinIO(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	put := func(key, body string) minio.UploadInfo {
		info, err := client.PutObject(ctx, bucket, key, bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	objects := map[string]string{
		"in/a b+c.csv":     "id,v\n1,x\n2,y\n",
		"in/[x]*?.csv":     "id,v\n3,z\n",
		"in/Zürich 日本.csv": "id,v\n4,w\n5,w\n6,w\n",
	}
	var events []trigger.ObjectEvent
	for key, body := range objects {
		info := put(key, body)
		events = append(events, trigger.ObjectEvent{Source: trigger.SourceMinIO, Name: "ObjectCreated:Put", Bucket: bucket, Key: key, ETag: info.ETag, Time: time.Now()})
	}
	// Siblings the exact inputs must not pick up.
	put("in/a b+c.csv.bak", "id,v\n100,no\n")
	put("in/xa b+c.csv", "id,v\n101,no\n")
	put("in/[x]*?.csv2", "id,v\n102,no\n")
	// An event whose object was rewritten since.
	put("in/stale.csv", "id,v\n7,new\n")
	events = append(events, trigger.ObjectEvent{Name: "ObjectCreated:Put", Bucket: bucket, Key: "in/stale.csv", ETag: "0123456789abcdef0123456789abcdef"})

	open := func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
		b, _, err := bucketurl.Open(ctx, storeURL, bucketurl.Options{Endpoint: s3.Endpoint, Region: s3.Region})
		return b, err
	}
	q := memqueue.New(memqueue.Config{})
	eng, err := fanout.New(fanout.Config{Queue: q, Admin: q, Open: open, Functions: builtin.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	tr, err := trigger.New(trigger.Config{
		Template: trigger.Template{Spec: manifest.JobSpec{Function: "convert", Output: "s3://" + bucket + "/out/", OutputFormat: "jsonl"}},
		Inputs:   []string{"s3://" + bucket + "/in/"},
		Open:     open, Submitter: eng,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rep, err := tr.Process(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Jobs) != 1 || rep.Superseded != 1 || !rep.Jobs[0].New || rep.Jobs[0].Objects != 3 {
		t.Fatalf("report %+v: want one new job over 3 objects and one superseded event", rep)
	}
	j := rep.Jobs[0]
	res, err := eng.Wait(ctx, j.Output, j.Job, fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != fanout.StateCommitted || res.RecordsIn != 6 || res.Objects != 3 {
		t.Fatalf("result %+v: want committed with 6 records from 3 objects", res)
	}
	// The output of a triggered job does not trigger, and a repeat of the
	// events starts nothing.
	var outEvents []trigger.ObjectEvent
	for o := range client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "out/", Recursive: true}) {
		outEvents = append(outEvents, trigger.ObjectEvent{Name: "ObjectCreated:Put", Bucket: bucket, Key: o.Key, ETag: o.ETag})
	}
	rep, err = tr.Process(ctx, append(outEvents, events...))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Jobs) != 1 || rep.Jobs[0].New || rep.Jobs[0].Job != j.Job || rep.Ignored[trigger.ReasonOwnOutput] != len(outEvents) {
		t.Fatalf("repeat: report %+v; want only the first job, not new, and %d output events ignored", rep, len(outEvents))
	}
}
