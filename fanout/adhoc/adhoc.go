// Package adhoc runs one job from Go code in one call, as Lithops' map()
// does for Python: give the input, a function and the output, and Run
// plans the job, runs it and returns when it has committed.
//
//	res, err := adhoc.Run(ctx, adhoc.Job{
//		In:       "s3://logs/2026/12/",
//		Function: sessions{},
//		Out:      "s3://logs-out/sessions/",
//		Bucket:   bucketurl.Options{Endpoint: "http://127.0.0.1:9000"},
//	})
//
// By default everything runs in this process: an in-memory queue and
// Workers goroutines. With Redis set, the job's chunks go through that
// Redis queue and every `fanout work` process of a program that has the
// function (cli.Main over a registry holding it, built from the same
// code: see functions.VersionOf) joins in, on any number of hosts; this
// process works too and commits.
//
// Run takes every setting from Job: it reads no environment variable (a
// program that wants the fanout command's variables reads them itself and
// fills Job.Bucket and Job.Redis).
//
// It is package fanout's one-call form (what a fanout.Run would be): a
// package of its own because it wires the queues (memqueue, redisqueue),
// which import package fanout.
package adhoc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// Job is one ad-hoc job: In, Function and Out are required.
type Job struct {
	// In is the input: s3://bucket/prefix/, file:///dir/ (a glob such as
	// s3://bucket/logs/*.gz selects objects). More holds further inputs.
	In   string
	More []string
	// Function runs over every record: a function of your own or a
	// built-in one (builtin.Grep{}, ...). Args are its arguments (the
	// CLI's --arg K=V).
	Function functions.Function
	Args     map[string]string
	// Out is the output prefix; it must hold nothing of another job.
	Out string
	// Format is the input format (lines, csv, jsonl, parquet; default:
	// from the objects' names), OutputFormat the output's (parquet by
	// default), PartitionBy the output's partition columns.
	Format       string
	OutputFormat string
	PartitionBy  []string
	// Spec holds every other setting of the job (chunk size, attempts,
	// lease, failure tolerance, reducers, AnyFunctionVersion,
	// TargetFileSize and MaxRowsPerFile for right-sized files, ...); the
	// fields above replace its own.
	Spec manifest.JobSpec

	// Bucket configures the S3 client (endpoint, region, backend,
	// encryption); credentials come from the default chains.
	Bucket bucketurl.Options
	// Redis, when set, is the URL of the Redis queue (redis://,
	// rediss://, redis+cluster://...) through which other workers join
	// in; RedisPrefix prefixes its keys (default "fanout", as the
	// commands' FANOUT_REDIS_PREFIX). Empty: the in-memory queue.
	Redis       string
	RedisPrefix string
	// Workers is the number of chunks this process works on at once
	// (default: the number of CPUs).
	Workers int
	// Logger receives the engine's log; nil discards it.
	Logger *slog.Logger
	// Progress, when set, is called as the job advances.
	Progress func(fanout.Progress)
}

// spec is the job's JobSpec.
func (j Job) spec() (manifest.JobSpec, error) {
	if j.Function == nil {
		return manifest.JobSpec{}, errors.New("adhoc: Job.Function is required")
	}
	if j.In == "" {
		return manifest.JobSpec{}, errors.New("adhoc: Job.In is required")
	}
	if j.Out == "" {
		return manifest.JobSpec{}, errors.New("adhoc: Job.Out is required")
	}
	s := j.Spec
	s.Inputs = append([]string{j.In}, j.More...)
	s.Function = j.Function.Name()
	s.Output = j.Out
	if j.Args != nil {
		s.Args = j.Args
	}
	if j.Format != "" {
		s.Format = j.Format
	}
	if j.OutputFormat != "" {
		s.OutputFormat = j.OutputFormat
	}
	if j.PartitionBy != nil {
		s.PartitionBy = j.PartitionBy
	}
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("adhoc: %w", err)
	}
	return s, nil
}

// Run plans the job, works on it and commits it, and returns its result:
// State is fanout.StateCommitted when it committed. A job that failed
// returns its result with the error (a *fanout.JobFailedError names the
// chunks and why). Running the same Job again over unchanged input finds
// the committed job and returns its result without doing the work again
// (set Spec.Nonce to run it anew).
func Run(ctx context.Context, j Job) (fanout.Result, error) {
	spec, err := j.spec()
	if err != nil {
		return fanout.Result{State: fanout.StateFailed, Error: err.Error()}, err
	}
	var q interface {
		fanout.Queue
		fanout.QueueAdmin
	}
	if j.Redis == "" {
		q = memqueue.New(memqueue.Config{})
	} else {
		rq, err := redisqueue.New(ctx, redisqueue.Config{URL: j.Redis, Prefix: j.RedisPrefix})
		if err != nil {
			return fanout.Result{State: fanout.StateFailed, Error: err.Error()}, fmt.Errorf("adhoc: %w", err)
		}
		defer rq.Close()
		q = rq
	}
	reg := functions.NewRegistry(j.Function)
	eng, err := fanout.New(fanout.Config{
		Queue: q, Admin: q, Functions: reg, Logger: j.Logger, Secrets: fanout.URLSecrets(j.Redis),
		Open: func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, storeURL, j.Bucket)
			return b, err
		},
	})
	if err != nil {
		return fanout.Result{State: fanout.StateFailed, Error: err.Error()}, err
	}
	workers := j.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	res, err := eng.Run(ctx, spec, fanout.RunOptions{Workers: workers, Progress: j.Progress})
	return res, errors.Join(err, eng.Close())
}
