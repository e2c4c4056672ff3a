"""Tests of the local DrayDog replica itself: HTTP routes, faults, and the page's widgets."""

from __future__ import annotations

import http.client
import io
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.replica import CaptureSpec, Replica, make_dataset
from tests.replica.browser import ChromeSession, browser_available

NOW = datetime(2025, 9, 6, 12, 0, 0)
TODAY = NOW.date()
DAYS = [date(2025, 9, d) for d in range(1, 7)]
EMPTY = date(2025, 9, 3)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rep() -> Iterator[Replica]:
    ds = make_dataset(days=DAYS, now=NOW, seed=7, empty_days=[EMPTY])
    with Replica(ds, api_delay=0.05, now=NOW) as r:
        yield r


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("rep", "site"):
        if name in request.fixturenames:
            request.getfixturevalue(name).faults.clear()


def first_full(rep: Replica, day: date = date(2025, 9, 5)) -> CaptureSpec:
    return next(c for c in rep.dataset.captures("in_gate", day) if c.has_full)


def thumb_only(rep: Replica) -> tuple[str, CaptureSpec]:
    for (stream, _day), caps in rep.dataset.items():
        for c in caps:
            if not c.has_full:
                return stream, c
    raise AssertionError("no thumbnail-only capture in the dataset")


# ------------------------------------------------------------------------------ dataset
def test_make_dataset_is_deterministic_and_realistic() -> None:
    days = [date(2025, 8, 1) + timedelta(days=i) for i in range(30)]
    a = make_dataset(days=days, now=datetime(2025, 9, 1, 0, 0), seed=3, empty_days=[days[4]])
    b = make_dataset(days=days, now=datetime(2025, 9, 1, 0, 0), seed=3, empty_days=[days[4]])
    assert dict(a) == dict(b)
    assert dict(a) != dict(make_dataset(days=days, now=datetime(2025, 9, 1), seed=4))
    assert a[("in_gate", days[4])] == [] and a[("out_gate", days[4])] == []
    counts = [len(a[("in_gate", d)]) for d in days if d != days[4]]
    assert max(counts) in range(138, 150)
    assert min(counts) < 130  # some days have an outage
    total = sum(len(v) for v in a.values())
    thumb_only_count = sum(1 for v in a.values() for c in v if not c.has_full)
    assert 0.005 < thumb_only_count / total < 0.05
    caps = a[("in_gate", days[0])]
    assert caps == sorted(caps) and all(c.ts.date() == days[0] for c in caps)
    gaps = [(y.ts - x.ts).total_seconds() for x, y in itertools.pairwise(caps)]
    assert all(gap >= 500 for gap in gaps)
    assert len({c.ts.second for c in caps}) > 30  # irregular seconds


def test_make_dataset_stops_at_now_and_handles_dst() -> None:
    ds = make_dataset(days=[date(2025, 9, 6)], now=datetime(2025, 9, 6, 7, 30), seed=1)
    assert all(c.ts <= datetime(2025, 9, 6, 7, 30) for c in ds[("in_gate", date(2025, 9, 6))])
    assert 40 <= len(ds[("in_gate", date(2025, 9, 6))]) <= 46
    dst = make_dataset(
        days=[date(2025, 3, 9), date(2025, 11, 2)], now=datetime(2025, 12, 1), outage_rate=0
    )
    spring, fall = dst[("in_gate", date(2025, 3, 9))], dst[("in_gate", date(2025, 11, 2))]
    assert not any(c.ts.hour == 2 for c in spring)  # 02:xx does not exist that night
    assert len(spring) < 140 < len(fall)  # 23-hour and 25-hour days


def test_dataset_is_mutable_and_served_live(rep: Replica) -> None:
    ts = datetime(2025, 9, 4, 23, 59, 58)
    assert requests.get(rep.thumb_url("in_gate", ts)).status_code == 404
    rep.dataset.add("in_gate", ts, has_full=False)
    try:
        assert requests.get(rep.thumb_url("in_gate", ts)).status_code == 200
        assert requests.get(rep.full_url("in_gate", ts)).status_code == 404
        assert rep.expected("in_gate", ts.date())[-1][:2] == ("2025-09-04T23:59:58", "thumbnail")
    finally:
        rep.dataset.remove("in_gate", ts)


# ------------------------------------------------------------------------------ CDN
def test_cdn_serves_real_jpegs_with_the_documented_paths(rep: Replica) -> None:
    c = first_full(rep)
    full, thumb = rep.full_url("in_gate", c.ts), rep.thumb_url("in_gate", c.ts)
    hour = str(c.ts.hour)
    stamp = c.ts.strftime("%Y-%m-%dT%H:%M:%S")
    assert full == f"{rep.cdn_url}/apm/2025-09-05/{hour}/{stamp}-in_gate.jpeg"
    assert thumb == f"{rep.cdn_url}/apm/2025-09-05/{hour}/{stamp}-in_gate-thumbnail.jpeg"
    with requests.Session() as s:
        r = s.get(full)
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
        assert int(r.headers["Content-Length"]) == len(r.content)
        assert r.content == rep.image_bytes("in_gate", c.ts, "full")
        assert Image.open(io.BytesIO(r.content)).size == (160, 120)
        t = s.get(thumb)
        assert t.content == rep.image_bytes("in_gate", c.ts, "thumbnail")
        assert Image.open(io.BytesIO(t.content)).size == (64, 48)
        h = s.head(full)
        assert h.status_code == 200 and h.content == b""
        assert h.headers["Content-Length"] == str(len(r.content))
        encoded = rep.cdn_url + rep.cdn_path("in_gate", c.ts).replace(":", "%3A")
        assert s.get(encoded).content == r.content


def test_cdn_404s(rep: Replica) -> None:
    c = next(c for c in rep.dataset.captures("in_gate", date(2025, 9, 5)) if c.ts.hour < 10)
    full = rep.full_url("in_gate", c.ts)
    padded = full.replace(f"/{c.ts.hour}/", f"/{c.ts.hour:02d}/")
    assert padded != full
    stream, only_thumb = thumb_only(rep)
    with requests.Session() as s:
        assert s.get(padded).status_code == 404
        assert s.get(rep.full_url(stream, only_thumb.ts)).status_code == 404
        assert s.get(rep.thumb_url(stream, only_thumb.ts)).status_code == 200
        assert s.get(full.replace("/apm/", "/xyz/")).status_code == 404
        assert s.get(full.replace("in_gate", "side_gate")).status_code == 404
        assert s.get(full.replace(".jpeg", ".jpg")).status_code == 404
        missing = rep.full_url("in_gate", c.ts + timedelta(seconds=1))
        r = s.get(missing)
        assert r.status_code == 404 and not r.headers["Content-Type"].startswith("image/")
        assert s.get(rep.cdn_url + "/").status_code == 404


def test_images_are_deterministic_and_differ(rep: Replica) -> None:
    caps = rep.dataset.captures("in_gate", date(2025, 9, 5))
    a, b = caps[0].ts, caps[1].ts
    assert rep.image_bytes("in_gate", a, "full") == rep.image_bytes("in_gate", a, "full")
    other = Replica(rep.dataset)  # never started: bytes do not depend on the server
    assert other.image_bytes("in_gate", a, "full") == rep.image_bytes("in_gate", a, "full")
    assert rep.image_bytes("in_gate", a, "full") != rep.image_bytes("in_gate", b, "full")
    assert rep.image_bytes("in_gate", a, "full") != rep.image_bytes("out_gate", a, "full")
    assert rep.image_bytes("in_gate", a, "thumbnail") != rep.image_bytes("in_gate", a, "full")


def test_expected_lists_the_variant_to_keep(rep: Replica) -> None:
    stream, only_thumb = thumb_only(rep)
    exp = rep.expected(stream, only_thumb.ts.date())
    caps = rep.dataset.captures(stream, only_thumb.ts.date())
    assert [e[0] for e in exp] == [c.ts.strftime("%Y-%m-%dT%H:%M:%S") for c in caps]
    by_ts = {e[0]: e for e in exp}
    row = by_ts[only_thumb.ts.strftime("%Y-%m-%dT%H:%M:%S")]
    assert row[1] == "thumbnail" and row[2] == rep.image_bytes(stream, only_thumb.ts, "thumbnail")
    assert rep.expected("in_gate", EMPTY) == []


def test_keep_alive_reuses_one_connection(rep: Replica) -> None:
    caps = rep.dataset.captures("out_gate", date(2025, 9, 4))[:5]
    rep.reset_stats()
    with requests.Session() as s:
        for c in caps:
            assert s.get(rep.thumb_url("out_gate", c.ts)).status_code == 200
        assert s.get(rep.cdn_url + "/nope.jpeg").status_code == 404  # 404 keeps it open too
        assert s.get(rep.full_url("out_gate", caps[0].ts)).status_code == 200
    records = rep.cdn_requests("out_gate")
    assert len(records) == 6 and len({r.conn for r in rep.cdn_requests()}) == 1
    assert rep.max_cdn_in_flight == 1


def test_url_timezone_utc() -> None:
    ds = make_dataset(days=[date(2025, 9, 5)], now=NOW, streams=("in_gate",))
    c = ds[("in_gate", date(2025, 9, 5))][-1]  # late evening: next day in UTC
    with Replica(ds, url_timezone="UTC", api_delay=0) as r:
        url = r.full_url("in_gate", c.ts)
        utc = c.ts + timedelta(hours=7)
        assert f"/apm/{utc:%Y-%m-%d}/{utc.hour}/{utc:%Y-%m-%dT%H:%M:%S}-in_gate.jpeg" in url
        assert requests.get(url).content == r.image_bytes("in_gate", c.ts, "full")


def test_warm_and_lazy_switch() -> None:
    ds = make_dataset(days=[TODAY], now=datetime(2025, 9, 6, 1, 0), streams=("in_gate",))
    caps = ds[("in_gate", TODAY)]
    r = Replica(ds, lazy=False, now=NOW)
    assert r.warm() == len(caps) + sum(c.has_full for c in caps)
    assert '"lazy": false' in r.page_html("in_gate")


# ------------------------------------------------------------------------------ page + API
def test_page_and_api_routes(rep: Replica) -> None:
    with requests.Session() as s:
        for stream in ("in_gate", "out_gate"):
            r = s.get(rep.page_url(stream))
            assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
            assert '"today": "2025-09-06"' in r.text
        assert s.get(f"{rep.site_url}/terminal_cameras/apm?streamName=nope").status_code == 404
        assert s.get(f"{rep.site_url}/terminal_cameras/xyz?streamName=in_gate").status_code == 404
        assert s.get(f"{rep.site_url}/assets/index.js").status_code == 200
        api = f"{rep.site_url}/api/terminal_cameras/apm"
        t0 = time.monotonic()
        r = s.get(f"{api}/history", params={"stream": "in_gate", "date": "2025-09-05"})
        assert time.monotonic() - t0 >= 0.05
        images = r.json()["images"]
        caps = rep.dataset.captures("in_gate", date(2025, 9, 5))
        assert [i["url"] for i in images] == [rep.thumb_url("in_gate", c.ts) for c in caps]
        r = s.get(f"{api}/history", params={"stream": "in_gate", "date": EMPTY.isoformat()})
        assert r.json()["images"] == []
        assert s.get(f"{api}/history", params={"stream": "in_gate", "date": "x"}).status_code == 400
        latest = s.get(f"{api}/latest", params={"stream": "in_gate"}).json()["images"]
        newest = rep.dataset.captures("in_gate", TODAY)[-1]
        assert len(latest) == 4 and latest[0]["time"] == newest.ts.isoformat()


# ------------------------------------------------------------------------------ faults
@pytest.mark.parametrize("kind", ["404", "500", "502", "503"])
def test_status_faults_then_ok(rep: Replica, kind: str) -> None:
    c = first_full(rep)
    url = rep.full_url("in_gate", c.ts)
    rep.faults.cdn(url, [kind, kind])
    with requests.Session() as s:
        assert [s.get(url).status_code for _ in range(3)] == [int(kind), int(kind), 200]


def test_429_has_retry_after(rep: Replica) -> None:
    c = first_full(rep)
    rep.faults.retry_after = 2
    rep.faults.cdn(c.ts, ["429", "429:5"], stream="in_gate", variant="full")
    url = rep.full_url("in_gate", c.ts)
    with requests.Session() as s:
        assert s.get(rep.thumb_url("in_gate", c.ts)).status_code == 200  # other variant
        a, b, ok = s.get(url), s.get(url), s.get(url)
    assert (a.status_code, a.headers["Retry-After"]) == (429, "2")
    assert (b.status_code, b.headers["Retry-After"]) == (429, "5")
    assert ok.status_code == 200
    rep.faults.retry_after = 1


def test_reset_and_truncate(rep: Replica) -> None:
    c = first_full(rep)
    url = rep.full_url("in_gate", c.ts)
    body = rep.image_bytes("in_gate", c.ts, "full")
    rep.faults.cdn(url, ["reset", "truncate"])
    with requests.Session() as s:
        with pytest.raises(requests.ConnectionError):
            s.get(url)
        with pytest.raises(requests.RequestException):
            s.get(url)
        assert s.get(url).content == body
    rep.faults.cdn(url, ["truncate"])
    conn = http.client.HTTPConnection("127.0.0.1", rep.port)
    conn.request("GET", url.removeprefix(rep.site_url))
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Length") == str(len(body))
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert len(info.value.partial) == len(body) // 2
    conn.close()
    records = rep.cdn_requests(url.removeprefix(rep.site_url))
    assert [r.fault for r in records[-4:]] == ["reset", "truncate", "", "truncate"]
    assert records[-4].status == 0


def test_html200_slow_and_always(rep: Replica) -> None:
    c = first_full(rep)
    url = rep.full_url("in_gate", c.ts)
    rep.faults.cdn(url, ["html200", "slow:1.5", "slow:0.2"])
    with requests.Session() as s:
        r = s.get(url)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        with pytest.raises(requests.Timeout):
            s.get(url, timeout=0.4)
        t0 = time.monotonic()
        assert s.get(url, timeout=5).status_code == 200
        assert time.monotonic() - t0 >= 0.2
    thumb = rep.thumb_url("in_gate", c.ts)
    rep.faults.cdn(thumb, "always:503")
    with requests.Session() as s:
        assert {s.get(thumb).status_code for _ in range(4)} == {503}


def test_wildcard_and_flaky_faults(rep: Replica) -> None:
    caps = rep.dataset.captures("out_gate", date(2025, 9, 2))[:40]
    urls = [rep.thumb_url("out_gate", c.ts) for c in caps]
    rep.faults.cdn("*", ["always:502"])
    assert requests.get(urls[0]).status_code == 502
    rep.faults.clear()

    def run() -> list[int]:
        rep.faults.clear()
        rep.faults.cdn_flaky(0.3, kinds=["503", "500"], seed=5)
        with requests.Session() as s:
            return [s.get(u).status_code for u in urls]

    first, second = run(), run()
    assert first == second and {500, 503} & set(first) and 200 in first


def test_api_faults(rep: Replica) -> None:
    api = f"{rep.site_url}/api/terminal_cameras/apm/history"
    params = {"stream": "in_gate", "date": "2025-09-05"}
    rep.faults.api(["fail", "hang", "ok"])
    with requests.Session() as s:
        assert s.get(api, params=params).status_code == 500
        with pytest.raises(requests.Timeout):
            s.get(api, params=params, timeout=0.5)
    assert requests.get(api, params=params).status_code == 200


def test_stop_releases_hung_requests() -> None:
    ds = make_dataset(days=[TODAY], now=NOW, streams=("in_gate",))
    r = Replica(ds, api_delay=0).start()
    r.faults.api("always:hang")
    sock = socket.create_connection(("127.0.0.1", r.port))
    sock.sendall(
        b"GET /api/terminal_cameras/apm/history?stream=in_gate&date=2025-09-06 HTTP/1.1\r\n"
        b"Host: x\r\n\r\n"
    )
    sock.settimeout(5)
    deadline = time.monotonic() + 5
    while not r.in_flight("/history") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.in_flight("/history")
    t0 = time.monotonic()
    r.stop()
    assert sock.recv(100) == b""  # closed without an answer
    assert r.requests[-1].status == 0 and r.requests[-1].fault == "hang"
    assert time.monotonic() - t0 < 3
    sock.close()


def test_cli_serves_until_terminated() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.replica", "--port", "0", "--days", "2", "--api-delay", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        site = proc.stdout.readline().split()[1]
        cdn = proc.stdout.readline().split()[1]
        page = proc.stdout.readline().split()[1]
        assert cdn == site + "/cdn"
        assert requests.get(page, timeout=5).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# ------------------------------------------------------------------------------ browser
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    if not browser_available():  # in CI a browser test that cannot run is a failure
        if IN_CI:
            pytest.fail("chromium + chromedriver are not available in CI", pytrace=False)
        pytest.skip("needs chromium + chromedriver")
    with ChromeSession() as session:
        yield session.driver


@pytest.fixture(scope="module")
def site() -> Iterator[Replica]:
    ds = make_dataset(days=DAYS, now=NOW, seed=11, empty_days=[EMPTY], outage_rate=0)
    with Replica(ds, api_delay=0.3, now=NOW) as r:
        yield r


def _gallery_srcs(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return Array.from(document.querySelectorAll("
            "'#camera-history .el-image img.el-image__inner')).map(i => i.src);"
        )
    )


def _visible_panel(driver: Any) -> Any:
    from selenium.webdriver.common.by import By

    panels = [
        p for p in driver.find_elements(By.CSS_SELECTOR, ".el-picker-panel") if p.is_displayed()
    ]
    return panels[0] if panels else None


def _no_mask(driver: Any) -> bool:
    return not driver.find_elements("css selector", "#camera-history .el-loading-mask")


def _day_loaded(day: str) -> Any:
    def check(driver: Any) -> bool:
        srcs = _gallery_srcs(driver)
        return _no_mask(driver) and bool(srcs) and all(f"/{day}/" in s for s in srcs)

    return check


@pytest.mark.browser
def test_page_date_picker(chrome: Any, site: Replica) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    d = chrome
    wait = WebDriverWait(d, 10)
    d.get(site.page_url("in_gate"))
    wait.until(_day_loaded("2025-09-06"))
    live = d.find_elements(By.CSS_SELECTOR, ".camera-live .el-image img.el-image__inner")
    assert len(live) == 4 and all("/cdn/apm/2025-09-06/" in i.get_attribute("src") for i in live)
    assert d.find_element(By.XPATH, "//h2[normalize-space()='In Gate']")
    inp = d.find_element(By.CSS_SELECTOR, ".el-date-editor input.el-input__inner")
    assert inp.get_attribute("placeholder") == "Pick a day"
    assert inp.get_attribute("value") == "2025-09-06"
    assert _visible_panel(d) is None

    # typing a date + Enter selects it; the old images stay under the mask until the API answers
    inp.click()
    panel = wait.until(_visible_panel)
    assert "2025" in panel.text and "September" in panel.text
    assert d.execute_script("return !document.getElementById('app').contains(arguments[0])", panel)
    site.faults.api(["slow:1"])
    inp.send_keys(Keys.CONTROL, "a")
    inp.send_keys("2025-09-05", Keys.ENTER)
    assert inp.get_attribute("value") == "2025-09-05"
    assert not _no_mask(d)
    assert all("/2025-09-06/" in s for s in _gallery_srcs(d))
    wait.until(_day_loaded("2025-09-05"))
    assert _visible_panel(d) is None
    n_api = len(site.api_requests())

    # clear() does not stick: the value comes back and typed text is appended (refused)
    inp.clear()
    wait.until(lambda _: inp.get_attribute("value") == "2025-09-05")
    inp.send_keys("2025-09-04")
    assert inp.get_attribute("value") == "2025-09-052025-09-04"
    inp.send_keys(Keys.ENTER)
    wait.until(lambda _: inp.get_attribute("value") == "2025-09-05")

    # a future day is refused silently
    inp.click()
    wait.until(_visible_panel)
    inp.send_keys(Keys.CONTROL, "a")
    inp.send_keys("2025-09-07", Keys.ENTER)
    assert inp.get_attribute("value") == "2025-09-05"

    # Enter while the panel is closed only opens it; the next Enter commits
    inp.send_keys(Keys.ESCAPE)
    assert _visible_panel(d) is None
    inp.send_keys(Keys.CONTROL, "a")
    inp.send_keys("2025-09-04", Keys.ENTER)
    wait.until(_visible_panel)
    assert len(site.api_requests()) == n_api
    inp.send_keys(Keys.ENTER)
    wait.until(_day_loaded("2025-09-04"))

    # the calendar: disabled future cells do nothing; arrows change month; a click selects
    inp.click()
    panel = wait.until(_visible_panel)
    future = panel.find_element(By.XPATH, ".//td[contains(@class,'disabled')][.//span='7']")
    assert "available" not in future.get_attribute("class")
    future.click()
    assert _visible_panel(d) is not None and inp.get_attribute("value") == "2025-09-04"
    today = panel.find_element(By.CSS_SELECTOR, "td.today")
    assert "available" in today.get_attribute("class") and today.text == "6"
    panel.find_element(By.CSS_SELECTOR, "button.arrow-left").click()
    wait.until(
        lambda _: "August" in panel.find_element(By.CLASS_NAME, "el-date-picker__header").text
    )
    panel.find_element(By.CSS_SELECTOR, "button.arrow-right").click()
    panel.find_element(By.CSS_SELECTOR, "button.d-arrow-left").click()
    wait.until(lambda _: "2024" in panel.find_element(By.CLASS_NAME, "el-date-picker__header").text)
    panel.find_element(By.CSS_SELECTOR, "button.d-arrow-right").click()
    cell = panel.find_element(By.XPATH, ".//td[contains(@class,'available')][.//span='2']")
    cell.click()
    wait.until(lambda _: inp.get_attribute("value") == "2025-09-02")
    assert _visible_panel(d) is None
    wait.until(_day_loaded("2025-09-02"))
    assert len(site.api_requests()) == n_api + 2

    # an empty day shows el-empty and no image
    inp.click()
    inp.send_keys(Keys.CONTROL, "a")
    inp.send_keys(EMPTY.isoformat(), Keys.ENTER)
    wait.until(lambda drv: _no_mask(drv) and drv.find_elements(By.CSS_SELECTOR, ".el-empty"))
    assert _gallery_srcs(d) == []


@pytest.mark.browser
def test_page_gallery_lazy_mask_and_errors(chrome: Any, site: Replica) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    d = chrome
    wait = WebDriverWait(d, 10)
    caps = site.dataset.captures("in_gate", date(2025, 9, 1))
    broken = caps[1]
    site.faults.cdn(broken.ts, "always:404", stream="in_gate", variant="thumbnail")
    d.get("about:blank")  # a get() of the same URL with a #fragment would not reload
    d.get(site.page_url("in_gate"))
    wait.until(_day_loaded("2025-09-06"))
    inp = d.find_element(By.CSS_SELECTOR, ".el-date-editor input.el-input__inner")
    inp.click()
    inp.send_keys(Keys.CONTROL, "a")
    inp.send_keys("2025-09-01", Keys.ENTER)
    wait.until(_day_loaded("2025-09-01"))

    items = d.find_elements(By.CSS_SELECTOR, "#camera-history .el-image")
    assert len(items) == len(caps)
    wait.until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "#camera-history .el-image__error"))
    srcs = _gallery_srcs(d)
    assert site.thumb_url("in_gate", caps[0].ts) in srcs
    assert site.thumb_url("in_gate", broken.ts) not in srcs
    assert 0 < len(srcs) < len(caps) // 2
    placeholders = d.find_elements(By.CSS_SELECTOR, "#camera-history .el-image__placeholder")
    assert len(placeholders) > len(caps) // 2

    # jumping to the bottom loads the last items only
    gallery = d.find_element(By.CSS_SELECTOR, ".history-gallery")
    d.execute_script("arguments[0].scrollTop = arguments[0].scrollHeight", gallery)
    last = site.thumb_url("in_gate", caps[-1].ts)
    wait.until(lambda drv: last in _gallery_srcs(drv))
    middle = site.thumb_url("in_gate", caps[len(caps) // 2].ts)
    assert middle not in _gallery_srcs(d)
    assert len(_gallery_srcs(d)) < len(caps)

    # an API that never answers: the mask stays over the previous day's images
    site.faults.api(["hang"])
    inp.click()
    inp.send_keys(Keys.CONTROL, "a")
    inp.send_keys("2025-09-02", Keys.ENTER)
    assert inp.get_attribute("value") == "2025-09-02"
    wait.until(lambda _: site.in_flight("date=2025-09-02"))
    assert not _no_mask(d) and last in _gallery_srcs(d)

    # a failing API: error message, no images, mask removed
    site.faults.api(["fail"])
    inp.click()
    inp.send_keys(Keys.CONTROL, "a")
    inp.send_keys("2025-09-04", Keys.ENTER)
    wait.until(lambda drv: drv.find_elements(By.CSS_SELECTOR, ".el-message--error"))
    wait.until(_no_mask)
    assert _gallery_srcs(d) == []
