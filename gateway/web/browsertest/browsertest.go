package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Phone is the viewport width of the phone journeys.
const Phone = 390

// Options choose a Browser's viewport and where screenshots go.
type Options struct {
	// Phone emulates a 390×844 phone (touch, device scale 3) instead of a
	// 1280×900 desktop window.
	Phone bool
	// Screenshots is the folder screenshots are written to (created when
	// missing); empty: no screenshots.
	Screenshots string
	// Timeout bounds everything the Browser does (default 2 minutes).
	Timeout time.Duration
}

// Browser is one headless Chromium with one tab.
type Browser struct {
	t    testing.TB
	ctx  context.Context
	opts Options
	name string
}

// Chromium finds the browser: $CHROMIUM, else /usr/bin/chromium, else
// chromium or chromium-browser on PATH.
func Chromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("browsertest: no chromium (apt-get install -y chromium)")
}

// New starts a Browser for the test and stops it when the test ends.
func New(t testing.TB, opts Options) *Browser {
	t.Helper()
	path, err := Chromium()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	w, h := 1280, 900
	if opts.Phone {
		w, h = Phone, 844
	}
	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	}
	base, cancelTimeout := context.WithTimeout(context.Background(), opts.Timeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base, flags...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelTimeout()
	})
	b := &Browser{t: t, ctx: ctx, opts: opts, name: sanitize(t.Name())}
	if opts.Phone {
		b.Do(chromedp.EmulateViewport(int64(w), int64(h), chromedp.EmulateScale(3), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	} else {
		b.Do(chromedp.EmulateViewport(int64(w), int64(h)))
	}
	return b
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func sanitize(s string) string { return strings.Trim(unsafeName.ReplaceAllString(s, "_"), "_") }

// Do runs chromedp steps and fails the test on an error.
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.URLNoFail())
	}
}

func run[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.URLNoFail())
	}
	return v
}

// Open navigates to url and waits for its body.
func (b *Browser) Open(url string) {
	b.t.Helper()
	b.Do(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
}

// Submit clicks the element matching the CSS selector sel (a button or
// link that navigates) and waits until a page whose URL contains want has
// loaded.
func (b *Browser) Submit(sel, want string) {
	b.t.Helper()
	before := b.marker()
	b.Do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
	b.waitLoad(want, before)
}

// marker tags the current document, so a wait can tell a new page from the
// old one.
func (b *Browser) marker() string {
	b.t.Helper()
	m := fmt.Sprintf("bt-%d", time.Now().UnixNano())
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](`window.__browsertest = "`+m+`"`)); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return m
}

// WaitURL waits until a loaded page's URL contains want.
func (b *Browser) WaitURL(want string) {
	b.t.Helper()
	b.waitLoad(want, "")
}

func (b *Browser) waitLoad(want, oldMarker string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := chromedp.Run(b.ctx, chromedp.Location())
		var state string
		if err == nil {
			state, err = chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.readyState + "|" + (window.__browsertest || "")`))
		}
		ready, marker, _ := strings.Cut(state, "|")
		if err == nil && strings.Contains(u, want) && ready == "complete" && (oldMarker == "" || marker != oldMarker) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browser: waited for a page at a URL with %q; at %s (%v)", want, u, err)
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("browser: %v", b.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is the tab's address.
func (b *Browser) URL() string {
	b.t.Helper()
	return run(b, chromedp.Location())
}

// URLNoFail is the tab's address, or "" (for error messages).
func (b *Browser) URLNoFail() string {
	u, _ := chromedp.Run(b.ctx, chromedp.Location())
	return u
}

// Text is the visible text of the first element matching the CSS selector.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	return run(b, chromedp.Text(chromedp.CSS(sel)))
}

// Body is the page's visible text.
func (b *Browser) Body() string {
	b.t.Helper()
	return run(b, chromedp.Evaluate[string](`document.body.innerText`))
}

// HTML is the page's source as the browser holds it.
func (b *Browser) HTML() string {
	b.t.Helper()
	return run(b, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}

// Fits fails the test when the page scrolls sideways (wider than the
// viewport), the check of the phone journeys.
func (b *Browser) Fits() {
	b.t.Helper()
	widths := run(b, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	if len(widths) != 2 || widths[0] > widths[1] {
		b.t.Fatalf("browser: %s is %v px wide for a %v px viewport", b.URLNoFail(), widths[0], widths[1])
	}
}

// Screenshot saves a full-page PNG as <Screenshots>/<test>-<name>.png and
// returns its path ("" without a screenshot folder).
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	if b.opts.Screenshots == "" {
		return ""
	}
	if err := os.MkdirAll(b.opts.Screenshots, 0o755); err != nil {
		b.t.Fatal(err)
	}
	png := run(b, chromedp.FullScreenshot(100))
	path := filepath.Join(b.opts.Screenshots, b.name+"-"+sanitize(name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// Post submits a form to action from the current page, with fields and the
// page's own CSRF token (the first input named csrf), and waits for a page
// at a URL containing want: a page's button that is not there yet.
func (b *Browser) Post(action string, fields map[string]string, want string) {
	b.t.Helper()
	js := `(() => {
		const f = document.createElement("form");
		f.method = "post";
		f.action = ` + strconv.Quote(action) + `;
		const add = (n, v) => { const i = document.createElement("input"); i.type = "hidden"; i.name = n; i.value = v; f.appendChild(i); };
		add("csrf", document.querySelector("input[name=csrf]").value);
`
	for k, v := range fields {
		js += "\t\tadd(" + strconv.Quote(k) + ", " + strconv.Quote(v) + ");\n"
	}
	js += `		document.body.appendChild(f);
		f.submit();
	})()`
	before := b.marker()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
		b.t.Fatalf("browser: post %s: %v", action, err)
	}
	b.waitLoad(want, before)
}
