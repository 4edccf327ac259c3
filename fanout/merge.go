package fanout

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/fanout-dev/fanout/manifest"
	"github.com/fanout-dev/fanout/objstore"
)

// openParallelism bounds the ranged GETs a reduce merge step opens at
// once (their first bytes arrive in parallel instead of one by one).
const openParallelism = 16

// mergeInput is one sorted stream of a reduce merge: a map file's range
// of the partition, or a local run an earlier step wrote.
type mergeInput struct {
	entry manifest.ShuffleEntry
	run   string // path of a local run; "" for a map file
}

// reduceMerge merges one reduce partition's inputs in steps of bounded
// fan-in. Every step reads at most width = Config.MergeFanIn-2 inputs and
// writes one output, so that with the index section being read a task
// never holds more than MergeFanIn streams open (Lambda allows 1,024
// descriptors), and memory is width read buffers whatever the number of
// map chunks.
//
// Map files come from the slice one by one. While more than fit in the
// final step remain, the oldest width of them are merged into a run of
// level 0; width runs of one level are merged into one run of the next
// (a tiered merge: each record is rewritten about log_width(files)
// times, and at most width-1 runs wait per level). Runs are named files
// in a private directory, closed while they wait; finish merges what is
// left down to width inputs for the final step.
type reduceMerge struct {
	ctx     context.Context
	js      *jobState
	part    int
	width   int
	merger  *groupMerger
	dir     string
	seq     int
	pending []mergeInput // map files not yet merged, at most width
	levels  [][]string   // waiting runs by level
}

func newReduceMerge(ctx context.Context, js *jobState, part, fanIn int, merger *groupMerger) *reduceMerge {
	return &reduceMerge{ctx: ctx, js: js, part: part, width: max(fanIn-2, 2), merger: merger}
}

// add takes the slice's next map file.
func (m *reduceMerge) add(e manifest.ShuffleEntry) error {
	m.pending = append(m.pending, mergeInput{entry: e})
	if len(m.pending) <= m.width {
		return nil
	}
	// More than one final step can read: merge the oldest width.
	run, err := m.toRun(m.pending[:m.width])
	if err != nil {
		return err
	}
	m.pending = append(m.pending[:0], m.pending[m.width:]...)
	return m.addRun(0, run)
}

func (m *reduceMerge) addRun(level int, run string) error {
	for len(m.levels) <= level {
		m.levels = append(m.levels, nil)
	}
	m.levels[level] = append(m.levels[level], run)
	if len(m.levels[level]) < m.width {
		return nil
	}
	inputs := make([]mergeInput, len(m.levels[level]))
	for i, r := range m.levels[level] {
		inputs[i] = mergeInput{run: r}
	}
	m.levels[level] = m.levels[level][:0]
	run, err := m.toRun(inputs)
	if err != nil {
		return err
	}
	return m.addRun(level+1, run)
}

// finish merges until at most width inputs are left and opens them for
// the final step. The caller closes the streams (mergeStreams does).
func (m *reduceMerge) finish() ([]*recordStream, error) {
	inputs := m.pending
	for _, level := range m.levels {
		for _, r := range level {
			inputs = append(inputs, mergeInput{run: r})
		}
	}
	m.pending, m.levels = nil, nil
	for len(inputs) > m.width {
		// Merging k inputs into one removes k-1: no more than needed.
		k := min(m.width, len(inputs)-m.width+1)
		run, err := m.toRun(inputs[:k])
		if err != nil {
			return nil, err
		}
		inputs = append(inputs[k:], mergeInput{run: run})
	}
	return m.open(inputs)
}

// close removes the runs.
func (m *reduceMerge) close() {
	if m.dir != "" {
		os.RemoveAll(m.dir)
	}
}

// open opens inputs as record streams, the map files' ranged GETs in
// parallel.
func (m *reduceMerge) open(inputs []mergeInput) ([]*recordStream, error) {
	streams := make([]*recordStream, len(inputs))
	for i, in := range inputs {
		if in.run == "" {
			continue
		}
		f, err := os.Open(in.run)
		if err != nil {
			closeStreams(streams)
			return nil, fmt.Errorf("reading a merge run: %w", err)
		}
		streams[i] = newRecordStream(f, false, f)
	}
	// Not errgroup.WithContext: its context ends when Wait returns, and
	// the bodies are read after that.
	var g errgroup.Group
	g.SetLimit(openParallelism)
	for i, in := range inputs {
		if in.run != "" {
			continue
		}
		g.Go(func() error {
			e := in.entry
			rc, _, err := m.js.out.Get(m.ctx, e.Key, &objstore.GetOptions{Offset: e.Offset, Length: e.Length, IfMatch: e.ETag})
			if err != nil {
				return fmt.Errorf("reading the shuffle file of %s: %w", manifest.ChunkID(e.Chunk), err)
			}
			streams[i] = newRecordStream(io.LimitReader(rc, e.Length), false, rc)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		closeStreams(streams)
		return nil, err
	}
	return streams, nil
}

func closeStreams(streams []*recordStream) {
	for _, s := range streams {
		if s != nil {
			s.Close()
		}
	}
}

// toRun merges inputs into a new local run (equal keys folded with the
// reducer's Merge) and removes the runs among them.
func (m *reduceMerge) toRun(inputs []mergeInput) (string, error) {
	if err := m.ctx.Err(); err != nil {
		return "", err
	}
	if m.dir == "" {
		dir, err := os.MkdirTemp("", "fanout-reduce-*")
		if err != nil {
			return "", err
		}
		m.dir = dir
	}
	m.seq++
	path := filepath.Join(m.dir, fmt.Sprintf("run-%06d", m.seq))
	streams, err := m.open(inputs)
	if err != nil {
		return "", err
	}
	f, err := os.Create(path)
	if err != nil {
		closeStreams(streams)
		return "", err
	}
	w := newBufWriter(f)
	var buf []byte
	err = mergeStreams(streams, func(_ int, key []byte, vals func(func([]byte) bool)) error {
		val, err := m.merger.merge(key, vals)
		if err != nil {
			return err
		}
		buf = appendRecord(buf[:0], key, val)
		_, err = w.Write(buf)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("merging reduce partition %d: %w", m.part, err)
	}
	for _, in := range inputs {
		if in.run != "" {
			os.Remove(in.run)
		}
	}
	return path, nil
}

// mergeSlice reads a reduce partition's slice of the shuffle index,
// merging its map files in bounded steps as they come, closes the slice
// and opens what is left for the final step. Its local runs are removed
// when the streams are closed.
func mergeSlice(ctx context.Context, js *jobState, part, fanIn int, merger *groupMerger, slice *shuffleSlice) (streams []*recordStream, err error) {
	m := newReduceMerge(ctx, js, part, fanIn, merger)
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	for {
		e, err := slice.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := m.add(e); err != nil {
			return nil, err
		}
	}
	if err := slice.Close(); err != nil {
		return nil, err
	}
	if streams, err = m.finish(); err != nil {
		return nil, err
	}
	// The final runs are unlinked once open: closing them frees them.
	m.close()
	return streams, nil
}
