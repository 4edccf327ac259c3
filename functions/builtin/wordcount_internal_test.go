package builtin

import (
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fanout-dev/fanout/functions"
)

// benchText returns about size bytes of lines of Zipf-distributed words:
// mostly lowercase ASCII, some capitalised, a few non-ASCII.
func benchText(size int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	vocab := make([]string, 200_000)
	for i := range vocab {
		var b strings.Builder
		for range 2 + rng.IntN(9) {
			b.WriteByte(letters[rng.IntN(len(letters))])
		}
		w := b.String()
		switch r := rng.IntN(100); {
		case r < 10:
			w = strings.ToUpper(w[:1]) + w[1:]
		case r < 13:
			w += "é"
		case r < 14:
			w = "日本" + w
		}
		vocab[i] = w
	}
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	seps := []string{" ", " ", " ", " ", ", ", ". ", "; ", " - "}
	var lines [][]byte
	for n := 0; n < size; {
		var line []byte
		for range 5 + rng.IntN(15) {
			line = append(line, vocab[zipf.Uint64()]...)
			line = append(line, seps[rng.IntN(len(seps))]...)
		}
		lines = append(lines, line)
		n += len(line) + 1
	}
	return lines
}

// linesInput replays lines as the lines format does.
type linesInput struct {
	lines [][]byte
	i     int
	rec   functions.Record
}

func (in *linesInput) Schema() *functions.Schema { return functions.LinesSchema }

func (in *linesInput) Next() (*functions.Record, error) {
	if in.i == len(in.lines) {
		return nil, io.EOF
	}
	in.rec.Raw = in.lines[in.i]
	in.rec.Row = functions.Row{functions.StringValue(string(in.rec.Raw))}
	in.i++
	return &in.rec, nil
}

// combineOutput stands in for the engine's map-side combiner: it encodes
// each row's key and merges rows with equal keys. It is a lower bound of
// what a Write costs in the engine, which also encodes and partitions.
type combineOutput struct {
	task  functions.Task
	index map[string]int
	rows  []functions.Row
	key   []byte
}

func newCombineOutput(task functions.Task) *combineOutput {
	return &combineOutput{task: task, index: map[string]int{}}
}

func (o *combineOutput) Write(row functions.Row) error {
	red := o.task.(functions.Reducer)
	s := o.task.Output()
	o.key = o.key[:0]
	for i := range red.KeyColumns() {
		o.key = appendValue(o.key, s.Columns[i].Type, row[i])
	}
	if i, ok := o.index[string(o.key)]; ok {
		return red.Merge(o.rows[i], row)
	}
	o.index[string(o.key)] = len(o.rows)
	o.rows = append(o.rows, slices.Clone(row))
	return nil
}

type discardOutput struct{}

func (discardOutput) Write(functions.Row) error { return nil }

// mapDirect is the alternative to wordCountTask.Map that the benchmark
// compares it with: a (word, 1) row per word, left to the engine to
// combine.
func mapDirect(ctx context.Context, in functions.Input, out functions.Output) error {
	var sc wordScanner
	row := make(functions.Row, 2)
	var err error
	write := func(w []byte) {
		if err == nil {
			row[0], row[1] = functions.StringValue(string(w)), functions.IntValue(1)
			err = out.Write(row)
		}
	}
	if mapErr := each(ctx, in, func(rec *functions.Record) error {
		sc.scan(rec.Raw, write)
		return err
	}); mapErr != nil {
		return mapErr
	}
	return err
}

// BenchmarkWordCountMap measures Map's throughput on generated text (MB/s
// of input), counting in Map ("local", what wordCountTask does) against
// writing a row per word ("direct"), each into a model of the engine's
// combiner and into a discarding output.
func BenchmarkWordCountMap(b *testing.B) {
	text := benchText(8 << 20)
	size := 0
	for _, l := range text {
		size += len(l) + 1
	}
	task := &wordCountTask{col: -1}
	maps := []struct {
		name string
		fn   func(context.Context, functions.Input, functions.Output) error
	}{
		{"local", task.Map},
		{"direct", mapDirect},
	}
	outputs := []struct {
		name string
		new  func() functions.Output
	}{
		{"combine", func() functions.Output { return newCombineOutput(task) }},
		{"discard", func() functions.Output { return discardOutput{} }},
	}
	for _, m := range maps {
		for _, o := range outputs {
			b.Run(m.name+"/"+o.name, func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := m.fn(context.Background(), &linesInput{lines: text}, o.new()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(size))
		var sc wordScanner
		words := 0
		for b.Loop() {
			for _, l := range text {
				sc.scan(l, func([]byte) { words++ })
			}
		}
	})
}

// TestCombineOutputMatchesMapDirect checks the benchmark's two strategies
// count alike.
func TestCombineOutputMatchesMapDirect(t *testing.T) {
	text := benchText(200 << 10)
	task := &wordCountTask{col: -1}
	results := make([]map[string]int64, 2)
	for i, fn := range []func(context.Context, functions.Input, functions.Output) error{task.Map, mapDirect} {
		out := newCombineOutput(task)
		if err := fn(context.Background(), &linesInput{lines: text}, out); err != nil {
			t.Fatal(err)
		}
		results[i] = map[string]int64{}
		for _, r := range out.rows {
			results[i][r[0].S] = r[1].I
		}
	}
	if len(results[0]) != len(results[1]) || len(results[0]) < 1000 {
		t.Fatalf("got %d and %d words", len(results[0]), len(results[1]))
	}
	for w, n := range results[0] {
		if results[1][w] != n {
			t.Fatalf("%s: got %d, want %d", w, results[1][w], n)
		}
	}
}
