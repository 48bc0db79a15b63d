package console

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/keyward/keyward/test/e2e/e2ekit"
)

// chromiumPath finds Debian's chromium; without it the test skips locally
// and fails under CI.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); CI must run the console's browser test")
	}
	t.Skip("chromium is not installed: skipping the console's browser test (apt-get install -y chromium)")
	return ""
}

// browser is one headless Chromium tab with the failure watchers on.
type browser struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	n      int
	mu     sync.Mutex
	faults []string
	// pages are the signed-in page URLs checkA11y saw, for the layout sweep.
	pages []string
	// the lowest contrast ratios measured, and where
	visualChecks         int
	minText, minRing     float64
	minTextAt, minRingAt string
}

func newBrowser(t *testing.T, exe string) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		// Every host but 127.0.0.1 is unreachable: the console must need nothing else.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &browser{t: t, ctx: ctx, shots: filepath.Join(e2ekit.Root, "test-output", "console")}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.fault("JavaScript exception: " + e.ExceptionDetails.Text + " " + describe(e.ExceptionDetails.Exception))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeAssert {
				b.fault("console error: " + argsText(e.Args))
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.LevelError {
				b.fault("browser log error: " + e.Entry.Text + " " + e.Entry.URL)
			}
		case *network.EventLoadingFailed:
			b.fault(fmt.Sprintf("request failed: %s %s", e.ErrorText, e.BlockedReason))
		case *network.EventResponseReceived:
			if e.Response.Status >= 400 {
				b.fault(fmt.Sprintf("request failed: %d %s", e.Response.Status, e.Response.URL))
			}
		}
	})
	b.run(network.Enable(), log.Enable(), runtime.Enable(), accessibility.Enable(),
		chromedp.ActionFunc(func(ctx context.Context) error {
			// A clipboard spy, installed before any page script runs.
			_, err := page.AddScriptToEvaluateOnNewDocument(`window.__copied = [];
if (navigator.clipboard) { navigator.clipboard.writeText = (t) => { window.__copied.push(String(t)); return Promise.resolve(); }; }`).Do(ctx)
			return err
		}))
	return b
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}

func argsText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		if a.Value != nil {
			parts = append(parts, string(a.Value))
		} else {
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

func (b *browser) fault(s string) {
	b.mu.Lock()
	b.faults = append(b.faults, s)
	b.mu.Unlock()
}

// expected drops the faults holding s (a refusal the step provokes on purpose).
func (b *browser) expected(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept, n := b.faults[:0], 0
	for _, f := range b.faults {
		if strings.Contains(f, s) {
			n++
			continue
		}
		kept = append(kept, f)
	}
	b.faults = kept
	return n
}

// checkFaults fails on any JavaScript error or failed request so far.
func (b *browser) checkFaults() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.faults) > 0 {
		b.t.Fatalf("browser faults:\n%s", strings.Join(b.faults, "\n"))
	}
}

func (b *browser) run(actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// shot saves a PNG of the whole page.
func (b *browser) shot(name string) {
	b.t.Helper()
	var buf []byte
	b.run(chromedp.FullScreenshot(&buf, 100))
	b.n++
	p := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// find waits for the first unignored node with role and exact accessible
// name (inside the node within, if any) and returns its DOM node.
func (b *browser) find(role, name string, within ...cdp.BackendNodeID) cdp.BackendNodeID {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found cdp.BackendNodeID
		err := chromedp.Run(b.ctx, chromedp.ActionFunc(func(ctx context.Context) error {
			params := map[string]any{"accessibleName": name, "role": role}
			if len(within) > 0 {
				params["backendNodeId"] = within[0]
			} else {
				doc, err := dom.GetDocument().WithDepth(0).Do(ctx)
				if err != nil {
					return err
				}
				params["nodeId"] = doc.NodeID
			}
			var res axNodes
			if err := cdp.Execute(ctx, accessibility.CommandQueryAXTree, params, &res); err != nil {
				return err
			}
			for _, n := range res.Nodes {
				if !n.Ignored && n.BackendDOMNodeID != 0 {
					found = n.BackendDOMNodeID
					return nil
				}
			}
			return nil
		}))
		if err == nil && found != 0 {
			return found
		}
		if time.Now().After(deadline) {
			b.shot("not-found")
			b.t.Fatalf("no %s named %q on the page (err %v)", role, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// on runs fn (a JavaScript function) with this = the node and decodes its result into out.
func (b *browser) on(id cdp.BackendNodeID, fn string, out any) {
	b.t.Helper()
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		obj, err := dom.ResolveNode().WithBackendNodeID(id).Do(ctx)
		if err != nil {
			return err
		}
		res, exc, err := runtime.CallFunctionOn(fn).WithObjectID(obj.ObjectID).WithReturnByValue(true).WithAwaitPromise(true).Do(ctx)
		if err != nil {
			return err
		}
		if exc != nil {
			return fmt.Errorf("%s: %s", exc.Text, describe(exc.Exception))
		}
		if out != nil && res != nil && res.Value != nil {
			return json.Unmarshal(res.Value, out)
		}
		return nil
	}))
}

// eval evaluates a page expression.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	b.run(chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
}

// click clicks the node's centre with the mouse.
func (b *browser) click(id cdp.BackendNodeID) {
	b.t.Helper()
	b.on(id, `function() { this.scrollIntoView({block: 'center'}); }`, nil)
	var x, y float64
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		m, err := dom.GetBoxModel().WithBackendNodeID(id).Do(ctx)
		if err != nil {
			return err
		}
		q := m.Border
		x, y = (q[0]+q[2]+q[4]+q[6])/4, (q[1]+q[3]+q[5]+q[7])/4
		return nil
	}))
	b.run(chromedp.MouseClickXY(x, y))
}

// clickRole finds a control and clicks it.
func (b *browser) clickRole(role, name string, within ...cdp.BackendNodeID) {
	b.t.Helper()
	b.click(b.find(role, name, within...))
}

// typeInto focuses a text field by clicking it, clears it and types.
func (b *browser) typeInto(role, name, text string) {
	b.t.Helper()
	id := b.find(role, name)
	b.click(id)
	b.on(id, `function() { this.value = ''; }`, nil)
	b.run(chromedp.KeyEvent(text))
}

// focused reports whether the node has the focus.
func (b *browser) focused(id cdp.BackendNodeID) bool {
	var yes bool
	b.on(id, `function() { return this === document.activeElement; }`, &yes)
	return yes
}

// tabTo moves the focus with Tab alone until the named control has it.
func (b *browser) tabTo(role, name string, within ...cdp.BackendNodeID) cdp.BackendNodeID {
	b.t.Helper()
	id := b.find(role, name, within...)
	for i := 0; i < 400; i++ {
		if b.focused(id) {
			return id
		}
		b.run(chromedp.KeyEvent(kb.Tab))
	}
	b.shot("tab-not-reached")
	b.t.Fatalf("Tab never reached the %s %q", role, name)
	return 0
}

// press sends keys to the focused element.
func (b *browser) press(keys string) { b.t.Helper(); b.run(chromedp.KeyEvent(keys)) }

func (b *browser) value(id cdp.BackendNodeID) string {
	var v string
	b.on(id, `function() { return this.value; }`, &v)
	return v
}

// waitStatus waits for the aria-live region to say want.
func (b *browser) waitStatus(want string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got string
		b.eval(`(document.querySelector('[aria-live]') || {}).textContent || ''`, &got)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			b.shot("status")
			b.t.Fatalf("status region says %q, want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// axNode is an accessibility node as the protocol sends it (read loosely:
// newer Chromium adds enum values the typed bindings do not know).
type axNode struct {
	Ignored bool `json:"ignored"`
	Role    *struct {
		Value any `json:"value"`
	} `json:"role"`
	Name *struct {
		Value any `json:"value"`
	} `json:"name"`
	BackendDOMNodeID cdp.BackendNodeID `json:"backendDOMNodeId"`
}

type axNodes struct {
	Nodes []axNode `json:"nodes"`
}

func (n axNode) role() string { return str(n.Role) }
func (n axNode) name() string { return str(n.Name) }

func str(v *struct {
	Value any `json:"value"`
}) string {
	if v == nil {
		return ""
	}
	s, _ := v.Value.(string)
	return s
}

// namedControls are the roles that must have an accessible name.
var namedControls = map[string]bool{"button": true, "link": true, "textbox": true, "searchbox": true, "checkbox": true,
	"radio": true, "combobox": true, "listbox": true, "spinbutton": true, "switch": true, "slider": true, "menuitem": true}

// checkA11y reads the accessibility tree and fails on a control without a name.
func (b *browser) checkA11y(where string) {
	b.t.Helper()
	var bad []string
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		var res axNodes
		if err := cdp.Execute(ctx, accessibility.CommandGetFullAXTree, map[string]any{}, &res); err != nil {
			return err
		}
		for _, n := range res.Nodes {
			role := n.role()
			if n.Ignored || !namedControls[role] {
				continue
			}
			if strings.TrimSpace(n.name()) == "" {
				bad = append(bad, fmt.Sprintf("%s (node %d)", role, n.BackendDOMNodeID))
			}
		}
		return nil
	}))
	if len(bad) > 0 {
		b.shot("a11y-" + where)
		b.t.Fatalf("%s: controls without an accessible name: %v", where, bad)
	}
	var signedIn, dialogOpen bool
	b.eval(`!!document.querySelector('.signout')`, &signedIn)
	b.eval(`!!document.querySelector('[role=dialog]')`, &dialogOpen)
	if p := b.path(); signedIn && !dialogOpen && !slices.Contains(b.pages, p) {
		b.pages = append(b.pages, p)
	}
	b.checkVisual(where)
}

// path is the page's path and query.
func (b *browser) path() string {
	var p string
	b.eval(`location.pathname + location.search`, &p)
	return p
}
