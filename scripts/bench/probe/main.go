// Command probe holds the measurements scripts/bench.sh needs besides
// fanout's own runs and the references in scripts/bench/ref. Each
// subcommand prints one line of "key value" pairs.
//
//	probe s3rate -bucket B -prefix P -n N -c C
//	    raw MinIO/S3 rates with minio-go: N PUTs of 1 KiB objects under P
//	    (C at once), N GETs of them, then a listing of P.
//	    Prints: put_per_s X get_per_s Y list_keys_per_s Z
//	probe noop -in URL -out URL [-redis URL] -workers W
//	    a job of one chunk per input object whose function reads nothing:
//	    each chunk costs its marker (and the check that it has none). On
//	    Redis when -redis is set, in memory otherwise.
//	    Prints: chunks N map_s X chunks_per_s Y total_s Z
//	probe list -url URL
//	    iterates a listing through objstore, as the planner does.
//	    Prints: keys N list_s X
//	probe rss -- COMMAND ARGS...
//	    runs a command and reports its peak resident set (getrusage).
//	    Prints: rss_mib X secs Y
//	probe files -dir D -n N
//	    creates N one-line files in D (100 per subdirectory).
//
// S3 credentials and endpoint come from the environment, as for fanout.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/memqueue"
	"github.com/fanout-dev/fanout/fanout/redisqueue"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
	"github.com/fanout-dev/fanout/objstore/bucketurl"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe s3rate|noop|list|rss|files ...")
		os.Exit(2)
	}
	ctx := context.Background()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "s3rate":
		err = s3rate(ctx, args)
	case "noop":
		err = noop(ctx, args)
	case "list":
		err = list(ctx, args)
	case "rss":
		err = rss(args)
	case "files":
		err = files(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

// s3Endpoint is the S3 endpoint from the environment, as the fanout
// commands read it.
func s3Endpoint() string {
	if e := os.Getenv("AWS_ENDPOINT_URL_S3"); e != "" {
		return e
	}
	return os.Getenv("AWS_ENDPOINT_URL")
}

// bucketOptions are the options the fanout commands would open stores
// with in this environment (the endpoint and region; the rest default).
func bucketOptions() bucketurl.Options {
	return bucketurl.Options{Endpoint: s3Endpoint(), Region: os.Getenv("AWS_REGION")}
}

func minioClient() (*minio.Client, error) {
	endpoint := s3Endpoint()
	secure := strings.HasPrefix(endpoint, "https://")
	host := strings.TrimPrefix(strings.TrimPrefix(endpoint, "https://"), "http://")
	if host == "" {
		return nil, errors.New("set AWS_ENDPOINT_URL_S3")
	}
	region := os.Getenv("AWS_REGION")
	return minio.New(host, &minio.Options{Secure: secure, Region: region,
		Creds: credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), "")})
}

// s3rate measures small PUTs, small GETs and listing on the raw client.
func s3rate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("s3rate", flag.ExitOnError)
	bucket := fs.String("bucket", "", "bucket (must exist)")
	prefix := fs.String("prefix", "small/", "key prefix")
	n := fs.Int("n", 10000, "objects")
	c := fs.Int("c", 4, "requests at once")
	fs.Parse(args)
	cl, err := minioClient()
	if err != nil {
		return err
	}
	body := bytes.Repeat([]byte("x"), 1023)
	body = append(body, '\n')
	key := func(i int) string { return fmt.Sprintf("%s%03d/obj-%07d.txt", *prefix, i%1000, i) }
	each := func(fn func(i int) error) (float64, error) {
		var next atomic.Int64
		g, gctx := errgroup.WithContext(ctx)
		start := time.Now()
		for range *c {
			g.Go(func() error {
				for i := int(next.Add(1)) - 1; i < *n && gctx.Err() == nil; i = int(next.Add(1)) - 1 {
					if err := fn(i); err != nil {
						return err
					}
				}
				return nil
			})
		}
		err := g.Wait()
		return float64(*n) / time.Since(start).Seconds(), err
	}
	put, err := each(func(i int) error {
		_, err := cl.PutObject(ctx, *bucket, key(i), bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		return err
	})
	if err != nil {
		return err
	}
	get, err := each(func(i int) error {
		o, err := cl.GetObject(ctx, *bucket, key(i), minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer o.Close()
		_, err = io.Copy(io.Discard, o)
		return err
	})
	if err != nil {
		return err
	}
	start := time.Now()
	keys := 0
	for o := range cl.ListObjects(ctx, *bucket, minio.ListObjectsOptions{Prefix: *prefix, Recursive: true}) {
		if o.Err != nil {
			return o.Err
		}
		keys++
	}
	fmt.Printf("put_per_s %.1f get_per_s %.1f list_keys_per_s %.1f\n", put, get, float64(keys)/time.Since(start).Seconds())
	return nil
}

// noopFn reads nothing and writes nothing: a chunk costs only the
// engine's own requests.
type noopFn struct{}

func (noopFn) Name() string     { return "noop" }
func (noopFn) Describe() string { return "does nothing" }
func (noopFn) Prepare(functions.Params) (functions.Task, error) {
	return noopTask{}, nil
}

type noopTask struct{}

func (noopTask) Output() *functions.Schema { return functions.LinesSchema }
func (noopTask) Map(context.Context, functions.Input, functions.Output) error {
	return nil
}

func noop(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("noop", flag.ExitOnError)
	in := fs.String("in", "", "input URL (one chunk per object)")
	out := fs.String("out", "", "output URL")
	redisURL := fs.String("redis", "", "Redis URL (empty: in memory)")
	workers := fs.Int("workers", 4, "chunks at once")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	reg := functions.NewRegistry()
	reg.Register(noopFn{})
	var q fanout.Queue
	var admin fanout.QueueAdmin
	if *redisURL != "" {
		rq, err := redisqueue.New(ctx, redisqueue.Config{URL: *redisURL, Prefix: fmt.Sprintf("probe-%d", os.Getpid())})
		if err != nil {
			return err
		}
		defer rq.Close()
		q, admin = rq, rq
	} else {
		mq := memqueue.New(memqueue.Config{})
		q, admin = mq, mq
	}
	e, err := fanout.New(fanout.Config{Queue: q, Admin: admin, Functions: reg,
		Open: func(ctx context.Context, u string) (objstore.Bucket, error) {
			b, _, err := bucketurl.Open(ctx, u, bucketOptions())
			return b, err
		}})
	if err != nil {
		return err
	}
	defer e.Close()
	spec := manifest.JobSpec{Inputs: []string{*in}, Function: "noop", Format: "lines", Output: *out,
		OutputFormat: "lines", MaxObjectsPerChunk: 1, Nonce: fmt.Sprint(time.Now().UnixNano())}.WithDefaults()
	start := time.Now()
	info, err := e.Submit(ctx, spec)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var first, last time.Time
	chunks := 0
	observe := func(ev fanout.ChunkEvent) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if first.IsZero() {
			first = now.Add(-ev.Duration)
		}
		last = now
		if ev.Outcome == fanout.OutcomeDone {
			chunks++
		}
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.Work(wctx, fanout.WorkOptions{Concurrency: *workers, Job: info.Job, Observe: observe, IdlePoll: 50 * time.Millisecond})
	}()
	res, err := e.Wait(ctx, spec.Output, info.Job, fanout.RunOptions{})
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	if res.State != fanout.StateCommitted || chunks != info.Manifest.Chunks {
		return fmt.Errorf("job %s: state %s, %d of %d chunks done here", info.Job, res.State, chunks, info.Manifest.Chunks)
	}
	mapSecs := last.Sub(first).Seconds()
	fmt.Printf("chunks %d map_s %.3f chunks_per_s %.1f total_s %.3f\n", chunks, mapSecs, float64(chunks)/mapSecs, time.Since(start).Seconds())
	return nil
}

func list(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("list", flag.ExitOnError)
	u := fs.String("url", "", "bucket URL with prefix")
	fs.Parse(args)
	start := time.Now()
	b, prefix, err := bucketurl.Open(ctx, *u, bucketOptions())
	if err != nil {
		return err
	}
	keys := 0
	for _, err := range b.List(ctx, prefix.Prefix, nil) {
		if err != nil {
			return err
		}
		keys++
	}
	fmt.Printf("keys %d list_s %.3f\n", keys, time.Since(start).Seconds())
	return nil
}

func rss(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("rss: no command")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return errors.New("rss: no rusage on this system")
	}
	fmt.Printf("rss_mib %.1f secs %.3f\n", float64(ru.Maxrss)/1024, time.Since(start).Seconds())
	return nil
}

func files(args []string) error {
	fs := flag.NewFlagSet("files", flag.ExitOnError)
	dir := fs.String("dir", "", "directory")
	n := fs.Int("n", 1000, "files")
	fs.Parse(args)
	for i := range *n {
		sub := filepath.Join(*dir, fmt.Sprintf("d%05d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%07d.txt", i)), []byte("x\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}
