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
from datetime import date
from typing import Any
from urllib.parse import quote

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
from dogcli.errors import BrowserError, DiscoveryError
from dogcli.retry import BackoffWait

log = logging.getLogger(__name__)

POLL = 0.05
DATE_INPUT = "input.el-input__inner[placeholder='Pick a day']"

# Installed before any page script runs: counts finished gallery loads, i.e. moments when
# the last visible Element loading mask goes away, and error messages (ElMessage) shown, since
# a failed load also ends with the mask gone. Cheaper and race-free compared with polling.
LOAD_OBSERVER_JS = """
(() => {
  if (window.__dogcli) return;
  const st = window.__dogcli = {loads: 0, busy: false, errors: 0};
  const busy = () => {
    for (const m of document.querySelectorAll('.el-loading-mask')) {
      if (m.getClientRects().length && getComputedStyle(m).visibility !== 'hidden') return true;
    }
    return false;
  };
  const isError = (n) => n.nodeType === 1 &&
    (n.matches('.el-message--error') || !!n.querySelector('.el-message--error'));
  // Every image URL the page ever shows: a thumbnail that fails to load is replaced by an
  // error placeholder and its URL leaves the DOM, but its capture still exists.
  st.seen = new Set();
  const remember = (n) => {
    if (n.nodeType !== 1) return;
    if (n.matches('img.el-image__inner') && n.src) st.seen.add(n.src);
    for (const img of n.querySelectorAll('img.el-image__inner')) if (img.src) st.seen.add(img.src);
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

# One round trip: the gallery under the "History" heading, as the page shows it now.
GALLERY_STATE_JS = """
const st = window.__dogcli || {loads: 0, busy: false, errors: 0};
const heading = document.evaluate(
  "//*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5 or self::div or self::span]" +
  "[normalize-space(text())='History']",
  document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
const input = document.querySelector(arguments[0]);
const out = {loads: st.loads, busy: st.busy, errors: st.errors, heading: !!heading,
             value: input ? input.value : null, urls: [], items: 0, placeholders: 0};
if (!heading) return out;
const after = (el) => heading.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
for (const item of document.querySelectorAll('.el-image')) {
  if (!after(item)) continue;
  out.items++;
  const img = item.querySelector('img.el-image__inner');
  if (img && img.src) out.urls.push(img.src);
  else if (item.querySelector('.el-image__placeholder')) out.placeholders++;
}
return out;
"""

# Bring the first still-lazy image of the gallery into view, which makes the page load it.
# A scroll event is sent as well: scrollIntoView fires none when nothing had to move.
SCROLL_NEXT_JS = """
const heading = document.evaluate("//*[normalize-space(text())='History']", document, null,
  XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
if (!heading) return false;
for (const ph of document.querySelectorAll('.el-image .el-image__placeholder')) {
  if (!(heading.compareDocumentPosition(ph) & Node.DOCUMENT_POSITION_FOLLOWING)) continue;
  const item = ph.closest('.el-image');
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

# Bring every lazy image of the gallery into view at once: each scrolling box around the
# gallery is opened to its full height, so a visibility check against that box (Element Plus
# el-image with a scroll container, or an IntersectionObserver rooted at it) sees every image,
# and one scroll event is sent. Scrolling box by box costs a throttled check (200 ms) per step.
# A page that checks against the window instead is left to the stepwise SCROLL_NEXT_JS loop.
EXPAND_LAZY_JS = """
const heading = document.evaluate("//*[normalize-space(text())='History']", document, null,
  XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
if (!heading) return 0;
const seen = new Set(), boxes = [];
let lazy = 0;
for (const ph of document.querySelectorAll('.el-image .el-image__placeholder')) {
  if (!(heading.compareDocumentPosition(ph) & Node.DOCUMENT_POSITION_FOLLOWING)) continue;
  lazy++;
  for (let el = ph.closest('.el-image').parentElement; el && el !== document.body;
       el = el.parentElement) {
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
return lazy;
"""


@dataclass(frozen=True)
class Found:
    capture: Capture
    variant: str  # which image the page showed; the CDN client decides what to keep


class Browser:
    """One headless Chromium per command run, with a fresh throwaway profile."""

    def __init__(self, binary: str, driver_path: str, page_timeout: float = 30.0) -> None:
        self.binary = binary
        self.driver_path = driver_path
        self.page_timeout = page_timeout
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
            # Discovery reads each <img>'s URL and never needs its bytes: not loading them
            # halves Chromium's CPU per page (bench/: 8.1 -> 4.2 s for six pages) and the
            # site's CDN no longer serves every thumbnail of every page read.
            "--blink-settings=imagesEnabled=false",
            f"--user-data-dir={self._profile}",
        ):
            options.add_argument(arg)
        if os.geteuid() == 0:
            options.add_argument("--no-sandbox")  # Chromium refuses to run as root otherwise
        # Giving the driver path keeps Selenium Manager (and its downloads) out of it.
        service = Service(executable_path=self.driver_path)
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
        driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": LOAD_OBSERVER_JS}
        )
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
        site_url: str,
        cdn_url: str,
        terminal: str,
        page_timeout: float = 30.0,
        max_retries: int = 3,
        retry_base: float = 1.0,
    ) -> None:
        self.browser = browser
        self.site_url = site_url.rstrip("/")
        self.cdn_url = cdn_url
        self.terminal = terminal
        self.timeout = page_timeout
        self.max_retries = max_retries
        self.wait = BackoffWait(retry_base)
        self._stream: str | None = None  # stream whose page is open

    def page_url(self, stream: str) -> str:
        return (
            f"{self.site_url}/terminal_cameras/{quote(self.terminal)}"
            f"?streamName={quote(stream)}#camera-history"
        )

    def discover(self, stream: str, day: date) -> list[Found]:
        """Every capture of `stream` the page lists for `day`; retried, then DiscoveryError."""
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
            self._stream = stream
        target = f"{day:%Y-%m-%d}"
        state = self._wait(lambda s: s["heading"] and s["value"] is not None, "the date picker")
        if opened and state["value"] != target:
            state = self._settle()
        if state["value"] != target:
            self._select_day(target, state["loads"], state["errors"])
        elif opened:
            self._wait_loaded(target, 0, 0)  # the page's own first load, of this very day
        elif state["busy"] or state["loads"] == 0:
            self._wait_loaded(target, state["loads"], state["errors"])
        urls = self._load_all_lazy()
        found = self._parse(urls, stream, day)
        log.debug(
            "%s %s: %d captures in %.2fs", stream, day, len(found), time.monotonic() - started
        )
        return found

    def _settle(self) -> dict[str, Any]:
        """Let a freshly opened page finish its own first gallery load (today's): a load that
        finishes after we pick a day must be ours, not that one."""

        def idle(s: dict[str, Any]) -> bool:
            if s["busy"]:
                return False
            day = s["value"]
            return bool(s["loads"] > 0 or (s["urls"] and all(_day_of(u) == day for u in s["urls"])))

        try:
            return self._wait(idle, "the page's first gallery")
        except TimeoutException:
            return self._state()  # a page without a loading mask and nothing today: go on

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

    def _wait_loaded(self, target: str, loads_before: int, errors_before: int) -> dict[str, Any]:
        """Wait until the gallery shows `target`: its load finished and no mask is left.

        An error message shown meanwhile, with no image of the day, means the load failed (the
        gallery is empty or still the previous day's): an error, never an empty day."""

        prefix = self.cdn_url.rstrip("/") + "/"

        def shows_day(state: dict[str, Any]) -> bool:
            if state["busy"] or state["value"] != target:
                return False
            # Which day the gallery shows, by its CDN images' day folders. Images of other
            # hosts, and a few odd ones, must not stall the wait (a hostile page could add
            # them forever): the day asked for must simply outnumber every other day.
            days = Counter(_day_of(u) for u in state["urls"] if u.startswith(prefix))
            of_day = days.pop(target, 0)
            other = max(days.values(), default=0)
            if state["errors"] > errors_before and not of_day:
                raise _PageError(f"the page failed to load the History of {target}")
            if state["loads"] > loads_before:
                # A load finished after we asked: the gallery is the new day's, or empty.
                return of_day >= other
            # Pages without a loading mask: trust only images of the day itself.
            return of_day > other

        return self._wait(shows_day, f"the History gallery of {target}")

    def _select_day(self, target: str, loads_before: int, errors_before: int) -> None:
        driver = self.browser.driver
        field = driver.find_element(By.CSS_SELECTOR, DATE_INPUT)
        # Typing is the fast path; clear() does not stick on Element inputs, Ctrl+A does.
        field.click()
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(target, Keys.ENTER)
        try:
            self._wait(
                lambda s: s["value"] == target and (s["busy"] or s["loads"] > loads_before),
                "the typed date",
                timeout=min(self.timeout, 3.0),
            )
        except TimeoutException:
            log.debug("typing %s was not taken; clicking the calendar", target)
            self._click_calendar(target)
        self._wait_loaded(target, loads_before, errors_before)

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

    def _load_all_lazy(self) -> list[str]:
        """Scroll lazy thumbnails into view until every gallery image has its URL."""
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
                state = self._state()  # the page ignored it: step through instead
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
        seen = driver.execute_script("return Array.from((window.__dogcli || {}).seen || [])")
        return list(dict.fromkeys([*state["urls"], *(seen or [])]))

    def _parse(self, urls: list[str], stream: str, day: date) -> list[Found]:
        found: dict[Capture, Found] = {}
        for url in urls:
            parsed = parse_image_url(url, self.cdn_url, self.terminal)
            if parsed is None:
                log.debug("ignored URL %s", url[:200])
                continue
            capture, variant = parsed
            if capture.stream != stream or capture.day != day:
                continue
            found.setdefault(capture, Found(capture, variant))
        return sorted(found.values(), key=lambda f: f.capture.site_ts)


class _PageError(Exception):
    pass


def _day_of(url: str) -> str | None:
    # .../{YYYY-MM-DD}/{H}/{ts}-... : the date folder, without full validation (speed).
    parts = url.split("/")
    return parts[-3] if len(parts) >= 3 else None


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
