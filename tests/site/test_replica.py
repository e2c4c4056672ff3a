"""Tests of the local DrayDog replica itself: time model, HTTP routes, faults, and the page
(real Vue 3 + Element Plus from npm) driven through headless Chromium."""

from __future__ import annotations

import http.client
import io
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from PIL import Image

from tests.replica import CaptureSpec, Replica, ReplicaConfig, VendorMissing, make_dataset
from tests.replica import vendor as vendor_mod

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2025, 9, 6, 12, 0, 0, tzinfo=LA)  # 19:00 UTC
TODAY = NOW.date()
DAYS = [date(2025, 9, d) for d in range(1, 7)]
EMPTY = date(2025, 9, 3)
ROOT = Path(__file__).resolve().parents[2]
TS = "%Y-%m-%dT%H:%M:%S"


@pytest.fixture(scope="module")
def rep() -> Iterator[Replica]:
    ds = make_dataset(days=DAYS, now=NOW, seed=7, empty_days=[EMPTY])
    with Replica(ds, ReplicaConfig(api_delay=0.05, now=NOW)) as r:
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


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ------------------------------------------------------------------------------ dataset
def test_make_dataset_is_deterministic_and_realistic() -> None:
    days = [date(2025, 8, 1) + timedelta(days=i) for i in range(30)]
    now = datetime(2025, 9, 1, 0, 0)  # naive: site-local wall time
    a = make_dataset(days=days, now=now, seed=3, empty_days=[days[4]])
    b = make_dataset(days=days, now=now, seed=3, empty_days=[days[4]])
    assert dict(a) == dict(b)
    assert dict(a) != dict(make_dataset(days=days, now=now, seed=4))
    assert a[("in_gate", days[4])] == [] and a[("out_gate", days[4])] == []
    counts = [len(a[("in_gate", d)]) for d in days if d != days[4]]
    assert max(counts) in range(138, 150)
    assert min(counts) < 130  # some days have an outage
    total = sum(len(v) for v in a.values())
    thumb_only_count = sum(1 for v in a.values() for c in v if not c.has_full)
    assert 0.005 < thumb_only_count / total < 0.05
    caps = a[("in_gate", days[0])]
    assert caps == sorted(caps) and all(c.utc.tzinfo is UTC for c in caps)
    assert {a.local_day(c.utc) for c in caps} == {days[0]}
    assert {c.utc.date() for c in caps} == {days[0], days[1]}  # one local day, two UTC dates
    gaps = [(y.utc - x.utc).total_seconds() for x, y in itertools.pairwise(caps)]
    assert all(gap >= 500 for gap in gaps)
    assert len({c.utc.second for c in caps}) > 30  # irregular seconds
    # adding a day never changes the others
    more = make_dataset(days=[*days, date(2025, 7, 31)], now=now, seed=3, empty_days=[days[4]])
    assert more[("in_gate", days[7])] == a[("in_gate", days[7])]


def test_make_dataset_stops_at_now_and_handles_dst() -> None:
    now = datetime(2025, 9, 6, 7, 30, tzinfo=LA)
    ds = make_dataset(days=[date(2025, 9, 6)], now=now, seed=1)
    assert all(c.utc <= now for c in ds[("in_gate", date(2025, 9, 6))])
    assert 40 <= len(ds[("in_gate", date(2025, 9, 6))]) <= 46
    dst = make_dataset(
        days=[date(2025, 3, 9), date(2025, 11, 2)], now=datetime(2025, 12, 1), outage_rate=0
    )
    spring, fall = dst[("in_gate", date(2025, 3, 9))], dst[("in_gate", date(2025, 11, 2))]
    hours = {c.utc.replace(minute=0, second=0) for c in spring}
    assert len(hours) == 23 and not any(c.utc.astimezone(LA).hour == 2 for c in spring)
    assert len({c.utc.replace(minute=0, second=0) for c in fall}) == 25
    one_am = [c.utc.astimezone(LA) for c in fall if c.utc.astimezone(LA).hour == 1]
    assert {t.utcoffset() for t in one_am} == {timedelta(hours=-7), timedelta(hours=-8)}
    assert len(spring) < 140 < len(fall)  # 23-hour and 25-hour days
    assert dst.day_range(date(2025, 11, 2)) == (utc(2025, 11, 2, 7), utc(2025, 11, 3, 8))


def test_naive_capture_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        CaptureSpec(datetime(2025, 9, 6, 1, 2, 3))
    spec = CaptureSpec(datetime(2025, 9, 6, 1, 2, 3, 999, tzinfo=LA))
    assert spec.utc == utc(2025, 9, 6, 8, 2, 3)


def test_dataset_is_mutable_and_served_live(rep: Replica) -> None:
    t = utc(2025, 9, 5, 6, 59, 58)  # 23:59:58 PDT on 2025-09-04
    assert requests.get(rep.thumb_url("in_gate", t)).status_code == 404
    rep.dataset.add("in_gate", t, has_full=False)
    try:
        assert requests.get(rep.thumb_url("in_gate", t)).status_code == 200
        assert requests.get(rep.full_url("in_gate", t)).status_code == 404
        row = rep.expected("in_gate", date(2025, 9, 4))[-1]
        assert row[:2] == ("2025-09-05T06:59:58", "thumbnail")
    finally:
        rep.dataset.remove("in_gate", t)


def test_clock_publish_and_full_delays() -> None:
    clock = [datetime(2025, 9, 6, 10, 0, tzinfo=LA)]
    ds = make_dataset(days=[TODAY], now=clock[0], streams=("in_gate",), outage_rate=0)
    t = utc(2025, 9, 6, 17, 0, 1)  # 10:00:01 PDT, one second in the future
    ds.add("in_gate", t, publish_delay=600, full_delay=1800)
    config = ReplicaConfig(api_delay=0, now=lambda: clock[0])
    with Replica(ds, config) as r, requests.Session() as s:
        api = f"{r.site_url}/api/terminal_cameras/apm"

        def listed() -> bool:
            q = {"stream": "in_gate", "date": TODAY.isoformat()}
            return any(
                i["url"] == r.thumb_url("in_gate", t)
                for i in s.get(f"{api}/history", params=q).json()["images"]
            )

        def status() -> tuple[int, int, str | None]:
            rows = {row[0]: row[1] for row in r.expected("in_gate", TODAY)}
            thumb = s.get(r.thumb_url("in_gate", t)).status_code
            return thumb, s.get(r.full_url("in_gate", t)).status_code, rows.get(r.stamp(t))

        assert status() == (404, 404, None) and not listed()
        clock[0] += timedelta(minutes=10, seconds=1)  # published, full size not yet there
        assert status() == (200, 404, "thumbnail") and listed()
        latest = s.get(f"{api}/latest", params={"stream": "in_gate"}).json()["images"]
        assert latest[0]["url"] == r.thumb_url("in_gate", t)
        clock[0] += timedelta(minutes=20)
        assert status() == (200, 200, "full")
        assert r.today() == TODAY and r.site_now().tzinfo is not None
        clock[0] = datetime(2025, 9, 7, 0, 30)  # naive: site-local; the page's today moves
        assert r.today() == date(2025, 9, 7) and '"today": "2025-09-07"' in r.page_html("in_gate")


# ------------------------------------------------------------------------------ CDN
def test_cdn_serves_real_jpegs_with_the_documented_paths(rep: Replica) -> None:
    c = first_full(rep)
    u = c.utc
    full, thumb = rep.full_url("in_gate", u), rep.thumb_url("in_gate", u)
    stamp = u.strftime(TS)
    assert rep.stamp(u) == stamp  # URL stamps are UTC by default
    assert full == f"{rep.cdn_url}/apm/{u:%Y-%m-%d}/{u.hour}/{stamp}-in_gate.jpeg"
    assert thumb == f"{rep.cdn_url}/apm/{u:%Y-%m-%d}/{u.hour}/{stamp}-in_gate-thumbnail.jpeg"
    with requests.Session() as s:
        r = s.get(full)
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
        assert int(r.headers["Content-Length"]) == len(r.content)
        assert r.content == rep.image_bytes("in_gate", u, "full")
        assert Image.open(io.BytesIO(r.content)).size == (160, 120)
        t = s.get(thumb)
        assert t.content == rep.image_bytes("in_gate", u, "thumbnail")
        assert Image.open(io.BytesIO(t.content)).size == (64, 48)
        h = s.head(full)
        assert h.status_code == 200 and h.content == b""
        assert h.headers["Content-Length"] == str(len(r.content))
        encoded = rep.cdn_url + rep.cdn_path("in_gate", u).replace(":", "%3A")
        assert s.get(encoded).content == r.content


def test_cdn_404s_and_unpadded_hours(rep: Replica) -> None:
    c = next(c for c in rep.dataset.captures("in_gate", date(2025, 9, 5)) if c.utc.hour < 10)
    full = rep.full_url("in_gate", c.utc)
    assert f"/{c.utc:%Y-%m-%d}/{c.utc.hour}/" in full  # "/7/", not "/07/"
    padded = full.replace(f"/{c.utc.hour}/", f"/{c.utc.hour:02d}/")
    assert padded != full
    stream, only_thumb = thumb_only(rep)
    with requests.Session() as s:
        assert s.get(full).status_code == 200
        assert s.get(padded).status_code == 404
        assert s.get(rep.full_url(stream, only_thumb.utc)).status_code == 404
        assert s.get(rep.thumb_url(stream, only_thumb.utc)).status_code == 200
        assert s.get(full.replace("/apm/", "/xyz/")).status_code == 404
        assert s.get(full.replace("in_gate", "side_gate")).status_code == 404
        assert s.get(full.replace(".jpeg", ".jpg")).status_code == 404
        missing = rep.full_url("in_gate", c.utc + timedelta(seconds=1))
        r = s.get(missing)
        assert r.status_code == 404 and not r.headers["Content-Type"].startswith("image/")
        # the site-local stamp of the same capture (the old assumption) is not a file
        local = c.utc.astimezone(LA)
        wrong = f"{rep.cdn_url}/apm/{local:%Y-%m-%d}/{local.hour}/{local:{TS}}-in_gate.jpeg"
        assert s.get(wrong).status_code == 404
        assert s.get(rep.cdn_url + "/").status_code == 404


def test_images_are_deterministic_and_differ(rep: Replica) -> None:
    caps = rep.dataset.captures("in_gate", date(2025, 9, 5))
    a, b = caps[0].utc, caps[1].utc
    assert rep.image_bytes("in_gate", a, "full") == rep.image_bytes("in_gate", a, "full")
    other = Replica(rep.dataset)  # never started: bytes do not depend on the server
    assert other.image_bytes("in_gate", a, "full") == rep.image_bytes("in_gate", a, "full")
    assert rep.image_bytes("in_gate", a, "full") != rep.image_bytes("in_gate", b, "full")
    assert rep.image_bytes("in_gate", a, "full") != rep.image_bytes("out_gate", a, "full")
    assert rep.image_bytes("in_gate", a, "thumbnail") != rep.image_bytes("in_gate", a, "full")


def test_expected_lists_the_variant_to_keep(rep: Replica) -> None:
    stream, only_thumb = thumb_only(rep)
    day = rep.dataset.local_day(only_thumb.utc)
    exp = rep.expected(stream, day)
    caps = rep.dataset.captures(stream, day)
    assert [e[0] for e in exp] == [c.utc.strftime(TS) for c in caps]
    assert len({e[0][:10] for e in exp}) == 2 or day == TODAY  # two UTC dates a local day
    row = {e[0]: e for e in exp}[only_thumb.utc.strftime(TS)]
    assert row[1] == "thumbnail" and row[2] == rep.image_bytes(stream, only_thumb.utc, "thumbnail")
    assert rep.expected("in_gate", EMPTY) == []


def test_keep_alive_reuses_one_connection(rep: Replica) -> None:
    caps = rep.dataset.captures("out_gate", date(2025, 9, 4))[:5]
    rep.reset_stats()
    with requests.Session() as s:
        for c in caps:
            assert s.get(rep.thumb_url("out_gate", c.utc)).status_code == 200
        assert s.get(rep.cdn_url + "/nope.jpeg").status_code == 404  # 404 keeps it open too
        assert s.get(rep.full_url("out_gate", caps[0].utc)).status_code == 200
    # the server logs a request just after sending its answer: wait for the last one
    deadline = time.monotonic() + 5
    while len(rep.cdn_requests()) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    records = rep.cdn_requests("out_gate")
    assert len(records) == 6 and len({r.conn for r in rep.cdn_requests()}) == 1
    assert rep.max_cdn_in_flight == 1
    assert all(r.agent.startswith("python-requests") for r in records)


def test_url_timezone_site_local_repeats_stamps_in_autumn() -> None:
    """url_timezone = the site's zone: the older assumption; the repeated 01:xx hour of
    2025-11-02 gives two captures one stamp, so one of them cannot be fetched."""
    ds = make_dataset(days=[date(2025, 11, 2)], now=datetime(2025, 11, 3), streams=("in_gate",))
    ds.add("in_gate", datetime(2025, 11, 2, 1, 30, 5, tzinfo=LA))  # PDT
    ds.add("in_gate", datetime(2025, 11, 2, 1, 30, 5, tzinfo=LA, fold=1))  # PST, an hour later
    with Replica(ds, ReplicaConfig(url_timezone="America/Los_Angeles", api_delay=0)) as r:
        a, b = (
            c for c in ds.all("in_gate") if c.utc.astimezone(LA).strftime("%H:%M:%S") == "01:30:05"
        )
        assert r.stamp(a.utc) == r.stamp(b.utc) == "2025-11-02T01:30:05"
        assert r.full_url("in_gate", a.utc).endswith(
            "/apm/2025-11-02/1/2025-11-02T01:30:05-in_gate.jpeg"
        )
        assert requests.get(r.full_url("in_gate", b.utc)).content == r.image_bytes("in_gate", a.utc)
        stamps = [e[0] for e in r.expected("in_gate", date(2025, 11, 2))]
        assert len(stamps) - len(set(stamps)) >= 1


# ------------------------------------------------------------------------------ page + API
def test_page_and_api_routes(rep: Replica) -> None:
    with requests.Session() as s:
        for stream in ("in_gate", "out_gate"):
            r = s.get(rep.page_url(stream))
            assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
            assert '"today": "2025-09-06"' in r.text and "/vendor/vue.global.prod.js" in r.text
        assert s.get(f"{rep.site_url}/terminal_cameras/apm?streamName=nope").status_code == 404
        assert s.get(f"{rep.site_url}/terminal_cameras/xyz?streamName=in_gate").status_code == 404
        assert s.get(f"{rep.site_url}/assets/app.js").status_code == 200
        assert s.get(f"{rep.site_url}/assets/index.js").status_code == 404
        # the vendor files are the pinned npm builds, byte for byte
        nm = Path(vendor_mod.NODE_MODULES)
        for name, (rel, _ctype) in vendor_mod.VENDOR_FILES.items():
            assert s.get(f"{rep.site_url}/vendor/{name}").content == (nm / rel).read_bytes()
        lock = json.loads((nm.parent / "package-lock.json").read_text())["packages"]
        assert lock["node_modules/vue"]["version"] == "3.5.45"
        assert lock["node_modules/element-plus"]["version"] == "2.14.8"
        assert s.get(f"{rep.site_url}/vendor/../server.py").status_code == 404

        api = f"{rep.site_url}/api/terminal_cameras/apm"
        t0 = time.monotonic()
        r = s.get(f"{api}/history", params={"stream": "in_gate", "date": "2025-09-05"})
        assert time.monotonic() - t0 >= 0.05
        body = r.json()
        caps = rep.dataset.captures("in_gate", date(2025, 9, 5))
        assert [i["url"] for i in body["images"]] == [rep.thumb_url("in_gate", c.utc) for c in caps]
        assert body["images"][0]["time"] == caps[0].utc.strftime(TS) + "Z"
        # the same day as an explicit range of instants (what page_zone="browser" sends)
        start, end = rep.dataset.day_range(date(2025, 9, 5))
        q = {"stream": "in_gate", "start": start.isoformat(), "end": end.isoformat()}
        assert s.get(f"{api}/history", params=q).json()["images"] == body["images"]
        r = s.get(f"{api}/history", params={"stream": "in_gate", "date": EMPTY.isoformat()})
        assert r.json()["images"] == []
        for bad in (
            {"date": "x"},
            {},
            {"start": "2025-09-05T00:00:00", "end": "2025-09-06T00:00:00"},
        ):
            assert s.get(f"{api}/history", params={"stream": "in_gate", **bad}).status_code == 400
        latest = s.get(f"{api}/latest", params={"stream": "in_gate"}).json()
        newest = rep.dataset.captures("in_gate", TODAY)[-1]
        assert latest["camera"] is True and len(latest["images"]) == 4
        assert latest["images"][0]["time"] == newest.utc.strftime(TS) + "Z"
        assert s.get(f"{api}/latest", params={"stream": "nope"}).status_code == 404


def test_no_camera_streams_answer_empty_but_unknown_ones_404() -> None:
    ds = make_dataset(days=[TODAY], now=NOW)
    config = ReplicaConfig(api_delay=0, now=NOW, no_camera=("out_gate",))
    with Replica(ds, config) as r, requests.Session() as s:
        api = f"{r.site_url}/api/terminal_cameras/apm"
        body = s.get(f"{api}/history", params={"stream": "out_gate", "date": "2025-09-06"}).json()
        assert body["camera"] is False and body["images"] == []
        assert s.get(f"{api}/latest", params={"stream": "out_gate"}).json()["camera"] is False
        assert s.get(r.page_url("out_gate")).status_code == 200
        assert s.get(r.page_url("side_gate")).status_code == 404


def test_missing_npm_packages_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(vendor_mod, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(VendorMissing, match=r"npm ci --prefix tests/replica"):
        Replica(make_dataset(days=[TODAY], now=NOW)).start()


def test_bad_modes_are_refused() -> None:
    ds = make_dataset(days=[TODAY], now=NOW)
    for kwargs in ({"gallery": "lazy"}, {"page_zone": "utc"}, {"page_size": 0}):
        with pytest.raises(ValueError):
            Replica(ds, ReplicaConfig(**kwargs))


def test_warm_renders_every_image() -> None:
    ds = make_dataset(days=[TODAY], now=datetime(2025, 9, 6, 1, 0), streams=("in_gate",))
    caps = ds[("in_gate", TODAY)]
    r = Replica(ds, ReplicaConfig(gallery="eager", now=NOW))
    assert r.warm() == len(caps) + sum(c.has_full for c in caps)
    assert '"gallery": "eager"' in r.page_html("in_gate")


# ------------------------------------------------------------------------------ faults
@pytest.mark.parametrize("kind", ["404", "500", "502", "503"])
def test_status_faults_then_ok(rep: Replica, kind: str) -> None:
    c = first_full(rep)
    url = rep.full_url("in_gate", c.utc)
    rep.faults.cdn(url, [kind, kind])
    with requests.Session() as s:
        assert [s.get(url).status_code for _ in range(3)] == [int(kind), int(kind), 200]


def test_429_has_retry_after(rep: Replica) -> None:
    c = first_full(rep)
    rep.faults.retry_after = 2
    rep.faults.cdn(c.utc, ["429", "429:5"], stream="in_gate", variant="full")
    url = rep.full_url("in_gate", c.utc)
    with requests.Session() as s:
        assert s.get(rep.thumb_url("in_gate", c.utc)).status_code == 200  # other variant
        a, b, ok = s.get(url), s.get(url), s.get(url)
    assert (a.status_code, a.headers["Retry-After"]) == (429, "2")
    assert (b.status_code, b.headers["Retry-After"]) == (429, "5")
    assert ok.status_code == 200
    rep.faults.retry_after = 1


def test_reset_and_truncate(rep: Replica) -> None:
    c = first_full(rep)
    url = rep.full_url("in_gate", c.utc)
    body = rep.image_bytes("in_gate", c.utc, "full")
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
    url = rep.full_url("in_gate", c.utc)
    rep.faults.cdn(url, ["html200", "slow:1.5", "slow:0.2"])
    with requests.Session() as s:
        r = s.get(url)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        with pytest.raises(requests.Timeout):
            s.get(url, timeout=0.4)
        t0 = time.monotonic()
        assert s.get(url, timeout=5).status_code == 200
        assert time.monotonic() - t0 >= 0.2
    thumb = rep.thumb_url("in_gate", c.utc)
    rep.faults.cdn(thumb, "always:503")
    with requests.Session() as s:
        assert {s.get(thumb).status_code for _ in range(4)} == {503}


def test_wildcard_and_flaky_faults(rep: Replica) -> None:
    caps = rep.dataset.captures("out_gate", date(2025, 9, 2))[:40]
    urls = [rep.thumb_url("out_gate", c.utc) for c in caps]
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
    r = Replica(ds, ReplicaConfig(api_delay=0, now=NOW)).start()
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
# One Chromium in the terminal's zone for the module (2 cores, shared machine); a second,
# in UTC, only for the browser-zone test. No fixed sleeps: every wait is on a condition.
HISTORY = "#camera-history"
WAIT = 15


@pytest.fixture(scope="module")
def chrome(chromium: tuple[str, str]) -> Iterator[Any]:
    from tests.replica.browser import ChromeSession

    with ChromeSession(tz="America/Los_Angeles") as session:
        yield session.driver


def wait(driver: Any, cond: Any, timeout: float = WAIT) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(cond)


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def items(driver: Any) -> int:
    return int(js(driver, f"return document.querySelectorAll('{HISTORY} .history-item').length"))


def srcs(driver: Any) -> list[str]:
    return list(
        js(
            driver,
            f"return Array.from(document.querySelectorAll('{HISTORY} .history-item "
            "img.el-image__inner')).map(i => i.src)",
        )
    )


def shown_order(rep: Replica, stream: str, day: date) -> list[str]:
    """The gallery order of the real page: hour blocks newest first, oldest first within."""
    caps = rep.published(stream, day)
    hours = sorted({c.utc.replace(minute=0, second=0) for c in caps}, reverse=True)
    return [
        rep.thumb_url(stream, c.utc)
        for h in hours
        for c in caps
        if c.utc.replace(minute=0, second=0) == h
    ]


def open_page(driver: Any, rep: Replica, stream: str = "in_gate", count: int | None = None) -> None:
    """Load the page (through about:blank: a #fragment-only change would not reload) and wait
    until the History answer is rendered (``count`` gallery items)."""
    driver.get("about:blank")
    driver.get(rep.page_url(stream))
    if count is not None:
        wait(
            driver,
            lambda d: (
                items(d) == count
                and not d.find_elements("css selector", f"{HISTORY} .el-loading-mask")
            ),
        )


def picker_input(driver: Any) -> Any:
    return driver.find_element("css selector", f"{HISTORY} .el-date-editor input.el-input__inner")


def type_date(driver: Any, day: date) -> None:
    from selenium.webdriver.common.keys import Keys

    box = picker_input(driver)
    box.click()  # opens the panel: Enter with it closed would only open it
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(day.isoformat(), Keys.ENTER)


def visible_panel(driver: Any) -> Any:
    panels = [
        p for p in driver.find_elements("css selector", ".el-picker-panel") if p.is_displayed()
    ]
    return panels[0] if panels else False


@pytest.fixture(scope="module")
def site() -> Iterator[Replica]:
    ds = make_dataset(days=DAYS, now=NOW, seed=11, empty_days=[EMPTY], outage_rate=0)
    with Replica(ds, ReplicaConfig(api_delay=0.05, now=NOW, gallery="eager")) as r:
        yield r


@pytest.mark.browser
def test_page_runs_pinned_vue_and_element_plus(chrome: Any, site: Replica) -> None:
    day = TODAY
    open_page(chrome, site, count=len(site.published("in_gate", day)))
    assert js(chrome, "return [Vue.version, ElementPlus.version]") == ["3.5.45", "2.14.8"]
    assert (
        js(chrome, "return Intl.DateTimeFormat().resolvedOptions().timeZone")
        == "America/Los_Angeles"
    )
    box = picker_input(chrome)
    assert box.get_attribute("placeholder") == "Pick a day"
    assert box.get_attribute("value") == day.isoformat()
    assert "History" in chrome.find_element("css selector", f"{HISTORY} h2").text
    live = chrome.find_element("css selector", ".camera-live")
    assert "In Gate" in live.find_element("css selector", "h2").text
    wait(
        chrome,
        lambda d: len(d.find_elements("css selector", ".camera-live img.el-image__inner")) == 4,
    )
    live_srcs = [
        i.get_attribute("src") for i in live.find_elements("css selector", "img.el-image__inner")
    ]
    newest = site.dataset.latest("in_gate", 1, until=site.now_utc())[0]
    assert newest.utc.strftime(TS) in live_srcs[0]
    assert srcs(chrome) == shown_order(site, "in_gate", day)


@pytest.mark.browser
def test_typed_and_clicked_days_change_the_gallery(chrome: Any, site: Replica) -> None:
    open_page(chrome, site, count=len(site.published("in_gate", TODAY)))
    day = date(2025, 9, 5)
    type_date(chrome, day)
    want = shown_order(site, "in_gate", day)
    wait(chrome, lambda d: srcs(d) == want)
    # a local day's gallery holds URLs of two UTC dates, the newest hour block first
    folders = [u.split("/apm/")[1][:10] for u in want]
    assert folders[0] == "2025-09-06" and folders[-1] == "2025-09-05"
    titles = [t.text for t in chrome.find_elements("css selector", f"{HISTORY} .hour-block__title")]
    assert titles[0] == "23:00 PDT" and titles[-1] == "00:00 PDT" and len(titles) == 24
    assert picker_input(chrome).get_attribute("value") == "2025-09-05"
    # the calendar: click the 4th, then a future day is refused
    picker_input(chrome).click()
    panel = wait(chrome, visible_panel)
    assert "2025" in panel.find_element("css selector", ".el-date-picker__header").text
    cells = panel.find_elements("css selector", "table.el-date-table td")
    future = next(
        c for c in cells if c.text == "7" and "prev-month" not in c.get_attribute("class")
    )
    assert "disabled" in future.get_attribute("class")
    four = next(c for c in cells if c.text == "4" and "available" in c.get_attribute("class"))
    four.click()
    want4 = shown_order(site, "in_gate", date(2025, 9, 4))
    wait(chrome, lambda d: srcs(d) == want4)
    calls = len(site.api_requests())
    type_date(chrome, date(2025, 9, 7))  # future: refused silently
    # the typed text stays until the input loses focus, then the value comes back
    chrome.find_element("css selector", f"{HISTORY} h2").click()
    wait(chrome, lambda d: picker_input(d).get_attribute("value") == "2025-09-04")
    assert srcs(chrome) == want4 and len(site.api_requests()) == calls


@pytest.mark.browser
@pytest.mark.parametrize("gallery", ["window-lazy", "container-lazy"])
def test_lazy_galleries_show_urls_only_after_scrolling(chrome: Any, gallery: str) -> None:
    ds = make_dataset(days=[date(2025, 9, 5)], now=NOW, seed=3, outage_rate=0, streams=("in_gate",))
    with Replica(ds, ReplicaConfig(api_delay=0, now=NOW, gallery=gallery)) as r:
        open_page(chrome, r)
        type_date(chrome, date(2025, 9, 5))
        n = len(r.published("in_gate", date(2025, 9, 5)))
        wait(chrome, lambda d: items(d) == n)
        wait(chrome, lambda d: len(srcs(d)) > 0)
        first = len(srcs(chrome))
        assert first < n / 2  # only what is in view
        last = chrome.find_elements("css selector", f"{HISTORY} .history-item .el-image")[-1]
        assert last.find_elements("css selector", ".el-image__placeholder")
        assert not last.find_elements("css selector", "img")
        if gallery == "container-lazy":
            # the window does not move the inner box; scrolling the box does
            js(chrome, "window.scrollTo(0, document.body.scrollHeight)")
            js(
                chrome,
                f"var b = document.querySelector('{HISTORY} .history-gallery');"
                " b.scrollTop = b.scrollHeight",
            )
        else:
            js(chrome, "window.scrollTo(0, document.body.scrollHeight)")
        wait(chrome, lambda d: last.find_elements("css selector", "img.el-image__inner"))
        after = srcs(chrome)
        assert len(after) < n  # jumping to the bottom loads only what is then in view
        assert after[-1] == shown_order(r, "in_gate", date(2025, 9, 5))[-1]


@pytest.mark.browser
def test_pagination(chrome: Any) -> None:
    ds = make_dataset(days=[TODAY], now=NOW, seed=5, outage_rate=0, streams=("in_gate",))
    with Replica(ds, ReplicaConfig(api_delay=0, now=NOW, gallery="eager", page_size=20)) as r:
        want = shown_order(r, "in_gate", TODAY)
        open_page(chrome, r, count=20)
        wait(chrome, lambda d: srcs(d) == want[:20])
        chrome.find_element("css selector", f"{HISTORY} .el-pagination button.btn-next").click()
        wait(chrome, lambda d: srcs(d) == want[20:40])
        pages = chrome.find_elements("css selector", f"{HISTORY} .el-pager li")
        pages[-1].click()
        last_page = (len(want) - 1) // 20
        wait(chrome, lambda d: srcs(d) == want[last_page * 20 :])
        nxt = chrome.find_element("css selector", f"{HISTORY} .el-pagination button.btn-next")
        assert not nxt.is_enabled()


@pytest.mark.browser
@pytest.mark.parametrize("mask", [True, False])
def test_loading_mask(chrome: Any, mask: bool) -> None:
    ds = make_dataset(days=[date(2025, 9, 5), TODAY], now=NOW, seed=5, streams=("in_gate",))
    config = ReplicaConfig(api_delay=0, now=NOW, gallery="eager", loading_mask=mask)
    with Replica(ds, config) as r:
        open_page(chrome, r, count=len(r.published("in_gate", TODAY)))
        before = srcs(chrome)
        r.faults.api("slow:1.5")
        type_date(chrome, date(2025, 9, 5))
        wait(chrome, lambda d: r.in_flight("/history"))
        masks = chrome.find_elements("css selector", f"{HISTORY} .el-loading-mask")
        assert bool(masks) == mask
        assert srcs(chrome) == before  # the old day stays visible while loading
        want = shown_order(r, "in_gate", date(2025, 9, 5))
        wait(chrome, lambda d: srcs(d) == want)


@pytest.mark.browser
def test_no_camera_and_api_failure(chrome: Any) -> None:
    ds = make_dataset(days=[TODAY], now=NOW, seed=5)
    config = ReplicaConfig(api_delay=0, now=NOW, no_camera=("out_gate",), heading="Camera History")
    with Replica(ds, config) as r:
        open_page(chrome, r, "out_gate")
        wait(chrome, lambda d: "No camera found" in d.find_element("tag name", "body").text)
        assert not chrome.find_elements("css selector", f"{HISTORY} .history-item")
        r.faults.api("fail")
        open_page(chrome, r, "in_gate")
        wait(chrome, lambda d: d.find_elements("css selector", ".el-message--error"))
        assert "Failed" in chrome.find_element("css selector", f"{HISTORY} .el-empty").text
        assert chrome.find_element("css selector", f"{HISTORY} h2").text == "Camera History"


@pytest.mark.browser
def test_dst_day_has_25_hours(chrome: Any) -> None:
    now = datetime(2025, 11, 3, 12, tzinfo=LA)
    day = date(2025, 11, 2)
    ds = make_dataset(days=[day, now.date()], now=now, seed=2, outage_rate=0, streams=("in_gate",))
    with Replica(ds, ReplicaConfig(api_delay=0, now=now, gallery="eager")) as r:
        open_page(chrome, r, count=len(r.published("in_gate", now.date())))
        type_date(chrome, day)
        want = shown_order(r, "in_gate", day)
        wait(chrome, lambda d: srcs(d) == want)
        titles = [
            t.text for t in chrome.find_elements("css selector", f"{HISTORY} .hour-block__title")
        ]
        assert len(titles) == 25 and "01:00 PST" in titles and "01:00 PDT" in titles
        assert titles.index("01:00 PST") < titles.index("01:00 PDT")  # newest first


@pytest.mark.browser
def test_browser_zone_page_depends_on_the_browser_zone(
    chrome: Any, chromium: tuple[str, str]
) -> None:
    from tests.replica.browser import ChromeSession

    ds = make_dataset(days=[date(2025, 9, 5), TODAY], now=NOW, seed=4, streams=("in_gate",))
    config = ReplicaConfig(api_delay=0, now=NOW, gallery="eager", page_zone="browser")
    with Replica(ds, config) as r:
        la = set(shown_order(r, "in_gate", TODAY))
        open_page(chrome, r, count=len(la))
        assert set(srcs(chrome)) == la
        assert "start=2025-09-06T07%3A00%3A00.000Z" in r.api_requests()[-1].path
        with ChromeSession(tz="UTC") as other:
            d = other.driver
            # the UTC browser's "today" is the UTC date of the site clock, its range UTC midnights
            start = utc(2025, 9, 6)
            in_utc = {
                r.thumb_url("in_gate", c.utc)
                for c in ds.between("in_gate", start, start + timedelta(days=1))
                if c.is_published(r.now_utc())
            }
            open_page(d, r, count=len(in_utc))
            assert set(srcs(d)) == in_utc != la
