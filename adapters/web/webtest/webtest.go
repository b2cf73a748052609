// Package webtest drives the hub's pages in a real browser (Debian's
// Chromium through the DevTools protocol) for tests: sign in, fill forms,
// wait for answers, check accessibility with axe-core and save screenshots.
// Pages are driven through their DOM, as a person's clicks would be, so a
// test sees exactly what the page shows.
package webtest

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
)

// Browser is one Chromium process shared by a test's pages.
type Browser struct {
	alloc  context.Context
	cancel context.CancelFunc
	// Shots is where screenshots are saved: $CONTACTPOINT_SCREENSHOTS, or a
	// directory under the test's temporary directory.
	Shots string
	axe   string
}

// AxePath is where `npm ci` in testdata/axe puts axe-core.
func AxePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "axe", "node_modules", "axe-core", "axe.min.js")
}

// New starts Chromium headless, or skips the test when it or axe-core is
// not installed (.ci/run installs both).
func New(t *testing.T) *Browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed: apt-get install chromium")
	}
	axe, err := os.ReadFile(AxePath())
	if err != nil {
		t.Skip("axe-core is not installed: run `npm ci` in adapters/web/testdata/axe")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		// Tests run as root in CI, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	shots := os.Getenv("CONTACTPOINT_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// The first tab starts the browser; pages open their own contexts in it.
	root, stop := chromedp.NewContext(alloc)
	if err := chromedp.Do(root); err != nil {
		cancel()
		t.Fatalf("start chromium: %v", err)
	}
	b := &Browser{alloc: root, cancel: cancel, Shots: shots, axe: string(axe)}
	t.Cleanup(func() { stop(); cancel() })
	return b
}

// Page is one tab in its own browser context, so each person has their
// own cookies.
type Page struct {
	t   *testing.T
	b   *Browser
	ctx context.Context
}

// Page opens a tab with its own cookies.
func (b *Browser) Page(t *testing.T) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.alloc, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start browser: %v", err)
	}
	return &Page{t: t, b: b, ctx: ctx}
}

func (p *Page) do(what string, a ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, a...); err != nil {
		p.t.Fatalf("%s: %v (page says %q)", what, err, p.message())
	}
}

func (p *Page) message() string {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("message")||{}).textContent||""`))
	return s
}

// Go navigates to url.
func (p *Page) Go(url string) { p.t.Helper(); p.do("navigate "+url, chromedp.Navigate(url)) }

// Reload reloads the page; Back goes back in history.
func (p *Page) Reload() { p.t.Helper(); p.do("reload", chromedp.Reload()) }

// Back goes back one entry in the tab's history.
func (p *Page) Back() { p.t.Helper(); p.do("back", chromedp.NavigateBack()) }

// Viewport sets the page's size, for the mobile layout.
func (p *Page) Viewport(w, h int64) {
	p.t.Helper()
	p.do("viewport", chromedp.EmulateViewport(w, h))
}

// JS evaluates expr (awaiting a promise) and decodes its value into a string.
func (p *Page) JS(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// Wait waits until expr is truthy.
func (p *Page) Wait(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.t.Fatalf("waiting for %s: %v (page says %q; main text %q)", what, err, p.message(), p.Text("main"))
	}
}

// WaitText waits until the element of selector contains text.
func (p *Page) WaitText(selector, text string) {
	p.t.Helper()
	p.Wait(fmt.Sprintf("%q in %s", text, selector), fmt.Sprintf(`(document.querySelector(%q)||{}).textContent?.includes(%q)`, selector, text))
}

// Text is the text of the first element matching selector.
func (p *Page) Text(selector string) string {
	p.t.Helper()
	return p.JS(fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, selector))
}

// Fill sets the form control named name inside the element of scope, as
// typing would (an input event).
func (p *Page) Fill(scope, name, value string) {
	p.t.Helper()
	got := p.JS(fmt.Sprintf(`(() => { const e = document.querySelector(%q)?.querySelector('[name=%q]'); if (!e) return "missing";
		e.value = %q; e.dispatchEvent(new Event("input", {bubbles: true})); return "ok"; })()`, scope, name, value))
	if got != "ok" {
		p.t.Fatalf("no field %s in %s", name, scope)
	}
}

// Check ticks the checkbox named name with value inside scope.
func (p *Page) Check(scope, name, value string) {
	p.t.Helper()
	if p.JS(fmt.Sprintf(`(() => { const e = document.querySelector(%q)?.querySelector('input[name=%q][value=%q]'); if (!e) return "missing"; e.checked = true; return "ok"; })()`, scope, name, value)) != "ok" {
		p.t.Fatalf("no checkbox %s=%s in %s", name, value, scope)
	}
}

// Press clicks the button (or link) inside scope whose text is label.
func (p *Page) Press(scope, label string) {
	p.t.Helper()
	if p.JS(fmt.Sprintf(`(() => { const b = [...(document.querySelector(%q)?.querySelectorAll("button, a") || [])].find((b) => b.textContent.trim() === %q);
		if (!b) return "missing"; b.click(); return "ok"; })()`, scope, label)) != "ok" {
		p.t.Fatalf("no button %q in %s (main text %q)", label, scope, p.Text("main"))
	}
}

// Keys types keys as key events into whatever has focus.
func (p *Page) Keys(keys string) { p.t.Helper(); p.do("keys", chromedp.KeyEvent(keys)) }

// Focused describes the element with focus: its tag, name and text.
func (p *Page) Focused() string {
	return p.JS(`(() => { const e = document.activeElement; return e ? e.tagName.toLowerCase() + " " + (e.name || "") + " " + (e.textContent || "").trim().slice(0, 40) : ""; })()`)
}

// SignIn fills in the sign-in form and waits for the navigation to appear.
func (p *Page) SignIn(base, username, password, code string) {
	p.t.Helper()
	p.Go(base + "/")
	p.Wait("the sign-in form", `!document.getElementById("signin").hidden`)
	p.Fill("#signin-form", "username", username)
	p.Fill("#signin-form", "password", password)
	p.Fill("#signin-form", "code", code)
	p.Press("#signin-form", "Sign in")
	p.Wait("signed in", `!document.getElementById("nav").hidden && document.querySelector("#view h1")`)
}

// Nav lists the navigation's labels.
func (p *Page) Nav() []string {
	var out []string
	_ = json.Unmarshal([]byte(p.JS(`JSON.stringify([...document.querySelectorAll("#nav a")].map((a) => a.textContent))`)), &out)
	return out
}

// Axe runs axe-core on the page against WCAG 2.2 A and AA and fails the
// test on any violation, naming the rule and the elements.
func (p *Page) Axe(name string) {
	p.t.Helper()
	if p.JS(`typeof window.axe`) != "object" {
		p.JS(p.b.axe + `; "loaded"`)
	}
	out := p.JS(`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}, resultTypes: ["violations"]})
		.then((r) => JSON.stringify(r.violations.map((v) => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}))))`)
	if out != "[]" {
		p.t.Errorf("%s: accessibility violations (WCAG 2.2 AA): %s", name, out)
	}
}

// Shot saves a full-page screenshot as <Shots>/<name>.png.
func (p *Page) Shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	name = strings.NewReplacer("/", "-", " ", "-").Replace(name)
	if err := os.WriteFile(filepath.Join(p.b.Shots, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// Checked runs axe and saves a screenshot: what every page gets.
func (p *Page) Checked(name string) {
	p.t.Helper()
	p.Axe(name)
	p.Shot(name)
}
