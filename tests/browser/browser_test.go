package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/etaxd/etaxd/internal/testutil"
)

// The browser layer: one headless Chromium for the suite, a tab in a
// browser context of its own (its own cookies) per WeChat user, and the
// few actions a person does on a page: open, click, type, read.

const (
	// stepTimeout bounds one action on a page (a click and the page it
	// loads, a read).
	stepTimeout = 30 * time.Second
	// viewport is the mobile screen the pages are made for.
	viewportW, viewportH = 375, 812
)

// suite is what every flow gets: etaxd and the browser.
type suite struct {
	*stack
	browser context.Context // has a running browser; tabs are its children
	shots   string          // the screenshot directory
	shotN   atomic.Int64    // numbers the screenshots in the order taken
}

// chromiumPath finds Debian's chromium. Missing, the suite fails (skips
// under -short).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium not found on PATH: install it with `apt-get install chromium fonts-noto-cjk` (.ci/run does)"
	if testing.Short() {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// checkCJKFont fails the suite when fontconfig knows no Chinese font: the
// pages would render as boxes in the screenshots.
func checkCJKFont(t *testing.T) {
	t.Helper()
	fcList, err := exec.LookPath("fc-list")
	if err != nil {
		return // no fontconfig to ask; chromium brings it on Debian
	}
	out, err := exec.Command(fcList, ":lang=zh", "family").Output()
	if err == nil && strings.TrimSpace(string(out)) == "" {
		t.Fatal("no Chinese font installed: the screenshots would show boxes; `apt-get install fonts-noto-cjk` (.ci/run does)")
	}
}

// startBrowser starts headless Chromium for the test; it is closed when the
// test ends.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	checkCJKFont(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// The network is closed: nothing may try to reach Google.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(viewportW, viewportH),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // ends the process, removes what it left
	})
	// The first Do starts the browser; it has no timeout, so the browser
	// lives as long as ctx.
	start := make(chan error, 1)
	go func() { start <- chromedp.Do(ctx) }()
	select {
	case err := <-start:
		if err != nil {
			t.Fatalf("start chromium (%s): %v", path, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("chromium (%s) did not start within 60 s", path)
	}
	return ctx
}

// screenshotDir is $ETAXD_ARTIFACTS/screenshots, else
// <repo>/artifacts/screenshots; the suite's PNGs from an earlier run are
// removed.
func screenshotDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("ETAXD_ARTIFACTS")
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		repo := wd
		for {
			if _, err := os.Stat(filepath.Join(repo, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(repo)
			if parent == repo {
				t.Fatalf("no go.mod above %s", wd)
			}
			repo = parent
		}
		root = filepath.Join(repo, "artifacts")
	}
	dir := filepath.Join(root, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "[0-9][0-9][0-9]-*.png"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	return dir
}

// tab is one WeChat user's browser tab.
type tab struct {
	t      *testing.T
	s      *suite
	ctx    context.Context
	flow   string // the subtest's name, in screenshot names
	label  string // tells the users of a flow apart in screenshot names
	OpenID string

	mu      sync.Mutex
	dialogs []string    // confirm() texts seen, in order
	dismiss atomic.Bool // answer the next confirm() with 取消
}

// newTab opens a tab in a fresh browser context (its own cookie jar) with
// the mobile viewport. It is closed when the test ends.
func (s *suite) newTab(t *testing.T, label, openid string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(s.browser, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, s: s, ctx: ctx, flow: t.Name()[strings.LastIndex(t.Name(), "/")+1:], label: label, OpenID: openid}
	// The first Do opens the tab; it must have no timeout (the tab would
	// close with it), so a timer cancels the tab if it hangs.
	hung := time.AfterFunc(stepTimeout, cancel)
	err := chromedp.Do(ctx)
	if !hung.Stop() {
		err = fmt.Errorf("no tab after %v: %w", stepTimeout, err)
	}
	if err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	// confirm() blocks the click that opened it: answer it from here.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.dialogs = append(tb.dialogs, ev.Message)
			tb.mu.Unlock()
			accept := !tb.dismiss.Swap(false)
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept}); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	step, stop := tb.step()
	defer stop()
	if err := chromedp.Do(step, chromedp.EmulateViewport(viewportW, viewportH, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatalf("emulate the phone: %v", err)
	}
	return tb
}

func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, stepTimeout)
}

// fatalf ends the flow with the page's address and text, and a screenshot.
func (tb *tab) fatalf(format string, args ...any) {
	tb.t.Helper()
	msg := fmt.Sprintf(format, args...)
	file := tb.shot("FAILED")
	tb.t.Fatalf("%s\n  user %s at %s (screenshot %s)\n  page text:\n%s", msg, tb.OpenID, tb.location(), file, indent(tb.pageText()))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

// evaluate runs a JavaScript expression in the page and decodes its value.
func evaluate[T any](tb *tab, expr string) (T, error) {
	ctx, cancel := tb.step()
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func (tb *tab) location() string {
	loc, err := evaluate[string](tb, `location.pathname + location.search`)
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return loc
}

// pageText is what the screen shows, as text (the title bar included).
func (tb *tab) pageText() string {
	s, err := evaluate[string](tb, `document.body ? document.body.innerText : ""`)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// settle waits until the page and its fonts are loaded.
func (tb *tab) settle() {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.fonts.ready.then(() => true)`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("page did not settle: %v", err)
	}
}

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

// shot saves a full-page PNG of the screen as NNN-flow[-label]-slug.png and
// returns its name.
func (tb *tab) shot(slug string) string {
	tb.t.Helper()
	n := tb.s.shotN.Add(1)
	parts := []string{fmt.Sprintf("%03d", n), tb.flow}
	if tb.label != "" {
		parts = append(parts, tb.label)
	}
	parts = append(parts, slug)
	name := strings.Trim(slugRE.ReplaceAllString(strings.ToLower(strings.Join(parts, "-")), "-"), "-") + ".png"
	ctx, cancel := tb.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return name
	}
	if err := os.WriteFile(filepath.Join(tb.s.shots, name), png, 0o644); err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
	}
	// Nothing may be wider than the phone: a page that scrolls sideways
	// hides its right edge (a long username did).
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil {
		tb.t.Errorf("page width at %s: %v", name, err)
	} else if w > viewportW {
		tb.t.Errorf("%s: the page is %d px wide, wider than the %d px screen", name, w, viewportW)
	}
	return name
}

// open types an address (entry points only: a person otherwise clicks) and
// returns the HTTP status of the page it lands on.
func (tb *tab) open(path, slug string) int64 {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(tb.s.base+path))
	if err != nil {
		tb.fatalf("open %s: %v", path, err)
	}
	tb.settle()
	tb.shot(slug)
	return resp.Status
}

// XPath building blocks. Texts are matched whole, spaces normalised.

func xpathString(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return `'` + s + `'`
}

// cardXPath is the card (class "card") whose own heading (h2 or h3 child)
// starts with the text title, before any badge inside the heading: an
// account's username, an enterprise's or a tenant's name, a form's title.
func cardXPath(title string) string {
	return `//*[contains(concat(" ", normalize-space(@class), " "), " card ")][./*[self::h2 or self::h3][normalize-space(text()[1])=` + xpathString(title) + `]]`
}

// controlXPath is a link or button reading text, inside the card titled
// scope when scope is not empty.
func controlXPath(scope, text string) string {
	x := `//*[self::a or self::button][normalize-space()=` + xpathString(text) + `]`
	if scope != "" {
		x = cardXPath(scope) + x
	}
	return x
}

// texts is the text of every element that xpath selects.
func (tb *tab) texts(xpath string) []string {
	tb.t.Helper()
	q, _ := json.Marshal(xpath)
	out, err := evaluate[[]string](tb, `(x => { const r = document.evaluate(x, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
		const out = []; for (let i = 0; i < r.snapshotLength; i++) out.push(r.snapshotItem(i).innerText || ""); return out })(`+string(q)+`)`)
	if err != nil {
		tb.fatalf("evaluate %s: %v", xpath, err)
	}
	return out
}

// clickXPath clicks the first element xpath selects (as a finger would:
// mouse events at its centre) and waits for the page it loads. It returns
// the status of that page.
func (tb *tab) clickXPath(xpath, what, slug string) int64 {
	tb.t.Helper()
	if len(tb.texts(xpath)) == 0 {
		tb.fatalf("no %s on the page", what)
	}
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.Search(xpath)))
	if err != nil {
		tb.fatalf("click %s: %v", what, err)
	}
	tb.settle()
	tb.shot(slug)
	if resp == nil {
		return 0
	}
	return resp.Status
}

// click clicks the link or button reading text and waits for the next page.
func (tb *tab) click(text, slug string) int64 {
	tb.t.Helper()
	return tb.clickXPath(controlXPath("", text), fmt.Sprintf("link or button %q", text), slug)
}

// clickIn is click inside the card titled scope.
func (tb *tab) clickIn(scope, text, slug string) int64 {
	tb.t.Helper()
	return tb.clickXPath(controlXPath(scope, text), fmt.Sprintf("link or button %q in the card %q", text, scope), slug)
}

// more taps 更多 on the account card of username: its menu (编辑, 删除,
// 更换微信) opens in place.
func (tb *tab) more(username, slug string) {
	tb.t.Helper()
	xpath := cardXPath(username) + `//summary[normalize-space()="更多"]`
	if len(tb.texts(xpath)) == 0 {
		tb.fatalf("no 更多 on the card %q", username)
	}
	isOpen := func() bool {
		open, err := evaluate[bool](tb, `(x => { const n = document.evaluate(x, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue; return !!(n && n.parentElement.open) })(`+jsString(xpath)+`)`)
		if err != nil {
			tb.fatalf("read the 更多 menu of %q: %v", username, err)
		}
		return open
	}
	if isOpen() {
		return // opened already: a second tap would close it
	}
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(xpath))); err != nil {
		tb.fatalf("tap 更多 of %q: %v", username, err)
	}
	if !isOpen() {
		tb.fatalf("the 更多 menu of %q did not open", username)
	}
	tb.shot(slug)
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// back taps the title bar's ‹ 返回.
func (tb *tab) back(slug string) int64 {
	tb.t.Helper()
	return tb.clickXPath(`//header//a[contains(normalize-space(), "返回")]`, "‹ 返回 in the title bar", slug)
}

// clickStay clicks a control that must not leave the page (a confirm()
// answered 取消) and waits until the click is handled.
func (tb *tab) clickStay(scope, text string) {
	tb.t.Helper()
	xpath := controlXPath(scope, text)
	if len(tb.texts(xpath)) == 0 {
		tb.fatalf("no link or button %q in the card %q", text, scope)
	}
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(xpath))); err != nil {
		tb.fatalf("click %q: %v", text, err)
	}
}

// fill types value into the field with the id, replacing what it held.
func (tb *tab) fill(id, value string) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Clear(chromedp.ID(id)), chromedp.SendKeys(chromedp.ID(id), value)); err != nil {
		tb.fatalf("type into #%s: %v", id, err)
	}
	got, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil || got != value {
		tb.fatalf("#%s holds %q after typing %q (%v)", id, got, value, err)
	}
}

// value is what the field with the id holds.
func (tb *tab) value(id string) string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		tb.fatalf("read #%s: %v", id, err)
	}
	return v
}

// choose taps the radio button (or checkbox) whose label reads text.
func (tb *tab) choose(text string) {
	tb.t.Helper()
	xpath := `//label[normalize-space()=` + xpathString(text) + `]`
	if len(tb.texts(xpath)) == 0 {
		tb.fatalf("no choice %q on the page", text)
	}
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(xpath))); err != nil {
		tb.fatalf("choose %q: %v", text, err)
	}
	if tb.chosen() != text {
		tb.fatalf("%q is not checked after tapping it (checked: %q)", text, tb.chosen())
	}
}

// chosen is the label of the checked radio button ("" when none).
func (tb *tab) chosen() string {
	tb.t.Helper()
	s, err := evaluate[string](tb, `(() => { const i = document.querySelector("input[type=radio]:checked"); return i && i.closest("label") ? i.closest("label").innerText.trim() : "" })()`)
	if err != nil {
		tb.fatalf("read the checked choice: %v", err)
	}
	return s
}

// pick chooses the option reading text in the <select> with the id.
func (tb *tab) pick(id, text string) {
	tb.t.Helper()
	q, _ := json.Marshal(text)
	idq, _ := json.Marshal(id)
	v, err := evaluate[string](tb, `(() => { const s = document.getElementById(`+string(idq)+`); if (!s) return "";
		const o = [...s.options].find(o => o.text.trim() === `+string(q)+`); return o ? o.value : "" })()`)
	if err != nil || v == "" {
		tb.fatalf("no option %q in #%s (%v)", text, id, err)
	}
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID(id), v)); err != nil {
		tb.fatalf("pick %q in #%s: %v", text, id, err)
	}
}

// title is the title bar's text.
func (tb *tab) title() string {
	tb.t.Helper()
	ts := tb.texts(`//header//h1`)
	if len(ts) == 0 {
		return ""
	}
	return strings.TrimSpace(ts[0])
}

// on asserts the title bar reads title.
func (tb *tab) on(title string) {
	tb.t.Helper()
	if got := tb.title(); got != title {
		tb.fatalf("on the page %q, want %q", got, title)
	}
}

// see asserts the screen shows every text.
func (tb *tab) see(want ...string) {
	tb.t.Helper()
	text := tb.pageText()
	if w, ok := containsAll(text, want...); !ok {
		tb.fatalf("the page does not show %q", w)
	}
}

// notSee asserts the screen shows none of the texts.
func (tb *tab) notSee(unwanted ...string) {
	tb.t.Helper()
	text := tb.pageText()
	for _, u := range unwanted {
		if strings.Contains(text, u) {
			tb.fatalf("the page shows %q", u)
		}
	}
}

// card is the text of the card titled title; the test fails without one.
func (tb *tab) card(title string) string {
	tb.t.Helper()
	ts := tb.texts(cardXPath(title))
	if len(ts) == 0 {
		tb.fatalf("no card %q on the page", title)
	}
	return ts[0]
}

// hasCard reports whether a card titled title is on the page.
func (tb *tab) hasCard(title string) bool {
	tb.t.Helper()
	return len(tb.texts(cardXPath(title))) > 0
}

// seeIn asserts the card titled title shows every text.
func (tb *tab) seeIn(title string, want ...string) {
	tb.t.Helper()
	if w, ok := containsAll(tb.card(title), want...); !ok {
		tb.fatalf("the card %q does not show %q", title, w)
	}
}

// notSeeIn asserts the card titled title shows none of the texts.
func (tb *tab) notSeeIn(title string, unwanted ...string) {
	tb.t.Helper()
	c := tb.card(title)
	for _, u := range unwanted {
		if strings.Contains(c, u) {
			tb.fatalf("the card %q shows %q", title, u)
		}
	}
}

// controls lists the links and buttons of the card titled title.
func (tb *tab) controls(title string) []string {
	tb.t.Helper()
	tb.card(title)
	out := tb.texts(cardXPath(title) + `//*[self::a or self::button]`)
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// offers asserts the card titled title has a visible control for each text
// (exactly), and notOffers that it has none of them.
func (tb *tab) offers(title string, want ...string) {
	tb.t.Helper()
	have := tb.controls(title)
	for _, w := range want {
		if !contains(have, w) {
			tb.fatalf("the card %q offers %q, not %q", title, have, w)
		}
	}
}

func (tb *tab) notOffers(title string, unwanted ...string) {
	tb.t.Helper()
	have := tb.controls(title)
	for _, u := range unwanted {
		if contains(have, u) {
			tb.fatalf("the card %q offers %q (all: %q)", title, u, have)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// alert is the inline error the page shows ("" when none).
func (tb *tab) alert() string {
	tb.t.Helper()
	ts := tb.texts(`//*[@role="alert"]`)
	if len(ts) == 0 {
		return ""
	}
	return strings.TrimSpace(ts[0])
}

// seeAlert asserts the inline error reads want.
func (tb *tab) seeAlert(want string) {
	tb.t.Helper()
	if got := tb.alert(); got != want {
		tb.fatalf("inline error %q, want %q", got, want)
	}
}

// notice is the success line the page shows ("" when none).
func (tb *tab) notice() string {
	tb.t.Helper()
	ts := tb.texts(`//*[@role="status"]`)
	if len(ts) == 0 {
		return ""
	}
	return strings.TrimSpace(ts[0])
}

// seeNotice asserts the success line reads want.
func (tb *tab) seeNotice(want string) {
	tb.t.Helper()
	if got := tb.notice(); got != want {
		tb.fatalf("success line %q, want %q", got, want)
	}
}

// status asserts a page came with the HTTP status want.
func (tb *tab) status(got, want int64, what string) {
	tb.t.Helper()
	if got != want {
		tb.fatalf("%s: HTTP %d, want %d", what, got, want)
	}
}

// lastDialog is the text of the newest confirm() the page showed.
func (tb *tab) lastDialog() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.dialogs) == 0 {
		return ""
	}
	return tb.dialogs[len(tb.dialogs)-1]
}

// dialogCount is how many confirm() the page showed.
func (tb *tab) dialogCount() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.dialogs)
}

// waitDialogs waits until the page showed n confirm() in all.
func (tb *tab) waitDialogs(n int) {
	tb.t.Helper()
	testutil.Eventually(tabFailer{tb.t, tb}, stepTimeout, func() error {
		if got := tb.dialogCount(); got < n {
			return fmt.Errorf("no confirm dialog came (%d of %d)", got, n)
		}
		return nil
	})
}

// tabFailer is the tab's test for testutil.Eventually: a wait that runs
// out fails through fatalf, with the screenshot and the page text.
type tabFailer struct {
	*testing.T
	tb *tab
}

// Fatalf fails the test through the tab's fatalf.
func (f tabFailer) Fatalf(format string, args ...any) {
	f.T.Helper()
	f.tb.fatalf(format, args...)
}

// reload reloads the page (a person pulling it down to refresh).
func (tb *tab) reload(slug string) int64 {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Reload())
	if err != nil {
		tb.fatalf("reload: %v", err)
	}
	tb.settle()
	tb.shot(slug)
	if resp == nil {
		return 0
	}
	return resp.Status
}

// seeAlertPrefix asserts the inline error starts with want (a detail may
// follow it).
func (tb *tab) seeAlertPrefix(want string) {
	tb.t.Helper()
	if got := tb.alert(); !strings.HasPrefix(got, want) {
		tb.fatalf("inline error %q, want %q…", got, want)
	}
}
