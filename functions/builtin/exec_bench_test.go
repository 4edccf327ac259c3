package builtin_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions/builtin"
)

// BenchmarkExecStreamVsPerChunk pipes chunks of 64 KiB of lines through a
// Python program that upper-cases them, one operation per chunk: once
// started per chunk (mode=chunk, plain lines), once kept running
// (mode=stream, the JSON lines protocol of examples/exec-stream/upper.py).
// It reports the programs started per 1,000 chunks and the throughput
// (scripts/bench.sh runs it with -benchtime 1000x).
func BenchmarkExecStreamVsPerChunk(b *testing.B) {
	needPrograms(b, "python3")
	env, err := builtin.ExecEnv(os.Environ(), nil)
	if err != nil {
		b.Fatal(err)
	}
	var chunk []string
	size := 0
	for i := 0; size < 64<<10; i++ {
		l := fmt.Sprintf("%08d the quick brown fox jumps over the lazy dog", i)
		chunk = append(chunk, l)
		size += len(l) + 1
	}
	stream, _ := streamExampleCmd()
	for _, mode := range []struct {
		name string
		args map[string]string
	}{
		{"mode=chunk", map[string]string{"cmd": `python3 -c "import sys; sys.stdout.writelines(l.upper() for l in sys.stdin)"`}},
		{"mode=stream", map[string]string{"cmd": stream, "mode": "stream"}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			pool := builtin.NewExecPool()
			defer pool.Close()
			fn := builtin.Exec{Env: env, Pool: pool}
			b.SetBytes(int64(size))
			for range b.N {
				out, _, err := run(b, fn, mode.args, lines(chunk...))
				if err != nil {
					b.Fatal(err)
				}
				if len(out.rows) != len(chunk) || out.rows[0][0].S != strings.ToUpper(chunk[0]) {
					b.Fatalf("%d rows, first %q", len(out.rows), out.rows[0][0].S)
				}
			}
			starts := float64(b.N) // one per chunk
			if mode.args["mode"] == "stream" {
				starts = float64(pool.Starts())
			}
			b.ReportMetric(starts*1000/float64(b.N), "starts/1000chunks")
		})
	}
}
