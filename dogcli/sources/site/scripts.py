"""The scripts dogcli runs inside the camera page, and the selector of its date field."""

from __future__ import annotations

# The History date field; GALLERY_STATE_JS gets it as arguments[0].
DATE_INPUT = "input.el-input__inner[placeholder='Pick a day']"


# Installed before any page script runs. It keeps, in window.__dogcli:
# - started/done: the page's own API calls (fetch and XHR), so that a load is known to be
#   over on a page with no loading mask too;
# - loads/busy: finished gallery loads by the Element loading mask, where the page has one;
# - errors: error messages (ElMessage) shown, since a failed load also ends;
# - seen: every gallery image URL shown since the last reset. An el-image that fails to load
#   is replaced by an error placeholder and its URL leaves the DOM, but the capture exists.
OBSERVER_JS = """
(() => {
  if (window.__dogcli) return;
  const st = window.__dogcli = {loads: 0, busy: false, errors: 0, started: 0, done: 0,
                                seen: new Set(), heading: null};
  const finished = () => { st.done++; };
  const fetch0 = window.fetch;
  if (fetch0) window.fetch = function (...args) {
    st.started++;
    let answer;
    try { answer = fetch0.apply(this, args); } catch (e) { finished(); throw e; }
    // Done once the body is in: the page reads it next and renders it.
    answer.then((r) => r.clone().arrayBuffer().catch(() => null).finally(finished), finished);
    return answer;
  };
  const send0 = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    st.started++;
    this.addEventListener('loadend', finished, {once: true});
    return send0.apply(this, args);
  };
  const findHeading = () => {
    if (st.heading && st.heading.isConnected) return st.heading;
    st.heading = null;
    for (const h of document.querySelectorAll('h1,h2,h3,h4,h5,h6')) {
      if (h.textContent.includes('History')) return (st.heading = h);
    }
    const walk = document.createTreeWalker(document.body || document, NodeFilter.SHOW_TEXT);
    for (let t = walk.nextNode(); t; t = walk.nextNode()) {
      const el = t.parentElement;
      if (t.data.includes('History') && el && !el.closest('script,style,.el-picker-panel'))
        return (st.heading = el);
    }
    return null;
  };
  st.findHeading = findHeading;
  const inGallery = (el) => {
    const h = findHeading();
    return !!h && !!(h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
  };
  st.inGallery = inGallery;
  const busy = () => {
    for (const m of document.querySelectorAll('.el-loading-mask')) {
      if (m.getClientRects().length && getComputedStyle(m).visibility !== 'hidden') return true;
    }
    return false;
  };
  const isError = (n) => n.nodeType === 1 &&
    (n.matches('.el-message--error') || !!n.querySelector('.el-message--error'));
  const remember = (n) => {
    if (n.nodeType !== 1) return;
    const imgs = n.matches('img.el-image__inner') ? [n] : n.querySelectorAll('img.el-image__inner');
    for (const img of imgs) if (img.src && inGallery(img)) st.seen.add(img.src);
  };
  const check = (records) => {
    for (const r of records) {
      if (r.type === 'attributes') { if (r.attributeName === 'src') remember(r.target); continue; }
      for (const n of r.addedNodes) { if (isError(n)) st.errors++; remember(n); }
    }
    const b = busy(); if (st.busy && !b) st.loads++; st.busy = b;
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['style', 'class', 'src']
  });
})();
"""

# One round trip: the gallery after the heading that contains "History", as shown now.
GALLERY_STATE_JS = """
const st = window.__dogcli;
const out = {loads: 0, busy: false, errors: 0, started: 0, done: 0, heading: false,
             nocamera: false, value: null, urls: [], items: 0, placeholders: 0,
             page: null, next: null};
if (!st) return out;
Object.assign(out, {loads: st.loads, busy: st.busy, errors: st.errors, started: st.started,
                    done: st.done});
const heading = st.findHeading();
out.heading = !!heading;
const input = document.querySelector(arguments[0]);
out.value = input ? input.value : null;
if (!heading || !input) {
  out.nocamera = !!document.body && document.body.textContent.includes('No camera found');
  return out;
}
for (const item of document.querySelectorAll('.el-image')) {
  if (!st.inGallery(item)) continue;
  out.items++;
  const img = item.querySelector('img.el-image__inner');
  if (img && img.src) out.urls.push(img.src);
  else if (item.querySelector('.el-image__placeholder')) out.placeholders++;
}
for (const pager of document.querySelectorAll('.el-pagination')) {
  if (!st.inGallery(pager)) continue;
  const active = pager.querySelector('.el-pager li.is-active');
  out.page = active ? parseInt(active.textContent, 10) || 1 : 1;
  const next = pager.querySelector('button.btn-next');
  out.next = !next ? 'none' : (next.disabled || next.classList.contains('is-disabled')
                               ? 'disabled' : 'enabled');
  break;
}
return out;
"""

# Bring the first still-lazy image of the gallery into view, which makes the page load it
# and the images below it in the viewport. A scroll event is sent as well: scrollIntoView
# fires none when nothing had to move (pages that listen for scrolling, not intersections).
SCROLL_NEXT_JS = """
const st = window.__dogcli;
for (const ph of document.querySelectorAll('.el-image .el-image__placeholder')) {
  const item = ph.closest('.el-image');
  if (item.querySelector('img.el-image__inner[src]') || !st.inGallery(item)) continue;
  item.scrollIntoView({block: 'start'});
  for (let el = item.parentElement; el; el = el.parentElement) {
    const style = getComputedStyle(el);
    const scrolls = /(auto|scroll)/.test(style.overflowY + style.overflow);
    if (scrolls && el.scrollHeight > el.clientHeight) el.dispatchEvent(new Event('scroll'));
  }
  window.dispatchEvent(new Event('scroll'));
  return true;
}
return false;
"""

# Bring every lazy image of an inner scrolling box into view at once: each scrolling box
# around the gallery is opened to its full height, so a visibility check against that box
# (Element Plus el-image with a scroll container: an IntersectionObserver rooted at it) sees
# every image. Images checked against the window are left to the SCROLL_NEXT_JS steps.
EXPAND_LAZY_JS = """
const st = window.__dogcli;
const seen = new Set(), boxes = [];
let lazy = 0;
for (const ph of document.querySelectorAll('.el-image .el-image__placeholder')) {
  const item = ph.closest('.el-image');
  if (item.querySelector('img.el-image__inner[src]') || !st.inGallery(item)) continue;
  lazy++;
  for (let el = item.parentElement; el && el !== document.body; el = el.parentElement) {
    if (seen.has(el)) break;
    seen.add(el);
    const style = getComputedStyle(el);
    if (/(auto|scroll)/.test(style.overflowY + style.overflow) && el.scrollHeight > el.clientHeight)
      boxes.push(el);
  }
}
for (const box of boxes) {
  box.style.setProperty('height', 'auto', 'important');
  box.style.setProperty('max-height', 'none', 'important');
  box.dispatchEvent(new Event('scroll'));
}
window.dispatchEvent(new Event('scroll'));
return boxes.length ? lazy : 0;
"""

# Click the pager's "next" button, or its page number 1; true when there was one to click.
PAGER_JS = """
const st = window.__dogcli;
for (const pager of document.querySelectorAll('.el-pagination')) {
  if (!st.inGallery(pager)) continue;
  let target = null;
  if (arguments[0] === 'next') target = pager.querySelector('button.btn-next');
  else for (const li of pager.querySelectorAll('.el-pager li'))
    if (li.textContent.trim() === '1') { target = li; break; }
  if (!target || target.disabled) return false;
  target.scrollIntoView({block: 'center'});
  target.click();
  return true;
}
return false;
"""
