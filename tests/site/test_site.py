"""Browser + CameraSite against the replica's camera page in headless Chromium."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dogcli.config import Settings
from dogcli.model.captures import THUMBNAIL
from dogcli.model.errors import BrowserError, DiscoveryError
from dogcli.sources.base import Found
from dogcli.sources.site.browser import Browser
from dogcli.sources.site.errors import _PageError
from dogcli.sources.site.page import CameraSite
from dogcli.sources.site.scripts import DATE_INPUT
from tests.replica import Replica, ReplicaConfig, make_dataset

pytestmark = pytest.mark.browser

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2025, 9, 6, 12, 0, 0, tzinfo=LA)  # the site's clock: a Saturday noon
TODAY = NOW.date()
DAYS = [TODAY - timedelta(days=i) for i in range(13, -1, -1)]  # 2025-08-24 .. 2025-09-06
EMPTY = date(2025, 9, 2)
FULL_DAYS = (date(2025, 8, 26), date(2025, 8, 28))  # every ~10 min: about 144 captures a day
PAGE_TIMEOUT = 10.0
SHORT_TIMEOUT = 3.0  # for the test where the API hangs
MAX_RETRIES = 2
T = TypeVar("T")


def d(offset: int) -> date:
    return TODAY + timedelta(days=offset)


@pytest.fixture(scope="module")
def rep() -> Iterator[Replica]:
    ds = make_dataset(days=DAYS, now=NOW, seed=21, empty_days=[EMPTY], outage_rate=0)
    for (stream, day), specs in list(ds.items()):
        if day not in FULL_DAYS:  # long outages elsewhere: fewer lazy images to scroll through
            ds[(stream, day)] = specs[::3]
    with Replica(ds, ReplicaConfig(api_delay=0.05, now=NOW)) as r:
        yield r


@pytest.fixture(scope="module")
def browser(chromium: tuple[str, str]) -> Iterator[Browser]:
    # Chromium runs in the site's zone, as dogcli starts it (the test process runs in UTC)
    b = Browser(chromium[0], chromium[1], page_timeout=15, timezone="America/Los_Angeles")
    try:
        b.driver  # noqa: B018 - start it once for the whole module
    except BrowserError as exc:
        pytest.fail(f"Chromium does not start: {exc}")
    yield b
    b.close()


def settings_for(rep: Replica, page_timeout: float = PAGE_TIMEOUT) -> Settings:
    return Settings(
        site_url=rep.site_url,
        cdn_url=rep.cdn_url,
        terminal="apm",
        page_timeout=page_timeout,
        max_retries=MAX_RETRIES,
        retry_base=0.05,
    )


def camera_site(rep: Replica, browser: Browser, page_timeout: float = PAGE_TIMEOUT) -> CameraSite:
    return CameraSite(browser, settings_for(rep, page_timeout))


def wait_for(read: Callable[[], T], until: Callable[[T], bool] = bool, timeout: float = 5.0) -> T:
    """`read()` once `until` holds of it (or its last value after `timeout` s): the replica
    records a request just after sending the answer, so the browser may have it first."""
    deadline = time.monotonic() + timeout
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


@pytest.fixture
def site(rep: Replica, browser: Browser) -> Iterator[CameraSite]:
    """A CameraSite of its own per test (it opens the page afresh), on the shared browser."""
    rep.faults.clear()
    yield camera_site(rep, browser)
    rep.faults.clear()


def expected_ts(rep: Replica, stream: str, day: date) -> list[str]:
    return [ts for ts, _variant, _data in rep.expected(stream, day)]


def found_ts(found: list[Found]) -> list[str]:
    return [f.capture.url_ts for f in found]


def page_loads(rep: Replica) -> list[str]:
    """streamName of every camera page the browser fetched, in order."""
    return [
        parse_qs(urlsplit(r.path).query).get("streamName", [""])[0]
        for r in rep.requests
        if r.path.startswith("/terminal_cameras/")
    ]


def history_calls(rep: Replica, stream: str, day: date) -> list[tuple[int, str]]:
    """(status, fault) of the History API calls for (stream, day) answered so far."""
    want = {"stream": [stream], "date": [day.isoformat()]}
    return [
        (r.status, r.fault)
        for r in rep.api_requests("history")
        if parse_qs(urlsplit(r.path).query) == want
    ]


def check(found: list[Found], rep: Replica, stream: str, day: date) -> None:
    """Exactly the local day's captures, by URL stamp, each read as the right instant."""
    assert found_ts(found) == expected_ts(rep, stream, day)
    assert [f.capture.taken for f in found] == [s.utc for s in rep.published(stream, day)]
    for f in found:
        assert (f.capture.terminal, f.capture.stream, f.capture.day) == ("apm", stream, day)
        assert f.variant == THUMBNAIL  # the gallery shows thumbnails


# ------------------------------------------------------------------------------ discovery
def test_discover_today(site: CameraSite, rep: Replica) -> None:
    found = site.discover("in_gate", TODAY)
    assert found and found[-1].capture.taken <= NOW
    check(found, rep, "in_gate", TODAY)


def test_several_past_days_on_one_page(site: CameraSite, rep: Replica) -> None:
    check(site.discover("in_gate", TODAY), rep, "in_gate", TODAY)
    pages = len(page_loads(rep))
    for day in (d(-1), d(-3), d(-12), d(-7)):  # d(-12) is in the previous month
        found = site.discover("in_gate", day)
        assert found, day
        check(found, rep, "in_gate", day)
        assert history_calls(rep, "in_gate", day)[-1] == (200, "")
    assert len(page_loads(rep)) == pages  # the days were chosen on the page, no reload


def test_full_day_of_lazy_images(site: CameraSite, rep: Replica, browser: Browser) -> None:
    day = FULL_DAYS[1]
    found = site.discover("out_gate", day)
    assert len(found) >= 138
    check(found, rep, "out_gate", day)
    # every lazy item was brought into view (no <img> otherwise); a placeholder may still show
    # beside an <img> whose bytes are on their way, as Element does while an image loads
    without_img = browser.driver.execute_script(
        "return [...document.querySelectorAll('#camera-history .el-image')]"
        ".filter(e => !e.querySelector('img.el-image__inner')).length"
    )
    assert without_img == 0
    # Images are on (an el-image shows its URL only once it loads): the browser loaded every
    # thumbnail of the day, of both UTC dates, and no full-size image of it (downloads are
    # the CDN client's business).
    specs = rep.published("out_gate", day)
    thumbs = {"/cdn" + rep.cdn_path("out_gate", s.utc, "thumbnail") for s in specs}
    fulls = {"/cdn" + rep.cdn_path("out_gate", s.utc, "full") for s in specs}
    assert len({p.split("/")[3] for p in thumbs}) == 2  # /cdn/apm/{UTC date}/...

    def requested() -> set[str]:
        return {unquote(r.path) for r in rep.cdn_requests()}

    assert thumbs <= wait_for(requested, until=lambda got: thumbs <= got)
    assert not requested() & fulls


def test_switching_streams(site: CameraSite, rep: Replica) -> None:
    day = d(-2)
    before = len(page_loads(rep))
    in_gate = site.discover("in_gate", day)
    out_gate = site.discover("out_gate", day)
    again = site.discover("in_gate", day)
    check(in_gate, rep, "in_gate", day)
    check(out_gate, rep, "out_gate", day)
    check(again, rep, "in_gate", day)
    assert found_ts(in_gate) != found_ts(out_gate)
    assert page_loads(rep)[before:] == ["in_gate", "out_gate", "in_gate"]


def test_empty_days(site: CameraSite, rep: Replica) -> None:
    check(site.discover("in_gate", d(-1)), rep, "in_gate", d(-1))
    assert rep.dataset.captures("in_gate", EMPTY) == []
    assert site.discover("in_gate", EMPTY) == []
    assert history_calls(rep, "in_gate", EMPTY)[-1] == (200, "")
    unknown = date(2025, 6, 1)  # no entry at all in the dataset
    assert site.discover("in_gate", unknown) == []
    # and the page still works afterwards
    check(site.discover("in_gate", d(-4)), rep, "in_gate", d(-4))


def test_a_new_capture_is_found_on_the_next_visit(site: CameraSite, rep: Replica) -> None:
    day = d(-5)
    first = site.discover("out_gate", day)
    check(first, rep, "out_gate", day)
    # 23:59:58 local: the next UTC date in its URL, still this local day's
    new_ts = datetime.combine(day, dtime(23, 59, 58), tzinfo=LA)
    stamp = rep.stamp(new_ts)
    assert stamp == f"{day + timedelta(days=1)}T06:59:58"
    assert stamp not in found_ts(first)
    rep.dataset.add("out_gate", new_ts)
    try:
        check(site.discover("out_gate", d(-6)), rep, "out_gate", d(-6))  # another day between
        second = site.discover("out_gate", day)
        assert found_ts(second) == [*found_ts(first), stamp]
        check(second, rep, "out_gate", day)
    finally:
        rep.dataset.remove("out_gate", new_ts)


def test_calendar_click_fallback(site: CameraSite, rep: Replica, browser: Browser) -> None:
    check(site.discover("in_gate", TODAY), rep, "in_gate", TODAY)
    target = FULL_DAYS[0]  # 2025-08-26: the calendar opens on September, one month back
    assert target.month != TODAY.month
    calls = len(history_calls(rep, "in_gate", target))
    state = site._state()
    site._click_calendar(target.isoformat())
    site._settled(target.isoformat(), state, f"the gallery of {target}")
    found = site._parse(site._load_all_lazy(), "in_gate")
    check(found, rep, "in_gate", target)
    assert len(found) > 100
    field = browser.driver.find_element(By.CSS_SELECTOR, DATE_INPUT)
    assert field.get_attribute("value") == target.isoformat()
    calls_now = wait_for(lambda: history_calls(rep, "in_gate", target),
                         until=lambda c: len(c) > calls)  # fmt: skip
    assert len(calls_now) == calls + 1  # one load, from the click
    # a day the calendar refuses (the future) is an error, not a silent no-op
    with pytest.raises(_PageError, match="does not offer"):
        site._click_calendar(d(1).isoformat())
    field.send_keys(Keys.ESCAPE)
    # the page is still usable for the normal path
    check(site.discover("in_gate", d(-10)), rep, "in_gate", d(-10))


# ------------------------------------------------------------------------------ faults
def test_api_failure_then_ok_is_retried(
    site: CameraSite, rep: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    check(site.discover("in_gate", TODAY), rep, "in_gate", TODAY)
    day = d(-8)
    rep.faults.api(["fail"])
    with caplog.at_level(logging.WARNING, logger="dogcli.sources.site.page"):
        found = site.discover("in_gate", day)
    assert found, "an API failure must not pass for an empty day"
    check(found, rep, "in_gate", day)
    calls = wait_for(lambda: history_calls(rep, "in_gate", day), until=lambda c: len(c) >= 2)
    assert calls == [(500, "fail"), (200, "")]
    assert any("retrying" in r.getMessage() for r in caplog.records)


def test_api_hang_then_ok_is_retried(site: CameraSite, rep: Replica, browser: Browser) -> None:
    site = camera_site(rep, browser, page_timeout=SHORT_TIMEOUT)
    check(site.discover("out_gate", TODAY), rep, "out_gate", TODAY)
    day = d(-3)
    rep.faults.api(["hang"])
    started = time.monotonic()
    found = site.discover("out_gate", day)
    elapsed = time.monotonic() - started
    check(found, rep, "out_gate", day)
    assert rep.in_flight(f"date={day.isoformat()}")  # the hung call is still unanswered
    calls = wait_for(lambda: history_calls(rep, "out_gate", day))
    assert calls == [(200, "")]  # the retry: the same URL
    # one page timeout waited out, then the retry (Chromium's HTTP cache lock would hold a
    # request for the same URL behind the hung one for about 20 s)
    assert SHORT_TIMEOUT <= elapsed < SHORT_TIMEOUT + 8


def test_api_always_failing_raises_discovery_error(site: CameraSite, rep: Replica) -> None:
    check(site.discover("in_gate", TODAY), rep, "in_gate", TODAY)
    day = d(-13)
    calls_before = len(rep.api_requests("history"))
    pages_before = len(page_loads(rep))
    rep.faults.api("always:fail")
    with pytest.raises(DiscoveryError) as info:
        site.discover("in_gate", day)
    message = str(info.value)
    assert "in_gate" in message and day.isoformat() in message and "\n" not in message
    # The retry budget: MAX_RETRIES + 1 attempts at the day. The first asks for it on the
    # open page; each retry reloads the page, whose own first load (today's gallery) fails
    # too, and asks for the day all the same: a retry must not hinge on today's gallery.
    attempts = MAX_RETRIES + 1
    total = attempts + MAX_RETRIES  # the day's calls and each reload's own first load

    def calls() -> list[tuple[int, str]]:
        return [(r.status, r.fault) for r in rep.api_requests("history")[calls_before:]]

    assert wait_for(calls, until=lambda c: len(c) >= total) == [(500, "fail")] * total
    assert history_calls(rep, "in_gate", day) == [(500, "fail")] * attempts
    assert page_loads(rep)[pages_before:] == ["in_gate"] * MAX_RETRIES
    # the next discovery starts afresh and succeeds once the API is back
    rep.faults.clear()
    check(site.discover("in_gate", day), rep, "in_gate", day)


# ------------------------------------------------------------------------------ parsing
def test_parse_keeps_this_stream_and_terminal_whatever_the_url_date(rep: Replica) -> None:
    """The gallery decides which captures belong to the day (one local day holds URLs of two
    UTC dates): parsing keeps every capture of this stream, terminal and CDN it shows, each
    read as a UTC instant with its own local day, and rejects every URL that is not one."""
    settings = settings_for(rep)
    site = CameraSite(Browser("/unused", "/unused"), settings)
    zones = settings.zones
    day = date(2025, 9, 5)
    specs = rep.dataset.captures("in_gate", day)
    a, b = specs[10], specs[-1]  # a: morning, same UTC date; b: evening, the next UTC date
    assert rep.stamp(a.utc)[:10] == "2025-09-05" and rep.stamp(b.utc)[:10] == "2025-09-06"
    other_day = rep.dataset.captures("in_gate", date(2025, 9, 4))[10]
    other_stream = rep.dataset.captures("out_gate", day)[10]
    good_b = rep.thumb_url("in_gate", b.utc)
    path_b = rep.cdn_path("in_gate", b.utc, "thumbnail")  # /apm/2025-09-06/H/...-thumbnail.jpeg
    _, term, day_dir, hour, name = path_b.split("/")
    cdn = rep.cdn_url
    urls = [
        good_b,
        rep.full_url("in_gate", b.utc),  # the same capture again: listed once
        rep.thumb_url("in_gate", a.utc),  # earlier: sorted first
        rep.thumb_url("in_gate", other_day.utc),  # another local day the page chose to show
        rep.thumb_url("out_gate", other_stream.utc),  # another stream
        good_b.replace("127.0.0.1", "localhost"),  # another host
        good_b.replace(f":{rep.port}/", f":{rep.port + 1}/"),  # another port
        good_b.replace("http://", "https://"),  # another scheme
        "http://cdn.draydog.com/cdn" + path_b,  # the real CDN is not this site's CDN
        f"{cdn}/pct/{day_dir}/{hour}/{name}",  # another terminal
        f"{cdn}/{term}/{day_dir}/../{day_dir}/{hour}/{name}",
        f"{cdn}/../cdn/{term}/{day_dir}/{hour}/{name}",
        f"{cdn}/{term}/%2E%2E/{hour}/{name}",
        f"{cdn}/{term}/{day_dir}/{hour}/..%2F..%2F{name}",
        f"{cdn}/{term}/{day_dir}/{hour}/{name.replace('in_gate', '..%2Fin_gate')}",
        f"{cdn}/{term}/{day_dir}/{(int(hour) + 1) % 24}/{name}",  # wrong hour folder
        f"{cdn}/{term}/2025-09-05/{hour}/{name}",  # wrong date folder (the local date)
        f"{cdn}/{term}/{day_dir}/{hour}/{name.replace('.jpeg', '.png')}",
        f"{cdn}/{term}/{day_dir}/{hour}/2025-09-06T25:61:00-in_gate.jpeg",
        "/cdn" + path_b,  # an absolute path without a host
        path_b.lstrip("/"),  # a relative one
        "file:///cdn" + path_b,
        "data:image/jpeg;base64,/9j/4AAQSkZJRg==",
        "about:blank",
        "",
    ]
    found = site._parse(urls, "in_gate")
    assert found == [
        Found(zones.capture("apm", "in_gate", rep.stamp(x.utc)), THUMBNAIL)
        for x in (other_day, a, b)
    ]
    assert [f.capture.taken for f in found] == [other_day.utc, a.utc, b.utc]
    assert [f.capture.day for f in found] == [date(2025, 9, 4), day, day]
    assert found[2].capture.rel_path == (
        f"images/apm/in_gate/2025-09-05/in_gate_{b.utc:%Y%m%dT%H%M%S}Z.jpg"
    )
    assert site._parse(urls, "out_gate") == [
        Found(zones.capture("apm", "out_gate", rep.stamp(other_stream.utc)), THUMBNAIL)
    ]
    assert site._parse(urls, "pct_gate") == []


# ------------------------------------------------------------------------------ start-up
def _profiles() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("dogcli-chromium-*"))


def test_browser_start_failure_is_one_line(chromium: tuple[str, str]) -> None:
    before = _profiles()
    browser = Browser("/nonexistent/chromium", chromium[1], page_timeout=5)
    with pytest.raises(BrowserError) as info:
        browser.driver  # noqa: B018
    message = str(info.value)
    assert "/nonexistent/chromium" in message
    assert "\n" not in message and len(message) < 300
    assert info.value.exit_code == 2
    assert _profiles() <= before  # the throwaway profile is gone again
    browser.close()  # harmless after a failed start


def test_missing_chromedriver_is_one_line(chromium: tuple[str, str]) -> None:
    browser = Browser(chromium[0], "/nonexistent/chromedriver", page_timeout=5)
    with pytest.raises(BrowserError) as info:
        browser.driver  # noqa: B018
    assert "driver" in str(info.value) and "\n" not in str(info.value)


def test_page_wait_gives_up_with_a_named_timeout(site: CameraSite, rep: Replica) -> None:
    check(site.discover("in_gate", TODAY), rep, "in_gate", TODAY)
    started = time.monotonic()
    with pytest.raises(TimeoutException, match="nothing"):
        site._wait(lambda s: False, "nothing", timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 3
