package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fanout-dev/fanout/fanout/faulttest"
	"github.com/fanout-dev/fanout/localstack"
	"github.com/fanout-dev/fanout/localstack/browsertest"
)

// TestDashboardInChromium drives `fanout ui` in headless Chromium during
// a real job on MinIO and Redis, run by a `fanout work` process: the jobs
// page shows the job running and its progress advancing (chunks held at
// a gate until the test opens it); the job fails on a poisoned chunk,
// whose page shows the chunk's reason; a redrive with a wrong token is
// refused on the page and changes nothing; with the right token, typed
// into the page, the fixed chunk runs again and the worker commits the
// job, which the page then shows with its records. The committed output
// holds every input line once (faulttest's oracle), neither the page nor
// the dashboard's log holds the token, and the S3 secret key that the
// poisoned chunk's command and stderr hold shows as [redacted]. Screenshots of each step
// are kept in $FANOUT_UI_SCREENSHOTS when it is set (README, Dashboard).
func TestDashboardInChromium(t *testing.T) {
	browsertest.Path(t)
	j := newFaultJob(t, faultSetup{objects: 1, rows: 1})
	dir := t.TempDir()
	gate, healed := filepath.Join(dir, "gate"), filepath.Join(dir, "healed")
	const objects, lines, token = 12, 40, "ui-token-5f2c9a7e"
	var want []string
	for o := range objects {
		var b strings.Builder
		for i := range lines {
			line := fmt.Sprintf("obj%02d-line%03d", o, i)
			switch {
			case o == 3 && i == 17:
				line += " POISON"
			case o >= 6 && i == 0:
				line += " GATED"
			}
			b.WriteString(line + "\n")
			want = append(want, line)
		}
		j.put(fmt.Sprintf("text/obj-%02d.txt", o), []byte(b.String()))
	}
	// Chunks of gated objects wait for the gate; the poisoned one fails
	// until healed exists.
	cmd := `data=$(cat); case "$data" in *GATED*) while [ ! -e '` + gate + `' ]; do sleep 0.05; done;; esac; ` +
		`case "$data" in *POISON*) [ -e '` + healed + `' ] || { echo "poisoned record, cannot go on (key ` + j.s3.SecretKey + `)" >&2; exit 3; };; esac; printf '%s\n' "$data"`
	env := j.env("")
	ui := localstack.Start(t, "ui", append(env, "FANOUT_UI_TOKEN="+token), fanoutBinary(t), "ui", "--listen", "127.0.0.1:0")
	ui.WaitLog(t, "serving http://", 30*time.Second)
	base := regexp.MustCompile(`serving (http://\S+/ui/)`).FindStringSubmatch(ui.Stderr())[1]
	localstack.Start(t, "work", env, fanoutBinary(t), "work", "--concurrency", "3", "--allow-exec-any", "--grace", "2s")
	stdout, stderr, err := localstack.Run(context.Background(), env, fanoutBinary(t), "submit", "--in", "s3://"+j.bucket+"/text/",
		"--fn", "exec", "--arg", "shell=true", "--arg", "cmd="+cmd, "--out", j.out(), "--out-format", "lines",
		"--max-objects-per-chunk", "1", "--max-attempts", "2", "--lease", "10s", "--backup-after", "0")
	if err != nil {
		t.Fatalf("fanout submit: %v\n%s%s", err, stdout, stderr)
	}
	job := strings.TrimSpace(stdout)

	ctx := browsertest.New(t, 1400, 1100)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil || !browsertest.IsPNG(png) {
			t.Fatalf("screenshot %s: %v (%d bytes)", name, err, len(png))
		}
		path := browsertest.ScreenshotPath(t, "FANOUT_UI_SCREENSHOTS", name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	// waitPage polls a JavaScript expression in the page until it is
	// truthy and returns its value.
	waitPage := func(what, expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Poll[string](expr, chromedp.WithPollingInterval(100*time.Millisecond),
			chromedp.WithPollingTimeout(90*time.Second)))
		if err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML("main"))
			t.Fatalf("waiting for %s: %v\npage: %s\nui: %s", what, err, html, ui.Stderr())
		}
		return v
	}
	row := fmt.Sprintf(`document.querySelector('tr[data-job="%s"]')`, job)
	// done reads "N/12" off the job's row when the row's state is state.
	done := func(state string) string {
		return fmt.Sprintf(`(() => { const r = %s; if (!r || r.dataset.state !== %q) return ""; const m = r.textContent.match(/(\d+)\/%d/); return m && +m[1] > 0 ? m[1] : ""; })()`, row, state, objects)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
		t.Fatal(err)
	}
	before, _ := strconv.Atoi(waitPage("the job running with a chunk done", done("running")))
	if before > 5 { // the 6 gated chunks and the poisoned one cannot be done
		t.Fatalf("%d chunks done with the gate closed; want at most 5", before)
	}
	shot("jobs-running.png")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	after, _ := strconv.Atoi(waitPage("the job failed with 11 chunks done", done("failed")))
	if after != objects-1 || after <= before {
		t.Fatalf("progress went from %d to %d; want it to reach %d", before, after, objects-1)
	}

	// The job's page names the poisoned chunk and why it failed.
	if err := chromedp.Do(ctx, chromedp.Click(fmt.Sprintf(`tr[data-job="%s"] a`, job)), chromedp.WaitVisible("#summary")); err != nil {
		t.Fatal(err)
	}
	reason := waitPage("the poisoned chunk's reason", `(() => { const r = document.querySelector('#dead tbody tr'); return r && r.textContent.includes("poisoned record, cannot go on") ? r.textContent : ""; })()`)
	if !strings.Contains(reason, "exit status 3") || !strings.Contains(reason, "(key [redacted])") {
		t.Errorf("the failed chunk's row says %q; want exec's exit status and the secret its stderr printed redacted", reason)
	}
	waitPage("the failed state", `document.querySelector('#summary .state')?.textContent === "failed" && !document.getElementById("redrive").disabled ? "yes" : ""`)
	shot("job-failed.png")
	failedHTML, err := chromedp.Run(ctx, chromedp.OuterHTML("html"))
	if err != nil {
		t.Fatal(err)
	}

	// A wrong token is refused, on the page, and the job stays failed.
	if err := chromedp.Do(ctx, chromedp.SendKeys("#token", "not-the-token"), chromedp.Click("#redrive")); err != nil {
		t.Fatal(err)
	}
	waitPage("the refusal", `document.getElementById("action-note").textContent.includes("wrong token") ? "yes" : ""`)
	if state, err := chromedp.Run(ctx, chromedp.Text("#summary .state")); err != nil || state != "failed" {
		t.Fatalf("after a wrong token the job is %q (%v); want failed", state, err)
	}

	// A `fanout redrive` killed once it holds the job: the page says who
	// holds it since when and what to do, the job is no longer failed
	// (nor committing: its commits publish nothing), and Redrive is
	// offered.
	by := killRedriveHolding(t, j, job, j.out())
	hold := waitPage("the killed redrive's hold", `(() => { const p = document.getElementById("redrive-hold"); return p && !document.getElementById("redrive").disabled ? p.textContent : ""; })()`)
	for _, s := range []string{"Held by a redrive since ", "(taken by " + by + ")", "run `fanout redrive " + job + "` again to finish it, or press Redrive."} {
		if !strings.Contains(hold, s) {
			t.Errorf("the page's hold note %q lacks %q", hold, s)
		}
	}
	if state, err := chromedp.Run(ctx, chromedp.Text("#summary .state")); err != nil || state != "running" {
		t.Errorf("a job a killed redrive holds is %q (%v); want running", state, err)
	}
	shot("job-held.png")

	// Fixed, redriven with the token typed into the page (taking the
	// killed redrive's hold over), committed by the worker.
	if err := os.WriteFile(healed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById("token").value = "", true)`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys("#token", token), chromedp.Click("#redrive")); err != nil {
		t.Fatal(err)
	}
	waitPage("the redrive", `document.getElementById("action-note").textContent.includes("redriven: 1 failed chunk") ? "yes" : ""`)
	waitPage("the commit", `document.querySelector('#summary .state')?.textContent === "committed" ? "yes" : ""`)
	records := waitPage("the committed records", `(() => { const f = [...document.querySelectorAll('#summary .facts div')].find((d) => d.textContent.startsWith("records")); return f ? f.textContent : ""; })()`)
	if !strings.Contains(records, strconv.Itoa(objects*lines)) {
		t.Errorf("the records fact says %q; want %d", records, objects*lines)
	}
	shot("job-committed.png")
	c := faulttest.CheckCommitted(t, j.store, "out/", job, faulttest.Line, want)
	if len(c.Failed) != 0 || c.Records != objects*lines {
		t.Errorf("commit: %d failed chunks, %d records; want none failed and %d", len(c.Failed), c.Records, objects*lines)
	}

	html, err := chromedp.Run(ctx, chromedp.OuterHTML("html"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, token) || strings.Contains(ui.Stderr(), token) {
		t.Errorf("the token leaked into the page or the dashboard's log")
	}
	if failedHTML == "" || strings.Contains(failedHTML, j.s3.SecretKey) || strings.Contains(html, j.s3.SecretKey) {
		t.Errorf("the S3 secret key (in the poisoned chunk's command and stderr) reached the page")
	}
	t.Logf("progress %d -> %d chunks; redrive reran the poisoned chunk; %d records committed once", before, after, c.Records)
}

// TestDashboardBeyondLoopbackWarns: fanout ui on a non-loopback address
// says on stderr that whoever reaches it sees the pages, and then
// answers a request whatever its Host; on loopback it says nothing of
// the kind and refuses a foreign Host (421).
func TestDashboardBeyondLoopbackWarns(t *testing.T) {
	redisURL, prefix := localstack.RedisNamespace(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "FANOUT_REDIS_URL=" + redisURL, "FANOUT_REDIS_PREFIX=" + prefix}
	for _, c := range []struct {
		listen     string
		warns      bool
		foreignGot int
	}{
		{"127.0.0.1:0", false, http.StatusMisdirectedRequest},
		{"0.0.0.0:0", true, http.StatusOK},
	} {
		t.Run(c.listen, func(t *testing.T) {
			ui := localstack.Start(t, "ui", env, fanoutBinary(t), "ui", "--listen", c.listen)
			ui.WaitLog(t, "serving http://", 30*time.Second)
			stderr := ui.Stderr()
			if warned := strings.Contains(stderr, "is not a loopback address: whoever reaches it sees the dashboard's pages"); warned != c.warns {
				t.Errorf("stderr %q: warned %v, want %v", stderr, warned, c.warns)
			}
			addr := regexp.MustCompile(`serving http://(\S+)/ui/`).FindStringSubmatch(stderr)[1]
			_, port, _ := net.SplitHostPort(addr)
			req, err := http.NewRequest("GET", "http://127.0.0.1:"+port+"/ui/api/jobs", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "dashboard.example"
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.foreignGot {
				t.Errorf("a request for Host dashboard.example: %s, want %d", res.Status, c.foreignGot)
			}
		})
	}
}
