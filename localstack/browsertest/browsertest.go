// Package browsertest drives a real browser in tests: Debian's headless
// Chromium (installed by scripts/tools.sh), either run once on a page
// (Render: --dump-dom, --screenshot) or driven over the DevTools protocol
// with chromedp (New) to click, type and watch a live page. A test whose
// machine has no chromium skips naming scripts/test.sh, and fails under
// FANOUT_REQUIRE_SERVICES=1 (localstack.Missing).
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fanout-dev/fanout/localstack"
)

// Path returns the chromium binary, or skips (fails when required) when
// there is none.
func Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		localstack.Missing(t, "Debian's chromium (installed by scripts/tools.sh)")
	}
	return p
}

// flags are what every headless run needs on a build machine: no
// sandbox (tests may run as root), no GPU, nothing fetched from Google,
// a profile of the test's own.
func flags(t testing.TB) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
}

// Render runs Chromium once on url with extra arguments (--dump-dom,
// --screenshot=FILE, --window-size=W,H) and returns what it printed.
func Render(t testing.TB, url string, args ...string) []byte {
	t.Helper()
	chromium := Path(t)
	args = append(flags(t), args...)
	cmd := exec.Command(chromium, append(args, url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// New starts a headless Chromium with a window of width x height and
// returns a chromedp context driving one tab of it; both end with the
// test.
func New(t testing.TB, width, height int) context.Context {
	t.Helper()
	chromium := Path(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium), chromedp.WindowSize(width, height)}
	for _, f := range flags(t) {
		name, value, ok := bytes.Cut([]byte(f[2:]), []byte("="))
		if ok {
			opts = append(opts, chromedp.Flag(string(name), string(value)))
		} else {
			opts = append(opts, chromedp.Flag(string(name), true))
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// ScreenshotPath says where a test keeps a screenshot named name: in the
// directory $env names when it is set (made if missing), else in a
// temporary directory of the test. Screenshots are never committed.
func ScreenshotPath(t testing.TB, env, name string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// IsPNG reports whether b looks like a PNG of a rendered page (not an
// empty or failed capture).
func IsPNG(b []byte) bool {
	return len(b) > 10_000 && bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n"))
}
