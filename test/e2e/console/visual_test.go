package console

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// contrastJS measures WCAG 2.2 contrast on the page as drawn: every visible
// element holding text (its own text nodes, a form control's value or
// placeholder) against its effective background (the ancestors'
// background colours composited from the first opaque one), and every
// focusable control's focus ring against the background around it (the
// outline is drawn outside the control, offset from it: its neighbour on
// both sides is the parent's background). With a modal dialog open only the
// dialog is measured (the rest lies under the backdrop). It answers the
// failures and the lowest text and ring ratios seen.
const contrastJS = `(() => {
  const parse = (s) => {
    const m = /rgba?\(([^)]+)\)/.exec(s || '');
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const lin = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const bgOf = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const hex = (c) => '#' + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  const visible = (el) => {
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true })) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.right > 0 && r.left < document.documentElement.clientWidth + 1 && r.bottom > -10000;
  };
  const label = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '');
  const dlg = document.querySelector('[role=dialog]');
  const scope = dlg || document.body;
  const out = { failures: [], minText: 99, minRing: 99, texts: 0, rings: 0 };
  const check = (el, fg, bg, text, large) => {
    fg = over(fg, bg);
    const r = ratio(fg, bg);
    const need = large ? 3 : 4.5;
    out.texts++;
    if (r < out.minText) out.minText = r;
    if (r < need) out.failures.push('text ' + JSON.stringify(text.slice(0, 40)) + ' in ' + label(el) + ': ' + hex(fg) + ' on ' + hex(bg) + ' = ' + r.toFixed(2) + ':1, needs ' + need + ':1');
  };
  for (const el of scope.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'OPTION', 'CANVAS', 'TITLE'].includes(el.tagName) || !visible(el)) continue;
    const cs = getComputedStyle(el);
    const px = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
    const large = px >= 24 || (px >= 18.66 && bold);
    let own = '';
    for (const n of el.childNodes) if (n.nodeType === 3) own += n.textContent;
    own = own.trim();
    if (el.matches('input:not([type=checkbox]):not([type=radio]), textarea, select')) {
      const v = el.tagName === 'SELECT' ? (el.multiple ? '' : (el.selectedOptions[0] || {}).textContent || '') : el.value;
      if (v) check(el, parse(cs.color), bgOf(el), v, large);
      else if (el.placeholder) check(el, parse(getComputedStyle(el, '::placeholder').color), bgOf(el), el.placeholder, large);
      if (el.tagName === 'SELECT' && el.multiple) for (const o of el.options) {
        const oc = getComputedStyle(o);
        if (o.textContent.trim()) check(o, parse(oc.color), bgOf(o), o.textContent, large);
      }
      continue;
    }
    if (own) check(el, parse(cs.color), bgOf(el), own, large);
  }
  // Focus rings: focus each control as the keyboard would, read its outline.
  const before = document.activeElement;
  const sx = scrollX, sy = scrollY;
  for (const el of scope.querySelectorAll('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')) {
    if (el.disabled || !visible(el)) continue;
    el.focus({ focusVisible: true, preventScroll: true });
    if (document.activeElement !== el) continue;
    const cs = getComputedStyle(el);
    out.rings++;
    if (!el.matches(':focus-visible') || cs.outlineStyle === 'none' || parseFloat(cs.outlineWidth) < 2) {
      out.failures.push('focus ring of ' + label(el) + ' ' + JSON.stringify((el.textContent || el.value || '').trim().slice(0, 30)) + ': not drawn (' + cs.outlineStyle + ' ' + cs.outlineWidth + ', focus-visible ' + el.matches(':focus-visible') + ')');
      continue;
    }
    const ring = parse(cs.outlineColor), around = bgOf(el.parentElement);
    const r = ratio(over(ring, around), around);
    if (r < out.minRing) out.minRing = r;
    if (r < 3) out.failures.push('focus ring of ' + label(el) + ' ' + JSON.stringify((el.textContent || el.value || '').trim().slice(0, 30)) + ': ' + hex(ring) + ' next to ' + hex(around) + ' = ' + r.toFixed(2) + ':1, needs 3:1');
  }
  if (before && before.focus) before.focus({ preventScroll: true }); else document.activeElement.blur();
  scrollTo(sx, sy);
  return out;
})()`

// layoutJS checks the page at the current viewport: no horizontal scroll of
// the page itself (a table may scroll inside its own container), every
// control inside the viewport's width unless it sits in such a container,
// no two controls overlapping, and an open dialog wholly on screen (or
// scrolling inside itself).
const layoutJS = `(() => {
  const de = document.documentElement;
  const W = de.clientWidth, H = innerHeight;
  const out = [];
  if (de.scrollWidth > W) out.push('page scrolls horizontally: scrollWidth ' + de.scrollWidth + ' > clientWidth ' + W);
  const dlg = document.querySelector('[role=dialog]');
  const scope = dlg || document.body;
  const scroller = (el) => {
    for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
      const o = getComputedStyle(e).overflowX;
      if ((o === 'auto' || o === 'scroll') && e.scrollWidth > e.clientWidth) return e;
    }
    return null;
  };
  const name = (el) => el.tagName.toLowerCase() + ' ' + JSON.stringify((el.getAttribute('aria-label') || el.textContent || el.value || el.id || '').trim().slice(0, 30));
  const ctrls = [...scope.querySelectorAll('a[href], button, input, select, textarea')].filter((el) => el.checkVisibility({ visibilityProperty: true }) && !el.closest('.skip'));
  const boxes = [];
  for (const el of ctrls) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const sc = scroller(el);
    if (!sc && (r.left < -0.5 || r.right > W + 0.5)) out.push(name(el) + ' clipped: x ' + r.left.toFixed(0) + '..' + r.right.toFixed(0) + ' outside 0..' + W);
    boxes.push([el, r, sc]);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra, sa] = boxes[i], [b, rb] = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left), h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (w > 1 && h > 1) out.push(name(a) + ' and ' + name(b) + ' overlap by ' + w.toFixed(0) + 'x' + h.toFixed(0));
  }
  if (dlg) {
    const r = dlg.getBoundingClientRect(), cs = getComputedStyle(dlg);
    if (r.left < 0 || r.right > W + 0.5 || r.top < -0.5 || r.bottom > H + 0.5) out.push('dialog not wholly on screen: ' + [r.left, r.top, r.right, r.bottom].map((v) => v.toFixed(0)).join(',') + ' in ' + W + 'x' + H);
    if (dlg.scrollHeight > dlg.clientHeight + 1 && !['auto', 'scroll'].includes(cs.overflowY)) out.push('dialog content cut off: it does not scroll');
  }
  return out;
})()`

type contrastResult struct {
	Failures []string `json:"failures"`
	MinText  float64  `json:"minText"`
	MinRing  float64  `json:"minRing"`
	Texts    int      `json:"texts"`
	Rings    int      `json:"rings"`
}

// viewport is a CSS viewport and device scale factor.
type viewport struct {
	name string
	w, h int64
	dsf  float64
}

var viewports = []viewport{{"1280x800", 1280, 800, 1}, {"1366x768", 1366, 768, 1}, {"zoom200", 640, 400, 2}}

// keyboardModality sends a harmless key, so that Chromium's focus-visible
// heuristic treats the next focus as a keyboard one.
func (b *browser) keyboardModality() {
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		if err := input.DispatchKeyEvent(input.KeyRawDown).WithKey("Shift").WithCode("ShiftLeft").WithWindowsVirtualKeyCode(16).Do(ctx); err != nil {
			return err
		}
		return input.DispatchKeyEvent(input.KeyUp).WithKey("Shift").WithCode("ShiftLeft").WithWindowsVirtualKeyCode(16).Do(ctx)
	}))
}

// checkVisual measures contrast and layout on the page as it is, failing
// on any shortfall, and keeps the lowest ratios seen.
func (b *browser) checkVisual(where string) {
	b.t.Helper()
	b.keyboardModality()
	var c contrastResult
	b.eval(contrastJS, &c)
	var lay []string
	b.eval(layoutJS, &lay)
	b.visualChecks++
	if c.Texts > 0 && (b.minText == 0 || c.MinText < b.minText) {
		b.minText, b.minTextAt = c.MinText, where
	}
	if c.Rings > 0 && (b.minRing == 0 || c.MinRing < b.minRing) {
		b.minRing, b.minRingAt = c.MinRing, where
	}
	if len(c.Failures)+len(lay) > 0 {
		b.shot("visual-" + where)
		b.t.Fatalf("%s: contrast or layout below the mark:\n%s", where, strings.Join(append(c.Failures, lay...), "\n"))
	}
}

// atViewport runs fn with the CSS viewport set to v, then restores 1280×800.
func (b *browser) atViewport(v viewport, fn func()) {
	b.t.Helper()
	b.run(chromedp.EmulateViewport(v.w, v.h, chromedp.EmulateScale(v.dsf)))
	defer b.run(chromedp.EmulateViewport(1280, 800, chromedp.EmulateScale(1)))
	fn()
}

// settle waits until the page shows its heading (the route has drawn).
func (b *browser) settle() {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ready bool
		b.eval(`!!document.querySelector('main h1') && !document.querySelector('main > p:only-child')`, &ready)
		if ready {
			// let the last list calls land
			time.Sleep(150 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) {
			b.shot("settle")
			b.t.Fatalf("page %s never showed its heading", b.path())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sweep loads every page the test visited, by its URL, at each viewport and
// checks contrast and layout there.
func (b *browser) sweep(base string) {
	b.t.Helper()
	for _, v := range viewports {
		b.atViewport(v, func() {
			for _, p := range b.pages {
				b.run(chromedp.Navigate(base + p))
				b.settle()
				b.checkVisual(fmt.Sprintf("%s-%s", v.name, slug(p)))
			}
			b.shot("sweep-" + v.name)
		})
	}
}

func slug(p string) string {
	s := strings.NewReplacer("/console/", "", "/", "-", "?", "-", "=", "-", "&", "-").Replace(p)
	if len(s) > 60 {
		s = s[:60]
	}
	if s == "" {
		s = "home"
	}
	return s
}
