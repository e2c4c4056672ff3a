"""The replica HTTP server: camera page, JSON API and CDN on one loopback port."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import html
import io
import json
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from .dataset import CaptureSpec, Clock, Dataset, as_utc
from .faults import Fault, Faults
from .images import jpeg_bytes

STATIC_DIR = Path(__file__).with_name("static")
NODE_MODULES = Path(__file__).with_name("node_modules")
# /vendor/{name} -> the pinned npm global builds (no build step)
VENDOR_FILES = {
    "vue.global.prod.js": ("vue/dist/vue.global.prod.js", "application/javascript"),
    "element-plus.full.min.js": ("element-plus/dist/index.full.min.js", "application/javascript"),
    "element-plus.css": ("element-plus/dist/index.css", "text/css; charset=utf-8"),
}
TERMINAL_NAMES = {"apm": "APM Terminals"}
TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
CDN_RE = re.compile(
    r"/cdn/(?P<terminal>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})/(?P<hour>\d{1,2})/"
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})-(?P<rest>[^/]+)\.jpeg"
)
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
    b"<h1>We'll be right back</h1><p>The service is temporarily unavailable. "
    b"Please try again later.</p></body></html>"
)


def stream_label(stream: str) -> str:
    """``in_gate`` -> ``In Gate``."""
    return " ".join(w.capitalize() for w in stream.split("_"))


@dataclass(frozen=True)
class RequestRecord:
    """One request served. ``time``/``end`` are ``time.monotonic()`` when the request line
    was read and when the answer was finished; ``conn`` numbers the TCP connection (several
    records share it when the client kept the connection alive); ``fault`` names an injected
    fault ("" when none); ``status`` is 0 when the connection was reset without an answer."""

    method: str
    path: str
    status: int
    time: float
    end: float = 0.0
    fault: str = ""
    conn: int = 0
    agent: str = ""  # the User-Agent header: tells dogcli's downloads from the browser's


class RequestLog:
    """A thread-safe, list-like record of requests (iterating gives a snapshot)."""

    def __init__(self) -> None:
        self._items: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> RequestRecord:
        with self._lock:
            return self._items[index]

    def __repr__(self) -> str:
        return f"RequestLog({len(self)} requests)"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    replica: Replica

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # a client that went away (a killed browser, a reset): nothing to report
        super().handle_error(request, client_address)


class _Reset(Exception):
    """Raised inside the handler to reset the connection."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server
    _conn_id = 0
    _started = 0.0
    _fault_name = ""

    # -- connection bookkeeping -----------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.replica.keepalive_timeout)  # keep-alive idle limit
        self._conn_id = self.server.replica._register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.replica._unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return self.server_version

    @property
    def rep(self) -> Replica:
        # The view of the request's terminal (Replica.view), set by _dispatch_inner.
        return self._view or self.server.replica

    _view: Replica | None = None

    # -- dispatch -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_POST(self) -> None:
        self._started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": "GET, HEAD"})

    def _dispatch(self, head: bool) -> None:
        self._started = time.monotonic()
        self._fault_name = ""
        self._view = None
        token = self.rep._begin(self.command, self.path)
        try:
            self._dispatch_inner(head)
        finally:
            self.rep._end(token)

    def _dispatch_inner(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        terminal = re.match(r"/(?:cdn|terminal_cameras|api/terminal_cameras)/([^/]+)", path)
        if terminal:
            self._view = self.server.replica.view(terminal.group(1))
        try:
            if path.startswith("/cdn/"):
                self._cdn(path, head)
            elif m := re.fullmatch(r"/terminal_cameras/([^/]+)/?", path):
                self._page(m.group(1), query, head)
            elif m := re.fullmatch(r"/api/terminal_cameras/([^/]+)/(history|latest)", path):
                self._api(m.group(1), m.group(2), query, head)
            elif path.startswith("/vendor/"):
                self._vendor(path[len("/vendor/") :], head)
            elif path.startswith("/assets/"):
                self._asset(path[len("/assets/") :], head)
            elif path == "/":
                self._index(head)
            elif self.rep.catch_all:
                self._junk_jpeg(head)
            else:
                self._not_found(head)
        except _Reset:
            self._reset()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- responses ------------------------------------------------------------------------
    def _record(self, status: int) -> None:
        self.rep.requests.append(
            RequestRecord(
                self.command,
                self.path,
                status,
                self._started,
                time.monotonic(),
                self._fault_name,
                self._conn_id,
                self.headers.get("User-Agent", "") if self.headers else "",
            )
        )

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        head: bool = False,
        send_bytes: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body if send_bytes is None else body[:send_bytes])
        self.wfile.flush()
        self._record(status)

    def _not_found(self, head: bool, body: bytes = b"404 Not Found\n") -> None:
        self._send(404, body, "text/plain; charset=utf-8", head=head)

    def _json(self, status: int, payload: Any, head: bool) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, "application/json", {"Cache-Control": "no-store"}, head)

    def _reset(self) -> None:
        """Abort the connection with an RST, sending nothing."""
        self.close_connection = True
        self._record(0)
        conn = self.connection
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # drop the file's reference so close() really closes
            conn.close()
        except OSError:
            pass
        self.wfile = io.BytesIO()  # the handler's final flush goes nowhere

    # -- CDN ------------------------------------------------------------------------------
    def _cdn(self, path: str, head: bool) -> None:
        rep = self.server.replica  # the counters are the server's, whatever the terminal
        if rep.cdn_latency > 0:
            rep._stop.wait(rep.cdn_latency)
        with rep._stats_lock:
            rep._cdn_in_flight += 1
            rep.max_cdn_in_flight = max(rep.max_cdn_in_flight, rep._cdn_in_flight)
        try:
            self._cdn_inner(path, head)
        finally:
            with rep._stats_lock:
                rep._cdn_in_flight -= 1

    def _cdn_inner(self, path: str, head: bool) -> None:
        rep = self.rep
        found = rep._parse_cdn_path(path)
        stream, spec, variant = found if found else (None, None, None)
        fault = rep.faults.next_cdn(path, stream, spec.utc if spec else None, variant)
        if fault is not None and fault.kind != "ok":
            self._fault_name = fault.name
            if self._cdn_fault(fault, head):
                return
        if found is None:
            if rep.catch_all:
                self._junk_jpeg(head)
            else:
                self._not_found(head)
            return
        assert stream is not None and spec is not None and variant is not None
        if not rep.served(spec, variant):
            # not yet published, thumbnail-only, or its full size is not there yet
            self._not_found(head)
            return
        body = rep.image_bytes(stream, spec.utc, variant)
        headers = {
            "Cache-Control": "public, max-age=31536000",
            "ETag": f'"{hashlib.md5(body).hexdigest()}"',
            "Accept-Ranges": "bytes",
        }
        if fault is not None and fault.kind == "truncate":
            self.close_connection = True
            self._send(200, body, "image/jpeg", headers, head, send_bytes=len(body) // 2)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(200, body, "image/jpeg", headers, head)

    def _junk_jpeg(self, head: bool) -> None:
        """``catch_all``: any unknown path answers with one small valid JPEG, so that a
        hostile page's odd image URLs load in the browser and stay in its DOM."""
        body = jpeg_bytes("junk", "junk", datetime(2000, 1, 1), "thumbnail")
        self._send(200, body, "image/jpeg", head=head)

    def _cdn_fault(self, fault: Fault, head: bool) -> bool:
        """Serve ``fault``; True when the answer is complete, False to go on with "ok"."""
        rep = self.rep
        kind = fault.kind
        if kind == "reset":
            raise _Reset
        if kind == "slow":
            rep._stop.wait(fault.arg if fault.arg is not None else rep.faults.slow_seconds)
            return False
        if kind == "truncate":
            return False  # handled when the body is sent
        if kind == "html200":
            self._send(200, HTML_ERROR_PAGE, "text/html; charset=utf-8", head=head)
            return True
        if kind == "429":
            after = fault.arg if fault.arg is not None else rep.faults.retry_after
            self._send(
                429,
                b"429 Too Many Requests\n",
                "text/plain",
                {"Retry-After": f"{after:g}"},
                head,
            )
            return True
        status = int(kind)
        reason = self.responses.get(status, ("Error",))[0]
        self._send(status, f"{status} {reason}\n".encode(), "text/plain", head=head)
        return True

    # -- page and API ---------------------------------------------------------------------
    def _stream_ok(self, terminal: str, stream: str | None) -> bool:
        ds = self.rep.dataset
        return terminal == ds.terminal and stream in ds.streams

    # -- page and API ---------------------------------------------------------------------
    def _stream_ok(self, terminal: str, stream: str | None) -> bool:
        ds = self.rep.dataset
        return terminal == ds.terminal and stream in ds.streams

    def _page(self, terminal: str, query: dict[str, str], head: bool) -> None:
        ds = self.rep.dataset
        stream = query.get("streamName") or (ds.streams[0] if ds.streams else None)
        if not self._stream_ok(terminal, stream):
            self._not_found(head, b"<!DOCTYPE html><title>404</title><h1>404 Not Found</h1>")
            return
        assert stream is not None
        fault = self.rep.faults.next_page()
        if fault is not None and fault.kind != "ok":
            self._fault_name = fault.name
            if fault.kind == "hang":  # the document never finishes loading
                self.rep._stop.wait(self.rep.faults.hang_seconds)
                self.close_connection = True
                self._record(0)
                return
            if fault.kind == "slow":
                self.rep._stop.wait(fault.arg if fault.arg is not None else 5.0)
            elif fault.kind == "fail":
                self._send(500, b"500 Internal Server Error\n", "text/plain", head=head)
                return
        body = self.rep.page_html(stream).encode()
        self._send(200, body, "text/html; charset=utf-8", {"Cache-Control": "no-cache"}, head)

    def _index(self, head: bool) -> None:
        ds = self.rep.dataset
        links = "".join(
            f'<li><a href="/terminal_cameras/{ds.terminal}?streamName={s}#camera-history">'
            f"{html.escape(stream_label(s))}</a></li>"
            for s in ds.streams
        )
        body = f"<!DOCTYPE html><title>DrayDog</title><ul>{links}</ul>".encode()
        self._send(200, body, "text/html; charset=utf-8", head=head)

    def _asset(self, name: str, head: bool) -> None:
        content = self.rep._asset(name)
        if content is None:
            self._not_found(head)
            return
        body, ctype = content
        self._send(200, body, ctype, {"Cache-Control": "no-cache"}, head)

    def _vendor(self, name: str, head: bool) -> None:
        content = vendor_file(name)
        if content is None:
            self._not_found(head)
            return
        body, ctype = content
        # pinned by the lock file: let the browser cache them across page loads
        self._send(200, body, ctype, {"Cache-Control": "public, max-age=86400"}, head)

    def _api(self, terminal: str, kind: str, query: dict[str, str], head: bool) -> None:
        rep = self.rep
        ds = rep.dataset
        stream = query.get("stream")
        if not self._stream_ok(terminal, stream):
            self._json(404, {"error": "not found"}, head)
            return
        assert stream is not None
        camera = stream not in rep.no_camera
        base: dict[str, Any] = {"terminal": terminal, "stream": stream, "camera": camera}
        if kind == "latest":
            if rep.api_delay > 0:
                rep._stop.wait(rep.api_delay)
            try:
                limit = max(1, min(50, int(query.get("limit", rep.live_count))))
            except ValueError:
                limit = rep.live_count
            now = rep.now_utc()
            specs = ds.latest(stream, limit, until=now) if camera else []
            images = [
                rep._image_json(stream, s, "full" if s.is_full(now) else "thumbnail") for s in specs
            ]
            self._json(200, {**base, "images": images}, head)
            return
        day: date | None = None
        try:
            if "date" in query:
                day = date.fromisoformat(query["date"])
                start, end = ds.day_range(day)
                base["date"] = day.isoformat()
            else:
                start = datetime.fromisoformat(query["start"])
                end = datetime.fromisoformat(query["end"])
                if start.tzinfo is None or end.tzinfo is None or end <= start:
                    raise ValueError("start/end must be ordered instants with a zone")
                start, end = as_utc(start), as_utc(end)
                base["start"], base["end"] = iso_z(start), iso_z(end)
        except (KeyError, ValueError):
            self._json(400, {"error": "give date=YYYY-MM-DD or start= and end= instants"}, head)
            return
        fault = rep.faults.next_api()
        if fault is not None:
            self._fault_name = fault.name if fault.kind != "ok" else ""
            if fault.kind == "hang":
                rep._stop.wait(rep.faults.hang_seconds)
                self.close_connection = True
                self._record(0)
                return
            if fault.kind == "slow":
                rep._stop.wait(fault.arg if fault.arg is not None else rep.faults.slow_seconds)
        if rep.api_delay > 0:
            rep._stop.wait(rep.api_delay)
        if fault is not None and fault.kind == "fail":
            self._json(500, {"error": "Internal Server Error"}, head)
            return
        now = rep.now_utc()
        specs = [s for s in ds.between(stream, start, end) if s.is_published(now)] if camera else []
        images = [rep._image_json(stream, s, "thumbnail") for s in specs]
        if day is None:  # history_extra is keyed by the site-local day
            day = ds.local_day(start + (end - start) / 2)
        extra = rep.history_extra.get((stream, day), [])
        images += [{"time": iso_z(start), "url": url} for url in extra]
        self._json(200, {**base, "images": images}, head)


def iso_z(utc: datetime) -> str:
    """``2025-09-06T07:03:17Z``: an instant as the API writes it."""
    return as_utc(utc).strftime(TS_FORMAT) + "Z"


class VendorMissing(RuntimeError):
    """The pinned npm packages the page loads are not installed."""


_vendor_cache: dict[str, tuple[bytes, str]] = {}
_vendor_lock = threading.Lock()


def check_vendor() -> None:
    missing = [str(NODE_MODULES / rel) for rel, _ in VENDOR_FILES.values()]
    missing = [p for p in missing if not Path(p).is_file()]
    if missing:
        raise VendorMissing(
            "the replica page needs Vue and Element Plus from npm; run "
            f"`npm ci --prefix tests/replica` (or `make replica-deps`). Missing: {missing[0]}"
        )


def vendor_file(name: str) -> tuple[bytes, str] | None:
    """The bytes of one pinned npm build (read once per process)."""
    if name not in VENDOR_FILES:
        return None
    with _vendor_lock:
        if name not in _vendor_cache:
            rel, ctype = VENDOR_FILES[name]
            try:
                _vendor_cache[name] = ((NODE_MODULES / rel).read_bytes(), ctype)
            except FileNotFoundError:
                return None
        return _vendor_cache[name]


GALLERY_MODES = ("window-lazy", "container-lazy", "eager")
PAGE_ZONES = ("site", "browser")


class Replica:
    """A local stand-in for the DrayDog camera page (Vue 3 + Element Plus) and its CDN.

    Time: captures are instants. ``timezone`` (default: the dataset's) is the site's zone,
    whose local days the page shows. ``url_timezone`` is the zone of the stamps in CDN URLs
    ("UTC" like the real site; the site's zone reproduces the older, wrong assumption).
    ``now`` is the site clock: an aware datetime, a naive site-local one, or a callable
    returning either; it decides "today", the disabled days, which captures are published
    and which full sizes are served. ``page_zone="browser"`` makes the page compute a day's
    range in the browser's own zone.

    Page variants (SITE.md leaves them open): ``gallery`` ("window-lazy", "container-lazy",
    "eager"), ``page_size`` (None: one page; N: ``el-pagination``), ``loading_mask``,
    ``heading``, ``no_camera`` (streams whose page says "No camera found").
    """

    def __init__(
        self,
        dataset: Dataset,
        api_delay: float = 0.3,
        cdn_latency: float = 0.0,
        timezone: str | None = None,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        url_timezone: str = "UTC",
        now: Clock | None = None,
        live_count: int = 4,
        keepalive_timeout: float = 30.0,
        gallery: str = "window-lazy",
        page_size: int | None = None,
        loading_mask: bool = True,
        heading: str = "History",
        no_camera: Iterable[str] = (),
        page_zone: str = "site",
        extra_datasets: dict[str, Dataset] | None = None,
    ) -> None:
        if gallery not in GALLERY_MODES:
            raise ValueError(f"gallery must be one of {GALLERY_MODES}, not {gallery!r}")
        if page_zone not in PAGE_ZONES:
            raise ValueError(f"page_zone must be one of {PAGE_ZONES}, not {page_zone!r}")
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be None or >= 1")
        self.dataset = dataset
        self.api_delay = api_delay
        self.cdn_latency = cdn_latency
        self.timezone = timezone or dataset.timezone
        self.tz = ZoneInfo(self.timezone)
        self.url_timezone = url_timezone
        self.url_tz = ZoneInfo(url_timezone)
        self.host = host
        self.port = port
        self.live_count = live_count
        self.keepalive_timeout = keepalive_timeout
        self.gallery = gallery
        self.page_size = page_size
        self.loading_mask = loading_mask
        self.heading = heading
        self.no_camera: frozenset[str] = frozenset(no_camera)
        self.page_zone = page_zone
        # A hostile or broken page: image URLs appended to the History answer of a
        # (stream, site-local day), as given (any host, path or timestamp).
        self.history_extra: dict[tuple[str, date], list[str]] = {}
        self.catch_all = False  # unknown paths answer with a small JPEG instead of a 404
        self.now = now
        self.faults = Faults()
        self.requests = RequestLog()
        self.max_cdn_in_flight = 0
        self._cdn_in_flight = 0
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: dict[socket.socket, int] = {}
        self._in_flight: dict[object, tuple[str, str]] = {}
        self._conn_seq = 0
        self._conn_lock = threading.Lock()
        self._assets: dict[str, tuple[bytes, str]] = {}
        # More terminals on the same server, by name: their pages, API and CDN paths answer
        # from their own dataset (see view()); everything else is shared.
        self.extra_datasets = dict(extra_datasets or {})

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Replica:
        if self._server is not None:
            return self
        check_vendor()
        self._stop.clear()
        server = _Server((self.host, self.port), Handler)
        server.replica = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.name = f"replica-{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stop.set()
        server.shutdown()
        server.server_close()
        with self._conn_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Replica:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _register(self, conn: socket.socket) -> int:
        with self._conn_lock:
            self._conn_seq += 1
            self._conns[conn] = self._conn_seq
            return self._conn_seq

    def _unregister(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._conns.pop(conn, None)

    def _begin(self, method: str, path: str) -> object:
        token = object()
        with self._conn_lock:
            self._in_flight[token] = (method, path)
        return token

    def _end(self, token: object) -> None:
        with self._conn_lock:
            self._in_flight.pop(token, None)

    def in_flight(self, path_substring: str | None = None) -> list[tuple[str, str]]:
        """(method, path) of the requests being handled right now (e.g. a hung API call)."""
        with self._conn_lock:
            items = list(self._in_flight.values())
        return [i for i in items if path_substring is None or path_substring in i[1]]

    @property
    def open_connections(self) -> int:
        with self._conn_lock:
            return len(self._conns)

    # -- clock ----------------------------------------------------------------------------
    def now_utc(self) -> datetime:
        """The site clock as an aware UTC datetime, to the second."""
        value = self.now() if callable(self.now) else self.now
        if value is None:
            return datetime.now(UTC).replace(microsecond=0)
        return as_utc(value, self.timezone)

    def site_now(self) -> datetime:
        """The site clock as an aware datetime in the site's zone."""
        return self.now_utc().astimezone(self.tz)

    def today(self) -> date:
        """The site-local day of the clock: the page's default and last selectable day."""
        return self.site_now().date()

    def view(self, terminal: str) -> Replica:
        """This replica as it serves `terminal`: itself, or for one of `extra_datasets` a
        shallow copy over that dataset (sharing the request log, faults and clock)."""
        extra = self.extra_datasets.get(terminal)
        if extra is None or terminal == self.dataset.terminal:
            return self
        view = copy.copy(self)
        view.dataset = extra
        return view

    # -- URLs -----------------------------------------------------------------------------
    @property
    def site_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def cdn_url(self) -> str:
        return f"{self.site_url}/cdn"

    def page_url(self, stream: str | None = None) -> str:
        stream = stream or self.dataset.streams[0]
        terminal = self.dataset.terminal
        return f"{self.site_url}/terminal_cameras/{terminal}?streamName={stream}#camera-history"

    def stamp(self, utc: datetime) -> str:
        """An instant as written in CDN URLs: ``YYYY-MM-DDTHH:MM:SS`` in ``url_timezone``."""
        return as_utc(utc).astimezone(self.url_tz).strftime(TS_FORMAT)

    def cdn_path(self, stream: str, utc: datetime, variant: str = "full") -> str:
        """The path after ``cdn_url``: ``/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg``
        (date folder, unpadded hour and stamp all in ``url_timezone``)."""
        u = as_utc(utc).astimezone(self.url_tz)
        suffix = "-thumbnail" if variant == "thumbnail" else ""
        return (
            f"/{self.dataset.terminal}/{u:%Y-%m-%d}/{u.hour}/"
            f"{u.strftime(TS_FORMAT)}-{stream}{suffix}.jpeg"
        )

    def url(self, stream: str, utc: datetime, variant: str = "full") -> str:
        if variant not in ("full", "thumbnail"):
            raise ValueError(f"unknown variant {variant!r}")
        return self.cdn_url + self.cdn_path(stream, utc, variant)

    def full_url(self, stream: str, utc: datetime) -> str:
        return self.url(stream, utc, "full")

    def thumb_url(self, stream: str, utc: datetime) -> str:
        return self.url(stream, utc, "thumbnail")

    def _image_json(self, stream: str, spec: CaptureSpec, variant: str) -> dict[str, str]:
        return {"time": iso_z(spec.utc), "url": self.url(stream, spec.utc, variant)}

    def _parse_cdn_path(self, path: str) -> tuple[str, CaptureSpec, str] | None:
        """A decoded ``/cdn/...`` path -> (stream, capture, variant) when the capture exists
        (whether it is served now is ``served()``'s business)."""
        m = CDN_RE.fullmatch(path)
        if m is None or m["terminal"] != self.dataset.terminal:
            return None
        try:
            u = datetime.strptime(m["ts"], TS_FORMAT)
        except ValueError:
            return None
        if m["day"] != f"{u:%Y-%m-%d}" or m["hour"] != str(u.hour):
            return None
        rest = m["rest"]
        variant = "full"
        if rest.endswith("-thumbnail"):
            rest, variant = rest[: -len("-thumbnail")], "thumbnail"
        if rest not in self.dataset.streams:
            return None
        # a local url_timezone repeats a wall hour in autumn: try both readings
        for fold in (0, 1):
            instant = u.replace(tzinfo=self.url_tz, fold=fold).astimezone(UTC)
            if instant.astimezone(self.url_tz).replace(tzinfo=None) != u:
                continue  # a wall time skipped in spring
            spec = self.dataset.find(rest, instant)
            if spec is not None:
                return rest, spec, variant
        return None

    def served(self, spec: CaptureSpec, variant: str) -> bool:
        """Whether the CDN serves ``variant`` of ``spec`` now (the thumbnail once published,
        the full size once it exists)."""
        now = self.now_utc()
        return spec.is_full(now) if variant == "full" else spec.is_published(now)

    # -- content --------------------------------------------------------------------------
    def image_bytes(self, stream: str, utc: datetime, variant: str = "full") -> bytes:
        """The exact bytes the CDN serves for a capture's ``variant``."""
        return jpeg_bytes(self.dataset.terminal, stream, as_utc(utc), variant)

    def published(self, stream: str, day: date) -> list[CaptureSpec]:
        """The captures of a site-local day that the page lists now."""
        now = self.now_utc()
        return [s for s in self.dataset.captures(stream, day) if s.is_published(now)]

    def expected(self, stream: str, day: date) -> list[tuple[str, str, bytes]]:
        """What a perfect client keeps for a site-local day right now: (URL stamp, variant,
        bytes) of each published capture, sorted by instant; the variant is "full" when the
        CDN serves the full size now, else "thumbnail"."""
        now = self.now_utc()
        out = []
        for spec in self.published(stream, day):
            variant = "full" if spec.is_full(now) else "thumbnail"
            out.append((self.stamp(spec.utc), variant, self.image_bytes(stream, spec.utc, variant)))
        return out

    def warm(self, streams: Iterable[str] | None = None, days: Iterable[date] | None = None) -> int:
        """Render (and cache) every image the CDN can serve, so that benchmarks do not time
        JPEG encoding. Returns the number of images."""
        n = 0
        for stream in streams or self.dataset.streams:
            for day in days or self.dataset.days(stream):
                for spec in self.dataset.captures(stream, day):
                    self.image_bytes(stream, spec.utc, "thumbnail")
                    n += 1
                    if spec.has_full:
                        self.image_bytes(stream, spec.utc, "full")
                        n += 1
        return n

    def captures(self, stream: str, day: date) -> list[CaptureSpec]:
        return self.dataset.captures(stream, day)

    def cdn_requests(self, path_substring: str | None = None) -> list[RequestRecord]:
        """Requests under ``/cdn`` (optionally only those whose raw or decoded path
        contains ``path_substring``)."""
        return [
            r
            for r in self.requests
            if r.path.startswith("/cdn/")
            and (
                path_substring is None
                or path_substring in r.path
                or path_substring in unquote(r.path)
            )
        ]

    def api_requests(self, kind: str = "history") -> list[RequestRecord]:
        return [
            r
            for r in self.requests
            if r.path.startswith(f"/api/terminal_cameras/{self.dataset.terminal}/{kind}")
        ]

    def reset_stats(self) -> None:
        """Forget recorded requests and the concurrency peak."""
        self.requests.clear()
        with self._stats_lock:
            self.max_cdn_in_flight = self._cdn_in_flight

    def _asset(self, name: str) -> tuple[bytes, str] | None:
        types = {"app.js": "application/javascript", "app.css": "text/css"}
        if name not in types:
            return None
        if name not in self._assets:
            self._assets[name] = ((STATIC_DIR / name).read_bytes(), types[name] + "; charset=utf-8")
        return self._assets[name]

    def page_html(self, stream: str) -> str:
        ds = self.dataset
        config = {
            "terminal": ds.terminal,
            "terminalName": TERMINAL_NAMES.get(ds.terminal, ds.terminal.upper()),
            "stream": stream,
            "streams": [{"name": s, "label": stream_label(s)} for s in ds.streams],
            "api": f"/api/terminal_cameras/{ds.terminal}",
            "liveCount": self.live_count,
            "gallery": self.gallery,
            "pageSize": self.page_size,
            "loadingMask": self.loading_mask,
            "heading": self.heading,
            "pageZone": self.page_zone,
            "timezone": self.timezone,
            "now": iso_z(self.now_utc()),  # the site clock, for "today" in either zone
            "today": self.today().isoformat(),
        }
        cfg = json.dumps(config).replace("</", "<\\/")
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            "<title>DrayDog | Terminal Cameras</title>\n"
            '<link rel="icon" href="data:,">\n'
            '<link rel="stylesheet" href="/vendor/element-plus.css">\n'
            '<link rel="stylesheet" href="/assets/app.css">\n'
            f"<script>window.__DRAYDOG_CONFIG__ = {cfg};</script>\n"
            '<script src="/vendor/vue.global.prod.js"></script>\n'
            '<script src="/vendor/element-plus.full.min.js"></script>\n'
            '<script defer src="/assets/app.js"></script>\n'
            '</head>\n<body>\n<div id="app"></div>\n</body>\n</html>\n'
        )
