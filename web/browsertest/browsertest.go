// Package browsertest drives Debian's headless Chromium (through chromedp)
// against a running box, for the browser tests that `go test ./...` runs.
// It also runs axe-core in the page for WCAG 2.1 AA checks.
//
// Tools come from the machine: /usr/bin/chromium (apt-get install
// chromium) and axe-core from npm (npm ci --prefix web/browsertest). When
// one is missing a test is skipped with what to install, unless
// CLINICBOX_STRICT_TESTS=1 (set by CI), where it fails instead.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clinicbox/internal/testenv"
)

// ChromiumPath finds the browser: $CHROMIUM, then Debian's chromium.
func ChromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a fresh headless Chromium (its own empty profile) and returns
// a tab context that ends with the test. The box's certificate comes from
// its own CA, which this throw-away profile does not trust: certificate
// errors are ignored here, in tests only.
func New(t testing.TB, extraFlags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := ChromiumPath()
	testenv.Require(t, path != "", "chromium (apt-get install chromium)")
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, extraFlags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// Violation is one axe-core finding.
type Violation struct {
	ID          string `json:"id"`
	Impact      string `json:"impact"`
	Description string `json:"description"`
	Help        string `json:"help"`
	Nodes       []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

func (v Violation) String() string {
	var targets []string
	for _, n := range v.Nodes {
		targets = append(targets, fmt.Sprint(n.Target...))
	}
	return fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(targets, "; "))
}

// AxePath finds axe.min.js: $AXE_CORE_JS, then web/browsertest/node_modules.
func AxePath() string {
	if p := os.Getenv("AXE_CORE_JS"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "node_modules", "axe-core", "axe.min.js")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// Axe runs axe-core on the current page with the WCAG 2.0/2.1 A and AA
// rules and returns the violations. DevTools evaluation is not bound by the
// page's Content-Security-Policy, so the box's strict CSP stays on.
func Axe(ctx context.Context, t testing.TB) []Violation {
	t.Helper()
	path := AxePath()
	testenv.Require(t, path != "", "axe-core (npm ci --prefix web/browsertest)")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](string(src))); err != nil {
		t.Fatalf("loading axe-core: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](
		`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => r.violations)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("running axe-core: %v", err)
	}
	var violations []Violation
	if err := json.Unmarshal(raw, &violations); err != nil {
		t.Fatalf("axe-core result: %v", err)
	}
	return violations
}

// Screenshot saves a full-page PNG (quality 100 is what makes it PNG, not JPEG) in the test's artifact directory (kept
// with `go test -artifacts`) and returns its path.
func Screenshot(ctx context.Context, t *testing.T, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Tab is one browser tab of a test, with the steps every browser test
// repeats: run actions (failing the test on error), read an element's
// text, and require no WCAG violations on the current page.
type Tab struct {
	T   *testing.T
	Ctx context.Context
}

// NewTab starts a browser for the test (see New) and returns its tab.
func NewTab(t *testing.T, extraFlags ...chromedp.ExecAllocatorOption) *Tab {
	t.Helper()
	return &Tab{T: t, Ctx: New(t, extraFlags...)}
}

// Do runs actions in order; an error fails the test.
func (tab *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tab.T.Helper()
	if err := chromedp.Do(tab.Ctx, actions...); err != nil {
		tab.T.Fatal(err)
	}
}

// Text is the text of the first element matching the CSS selector.
func (tab *Tab) Text(sel string) string {
	tab.T.Helper()
	s, err := chromedp.Run(tab.Ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tab.T.Fatalf("%s: %v", sel, err)
	}
	return s
}

// CheckA11y reports every axe-core WCAG 2.1 AA violation on the current
// page as a test error naming the page.
func (tab *Tab) CheckA11y(page string) {
	tab.T.Helper()
	for _, v := range Axe(tab.Ctx, tab.T) {
		tab.T.Errorf("%s: WCAG violation: %s", page, v)
	}
}
