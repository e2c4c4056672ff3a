"""The CDN client's bounds against real misbehaving HTTP servers on loopback: a redirect to
another host is refused (and nothing is asked of that host), a body that trickles in is cut
off at the download deadline, and an endless or oversized body is refused at the size cap
with the memory it took bounded. Through the collect job too: nothing is stored."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dogcli.archive.session import Archive
from dogcli.catalog.captures import Catalog
from dogcli.catalog.models import CaptureRow
from dogcli.config import Settings, load_settings
from dogcli.jobs.collect import collect
from dogcli.jobs.plan import Plan
from dogcli.jobs.summary import Summary
from dogcli.model.captures import FULL, Capture
from dogcli.sources.base import DownloadFailed, Found
from dogcli.sources.cdn import MAX_IMAGE_BYTES, MAX_REDIRECTS, CdnClient
from tests.replica.images import jpeg_bytes

DAY = date(2025, 9, 5)
STAMPS = ["2025-09-05T19:00:07", "2025-09-05T19:10:07"]  # evening in Los Angeles: DAY there
CHUNK = b"\xff" * 65536


def _jpeg() -> bytes:
    return jpeg_bytes("apm", "in_gate", datetime(2025, 9, 5, 19, 0, 7, tzinfo=UTC), "full")


JPEG = _jpeg()


class Server(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 whose every GET gets `behave(handler)`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.behave: Callable[[Handler], None] = serve_jpeg
        self.paths: list[str] = []
        self.stop = threading.Event()
        self.sent = 0  # body bytes written, by every answer together

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str = "/cdn") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        try:
            self.server.behave(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up: so should this answer

    def head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def body(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()
        self.server.sent += len(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_jpeg(h: Handler) -> None:
    h.head(200, {"Content-Type": "image/jpeg", "Content-Length": str(len(JPEG))})
    h.body(JPEG)


def redirect_to(location: str) -> Callable[[Handler], None]:
    def behave(h: Handler) -> None:
        text = b"moved"
        h.head(302, {"Location": location, "Content-Length": str(len(text))})
        h.body(text)

    return behave


def trickle(interval: float) -> Callable[[Handler], None]:
    """A whole JPEG promised, one byte every `interval` seconds: each read is quick enough
    for the read timeout, the whole would take hours."""

    def behave(h: Handler) -> None:
        h.head(200, {"Content-Type": "image/jpeg", "Content-Length": str(len(JPEG))})
        for n in range(len(JPEG)):
            if h.server.stop.wait(interval):
                return
            h.body(JPEG[n : n + 1])

    return behave


def endless(length: str | None) -> Callable[[Handler], None]:
    """A JPEG start followed by bytes that never end: read until the server closes (None),
    in chunks of a chunked encoding ("chunked"), or behind a Content-Length."""

    def behave(h: Handler) -> None:
        headers = {"Content-Type": "image/jpeg"}
        if length is None:
            headers["Connection"] = "close"
            h.close_connection = True
        elif length == "chunked":
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = length
        h.head(200, headers)

        def frame(data: bytes) -> bytes:
            return b"%x\r\n%s\r\n" % (len(data), data) if length == "chunked" else data

        h.body(frame(JPEG[:2]))
        framed = frame(CHUNK)
        while not h.server.stop.is_set():
            h.body(framed)

    return behave


def gzip_bomb(h: Handler) -> None:
    """64 MiB of image bytes once inflated, about 64 KiB on the wire."""
    data = GZIP_BOMB
    h.head(200, {"Content-Type": "image/jpeg", "Content-Encoding": "gzip",
                 "Content-Length": str(len(data))})  # fmt: skip
    h.body(data)


GZIP_BOMB = gzip.compress(JPEG[:2] + b"\0" * (64 * 1024 * 1024), compresslevel=9)


def _serve() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def cdn() -> Iterator[Server]:
    yield from _serve()


@pytest.fixture
def other() -> Iterator[Server]:
    """Another host as far as URLs go: the same loopback address on another port."""
    yield from _serve()


def capture(stamp: str = STAMPS[0]) -> Capture:
    return load_settings({}, env={}).zones.capture("apm", "in_gate", stamp)


def client(server: Server, **kw: Any) -> CdnClient:
    kw = {"max_retries": 3, "retry_base": 0.01, "read_timeout": 2.0, **kw}
    return CdnClient(server.url(), **kw)


def timed(call: Callable[[], object]) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(DownloadFailed) as info:
        call()
    return info.value, time.monotonic() - started


# ------------------------------------------------------------------------------ redirects
@pytest.mark.parametrize("to", ["other port", "localhost", "https"])
def test_a_redirect_to_another_host_is_refused(cdn: Server, other: Server, to: str) -> None:
    path = capture().url("", FULL)
    location, named = {
        "other port": (other.url("/cdn" + path), f"http://127.0.0.1:{other.port}"),
        "localhost": (f"http://localhost:{cdn.port}/cdn{path}", f"http://localhost:{cdn.port}"),
        "https": (f"https://127.0.0.1:{cdn.port}/cdn{path}", f"https://127.0.0.1:{cdn.port}"),
    }[to]
    cdn.behave = redirect_to(location)
    with client(cdn) as c:
        exc, _elapsed = timed(lambda: c.download(capture()))
    message = str(exc)
    assert "redirect to another host refused" in message and named in message, message
    assert "\n" not in message
    assert cdn.paths == ["/cdn" + path]  # refused at once: no retry, no thumbnail
    assert other.paths == []  # and nothing was asked of the other host


def test_a_redirect_with_credentials_names_the_host_only(cdn: Server, other: Server) -> None:
    cdn.behave = redirect_to(f"http://user:secret@127.0.0.1:{other.port}/x.jpeg?key=k3y")
    with client(cdn) as c:
        exc, _elapsed = timed(lambda: c.download(capture()))
    assert f"127.0.0.1:{other.port}" in str(exc)
    assert "secret" not in str(exc) and "k3y" not in str(exc)


def test_a_redirect_on_the_same_host_is_followed(cdn: Server) -> None:
    def behave(h: Handler) -> None:
        if h.path.startswith("/cdn/"):
            redirect_to("/moved" + h.path)(h)  # relative, as servers usually send it
        else:
            serve_jpeg(h)

    cdn.behave = behave
    with client(cdn) as c:
        got = c.download(capture())
    assert got.data == JPEG and got.variant == FULL
    assert got.url == capture().url(cdn.url(), FULL)  # the capture's own URL is what's kept
    path = capture().url("/cdn", FULL)
    assert cdn.paths == [path, "/moved" + path]


def test_a_redirect_loop_gives_up(cdn: Server) -> None:
    cdn.behave = redirect_to("/cdn/again.jpeg")
    with client(cdn, max_retries=1) as c:
        exc, _elapsed = timed(lambda: c.download(capture()))
    assert "redirects" in str(exc)
    assert len(cdn.paths) == 2 * (MAX_REDIRECTS + 1)


# ------------------------------------------------------------------------------ deadline
def test_the_deadline_is_derived_from_the_read_timeout() -> None:
    assert CdnClient("http://127.0.0.1:9/cdn").deadline == 90.0  # 3 x the default 30 s
    assert CdnClient("http://127.0.0.1:9/cdn", read_timeout=0.4).deadline == 60.0  # at least
    assert CdnClient("http://127.0.0.1:9/cdn", read_timeout=100).deadline == 300.0
    settings = load_settings({"read_timeout": 50}, env={})
    assert CdnClient.for_settings(settings).deadline == 150.0


def test_a_trickling_body_is_cut_off_at_the_deadline_and_retried(cdn: Server) -> None:
    cdn.behave = trickle(0.25)  # every read well inside the 1 s read timeout
    with client(cdn, max_retries=1, read_timeout=1.0, deadline=1.5) as c:
        exc, elapsed = timed(lambda: c.download(capture()))
    assert "no whole image within 1.5 s" in str(exc) and "\n" not in str(exc)
    assert len(cdn.paths) == 2  # retried like a timeout, then given up
    assert 2 * 1.5 <= elapsed < 3 * (2 * 1.5), elapsed  # two deadlines, not hours
    assert cdn.sent < len(JPEG)  # it never came whole


# ------------------------------------------------------------------------------ size cap
@pytest.mark.parametrize("length", [None, "chunked"], ids=["until-close", "chunked"])
def test_an_endless_body_is_refused_at_the_cap_with_bounded_memory(
    cdn: Server, length: str | None
) -> None:
    cdn.behave = endless(length)
    with client(cdn) as c:
        tracemalloc.start()
        try:
            exc, elapsed = timed(lambda: c.download(capture()))
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "image too large" in str(exc)
    assert len(cdn.paths) == 1  # refused, not retried: another try would be as large
    assert peak < 1.5 * MAX_IMAGE_BYTES, peak  # the cap, and not the body twice
    assert elapsed < 30, elapsed


def test_a_content_length_over_the_cap_is_refused_before_reading(cdn: Server) -> None:
    cdn.behave = endless(str(2 * 1024**3))
    with client(cdn) as c:
        exc, _elapsed = timed(lambda: c.download(capture()))
    assert f"image too large ({2 * 1024**3} bytes" in str(exc)
    assert len(cdn.paths) == 1


def test_a_small_cap_from_the_constructor(cdn: Server) -> None:
    cdn.behave = endless(None)
    with CdnClient(cdn.url(), max_image_bytes=len(JPEG) - 1) as c:
        exc, _elapsed = timed(lambda: c.download(capture()))
    assert f"more than {len(JPEG) - 1} bytes" in str(exc)
    cdn.behave = serve_jpeg
    with CdnClient(cdn.url(), max_image_bytes=len(JPEG)) as c:
        assert c.download(capture()).data == JPEG  # exactly the cap is still an image


def test_a_gzip_bomb_is_refused_at_the_cap(cdn: Server) -> None:
    cdn.behave = gzip_bomb
    with client(cdn) as c:
        tracemalloc.start()
        try:
            exc, _elapsed = timed(lambda: c.download(capture()))
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "image too large" in str(exc)
    assert peak < 1.5 * MAX_IMAGE_BYTES, peak


# ------------------------------------------------------------------------------ collect job
class Listed:
    """A page that lists two captures, for the collect job without a browser."""

    def __init__(self, settings: Settings) -> None:
        self.zones = settings.zones

    def discover(self, stream: str, day: date) -> list[Found]:
        return [Found(self.zones.capture("apm", stream, s), "thumbnail") for s in STAMPS]


def collect_from(server: Server, data: Path, **kw: Any) -> tuple[Summary, float]:
    settings = load_settings({"data_dir": str(data), "cdn_url": server.url()}, env={})
    started = time.monotonic()
    with Archive.open(settings) as session, client(server, **kw) as downloader:
        plan = Plan([("in_gate", DAY)])
        page = Listed(settings)
        summary = collect(
            session,
            settings.scope(),
            lambda _c, _t, _s: plan,
            discoverer=lambda _t: page,
            downloader=downloader,
        )
    elapsed = time.monotonic() - started
    stored = [p for p in settings.images_dir.rglob("*") if p.is_file()]
    with Catalog(settings.effective_database_url) as cat, cat.engine.connect() as conn:
        rows = conn.execute(select(CaptureRow.url_ts)).all()
    assert stored == [] and rows == []  # nothing stored, nothing cataloged
    return summary, elapsed


def test_collect_stores_nothing_from_another_host(
    cdn: Server, other: Server, tmp_path: Path
) -> None:
    cdn.behave = lambda h: redirect_to(other.url(h.path))(h)
    summary, _elapsed = collect_from(cdn, tmp_path / "data")
    assert summary.failed == len(STAMPS)
    assert all(
        f"another host refused (http://127.0.0.1:{other.port})" in f for f in summary.failures
    )
    assert other.paths == []


def test_collect_is_not_held_by_a_trickling_cdn(cdn: Server, tmp_path: Path) -> None:
    cdn.behave = trickle(0.25)
    summary, elapsed = collect_from(cdn, tmp_path / "data", max_retries=1, read_timeout=1.0,
                                    deadline=1.5, concurrency=2)  # fmt: skip
    assert summary.failed == len(STAMPS)
    assert elapsed < 3 * (2 * 1.5 + 2), elapsed  # in parallel: two deadlines and the setup
