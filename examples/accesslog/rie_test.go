package accesslog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/fanout/lambdafan"
	"github.com/fanout-dev/fanout/localstack"
)

// rieEnv is the environment of the user's bootstrap under the RIE (which
// passes its own environment on to the function).
func rieEnv(env []string, bucket string, extra ...string) []string {
	return append(append(slices.Clone(env), "FANOUT_OUT_BASES=s3://"+bucket+"/", "AWS_LAMBDA_FUNCTION_TIMEOUT=120",
		"AWS_LAMBDA_FUNCTION_NAME="+localstack.RIEFunction), extra...)
}

// invokeRIE sends one invocation and decodes its response into v.
func invokeRIE(t *testing.T, rie *localstack.RIE, req lambdafan.Request, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	body, err := rie.Invoke(ctx, req.Encode())
	if err != nil {
		t.Fatalf("invoke %s: %v\nRIE and bootstrap output:\n%s", req.Encode(), err, rie.Logs())
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("invoke %s: response %q: %v", req.Encode(), body, err)
	}
}

// TestUserBootstrapUnderAWSRuntimeInterfaceEmulator runs the example's
// own Lambda bootstrap (accesslog-lambda: lambdaapp.Start over the
// user's registry, built as the user's module) under AWS's Lambda Runtime
// Interface Emulator, invoked through its HTTP invoke endpoint on MinIO
// and Redis:
//
//   - work and commit: jobs submitted with the user's CLI (visitors, with
//     a reduce stage, and accesslog, a map) are worked by
//     {"fanout":"work"} invocations, then committed by
//     {"fanout":"commit"} where the last work invocation did not;
//   - drive: a {"fanout":"drive"} invocation of the bootstrap under one
//     RIE keeps work invocations of the same bootstrap under a second RIE
//     (its Lambda endpoint) in flight until the job commits;
//   - bucket event: an S3 notification of the log objects starts a
//     visitors job (FANOUT_FUNCTION) that the invocation works on and
//     commits itself.
//
// Every output equals the serial computation.
func TestUserBootstrapUnderAWSRuntimeInterfaceEmulator(t *testing.T) {
	localstack.RIEBinary(t)
	bins := userBinaries(t)
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	bodies, all := genLogs(4, 4, 300)
	putLogs(t, client, bucket, bodies)
	env := stackEnv(s3, redisURL, prefix)
	submit := func(fn, out, outFormat string, extra ...string) string {
		args := append([]string{"submit", "--in", "s3://" + bucket + "/in/", "--format", "lines", "--chunk-size", "8KiB",
			"--fn", fn, "--out", "s3://" + bucket + "/" + out, "--out-format", outFormat}, extra...)
		return strings.TrimSpace(run(t, env, bins["accesslog"], args...))
	}
	worker := localstack.StartRIE(t, "aws-lambda-rie (worker)", bins["accesslog-lambda"], rieEnv(env, bucket))

	t.Run("work and commit", func(t *testing.T) {
		jobs := []struct{ fn, out, format, job string }{{"visitors", "visitors/", "csv", ""}, {"accesslog", "parsed/", "jsonl", ""}}
		for i, j := range jobs {
			extra := []string{}
			if j.fn == "visitors" {
				extra = []string{"--reducers", "2"}
			}
			jobs[i].job = submit(j.fn, j.out, j.format, extra...)
		}
		for _, j := range jobs {
			// A work invocation runs until no chunk is left to claim; the
			// map chunks' commit queues the reduce tasks, which the next
			// work invocation runs. At most a few rounds.
			state := ""
			var chunks int64
			for round := 0; state != "committed"; round++ {
				if round == 5 {
					t.Fatalf("job %s (%s) not committed after %d work and commit rounds (last state %q)", j.job, j.fn, round, state)
				}
				var sum lambdafan.WorkSummary
				invokeRIE(t, worker, lambdafan.Request{Fanout: lambdafan.OpWork, Job: j.job, Concurrency: 2}, &sum)
				if sum.Failed != 0 {
					t.Fatalf("work invocation: %+v; want no failed chunk", sum)
				}
				chunks += sum.Chunks
				if state = sum.State; state == "committed" {
					break
				}
				var com struct {
					Jobs []struct {
						State string `json:"state"`
					} `json:"jobs"`
				}
				invokeRIE(t, worker, lambdafan.Request{Fanout: lambdafan.OpCommit, Job: j.job}, &com)
				if len(com.Jobs) != 1 {
					t.Fatalf("commit invocation answered %+v; want the job's result", com)
				}
				state = com.Jobs[0].State
			}
			if chunks == 0 {
				t.Errorf("job %s: the work invocations ran no chunk", j.job)
			}
		}
		checkVisitors(t, csvRows(t, s3Files(t, client, bucket, "visitors/", ".csv")), all)
		if got, want := jsonRows(t, s3Files(t, client, bucket, "parsed/", ".jsonl")), parsedOracle(all); !slices.Equal(got, want) {
			t.Errorf("parsed output has %d rows, want %d (serial); first got %q, want %q", len(got), len(want), first(got), first(want))
		}
	})

	t.Run("drive", func(t *testing.T) {
		job := submit("visitors", "driven/", "csv", "--reducers", "3")
		driver := localstack.StartRIE(t, "aws-lambda-rie (driver)", bins["accesslog-lambda"],
			rieEnv(env, bucket, "AWS_ENDPOINT_URL_LAMBDA="+worker.Endpoint))
		before := strings.Count(worker.Logs(), "START RequestId")
		// One work invocation in flight: the RIE serves one at a time.
		var o struct {
			State string `json:"state"`
			Error string `json:"error"`
		}
		invokeRIE(t, driver, lambdafan.Request{Fanout: lambdafan.OpDrive, Job: job, Function: localstack.RIEFunction, Concurrency: 1}, &o)
		if o.State != "committed" {
			t.Fatalf("drive invocation: %+v; want committed\nworker RIE:\n%s", o, worker.Logs())
		}
		if n := strings.Count(worker.Logs(), "START RequestId") - before; n == 0 {
			t.Errorf("the drive invocation committed without invoking the worker function under the RIE")
		} else {
			t.Logf("the drive invocation kept %d work invocations of the worker RIE going", n)
		}
		checkVisitors(t, csvRows(t, s3Files(t, client, bucket, "driven/", ".csv")), all)
	})

	t.Run("bucket event", func(t *testing.T) {
		trig := localstack.StartRIE(t, "aws-lambda-rie (trigger)", bins["accesslog-lambda"], rieEnv(env, bucket,
			"FANOUT_FUNCTION=visitors", "FANOUT_OUTPUT=s3://"+bucket+"/triggered/", "FANOUT_INPUTS=s3://"+bucket+"/in/",
			"FANOUT_FORMAT=lines", "FANOUT_OUTPUT_FORMAT=csv", "FANOUT_CHUNK_SIZE=8KiB"))
		var records []any
		for i := range bodies {
			key := fmt.Sprintf("in/access-%d.log", i)
			st, err := client.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			records = append(records, map[string]any{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": s3.Region,
				"eventTime": st.LastModified.UTC().Format(time.RFC3339Nano), "eventName": "ObjectCreated:Put",
				"s3": map[string]any{"bucket": map[string]any{"name": bucket},
					"object": map[string]any{"key": key, "eTag": st.ETag, "size": st.Size, "sequencer": fmt.Sprintf("%016X", i+1)}}})
		}
		event, err := json.Marshal(map[string]any{"Records": records})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		body, err := trig.Invoke(ctx, event)
		if err != nil {
			t.Fatalf("bucket event: %v\nRIE and bootstrap output:\n%s", err, trig.Logs())
		}
		var sum struct {
			Outcomes []struct {
				Output string `json:"output"`
				State  string `json:"state"`
			} `json:"outcomes"`
		}
		if err := json.Unmarshal(body, &sum); err != nil || len(sum.Outcomes) != 1 || sum.Outcomes[0].State != "committed" {
			t.Fatalf("bucket event answered %s (%v); want one job, committed", body, err)
		}
		prefix := strings.TrimPrefix(sum.Outcomes[0].Output, "s3://"+bucket+"/")
		if !strings.HasPrefix(prefix, "triggered/") {
			t.Fatalf("the triggered job's output %s is not under FANOUT_OUTPUT", sum.Outcomes[0].Output)
		}
		checkVisitors(t, csvRows(t, s3Files(t, client, bucket, prefix, ".csv")), all)
	})
}
