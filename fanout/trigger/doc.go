// Package trigger turns bucket events into fanout jobs: it is what the
// Lambda function (cmd/fanout-lambda), `fanout serve` (webhooks) and
// `fanout watch` (MinIO's listen API and listings) share.
//
//   - Parse reads object events out of every envelope they come in: S3
//     notifications (direct, through SQS or SNS), EventBridge, MinIO's
//     webhook and "access" formats. Keys are decoded ("+" is a space).
//   - Filter keeps ObjectCreated events and never lets a job trigger on its
//     own output, on fanout's _fanout/ bookkeeping or on hidden keys.
//   - Batcher groups events by time window and size.
//   - Trigger.Process claims each object version in the bucket (create-only,
//     so at most one batch owns it, however often its event is delivered)
//     and submits one job per batch, with an output prefix of its own under
//     the configured base (Template, BatchID, OutputFor).
//   - Inbox keeps received events in the bucket until their batch settles;
//     Scan lists a prefix for what a notification stream missed.
//
// Adapters to vendor SDKs live in subpackages (miniowatch for minio-go's
// listen API); this package imports none.
package trigger
