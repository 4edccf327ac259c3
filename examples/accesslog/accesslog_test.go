package accesslog_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
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
	rnd := rand.New(rand.NewPCG(seed, 15))
	paths := []string{"/", "/index.html", "/about", "/blog/a-post", "/img/logo.png", "/api/v1/items", "/search"}
	methods := []string{"GET", "GET", "GET", "POST", "HEAD"}
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.FixedZone("", 3600))
	for range objects {
		var b strings.Builder
		for range lines {
			l := logLine{
				ip:     fmt.Sprintf("10.0.%d.%d", rnd.IntN(4), rnd.IntN(40)),
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

// visitorsOracle is the serial computation of Visitors: "path,visitors,hits"
// per page, sorted.
func visitorsOracle(all []logLine) []string {
	ips := map[string]map[string]bool{}
	hits := map[string]int{}
	for _, l := range all {
		if ips[l.path] == nil {
			ips[l.path] = map[string]bool{}
		}
		ips[l.path][l.ip] = true
		hits[l.path]++
	}
	var rows []string
	for p := range hits {
		rows = append(rows, fmt.Sprintf("%s,%d,%d", p, len(ips[p]), hits[p]))
	}
	slices.Sort(rows)
	return rows
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
	if got, want := csvRows(t, localFiles(t, filepath.Join(dir, "visitors"), ".csv")), visitorsOracle(all); !slices.Equal(got, want) {
		t.Errorf("visitors output:\n%s\nwant (serial):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	res, err = adhoc.Run(context.Background(), adhoc.Job{In: "file://" + dir + "/in/", Function: accesslog.Parse{}, Out: "file://" + dir + "/parsed/",
		Format: "lines", OutputFormat: "jsonl", Spec: small, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jsonRows(t, localFiles(t, filepath.Join(dir, "parsed"), ".jsonl")), parsedOracle(all); !slices.Equal(got, want) {
		t.Errorf("parsed output has %d rows, want %d (serial); first got %q, want %q", len(got), len(want), first(got), first(want))
	}
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
