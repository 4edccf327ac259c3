package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fanout-dev/fanout/cmd/internal/envconfig"
	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// globalFlags are the settings every subcommand shares.
type globalFlags struct {
	redisURL   string
	redisNS    string
	s3Backend  string
	sse        string
	verbose    bool
	quiet      bool
	jsonOutput bool
	cpuProfile string
	// execEnv are --exec-env's NAME and NAME=VALUE entries.
	execEnv []string
	// secrets are what the process holds beside its environment (a
	// command's secret flags), for fanout.Config.Secrets.
	secrets   []string
	progress  string
	logFormat string
	// sortMemory is --sort-memory (fanout.Config.SortMemory).
	sortMemory string

	// sig handles SIGINT and SIGTERM; console is stderr, shared by the
	// progress line, logs and messages.
	sig     *interrupts
	console *console
	// specKeyFile holds the key that signs and verifies job specs.
	specKeyFile string
	// functions are the functions this binary runs (Main's registry),
	// without exec, which newApp adds with this process's environment.
	functions *functions.Registry
	// prog is the program's name in its messages, usage and help
	// (Options.Name): "fanout", or a user's binary's own.
	prog string
	// admit, set by a command whose workers serve the queue, decides
	// which jobs they run (admit.go).
	admit *fanout.Admission
}

// progressMode is --progress, or none with --quiet.
func (g *globalFlags) progressMode() string {
	if g.quiet {
		return progressNone
	}
	return g.progress
}

func newRootCommand(sig *interrupts, console *console, reg *functions.Registry, prog string) *cobra.Command {
	g := &globalFlags{sig: sig, console: console, functions: reg, prog: prog}
	root := &cobra.Command{
		Use:   prog,
		Short: "Run a function over every record of the objects under a prefix, in parallel, and commit the result atomically",
		Long: prog + ` plans a job over the objects under one or more prefixes (s3://bucket/prefix/ or
file:///dir/), runs a function over every record in parallel chunks, and publishes the
partitioned result with one conditional commit. Without --redis (or FANOUT_REDIS_URL)
everything runs in this process; with it, chunks go through Redis and any number of
"fanout work" processes join in.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	// --help prints a flag's default, and the Redis URL may hold a
	// password: $FANOUT_REDIS_URL is read after parsing.
	pf.StringVar(&g.redisURL, "redis", "", "Redis `URL` (redis:// or rediss://, or host:port; AUTH as redis://:password@host; a Redis Cluster as redis+cluster://host:port,host:port or rediss+cluster://); default $FANOUT_REDIS_URL, empty for the embedded queue")
	_, redisPrefix := envconfig.Redis(os.Getenv)
	pf.StringVar(&g.redisNS, "redis-prefix", redisPrefix, "`PREFIX` of every Redis key ($FANOUT_REDIS_PREFIX)")
	pf.StringVar(&g.s3Backend, "s3-backend", os.Getenv("FANOUT_S3_BACKEND"), "S3 client: `minio|aws` (default minio; $FANOUT_S3_BACKEND)")
	pf.StringVar(&g.sse, "sse", "", "server-side encryption of everything written to S3: `MODE` none, s3 (SSE-S3), kms or kms:KEY (SSE-KMS); default $FANOUT_SSE; give every process of a job the same")
	pf.StringArrayVar(&g.execEnv, "exec-env", nil, "`NAME[=VALUE]`: pass this variable of fanout's environment (or this value) to exec's programs, which get only PATH, HOME, LANG, LC_*, LANGUAGE, TZ, TMPDIR, USER and LOGNAME otherwise; repeatable")
	pf.StringVar(&g.specKeyFile, "spec-key-file", "", "`FILE` holding the key that signs the jobs this process submits and that workers check (default $FANOUT_SPEC_KEY, the key itself); share it between submitters and workers")
	pf.StringVar(&g.sortMemory, "sort-memory", "64MiB", "`SIZE` of rows one task holds to sort its output files (a job's --sort-by) before it spills sorted runs to local temporary files")
	pf.StringVar(&g.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of this process to `FILE`")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkCounts(cmd); err != nil {
			return err
		}
		if !cmd.Flags().Changed("redis") {
			g.redisURL, _ = envconfig.Redis(os.Getenv)
		}
		if g.cpuProfile != "" {
			f, err := os.Create(g.cpuProfile)
			if err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			root.PersistentPostRun = func(*cobra.Command, []string) {
				pprof.StopCPUProfile()
				f.Close()
			}
		}
		if g.sse == "" {
			return nil
		}
		if _, err := objstore.ParseEncryption(g.sse); err != nil {
			return fmt.Errorf("--sse: %w", err)
		}
		return nil
	}
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log every chunk event (claim, done, retry, lease lost) on stderr")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format on stderr: `text|json`")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "no progress output (--progress none)")
	pf.StringVar(&g.progress, "progress", progressAuto, "progress on stderr: `auto|live|plain|json|none` (auto: a live line on a terminal, a plain line every 3s otherwise; json: NDJSON events)")
	root.AddCommand(
		withLambdaInvoke(g, newRunCommand(g, false)),
		newRunCommand(g, true),
		newWorkCommand(g),
		newWaitCommand(g),
		newStatusCommand(g),
		newJobsCommand(g),
		newCancelCommand(g),
		newResumeCommand(g),
		newRedriveCommand(g),
		newGCCommand(g),
		newFunctionsCommand(g),
		newDemoCommand(g),
		newServeCommand(g),
		newWatchCommand(g),
		newInferCommand(g),
		newProfileCommand(g),
		newValidateCommand(g),
		newUICommand(g),
	)
	root.Version = buildVersion()
	root.SetVersionTemplate(prog + " {{.Version}}\n")
	setUsageErrors(root)
	renameProgram(root, prog)
	return root
}

// renameProgram puts a user's binary's own name where the help of its
// commands and flags names the program followed by one of its commands
// ("fanout work processes join in", "see `fanout functions`"); other
// mentions of fanout (the system, _fanout/ prefixes) stay.
func renameProgram(root *cobra.Command, prog string) {
	if prog == "fanout" {
		return
	}
	words := []string{regexp.QuoteMeta("--help")}
	for _, c := range root.Commands() {
		for _, n := range append([]string{c.Name()}, c.Aliases...) {
			words = append(words, regexp.QuoteMeta(n))
		}
	}
	re := regexp.MustCompile(`\bfanout( (?:` + strings.Join(words, "|") + `)\b)`)
	fix := func(s string) string { return re.ReplaceAllString(s, prog+"$1") }
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Short, c.Long, c.Example = fix(c.Short), fix(c.Long), fix(c.Example)
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { f.Usage = fix(f.Usage) })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// bucketOptions returns the options every store of this process opens
// with: the environment's (envconfig.Bucket), where the flags --s3-backend
// and --sse take the place of $FANOUT_S3_BACKEND and $FANOUT_SSE.
func (g *globalFlags) bucketOptions() (bucketurl.Options, error) {
	return envconfig.Bucket(func(name string) string {
		switch {
		case name == envconfig.S3Backend:
			return g.s3Backend // its default is $FANOUT_S3_BACKEND
		case name == envconfig.SSE && g.sse != "":
			return g.sse
		}
		return os.Getenv(name)
	})
}

// app is one command's wiring of concrete types.
type app struct {
	engine   *fanout.Engine
	admin    fanout.QueueAdmin
	log      *slog.Logger
	embedded bool
	closers  []io.Closer
	// prog is the program's name in its messages (globalFlags.prog).
	prog string
}

func (a *app) Close() error {
	var errs []error
	errs = append(errs, a.engine.Close())
	for _, c := range a.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// copyRegistry returns a new registry holding reg's functions, so that
// newApp's exec (configured with this process's environment) never
// changes the registry Main was given.
func copyRegistry(reg *functions.Registry) *functions.Registry {
	c := functions.NewRegistry()
	for _, name := range reg.Names() {
		f, _ := reg.Lookup(name)
		c.Register(f)
	}
	return c
}

// newApp wires the engine: Redis or the embedded queue, the object store
// backends, the functions of g.functions (exec with --exec-env).
func newApp(ctx context.Context, g *globalFlags, needRedis bool) (*app, error) {
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	a := &app{log: log, prog: g.prog}
	opts, err := g.bucketOptions()
	if err != nil {
		return nil, err
	}
	reg := copyRegistry(g.functions)
	execEnv, err := builtin.ExecEnv(os.Environ(), g.execEnv)
	if err != nil {
		return nil, fmt.Errorf("--exec-env: %w", err)
	}
	if f, err := reg.Lookup("exec"); err == nil {
		if _, ok := f.(builtin.Exec); ok {
			// mode=stream programs live as long as this process.
			pool := builtin.NewExecPool()
			a.closers = append(a.closers, pool)
			reg.Register(builtin.Exec{Env: execEnv, Pool: pool})
		}
	}
	key, err := g.specKey()
	if err != nil {
		return nil, err
	}
	secrets := append(fanout.SecretValues(os.Environ()), g.secrets...)
	secrets = append(secrets, fanout.URLSecrets(g.redisURL)...)
	if key != nil {
		secrets = append(secrets, string(key))
	}
	sortMemory, err := manifest.ParseSize(g.sortMemory)
	if err != nil {
		return nil, usageError{fmt.Errorf("--sort-memory: %w", err)}
	}
	cfg := fanout.Config{
		SortMemory: sortMemory,
		Functions:  reg,
		Secrets:    secrets,
		SpecKey:    key,
		Admit:      g.admit,
		Logger:     log,
		Open: func(ctx context.Context, storeURL string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, storeURL, opts)
			return b, s3Hint(err)
		},
	}
	if g.redisURL == "" {
		if needRedis {
			return nil, errors.New("this command needs Redis: pass --redis URL or set FANOUT_REDIS_URL")
		}
		q := memqueue.New(memqueue.Config{})
		cfg.Queue, cfg.Admin = q, q
		a.embedded = true
	} else {
		quietRedis(log)
		q, err := redisqueue.New(ctx, redisqueue.Config{URL: redisURL(g.redisURL), Prefix: g.redisNS})
		if err != nil {
			return nil, redisError(redisURL(g.redisURL), err)
		}
		cfg.Queue, cfg.Admin = q, q
		a.closers = append(a.closers, q)
	}
	e, err := fanout.New(cfg)
	if err != nil {
		return nil, err
	}
	a.engine, a.admin = e, cfg.Admin
	return a, nil
}

// logger returns the logger of -v and --log-format: warnings only, or
// every chunk event with -v; text, or JSON lines.
func (g *globalFlags) logger() (*slog.Logger, error) {
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var w io.Writer = os.Stderr
	if g.console != nil {
		w = g.console
	}
	switch g.logFormat {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", g.logFormat)
}

// jobFlags are the flags that define a job (run and submit).
type jobFlags struct {
	// functions are the functions --fn may name.
	functions *functions.Registry
	// prog is the program's name in its messages (globalFlags.prog).
	prog          string
	inputs        []string
	inventories   []string // --in-inventory
	keyLists      []string // --in-keys
	listDirs      bool     // --list-dirs
	fn            string
	args          []string
	out           string
	format        string
	outFormat     string
	partitionBy   string
	sortBy        string
	rowGroupRows  int
	rowGroupBytes string
	chunkSize     string
	maxObjects    int
	maxAttempts   int
	lease         time.Duration
	maxFailed     string
	csvWhole      bool
	maxRecord     string
	maxInflate    string
	rerun         bool
	overwrite     bool
	anyVersion    bool
	reducers      int
	contract      string // a data contract file (infer.go)
	maxRejected   string
	onError       string
	schemaMode    string
	backupAfter   float64
	targetSize    string
	maxRows       int64
}

func (f *jobFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.inputs, "in", nil, "input `URL` (s3://bucket/prefix/, file:///dir/, a local path; a glob in the last element); repeatable")
	fl.StringArrayVar(&f.inventories, "in-inventory", nil, "input objects listed by an S3 Inventory report: the `URL` of its manifest.json (CSV or Parquet, with Size and ETag); no listing; repeatable")
	fl.StringArrayVar(&f.keyLists, "in-keys", nil, "input objects named by a key list: the `URL` of a text object (a key in its own bucket or an s3:// URL a line; .gz/.zst/.bz2 allowed; .csv: S3 Batch Operations' bucket,key); repeatable")
	fl.BoolVar(&f.listDirs, "list-dirs", false, "list each s3:// --in prefix by its sub-prefixes (the delimiter /), 8 LIST requests at once from the start (a long listing splits into ranges anyway, at the sub-prefixes when its first page spans several)")
	fl.StringVar(&f.fn, "fn", "", "the function to run: `NAME` as listed by fanout functions")
	fl.StringArrayVar(&f.args, "arg", nil, "function argument `K=V`; repeatable")
	fl.StringVar(&f.out, "out", "", "output `URL` (a prefix that holds nothing of another job)")
	fl.StringVar(&f.format, "format", "auto", "input format: `auto|lines|csv|jsonl|parquet` (auto: by extension; .gz/.zst/.bz2 decompressed)")
	fl.StringVar(&f.outFormat, "out-format", "parquet", "output format: `parquet|jsonl|csv|lines`")
	fl.StringVar(&f.partitionBy, "partition-by", "", "output columns to partition by, `COL,...`: Hive-style col=value/ directories")
	fl.StringVar(&f.sortBy, "sort-by", "", "sort the rows of each output file by `COL [ASC|DESC] [NULLS FIRST|LAST],...` (DuckDB's ORDER BY; default ASC NULLS LAST): Parquet row groups then carry tight min/max statistics readers skip by")
	fl.IntVar(&f.rowGroupRows, "row-group-size", 0, "most rows in a Parquet row group: `N` (default 1048576)")
	fl.StringVar(&f.rowGroupBytes, "row-group-bytes", "", "most uncompressed bytes in a Parquet row group: `SIZE` (default 128MiB)")
	fl.StringVar(&f.chunkSize, "chunk-size", "64MiB", "target `SIZE` of a chunk")
	fl.IntVar(&f.maxObjects, "max-objects-per-chunk", manifest.DefaultMaxObjectsPerChunk, "most small objects packed into one chunk: `N`")
	fl.IntVar(&f.maxAttempts, "max-attempts", manifest.DefaultMaxAttempts, "`N` attempts per chunk before it is dead-lettered")
	fl.DurationVar(&f.lease, "lease", time.Duration(manifest.DefaultLease), "chunk lease (`DURATION`); heartbeats extend it every third")
	fl.StringVar(&f.maxFailed, "max-failed", "0", "failed chunks tolerated: a count or a percentage, `N|P%`")
	fl.BoolVar(&f.csvWhole, "csv-whole", false, "process each CSV object whole (needed when quoted fields hold newlines)")
	fl.StringVar(&f.maxRecord, "max-record-size", "64MiB", "largest record accepted: `SIZE`")
	fl.StringVar(&f.maxInflate, "max-decompressed-size", "64GiB", "largest decompressed `SIZE` of one compressed object")
	fl.BoolVar(&f.rerun, "rerun", false, "run again even if the same job was submitted before (a new job ID)")
	fl.BoolVar(&f.overwrite, "overwrite", false, "replace the committed result another job left in --out: readers following _SUCCESS see the old result until this job commits, then only the new one; the old files are deleted after")
	fl.BoolVar(&f.anyVersion, "any-version", false, "let workers with any version of the function run the job (default: only those with the version this program has, so that two builds of a function never mix in one output)")
	fl.IntVar(&f.reducers, "reducers", 0, "`N` reduce partitions of an aggregating function (0: one per 512 MiB of input, 1 to 256)")
	fl.StringVar(&f.contract, "contract", "", "data contract `FILE` (YAML or JSON) for validate, convert and duplicates: passed as --arg contract=<its text>")
	fl.StringVar(&f.targetSize, "target-file-size", "auto", "`SIZE` of the committed files: files end at it and a partition's small files are merged into files of about it before the commit "+
		"(auto: 128MiB for Parquet output with --partition-by or of an aggregating function, else off; off: one file per chunk and partition; docs/filesizing.md)")
	fl.Int64Var(&f.maxRows, "max-rows-per-file", 0, "end an output file at `N` rows (0: no limit)")
	fl.Float64Var(&f.backupAfter, "backup-after", 4, "start a backup attempt of a chunk running longer than `X` times the median chunk time (and at least "+manifest.BackupMinAge.String()+"); 0: never")
	fl.StringVar(&f.maxRejected, "max-rejected", "", "rejected (and --on-error skip'ped) records tolerated before the job fails with nothing published: `N|P%` of the records read (default: any number)")
	fl.StringVar(&f.onError, "on-error", "fail", "a malformed record (bad CSV quoting or field count, invalid JSON or UTF-8, a value not of its column's type): "+
		"`fail|reject|skip` (fail its chunk; write it to <out>/_rejected/ with object, offset and reason; drop it), counted in the result")
	fl.StringVar(&f.schemaMode, "schema-mode", manifest.SchemaUnion, "objects whose columns differ, matched by name: `union|fixed` "+
		"(union: the job reads the union of every object's columns, missing ones null; fixed: the columns of --arg schema= or the first object, an object that differs fails the plan)")
}

// spec makes the job's JobSpec from the flags; every error is a usage
// error naming the flag.
func (f *jobFlags) spec() (manifest.JobSpec, error) {
	spec, err := f.specOf()
	if err != nil {
		var ue usageError
		if !errors.As(err, &ue) {
			err = usageError{err}
		}
		return spec, err
	}
	if err := checkFunction(f.functions, spec.Function, f.prog); err != nil {
		return spec, err
	}
	if err := spec.Validate(); err != nil {
		return spec, specError(err)
	}
	return spec, nil
}

func (f *jobFlags) specOf() (manifest.JobSpec, error) {
	if len(f.inputs)+len(f.inventories)+len(f.keyLists) == 0 {
		return manifest.JobSpec{}, errors.New("--in is required (or --in-inventory, --in-keys)")
	}
	if f.fn == "" {
		return manifest.JobSpec{}, fmt.Errorf("--fn is required (see `%s functions`)", f.prog)
	}
	if f.out == "" {
		return manifest.JobSpec{}, errors.New("--out is required")
	}
	args := map[string]string{}
	for _, kv := range f.args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return manifest.JobSpec{}, fmt.Errorf("--arg %q: want K=V", kv)
		}
		args[k] = v
	}
	if err := f.addContract(args); err != nil {
		return manifest.JobSpec{}, err
	}
	chunk, err := manifest.ParseSize(f.chunkSize)
	if err != nil {
		return manifest.JobSpec{}, fmt.Errorf("--chunk-size: %w", err)
	}
	maxRecord, err := manifest.ParseSize(f.maxRecord)
	if err != nil {
		return manifest.JobSpec{}, fmt.Errorf("--max-record-size: %w", err)
	}
	maxInflate, err := manifest.ParseSize(f.maxInflate)
	if err != nil {
		return manifest.JobSpec{}, fmt.Errorf("--max-decompressed-size: %w", err)
	}
	target, err := parseTargetSize(f.targetSize)
	if err != nil {
		return manifest.JobSpec{}, err
	}
	partition, err := functions.ParseNames(f.partitionBy)
	if err != nil {
		return manifest.JobSpec{}, fmt.Errorf("--partition-by: %w", err)
	}
	sortBy, err := manifest.ParseSortBy(f.sortBy)
	if err != nil {
		return manifest.JobSpec{}, fmt.Errorf("--sort-by: %w", err)
	}
	if f.rowGroupRows < 0 {
		return manifest.JobSpec{}, fmt.Errorf("--row-group-size: %d is negative", f.rowGroupRows)
	}
	var rowGroupBytes int64
	if f.rowGroupBytes != "" {
		if rowGroupBytes, err = manifest.ParseSize(f.rowGroupBytes); err != nil {
			return manifest.JobSpec{}, fmt.Errorf("--row-group-bytes: %w", err)
		}
	}
	for _, u := range []struct {
		flag string
		urls []string
	}{{"--in", f.inputs}, {"--in-inventory", f.inventories}, {"--in-keys", f.keyLists}, {"--out", []string{f.out}}} {
		for _, raw := range u.urls {
			if err := checkURL(u.flag, raw); err != nil {
				return manifest.JobSpec{}, err
			}
		}
	}
	inputs := make([]string, len(f.inputs))
	for i, in := range f.inputs {
		inputs[i] = absURL(in)
	}
	var keyLists []string
	for _, in := range f.keyLists {
		keyLists = append(keyLists, absURL(in))
	}
	spec := manifest.JobSpec{
		Inputs: inputs, Inventories: append([]string(nil), f.inventories...), KeyLists: keyLists, Format: f.format, Function: f.fn, Args: args, Output: absURL(f.out),
		OutputFormat: f.outFormat, PartitionBy: partition, ChunkBytes: chunk, MaxObjectsPerChunk: f.maxObjects,
		MaxAttempts: f.maxAttempts, Lease: manifest.Duration(f.lease), MaxFailed: f.maxFailed, CSVWhole: f.csvWhole,
		MaxRecordBytes: maxRecord, MaxDecompressedBytes: maxInflate, Reducers: f.reducers, MaxRejected: f.maxRejected,
		BackupAfter: f.backupAfter, SortBy: sortBy, RowGroupRows: f.rowGroupRows, RowGroupBytes: rowGroupBytes,
		TargetFileSize: target, MaxRowsPerFile: f.maxRows, ListDirs: f.listDirs,
	}
	if f.schemaMode != manifest.SchemaUnion {
		spec.SchemaMode = f.schemaMode // the default stays out of the spec, and of the job ID
	}
	if f.onError != manifest.OnErrorFail {
		spec.OnError = f.onError // the default stays out of the spec, and of the job ID
	}
	spec.Overwrite = f.overwrite
	spec.AnyFunctionVersion = f.anyVersion
	if f.rerun {
		spec.Nonce = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return spec.WithDefaults(), nil
}

// parseTargetSize reads --target-file-size: auto (0: the default of
// manifest.JobSpec.ResolvedTargetFileSize), off (-1) or a size.
func parseTargetSize(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return 0, nil
	case "off", "0":
		return -1, nil
	}
	n, err := manifest.ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("--target-file-size: %w (or auto, off)", err)
	}
	return n, nil
}

// checkURL refuses a storage URL that no store opens (a scheme other than
// s3:// and file://, a malformed bucket name) before anything runs, naming
// the flag and the URL once, as given.
func checkURL(flag, raw string) error {
	base := raw
	if i := strings.LastIndex(raw, "/"); i >= 0 && strings.ContainsAny(raw[i+1:], "*?[") {
		base = raw[:i+1] // a glob filters the keys under its directory
	}
	if _, err := objstore.ParseURL(base); err != nil {
		msg := strings.TrimPrefix(err.Error(), "objstore: ")
		msg = strings.TrimPrefix(msg, strconv.Quote(base)+": ")
		return fmt.Errorf("%s %q: %s", flag, raw, msg)
	}
	return nil
}

// absURL turns a plain local path into a file URL with an absolute path,
// so that the job means the same thing to every worker.
func absURL(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	// A glob in the last element stays a glob: only the directory is
	// turned into a URL.
	dir, pattern := s, ""
	if i := strings.LastIndex(s, "/"); i >= 0 && strings.ContainsAny(s[i+1:], "*?[") {
		dir, pattern = s[:i+1], s[i+1:]
	} else if i < 0 && strings.ContainsAny(s, "*?[") {
		dir, pattern = "./", s
	}
	loc, err := objstore.ParseURL(dir)
	if err != nil {
		return s
	}
	u := loc.String()
	if pattern != "" {
		u = strings.TrimSuffix(u, "/") + "/" + pattern
	}
	return u
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // a layout's <col> reads as it is
	return enc.Encode(v)
}

// checkCounts refuses a negative --workers and a --concurrency under 1
// before anything runs: with Redis, either left a job (or a worker)
// waiting for ever with nobody working and no word said.
func checkCounts(cmd *cobra.Command) error {
	if n, err := cmd.Flags().GetInt("workers"); err == nil && n < 0 {
		return usagef("--workers %d: want 0 or more (0: leave the chunks to worker processes)", n)
	}
	if n, err := cmd.Flags().GetInt("concurrency"); err == nil && n < 1 {
		return usagef("--concurrency %d: want 1 or more", n)
	}
	return nil
}
