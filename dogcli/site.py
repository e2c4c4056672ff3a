"""Discovery: read the captures of a (stream, day) from the camera page in headless Chromium."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, unquote

from selenium import webdriver
from selenium.common.exceptions import (
    JavascriptException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from dogcli.captures import Capture, parse_image_url
from dogcli.errors import BrowserError, DiscoveryError, NoCamera
from dogcli.retry import BackoffWait
from dogcli.settings import Settings

log = logging.getLogger(__name__)

POLL = 0.05
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


@dataclass(frozen=True)
class Found:
    capture: Capture
    variant: str  # which image the page showed; the CDN client decides what to keep


class Browser:
    """One headless Chromium per command run, with a fresh throwaway profile."""

    def __init__(
        self, binary: str, driver_path: str, page_timeout: float = 30.0, timezone: str = ""
    ) -> None:
        self.binary = binary
        self.driver_path = driver_path
        self.page_timeout = page_timeout
        self.timezone = timezone  # the browser's zone: a page may compute its days in it
        self._profile: str | None = None
        self._driver: webdriver.Chrome | None = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._closing: threading.Thread | None = None

    @property
    def driver(self) -> webdriver.Chrome:
        self._join_start()
        if self._start_error is not None:
            error, self._start_error = self._start_error, None
            raise error
        if self._driver is None:
            self._driver = self._start()
        return self._driver

    def start_soon(self) -> None:
        """Start Chromium in a background thread while the caller gets other things ready;
        the first use of `driver` waits for it (and raises what starting it raised)."""
        if self._driver is not None or self._starting is not None:
            return

        def start() -> None:
            try:
                self._driver = self._start()
            except BaseException as exc:  # handed over by `driver`
                self._start_error = exc

        self._starting = threading.Thread(target=start, name="browser-start", daemon=True)
        self._starting.start()

    def _join_start(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None

    def _start(self) -> webdriver.Chrome:
        self._profile = tempfile.mkdtemp(prefix="dogcli-chromium-")
        options = Options()
        options.binary_location = self.binary
        options.page_load_strategy = "eager"
        for arg in (
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--metrics-recording-only",
            "--mute-audio",
            "--window-size=1280,1024",
            # Images stay on: an Element Plus el-image may render its <img>, and so its URL,
            # only once the image has loaded (SITE.md).
            f"--user-data-dir={self._profile}",
        ):
            options.add_argument(arg)
        if os.geteuid() == 0:
            options.add_argument("--no-sandbox")  # Chromium refuses to run as root otherwise
        # Giving the driver path keeps Selenium Manager (and its downloads) out of it.
        env = dict(os.environ)
        if self.timezone:
            env["TZ"] = self.timezone  # Chromium's zone follows its process's TZ
        service = Service(executable_path=self.driver_path, env=env)
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except WebDriverException as exc:
            self._cleanup_profile()
            raise BrowserError(self._start_failure(exc)) from None
        except OSError as exc:
            self._cleanup_profile()
            raise BrowserError(f"cannot start chromedriver {self.driver_path}: {exc}") from None
        driver.set_page_load_timeout(self.page_timeout)
        driver.set_script_timeout(self.page_timeout)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER_JS})
        # A request that hangs holds Chromium's HTTP cache lock on its URL for about 20 s,
        # so a retry (a reloaded page asking the API the same URL) would stall behind it.
        # Without the cache there is no lock; nothing here is ever fetched twice on purpose.
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        return driver

    def _start_failure(self, exc: WebDriverException) -> str:
        """One line that names the part that failed and why (Selenium spreads it over lines)."""
        raw = (exc.msg or str(exc)).split("For documentation on this error")[0]
        lines = [line.strip(" ;") for line in raw.splitlines() if line.strip(" ;")]
        text = " ".join(lines)
        if "obtain driver" in text or ("Service" in text and "unexpectedly exited" in text):
            return f"cannot start chromedriver {self.driver_path}: {lines[0] if lines else text}"
        # "session not created" alone says nothing: keep the reason that follows it.
        detail = "; ".join(lines[:2]) if lines else type(exc).__name__
        return f"cannot start Chromium {self.binary}: {detail[:300]}"

    def close_soon(self) -> None:
        """Quit Chromium in a background thread; close() waits for it."""
        if self._closing is None:
            self._closing = threading.Thread(target=self._close, name="browser-quit", daemon=True)
            self._closing.start()

    def close(self) -> None:
        if self._closing is not None:
            self._closing.join()
            self._closing = None
        self._close()

    def _close(self) -> None:
        self._join_start()
        self._start_error = None
        if self._driver is not None:
            try:
                self._driver.quit()
            except Exception as exc:  # the browser may be gone already
                log.debug("browser quit: %s", exc)
            self._driver = None
        self._cleanup_profile()

    def _cleanup_profile(self) -> None:
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CameraSite:
    """The DrayDog camera pages of one terminal, driven through one Browser."""

    def __init__(
        self,
        browser: Browser,
        settings: Settings,
    ) -> None:
        self.browser = browser
        self.site_url = settings.site_url.rstrip("/")
        self.cdn_url = settings.cdn_url
        self.cdn_prefix = self.cdn_url.rstrip("/") + "/"
        self.terminal = settings.terminal
        self.zones = settings.zones
        self.timeout = settings.page_timeout
        self.max_retries = settings.max_retries
        self.wait = BackoffWait(settings.retry_base)
        self._stream: str | None = None  # stream whose page is open

    def page_url(self, stream: str) -> str:
        return (
            f"{self.site_url}/terminal_cameras/{quote(self.terminal)}"
            f"?streamName={quote(stream)}#camera-history"
        )

    def discover(self, stream: str, day: date) -> list[Found]:
        """Every capture of `stream` the page's History shows for the local `day`, whatever
        the date in its URL; retried, then DiscoveryError (NoCamera at once)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.wait,
            retry=retry_if_exception_type((TimeoutException, WebDriverException, _PageError)),
            reraise=True,
            before_sleep=lambda state: (
                log.warning(
                    "%s %s: %s; retrying", stream, day, _describe(state.outcome.exception())
                )
                if state.outcome
                else None
            ),
        )
        try:
            for attempt in retrying:
                with attempt:
                    fresh = attempt.retry_state.attempt_number > 1
                    return self._discover_once(stream, day, reload=fresh)
        except (TimeoutException, WebDriverException, _PageError) as exc:
            self._stream = None
            raise DiscoveryError(f"{stream} {day}: {_describe(exc)}") from None
        except NoCamera:
            self._stream = None
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- one attempt -----------------------------------------------------------------------

    def _discover_once(self, stream: str, day: date, reload: bool) -> list[Found]:
        driver = self.browser.driver
        started = time.monotonic()
        opened = reload or self._stream != stream
        if opened:
            self._stream = None
            url = self.page_url(stream)
            if driver.current_url.split("#")[0] == url.split("#")[0]:
                driver.get("about:blank")  # a same-URL get() would not reload
            driver.get(url)
        target = f"{day:%Y-%m-%d}"
        state = self._wait(
            lambda s: s["nocamera"] or (s["heading"] and s["value"] is not None),
            "the History date picker",
        )
        if state["nocamera"]:
            raise NoCamera(f"{stream}: the page says 'No camera found'")
        self._stream = stream
        if opened:  # the page's own first load (today's): what we pick must come after it
            fresh = {"done": 0, "loads": 0, "errors": 0, "started": 0}
            state = self._settled(state["value"], fresh, "the page's first gallery")
        if state["value"] != target:
            self._select_day(target, state)
        elif state["busy"] or state["started"] > state["done"]:
            self._settled(target, state, f"the History gallery of {target}")
        urls = self._read_pages(target)
        found = self._parse(urls, stream)
        log.debug(
            "%s %s: %d captures in %.2fs", stream, day, len(found), time.monotonic() - started
        )
        return found

    def _state(self) -> dict[str, Any]:
        try:
            state = self.browser.driver.execute_script(GALLERY_STATE_JS, DATE_INPUT)
        except JavascriptException as exc:
            raise _PageError(f"page script failed: {exc.msg}") from None
        return dict(state)

    def _wait(
        self, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float | None = None
    ) -> dict[str, Any]:
        box: dict[str, Any] = {}

        def check(_driver: Any) -> bool:
            box["state"] = self._state()
            return bool(condition(box["state"]))

        try:
            WebDriverWait(self.browser.driver, timeout or self.timeout, poll_frequency=POLL).until(
                check
            )
        except TimeoutException:
            raise TimeoutException(f"timed out waiting for {what}") from None
        state: dict[str, Any] = box["state"]
        return state

    def _settled(
        self, target: str, before: dict[str, Any], what: str, page: int | None = None
    ) -> dict[str, Any]:
        """Wait until a load the page began is over and its gallery is drawn: no API call in
        flight and a new one finished (or, on a page without any, a loading mask came and
        went), no mask, the date is `target` (and the pager on `page`), and the gallery the
        same at two polls in a row (the page renders what it received a moment later).

        An error message shown meanwhile, with no image of the day, means the load failed
        (the gallery is empty or still the previous day's): an error, never an empty day."""
        last: list[Any] = [None]

        def over(s: dict[str, Any]) -> bool:
            if s["nocamera"]:  # the page learns it from its first answer
                raise NoCamera(f"{self._stream}: the page says 'No camera found'")
            if s["busy"] or s["started"] > s["done"] or s["value"] != target:
                return False
            if s["done"] <= before["done"] and s["loads"] <= before["loads"]:
                return False  # nothing has happened yet
            if page is not None and s["page"] not in (None, page):
                return False
            of_day, other = self._days(s["urls"], target)
            if s["errors"] > before["errors"] and not of_day:
                raise _PageError(f"the page failed to load the History of {target}")
            if of_day < other:  # still the previous day's images
                return False
            sig = (len(s["urls"]), s["items"], s["urls"][:1], s["urls"][-1:], s["page"])
            steady: bool = sig == last[0]
            last[0] = sig
            return steady

        return self._wait(over, what)

    def _days(self, urls: list[str], target: str) -> tuple[int, int]:
        """How many gallery URLs are of the local day `target`, and of the most frequent other
        day: a day's gallery holds URLs of two UTC dates, and while a load runs the previous
        day's images stay. Images of other hosts, and a few odd ones, count for nothing (a
        hostile page could add them forever)."""
        days = Counter(self._local_day(u) for u in urls if u.startswith(self.cdn_prefix))
        days.pop(None, None)
        of_day = days.pop(target, 0)
        return of_day, max(days.values(), default=0)

    def _local_day(self, url: str) -> str | None:
        # .../{ts}-{stream}[...].jpeg: the stamp, without full validation (speed).
        name = url.rsplit("/", 1)[-1]
        try:
            stamp = datetime.fromisoformat(unquote(name)[:19])
        except ValueError:
            return None
        return f"{self.zones.to_utc(stamp).astimezone(self.zones.site):%Y-%m-%d}"

    def _select_day(self, target: str, before: dict[str, Any]) -> None:
        driver = self.browser.driver
        driver.execute_script("window.__dogcli.seen.clear()")  # URLs of this day only
        field = driver.find_element(By.CSS_SELECTOR, DATE_INPUT)
        # Typing is the fast path; clear() does not stick on Element inputs, Ctrl+A does.
        field.click()
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(target, Keys.ENTER)
        try:
            self._wait(
                lambda s: (
                    s["value"] == target
                    and (
                        s["busy"]
                        or s["started"] > before["started"]
                        or s["loads"] > before["loads"]
                    )
                ),
                "the typed date",
                timeout=min(self.timeout, 3.0),
            )
        except TimeoutException:
            log.debug("typing %s was not taken; clicking the calendar", target)
            self._click_calendar(target)
        self._settled(target, before, f"the History gallery of {target}")

    def _click_calendar(self, target: str) -> None:
        driver = self.browser.driver
        year, month, day = (int(p) for p in target.split("-"))
        field = driver.find_element(By.CSS_SELECTOR, DATE_INPUT)
        if not _visible_panel(driver):
            field.click()
        panel: WebElement = WebDriverWait(driver, self.timeout, POLL).until(_visible_panel)  # type: ignore[assignment]
        for _ in range(1200):  # bounded: 100 years of months
            shown = _panel_month(panel)
            if shown == (year, month):
                break
            arrow = "arrow-left" if shown > (year, month) else "arrow-right"
            buttons = [
                b
                for b in panel.find_elements(By.CSS_SELECTOR, f"button.{arrow}, .{arrow}")
                if b.is_displayed() and "d-arrow" not in (b.get_attribute("class") or "")
            ]
            if not buttons:
                raise _PageError("the calendar has no month arrows")
            buttons[0].click()

            def moved(_driver: Any, before: tuple[int, int] = shown) -> bool:
                return _panel_month(panel) != before

            WebDriverWait(driver, self.timeout, POLL).until(moved)
        for cell in panel.find_elements(By.CSS_SELECTOR, "table.el-date-table td"):
            classes = (cell.get_attribute("class") or "").split()
            if "prev-month" in classes or "next-month" in classes:
                continue
            if cell.text.strip() == str(day):
                if "disabled" in classes:
                    raise _PageError(f"the calendar does not offer {target}")
                cell.find_element(By.CSS_SELECTOR, "span").click()
                return
        raise _PageError(f"no calendar cell for {target}")

    def _read_pages(self, target: str) -> list[str]:
        """Every image URL of the day's gallery: each page of a paginated one, from the first."""
        driver = self.browser.driver
        state = self._state()
        if state["page"] not in (None, 1):
            before = state
            if not driver.execute_script(PAGER_JS, "first"):
                raise _PageError("the gallery's pager has no page 1")
            self._settled(target, before, "page 1 of the gallery", page=1)
        urls = self._load_all_lazy()
        for _ in range(1000):  # bounded: a thousand pages
            state = self._state()
            if state["next"] != "enabled":
                break
            page = int(state["page"] or 1) + 1
            if not driver.execute_script(PAGER_JS, "next"):
                break
            self._wait_page(target, state, page)
            urls.extend(self._load_all_lazy())
        seen = driver.execute_script("return Array.from(window.__dogcli.seen)")
        return list(dict.fromkeys([*urls, *(seen or [])]))

    def _wait_page(self, target: str, before: dict[str, Any], page: int) -> None:
        """A pager step: the page asked the server for it (then wait for that load) or drew
        it from what it had (then wait for the drawing)."""
        last: list[Any] = [None]

        def sig(s: dict[str, Any]) -> tuple[Any, ...]:
            return (len(s["urls"]), s["items"], s["urls"][:1], s["urls"][-1:])

        def shown(s: dict[str, Any]) -> bool:
            if s["page"] != page or s["busy"] or s["started"] > s["done"]:
                return False
            if s["value"] != target:
                raise _PageError(f"the date changed to {s['value']} while paging")
            now = sig(s)
            steady = now == last[0] and (now != sig(before) or s["done"] > before["done"])
            last[0] = now
            return steady

        self._wait(shown, f"page {page} of the gallery of {target}")

    def _load_all_lazy(self) -> list[str]:
        """Bring lazy thumbnails into view until every gallery image has its URL."""
        driver = self.browser.driver
        state = self._state()
        if state["placeholders"] and driver.execute_script(EXPAND_LAZY_JS):
            try:
                state = self._wait(
                    lambda s: not s["placeholders"] or s["busy"],
                    "lazy images to load",
                    timeout=min(2.0, self.timeout),
                )
            except TimeoutException:
                state = self._state()  # checked against the window: step through instead
            if state["busy"]:
                raise _PageError("the gallery reloaded while scrolling")
        deadline = time.monotonic() + self.timeout
        while state["placeholders"]:
            before = state["placeholders"]
            if not driver.execute_script(SCROLL_NEXT_JS):
                break
            try:
                # Short steps: a nudge the page ignored (throttled) is simply sent again.
                state = self._wait(
                    lambda s, before=before: bool(s["placeholders"] < before or s["busy"]),  # type: ignore[misc]
                    "lazy images to load",
                    timeout=min(1.0, self.timeout),
                )
            except TimeoutException:
                if time.monotonic() > deadline:
                    raise
                continue
            if state["busy"]:
                raise _PageError("the gallery reloaded while scrolling")
            deadline = time.monotonic() + self.timeout
        return list(state["urls"])

    def _parse(self, urls: list[str], stream: str) -> list[Found]:
        found: dict[Capture, Found] = {}
        for url in urls:
            parsed = parse_image_url(url, self.cdn_url, self.terminal, self.zones)
            if parsed is None:
                log.debug("ignored URL %s", url[:200])
                continue
            capture, variant = parsed
            if capture.stream == stream:
                found.setdefault(capture, Found(capture, variant))
        return sorted(found.values(), key=lambda f: f.capture.taken)


class _PageError(Exception):
    pass


def _visible_panel(driver: Any) -> WebElement | bool:
    for panel in driver.find_elements(By.CSS_SELECTOR, ".el-picker-panel"):
        if panel.is_displayed():
            return panel  # type: ignore[no-any-return]
    return False


MONTHS = {
    name: index
    for index, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}


def _panel_month(panel: WebElement) -> tuple[int, int]:
    header = panel.find_element(By.CSS_SELECTOR, ".el-date-picker__header").text
    year = month = 0
    for word in header.replace("年", " ").replace("月", " ").split():
        lowered = word.lower()
        if lowered.isdigit() and len(lowered) == 4:
            year = int(lowered)
        elif lowered.isdigit() and 1 <= int(lowered) <= 12:
            month = int(lowered)
        elif lowered in MONTHS:
            month = MONTHS[lowered]
        elif lowered[:3] in {m[:3] for m in MONTHS}:
            month = next(i for m, i in MONTHS.items() if m.startswith(lowered[:3]))
    if not year or not month:
        raise _PageError(f"cannot read the calendar header {header!r}")
    return year, month


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, WebDriverException):
        return (exc.msg or type(exc).__name__).strip().splitlines()[0]
    return str(exc) or type(exc).__name__
