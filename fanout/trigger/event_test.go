package trigger

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// minioWebhookBody is what MinIO's webhook target posts (event.Log from
// internal/event/target/webhook.go): the key form-encoded by
// url.QueryEscape, "/" included, and the event name with "s3:".
const minioWebhookBody = `{"EventName":"s3:ObjectCreated:Put","Key":"data/in/a b+c.csv","Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2026-11-22T03:44:05.123Z","eventName":"s3:ObjectCreated:Put","userIdentity":{"principalId":"fanoutadmin"},"requestParameters":{"principalId":"fanoutadmin","region":"","sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-id-2":"dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8","x-amz-request-id":"1877A9E3F0A3C2B1","x-minio-deployment-id":"0f3c","x-minio-origin-endpoint":"http://127.0.0.1:19000"},"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"data","ownerIdentity":{"principalId":"fanoutadmin"},"arn":"arn:aws:s3:::data"},"object":{"key":"in%2Fa+b%2Bc.csv","size":12,"eTag":"9b2cf535f27731c974343645a3985328","contentType":"text/csv","userMetadata":{"content-type":"text/csv"},"sequencer":"1877A9E3F0C1D2E3"}},"source":{"host":"127.0.0.1","port":"","userAgent":"MinIO (linux; amd64) minio-go/v7.4.1"}}]}`

// s3Notification is S3's own format (eventName without "s3:").
const s3Notification = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-22T03:44:05.000Z","eventName":"ObjectCreated:CompleteMultipartUpload","userIdentity":{"principalId":"AWS:X"},"requestParameters":{"sourceIPAddress":"1.2.3.4"},"responseElements":{"x-amz-request-id":"R","x-amz-id-2":"I"},"s3":{"s3SchemaVersion":"1.0","configurationId":"fanout","bucket":{"name":"data","ownerIdentity":{"principalId":"X"},"arn":"arn:aws:s3:::data"},"object":{"key":"in/red+flower%3D1%25.csv","size":1024,"eTag":"d41d8cd98f00b204e9800998ecf8427e-2","versionId":"v1","sequencer":"0055AED6DCD90281E5"}}},{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-22T03:44:06.000Z","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"data"},"object":{"key":"in/gone.csv","sequencer":"0055AED6DCD90281E6"}}}]}`

func TestParse(t *testing.T) {
	sqsOf := func(bodies ...string) string {
		var recs []map[string]any
		for i, b := range bodies {
			recs = append(recs, map[string]any{"messageId": i, "receiptHandle": "h", "body": b, "eventSource": "aws:sqs",
				"eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"})
		}
		out, _ := json.Marshal(map[string]any{"Records": recs})
		return string(out)
	}
	snsEnvelope := func(msg string) string {
		out, _ := json.Marshal(map[string]any{"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": msg})
		return string(out)
	}
	snsRecords := func(msg string) string {
		out, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"EventSource": "aws:sns", "EventVersion": "1.0",
			"Sns": map[string]any{"Type": "Notification", "Message": msg}}}})
		return string(out)
	}
	eventBridge := `{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2026-11-22T03:44:07Z","region":"us-east-1","resources":["arn:aws:s3:::data"],"detail":{"version":"0","bucket":{"name":"data"},"object":{"key":"in/eb+1.jsonl","size":5,"etag":"b1946ac92492d2347c6235b4d2611184","version-id":"IYV3p45BT0ac8hjHg1houSdS1a.Mro8e","sequencer":"617f08299329d189"},"request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","source-ip-address":"1.2.3.4","reason":"PutObject"}}`
	minioAccess := `[{"Event":[` + mustRecord(minioWebhookBody) + `],"EventTime":"2026-11-22T03:44:05.123Z"}]`

	minioWant := ObjectEvent{Source: SourceMinIO, Name: "ObjectCreated:Put", Bucket: "data", Key: "in/a b+c.csv", RawKey: "in%2Fa+b%2Bc.csv",
		ETag: "9b2cf535f27731c974343645a3985328", Size: 12, Sequencer: "1877A9E3F0C1D2E3", Time: time.Date(2026, 11, 22, 3, 44, 5, 123e6, time.UTC)}
	s3Want := []ObjectEvent{
		{Source: SourceS3, Name: "ObjectCreated:CompleteMultipartUpload", Bucket: "data", Key: "in/red flower=1%.csv", RawKey: "in/red+flower%3D1%25.csv",
			ETag: "d41d8cd98f00b204e9800998ecf8427e-2", VersionID: "v1", Size: 1024, Sequencer: "0055AED6DCD90281E5", Time: time.Date(2026, 11, 22, 3, 44, 5, 0, time.UTC)},
		{Source: SourceS3, Name: "ObjectRemoved:Delete", Bucket: "data", Key: "in/gone.csv", RawKey: "in/gone.csv", Sequencer: "0055AED6DCD90281E6",
			Time: time.Date(2026, 11, 22, 3, 44, 6, 0, time.UTC)},
	}
	ebWant := ObjectEvent{Source: SourceEventBridge, Name: "ObjectCreated:PutObject", Bucket: "data", Key: "in/eb 1.jsonl", RawKey: "in/eb+1.jsonl",
		ETag: "b1946ac92492d2347c6235b4d2611184", VersionID: "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", Size: 5, Sequencer: "617f08299329d189",
		Time: time.Date(2026, 11, 22, 3, 44, 7, 0, time.UTC)}

	tests := []struct {
		name    string
		payload string
		want    []ObjectEvent
		wantErr error
	}{
		{"minio webhook", minioWebhookBody, []ObjectEvent{minioWant}, nil},
		{"minio access format", minioAccess, []ObjectEvent{minioWant}, nil},
		{"s3 direct", s3Notification, s3Want, nil},
		{"s3 in sqs", sqsOf(s3Notification, minioWebhookBody), append(append([]ObjectEvent{}, s3Want...), minioWant), nil},
		{"s3 in sns in sqs", sqsOf(snsEnvelope(s3Notification)), s3Want, nil},
		{"s3 in sns", snsRecords(s3Notification), s3Want, nil},
		{"eventbridge", eventBridge, []ObjectEvent{ebWant}, nil},
		{"eventbridge in sqs", sqsOf(eventBridge), []ObjectEvent{ebWant}, nil},
		{"s3 test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-22T03:44:05.000Z","Bucket":"data","RequestId":"R","HostId":"H"}`, nil, nil},
		{"sqs holding a test event", sqsOf(`{"Service":"Amazon S3","Event":"s3:TestEvent"}`), nil, nil},
		{"unknown object", `{"hello":"world"}`, nil, ErrUnrecognized},
		{"unknown record", `{"Records":[{"eventSource":"aws:dynamodb"}]}`, nil, ErrUnrecognized},
		{"empty", ``, nil, ErrUnrecognized},
		{"bad escape", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a%zz"}}}]}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.payload))
			if tt.name == "bad escape" {
				if err == nil {
					t.Fatalf("Parse: got %v, want an error for a key that is not form-encoded", got)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse error: got %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Parse: got %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// mustRecord extracts the first record of a notification as raw JSON.
func mustRecord(body string) string {
	var n struct {
		Records []json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &n); err != nil || len(n.Records) == 0 {
		panic("bad fixture")
	}
	return string(n.Records[0])
}

func TestIdentity(t *testing.T) {
	base := ObjectEvent{Bucket: "b", Key: "k", ETag: "e1"}
	sameAgain := base
	sameAgain.Time = time.Now()
	sameAgain.Sequencer = "99"
	rewritten := base
	rewritten.ETag = "e2"
	versioned := base
	versioned.VersionID = "v1"
	otherVersion := versioned
	otherVersion.VersionID = "v2"
	nullVersion := base
	nullVersion.VersionID = "null"
	if base.Identity() != sameAgain.Identity() {
		t.Errorf("a repeated event (new time, new sequencer) has a new identity")
	}
	if base.Identity() == rewritten.Identity() {
		t.Errorf("a rewritten object (new ETag) keeps its identity")
	}
	if versioned.Identity() == otherVersion.Identity() {
		t.Errorf("two versions share an identity")
	}
	if nullVersion.Identity() != base.Identity() {
		t.Errorf(`version "null" (unversioned bucket) changes the identity`)
	}
	if len(base.Digest()) != 64 {
		t.Errorf("digest %q is not 64 hex digits", base.Digest())
	}
}
