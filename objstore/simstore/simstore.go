// Package simstore is a simulated S3 bucket: an objstore.Bucket held in
// memory (objects over Config.LargeObject in unlinked local files) that
// behaves like S3 where fanout's behaviour at scale depends on it, so that
// the real planner, workers and committer can run against a thousand
// simulated workers on one machine (scripts/scale.sh) and tests can hold
// a hundred thousand objects without a server. It is a simulation, not a
// storage backend: nothing survives the process.
//
// It passes the objstore conformance suite (objstoretest) like every
// backend, and adds, when configured:
//
//   - Latency. Each request waits a time to first byte drawn from a
//     log-normal distribution with median Config.FirstByte and shape
//     Config.Sigma (S3's published guidance: "100–200 ms" first byte for
//     small objects from outside AWS, tens of ms within a region; the
//     long tail is what makes stragglers), then size/Config.Bandwidth for
//     the bytes it moves (one stream's bandwidth, ~90 MB/s per
//     connection on S3).
//
//   - Request-rate limits per prefix partition. S3 serves at least 3,500
//     PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests per second per
//     partitioned prefix and answers more with 503 SlowDown. The model: a
//     partition is a range of keys; the bucket starts as one. Each
//     partition has a token bucket per class (writes: Put, Copy, Delete;
//     reads: Get, Stat, List pages) refilled at Config.WriteRate and
//     Config.ReadRate per second and holding at most one second's worth.
//     A request finding its bucket empty fails with ErrSlowDown. A
//     partition that has answered SlowDown in every second for
//     Config.SplitAfter splits at the median key of its 64 most recent
//     requests of the class it refuses, writes or reads (S3 splits to
//     spread the load it cannot serve, and documents that it scales a hot
//     prefix gradually and that this takes time; the split point and
//     delay are this model's choice). Zero SplitAfter never splits.
//
//   - Retries. Like the S3 backends (which retry 503 SlowDown under
//     objstore.DefaultRetryPolicy: 12 attempts for SlowDown), a request
//     refused with ErrSlowDown is retried with capped, jittered backoff
//     (Config.Retry); it fails with
//     ErrSlowDown only when every attempt was refused.
//
// Stats counts requests by kind (attempts, so a retried request counts
// each time), SlowDowns, partitions and the busiest partition's peak
// rate.
package simstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/btree"

	"github.com/fanout-dev/fanout/objstore"
)

var (
	_ objstore.Bucket    = (*Store)(nil)
	_ objstore.Describer = (*Store)(nil)
)

// ErrSlowDown is S3's 503 SlowDown: the request's prefix partition is
// over its request rate.
var ErrSlowDown = errors.New("simstore: 503 SlowDown: please reduce your request rate")

// S3's published request rates per prefix partition.
const (
	S3WriteRate = 3500 // PUT/COPY/POST/DELETE per second
	S3ReadRate  = 5500 // GET/HEAD per second
)

// Config sets the simulation. The zero Config is an unthrottled bucket
// without latency.
type Config struct {
	// Name names the bucket in Describe ("sim://Name").
	Name string
	// FirstByte is the median time to first byte of a request; zero
	// means none.
	FirstByte time.Duration
	// Sigma is the log-normal shape of the time to first byte; zero
	// means 0.5 (p99 about 3.2x the median).
	Sigma float64
	// Bandwidth is one request's bytes per second; zero means unlimited.
	Bandwidth int64
	// WriteRate and ReadRate are the requests per second of each prefix
	// partition (S3WriteRate and S3ReadRate are S3's); zero means no
	// limit.
	WriteRate, ReadRate float64
	// SplitAfter is how long a partition must keep throttling before it
	// splits; zero means partitions never split.
	SplitAfter time.Duration
	// Retry is how a refused request is retried: its zero fields take
	// objstore.DefaultRetryPolicy's (8 attempts, 12 for SlowDown, 100 ms
	// to 10 s; a MaxAttempts given gives SlowDown no more attempts unless
	// ThrottledAttempts is given too); its Retryable and Throttled are
	// ignored (SlowDown is both).
	Retry objstore.RetryPolicy
	// LargeObject is the size above which an object is kept in an
	// unlinked local file instead of memory; zero means 16 MiB.
	LargeObject int64
	// Seed seeds the latency draws.
	Seed uint64
}

// Request kinds counted in Stats.
const (
	KindGet    = "GET"
	KindHead   = "HEAD"
	KindList   = "LIST"
	KindPut    = "PUT"
	KindCopy   = "COPY"
	KindDelete = "DELETE"
)

// Stats is what the simulated S3 saw.
type Stats struct {
	// Requests counts attempts by kind, refused ones included.
	Requests map[string]int64
	// SlowDowns counts attempts refused with SlowDown; Failed the
	// requests that still failed with it after every retry.
	SlowDowns, Failed int64
	// Partitions is the number of prefix partitions now.
	Partitions int
	// PeakRate is the most requests one partition served in one second
	// of wall time, and PeakPartition the first key of that partition.
	PeakRate      int64
	PeakPartition string
	// Objects and Bytes are what the bucket holds now.
	Objects int
	Bytes   int64
	// Parts is every partition now, in key order, with what it admitted
	// and refused.
	Parts []PartStats
}

// PartStats is one prefix partition's account: its first key, when it
// was made (since the store's start), and the attempts it admitted
// and refused by class ([0] writes, [1] reads) and by kind.
type PartStats struct {
	Lo                string
	Born              time.Duration
	Admitted, Refused [2]int64
	RefusedByKind     map[string]int64
}

// Store is the simulated bucket. It is safe for concurrent use.
type Store struct {
	cfg   Config
	retry objstore.RetryPolicy

	*objects // shared by WithConfig's views

	rmu  sync.Mutex // latency draws
	rand *rand.Rand

	start      time.Time
	pmu        sync.Mutex // partitions and peak
	parts      []*partition
	peak       int64
	peakPrefix string

	requests  sync.Map // kind -> *atomic.Int64
	slowDowns atomic.Int64
	failed    atomic.Int64
}

// objects is a bucket's content.
type objects struct {
	mu   sync.RWMutex
	tree *btree.BTreeG[*object] // in key order, for listings
	// byKey is the tree's objects by key, for the lookups of GET, HEAD
	// and conditional writes: the B-tree's string comparisons were 5% of
	// the scale simulation's CPU.
	byKey map[string]*object
	bytes int64

	umu        sync.Mutex // open multipart uploads
	uploads    map[string]*upload
	seqUploads int64
}

type object struct {
	key  string
	data []byte
	file *os.File // large objects; unlinked
	size int64
	etag string
	mod  time.Time
}

// New returns an empty simulated bucket.
func New(cfg Config) *Store {
	return newStore(cfg, &objects{
		tree:    btree.NewG(32, func(a, b *object) bool { return a.key < b.key }),
		byKey:   map[string]*object{},
		uploads: map[string]*upload{},
	})
}

func newStore(cfg Config, objs *objects) *Store {
	if cfg.Sigma == 0 {
		cfg.Sigma = 0.5
	}
	if cfg.LargeObject <= 0 {
		cfg.LargeObject = 16 << 20
	}
	slowDown := func(err error) bool { return errors.Is(err, ErrSlowDown) }
	retry := objstore.DefaultRetryPolicy(slowDown, slowDown)
	if cfg.Retry.MaxAttempts > 0 {
		retry.MaxAttempts = cfg.Retry.MaxAttempts
		retry.ThrottledAttempts = cfg.Retry.ThrottledAttempts // none extra unless given
	} else if cfg.Retry.ThrottledAttempts > 0 {
		retry.ThrottledAttempts = cfg.Retry.ThrottledAttempts
	}
	if cfg.Retry.BaseDelay > 0 {
		retry.BaseDelay = cfg.Retry.BaseDelay
	}
	if cfg.Retry.MaxDelay > 0 {
		retry.MaxDelay = cfg.Retry.MaxDelay
	}
	return &Store{
		cfg:     cfg,
		retry:   retry,
		objects: objs,
		rand:    rand.New(rand.NewPCG(cfg.Seed, 0x5157)),
		parts:   []*partition{newPartition("", cfg)},
		start:   time.Now(),
	}
}

// WithConfig returns a view of the same bucket under another
// configuration, with partitions and Stats of its own: a simulation
// writes its input through an unthrottled view and runs against a
// throttled one.
func (s *Store) WithConfig(cfg Config) *Store { return newStore(cfg, s.objects) }

// Describe implements objstore.Describer.
func (s *Store) Describe() string { return "sim://" + s.cfg.Name }

// Stats returns what the store saw so far.
func (s *Store) Stats() Stats {
	st := Stats{Requests: map[string]int64{}, SlowDowns: s.slowDowns.Load(), Failed: s.failed.Load()}
	s.requests.Range(func(k, v any) bool {
		st.Requests[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	s.pmu.Lock()
	st.Partitions, st.PeakRate, st.PeakPartition = len(s.parts), s.peak, s.peakPrefix
	for _, p := range s.parts {
		if p.count > st.PeakRate {
			st.PeakRate, st.PeakPartition = p.count, p.lo
		}
		ps := PartStats{Lo: p.lo, Born: p.born.Sub(s.start), Admitted: p.admitted, Refused: p.refused, RefusedByKind: map[string]int64{}}
		for k, v := range p.refusedByKind {
			ps.RefusedByKind[k] = v
		}
		st.Parts = append(st.Parts, ps)
	}
	s.pmu.Unlock()
	s.mu.RLock()
	st.Objects, st.Bytes = s.tree.Len(), s.bytes
	s.mu.RUnlock()
	return st
}

func (s *Store) count(kind string) {
	c, ok := s.requests.Load(kind)
	if !ok {
		c, _ = s.requests.LoadOrStore(kind, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

// request runs op as one S3 request of kind on key: admitted by the key's
// partition, after the time to first byte and the transfer of size bytes
// (-1: op's result decides, see sized), retried while SlowDown.
func (s *Store) request(ctx context.Context, kind, key string, size int64, op func() error) error {
	err := objstore.Retry(ctx, func(ctx context.Context) error {
		s.count(kind)
		if err := s.admit(kind, key); err != nil {
			s.slowDowns.Add(1)
			return err
		}
		if err := s.wait(ctx, s.latency(size)); err != nil {
			return err
		}
		return op()
	}, s.retry)
	if errors.Is(err, ErrSlowDown) {
		s.failed.Add(1)
	}
	if err != nil {
		return fmt.Errorf("simstore: %s %q: %w", kind, key, err)
	}
	return nil
}

// latency draws a time to first byte and adds the transfer of size
// bytes.
func (s *Store) latency(size int64) time.Duration {
	var d time.Duration
	if s.cfg.FirstByte > 0 {
		s.rmu.Lock()
		z := s.rand.NormFloat64()
		s.rmu.Unlock()
		d = time.Duration(float64(s.cfg.FirstByte) * math.Exp(s.cfg.Sigma*z))
	}
	return d + s.transfer(size)
}

func (s *Store) transfer(size int64) time.Duration {
	if s.cfg.Bandwidth <= 0 || size <= 0 {
		return 0
	}
	return time.Duration(float64(size) / float64(s.cfg.Bandwidth) * float64(time.Second))
}

// wait lets d pass, or less when ctx ends first.
//
// It sleeps in steps of at most waitStep, looking at ctx between them,
// rather than selecting on ctx and a timer: a timer and its channel a
// request were the simulator's largest allocation (about a tenth of the
// scale simulation's allocations, and the collector's work with them),
// and time.Sleep reuses its goroutine's timer. A cancelled request
// returns at the end of its current step.
func (s *Store) wait(ctx context.Context, d time.Duration) error {
	for d > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		step := min(d, waitStep)
		time.Sleep(step)
		d -= step
	}
	return ctx.Err()
}

// waitStep bounds how long wait sleeps before it looks at its context.
const waitStep = 20 * time.Millisecond

func checkKey(key string) error {
	switch {
	case key == "", len(key) > 1024, !utf8.ValidString(key), bytes.IndexByte([]byte(key), 0) >= 0:
		return fmt.Errorf("simstore: key %q: %w", truncate(key), objstore.ErrInvalidKey)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func (s *Store) lookup(key string) (*object, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.byKey[key]
	return o, ok
}

func (o *object) info() objstore.ObjectInfo {
	return objstore.ObjectInfo{Key: o.key, Size: o.size, ETag: o.etag, ModTime: o.mod}
}

// Stat implements objstore.Bucket.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return objstore.ObjectInfo{}, err
	}
	var info objstore.ObjectInfo
	err := s.request(ctx, KindHead, key, 0, func() error {
		o, ok := s.lookup(key)
		if !ok {
			return objstore.ErrNotFound
		}
		info = o.info()
		return nil
	})
	return info, err
}

// Get implements objstore.Bucket.
func (s *Store) Get(ctx context.Context, key string, opts *objstore.GetOptions) (io.ReadCloser, objstore.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	var o objstore.GetOptions
	if opts != nil {
		o = *opts
	}
	if o.Offset < 0 {
		return nil, objstore.ObjectInfo{}, fmt.Errorf("simstore: get %q: negative offset %d", key, o.Offset)
	}
	var obj *object
	err := s.request(ctx, KindGet, key, 0, func() error {
		var ok bool
		if obj, ok = s.lookup(key); !ok {
			return objstore.ErrNotFound
		}
		if o.IfMatch != "" && o.IfMatch != obj.etag {
			return objstore.ErrPrecondition
		}
		return nil
	})
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	from := min(o.Offset, obj.size)
	to := obj.size
	if o.Length > 0 {
		to = min(to, from+o.Length)
	}
	if err := s.wait(ctx, s.transfer(to-from)); err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	var r io.Reader
	if obj.file != nil {
		r = io.NewSectionReader(obj.file, from, to-from)
	} else {
		r = bytes.NewReader(obj.data[from:to])
	}
	return io.NopCloser(objstore.ContextReader(ctx, r)), obj.info(), nil
}

// body is a Put's body read before the request: in memory, or in an
// unlinked file past the large-object size.
type body struct {
	data []byte
	file *os.File
	size int64
	etag string
}

func (s *Store) readBody(ctx context.Context, r io.Reader, want int64) (*body, error) {
	if r == nil {
		r = bytes.NewReader(nil)
	}
	if l, ok := r.(interface{ Len() int }); ok && want <= 0 {
		want = int64(l.Len()) // a body in memory: read it into its size at once
	}
	r = objstore.ContextReader(ctx, r)
	h := md5.New()
	if want > 0 && want <= s.cfg.LargeObject {
		// Its size known: read into that many bytes at once (a
		// bytes.Buffer grown to it reallocates to read on: a marker's
		// PUT and an upload's part did, every one).
		data := make([]byte, want)
		tr := io.TeeReader(r, h)
		if n, err := io.ReadFull(tr, data); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("body of %d bytes, Size says %d", n, want)
			}
			return nil, err
		}
		var one [1]byte
		if n, _ := io.ReadFull(tr, one[:]); n > 0 {
			return nil, fmt.Errorf("body of more than %d bytes, Size says %d", want, want)
		}
		return &body{size: want, data: data, etag: hex.EncodeToString(h.Sum(nil))}, nil
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.TeeReader(io.LimitReader(r, s.cfg.LargeObject+1), h))
	if err != nil {
		return nil, err
	}
	b := &body{size: n}
	if n <= s.cfg.LargeObject {
		b.data = buf.Bytes()
		if cap(b.data)-len(b.data) > len(b.data)/8 {
			// bytes.Buffer reads into at least 512 bytes: a bucket of a
			// million small objects (the scale simulation's inputs and
			// markers) would hold mostly unused capacity.
			b.data = bytes.Clone(b.data)
		}
	} else {
		if b.file, err = spill(buf.Bytes(), r, h); err != nil {
			return nil, err
		}
		st, err := b.file.Stat()
		if err != nil {
			b.file.Close()
			return nil, err
		}
		b.size = st.Size()
	}
	if want > 0 && b.size != want {
		b.release()
		return nil, fmt.Errorf("body of %d bytes, Size says %d", b.size, want)
	}
	b.etag = hex.EncodeToString(h.Sum(nil))
	return b, nil
}

func spill(head []byte, rest io.Reader, h hash.Hash) (*os.File, error) {
	f, err := os.CreateTemp("", "simstore-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if _, err := f.Write(head); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := io.Copy(f, io.TeeReader(rest, h)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (b *body) release() {
	if b.file != nil {
		b.file.Close()
	}
}

// Put implements objstore.Bucket. The body is read whole first, as the
// S3 backends buffer a part, so that a refused request can be retried.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *objstore.PutOptions) (objstore.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return objstore.ObjectInfo{}, err
	}
	var o objstore.PutOptions
	if opts != nil {
		o = *opts
	}
	b, err := s.readBody(ctx, r, o.Size)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("simstore: put %q: %w", key, err)
	}
	var info objstore.ObjectInfo
	err = s.request(ctx, KindPut, key, b.size, func() error {
		obj := &object{key: key, data: b.data, file: b.file, size: b.size, etag: b.etag, mod: time.Now().UTC()}
		if err := s.store(obj, o.IfNoneMatch, o.IfMatch); err != nil {
			return err
		}
		info = obj.info()
		return nil
	})
	if err != nil {
		b.release()
	}
	return info, err
}

// store replaces key's object under the conditions, atomically.
func (s *Store) store(obj *object, ifNoneMatch bool, ifMatch string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byKey[obj.key]
	switch {
	case ifNoneMatch && ok:
		return objstore.ErrPrecondition
	case ifMatch != "" && !ok:
		return objstore.ErrNotFound
	case ifMatch != "" && old.etag != ifMatch:
		return objstore.ErrPrecondition
	}
	if ok {
		s.bytes -= old.size
	}
	s.tree.ReplaceOrInsert(obj)
	s.byKey[obj.key] = obj
	s.bytes += obj.size
	return nil
}

// Copy implements objstore.Bucket.
func (s *Store) Copy(ctx context.Context, dst, src string, opts *objstore.CopyOptions) (objstore.ObjectInfo, error) {
	if err := checkKey(dst); err != nil {
		return objstore.ObjectInfo{}, err
	}
	if err := checkKey(src); err != nil {
		return objstore.ObjectInfo{}, err
	}
	var info objstore.ObjectInfo
	err := s.request(ctx, KindCopy, dst, 0, func() error {
		from, ok := s.lookup(src)
		if !ok {
			return objstore.ErrNotFound
		}
		if opts != nil && opts.IfMatch != "" && opts.IfMatch != from.etag {
			return objstore.ErrPrecondition
		}
		// Objects are immutable once stored: the copy shares the bytes.
		obj := &object{key: dst, data: from.data, file: from.file, size: from.size, etag: from.etag, mod: time.Now().UTC()}
		if err := s.store(obj, false, ""); err != nil {
			return err
		}
		info = obj.info()
		return nil
	})
	return info, err
}

// Delete implements objstore.Bucket.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return s.request(ctx, KindDelete, key, 0, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if old, ok := s.tree.Delete(&object{key: key}); ok {
			delete(s.byKey, key)
			s.bytes -= old.size
		}
		return nil
	})
}

// List implements objstore.Bucket: one LIST request per page.
func (s *Store) List(ctx context.Context, prefix string, opts *objstore.ListOptions) iter.Seq2[objstore.ObjectInfo, error] {
	pageSize := 1000
	after := ""
	if opts != nil {
		if opts.PageSize > 0 {
			pageSize = min(opts.PageSize, 1000)
		}
		after = opts.StartAfter
	}
	return func(yield func(objstore.ObjectInfo, error) bool) {
		from, inclusive := prefix, true
		if after >= prefix {
			from, inclusive = after, false
		}
		for {
			var page []objstore.ObjectInfo
			err := s.request(ctx, KindList, from, 0, func() error {
				page = page[:0]
				s.mu.RLock()
				defer s.mu.RUnlock()
				s.tree.AscendGreaterOrEqual(&object{key: from}, func(o *object) bool {
					if !inclusive && o.key == from {
						return true
					}
					if len(o.key) < len(prefix) || o.key[:len(prefix)] != prefix {
						return false
					}
					page = append(page, o.info())
					return len(page) < pageSize
				})
				return nil
			})
			if err != nil {
				yield(objstore.ObjectInfo{}, err)
				return
			}
			for _, info := range page {
				if !yield(info, nil) {
					return
				}
			}
			if len(page) < pageSize {
				return
			}
			from, inclusive = page[len(page)-1].Key, false
		}
	}
}

// ListDirs implements objstore.DirLister: one LIST request per page of
// up to 1,000 common prefixes, as S3's ListObjectsV2 with the delimiter
// "/" makes.
func (s *Store) ListDirs(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		from, inclusive, last := prefix, true, ""
		for {
			var page []string
			err := s.request(ctx, KindList, from, 0, func() error {
				page = page[:0]
				f, incl, l := from, inclusive, last
				s.mu.RLock()
				defer s.mu.RUnlock()
				for len(page) < 1000 {
					found := false
					s.tree.AscendGreaterOrEqual(&object{key: f}, func(o *object) bool {
						if !incl && o.key == f {
							return true
						}
						if !strings.HasPrefix(o.key, prefix) {
							return false
						}
						rest := o.key[len(prefix):]
						i := strings.IndexByte(rest, '/')
						if i < 0 {
							return true // an object directly under prefix
						}
						dir := prefix + rest[:i+1]
						if dir == l {
							return true
						}
						page, l, found = append(page, dir), dir, true
						// Past dir's keys (no UTF-8 key continues dir
						// with 0xff): the next dir.
						f, incl = dir+"\xff", true
						return false
					})
					if !found {
						break
					}
				}
				return nil
			})
			if err != nil {
				yield("", err)
				return
			}
			for _, d := range page {
				if !yield(d, nil) {
					return
				}
			}
			if len(page) < 1000 {
				return
			}
			last = page[len(page)-1]
			from, inclusive = last+"\xff", true
		}
	}
}

// ---- partitions ----

type partition struct {
	lo      string
	tokens  [2]float64 // write, read
	last    time.Time
	since   time.Time // first SlowDown of the current throttled stretch
	lastHot time.Time // latest SlowDown
	// recent holds the 64 most recent keys requested of each class
	// (attempts, refused ones included), n counts them.
	recent [2][64]string
	n      [2]int
	second int64 // unix second of count
	count  int64

	born              time.Time
	admitted, refused [2]int64
	refusedByKind     map[string]int64
}

func newPartition(lo string, cfg Config) *partition {
	now := time.Now()
	return &partition{lo: lo, tokens: [2]float64{cfg.WriteRate, cfg.ReadRate}, last: now, born: now, refusedByKind: map[string]int64{}}
}

func class(kind string) int {
	switch kind {
	case KindPut, KindCopy, KindDelete, KindCreateUpload, KindUploadPart, KindCompleteUpload, KindAbortUpload, KindDeleteObjects:
		return 0
	}
	return 1
}

// admit takes a token of the key's partition, or reports SlowDown.
func (s *Store) admit(kind, key string) error {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	i := sort.Search(len(s.parts), func(i int) bool { return s.parts[i].lo > key }) - 1
	p := s.parts[max(i, 0)]
	now := time.Now()
	if sec := now.Unix(); sec != p.second {
		if p.count > s.peak {
			s.peak, s.peakPrefix = p.count, p.lo
		}
		p.second, p.count = sec, 0
	}
	p.count++
	c := class(kind)
	p.recent[c][p.n[c]%len(p.recent[c])] = key
	p.n[c]++
	rate := [2]float64{s.cfg.WriteRate, s.cfg.ReadRate}
	if rate[c] <= 0 {
		p.admitted[c]++
		return nil
	}
	dt := now.Sub(p.last).Seconds()
	p.last = now
	for k := range p.tokens {
		p.tokens[k] = min(rate[k], p.tokens[k]+rate[k]*dt)
	}
	if p.tokens[c] >= 1 {
		p.tokens[c]--
		p.admitted[c]++
		return nil
	}
	p.refused[c]++
	p.refusedByKind[kind]++
	if p.since.IsZero() || now.Sub(p.lastHot) > time.Second {
		p.since = now
	}
	p.lastHot = now
	if s.cfg.SplitAfter > 0 && now.Sub(p.since) >= s.cfg.SplitAfter {
		s.split(max(i, 0), c)
	}
	return ErrSlowDown
}

// split divides partition i at the median of its recent keys of class c,
// the class it refuses: a partition throttled for its writes splits where
// its writes are, whatever it serves of the other class. (Until December
// 7 the median was of all its recent requests: a partition holding the
// markers of a job and the input its workers read, refusing writes,
// split at the median of mostly reads, in the input's keys, which moved
// none of its writes away; the scale simulation's map stage then ran at
// the rate of one partition's writes.)
func (s *Store) split(i, c int) {
	p := s.parts[i]
	keys := make([]string, 0, len(p.recent[c]))
	for _, k := range p.recent[c][:min(p.n[c], len(p.recent[c]))] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mid := keys[len(keys)/2]
	if mid <= p.lo || (i+1 < len(s.parts) && mid >= s.parts[i+1].lo) {
		return // every recent request was for one key: no split helps
	}
	p.since = time.Time{}
	q := newPartition(mid, s.cfg)
	s.parts = append(s.parts, nil)
	copy(s.parts[i+2:], s.parts[i+1:])
	s.parts[i+1] = q
}
