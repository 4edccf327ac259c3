package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/objstore"
	"github.com/parquet-go/parquet-go"
)

// RecordKey names one output record (a line of a committed lines or JSONL
// file), so that the oracle can count each input record.
type RecordKey func(line []byte) (string, error)

// Line uses the whole line as the record's name.
func Line(line []byte) (string, error) { return string(line), nil }

// JSONField names a JSONL record by one of its fields, decoded with
// encoding/json (not with fanout's codecs, so that the oracle stays
// independent of the code under test).
func JSONField(name string) RecordKey {
	return func(line []byte) (string, error) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return "", err
		}
		v, ok := m[name]
		if !ok {
			return "", fmt.Errorf("no field %q", name)
		}
		return fmt.Sprint(v), nil
	}
}

// Marker is what the oracle read from one chunk marker.
type Marker struct {
	Chunk  string
	State  string
	Epoch  int64
	Reason string
	ETag   string
}

// Committed is what Verify found in a committed job's output.
type Committed struct {
	Chunks  int
	Markers map[string]Marker // by chunk ID
	Failed  map[string]string // chunk -> reason, from the commit record
	Files   []string          // committed data files
	Records int
}

// DataExtensions are the extensions a reader globs an output for
// (read_parquet('<out>/**/*.parquet') and the like).
var DataExtensions = []string{".parquet", ".jsonl", ".ndjson", ".csv", ".tsv", ".txt"}

// Verify checks the committed output of job under prefix in b against the
// oracle want (the names of the records the output must hold, each exactly
// once) and returns what it found with every problem seen:
//   - _SUCCESS, the commit record and the output's owner record
//     (_fanout/OWNER, state committing) exist and name the job;
//   - every data file's name starts with part-<job>-;
//   - the data files under prefix are exactly those of the commit record
//     (inline, or in the parts it names under _fanout/<job>/commit/),
//     with their sizes and row counts, so a late or losing attempt left
//     nothing in the output;
//   - there is exactly one marker per chunk of the manifest, and the
//     commit record's failed chunks are exactly the failed markers;
//   - nothing is left under the job's staging prefix, and no file under
//     _fanout/ has a data extension (DataExtensions), so a reader's glob
//     of the output for data files matches only committed files;
//   - every record of want appears exactly once, and no other record.
//
// Data files are read as lines (lines and JSONL output); a .parquet file's
// rows are read with parquet-go (not with fanout's reader) and each given
// to key as a JSON object of its columns (flat schemas).
func Verify(ctx context.Context, b objstore.Bucket, prefix, job string, key RecordKey, want []string) (Committed, []string, error) {
	var c Committed
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	jobPrefix := prefix + "_fanout/" + job + "/"

	var success struct {
		Job string `json:"job"`
	}
	if body, err := get(ctx, b, prefix+"_SUCCESS"); err != nil {
		bad("reading _SUCCESS: %v", err)
	} else if json.Unmarshal(body, &success) != nil || success.Job != job {
		bad("_SUCCESS holds %q, want the job %s", body, job)
	}
	// The output's owner record names the job, fenced for its commit.
	var owner struct {
		Job   string `json:"job"`
		State string `json:"state"`
	}
	if body, err := get(ctx, b, prefix+"_fanout/OWNER"); err != nil {
		bad("reading the owner record: %v", err)
	} else if json.Unmarshal(body, &owner) != nil || owner.Job != job || owner.State != "committing" {
		bad("the owner record holds %q, want the job %s in state committing", body, job)
	}
	var manifest struct {
		Chunks int `json:"chunks"`
	}
	body, err := get(ctx, b, jobPrefix+"manifest.json")
	if err != nil {
		return c, problems, fmt.Errorf("reading the manifest: %w", err)
	}
	if err := json.Unmarshal(body, &manifest); err != nil {
		return c, problems, fmt.Errorf("decoding the manifest: %w", err)
	}
	c.Chunks = manifest.Chunks
	type file struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
		Rows int64  `json:"rows"`
	}
	var commit struct {
		Job       string `json:"job"`
		Version   int    `json:"version"`
		Files     []file `json:"files"`
		FileCount int    `json:"file_count"`
		FileParts []struct {
			Key   string `json:"key"`
			Files int    `json:"files"`
		} `json:"file_parts"`
		Chunks int `json:"chunks"`
		Failed []struct {
			Chunk  string `json:"chunk"`
			Reason string `json:"reason"`
		} `json:"failed"`
	}
	body, err = get(ctx, b, jobPrefix+"_COMMITTED")
	if err != nil {
		return c, problems, fmt.Errorf("reading the commit record: %w", err)
	}
	if err := json.Unmarshal(body, &commit); err != nil {
		return c, problems, fmt.Errorf("decoding the commit record: %w", err)
	}
	if commit.Job != job || commit.Chunks != manifest.Chunks {
		bad("commit record names job %s with %d chunks, want %s with %d", commit.Job, commit.Chunks, job, manifest.Chunks)
	}
	// A record of version 2 lists its files in parts under
	// _fanout/<job>/commit/ (version 1 inline).
	if commit.Version >= 2 && len(commit.Files) > 0 {
		bad("commit record of version %d lists %d files inline", commit.Version, len(commit.Files))
	}
	for i, p := range commit.FileParts {
		if !strings.HasPrefix(p.Key, jobPrefix+"commit/") {
			bad("commit record's file part %s is not under %scommit/", p.Key, jobPrefix)
		}
		body, err := get(ctx, b, p.Key)
		if err != nil {
			return c, problems, fmt.Errorf("reading the commit record's file part %s: %w", p.Key, err)
		}
		var part struct {
			Job   string `json:"job"`
			Part  int    `json:"part"`
			Files []file `json:"files"`
		}
		if err := json.Unmarshal(body, &part); err != nil {
			return c, problems, fmt.Errorf("decoding the commit record's file part %s: %w", p.Key, err)
		}
		if part.Job != job || part.Part != i || len(part.Files) != p.Files {
			bad("file part %s is part %d of job %s with %d files, the record names part %d of %s with %d", p.Key, part.Part, part.Job, len(part.Files), i, job, p.Files)
		}
		commit.Files = append(commit.Files, part.Files...)
	}
	if commit.Version >= 2 && len(commit.Files) != commit.FileCount {
		bad("commit record's parts hold %d files, its file_count is %d", len(commit.Files), commit.FileCount)
	}
	c.Failed = map[string]string{}
	for _, f := range commit.Failed {
		c.Failed[f.Chunk] = f.Reason
	}

	// Markers: exactly one per chunk.
	c.Markers = map[string]Marker{}
	for info, err := range b.List(ctx, jobPrefix+"chunks/", nil) {
		if err != nil {
			return c, problems, fmt.Errorf("listing markers: %w", err)
		}
		body, err := get(ctx, b, info.Key)
		if err != nil {
			return c, problems, err
		}
		var m struct {
			Job    string `json:"job"`
			Chunk  string `json:"chunk"`
			State  string `json:"state"`
			Epoch  int64  `json:"epoch"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			bad("marker %s: %v", info.Key, err)
			continue
		}
		if path.Base(info.Key) != m.Chunk+".json" || m.Job != job {
			bad("marker %s names chunk %q of job %q", info.Key, m.Chunk, m.Job)
		}
		if _, dup := c.Markers[m.Chunk]; dup {
			bad("chunk %s has more than one marker", m.Chunk)
		}
		c.Markers[m.Chunk] = Marker{Chunk: m.Chunk, State: m.State, Epoch: m.Epoch, Reason: m.Reason, ETag: info.ETag}
		switch m.State {
		case "done":
			if _, ok := c.Failed[m.Chunk]; ok {
				bad("chunk %s is done but the commit record lists it as failed", m.Chunk)
			}
		case "failed":
			if _, ok := c.Failed[m.Chunk]; !ok {
				bad("chunk %s has a failed marker (%s) the commit record does not list", m.Chunk, m.Reason)
			}
		default:
			bad("marker of %s has state %q", m.Chunk, m.State)
		}
	}
	if len(c.Markers) != manifest.Chunks {
		bad("%d markers for %d chunks", len(c.Markers), manifest.Chunks)
	}
	for info, err := range b.List(ctx, jobPrefix+"staging/", nil) {
		if err != nil {
			return c, problems, fmt.Errorf("listing staging: %w", err)
		}
		bad("left in staging after the commit: %s", info.Key)
	}

	// Data files: exactly the committed ones.
	committed := map[string]int64{}
	rows := map[string]int64{}
	for _, f := range commit.Files {
		committed[f.Key] = f.Size
		rows[f.Key] = f.Rows
	}
	seen := map[string]int{}
	for info, err := range b.List(ctx, prefix, nil) {
		if err != nil {
			return c, problems, fmt.Errorf("listing the output: %w", err)
		}
		rel := strings.TrimPrefix(info.Key, prefix)
		if strings.HasPrefix(rel, "_") {
			// _fanout/, _SUCCESS, _rejected/: a reader globbing the
			// output for data (<out>/**/*.parquet) must match none of
			// the bookkeeping or staged files.
			if !strings.HasPrefix(rel, "_rejected/") && slices.Contains(DataExtensions, path.Ext(info.Key)) {
				bad("%s matches a reader's glob of the output for data files", info.Key)
			}
			continue
		}
		if !strings.HasPrefix(path.Base(info.Key), "part-"+job+"-") {
			bad("output file %s is not named part-%s-<chunk>-<n>", info.Key, job)
		}
		size, ok := committed[info.Key]
		if !ok {
			bad("output file %s is not in the commit record", info.Key)
			continue
		}
		if size != info.Size {
			bad("output file %s is %d bytes, the commit record says %d", info.Key, info.Size, size)
		}
		delete(committed, info.Key)
		c.Files = append(c.Files, info.Key)
		body, err := get(ctx, b, info.Key)
		if err != nil {
			return c, problems, err
		}
		lines, err := RecordLines(info.Key, body)
		if err != nil {
			bad("%s: %v", info.Key, err)
			continue
		}
		var n int64
		for _, line := range lines {
			k, err := key(line)
			if err != nil {
				bad("%s: record %q: %v", info.Key, truncate(string(line), 80), err)
				continue
			}
			seen[k]++
			n++
		}
		if n != rows[info.Key] {
			bad("output file %s holds %d records, the commit record says %d", info.Key, n, rows[info.Key])
		}
		c.Records += int(n)
	}
	for k := range committed {
		bad("committed file %s is missing", k)
	}
	var lost, twice, extra []string
	wantSet := make(map[string]bool, len(want))
	for _, w := range want {
		wantSet[w] = true
		switch n := seen[w]; {
		case n == 0:
			lost = append(lost, w)
		case n > 1:
			twice = append(twice, fmt.Sprintf("%s (%d times)", w, n))
		}
	}
	for k := range seen {
		if !wantSet[k] {
			extra = append(extra, k)
		}
	}
	for _, l := range [][]string{lost, twice, extra} {
		sort.Strings(l)
	}
	if len(lost) > 0 {
		bad("%d record(s) lost, e.g. %s", len(lost), strings.Join(lost[:min(len(lost), 5)], ", "))
	}
	if len(twice) > 0 {
		bad("%d record(s) counted more than once, e.g. %s", len(twice), strings.Join(twice[:min(len(twice), 5)], ", "))
	}
	if len(extra) > 0 {
		bad("%d record(s) that are not in the input, e.g. %s", len(extra), strings.Join(extra[:min(len(extra), 5)], ", "))
	}
	return c, problems, nil
}

// CheckCommitted is Verify failing the test on any problem.
func CheckCommitted(t testing.TB, b objstore.Bucket, prefix, job string, key RecordKey, want []string) Committed {
	t.Helper()
	c, problems, err := Verify(context.Background(), b, prefix, job, key, want)
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	for i, p := range problems {
		if i == 20 {
			t.Errorf("oracle: and %d more problems", len(problems)-20)
			break
		}
		t.Errorf("oracle: %s", p)
	}
	if len(problems) > 0 {
		t.FailNow()
	}
	return c
}

// RecordLines returns a data file's records as lines: a lines or JSONL
// file's lines, a Parquet file's rows as JSON objects of their columns
// (byte arrays as strings, integers and floats as numbers, nulls as null).
func RecordLines(key string, body []byte) ([][]byte, error) {
	if path.Ext(key) != ".parquet" {
		if len(body) == 0 {
			return nil, nil
		}
		return bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")), nil
	}
	pf, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, fmt.Errorf("not Parquet: %w", err)
	}
	columns := pf.Schema().Columns()
	r := parquet.NewReader(pf)
	defer r.Close()
	var lines [][]byte
	buf := make([]parquet.Row, 64)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			obj := map[string]any{}
			for _, v := range row {
				name := strings.Join(columns[v.Column()], ".")
				switch {
				case v.IsNull():
					obj[name] = nil
				case v.Kind() == parquet.ByteArray || v.Kind() == parquet.FixedLenByteArray:
					obj[name] = string(v.ByteArray())
				case v.Kind() == parquet.Int32:
					obj[name] = v.Int32()
				case v.Kind() == parquet.Int64:
					obj[name] = v.Int64()
				case v.Kind() == parquet.Float:
					obj[name] = v.Float()
				case v.Kind() == parquet.Double:
					obj[name] = v.Double()
				case v.Kind() == parquet.Boolean:
					obj[name] = v.Boolean()
				default:
					obj[name] = v.String()
				}
			}
			line, err := json.Marshal(obj)
			if err != nil {
				return nil, err
			}
			lines = append(lines, line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading its rows: %w", err)
		}
	}
	if int64(len(lines)) != pf.NumRows() {
		return nil, fmt.Errorf("read %d rows, its footer counts %d", len(lines), pf.NumRows())
	}
	return lines, nil
}

func get(ctx context.Context, b objstore.Bucket, key string) ([]byte, error) {
	rc, _, err := b.Get(ctx, key, nil)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
