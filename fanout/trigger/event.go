package trigger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ErrUnrecognized reports a payload that is none of the event shapes Parse
// knows.
var ErrUnrecognized = errors.New("trigger: unrecognized event payload")

// Event sources recorded in ObjectEvent.Source.
const (
	SourceS3          = "aws:s3"      // S3 event notification (direct, SQS or SNS)
	SourceMinIO       = "minio:s3"    // MinIO notification (webhook, listen API)
	SourceEventBridge = "eventbridge" // S3 event delivered by EventBridge
	SourceListing     = "listing"     // found by a periodic listing
)

// ObjectEvent is one object event, whatever the envelope it came in.
type ObjectEvent struct {
	// Source is one of the Source constants.
	Source string
	// Name is the event name without the "s3:" prefix MinIO adds, such as
	// "ObjectCreated:Put"; EventBridge's "Object Created" becomes
	// "ObjectCreated:" + its reason.
	Name   string
	Bucket string
	// Key is the decoded object key. Notifications encode keys as HTML
	// forms do ("+" is a space); RawKey is the key as it was sent.
	Key    string
	RawKey string
	// ETag (without quotes) and VersionID pin the object's content; either
	// may be empty.
	ETag      string
	VersionID string
	Size      int64
	// Sequencer orders events of one key (hex, compare by length then
	// value).
	Sequencer string
	// Time is when the store finished the request (zero when unknown).
	Time time.Time
}

// Created reports whether the event announces a new object or a new
// version of one (ObjectCreated:*).
func (e ObjectEvent) Created() bool { return strings.HasPrefix(e.Name, "ObjectCreated:") }

// Identity names the object version an event is about: bucket, key and the
// version ID when the store keeps versions, else the ETag. Two events with
// the same identity are duplicates.
//
// Without either (an event source that sends neither, trusted as is), the
// sequencer or else the event time stands in for them.
func (e ObjectEvent) Identity() string {
	var v string
	switch {
	case e.VersionID != "" && e.VersionID != "null":
		v = "version:" + e.VersionID
	case e.ETag != "":
		v = "etag:" + e.ETag
	case e.Sequencer != "":
		v = "sequencer:" + e.Sequencer
	default:
		v = "time:" + e.Time.UTC().Format(time.RFC3339Nano)
	}
	return e.Bucket + "\x00" + e.Key + "\x00" + v
}

// Digest is a fixed-length hex digest of Identity, used to name claims.
func (e ObjectEvent) Digest() string {
	sum := sha256.Sum256([]byte(e.Identity()))
	return hex.EncodeToString(sum[:])
}

// maxDepth bounds how many envelopes (SQS holding SNS holding S3, say)
// Parse opens.
const maxDepth = 4

// Parse reads the object events out of a payload in any of the shapes
// object stores and AWS deliver them in:
//
//   - an S3 event notification {"Records":[{"eventSource":"aws:s3",...}]},
//     MinIO's webhook body (the same with "EventName" and "Key" around it)
//     and MinIO's "access" format ([{"Event":[...],"EventTime":...}]);
//   - the same delivered through SQS (records with eventSource "aws:sqs"
//     whose body is the notification) or SNS (an "Sns" record, or SNS's
//     envelope {"Type":"Notification","Message":...} in an SQS body);
//   - an EventBridge event {"source":"aws.s3","detail-type":"Object Created"}.
//
// S3's test event (s3:TestEvent) yields no events. Keys are decoded as
// HTML forms are ("+" is a space, %XX a byte). Events of every kind are
// returned; Filter decides which start jobs.
func Parse(payload []byte) ([]ObjectEvent, error) {
	return parse(payload, 0, nil)
}

// ErrTooManyEvents reports a payload holding more events than ParseLimit
// allows.
var ErrTooManyEvents = errors.New("trigger: too many events in one payload")

// ParseLimit is Parse for payloads from senders it need not trust: it
// fails with ErrTooManyEvents before decoding more than maxEvents records
// and array items in all (a few bytes of JSON each would otherwise cost
// hundreds of bytes of events).
func ParseLimit(payload []byte, maxEvents int) ([]ObjectEvent, error) {
	budget := maxEvents
	return parse(payload, 0, &budget)
}

// spend takes n items from budget (nil: unlimited).
func spend(budget *int, n int) error {
	if budget == nil {
		return nil
	}
	if *budget -= n; *budget < 0 {
		return ErrTooManyEvents
	}
	return nil
}

func parse(payload []byte, depth int, budget *int) ([]ObjectEvent, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: envelopes nested more than %d deep", ErrUnrecognized, maxDepth)
	}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrUnrecognized)
	}
	if payload[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(payload, &items); err != nil {
			return nil, fmt.Errorf("trigger: decoding event array: %w", err)
		}
		if err := spend(budget, len(items)); err != nil {
			return nil, err
		}
		var all []ObjectEvent
		for _, it := range items {
			evs, err := parse(it, depth+1, budget)
			if err != nil {
				return nil, err
			}
			all = append(all, evs...)
		}
		return all, nil
	}
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("trigger: decoding event: %w", err)
	}
	switch {
	case env.Records != nil:
		return parseRecords(env.Records, depth, budget)
	case len(env.Event) > 0 && env.Event[0] == '[': // MinIO "access" format item
		var recs []json.RawMessage
		if err := json.Unmarshal(env.Event, &recs); err != nil {
			return nil, fmt.Errorf("trigger: decoding MinIO event list: %w", err)
		}
		return parseRecords(recs, depth, budget)
	case env.Source == "aws.s3" && env.Detail != nil:
		ev, ok, err := parseEventBridge(env)
		if err != nil || !ok {
			return nil, err
		}
		return []ObjectEvent{ev}, nil
	case env.Type == "Notification" && env.Message != "":
		return parse([]byte(env.Message), depth+1, budget)
	case string(env.Event) == `"s3:TestEvent"`:
		return nil, nil // sent when a notification is configured
	}
	return nil, ErrUnrecognized
}

// envelope holds the fields that tell the payload shapes apart.
type envelope struct {
	Records []json.RawMessage `json:"Records"`
	// MinIO's access format holds an array here; S3's test event the
	// string "s3:TestEvent".
	Event json.RawMessage `json:"Event"`
	// EventBridge.
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       time.Time       `json:"time"`
	Detail     json.RawMessage `json:"detail"`
	// SNS envelope (in an SQS body) and S3's test event.
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// record is one entry of a Records array: an S3 record, an SQS message or
// an SNS record.
type record struct {
	EventSource  string `json:"eventSource"`
	EventSource2 string `json:"EventSource"` // SNS spells it so
	EventName    string `json:"eventName"`
	EventTime    string `json:"eventTime"`
	S3           *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string          `json:"key"`
			Size      json.RawMessage `json:"size"`
			ETag      string          `json:"eTag"`
			VersionID string          `json:"versionId"`
			Sequencer string          `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
	Body string `json:"body"` // SQS
	Sns  *struct {
		Message string `json:"Message"`
	} `json:"Sns"`
}

func parseRecords(raw []json.RawMessage, depth int, budget *int) ([]ObjectEvent, error) {
	if err := spend(budget, len(raw)); err != nil {
		return nil, err
	}
	var out []ObjectEvent
	for i, r := range raw {
		var rec record
		if err := json.Unmarshal(r, &rec); err != nil {
			return nil, fmt.Errorf("trigger: decoding record %d: %w", i, err)
		}
		switch {
		case rec.S3 != nil:
			ev, err := s3Event(rec)
			if err != nil {
				return nil, fmt.Errorf("trigger: record %d: %w", i, err)
			}
			out = append(out, ev)
		case rec.EventSource == "aws:sqs":
			evs, err := parse([]byte(rec.Body), depth+1, budget)
			if err != nil {
				return nil, fmt.Errorf("trigger: SQS message %d: %w", i, err)
			}
			out = append(out, evs...)
		case rec.Sns != nil:
			evs, err := parse([]byte(rec.Sns.Message), depth+1, budget)
			if err != nil {
				return nil, fmt.Errorf("trigger: SNS record %d: %w", i, err)
			}
			out = append(out, evs...)
		default:
			return nil, fmt.Errorf("%w: record %d is neither S3, SQS nor SNS", ErrUnrecognized, i)
		}
	}
	return out, nil
}

func s3Event(rec record) (ObjectEvent, error) {
	o := rec.S3.Object
	key, err := url.QueryUnescape(o.Key)
	if err != nil {
		return ObjectEvent{}, fmt.Errorf("object key %q is not form-encoded: %w", o.Key, err)
	}
	src := rec.EventSource
	if src != SourceMinIO {
		src = SourceS3
	}
	ev := ObjectEvent{
		Source: src, Name: strings.TrimPrefix(rec.EventName, "s3:"), Bucket: rec.S3.Bucket.Name,
		Key: key, RawKey: o.Key, ETag: strings.Trim(o.ETag, `"`), VersionID: o.VersionID, Sequencer: o.Sequencer,
		Size: parseSize(o.Size),
	}
	if t, err := time.Parse(time.RFC3339Nano, rec.EventTime); err == nil {
		ev.Time = t.UTC()
	}
	return ev, nil
}

// parseSize accepts a size written as a number or a string.
func parseSize(raw json.RawMessage) int64 {
	var n int64
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		fmt.Sscan(s, &n)
	}
	return n
}

func parseEventBridge(env envelope) (ObjectEvent, bool, error) {
	var d struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string          `json:"key"`
			Size      json.RawMessage `json:"size"`
			ETag      string          `json:"etag"`
			VersionID string          `json:"version-id"`
			Sequencer string          `json:"sequencer"`
		} `json:"object"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return ObjectEvent{}, false, fmt.Errorf("trigger: decoding EventBridge detail: %w", err)
	}
	if d.Object.Key == "" {
		return ObjectEvent{}, false, nil // a bucket-level event
	}
	name := strings.ReplaceAll(env.DetailType, " ", "")
	if name == "ObjectCreated" {
		name += ":" + d.Reason
	}
	key, err := url.QueryUnescape(d.Object.Key)
	if err != nil {
		key = d.Object.Key // EventBridge keys need not be encoded: keep it as sent
	}
	return ObjectEvent{
		Source: SourceEventBridge, Name: name, Bucket: d.Bucket.Name, Key: key, RawKey: d.Object.Key,
		ETag: strings.Trim(d.Object.ETag, `"`), VersionID: d.Object.VersionID, Sequencer: d.Object.Sequencer,
		Size: parseSize(d.Object.Size), Time: env.Time.UTC(),
	}, true, nil
}
