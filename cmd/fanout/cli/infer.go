package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/functions/contract"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

// maxContractBytes bounds a --contract file: it travels in the job's spec.
const maxContractBytes = 1 << 20

// addContract reads --contract FILE into the contract argument, checking
// it first so that a typo is reported with the file's name.
func (f *jobFlags) addContract(args map[string]string) error {
	if f.contract == "" {
		return nil
	}
	if _, ok := args["contract"]; ok {
		return errors.New("give --contract FILE or --arg contract=TEXT, not both")
	}
	file, err := os.Open(f.contract)
	if err != nil {
		return fmt.Errorf("--contract: %w", err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxContractBytes+1))
	if err != nil {
		return fmt.Errorf("--contract %s: %w", f.contract, err)
	}
	if len(data) > maxContractBytes {
		return fmt.Errorf("--contract %s: larger than %d bytes", f.contract, maxContractBytes)
	}
	if _, err := contract.Parse(data); err != nil {
		return fmt.Errorf("--contract %s: %w", f.contract, err)
	}
	args["contract"] = string(data)
	return nil
}

// inferOptions are the flags of fanout infer.
type inferOptions struct {
	in          string
	format      string
	sampleRows  int
	sampleBytes string
	name        string
	out         string
	args        []string // CSV options (delim, quote, escape, header, nullstr)
	// full runs fanout profile's job (profile.go) instead of sampling.
	full    bool
	profile profileOptions
}

func newInferCommand(g *globalFlags) *cobra.Command {
	o := inferOptions{profile: profileOptions{jf: jobFlags{functions: g.functions, prog: g.prog}}}
	cmd := &cobra.Command{
		Use:   "infer --in URL [--format F] [--sample-rows N] > contract.yaml",
		Short: "Propose a data contract from a sample of the input: types, nullability, ranges, cardinalities",
		Long: `infer reads the first records of the objects under --in (at most --sample-rows records,
and at most --sample-bytes of each object) and prints a data contract in YAML for you to
review and edit: each column's narrowest type, required when it was never missing,
min/max of numbers and timestamps, the allowed values of a string column with few
distinct values, and a primary key when a column was unique and never missing. Use it
with --contract on validate, convert or duplicates. See docs/contracts.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.full {
				return runInferFull(cmd, g, &o)
			}
			return runInfer(cmd.Context(), g, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.in, "in", "", "input `URL` (s3://bucket/prefix/, file:///dir/, a local path; a glob in the last element)")
	fl.StringVar(&o.format, "format", "auto", "input format: `auto|csv|jsonl|parquet` (auto: by extension)")
	fl.IntVar(&o.sampleRows, "sample-rows", 10000, "`N` records to sample")
	fl.StringVar(&o.sampleBytes, "sample-bytes", "16MiB", "most bytes read from one (decompressed) object: `SIZE`")
	fl.StringArrayVar(&o.args, "arg", nil, "a CSV option of the input reader `K=V` (delim, quote, escape, header, nullstr, as fanout run takes them); repeatable")
	fl.StringVar(&o.name, "name", "", "the contract's `NAME` (default: the input's last path element)")
	fl.StringVarP(&o.out, "output", "o", "", "write the contract to `FILE` instead of stdout")
	fl.BoolVar(&o.full, "full", false, "profile every record as a job (fanout profile, committed under --out) instead of a sample")
	fl.StringVar(&o.profile.jf.out, "out", "", "with --full: the profile job's output `URL`")
	fl.IntVar(&o.profile.workers, "workers", runtime.NumCPU(), "with --full: `N` chunks this process works on at once")
	fl.BoolVar(&o.profile.ranges, "ranges", false, "with --full: propose min/max for identifier-like and timestamp columns too")
	fl.StringVar(&o.profile.jf.chunkSize, "chunk-size", "64MiB", "with --full: target bytes per chunk: `SIZE`")
	return cmd
}

// runInferFull runs the profile job and prints (or writes) its contract.
func runInferFull(cmd *cobra.Command, g *globalFlags, o *inferOptions) error {
	p := &o.profile
	if o.in == "" {
		return usagef("--in is required")
	}
	if p.jf.out == "" {
		return usagef("--full needs --out URL: the profile job commits its files there")
	}
	if cmd.Flags().Changed("sample-rows") || cmd.Flags().Changed("sample-bytes") {
		return usagef("--full reads every record: --sample-rows and --sample-bytes do not apply")
	}
	p.jf.inputs, p.jf.format, p.name = []string{o.in}, o.format, o.name
	p.jf.args = o.args
	p.jf.outFormat, p.jf.maxObjects, p.jf.maxAttempts = manifest.FormatJSONL, manifest.DefaultMaxObjectsPerChunk, manifest.DefaultMaxAttempts
	p.jf.lease, p.jf.maxFailed, p.jf.maxRecord, p.jf.maxInflate = time.Duration(manifest.DefaultLease), "0", "64MiB", "64GiB"
	// The job's summary goes to stderr: stdout is the contract's.
	stdout := os.Stdout
	os.Stdout = os.Stderr
	files, err := runProfile(cmd.Context(), g, p)
	os.Stdout = stdout
	if err != nil {
		return err
	}
	to := o.out
	if to == "" {
		to = "-"
	}
	return copyProfileFile(cmd.Context(), g, files["contract.yaml"], to)
}

func runInfer(ctx context.Context, g *globalFlags, o inferOptions) error {
	if o.in == "" {
		return errors.New("--in is required")
	}
	if o.sampleRows <= 0 {
		return errors.New("--sample-rows must be positive")
	}
	maxBytes, err := manifest.ParseSize(o.sampleBytes)
	if err != nil {
		return fmt.Errorf("--sample-bytes: %w", err)
	}
	in, err := openSampled(ctx, g, o.in)
	if err != nil {
		return err
	}
	defer in.close()
	b, loc, exact := in.b, in.loc, in.exact
	args, err := csvArgs(o.args)
	if err != nil {
		return err
	}
	s := &sampler{b: b, format: o.format, rows: o.sampleRows, maxBytes: maxBytes, args: args}
	for info, err := range b.List(ctx, loc.Prefix, nil) {
		if err != nil {
			return fmt.Errorf("listing %s: %w", o.in, err)
		}
		if !in.keep(info) {
			continue
		}
		if err := s.object(ctx, info); err != nil {
			return err
		}
		if s.done() {
			break
		}
	}
	if s.prof == nil || s.prof.Rows() == 0 {
		return fmt.Errorf("no records found under %s", o.in)
	}
	name := o.name
	if name == "" && exact != "" {
		name = strings.TrimSuffix(exact, path.Ext(exact))
	} else if name == "" {
		name = path.Base(strings.TrimSuffix(loc.Prefix, "/"))
		if name == "." || name == "/" {
			name = ""
		}
	}
	yml, err := s.prof.Propose(contract.ProposeOptions{Name: name, Source: fmt.Sprintf("%d object(s) under %s", s.objects, o.in)})
	if err != nil {
		return err
	}
	if s.skipped > 0 {
		fmt.Fprintf(os.Stderr, "%s infer: %d malformed record(s) in the sample were left out\n", o.profile.jf.prog, s.skipped)
	}
	fmt.Fprintf(os.Stderr, "%s infer: %d records of %d object(s) sampled; review the contract before use\n", o.profile.jf.prog, s.prof.Rows(), s.objects)
	if o.out != "" {
		return os.WriteFile(o.out, yml, 0o644)
	}
	_, err = os.Stdout.Write(yml)
	return err
}

// sampledInput is an input that infer and profile sample themselves,
// listed as run's planner lists it: a glob in the last element filters
// the keys, and a local path naming one file is that file alone.
type sampledInput struct {
	b       objstore.Bucket
	loc     objstore.Location // loc.Prefix is what to list
	pattern string
	exact   string // the one key of a local file named by its path
}

// openSampled opens in's store.
func openSampled(ctx context.Context, g *globalFlags, in string) (*sampledInput, error) {
	base, pattern := in, ""
	if i := strings.LastIndex(in, "/"); i >= 0 && strings.ContainsAny(in[i+1:], "*?[") {
		base, pattern = in[:i+1], in[i+1:]
	}
	exact := ""
	if pattern == "" {
		if l, err := objstore.ParseURL(absURL(base)); err == nil && l.Scheme == "file" {
			if fi, err := os.Stat(l.Root); err == nil && fi.Mode().IsRegular() {
				base, exact = filepath.Dir(l.Root), filepath.Base(l.Root)
			}
		}
	}
	opts, err := g.bucketOptions()
	if err != nil {
		return nil, err
	}
	b, loc, err := bucketurl.Open(ctx, absURL(base), opts)
	if err != nil {
		return nil, fmt.Errorf("--in %s: %w", in, s3Hint(err))
	}
	if exact != "" {
		loc.Prefix = exact
	}
	return &sampledInput{b: b, loc: loc, pattern: pattern, exact: exact}, nil
}

// keep reports whether a listed object is one of the input's.
func (s *sampledInput) keep(info objstore.ObjectInfo) bool {
	if s.exact != "" {
		return info.Key == s.exact && info.Size > 0
	}
	rest := strings.TrimPrefix(info.Key, s.loc.Prefix)
	if ok, _ := path.Match(s.pattern, rest); s.pattern != "" && !ok {
		return false
	}
	return !hidden(rest) && !strings.HasSuffix(info.Key, "/") && info.Size > 0
}

func (s *sampledInput) close() {
	if c, ok := s.b.(io.Closer); ok {
		c.Close()
	}
}

// hidden reports keys that fanout's planner skips: a name or directory
// starting with "_" or ".".
func hidden(rest string) bool {
	for _, seg := range strings.Split(rest, "/") {
		if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// sampler feeds the first records of objects to a Profiler.
type sampler struct {
	b        objstore.Bucket
	format   string
	rows     int
	maxBytes int64
	args     map[string]string // the CSV options (codec.ParseCSVArgs)

	kind    string // the first object's format: every object must have it
	schema  *functions.Schema
	prof    *contract.Profiler
	objects int
	skipped int
}

func (s *sampler) done() bool { return s.prof != nil && s.prof.Rows() >= int64(s.rows) }

// object samples one object.
func (s *sampler) object(ctx context.Context, info objstore.ObjectInfo) error {
	format, compression, err := manifest.DetectFormat(info.Key, s.format)
	if err != nil {
		return fmt.Errorf("%s: %w (set --format)", info.Key, err)
	}
	if format == manifest.FormatLines {
		return fmt.Errorf("%s: lines have one column; infer needs csv, jsonl or parquet (set --format)", info.Key)
	}
	if s.kind == "" {
		s.kind = format
	} else if format != s.kind {
		return nil // one format per contract: sample the first one's
	}
	var in functions.Input
	if format == manifest.FormatParquet {
		in, err = codec.NewParquetInput(objstore.NewReaderAt(ctx, s.b, info.Key, info.ETag, info.Size), info.Size,
			codec.ParquetOptions{Object: info.Key, Schema: s.schema})
		if err != nil {
			return fmt.Errorf("%s: %w", info.Key, err)
		}
	} else {
		if in, err = s.textInput(ctx, info, format, compression); err != nil {
			return err
		}
	}
	if s.schema == nil {
		s.schema = in.Schema()
		s.prof = contract.NewProfiler(s.schema)
	}
	s.objects++
	for !s.done() {
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		var re *functions.RecordError
		if errors.As(err, &re) && re.Raw != nil {
			s.skipped++
			continue
		}
		if err != nil {
			if s.prof.Rows() > 0 && errors.As(err, &re) {
				return nil // a record cut off by --sample-bytes
			}
			return fmt.Errorf("%s: %w", info.Key, err)
		}
		s.prof.Add(rec.Row)
	}
	return nil
}

// textInput reads at most maxBytes of a CSV or JSONL object, cut after its
// last complete line, with every column as a string.
func (s *sampler) textInput(ctx context.Context, info objstore.ObjectInfo, format, compression string) (functions.Input, error) {
	rc, _, err := s.b.Get(ctx, info.Key, &objstore.GetOptions{Length: -1, IfMatch: info.ETag})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", info.Key, err)
	}
	defer rc.Close()
	var r io.Reader = rc
	if compression != manifest.CompressionNone {
		d, err := codec.Decompress(rc, compression, 64*s.maxBytes, info.Key)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		r = d
	}
	data, err := io.ReadAll(io.LimitReader(r, s.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", info.Key, err)
	}
	if int64(len(data)) > s.maxBytes {
		data = data[:bytes.LastIndexByte(data[:s.maxBytes], '\n')+1]
	}
	delim := ','
	if strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(info.Key), ".gz"), ".zst"), ".bz2"), ".tsv") {
		delim = '\t'
	}
	schema := s.schema
	if schema == nil && format == manifest.FormatJSONL {
		// The keys, in order of first appearance, all read as strings.
		if schema, err = codec.InferSchema(bytes.NewReader(data), format, nil, s.rows); err != nil {
			return nil, fmt.Errorf("%s: %w", info.Key, err)
		}
		for i := range schema.Columns {
			schema.Columns[i] = functions.Flat(functions.String).Named(schema.Columns[i].Name) // a nested column's JSON text
		}
	}
	csv, err := codec.ParseCSVArgs(s.args)
	if err != nil {
		return nil, err
	}
	if csv.Delimiter == 0 {
		csv.Delimiter = delim
	}
	if format == manifest.FormatCSV {
		// Every object's header, as the planner checks it: a column
		// named twice or not at all cannot be a contract's column.
		if header, err := codec.ReadCSVHeader(bytes.NewReader(data), csv); err == nil {
			if err := codec.CheckCSVHeader(header); err != nil {
				return nil, fanout.CSVHeaderError(info.Key, err)
			}
		}
	}
	in, err := codec.NewInput(bytes.NewReader(data), codec.InputOptions{Format: format, Object: info.Key, End: -1,
		Schema: schema, CSVOptions: csv})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", info.Key, err)
	}
	return in, nil
}

// printRejections adds a job's rejected-record counts and counters to a
// summary (run, wait, status).
func printRejections(w io.Writer, res fanout.Result) {
	printSchemaDrift(w, res)
	if res.Skipped > 0 {
		fmt.Fprintf(w, "  skipped\t%d malformed record(s) (--on-error skip)\n", res.Skipped)
	}
	if res.Rejected == 0 && len(res.Counters) == 0 {
		return
	}
	fmt.Fprintf(w, "  rejected\t%d (%d file(s) under %s_rejected/)\n", res.Rejected, res.RejectedFiles, strings.TrimSuffix(res.Output, "/")+"/")
	for _, k := range sortedByCount(res.RejectedByRule) {
		fmt.Fprintf(w, "    rule\t%s: %d\n", k, res.RejectedByRule[k])
	}
	for _, k := range sortedByCount(res.RejectedByColumn) {
		fmt.Fprintf(w, "    column\t%s: %d\n", k, res.RejectedByColumn[k])
	}
	for _, k := range sortedByCount(res.Counters) {
		fmt.Fprintf(w, "  counted\t%s: %d\n", k, res.Counters[k])
	}
}

// driftShown bounds the objects a summary lists under drift (the --json
// result and the commit record hold them all).
const driftShown = 20

// printSchemaDrift adds what schema drift filled and dropped, per object, to a
// summary.
func printSchemaDrift(w io.Writer, res fanout.Result) {
	if len(res.Drift) == 0 {
		return
	}
	objs := slices.Sorted(maps.Keys(res.Drift))
	fmt.Fprintf(w, "  drift\t%d object(s) whose columns differ from the job's schema (matched by name)\n", len(objs))
	for i, o := range objs {
		if i == driftShown {
			fmt.Fprintf(w, "    ...\t%d more (--json lists every one)\n", len(objs)-driftShown)
			break
		}
		d := res.Drift[o]
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(d.Filled)) {
			parts = append(parts, fmt.Sprintf("%s null in %d record(s)", k, d.Filled[k]))
		}
		for _, k := range slices.Sorted(maps.Keys(d.Dropped)) {
			parts = append(parts, fmt.Sprintf("%s dropped from %d record(s)", k, d.Dropped[k]))
		}
		for _, k := range slices.Sorted(maps.Keys(d.AsJSON)) {
			parts = append(parts, fmt.Sprintf("%s kept as JSON text in %d record(s)", k, d.AsJSON[k]))
		}
		fmt.Fprintf(w, "    %s\t%s\n", o, strings.Join(parts, "; "))
	}
}

// sortedByCount lists m's keys, largest count first.
func sortedByCount(m map[string]int64) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return keys
}

// csvArgs reads --arg K=V pairs, each one of the CSV options.
func csvArgs(kvs []string) (map[string]string, error) {
	args := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !slices.Contains(codec.CSVArgNames(), k) {
			return nil, fmt.Errorf("--arg %q: want K=V with K one of %s", kv, strings.Join(codec.CSVArgNames(), ", "))
		}
		args[k] = v
	}
	if _, err := codec.ParseCSVArgs(args); err != nil {
		return nil, err
	}
	return args, nil
}
