package fanout_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/functions"
	"github.com/fanout-dev/fanout/functions/builtin"
	"github.com/fanout-dev/fanout/manifest"
)

// lagFn copies lines; the first attempt at a chunk holding the line
// "slow" takes lag (or until cancelled), as on a worker with a bad disk
// or a noisy neighbour. Later attempts run at full speed.
type lagFn struct {
	lag  time.Duration
	mu   *sync.Mutex
	seen map[string]bool
}

func newLagFn(lag time.Duration) lagFn {
	return lagFn{lag: lag, mu: &sync.Mutex{}, seen: map[string]bool{}}
}

func (f lagFn) Name() string { return "lag" }
func (f lagFn) Describe() string {
	return "copies lines; slow on the first attempt at a chunk holding \"slow\""
}
func (f lagFn) Prepare(functions.Params) (functions.Task, error) {
	return lagTask{f}, nil
}

type lagTask struct{ f lagFn }

func (lagTask) Output() *functions.Schema { return functions.LinesSchema }
func (t lagTask) Map(ctx context.Context, in functions.Input, out functions.Output) error {
	for {
		rec, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if string(rec.Raw) == "slow" {
			t.f.mu.Lock()
			first := !t.f.seen[rec.Object]
			t.f.seen[rec.Object] = true
			t.f.mu.Unlock()
			if first {
				select {
				case <-ctx.Done():
					return context.Cause(ctx)
				case <-time.After(t.f.lag):
				}
			}
		}
		if err := out.Write(functions.Row{functions.StringValue(string(rec.Raw))}); err != nil {
			return err
		}
	}
}

// stragglerJob writes n one-chunk objects, one of them slow, and returns
// the spec of a lag job over them and the lines it must output.
func stragglerJob(t testing.TB, n int, backupAfter float64) (manifest.JobSpec, []string, string) {
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	files := map[string][]byte{}
	var want []string
	for i := range n {
		lines := []string{fmt.Sprintf("object %d line 1", i), fmt.Sprintf("object %d line 2", i)}
		if i == n/2 {
			lines = append(lines, "slow")
		}
		files[fmt.Sprintf("in-%03d.txt", i)] = []byte(strings.Join(lines, "\n") + "\n")
		want = append(want, lines...)
	}
	writeFiles(t, in, files)
	slices.Sort(want)
	spec := manifest.JobSpec{Inputs: []string{"file://" + in + "/"}, Function: "lag", Format: "lines",
		Output: "file://" + out + "/", OutputFormat: "lines", MaxObjectsPerChunk: 1,
		Lease: manifest.Duration(3 * time.Second), BackupAfter: backupAfter}.WithDefaults()
	return spec, want, out
}

// A chunk stuck on a slow attempt gets a backup attempt once it has run
// BackupAfter times the median (and BackupMinAge); the backup publishes,
// the job commits without waiting for the straggler, and every record is
// in the output once.
func TestStragglerGetsABackupAttempt(t *testing.T) {
	reg := builtin.Registry()
	reg.Register(newLagFn(5 * time.Minute))
	e := newEngine(t, reg)
	spec, want, out := stragglerJob(t, 8, 2)
	done := make(chan struct{})
	var res fanout.Result
	var err error
	go func() {
		defer close(done)
		res, err = e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the job waited for its straggler: no backup attempt ran")
	}
	if err != nil {
		t.Fatal(err)
	}
	// The straggler's chunk is won by its backup (its first attempt
	// lags 5 minutes; the job ended long before). Under a loaded machine
	// another chunk may also run past twice the median and BackupMinAge
	// and lose to its own backup: legitimate, and its records are still
	// in the output once (checked below).
	if res.Backups < 1 || res.Backups > 8 {
		t.Errorf("commit record says %d chunk(s) won by a backup, want 1 (the straggler's), at most one per chunk", res.Backups)
	} else if res.Backups > 1 {
		t.Logf("%d chunks won by a backup: the straggler's and %d that ran slowly on this machine", res.Backups, res.Backups-1)
	}
	got := readOutputLines(t, out)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("output lines:\n%q\nwant\n%q", got, want)
	}
}

// Without backups the same job waits for its straggler (here 3s, to keep
// the test short) and reports none.
func TestNoBackupWhenDisabled(t *testing.T) {
	reg := builtin.Registry()
	reg.Register(newLagFn(3 * time.Second))
	e := newEngine(t, reg)
	spec, want, out := stragglerJob(t, 8, 0)
	start := time.Now()
	res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backups != 0 || time.Since(start) < 3*time.Second {
		t.Errorf("backups %d after %v; want none, and the job waiting for its 3s straggler", res.Backups, time.Since(start))
	}
	got := readOutputLines(t, out)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("output lines:\n%q\nwant\n%q", got, want)
	}
}

// BenchmarkStragglers runs a job of 16 chunks, one of whose first attempt
// is 20x slower than the others' (a slow worker), with and without backup
// attempts, and reports the job's wall time.
func BenchmarkStragglers(b *testing.B) {
	for _, backups := range []float64{0, 4} {
		b.Run(fmt.Sprintf("backup-after=%v", backups), func(b *testing.B) {
			for range b.N {
				reg := builtin.Registry()
				reg.Register(newLagFn(20 * time.Second))
				e := newEngine(b, reg)
				spec, _, _ := stragglerJob(b, 16, backups)
				start := time.Now()
				res, err := e.Run(context.Background(), spec, fanout.RunOptions{Workers: 2})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "job-s")
				b.ReportMetric(float64(res.Backups), "backups")
			}
		})
	}
}
