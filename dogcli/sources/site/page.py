"""The camera page protocol: open a stream's page, pick the day, read every capture of its
History gallery (all pages, lazy images included), with retries."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, unquote

from selenium.common.exceptions import (
    JavascriptException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from dogcli.config import Settings
from dogcli.model.captures import Capture, parse_image_url
from dogcli.model.errors import DiscoveryError, NoCamera
from dogcli.model.retry import BackoffWait
from dogcli.sources.base import Found
from dogcli.sources.site.browser import Browser
from dogcli.sources.site.errors import _PageError
from dogcli.sources.site.picker import click_calendar
from dogcli.sources.site.scripts import (
    DATE_INPUT,
    EXPAND_LAZY_JS,
    GALLERY_STATE_JS,
    PAGER_JS,
    SCROLL_NEXT_JS,
)

log = logging.getLogger(__name__)

POLL = 0.05


class CameraSite:
    """The DrayDog camera pages of one terminal (`terminal`, else the settings' one), driven
    through one Browser."""

    def __init__(self, browser: Browser, settings: Settings, terminal: str | None = None) -> None:
        self.browser = browser
        self.site_url = settings.site_url.rstrip("/")
        self.cdn_url = settings.cdn_url
        self.cdn_prefix = self.cdn_url.rstrip("/") + "/"
        self.terminal = settings.terminal if terminal is None else terminal
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
            # A failed first load matters only when it is the day asked for; else the day
            # is picked all the same (a retry must not depend on today's gallery).
            state = self._settled(state["value"], fresh, "the page's first gallery",
                                  fail_on_error=state["value"] == target)  # fmt: skip
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
        self,
        target: str,
        before: dict[str, Any],
        what: str,
        page: int | None = None,
        fail_on_error: bool = True,
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
            if fail_on_error and s["errors"] > before["errors"] and not of_day:
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
            return f"{self.zones.to_utc(stamp).astimezone(self.zones.site):%Y-%m-%d}"
        except (ValueError, OverflowError):  # 0001-01-01T00:00:00 cannot move between zones
            return None

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
        click_calendar(self.browser.driver, target, self.timeout, POLL)

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


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, WebDriverException):
        return (exc.msg or type(exc).__name__).strip().splitlines()[0]
    return str(exc) or type(exc).__name__
