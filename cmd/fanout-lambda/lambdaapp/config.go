package lambdaapp

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-dev/fanout/cmd/internal/envconfig"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// envVar is one setting read from the environment. envVars, with the S3
// settings the CLI reads too (envconfig.BucketVars), is the only list of
// them: getenv refuses a name missing from both, and the template test
// checks the deployment template against them.
type envVar struct {
	Name string
	// Trigger is true when only bucket events need it (a pure worker
	// function can leave it unset).
	Trigger bool
	Doc     string
}

var envVars = []envVar{
	{"FANOUT_REDIS_URL", false, "Redis URL of the queue (redis://[:password@]host:port/db, rediss:// for TLS; redis+cluster://host:port,host:port or rediss+cluster:// for a Redis Cluster). Required."},
	{"FANOUT_REDIS_PREFIX", false, "prefix of every Redis key (default fanout); the same as the CLI's --redis-prefix."},
	{"FANOUT_FUNCTION", true, "the function every triggered job runs (convert, grep, count, exec)."},
	{"FANOUT_FUNCTION_ARGS", true, "its arguments: k=v pairs separated by commas; write a comma inside a value as \\,."},
	{"FANOUT_OUTPUT", true, "output base URL (s3://bucket/prefix/): each triggered job commits under <base>/<batch>/ of its own."},
	{"FANOUT_FORMAT", true, "input format: auto (by extension, default), lines, csv, jsonl or parquet."},
	{"FANOUT_OUTPUT_FORMAT", true, "output format: parquet (default), jsonl, csv or lines."},
	{"FANOUT_PARTITION_BY", true, "comma-separated output columns to partition by, Hive-style."},
	{"FANOUT_INPUTS", true, "comma-separated input URLs (s3://bucket/prefix/, glob allowed in the last element) whose objects may trigger; default: the FANOUT_OUTPUT bucket."},
	{"FANOUT_CHUNK_SIZE", true, "target bytes per chunk (default 64MiB)."},
	{"FANOUT_LEASE", true, "chunk lease of triggered jobs (default 60s)."},
	{"FANOUT_BACKUP_AFTER", true, "start a backup attempt of a chunk running longer than this multiple of the median chunk time, at least 2s (default 4; 0: never)."},
	{"FANOUT_MAX_OBJECTS", true, "most objects in one triggered job (default 1000)."},
	{"FANOUT_WORKER_FUNCTION", false, "name or ARN of the function to fan work out to; unset: the triggered invocation works on the job itself."},
	{"FANOUT_CONCURRENCY", false, "most work invocations in flight per job when fanning out (default 10)."},
	{"FANOUT_WORK_CONCURRENCY", false, "chunks one work invocation processes at once (default 1)."},
	{"FANOUT_DEADLINE_MARGIN", false, "time kept at the end of an invocation to release leases and answer (default 1/20 of the time left, 200ms to 20s)."},
	{"FANOUT_GRACE", false, "how long before the margin an invocation stops claiming chunks, so the running ones may finish (default 1/6 of the time left, at most 2m)."},
	{"FANOUT_START_GRACE", false, "how long a sent work invocation counts as in flight before its leases show (default 15s)."},
	{"FANOUT_OUT_BASES", false, "comma-separated output URL prefixes (s3://bucket/prefix/): work invocations run only jobs whose output lies under one (FANOUT_OUTPUT counts as one). Required unless FANOUT_SPEC_KEY is set: whoever can write to Redis chooses what a worker runs."},
	{"FANOUT_SPEC_KEY", false, "key (16 characters or more) shared with the submitters: jobs this function plans are signed with it, and work invocations run only jobs signed with it (as the CLI's --spec-key-file)."},
	{"FANOUT_ALLOW_EXEC", false, "comma-separated programs exec jobs may run (the command's first word as written), or * for any command, shell=true included; exec is refused otherwise (as the CLI's --allow-exec, --allow-exec-any)."},
	{"FANOUT_EXEC_ENV", false, "comma-separated NAME or NAME=VALUE entries passed to exec's programs, which otherwise get only PATH, HOME, LANG, LC_*, LANGUAGE, TZ, TMPDIR, USER and LOGNAME (as the CLI's --exec-env)."},
	// Set by the Lambda runtime.
	{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", false, "the function's memory in MB, recorded in chunk markers (set by Lambda)."},
}

// getenv reads a setting named in envVars or envconfig.BucketVars.
func getenv(name string) string {
	for _, v := range envVars {
		if v.Name == name {
			return os.Getenv(name)
		}
	}
	for _, v := range envconfig.BucketVars {
		if v.Name == name {
			return os.Getenv(name)
		}
	}
	panic("fanout-lambda: " + name + " is not in envVars")
}

// config is the function's configuration.
type config struct {
	RedisURL    string
	RedisPrefix string
	// Trigger holds the template of triggered jobs; nil when FANOUT_OUTPUT
	// and FANOUT_FUNCTION are unset (a worker function).
	Trigger        *manifest.JobSpec
	Inputs         []string
	MaxObjects     int
	WorkerFunction string
	Concurrency    int
	WorkConc       int
	Margin, Grace  time.Duration // zero: derived from the time left
	StartGrace     time.Duration
	Bucket         bucketurl.Options // S3 settings (envconfig.Bucket)
	MemoryMB       int               // zero: unknown
	// ExecEnv is exec's programs' environment (builtin.ExecEnv).
	ExecEnv []string
	// OutBases, SpecKey and AllowExec decide which queued jobs work
	// invocations run (fanout.Admission).
	OutBases  []string
	SpecKey   []byte
	AllowExec builtin.ExecAllow
}

// loadConfig reads the environment; errors name the variable.
func loadConfig() (*config, error) {
	c := &config{
		WorkerFunction: getenv("FANOUT_WORKER_FUNCTION"),
	}
	c.RedisURL, c.RedisPrefix = envconfig.Redis(getenv)
	if c.RedisURL == "" {
		return nil, fmt.Errorf("FANOUT_REDIS_URL is required: the invocations share their queue through Redis")
	}
	var err error
	if c.Bucket, err = envconfig.Bucket(getenv); err != nil {
		return nil, err
	}
	if c.Concurrency, err = intVar("FANOUT_CONCURRENCY", 10); err != nil {
		return nil, err
	}
	if c.WorkConc, err = intVar("FANOUT_WORK_CONCURRENCY", 1); err != nil {
		return nil, err
	}
	if c.MaxObjects, err = intVar("FANOUT_MAX_OBJECTS", 0); err != nil {
		return nil, err
	}
	if c.Margin, err = durationVar("FANOUT_DEADLINE_MARGIN"); err != nil {
		return nil, err
	}
	if c.Grace, err = durationVar("FANOUT_GRACE"); err != nil {
		return nil, err
	}
	if c.StartGrace, err = durationVar("FANOUT_START_GRACE"); err != nil {
		return nil, err
	}
	c.Inputs = splitList(getenv("FANOUT_INPUTS"))
	// Set by Lambda itself: a value that is not a size is left out of the
	// markers rather than failing the function.
	if n, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && n > 0 {
		c.MemoryMB = n
	}
	if c.ExecEnv, err = builtin.ExecEnv(os.Environ(), splitList(getenv("FANOUT_EXEC_ENV"))); err != nil {
		return nil, fmt.Errorf("FANOUT_EXEC_ENV: %w", err)
	}

	if key := getenv("FANOUT_SPEC_KEY"); key != "" {
		if len(key) < 16 {
			return nil, fmt.Errorf("FANOUT_SPEC_KEY is shorter than 16 characters")
		}
		c.SpecKey = []byte(key)
	}
	for _, p := range splitList(getenv("FANOUT_ALLOW_EXEC")) {
		if p == "*" {
			c.AllowExec.Any = true
		} else {
			c.AllowExec.Programs = append(c.AllowExec.Programs, p)
		}
	}
	c.OutBases = splitList(getenv("FANOUT_OUT_BASES"))
	fn, out := getenv("FANOUT_FUNCTION"), getenv("FANOUT_OUTPUT")
	if out != "" {
		c.OutBases = append(c.OutBases, out)
	}
	if len(c.OutBases) == 0 && c.SpecKey == nil {
		return nil, fmt.Errorf("FANOUT_OUT_BASES (or FANOUT_SPEC_KEY) is required: whoever can write to Redis chooses what a worker runs, so a worker runs only jobs under its output bases or signed with the spec key")
	}
	if fn == "" && out == "" {
		return c, nil
	}
	if fn == "" || out == "" {
		return nil, fmt.Errorf("FANOUT_FUNCTION and FANOUT_OUTPUT go together: set both to start jobs from bucket events, or neither for a worker function")
	}
	args, err := parseArgs(getenv("FANOUT_FUNCTION_ARGS"))
	if err != nil {
		return nil, fmt.Errorf("FANOUT_FUNCTION_ARGS: %w", err)
	}
	spec := manifest.JobSpec{Function: fn, Args: args, Output: out, Format: getenv("FANOUT_FORMAT"),
		OutputFormat: getenv("FANOUT_OUTPUT_FORMAT"), PartitionBy: splitList(getenv("FANOUT_PARTITION_BY"))}
	if s := getenv("FANOUT_CHUNK_SIZE"); s != "" {
		if spec.ChunkBytes, err = manifest.ParseSize(s); err != nil {
			return nil, fmt.Errorf("FANOUT_CHUNK_SIZE: %w", err)
		}
	}
	if d, err := durationVar("FANOUT_LEASE"); err != nil {
		return nil, err
	} else {
		spec.Lease = manifest.Duration(d)
	}
	spec.BackupAfter = 4
	if s := getenv("FANOUT_BACKUP_AFTER"); s != "" {
		if spec.BackupAfter, err = strconv.ParseFloat(s, 64); err != nil || (spec.BackupAfter != 0 && !(spec.BackupAfter >= 1 && spec.BackupAfter <= 1000)) {
			return nil, fmt.Errorf("FANOUT_BACKUP_AFTER=%q: want 0 (never) or a multiple of the median from 1 to 1000", s)
		}
	}
	c.Trigger = &spec
	return c, nil
}

func intVar(name string, def int) (int, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a non-negative integer", name, s)
	}
	return n, nil
}

func durationVar(name string) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a duration such as 30s", name, s)
	}
	return d, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseArgs reads k=v pairs separated by commas; "\," is a comma inside
// a value and "\\" a backslash.
func parseArgs(s string) (map[string]string, error) {
	args := map[string]string{}
	var items []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == '\\'):
			cur.WriteByte(s[i+1])
			i++
		case c == ',':
			items = append(items, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	items = append(items, cur.String())
	for _, it := range items {
		if strings.TrimSpace(it) == "" {
			continue
		}
		k, v, ok := strings.Cut(it, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want k=v", it)
		}
		if _, dup := args[k]; dup {
			return nil, fmt.Errorf("argument %q given twice", k)
		}
		args[k] = v
	}
	return args, nil
}
