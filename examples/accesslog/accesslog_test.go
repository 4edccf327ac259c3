package accesslog_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-dev/fanout/examples/accesslog"
	"github.com/fanout-dev/fanout/fanout"
	"github.com/fanout-dev/fanout/fanout/adhoc"
	"github.com/fanout-dev/fanout/functions/sketch"
	"github.com/fanout-dev/fanout/manifest"
)

// logLine is one generated request, with what the oracle expects of it.
type logLine struct {
	ip, method, path string
	at               time.Time
	status, bytes    int64
	text             string
}

// genLogs makes objects of access log lines, common and combined format,
// some with a query string and some with "-" for the size.
func genLogs(seed uint64, objects, lines int) (bodies []string, all []logLine) {
	return genLogsFrom(seed, objects, lines, 160)
}

// genLogsFrom is genLogs with clients drawn from ips addresses.
func genLogsFrom(seed uint64, objects, lines, ips int) (bodies []string, all []logLine) {
	rnd := rand.New(rand.NewPCG(seed, 15))
	paths := []string{"/", "/index.html", "/about", "/blog/a-post", "/img/logo.png", "/api/v1/items", "/search"}
	methods := []string{"GET", "GET", "GET", "POST", "HEAD"}
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.FixedZone("", 3600))
	for range objects {
		var b strings.Builder
		for range lines {
			l := logLine{
				ip:     ipOf(rnd.IntN(ips)),
				method: methods[rnd.IntN(len(methods))],
				path:   paths[rnd.IntN(len(paths))],
				at:     start.Add(time.Duration(len(all)) * time.Second),
				status: []int64{200, 200, 304, 404, 500}[rnd.IntN(5)],
				bytes:  int64(rnd.IntN(5000)),
			}
			target, size := l.path, strconv.FormatInt(l.bytes, 10)
			if rnd.IntN(4) == 0 {
				target += "?q=" + strconv.Itoa(rnd.IntN(100))
			}
			if l.status == 304 {
				size, l.bytes = "-", 0
			}
			l.text = fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d %s`, l.ip, l.at.Format("02/Jan/2006:15:04:05 -0700"), l.method, target, l.status, size)
			if rnd.IntN(2) == 0 {
				l.text += ` "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`
			}
			l.at = l.at.UTC()
			b.WriteString(l.text + "\n")
			all = append(all, l)
		}
		bodies = append(bodies, b.String())
	}
	return bodies, all
}

// ipOf is the k-th client address.
func ipOf(k int) string { return fmt.Sprintf("10.%d.%d.%d", k>>16&255, k>>8&255, k&255) }

// visitor is the serial computation of Visitors for one page.
type visitor struct {
	ips  map[string]bool
	hits int64
}

// visitorsOracle is the serial computation of Visitors: per page, its
// distinct client addresses (exactly) and hits.
func visitorsOracle(all []logLine) map[string]*visitor {
	pages := map[string]*visitor{}
	for _, l := range all {
		v := pages[l.path]
		if v == nil {
			v = &visitor{ips: map[string]bool{}}
			pages[l.path] = v
		}
		v.ips[l.ip] = true
		v.hits++
	}
	return pages
}

// checkVisitors compares the visitors output (rows "path,visitors,hits")
// with the serial computation: the same pages, each once, hits exact, and
// the estimated visitors within three times sketch.DistinctError (the
// HyperLogLog's relative standard error) of the exact distinct count.
func checkVisitors(t *testing.T, rows []string, all []logLine) {
	t.Helper()
	want := visitorsOracle(all)
	seen := map[string]bool{}
	for _, r := range rows {
		f := strings.Split(r, ",")
		if len(f) != 3 {
			t.Errorf("visitors row %q: want path,visitors,hits", r)
			continue
		}
		path := f[0]
		v, ok := want[path]
		if !ok || seen[path] {
			t.Errorf("visitors row %q: a page the input does not have, or a second row of it", r)
			continue
		}
		seen[path] = true
		est, err1 := strconv.ParseInt(f[1], 10, 64)
		hits, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Errorf("visitors row %q: %v %v", r, err1, err2)
			continue
		}
		if hits != v.hits {
			t.Errorf("page %s: %d hits, want %d (exact)", path, hits, v.hits)
		}
		exact := float64(len(v.ips))
		if d := math.Abs(float64(est) - exact); d > 3*sketch.DistinctError*exact {
			t.Errorf("page %s: %d visitors estimated, exact %d: off by %.0f, more than 3 x %.2f%%", path, est, len(v.ips), d, 100*sketch.DistinctError)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("visitors output has %d pages, want %d:\n%s", len(seen), len(want), strings.Join(rows, "\n"))
	}
}

// parsedOracle is the serial computation of Parse, as JSON lines with
// sorted keys, sorted.
func parsedOracle(all []logLine) []string {
	var rows []string
	for _, l := range all {
		rows = append(rows, canonicalJSON(map[string]any{"ip": l.ip, "time": l.at.Format(time.RFC3339), "method": l.method,
			"path": l.path, "status": float64(l.status), "bytes": float64(l.bytes)}))
	}
	slices.Sort(rows)
	return rows
}

// canonicalJSON encodes m with its keys sorted (encoding/json sorts map
// keys); a time is compared as RFC 3339 in UTC.
func canonicalJSON(m map[string]any) string {
	if s, ok := m["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			m["time"] = t.UTC().Format(time.RFC3339)
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// csvRows reads CSV output files' rows (without their header), sorted.
func csvRows(t *testing.T, bodies []string) []string {
	t.Helper()
	var rows []string
	for _, body := range bodies {
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs[1:] {
			rows = append(rows, strings.Join(r, ","))
		}
	}
	slices.Sort(rows)
	return rows
}

// jsonRows reads JSONL output files' rows in canonical form, sorted.
func jsonRows(t *testing.T, bodies []string) []string {
	t.Helper()
	var rows []string
	for _, body := range bodies {
		for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("output line %q: %v", l, err)
			}
			rows = append(rows, canonicalJSON(m))
		}
	}
	slices.Sort(rows)
	return rows
}

// localFiles returns the bodies of the output files under dir with ext.
func localFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	var bodies []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ext) || strings.Contains(p, "/_") {
			return err
		}
		b, err := os.ReadFile(p)
		bodies = append(bodies, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return bodies
}

// TestEmbedded runs both functions with adhoc.Run on local files, cut
// into many chunks, and compares with the serial computation.
func TestEmbedded(t *testing.T) {
	dir := t.TempDir()
	bodies, all := genLogs(1, 4, 300)
	for i, b := range bodies {
		if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "in", fmt.Sprintf("access-%d.log", i)), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	small := manifest.JobSpec{ChunkBytes: 4 << 10, Reducers: 3}
	res, err := adhoc.Run(context.Background(), adhoc.Job{In: "file://" + dir + "/in/", Function: accesslog.Visitors{}, Out: "file://" + dir + "/visitors/",
		Format: "lines", OutputFormat: "csv", Spec: small, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != fanout.StateCommitted || res.Chunks < 8 || res.RecordsIn != int64(len(all)) {
		t.Fatalf("visitors: %+v; want committed, at least 8 chunks, %d records in", res, len(all))
	}
	checkVisitors(t, csvRows(t, localFiles(t, filepath.Join(dir, "visitors"), ".csv")), all)
	res, err = adhoc.Run(context.Background(), adhoc.Job{In: "file://" + dir + "/in/", Function: accesslog.Parse{}, Out: "file://" + dir + "/parsed/",
		Format: "lines", OutputFormat: "jsonl", Spec: small, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonRows(t, localFiles(t, filepath.Join(dir, "parsed"), ".jsonl")), parsedOracle(all); !slices.Equal(got, want) {
		t.Errorf("parsed output has %d rows, want %d (serial); first got %q, want %q", len(got), len(want), first(got), first(want))
	}
}

// TestVisitorsEstimateWithinStatedError runs visitors embedded over
// 60,000 lines from a million possible clients (about 8,500 distinct
// visitors per page) cut into many
// chunks and three reducers, so that each page's HyperLogLog states are
// merged in the workers' combiners and in the reduce: every page's
// estimate is within three times the stated relative standard error
// (sketch.DistinctError) of the exact count, and its hits are exact.
func TestVisitorsEstimateWithinStatedError(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	bodies, all := genLogsFrom(11, 12, 5000, 1_000_000)
	for i, b := range bodies {
		if err := os.WriteFile(filepath.Join(dir, "in", fmt.Sprintf("access-%d.log", i)), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := adhoc.Run(context.Background(), adhoc.Job{In: "file://" + dir + "/in/", Function: accesslog.Visitors{}, Out: "file://" + dir + "/visitors/",
		Format: "lines", OutputFormat: "csv", Spec: manifest.JobSpec{ChunkBytes: 64 << 10, Reducers: 3}, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != fanout.StateCommitted || res.Chunks < 40 || res.RecordsIn != int64(len(all)) {
		t.Fatalf("visitors: %+v; want committed, at least 40 chunks, %d records in", res, len(all))
	}
	rows := csvRows(t, localFiles(t, filepath.Join(dir, "visitors"), ".csv"))
	checkVisitors(t, rows, all)
	exact := visitorsOracle(all)
	worst := 0.0
	for _, r := range rows {
		f := strings.Split(r, ",")
		est, _ := strconv.ParseFloat(f[1], 64)
		n := float64(len(exact[f[0]].ips))
		if n < 5000 {
			t.Errorf("page %s has %v distinct visitors; the test wants thousands", f[0], n)
		}
		worst = max(worst, math.Abs(est-n)/n)
	}
	t.Logf("%d pages over %d chunks: worst relative error %.4f (stated standard error %.4f)", len(rows), res.Chunks, worst, sketch.DistinctError)
}

// TestMalformedLineNamesObjectAndOffset: a line that is not an access log
// line fails the job, naming the object and the line's offset.
func TestMalformedLineNamesObjectAndOffset(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	good := `10.0.0.1 - - [06/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 12` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "in", "a.log"), []byte(good+"garbage here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := adhoc.Run(context.Background(), adhoc.Job{In: "file://" + dir + "/in/", Function: accesslog.Parse{}, Out: "file://" + dir + "/out/", Format: "lines"})
	if err == nil || !strings.Contains(err.Error(), "a.log at offset "+strconv.Itoa(len(good))) || !strings.Contains(err.Error(), "not an access log line") {
		t.Fatalf("err = %v; want a failure naming a.log at offset %d", err, len(good))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
