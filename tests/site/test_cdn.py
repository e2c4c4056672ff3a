"""CdnClient against the running replica: variants, faults, validation, pooling."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from dogcli.model.captures import FULL, THUMBNAIL, Capture, Zones
from dogcli.sources.base import DownloadFailed
from dogcli.sources.cdn import CdnClient, parse_retry_after
from dogcli.storage.base import is_jpeg
from tests.replica import Replica, ReplicaConfig, RequestRecord, make_dataset

LA = ZoneInfo("America/Los_Angeles")
ZONES = Zones(LA, ZoneInfo("UTC"))  # dogcli's default: URL stamps are UTC, days are local
NOW = datetime(2025, 9, 6, 12, 0, 0, tzinfo=LA)
DAY = date(2025, 9, 5)  # a full past local day: ~144 captures per stream, two UTC dates
SPARE_DAY = date(2025, 9, 4)  # captures added by the tests themselves
MAX_RETRIES = 3
READ_TIMEOUT = 0.4


@pytest.fixture(scope="module")
def rep() -> Iterator[Replica]:
    ds = make_dataset(days=[DAY, NOW.date()], now=NOW, seed=5, outage_rate=0, thumb_only_rate=0)
    with Replica(ds, ReplicaConfig(api_delay=0, now=NOW)) as r:
        yield r


@pytest.fixture(autouse=True)
def _fresh(rep: Replica) -> Iterator[None]:
    rep.faults.clear()
    rep.faults.injected.clear()
    rep.reset_stats()
    yield
    rep.faults.clear()
    settle(rep)  # a slow answer the client gave up on must not land in the next test's log


@pytest.fixture
def client(rep: Replica) -> Iterator[CdnClient]:
    with CdnClient(
        rep.cdn_url,
        concurrency=4,
        max_retries=MAX_RETRIES,
        retry_base=0.02,
        connect_timeout=2.0,
        read_timeout=READ_TIMEOUT,
    ) as c:
        yield c


_slot = iter(range(10_000))


def new_capture(rep: Replica, stream: str = "in_gate", has_full: bool = True) -> Capture:
    """A capture of its own (so that fault plans of different tests never meet)."""
    n = next(_slot)
    start = datetime.combine(SPARE_DAY, clock_time(), LA)
    utc = (start + timedelta(minutes=7 * n, seconds=13)).astimezone(UTC)
    assert ZONES.day_of(utc) == SPARE_DAY
    rep.dataset.add(stream, utc, has_full=has_full)
    capture = ZONES.capture("apm", stream, rep.stamp(utc))
    assert capture.taken == utc
    return capture


def capture_of(rep: Replica, stream: str, utc: datetime) -> Capture:
    """dogcli's capture for the replica's capture at instant `utc`, read from its URL stamp."""
    capture = ZONES.capture("apm", stream, rep.stamp(utc))
    assert capture.taken == utc
    return capture


def ts_of(capture: Capture) -> datetime:
    return capture.taken


def path_of(rep: Replica, capture: Capture, variant: str = FULL) -> str:
    return "/cdn" + rep.cdn_path(capture.stream, ts_of(capture), variant)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """An explicit wait: poll `condition` until it holds, fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def settle(rep: Replica, path: str = "/cdn/") -> None:
    """The replica logs a request once its answer is written, a moment after the client may
    have read it: wait until nothing under `path` is being served any more."""
    wait_until(lambda: not rep.in_flight(path), f"the replica to finish {path}")


def cdn_log(rep: Replica) -> list[RequestRecord]:
    settle(rep)
    return rep.cdn_requests()


def records(rep: Replica, capture: Capture, variant: str = FULL) -> list[tuple[int, str]]:
    """(status, fault) of the requests the replica answered for one variant's file."""
    path = path_of(rep, capture, variant)
    settle(rep, path)
    return [(r.status, r.fault) for r in rep.requests if unquote(r.path) == path]


def injected(rep: Replica, capture: Capture, variant: str = FULL) -> list[str]:
    path = path_of(rep, capture, variant)
    return [name for p, name in rep.faults.injected if p == path]


# ------------------------------------------------------------------------------ variants
def test_full_size_is_downloaded_byte_equal(rep: Replica, client: CdnClient) -> None:
    spec = rep.dataset.captures("out_gate", DAY)[-1]  # evening: its URL is of the next UTC date
    assert rep.stamp(spec.utc)[:10] == str(DAY + timedelta(days=1))
    capture = capture_of(rep, "out_gate", spec.utc)
    assert capture.day == DAY
    got = client.download(capture)
    expected = rep.image_bytes("out_gate", spec.utc, "full")
    assert got.variant == FULL
    assert got.data == expected
    assert got.sha256 == hashlib.sha256(expected).hexdigest()
    assert got.url == rep.full_url("out_gate", spec.utc)
    assert got.capture == capture
    assert records(rep, capture) == [(200, "")]
    assert records(rep, capture, THUMBNAIL) == []
    assert client.requests_made == 1


def test_thumbnail_kept_only_when_full_size_is_404(rep: Replica, client: CdnClient) -> None:
    capture = new_capture(rep, has_full=False)
    got = client.download(capture)
    assert got.variant == THUMBNAIL
    assert got.data == rep.image_bytes("in_gate", ts_of(capture), "thumbnail")
    assert got.url == rep.thumb_url("in_gate", ts_of(capture))
    # exactly: the full size once (404, not retried), then the thumbnail
    log = [(unquote(r.path), r.status) for r in cdn_log(rep)]
    assert log == [
        (path_of(rep, capture, FULL), 404),
        (path_of(rep, capture, THUMBNAIL), 200),
    ]
    # the replica's own idea of what a perfect client keeps agrees
    kept = {ts: (variant, data) for ts, variant, data in rep.expected("in_gate", SPARE_DAY)}
    assert kept[capture.url_ts] == (got.variant, got.data)


def test_full_size_preferred_when_both_exist(rep: Replica, client: CdnClient) -> None:
    capture = new_capture(rep, has_full=True)
    got = client.download(capture)
    assert (got.variant, got.data) == (FULL, rep.image_bytes("in_gate", ts_of(capture), "full"))
    assert records(rep, capture, THUMBNAIL) == []


def test_both_404_fail_without_retries(rep: Replica, client: CdnClient) -> None:
    missing = ZONES.capture("apm", "in_gate", "2025-09-05T03:01:02")
    assert rep.dataset.find("in_gate", ts_of(missing)) is None
    with pytest.raises(DownloadFailed, match="404"):
        client.download(missing)
    assert records(rep, missing, FULL) == [(404, "")]
    assert records(rep, missing, THUMBNAIL) == [(404, "")]
    assert client.requests_made == 2


def test_a_404_is_final_even_if_the_file_would_come_back(rep: Replica, client: CdnClient) -> None:
    capture = new_capture(rep, has_full=True)
    rep.faults.cdn(path_of(rep, capture), ["404"])
    got = client.download(capture)
    assert got.variant == THUMBNAIL  # a 404 is an answer, not a fault worth retrying
    assert records(rep, capture, FULL) == [(404, "404")]
    assert records(rep, capture, THUMBNAIL) == [(200, "")]


# ------------------------------------------------------------------------------ faults
TRANSIENT = [
    ["500"],
    ["502"],
    ["503"],
    ["reset"],
    ["truncate"],
    ["html200"],
    ["slow:1"],
    ["503", "reset", "truncate"],  # max_retries (3) faults in a row, then ok
    ["html200", "429:0.05", "502"],
]


@pytest.mark.parametrize("kinds", TRANSIENT, ids=["+".join(k) for k in TRANSIENT])
def test_transient_faults_then_ok(rep: Replica, client: CdnClient, kinds: list[str]) -> None:
    capture = new_capture(rep)
    rep.faults.cdn(path_of(rep, capture), kinds)
    started = time.monotonic()
    got = client.download(capture)
    elapsed = time.monotonic() - started
    assert got.variant == FULL
    assert got.data == rep.image_bytes("in_gate", ts_of(capture), "full")
    assert client.requests_made == len(kinds) + 1
    # the replica saw every planned fault once, in order, then exactly one clean answer
    assert injected(rep, capture) == kinds
    assert records(rep, capture).count((200, "")) == 1
    if "slow:1" not in kinds:  # (the answer to a request the client gave up on may be lost)
        assert len(records(rep, capture)) == len(kinds) + 1
    assert records(rep, capture, THUMBNAIL) == []  # a transient fault is no reason to fall back
    if kinds == ["slow:1"]:
        assert READ_TIMEOUT <= elapsed < 1.0  # gave up at the read timeout, did not wait it out


def test_429_retry_after_is_honoured(rep: Replica, client: CdnClient) -> None:
    capture = new_capture(rep)
    rep.faults.cdn(path_of(rep, capture), ["429:0.6"])
    started = time.monotonic()
    got = client.download(capture)
    elapsed = time.monotonic() - started
    assert got.data == rep.image_bytes("in_gate", ts_of(capture), "full")
    assert elapsed >= 0.6  # the backoff alone (base 0.02) would be far shorter
    first, second = (r for r in cdn_log(rep) if unquote(r.path) == path_of(rep, capture))
    assert (first.status, first.fault, second.status) == (429, "429:0.6", 200)
    assert second.time - first.end >= 0.6 - 0.01  # measured on the server's side too
    assert client.requests_made == 2


def test_unusable_retry_after_falls_back_to_backoff(rep: Replica, client: CdnClient) -> None:
    capture = new_capture(rep)
    rep.faults.cdn(path_of(rep, capture), ["429:nan", "429:-5"])
    started = time.monotonic()
    got = client.download(capture)
    assert got.data == rep.image_bytes("in_gate", ts_of(capture), "full")
    assert time.monotonic() - started < 2
    assert injected(rep, capture) == ["429:nan", "429:-5"]
    assert client.requests_made == 3


ALWAYS = ["500", "503", "reset", "truncate", "html200", "429:0.05", "slow:1"]


@pytest.mark.parametrize("kind", ALWAYS)
def test_always_failing_gives_up_after_the_budget(
    rep: Replica, client: CdnClient, kind: str
) -> None:
    capture = new_capture(rep)
    rep.faults.cdn(path_of(rep, capture), [f"always:{kind}"])
    with pytest.raises(DownloadFailed) as info:
        client.download(capture)
    assert path_of(rep, capture).split("/")[-1] in str(info.value)
    assert "\n" not in str(info.value)
    assert client.requests_made == MAX_RETRIES + 1
    assert injected(rep, capture) == [kind] * (MAX_RETRIES + 1)
    assert records(rep, capture, THUMBNAIL) == []  # never falls back on a transient failure
    if kind == "truncate":
        assert "cut off" in str(info.value)
    if kind == "html200":
        assert "not an image" in str(info.value)


def test_retries_back_off_between_attempts(rep: Replica, client: CdnClient) -> None:
    capture = new_capture(rep)
    rep.faults.cdn(path_of(rep, capture), ["always:503"])
    with pytest.raises(DownloadFailed):
        client.download(capture)
    rows = [r for r in cdn_log(rep) if unquote(r.path) == path_of(rep, capture)]
    assert len(rows) == MAX_RETRIES + 1
    gaps = [b.time - a.end for a, b in itertools.pairwise(rows)]
    # base 0.02, doubling, jitter 0.5..1: at least 0.01, 0.02, 0.04 (less a little timer slack)
    for n, gap in enumerate(gaps):
        assert gap >= 0.02 * 2**n * 0.5 - 0.005, gaps


# ------------------------------------------------------------------------------ validation
def test_is_jpeg(rep: Replica) -> None:
    spec = rep.dataset.captures("in_gate", DAY)[0]
    for variant in ("full", "thumbnail"):
        data = rep.image_bytes("in_gate", spec.utc, variant)
        assert is_jpeg(data)
        assert is_jpeg(data + b"\0\0")  # zero padding after the end marker is harmless
        assert not is_jpeg(data[: len(data) // 2])
        assert not is_jpeg(data[:-1])
        assert not is_jpeg(data[1:])
    assert not is_jpeg(b"")
    assert not is_jpeg(b"\xff\xd8\xff")
    assert not is_jpeg(b"<!DOCTYPE html><html></html>")
    assert not is_jpeg(b"\x89PNG\r\n\x1a\n" + b"\0" * 20 + b"\xff\xd9")


class _Canned(ThreadingHTTPServer):
    """A tiny real HTTP server answering every GET with one fixed (type, body, length)."""

    daemon_threads = True
    answer: tuple[str, bytes, int | None]
    hits = 0


class _CannedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Canned

    def do_GET(self) -> None:
        ctype, body, length = self.server.answer
        self.server.hits += 1
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        if length is not None and length != len(body):
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[_Canned]:
    server = _Canned(("127.0.0.1", 0), _CannedHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _canned_client(server: _Canned) -> CdnClient:
    host, port = server.server_address[:2]
    return CdnClient(f"http://{host}:{port}/cdn", max_retries=2, retry_base=0.01, read_timeout=2)


def _real_jpeg() -> bytes:
    from tests.replica.images import jpeg_bytes

    return jpeg_bytes("apm", "in_gate", datetime(2025, 9, 5, 7, 3, 17, tzinfo=UTC), "full")


@pytest.mark.parametrize(
    ("ctype", "cut", "message"),
    [
        ("image/jpeg", "no-end-marker", "not a complete JPEG"),
        ("image/jpeg", "png", "not a complete JPEG"),
        ("image/jpeg", "empty", "not a complete JPEG"),
        ("image/jpeg", "short-body", "cut off"),  # Content-Length promises more than comes
        ("text/html; charset=utf-8", "whole", "not an image"),
        ("application/octet-stream", "whole", "not an image"),
    ],
)
def test_invalid_bodies_are_retried_then_refused(
    canned: _Canned, ctype: str, cut: str, message: str
) -> None:
    jpeg = _real_jpeg()
    body, length = {
        "no-end-marker": (jpeg[:-2], len(jpeg) - 2),
        "png": (b"\x89PNG\r\n\x1a\n" + jpeg[8:], len(jpeg)),
        "empty": (b"", 0),
        "short-body": (jpeg[:100], len(jpeg)),
        "whole": (jpeg, len(jpeg)),
    }[cut]
    canned.answer = (ctype, body, length)
    with _canned_client(canned) as client, pytest.raises(DownloadFailed, match=message):
        client.download(ZONES.capture("apm", "in_gate", "2025-09-05T07:03:17"))
    assert canned.hits == 3  # max_retries=2: three tries, and no thumbnail after a bad body


def test_valid_body_without_content_length_is_accepted(canned: _Canned) -> None:
    jpeg = _real_jpeg()
    canned.answer = ("image/jpeg", jpeg, None)  # read until the server closes
    with _canned_client(canned) as client:
        got = client.download(ZONES.capture("apm", "in_gate", "2025-09-05T07:03:17"))
    assert got.data == jpeg and canned.hits == 1


# ------------------------------------------------------------------------------ pooling
def test_sequential_downloads_reuse_one_connection(rep: Replica, client: CdnClient) -> None:
    specs = rep.dataset.captures("in_gate", DAY)[:20]
    thumb_only = new_capture(rep, "in_gate", has_full=False)
    captures = [capture_of(rep, "in_gate", s.utc) for s in specs]
    captures.insert(10, thumb_only)
    for capture in captures:
        got = client.download(capture)
        assert got.data == rep.image_bytes(
            "in_gate", ts_of(capture), "thumbnail" if capture is thumb_only else "full"
        )
    rows = cdn_log(rep)
    assert len(rows) == len(captures) + 1  # + the thumbnail-only capture's 404
    assert len({r.conn for r in rows}) == 1, [r.conn for r in rows]


def test_parallel_downloads_share_a_small_pool(rep: Replica, client: CdnClient) -> None:
    specs = rep.dataset.captures("out_gate", DAY)[:60]
    captures = [capture_of(rep, "out_gate", s.utc) for s in specs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(client.download, captures))
    for capture, got in zip(captures, results, strict=True):
        assert got.capture == capture
        assert got.data == rep.image_bytes("out_gate", ts_of(capture), "full")
    rows = cdn_log(rep)
    assert len(rows) == 60 and client.requests_made == 60
    conns = {r.conn for r in rows}
    assert 1 <= len(conns) <= 4, sorted(conns)
    assert rep.max_cdn_in_flight <= 4


def test_error_answers_keep_the_connection(rep: Replica, client: CdnClient) -> None:
    capture = new_capture(rep)
    rep.faults.cdn(path_of(rep, capture), ["500", "503", "429:0.01"])
    assert client.download(capture).data == rep.image_bytes("in_gate", ts_of(capture), "full")
    rows = cdn_log(rep)
    assert [r.status for r in rows] == [500, 503, 429, 200]
    assert len({r.conn for r in rows}) == 1  # the small error bodies were read, not dropped


def test_a_reset_connection_is_replaced_not_reused(rep: Replica, client: CdnClient) -> None:
    a, b = new_capture(rep), new_capture(rep)
    rep.faults.cdn(path_of(rep, b), ["reset"])
    assert client.download(a).variant == FULL
    assert client.download(b).data == rep.image_bytes("in_gate", ts_of(b), "full")
    rows = cdn_log(rep)
    assert [r.status for r in rows] == [200, 0, 200]
    assert rows[0].conn == rows[1].conn != rows[2].conn  # the pooled one died with the reset


# ------------------------------------------------------------------------------ Retry-After
def test_parse_retry_after_seconds() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("-3") == 0.0  # never negative
    assert parse_retry_after("86400") == 300.0  # capped
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None  # no usable delay in it


def test_parse_retry_after_http_dates() -> None:
    now = datetime.now(UTC)
    soon = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert soon.endswith(" GMT")
    value = parse_retry_after(soon)
    assert value is not None and 28.0 <= value <= 30.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True)) == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(days=2), usegmt=True)) == 300.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("Wed, 99 Foo 2015 07:28:00 GMT") is None
