package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumFlag is one flag of Chromium's command line: --Name, or --Name=Value when
// Value is not empty.
type ChromiumFlag struct {
	Name, Value string
}

// ChromiumFlags are the flags of every headless Chromium of the lab (see the package
// documentation for what each is for), with a fake camera at fps frames a second (0:
// Chromium's default, 20). The caller adds --user-data-dir, with a fresh folder.
func ChromiumFlags(fps int) []ChromiumFlag {
	camera := ""
	if fps > 0 {
		camera = "fps=" + strconv.Itoa(fps)
	}
	return []ChromiumFlag{
		{"headless", "new"},
		{"no-sandbox", ""},
		{"disable-gpu", ""},
		{"disable-quic", ""},
		{"no-first-run", ""},
		{"no-default-browser-check", ""},
		{"disable-background-networking", ""},
		{"disable-component-update", ""},
		{"disable-sync", ""},
		{"disable-extensions", ""},
		{"disable-dev-shm-usage", ""},
		{"disable-background-timer-throttling", ""},
		{"disable-renderer-backgrounding", ""},
		{"disable-backgrounding-occluded-windows", ""},
		{"mute-audio", ""},
		{"use-fake-device-for-media-stream", camera},
		{"use-fake-ui-for-media-stream", ""},
		{"autoplay-policy", "no-user-gesture-required"},
	}
}

// ChromiumArgs are ChromiumFlags(fps) as command-line arguments.
func ChromiumArgs(fps int) []string {
	var args []string
	for _, f := range ChromiumFlags(fps) {
		if f.Value == "" {
			args = append(args, "--"+f.Name)
		} else {
			args = append(args, "--"+f.Name+"="+f.Value)
		}
	}
	return args
}

// Browser is one headless Chromium, driven over the DevTools protocol; each open page is
// a tab.
type Browser struct {
	ctx      context.Context
	mu       sync.Mutex
	messages []string
}

// StartBrowser starts the Chromium at path, with ChromiumFlags and a fresh profile; it
// ends with the test.
func StartBrowser(t testing.TB, path string) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir())}
	for _, f := range ChromiumFlags(0) {
		var v any = true
		if f.Value != "" {
			v = f.Value
		}
		opts = append(opts, chromedp.Flag(f.Name, v))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &Browser{ctx: ctx}
}

// Open opens url in a new tab and collects its console's warnings and errors.
func (b *Browser) Open(t testing.TB, url string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
				b.mu.Lock()
				where := ""
				if m.Stack != nil && len(m.Stack.CallFrames) > 0 {
					f := m.Stack.CallFrames[0]
					where = fmt.Sprintf(" (%s %s:%d:%d)", f.FunctionName, path.Base(f.URL), f.LineNumber+1, f.ColumnNumber+1)
				}
				b.messages = append(b.messages, fmt.Sprintf("%s %s: %s%s", url, m.Type, m.Text, where))
				b.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return ctx
}

// LogConsole logs the warnings and errors of every page's console.
func (b *Browser) LogConsole(t testing.TB) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.messages {
		t.Log("console:", m)
	}
}

// evalHang bounds an evaluation in a page: only a page that has stopped answering
// takes it, and the test says so rather than wait for its own timeout.
const evalHang = 2 * time.Minute

// EvalJSON evaluates a JavaScript expression in a page and decodes its value (through
// JSON.stringify, which turns NaN into null).
func EvalJSON(t testing.TB, page context.Context, expr string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, evalHang)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify("+expr+")"))
	if ctx.Err() != nil {
		t.Fatalf("evaluate %s: the page did not answer within %s (its renderer hung or crashed): %v", expr, evalHang, err)
	}
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("evaluate %s: %v: %s", expr, err, s)
	}
}
