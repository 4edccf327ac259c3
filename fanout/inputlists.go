package fanout

// Inputs named by lists instead of a listing: S3 Inventory reports
// (JobSpec.Inventories) and key lists (JobSpec.KeyLists).
//
// Listing a bucket costs a LIST request per 1,000 keys, one after the
// other: 100M keys are 100k round trips before the first chunk runs. An
// inventory report holds the same keys with their sizes and ETags in a few
// compressed data files, which the planner reads several at a time and
// in order (the job's chunks do not depend on which file arrived first).
// A key list names objects without their sizes and ETags, so each is
// pinned by a HEAD request, many at once.
//
// An inventory is a snapshot, up to a day or a week old: an object written
// again since is read with the ETag the inventory pinned and fails its
// chunk with InputChangedError, as an object changed after a listing does.

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"iter"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/codec"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// InputListError reports an inventory report or key list that cannot be
// used, naming the object and, when the problem is at one, its line
// (1-based; a Parquet inventory file's row index plus one).
type InputListError struct {
	// List is the URL of the manifest.json, data file or key list.
	List string
	Line int64
	Err  error
}

func (e *InputListError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("input list %s line %d: %v", e.List, e.Line, e.Err)
	}
	return fmt.Sprintf("input list %s: %v", e.List, e.Err)
}

func (e *InputListError) Unwrap() error { return e.Err }

func listError(list string, line int64, format string, args ...any) error {
	return functions.Permanent(&InputListError{List: list, Line: line, Err: fmt.Errorf(format, args...)})
}

// listedObject is one input object named by a list.
type listedObject struct {
	store string // the store's URL (s3://bucket)
	info  objstore.ObjectInfo
	// list and line say where it was named, for errors.
	list string
	line int64
}

// Reading lists: how many inventory data files are read at once, how
// many HEAD requests a key list has in flight, and how many keys one of
// them pins in turn.
const (
	inventoryFilesAhead = 4
	keyListStats        = 64 // batches in flight, each pinning its keys in turn
	keyListBatch        = 16
	listedBatch         = 1000
	// maxInventoryManifest bounds a manifest.json (a few KB per data
	// file listed).
	maxInventoryManifest = 64 << 20
)

// distinctInputs refuses a spec that names its inputs twice, which would
// read their objects twice and count their records twice: the same URL
// twice among the listed inputs, inventory reports or key lists, or an
// s3:// input (without a glob) under another, whose listing holds it.
// Objects named by different flags (a prefix and a report of it) are not
// compared: that would take a set of every object.
func distinctInputs(spec manifest.JobSpec) error {
	for _, list := range []struct {
		what string
		urls []string
	}{{"input", spec.Inputs}, {"inventory report", spec.Inventories}, {"key list", spec.KeyLists}} {
		for i, a := range list.urls {
			for _, b := range list.urls[:i] {
				if a == b {
					return functions.Permanent(fmt.Errorf("%s %s is named twice: its objects would be read twice", list.what, a))
				}
				if list.what != "input" || !strings.HasPrefix(a, "s3://") || !strings.HasPrefix(b, "s3://") {
					continue
				}
				if _, pa := splitGlob(a); pa != "" {
					continue
				}
				if _, pb := splitGlob(b); pb != "" {
					continue
				}
				if under, over := a, b; strings.HasPrefix(under, over) || strings.HasPrefix(over, under) {
					if len(under) < len(over) {
						under, over = over, under
					}
					return functions.Permanent(fmt.Errorf("input %s lies under input %s, which lists its objects too: they would be read twice (drop one)", under, over))
				}
			}
		}
	}
	return nil
}

// inventoryManifest is an S3 Inventory report's manifest.json (the fields
// the planner reads).
type inventoryManifest struct {
	SourceBucket string `json:"sourceBucket"`
	FileFormat   string `json:"fileFormat"`
	FileSchema   string `json:"fileSchema"`
	Files        []struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5Checksum string `json:"MD5checksum"`
	} `json:"files"`
}

// inventoryObjects yields the objects an S3 Inventory report lists: the
// current version of every object (older versions and delete markers are
// left out), in the order of the manifest's files and of their rows. The
// report's data files are read inventoryFilesAhead at a time.
func (e *Engine) inventoryObjects(ctx context.Context, manifestURL string) iter.Seq2[listedObject, error] {
	return func(yield func(listedObject, error) bool) {
		loc, err := objstore.ParseURL(manifestURL)
		if err != nil || loc.Scheme != "s3" {
			yield(listedObject{}, listError(manifestURL, 0, "an inventory report is an s3:// URL of its manifest.json"))
			return
		}
		b, err := e.store(ctx, loc.StoreURL(), path.Dir(loc.Prefix)+"/")
		if err != nil {
			yield(listedObject{}, fmt.Errorf("inventory %s: %w", manifestURL, err))
			return
		}
		body, err := readAll(ctx, b, loc.Prefix, maxInventoryManifest)
		if err != nil {
			yield(listedObject{}, fmt.Errorf("inventory %s: %w", manifestURL, err))
			return
		}
		var m inventoryManifest
		if err := json.Unmarshal(body, &m); err != nil {
			yield(listedObject{}, listError(manifestURL, 0, "not an inventory manifest: %w", err))
			return
		}
		if m.SourceBucket == "" {
			yield(listedObject{}, listError(manifestURL, 0, "no sourceBucket: not an inventory manifest"))
			return
		}
		var read func(ctx context.Context, url, key, md5sum string, emit func([]listedObject) bool) error
		switch strings.ToLower(m.FileFormat) {
		case "csv":
			cols, err := inventoryCSVColumns(m.FileSchema)
			if err != nil {
				yield(listedObject{}, listError(manifestURL, 0, "%w", err))
				return
			}
			read = func(ctx context.Context, url, key, md5sum string, emit func([]listedObject) bool) error {
				return readInventoryCSV(ctx, b, url, key, md5sum, m.SourceBucket, cols, emit)
			}
		case "parquet":
			read = func(ctx context.Context, url, key, _ string, emit func([]listedObject) bool) error {
				return readInventoryParquet(ctx, b, url, key, m.SourceBucket, emit)
			}
		default:
			yield(listedObject{}, listError(manifestURL, 0, "inventory file format %q is not read (CSV and Parquet are: choose one in the inventory's configuration)", m.FileFormat))
			return
		}
		files := map[string]bool{}
		for _, f := range m.Files {
			if files[f.Key] {
				yield(listedObject{}, listError(manifestURL, 0, "data file %s is listed twice: its objects would be read twice", f.Key))
				return
			}
			files[f.Key] = true
		}
		jobs := func(yield func(orderedJob[listedObject], error) bool) {
			for _, f := range m.Files {
				url := loc.StoreURL() + "/" + f.Key
				job := func(ctx context.Context, emit func([]listedObject) bool) error {
					return read(ctx, url, f.Key, f.MD5Checksum, emit)
				}
				if !yield(job, nil) {
					return
				}
			}
		}
		for obj, err := range runOrdered(ctx, inventoryFilesAhead, jobs) {
			if !yield(obj, err) || err != nil {
				return
			}
		}
	}
}

// inventoryCSVColumns reads a CSV report's fileSchema ("Bucket, Key,
// Size, ...") into the column index of each field the planner reads.
type inventoryColumns struct {
	bucket, key, version, isLatest, isDeleteMarker, size, etag, n int
}

func inventoryCSVColumns(schema string) (inventoryColumns, error) {
	c := inventoryColumns{bucket: -1, key: -1, version: -1, isLatest: -1, isDeleteMarker: -1, size: -1, etag: -1}
	fields := strings.Split(schema, ",")
	c.n = len(fields)
	for i, f := range fields {
		switch strings.TrimSpace(f) {
		case "Bucket":
			c.bucket = i
		case "Key":
			c.key = i
		case "VersionId":
			c.version = i
		case "IsLatest":
			c.isLatest = i
		case "IsDeleteMarker":
			c.isDeleteMarker = i
		case "Size":
			c.size = i
		case "ETag":
			c.etag = i
		}
	}
	var missing []string
	for name, i := range map[string]int{"Bucket": c.bucket, "Key": c.key, "Size": c.size, "ETag": c.etag} {
		if i < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("fileSchema %q lacks %s: add Size and ETag to the inventory's fields (the planner pins every object by them)", schema, strings.Join(missing, " and "))
	}
	return c, nil
}

// otherBucket is the error of an inventory row that names a bucket other
// than its report's: a report lists one bucket (its manifest's
// sourceBucket), so such a row is not S3's and reading it could run a job
// over a bucket nobody named.
func otherBucket(url string, line int64, bucket, source string) error {
	return listError(url, line, "the row names bucket %q, but the report is of bucket %q (its manifest's sourceBucket): an S3 Inventory report lists one bucket", bucket, source)
}

// readInventoryCSV reads one gzipped CSV data file of a report, checking
// its MD5 against the manifest's and that every row is of the report's
// source bucket. Keys are URL-encoded in CSV reports (a space as '+').
func readInventoryCSV(ctx context.Context, b objstore.Bucket, url, key, md5sum, source string, cols inventoryColumns, emit func([]listedObject) bool) (err error) {
	rc, _, err := b.Get(ctx, key, nil)
	if err != nil {
		return fmt.Errorf("inventory data file %s: %w", url, err)
	}
	defer func() { err = errors.Join(err, rc.Close()) }()
	var sum hash.Hash
	var r io.Reader = rc
	if md5sum != "" {
		sum = md5.New()
		r = io.TeeReader(rc, sum)
	}
	_, compression, _ := manifest.DetectFormat(key, manifest.FormatCSV)
	dr, err := codec.Decompress(r, compression, 1<<40, key)
	if err != nil {
		return listError(url, 0, "%w", err)
	}
	defer func() { err = errors.Join(err, dr.Close()) }()
	cr := csv.NewReader(bufio.NewReaderSize(dr, 256<<10))
	cr.FieldsPerRecord = cols.n
	cr.ReuseRecord = true
	batch := make([]listedObject, 0, listedBatch)
	var line int64
	var bucket, store string // the last bucket name checked, and its store
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return listError(url, line, "%w", err)
		}
		if cols.isDeleteMarker >= 0 && rec[cols.isDeleteMarker] == "true" || cols.isLatest >= 0 && rec[cols.isLatest] == "false" {
			continue
		}
		k, err := url2key(rec[cols.key])
		if err != nil {
			return listError(url, line, "key %q: %w", rec[cols.key], err)
		}
		if rec[cols.bucket] != bucket {
			if rec[cols.bucket] != source {
				return otherBucket(url, line, rec[cols.bucket], source)
			}
			if _, err := objstore.ParseURL("s3://" + rec[cols.bucket]); err != nil {
				return listError(url, line, "bucket: %w", err)
			}
			bucket, store = rec[cols.bucket], "s3://"+rec[cols.bucket]
		}
		size, err := strconv.ParseInt(rec[cols.size], 10, 64)
		if err != nil || size < 0 {
			return listError(url, line, "size %q of %s is not a size", rec[cols.size], k)
		}
		obj := listedObject{store: store, list: url, line: line,
			info: objstore.ObjectInfo{Key: k, Size: size, ETag: strings.Trim(rec[cols.etag], `"`)}}
		if cols.version >= 0 {
			obj.info.VersionID = rec[cols.version]
		}
		if obj.info.ETag == "" {
			return listError(url, line, "no ETag for %s", k)
		}
		if batch = append(batch, obj); len(batch) == listedBatch {
			if !emit(batch) {
				return ctx.Err()
			}
			batch = make([]listedObject, 0, listedBatch)
		}
	}
	if sum != nil {
		if _, err := io.Copy(io.Discard, r); err != nil { // the gzip trailer's last bytes
			return fmt.Errorf("inventory data file %s: %w", url, err)
		}
		if got := hex.EncodeToString(sum.Sum(nil)); !strings.EqualFold(got, md5sum) {
			return listError(url, 0, "MD5 %s, the manifest says %s: the file is not the one the report lists", got, md5sum)
		}
	}
	if len(batch) > 0 && !emit(batch) {
		return ctx.Err()
	}
	return nil
}

// url2key decodes a key the way S3 encodes it in inventory CSV and
// Batch Operations manifests (form encoding: '+' is a space).
func url2key(s string) (string, error) {
	k, err := url.QueryUnescape(s)
	if err == nil && k == "" {
		err = errors.New("empty key")
	}
	return k, err
}

// inventoryParquetSchema is the columns a Parquet report's rows are read
// by (AWS names them in snake case; the optional ones read as null when
// the report lacks them).
var inventoryParquetSchema = func() *functions.Schema {
	s, err := functions.ParseSchema("bucket:string,key:string,version_id:string,is_latest:string,is_delete_marker:string,size:string,e_tag:string")
	if err != nil {
		panic(err)
	}
	return s
}()

// readInventoryParquet reads one Parquet data file of a report (keys are
// not URL-encoded there), every row of the report's source bucket.
func readInventoryParquet(ctx context.Context, b objstore.Bucket, url, key, source string, emit func([]listedObject) bool) (err error) {
	info, err := b.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("inventory data file %s: %w", url, err)
	}
	in, err := codec.NewParquetInput(objstore.NewReaderAt(ctx, b, key, info.ETag, info.Size), info.Size,
		codec.ParquetOptions{Object: key, Schema: inventoryParquetSchema})
	if err != nil {
		return listError(url, 0, "%w", err)
	}
	if c, ok := in.(io.Closer); ok {
		defer func() { err = errors.Join(err, c.Close()) }()
	}
	batch := make([]listedObject, 0, listedBatch)
	var row int64
	for {
		rec, err := in.Next()
		if err == io.EOF {
			break
		}
		row++
		if err != nil {
			return listError(url, row, "%w", err)
		}
		v := rec.Row
		if v[4].Text() == "true" || v[3].Valid && v[3].Text() == "false" {
			continue
		}
		k := v[1].Text()
		size, err := strconv.ParseInt(v[5].Text(), 10, 64)
		if k == "" || v[0].Text() == "" || err != nil || size < 0 || v[6].Text() == "" {
			return listError(url, row, "row without bucket, key, size or e_tag (key %q): add Size and ETag to the inventory's fields", k)
		}
		if v[0].Text() != source {
			return otherBucket(url, row, v[0].Text(), source)
		}
		obj := listedObject{store: "s3://" + v[0].Text(), list: url, line: row,
			info: objstore.ObjectInfo{Key: k, Size: size, ETag: strings.Trim(v[6].Text(), `"`), VersionID: v[2].Text()}}
		if batch = append(batch, obj); len(batch) == listedBatch {
			if !emit(batch) {
				return ctx.Err()
			}
			batch = make([]listedObject, 0, listedBatch)
		}
	}
	if len(batch) > 0 && !emit(batch) {
		return ctx.Err()
	}
	return nil
}

// keyListObjects yields the objects a key list names, in its order, each
// pinned by a HEAD request (keyListStats in flight). A line is a key in
// the list's own store (the bucket of an s3:// list, the directory of a
// file:// one) or an s3:// or file:// URL of an object; blank lines and
// lines starting with '#' are skipped. A list whose name ends in .csv
// (compressed or not) is S3 Batch Operations' form: bucket,key with the
// key URL-encoded. A key named twice is an error: it would be read twice.
func (e *Engine) keyListObjects(ctx context.Context, listURL string, maxBytes int64) iter.Seq2[listedObject, error] {
	return func(yield func(listedObject, error) bool) {
		store, key, err := objectURL(listURL)
		if err != nil {
			yield(listedObject{}, listError(listURL, 0, "%w", err))
			return
		}
		b, err := e.store(ctx, store, path.Dir(key)+"/")
		if err != nil {
			yield(listedObject{}, fmt.Errorf("key list %s: %w", listURL, err))
			return
		}
		rc, _, err := b.Get(ctx, key, nil)
		if err != nil {
			yield(listedObject{}, fmt.Errorf("key list %s: %w", listURL, err))
			return
		}
		defer rc.Close()
		format, compression, _ := manifest.DetectFormat(key, manifest.FormatAuto)
		dr, err := codec.Decompress(rc, compression, maxBytes, key)
		if err != nil {
			yield(listedObject{}, listError(listURL, 0, "%w", err))
			return
		}
		defer dr.Close()
		base := store
		if strings.HasPrefix(store, "file://") && path.Dir(key) != "." {
			base = store + "/" + path.Dir(key)
		}
		var parseErr error
		seen := map[uint64]int64{}
		lines := func(yield func(listedObject) bool) {
			sc := bufio.NewScanner(dr)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			var n int64
			for sc.Scan() {
				n++
				line := sc.Text()
				if n == 1 {
					// A byte order mark, as Windows editors write one, is
					// not part of the first key.
					line = strings.TrimPrefix(line, "\ufeff")
				}
				obj, ok, err := keyListLine(line, format == manifest.FormatCSV, base)
				if err != nil {
					parseErr = listError(listURL, n, "%w", err)
					return
				}
				if !ok {
					continue
				}
				h := fnv.New64a()
				h.Write([]byte(obj.store))
				h.Write([]byte{0})
				h.Write([]byte(obj.info.Key))
				if first, dup := seen[h.Sum64()]; dup {
					parseErr = listError(listURL, n, "%s is named twice (line %d first): each object is read once", obj.info.Key, first)
					return
				}
				seen[h.Sum64()] = n
				obj.list, obj.line = listURL, n
				if !yield(obj) {
					return
				}
			}
			if err := sc.Err(); err != nil {
				parseErr = listError(listURL, n+1, "%w", err)
			}
		}
		// Batches of keyListBatch keys, each pinned in turn; keyListStats
		// batches at once.
		jobs := func(yield func(orderedJob[listedObject], error) bool) {
			batch := make([]listedObject, 0, keyListBatch)
			flush := func() bool {
				objs := batch
				batch = make([]listedObject, 0, keyListBatch)
				return yield(func(ctx context.Context, emit func([]listedObject) bool) error {
					for i := range objs {
						if err := e.pin(ctx, &objs[i]); err != nil {
							return err
						}
					}
					emit(objs)
					return nil
				}, nil)
			}
			for obj := range lines {
				if batch = append(batch, obj); len(batch) == keyListBatch && !flush() {
					return
				}
			}
			if len(batch) > 0 && !flush() {
				return
			}
			if parseErr != nil {
				yield(nil, parseErr)
			}
		}
		for obj, err := range runOrdered(ctx, keyListStats, jobs) {
			if !yield(obj, err) || err != nil {
				return
			}
		}
	}
}

// pin fills in an object's size and ETag with a HEAD request.
func (e *Engine) pin(ctx context.Context, obj *listedObject) error {
	b, err := e.store(ctx, obj.store, path.Dir(obj.info.Key)+"/")
	if err != nil {
		return fmt.Errorf("key list %s line %d: %w", obj.list, obj.line, err)
	}
	info, err := b.Stat(ctx, obj.info.Key)
	if errors.Is(err, objstore.ErrNotFound) {
		return listError(obj.list, obj.line, "%s/%s does not exist", obj.store, obj.info.Key)
	}
	if err != nil {
		return fmt.Errorf("key list %s line %d: %w", obj.list, obj.line, err)
	}
	obj.info = info
	return nil
}

// keyListLine parses one line of a key list; ok is false for a line that
// names nothing.
func keyListLine(line string, batchCSV bool, base string) (_ listedObject, ok bool, _ error) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
		return listedObject{}, false, nil
	}
	if batchCSV {
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil {
			return listedObject{}, false, err
		}
		if len(rec) < 2 || len(rec) > 3 {
			return listedObject{}, false, fmt.Errorf("want bucket,key[,version] (S3 Batch Operations' CSV), got %d fields", len(rec))
		}
		if len(rec) == 3 && rec[2] != "" {
			return listedObject{}, false, errors.New("a version ID is named: reading a version other than the current one is not supported")
		}
		k, err := url2key(rec[1])
		if err != nil {
			return listedObject{}, false, fmt.Errorf("key %q: %w", rec[1], err)
		}
		if _, err := objstore.ParseURL("s3://" + rec[0]); err != nil {
			return listedObject{}, false, err
		}
		return listedObject{store: "s3://" + rec[0], info: objstore.ObjectInfo{Key: k}}, true, nil
	}
	if strings.Contains(line, "://") {
		store, key, err := objectURL(line)
		if err != nil {
			return listedObject{}, false, err
		}
		return listedObject{store: store, info: objstore.ObjectInfo{Key: key}}, true, nil
	}
	if strings.HasSuffix(line, "/") {
		return listedObject{}, false, fmt.Errorf("%q names a prefix, not an object", line)
	}
	return listedObject{store: base, info: objstore.ObjectInfo{Key: line}}, true, nil
}

// objectURL splits the URL of one object into its store's URL and its
// key: s3://bucket/key, or file:///dir/name (the directory is the store).
func objectURL(raw string) (store, key string, _ error) {
	loc, err := objstore.ParseURL(raw)
	if err != nil {
		return "", "", err
	}
	if loc.Scheme == "file" {
		dir, name := path.Split(loc.Root)
		if name == "" || strings.HasSuffix(raw, "/") {
			return "", "", fmt.Errorf("%q names a directory, not an object", raw)
		}
		return objstore.Location{Scheme: "file", Root: path.Clean(dir)}.StoreURL(), name, nil
	}
	if loc.Prefix == "" || strings.HasSuffix(loc.Prefix, "/") {
		return "", "", fmt.Errorf("%q names a prefix, not an object", raw)
	}
	return loc.StoreURL(), loc.Prefix, nil
}

// orderedJob produces a run of items in batches; emit returns false when
// the consumer stopped.
type orderedJob[T any] func(ctx context.Context, emit func([]T) bool) error

// runOrdered runs the jobs, up to parallel of them ahead of the one being
// consumed, and yields their items in the jobs' order: job i's items all
// come before job i+1's whatever finished first. Each job holds at most
// two batches not yet consumed, so memory is bounded by parallel jobs'
// batches. A job's error (or the jobs sequence's) ends the sequence after
// the items before it. Every goroutine has ended when the iteration
// returns.
func runOrdered[T any](ctx context.Context, parallel int, jobs iter.Seq2[orderedJob[T], error]) iter.Seq2[T, error] {
	type future struct {
		batches chan []T
		err     error // set before batches is closed
	}
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		futures := make(chan *future, max(parallel-1, 0))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the dispatcher
			defer wg.Done()
			defer close(futures)
			for job, err := range jobs {
				f := &future{batches: make(chan []T, 2)}
				if err != nil {
					f.err = err
					close(f.batches)
				}
				select {
				case futures <- f:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(f.batches)
					f.err = job(ctx, func(b []T) bool {
						select {
						case f.batches <- b:
							return true
						case <-ctx.Done():
							return false
						}
					})
				}()
			}
		}()
		defer func() {
			cancel()
			for f := range futures {
				for range f.batches {
				}
			}
			wg.Wait()
		}()
		var zero T
		for f := range futures {
			for b := range f.batches {
				for _, t := range b {
					if !yield(t, nil) {
						return
					}
				}
			}
			if f.err != nil {
				yield(zero, f.err)
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(zero, err)
		}
	}
}
