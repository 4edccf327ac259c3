// Package lambdafan runs fanout jobs on AWS Lambda: Driver keeps
// asynchronous work invocations of a worker function in flight while a
// job has chunks waiting, and Client sends them with the aws-sdk-go-v2
// Lambda client. Request and WorkSummary are the payloads the driver and
// the fanout-lambda bootstrap exchange.
//
// The queue is the only coordination: a work invocation claims chunks with
// leases like any worker, releases them before its deadline, and an
// invocation that dies simply lets its leases expire, after which the
// driver's reclaim returns the chunks and the driver invokes again. The
// driver never waits for an invocation; Lambda retries failed asynchronous
// invocations on its own, which is harmless since a chunk that already has
// a marker is skipped.
package lambdafan
