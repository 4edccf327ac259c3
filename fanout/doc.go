// Package fanout is the engine: it plans jobs, hands their chunks to
// workers through a Queue, runs functions over the chunks' records, and
// commits the result. The Queue contract is defined here; redisqueue and
// memqueue implement it and queuetest is the suite both pass.
//
// To run one job from Go code in one call, embedded or through a Redis
// URL, use package fanout/adhoc (adhoc.Run(ctx, adhoc.Job{In, Function,
// Out})): it is a package of its own, not a Run here, because it wires
// the queues, which import this package.
//
// # Chunk lifecycle
//
//  1. Plan (planner.go): first the job claims its output prefix (owner.go):
//     a prefix another job owns is refused before any work. Then the
//     inputs are listed page by page and cut into
//     chunks (manifest.Packer). Shards of the manifest are written under a
//     prefix private to this planning attempt; then the manifest is created
//     with If-None-Match: *, so two planners racing on one job agree on one
//     set of shards. The job ID is derived from the spec, so a resubmitted
//     spec finds its manifest and is not planned again. The manifest
//     records each shard's ETag and block offsets (manifest.ShardBlocks),
//     so that a worker whose chunks are far apart reads the block of 64
//     chunks it needs by a ranged GET instead of the shard (shardblocks.go).
//  2. Enqueue (driver.go): every chunk without a marker is enqueued. The
//     queue holds hints only; Resume does the same after Redis lost them.
//  3. Claim (worker.go): a worker claims a chunk, receiving a lease and an
//     epoch. heartbeat.go extends the lease every third of its duration and
//     cancels the chunk's context when the queue says the lease is lost (or
//     when it cannot confirm the lease before it would expire).
//  4. Run: the chunk's parts are read (input.go, If-Match on every read),
//     the function maps the records, and output.go writes the rows,
//     partitioned Hive-style: on S3 stores each file as an open multipart
//     upload of its final key, invisible until the commit completes it;
//     elsewhere under the attempt's own staging prefix (publishing.go).
//  5. Publish (attempt.go, for map and reduce attempts alike): the
//     attempt creates the chunk marker with If-None-Match: *; the marker
//     names its files (and their uploads' IDs and parts). The first
//     finished attempt wins; a loser aborts its uploads and deletes its
//     staging files.
//     Then the lease is acked. A chunk that already has a marker when it is
//     claimed is acked without running.
//  6. Fail: a function error is reported to the queue, which retries with
//     jittered backoff or dead-letters the chunk; a dead chunk gets a failed
//     marker with the reason, so the bucket knows it too, and the job's
//     redrive generation its writer read before it asked the queue: a
//     redrive raises the generation, and a failed marker of an older one
//     counts as none (generation.go).
//  7. Compact (compactor.go): a map-only job with a target file size
//     merges each partition's small files into files of about the target
//     in compaction tasks, enqueued once every map chunk has a marker and
//     fenced like every task (an aggregating job's reduce stage, reducer.go,
//     comes here instead).
//  8. Commit (committer.go): once every task has a marker, the output is
//     fenced for the job (owner.go: a job claims its output before it is
//     planned, and publishes only while it still owns it and no redrive
//     holds it or changed it since the commit read the markers), the winning
//     files are put in place without a copy (uploads completed, staged
//     files linked; copied only on a store that can do neither:
//     publishing.go lists the crash cases), the commit record is created
//     once with If-None-Match: *, _SUCCESS is written, staging removed and
//     the job's other open uploads aborted.
//     Committing a committed job verifies it and changes nothing. Whoever
//     finds the job finished commits it, one at a time under the job's
//     commit lease (commitlease.go): moving a job forward (reclaim, settle
//     dead tasks, start the reduce stage, backups, commit) is one step,
//     advance.go, taken by Wait, TryCommit, Advance (the Lambda driver and
//     sweep) and idle workers.
//  9. Collect (gc.go, fanout gc): what jobs that can never commit left
//     (their prefix, their open uploads) is removed on request, never the
//     owner job's while it runs or commits.
//
// # Keys in the output bucket (manifest.Layout)
//
//	<out>/_fanout/<job>/manifest.json                  the manifest
//	<out>/_fanout/<job>/plans/<plan>/000000.json      manifest shards
//	<out>/_fanout/<job>/chunks/<hh>/<chunk>.json      chunk markers (<hh>: manifest.ChunkSpread)
//	<out>/_fanout/<job>/staging/<hh>/<chunk>/<epoch>/<random>/...   attempts' output (names end in .staged)
//	<out>/_fanout/<job>/compact.json                  the compaction plan (compactor.go)
//	<out>/_fanout/<job>/compact-plan/<token>/tasks-000000.json  its task lists
//	<out>/_fanout/<job>/compact/<plan>/<task>.json    compaction task markers
//	<out>/_fanout/<job>/_COMMITTED                    the commit record
//	<out>/_fanout/<job>/commit/<token>/files-000000.json    its file lists (commitfiles.go)
//	<out>/_fanout/<job>/commit/<token>/rejected-000000.json its rejected-record files' lists
//	<out>/_fanout/<job>/commit/<token>/pending-000000.json  a commit's files not yet published
//	<out>/_fanout/<job>/commit/<token>/pending-rejected-000000.json  and its rejected files
//	<out>/_fanout/<job>/_CANCELLED                    the cancel record (cancel.go)
//	<out>/_fanout/<job>/_REDRIVEN                     the job's redrive generation (generation.go)
//	<out>/_fanout/<job>/_REMOVED                      gc's tombstone of a job that lost the output (gc.go)
//	<out>/_fanout/OWNER                                the output's owner job (owner.go)
//	<out>/<col>=<value>/part-<job>-<chunk>-<n>.<ext>   committed data (before the commit: open uploads of these keys, on S3)
//	<out>/_rejected/part-<job>-<chunk>-<n>.jsonl       rejected records (reject.go)
//	<out>/_SUCCESS                                     written after the commit
//
// # Keys in Redis
//
// See package redisqueue: every key of a job carries the hash tag {<job>}.
package fanout
