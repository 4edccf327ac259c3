package trigger_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
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

// TestBadEventsAreIsolatedOnMinIO reproduces findings 3, 4 and 10 of
// issue 21 on MinIO: an event naming a bucket that does not exist, one
// whose key as sent (the raw-key fallback) lies outside the inputs, and,
// with no inputs configured, one naming another bucket are each left out
// with their reason, counted in the report, while the good event batched
// with them becomes a job that commits; before, the first failed the
// whole batch, and the others made the job read objects nobody allowed.
func TestBadEventsAreIsolatedOnMinIO(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	other, _ := localstack.Bucket(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	put := func(bucket, key, body string) trigger.ObjectEvent {
		info, err := client.PutObject(ctx, bucket, key, bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return trigger.ObjectEvent{Name: "ObjectCreated:Put", Bucket: bucket, Key: key, ETag: info.ETag, Time: time.Now()}
	}
	good := put(bucket, "in/good.csv", "id,v\n1,x\n2,y\n")
	// A key that decodes into the inputs (in/secret.csv) but exists only
	// as sent, outside them.
	put(bucket, "in%2Fsecret.csv", "id,v\n100,secret\n")
	rawOutside := trigger.ObjectEvent{Name: "ObjectCreated:Put", Bucket: bucket, Key: "in/secret.csv", RawKey: "in%2Fsecret.csv"}
	noBucket := trigger.ObjectEvent{Name: "ObjectCreated:Put", Bucket: "no-such-bucket-" + bucket[len(bucket)-8:], Key: "in/x.csv", ETag: "e"}
	elsewhere := put(other, "in/elsewhere.csv", "id,v\n200,elsewhere\n")

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
	tests := []struct {
		name   string
		inputs []string
		events []trigger.ObjectEvent
		want   map[string]int
	}{
		{"missing bucket", []string{"s3://" + bucket + "/in/", "s3://" + noBucket.Bucket + "/in/"},
			[]trigger.ObjectEvent{good, noBucket}, map[string]int{trigger.ReasonNoBucket: 1}},
		{"raw key outside the inputs", []string{"s3://" + bucket + "/in/"}, []trigger.ObjectEvent{good, rawOutside}, map[string]int{trigger.ReasonNotInput: 1}},
		{"no inputs: the output's bucket only", nil, []trigger.ObjectEvent{good, elsewhere}, map[string]int{trigger.ReasonNotInput: 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := trigger.New(trigger.Config{
				Template: trigger.Template{Spec: manifest.JobSpec{Function: "convert", Output: fmt.Sprintf("s3://%s/out%d/", bucket, i), OutputFormat: "jsonl"}},
				Inputs:   tt.inputs, Open: open, Submitter: eng,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			rep, err := tr.Process(ctx, tt.events)
			if err != nil {
				t.Fatalf("Process: %v; want the bad events left out, not the batch failed", err)
			}
			if len(rep.Jobs) != 1 || rep.Jobs[0].Objects != 1 || !maps.Equal(rep.Ignored, tt.want) {
				t.Fatalf("report %+v; want one job over the good object and ignored %v", rep, tt.want)
			}
			res, err := eng.Wait(ctx, rep.Jobs[0].Output, rep.Jobs[0].Job, fanout.RunOptions{Workers: 1})
			if err != nil || res.State != fanout.StateCommitted || res.RecordsIn != 2 {
				t.Fatalf("result %+v, %v: want committed with the good object's 2 records", res, err)
			}
		})
	}
}
