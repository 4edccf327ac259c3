package cli

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/fanout-dev/fanout/functions/contract"
	"github.com/fanout-dev/fanout/functions/contract/contracttest"
	"github.com/fanout-dev/fanout/functions/profile"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/localstack/browsertest"
)

// writeDataset writes a generated dataset's objects under dir.
func writeDataset(t *testing.T, dir string, d *contracttest.Dataset) {
	t.Helper()
	for name, data := range d.Files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// profileJob runs fanout profile in embedded mode and returns the
// committed profile and the proposed contract's file.
func profileJob(t *testing.T, in, out string, extra ...string) (*profile.Profile, string) {
	t.Helper()
	contractFile := filepath.Join(t.TempDir(), "contract.yaml")
	args := append([]string{"profile", "--in", in, "--out", out, "--chunk-size", "1MiB", "--workers", "2", "-q", "--json", "-o", contractFile}, extra...)
	res := runFanout(t, nil, args...)
	if res.State != "committed" {
		t.Fatalf("profile: state %s", res.State)
	}
	matches, err := filepath.Glob(filepath.Join(out, "part-*-profile.json"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("profile.json under %s: %v %v", out, matches, err)
	}
	for _, f := range []string{"report.html", "contract.yaml"} {
		if m, _ := filepath.Glob(filepath.Join(out, "part-*-"+f)); len(m) != 1 {
			t.Fatalf("got %d committed %s files, want 1", len(m), f)
		}
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var p profile.Profile
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p, contractFile
}

// rejectedKeys reads a validate job's rejected records as object@offset.
func rejectedKeys(t *testing.T, out string) []string {
	t.Helper()
	var keys []string
	for _, l := range readLines(t, filepath.Join(out, "_rejected")) {
		var rl contracttest.RejectedLine
		if err := json.Unmarshal(l, &rl); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, fmt.Sprintf("%s@%d", path.Base(rl.Object), rl.Offset))
	}
	slices.Sort(keys)
	return keys
}

func validateWith(t *testing.T, in, out, contractFile string) qualityJSON {
	t.Helper()
	// fanout validate is run --fn validate (TestValidateIsRunFnValidate).
	res, err := runQuality(t, nil, "validate", "--in", in, "--out", out, "--contract", contractFile,
		"--chunk-size", "1MiB", "--workers", "2", "-q", "--json", "--out-format", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestProfileProposesAContractItsDataPasses profiles whole datasets, then
// validates the same data with the proposed contract: nothing is rejected.
// With defects injected into the same data, the records rejected are
// exactly the injected defects, of every kind contracttest injects (types,
// missing values, ranges, allowed values, patterns, timestamp formats, a
// value required when another has a value, encoding, malformed records).
func TestProfileProposesAContractItsDataPasses(t *testing.T) {
	t.Run("demo", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(fanoutBinary(t), "demo", "--dir", dir, "--rows", "30000", "-q")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("demo: %v\n%s", err, out)
		}
		in := filepath.Join(dir, "input") + "/"
		p, c := profileJob(t, in, filepath.Join(dir, "profile"))
		if p.Rows != 30000 {
			t.Errorf("profile rows: got %d, want 30000", p.Rows)
		}
		res := validateWith(t, in, filepath.Join(dir, "valid"), c)
		if res.Rejected != 0 || res.RecordsOut != 30000 {
			t.Errorf("validate with the proposed contract: got %d rejected, %d out; want 0, 30000 (%v)", res.Rejected, res.RecordsOut, res.RejectedByRule)
		}
	})
	t.Run("16 objects of 20000 rows", func(t *testing.T) { profileThenValidate(t, "csv", 16, 20000) })
	t.Run("jsonl, 4 objects of 5000 rows", func(t *testing.T) { profileThenValidate(t, "jsonl", 4, 5000) })
}

// profileThenValidate generates objects of rows records in format with
// contracttest's defects and the same objects without them, profiles the
// clean ones and validates both with the proposed contract: the clean
// objects give no rejected record, the others exactly the defects.
func profileThenValidate(t *testing.T, format string, objects, rows int) {
	dir := t.TempDir()
	// The same records with and without the injected defects: the
	// defects are cut out of the generated objects.
	dirty := contracttest.Generate(18, format, objects, rows)
	clean := withoutDefects(t, dirty)
	writeDataset(t, filepath.Join(dir, "clean"), clean)
	writeDataset(t, filepath.Join(dir, "dirty"), dirty)
	records := int64(dirty.Records - len(dirty.Defects))
	in := filepath.Join(dir, "clean", "in") + "/"
	p, c := profileJob(t, in, filepath.Join(dir, "profile"))
	if p.Rows != records || len(p.Objects) != objects {
		t.Errorf("profile: got %d rows in %d objects, want %d in %d", p.Rows, len(p.Objects), records, objects)
	}
	res := validateWith(t, in, filepath.Join(dir, "valid"), c)
	if res.Rejected != 0 || res.RecordsOut != records {
		t.Errorf("validate with the proposed contract: got %d rejected, %d out; want 0, %d (%v)", res.Rejected, res.RecordsOut, records, res.RejectedByRule)
	}

	out := filepath.Join(dir, "checked")
	validateWith(t, filepath.Join(dir, "dirty", "in")+"/", out, c)
	got := rejectedKeys(t, out)
	var want []string
	for _, x := range dirty.Defects {
		want = append(want, fmt.Sprintf("%s@%d", path.Base(x.Object), x.Offset))
	}
	slices.Sort(want)
	if len(want) < objects*rows/12 {
		t.Fatalf("only %d defects", len(want))
	}
	if !slices.Equal(got, want) {
		var extra, missed []string
		for _, k := range got {
			if _, ok := slices.BinarySearch(want, k); !ok {
				extra = append(extra, k)
			}
		}
		for _, k := range want {
			if _, ok := slices.BinarySearch(got, k); !ok {
				missed = append(missed, k)
			}
		}
		t.Errorf("got %d rejected, want the %d defects; rejected but valid: %.10v; not rejected: %.10v", len(got), len(want), extra, missed)
	}
}

// withoutDefects returns d's objects with the defective records cut out
// (their bytes and line terminator), compressed as they were.
func withoutDefects(t *testing.T, d *contracttest.Dataset) *contracttest.Dataset {
	t.Helper()
	clean := &contracttest.Dataset{Files: map[string][]byte{}}
	for name, data := range d.Files {
		gz := strings.HasSuffix(name, ".gz")
		if gz {
			r, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if data, err = io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
		}
		var defects []contracttest.Defect
		for _, x := range d.Defects {
			if x.Object == name {
				defects = append(defects, x)
			}
		}
		slices.SortFunc(defects, func(a, b contracttest.Defect) int { return cmp.Compare(a.Offset, b.Offset) })
		var out []byte
		at := int64(0)
		for _, x := range defects {
			end := x.Offset + int64(len(x.Raw))
			if !bytes.Equal(data[x.Offset:end], x.Raw) {
				t.Fatalf("%s@%d does not hold the defect's bytes", name, x.Offset)
			}
			for end < int64(len(data)) && (data[end] == '\r' || data[end] == '\n') {
				end++
				if data[end-1] == '\n' {
					break
				}
			}
			out = append(out, data[at:x.Offset]...)
			at = end
		}
		out = append(out, data[at:]...)
		if gz {
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			w.Write(out)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			out = buf.Bytes()
		}
		clean.Files[name] = out
	}
	return clean
}

// TestProfileEqualsDuckDB profiles generated sales data (with missing
// values and a compressed object) and compares the statistics with
// DuckDB's aggregates over the same files: exact ones exactly, estimates
// within their stated errors.
func TestProfileEqualsDuckDB(t *testing.T) {
	dir := t.TempDir()
	d := contracttest.Clean(7, "csv", 4, 5000)
	writeDataset(t, dir, d)
	p, _ := profileJob(t, filepath.Join(dir, "in")+"/", filepath.Join(dir, "profile"))
	cols := map[string]profile.Column{}
	for _, c := range p.Columns {
		cols[c.Name] = c
	}
	src := fmt.Sprintf("read_csv('%s/in/*', all_varchar=true, header=true)", dir)
	rows := localstack.DuckDB(t, `SELECT count(*)::VARCHAR AS n,
		count(quantity)::VARCHAR AS q_count, min(quantity::BIGINT)::VARCHAR AS q_min, max(quantity::BIGINT)::VARCHAR AS q_max,
		sum(quantity::BIGINT)::VARCHAR AS q_sum, avg(quantity::DOUBLE) AS q_mean, stddev_samp(quantity::DOUBLE) AS q_sd,
		count(amount)::VARCHAR AS a_count, min(amount::DOUBLE) AS a_min, max(amount::DOUBLE) AS a_max,
		avg(amount::DOUBLE) AS a_mean, stddev_samp(amount::DOUBLE) AS a_sd,
		quantile_cont(amount::DOUBLE, 0.49) AS a_p49, quantile_cont(amount::DOUBLE, 0.51) AS a_p51,
		(count(*) - count(shipped_at))::VARCHAR AS s_nulls, (count(*) - count(note))::VARCHAR AS note_nulls,
		count(DISTINCT id)::VARCHAR AS id_distinct, count(DISTINCT status)::VARCHAR AS status_distinct, count(DISTINCT sku)::VARCHAR AS sku_distinct,
		min(length(note))::VARCHAR AS note_minlen, max(length(note))::VARCHAR AS note_maxlen,
		strftime(min(sold_at::TIMESTAMP), '%Y-%m-%dT%H:%M:%SZ') AS sold_min, strftime(max(sold_at::TIMESTAMP), '%Y-%m-%dT%H:%M:%SZ') AS sold_max,
		strftime(min(shipped_at::TIMESTAMPTZ AT TIME ZONE 'UTC'), '%Y-%m-%dT%H:%M:%SZ') AS ship_min,
		strftime(max(shipped_at::TIMESTAMPTZ AT TIME ZONE 'UTC'), '%Y-%m-%dT%H:%M:%SZ') AS ship_max
		FROM `+src)
	if len(rows) != 1 {
		t.Fatalf("duckdb: %v", rows)
	}
	r := rows[0]
	num := func(k string) float64 { return r[k].(float64) }
	str := func(k string) string { return fmt.Sprint(r[k]) }
	q, a := cols["quantity"], cols["amount"]
	for _, c := range []struct {
		what      string
		got, want string
	}{
		{"rows", fmt.Sprint(p.Rows), str("n")},
		{"quantity count", fmt.Sprint(q.Count), str("q_count")},
		{"quantity min", q.Min, str("q_min")},
		{"quantity max", q.Max, str("q_max")},
		{"quantity sum", q.Sum, str("q_sum")},
		{"amount count", fmt.Sprint(a.Count), str("a_count")},
		{"amount min", a.Min, strconv.FormatFloat(num("a_min"), 'g', -1, 64)},
		{"amount max", a.Max, strconv.FormatFloat(num("a_max"), 'g', -1, 64)},
		{"shipped_at nulls", fmt.Sprint(cols["shipped_at"].Nulls), str("s_nulls")},
		{"note nulls", fmt.Sprint(cols["note"].Nulls), str("note_nulls")},
		{"note min length", fmt.Sprint(cols["note"].MinLength), str("note_minlen")},
		{"note max length", fmt.Sprint(cols["note"].MaxLength), str("note_maxlen")},
		{"sold_at type", cols["sold_at"].InferredType, "timestamptz"},
		{"sold_at min", cols["sold_at"].Min, str("sold_min")},
		{"sold_at max", cols["sold_at"].Max, str("sold_max")},
		{"status distinct (exact: few values)", fmt.Sprint(cols["status"].Distinct), str("status_distinct")},
		{"shipped_at type", cols["shipped_at"].InferredType, "timestamptz"},
		{"shipped_at min", cols["shipped_at"].Min, str("ship_min")},
		{"shipped_at max", cols["shipped_at"].Max, str("ship_max")},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s (DuckDB)", c.what, c.got, c.want)
		}
	}
	if !q.SumExact {
		t.Error("quantity sum is not exact")
	}
	close := func(what string, got, want, rel float64) {
		if math.Abs(got-want) > rel*math.Abs(want) {
			t.Errorf("%s: got %v, want %v (DuckDB) within %g", what, got, want, rel)
		}
	}
	close("quantity mean", *q.Mean, num("q_mean"), 1e-9)
	close("quantity stddev", *q.Stddev, num("q_sd"), 1e-9)
	close("amount mean", *a.Mean, num("a_mean"), 1e-9)
	close("amount stddev", *a.Stddev, num("a_sd"), 1e-9)
	if med := a.Quantiles["p50"]; med < num("a_p49") || med > num("a_p51") {
		t.Errorf("amount median: got %v, want within DuckDB's 49th and 51st percentiles [%v, %v]", med, num("a_p49"), num("a_p51"))
	}
	for _, c := range []struct {
		col  string
		want string
	}{{"id", str("id_distinct")}, {"sku", str("sku_distinct")}} {
		want, _ := strconv.ParseFloat(c.want, 64)
		if got := float64(cols[c.col].Distinct); math.Abs(got-want) > 3*profile.DistinctError*want {
			t.Errorf("%s distinct: got %v, want %v (DuckDB) within 3 standard errors", c.col, got, want)
		}
	}
	// Top values: status has few values, so its counts are exact.
	top := localstack.DuckDB(t, "SELECT status, count(*)::VARCHAR AS n FROM "+src+" WHERE status IS NOT NULL GROUP BY status ORDER BY count(*) DESC, status")
	st := cols["status"]
	if st.TopError != 0 || len(st.Top) != len(top) {
		t.Fatalf("status top: got %v (error %d), want %v", st.Top, st.TopError, top)
	}
	for i, vc := range st.Top {
		if vc.Value != top[i]["status"] || fmt.Sprint(vc.Count) != top[i]["n"] {
			t.Errorf("status top %d: got %s %d, want %v %v", i, vc.Value, vc.Count, top[i]["status"], top[i]["n"])
		}
	}
}

// TestProfileReportInChromium opens the committed HTML report in headless
// Chromium (Debian's chromium, installed by scripts/tools.sh): the page
// it renders holds a card per column with its histogram and top values,
// the proposed contract and the records per object, and it fetches
// nothing (no script, no link, no source). It also takes a screenshot,
// kept at $FANOUT_PROFILE_SCREENSHOT when that is set (README, Profiling).
func TestProfileReportInChromium(t *testing.T) {
	browsertest.Path(t)
	dir := t.TempDir()
	d := contracttest.Clean(3, "csv", 3, 2000)
	writeDataset(t, dir, d)
	out := filepath.Join(dir, "profile")
	profileJob(t, filepath.Join(dir, "in")+"/", out)
	m, _ := filepath.Glob(filepath.Join(out, "part-*-report.html"))
	if len(m) != 1 {
		t.Fatalf("report.html: %v", m)
	}
	html, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<link", "src=", "href=", "http://", "https://", "@import", "url("} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("the report holds %q: it must not fetch anything", bad)
		}
	}
	dom := string(browsertest.Render(t, "file://"+m[0], "--dump-dom"))
	for _, want := range []string{
		`<h1>Profile of `, `6000 records in 3 objects, 9 columns`,
		`id="col-quantity"`, `id="col-sku"`, `<svg class="hist"`, `<svg class="top"`,
		`Proposed contract`, `- name: quantity`, `pattern: '[A-Z]{3}-[0-9]{3}'`,
		`sales-00.csv</td><td class="n">2000</td>`,
		// status's two values are counted, id's many estimated.
		`<th>distinct</th><td class="n">2</td>`, `<th>distinct ≈</th>`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page Chromium rendered lacks %q", want)
		}
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	if keep := os.Getenv("FANOUT_PROFILE_SCREENSHOT"); keep != "" {
		shot = keep
	}
	browsertest.Render(t, "file://"+m[0], "--screenshot="+shot, "--window-size=1280,1000", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if !browsertest.IsPNG(png) {
		t.Errorf("screenshot: %d bytes, want a PNG of a rendered page", len(png))
	}
}

// salesCSV writes n rows of region, amount, note: regions from the list,
// amounts uniform from lo to lo+100, a note missing in every missingEvery-th row.
func salesCSV(t *testing.T, file string, n int, regions []string, lo float64, missingEvery int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,region,amount,note\n")
	for i := range n {
		note := fmt.Sprintf("n%d", i)
		if i%missingEvery == 0 {
			note = ""
		}
		fmt.Fprintf(&b, "%d,%s,%.2f,%s\n", i+1, regions[i%len(regions)], lo+float64(i*37%10000)/100, note)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestProfileCompareReportsDrift profiles a batch, then a later batch
// with a new region, more missing notes and amounts shifted up, and
// checks that --compare names each change; the same batch against itself
// shows no drift.
func TestProfileCompareReportsDrift(t *testing.T) {
	dir := t.TempDir()
	salesCSV(t, filepath.Join(dir, "before", "a.csv"), 4000, []string{"north", "south"}, 0, 10)
	salesCSV(t, filepath.Join(dir, "after", "a.csv"), 4000, []string{"north", "south", "east"}, 60, 3)
	profileJob(t, filepath.Join(dir, "before")+"/", filepath.Join(dir, "p1"))
	old, _ := filepath.Glob(filepath.Join(dir, "p1", "part-*-profile.json"))
	compare := func(in, out string) string {
		t.Helper()
		cmd := exec.Command(fanoutBinary(t), "profile", "--in", in, "--out", out, "-q", "--compare", old[0])
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		got, err := cmd.Output()
		if err != nil {
			t.Fatalf("profile --compare: %v\n%s", err, stderr.String())
		}
		return string(got)
	}
	got := compare(filepath.Join(dir, "after")+"/", filepath.Join(dir, "p2"))
	for _, want := range []string{
		`column region: new values: ["east"]`,
		`column note: missing 33.35%, was 10.00%`,
		`column amount: max 159.97, above the earlier max 99.97`,
		`column amount: distribution shifted`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("drift report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "column id:") {
		t.Errorf("id did not drift:\n%s", got)
	}
	if same := compare(filepath.Join(dir, "before")+"/", filepath.Join(dir, "p3")); !strings.Contains(same, "no drift") {
		t.Errorf("the same batch: got\n%s", same)
	}
	// A wrong --compare fails before the job: nothing is committed.
	notProfile := filepath.Join(dir, "not-a-profile.json")
	if err := os.WriteFile(notProfile, []byte(`{"rows": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.json"), "--compare: open " + filepath.Join(dir, "missing.json")},
		{notProfile, "--compare " + notProfile + ": not a profile.json"},
	} {
		out := filepath.Join(dir, "p-bad")
		msg, err := exec.Command(fanoutBinary(t), "profile", "--in", filepath.Join(dir, "after")+"/", "--out", out, "-q", "--compare", tc.file).CombinedOutput()
		if err == nil || !strings.Contains(string(msg), tc.want) {
			t.Errorf("--compare %s: %v, %q; want a failure saying %q", tc.file, err, msg, tc.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("--compare %s: the job ran (%s exists: %v)", tc.file, out, err)
		}
	}
}

// TestProfileOnMinIOAndRedis profiles objects on MinIO with two worker
// processes sharing the job through Redis: the profile, report and
// contract are committed under the output prefix with the rows (no
// staging left), validate with the contract rejects nothing, and a second
// run (--rerun: a new job, chunks finishing in another order) writes a
// byte-identical profile.json.
func TestProfileOnMinIOAndRedis(t *testing.T) {
	bucket, s3 := localstack.Bucket(t)
	redisURL, prefix := localstack.RedisNamespace(t)
	client, err := s3.MinioClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := contracttest.Clean(5, "csv", 4, 2000)
	for key, body := range d.Files {
		if _, err := client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "FANOUT_REDIS_URL="+redisURL, "FANOUT_REDIS_PREFIX="+prefix,
		"FANOUT_OUT_BASES=s3://"+bucket+"/")
	for range 2 {
		w := exec.Command(fanoutBinary(t), "work", "--concurrency", "2")
		w.Env = env
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Process.Kill(); w.Wait() })
	}
	in := "s3://" + bucket + "/in/"
	profileOnce := func(out string, extra ...string) (data []byte, contractFile string) {
		t.Helper()
		contractFile = filepath.Join(t.TempDir(), "contract.yaml")
		args := append([]string{"profile", "--in", in, "--out", "s3://" + bucket + "/" + out + "/", "--chunk-size", "32KiB",
			"--workers", "0", "--json", "--quiet", "-o", contractFile}, extra...)
		res, err := runQuality(t, env, args...)
		if err != nil || res.State != "committed" {
			t.Fatalf("profile: %v %+v", err, res)
		}
		if res.Chunks < 8 {
			t.Errorf("got %d chunks, want many", res.Chunks)
		}
		local := t.TempDir()
		keys := download(t, client, bucket, out+"/", local)
		found := map[string]int{}
		for _, k := range keys {
			if strings.Contains(k, "/staging/") {
				t.Errorf("staging left after the commit: %s", k)
			}
			for _, f := range profileFiles {
				if strings.HasPrefix(path.Base(k), "part-"+res.Job+"-") && strings.HasSuffix(k, "-"+f) {
					found[f]++
					if f == "profile.json" {
						if data, err = os.ReadFile(filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(k, out+"/")))); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		}
		for _, f := range profileFiles {
			if found[f] != 1 {
				t.Errorf("%s: %d committed under %s/, want 1 (keys %v)", f, found[f], out, keys)
			}
		}
		return data, contractFile
	}
	first, contractFile := profileOnce("p1")
	second, _ := profileOnce("p2", "--rerun")
	if !bytes.Equal(first, second) {
		t.Error("two runs of the same profile wrote different profile.json")
	}
	var p profile.Profile
	if err := json.Unmarshal(first, &p); err != nil {
		t.Fatal(err)
	}
	if p.Rows != int64(d.Records) {
		t.Errorf("profile rows: got %d, want %d", p.Rows, d.Records)
	}
	res, err := runQuality(t, env, "run", "--in", in, "--fn", "validate", "--contract", contractFile,
		"--out", "s3://"+bucket+"/valid/", "--chunk-size", "32KiB", "--workers", "0", "--json", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 0 || res.RecordsOut != int64(d.Records) {
		t.Errorf("validate with the proposed contract on MinIO: got %d rejected, %d out, want 0, %d (%v)", res.Rejected, res.RecordsOut, d.Records, res.RejectedByRule)
	}
}

// TestValidateIsRunFnValidate: fanout validate commits what run --fn
// validate commits from the same data and contract (the same counts per
// rule, the same rejected records), needs --contract, and refuses another
// function.
func TestValidateIsRunFnValidate(t *testing.T) {
	dir := t.TempDir()
	dirty := contracttest.Generate(7, "csv", 4, 3000)
	writeDataset(t, dir, dirty)
	in := filepath.Join(dir, "in") + "/"
	// A contract proposed from the data without its defects rejects them.
	clean := withoutDefects(t, dirty)
	writeDataset(t, filepath.Join(dir, "clean"), clean)
	_, c := profileJob(t, filepath.Join(dir, "clean", "in")+"/", filepath.Join(dir, "clean-profile"))
	byValidate := validateWith(t, in, filepath.Join(dir, "a"), c)
	byRun, err := runQuality(t, nil, "run", "--fn", "validate", "--in", in, "--out", filepath.Join(dir, "b"), "--contract", c,
		"--chunk-size", "1MiB", "--workers", "2", "-q", "--json", "--out-format", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if byValidate.Rejected == 0 || byValidate.Rejected != byRun.Rejected || byValidate.RecordsOut != byRun.RecordsOut ||
		!maps.Equal(byValidate.RejectedByRule, byRun.RejectedByRule) {
		t.Errorf("validate: %d rejected, %d out, %v; run --fn validate: %d rejected, %d out, %v; want the same, some rejected",
			byValidate.Rejected, byValidate.RecordsOut, byValidate.RejectedByRule, byRun.Rejected, byRun.RecordsOut, byRun.RejectedByRule)
	}
	if a, b := rejectedKeys(t, filepath.Join(dir, "a")), rejectedKeys(t, filepath.Join(dir, "b")); !slices.Equal(a, b) {
		t.Errorf("rejected records differ: validate %d, run --fn validate %d", len(a), len(b))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", "--in", in, "--out", filepath.Join(dir, "c")}, "validate needs --contract FILE"},
		{[]string{"validate", "--in", in, "--out", filepath.Join(dir, "c"), "--contract", c, "--fn", "grep"}, "validate runs the validate function"},
	} {
		out, err := exec.Command(fanoutBinary(t), tc.args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: %v, %q; want exit 2 saying %q", tc.args, err, out, tc.want)
		}
	}
}

// TestProfileReadsEveryObjectsColumns: the profile reads the union of the
// objects' columns, each as text, as a job without a schema does: a JSONL
// key missing from the first record (ok) and a CSV column only later
// objects have (channel) are profiled with every value, not dropped; the
// contract proposed from them passes every record.
func TestProfileReadsEveryObjectsColumns(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			if err := os.MkdirAll(in, 0o755); err != nil {
				t.Fatal(err)
			}
			oks, channels := 0, 0
			for f := range 3 {
				var b strings.Builder
				if format == "csv" {
					b.WriteString("id,region,amount")
					if f > 0 {
						b.WriteString(",channel")
					}
					b.WriteString("\n")
				}
				for i := range 2000 {
					id := f*2000 + i
					region := []string{"north", "south"}[i%2]
					if format == "csv" {
						fmt.Fprintf(&b, "%d,%s,%d.5", id, region, i%100)
						if f > 0 {
							fmt.Fprintf(&b, ",%s", []string{"web", "shop", "phone"}[i%3])
							channels++
						}
						b.WriteString("\n")
						continue
					}
					rec := map[string]any{"id": id, "region": region, "amount": float64(i%100) + 0.5}
					if i > 0 {
						rec["ok"] = i%3 == 0
						oks++
					}
					line, _ := json.Marshal(rec)
					b.Write(append(line, '\n'))
				}
				if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("part-%d.%s", f, format)), []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, c := profileJob(t, in+"/", filepath.Join(dir, "profile"))
			cols := map[string]profile.Column{}
			for _, col := range p.Columns {
				cols[col.Name] = col
			}
			name, want, typ := "ok", oks, "bool"
			if format == "csv" {
				name, want, typ = "channel", channels, "string"
			}
			if got := cols[name]; got.Count != int64(want) || got.InferredType != typ || got.Nulls != 6000-int64(want) {
				t.Errorf("column %s: %d values, %d missing, %q; want %d, %d, %s (columns %v)", name, got.Count, got.Nulls, got.InferredType, want, 6000-want, typ, slices.Collect(maps.Keys(cols)))
			}
			if a := cols["amount"]; a.InferredType != "float64" || a.DeclaredType != "string" || a.Count != 6000 {
				t.Errorf("amount: %s read as %s, %d values; want float64 read as string, 6000", a.InferredType, a.DeclaredType, a.Count)
			}
			res := validateWith(t, in+"/", filepath.Join(dir, "valid"), c)
			if res.Rejected != 0 || res.RecordsOut != 6000 {
				t.Errorf("validate with the proposed contract: got %d rejected, %d out; want 0, 6000 (%v)", res.Rejected, res.RecordsOut, res.RejectedByRule)
			}
		})
	}
}

// TestInferFull: fanout infer --full profiles every record as a job and
// prints the committed contract on stdout (the job's summary on stderr);
// where the sample's contract rejects records of the same clean data (its
// ranges are the first rows'), the whole-data contract rejects none.
// --full without --out, or with a sample size, is a usage error.
func TestInferFull(t *testing.T) {
	dir := t.TempDir()
	d := contracttest.Clean(11, "csv", 4, 3000)
	writeDataset(t, dir, d)
	in := filepath.Join(dir, "in") + "/"
	infer := func(args ...string) (stdout, stderr string, err error) {
		cmd := exec.Command(fanoutBinary(t), append([]string{"infer", "--in", in}, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		return o.String(), e.String(), err
	}
	sampled, stderr, err := infer("--sample-rows", "500")
	if err != nil {
		t.Fatalf("infer: %v\n%s", err, stderr)
	}
	sampledFile := filepath.Join(dir, "sampled.yaml")
	if err := os.WriteFile(sampledFile, []byte(sampled), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := validateWith(t, in, filepath.Join(dir, "v1"), sampledFile); res.Rejected == 0 {
		t.Fatalf("the contract of a 500-record sample rejected nothing of %d records: the test shows nothing", d.Records)
	}

	out := filepath.Join(dir, "profile")
	full, stderr, err := infer("--full", "--out", out, "-q")
	if err != nil {
		t.Fatalf("infer --full: %v\n%s", err, stderr)
	}
	committed, _ := filepath.Glob(filepath.Join(out, "part-*-contract.yaml"))
	if len(committed) != 1 {
		t.Fatalf("infer --full committed %v", committed)
	}
	if data, err := os.ReadFile(committed[0]); err != nil || string(data) != full {
		t.Errorf("stdout is not the committed contract (%v):\n%s\n---\n%s", err, full, data)
	}
	if !strings.Contains(full, fmt.Sprintf("from all %d records", d.Records)) {
		t.Errorf("the contract's header does not say it rests on all %d records:\n%s", d.Records, full)
	}
	fullFile := filepath.Join(dir, "full.yaml")
	if err := os.WriteFile(fullFile, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := validateWith(t, in, filepath.Join(dir, "v2"), fullFile); res.Rejected != 0 || res.RecordsOut != int64(d.Records) {
		t.Errorf("validate with infer --full's contract: %d rejected, %d out; want 0, %d (%v)", res.Rejected, res.RecordsOut, d.Records, res.RejectedByRule)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--full"}, "--full needs --out URL"},
		{[]string{"--full", "--out", filepath.Join(dir, "x"), "--sample-rows", "10"}, "--sample-rows and --sample-bytes do not apply"},
	} {
		_, stderr, err := infer(tc.args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("infer %v: %v, %q; want exit 2 saying %q", tc.args, err, stderr, tc.want)
		}
	}
}

// TestProfileOfNoRecords: objects with a header and no record (an empty
// batch) give a committed profile of 0 records with their columns, a
// contract that parses, and a drift report against an earlier batch; the
// job failed with "committed no profile.json" before.
func TestProfileOfNoRecords(t *testing.T) {
	dir := t.TempDir()
	salesCSV(t, filepath.Join(dir, "before", "a.csv"), 100, []string{"north"}, 0, 10)
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a.csv", "b.csv"} {
		if err := os.WriteFile(filepath.Join(dir, "empty", f), []byte("id,region,amount,note\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, c := profileJob(t, filepath.Join(dir, "empty")+"/", filepath.Join(dir, "p0"))
	if p.Rows != 0 || len(p.Columns) != 4 || p.Objects == nil {
		t.Errorf("profile of no records: %d rows, %d columns, objects %v; want 0, 4, []", p.Rows, len(p.Columns), p.Objects)
	}
	for _, col := range p.Columns {
		if col.Count != 0 || col.Nulls != 0 || col.InferredType != "string" {
			t.Errorf("column %s: %d values, %d missing, %s; want 0, 0, string", col.Name, col.Count, col.Nulls, col.InferredType)
		}
	}
	text, err := os.ReadFile(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := contract.Parse(text); err != nil {
		t.Errorf("the contract of no records does not parse: %v\n%s", err, text)
	}
	profileJob(t, filepath.Join(dir, "before")+"/", filepath.Join(dir, "p1"))
	old, _ := filepath.Glob(filepath.Join(dir, "p1", "part-*-profile.json"))
	cmd := exec.Command(fanoutBinary(t), "profile", "--in", filepath.Join(dir, "empty")+"/", "--out", filepath.Join(dir, "p2"), "-q", "--compare", old[0])
	got, err := cmd.Output()
	if err != nil || !strings.Contains(string(got), "records: 0, were 100") {
		t.Errorf("--compare against an earlier batch: %v\n%s", err, got)
	}
}
