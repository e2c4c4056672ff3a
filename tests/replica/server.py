"""The replica HTTP server: camera page, JSON API and CDN on one loopback port."""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from .dataset import DEFAULT_TIMEZONE, CaptureSpec, Dataset
from .faults import Fault, Faults
from .images import jpeg_bytes

STATIC_DIR = Path(__file__).with_name("static")
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
        return self.server.replica

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
        token = self.rep._begin(self.command, self.path)
        try:
            self._dispatch_inner(head)
        finally:
            self.rep._end(token)

    def _dispatch_inner(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if path.startswith("/cdn/"):
                self._cdn(path, head)
            elif m := re.fullmatch(r"/terminal_cameras/([^/]+)/?", path):
                self._page(m.group(1), query, head)
            elif m := re.fullmatch(r"/api/terminal_cameras/([^/]+)/(history|latest)", path):
                self._api(m.group(1), m.group(2), query, head)
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
        rep = self.rep
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
        stream, ts, variant = found if found else (None, None, None)
        fault = rep.faults.next_cdn(path, stream, ts, variant)
        if fault is not None and fault.kind != "ok":
            self._fault_name = fault.name
            if self._cdn_fault(fault, head):
                return
        if found is None:
            # A thumbnail-only capture's full size stays a 404 even then.
            known = rep._parse_cdn_path(path.replace(".jpeg", "-thumbnail.jpeg"))
            if rep.catch_all and known is None:
                self._junk_jpeg(head)
            else:
                self._not_found(head)
            return
        assert stream is not None and ts is not None and variant is not None
        body = rep.image_bytes(stream, ts, variant)
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

    def _api(self, terminal: str, kind: str, query: dict[str, str], head: bool) -> None:
        rep = self.rep
        stream = query.get("stream")
        if not self._stream_ok(terminal, stream):
            self._json(404, {"error": "not found"}, head)
            return
        assert stream is not None
        if kind == "latest":
            if rep.api_delay > 0:
                rep._stop.wait(rep.api_delay)
            try:
                limit = max(1, min(50, int(query.get("limit", rep.live_count))))
            except ValueError:
                limit = rep.live_count
            specs = rep.dataset.latest(stream, limit, until=rep.site_now())
            images = [
                {
                    "time": s.ts.strftime(TS_FORMAT),
                    "url": rep.url(stream, s.ts, "full" if s.has_full else "thumbnail"),
                }
                for s in specs
            ]
            self._json(200, {"terminal": terminal, "stream": stream, "images": images}, head)
            return
        try:
            day = date.fromisoformat(query.get("date", ""))
        except ValueError:
            self._json(400, {"error": "bad date"}, head)
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
        images = [
            {"time": s.ts.strftime(TS_FORMAT), "url": rep.thumb_url(stream, s.ts)}
            for s in rep.dataset.captures(stream, day)
        ]
        extra = rep.history_extra.get((stream, day), [])
        images += [{"time": f"{day}T00:00:00", "url": url} for url in extra]
        payload = {"terminal": terminal, "stream": stream, "date": day.isoformat()}
        self._json(200, {**payload, "images": images}, head)


class Replica:
    """A local, faithful stand-in for the DrayDog camera page and CDN.

    ``timezone`` is the site's zone: it decides "today" for the page (the date picker's
    default and which days are disabled). ``url_timezone`` is the zone of the timestamps in
    CDN URLs (default: the site's zone; "UTC" simulates a CDN that names files in UTC).
    ``now`` overrides the site clock (a naive site-local datetime, or a callable returning
    one). The dataset is read live. ``lazy=False`` renders every gallery ``<img>`` at once
    (SITE.md leaves open whether the real gallery is lazy).
    """

    def __init__(
        self,
        dataset: Dataset,
        api_delay: float = 0.3,
        cdn_latency: float = 0.0,
        timezone: str = DEFAULT_TIMEZONE,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        url_timezone: str | None = None,
        now: datetime | Callable[[], datetime] | None = None,
        live_count: int = 4,
        keepalive_timeout: float = 30.0,
        lazy: bool = True,
    ) -> None:
        self.dataset = dataset
        self.api_delay = api_delay
        self.cdn_latency = cdn_latency
        self.timezone = timezone
        self.url_timezone = url_timezone
        self.host = host
        self.port = port
        self.live_count = live_count
        self.keepalive_timeout = keepalive_timeout
        self.lazy = lazy
        # A hostile or broken page: image URLs appended to the History answer of a
        # (stream, day), as given (any host, path or timestamp).
        self.history_extra: dict[tuple[str, date], list[str]] = {}
        self.catch_all = False  # unknown paths answer with a small JPEG instead of a 404
        self._now = now
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

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Replica:
        if self._server is not None:
            return self
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
    def site_now(self) -> datetime:
        """The site's current naive local time."""
        if self._now is None:
            return datetime.now(ZoneInfo(self.timezone)).replace(tzinfo=None, microsecond=0)
        if callable(self._now):
            return self._now()
        return self._now

    def today(self) -> date:
        return self.site_now().date()

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

    def url_ts(self, ts: datetime) -> datetime:
        """A site-local capture time as it is written in CDN URLs."""
        if self.url_timezone is None or self.url_timezone == self.timezone:
            return ts
        aware = ts.replace(tzinfo=ZoneInfo(self.timezone))
        return aware.astimezone(ZoneInfo(self.url_timezone)).replace(tzinfo=None)

    def _site_ts(self, url_ts: datetime) -> datetime:
        if self.url_timezone is None or self.url_timezone == self.timezone:
            return url_ts
        aware = url_ts.replace(tzinfo=ZoneInfo(self.url_timezone)).astimezone(UTC)
        return aware.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)

    def cdn_path(self, stream: str, ts: datetime, variant: str = "full") -> str:
        """The path after ``cdn_url``: ``/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg``."""
        u = self.url_ts(ts)
        suffix = "-thumbnail" if variant == "thumbnail" else ""
        return (
            f"/{self.dataset.terminal}/{u:%Y-%m-%d}/{u.hour}/"
            f"{u.strftime(TS_FORMAT)}-{stream}{suffix}.jpeg"
        )

    def url(self, stream: str, ts: datetime, variant: str = "full") -> str:
        if variant not in ("full", "thumbnail"):
            raise ValueError(f"unknown variant {variant!r}")
        return self.cdn_url + self.cdn_path(stream, ts, variant)

    def full_url(self, stream: str, ts: datetime) -> str:
        return self.url(stream, ts, "full")

    def thumb_url(self, stream: str, ts: datetime) -> str:
        return self.url(stream, ts, "thumbnail")

    def _parse_cdn_path(self, path: str) -> tuple[str, datetime, str] | None:
        """A decoded ``/cdn/...`` path -> (stream, site-local ts, variant) if it is served."""
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
        ts = self._site_ts(u)
        spec = self.dataset.find(rest, ts)
        if spec is None or (variant == "full" and not spec.has_full):
            return None
        return rest, ts, variant

    # -- content --------------------------------------------------------------------------
    def image_bytes(self, stream: str, ts: datetime, variant: str = "full") -> bytes:
        """The exact bytes the CDN serves for a capture's ``variant``."""
        return jpeg_bytes(self.dataset.terminal, stream, ts, variant)

    def expected(self, stream: str, day: date) -> list[tuple[str, str, bytes]]:
        """What a perfect client keeps for a day: (site ts, variant, bytes), sorted by ts;
        the variant is "full" when the capture has it, else "thumbnail"."""
        out = []
        for spec in self.dataset.captures(stream, day):
            variant = "full" if spec.has_full else "thumbnail"
            out.append(
                (spec.ts.strftime(TS_FORMAT), variant, self.image_bytes(stream, spec.ts, variant))
            )
        return out

    def warm(self, streams: Iterable[str] | None = None, days: Iterable[date] | None = None) -> int:
        """Render (and cache) every image the CDN can serve, so that benchmarks do not time
        JPEG encoding. Returns the number of images."""
        n = 0
        for stream in streams or self.dataset.streams:
            for day in days or self.dataset.days(stream):
                for spec in self.dataset.captures(stream, day):
                    self.image_bytes(stream, spec.ts, "thumbnail")
                    n += 1
                    if spec.has_full:
                        self.image_bytes(stream, spec.ts, "full")
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
        types = {"index.js": "application/javascript", "index.css": "text/css"}
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
            "today": self.today().isoformat(),
            "api": f"/api/terminal_cameras/{ds.terminal}",
            "liveCount": self.live_count,
            "lazy": self.lazy,
        }
        cfg = json.dumps(config).replace("</", "<\\/")
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            "<title>DrayDog | Terminal Cameras</title>\n"
            '<link rel="icon" href="data:,">\n'
            '<link rel="stylesheet" href="/assets/index.css">\n'
            f"<script>window.__DRAYDOG_CONFIG__ = {cfg};</script>\n"
            '<script defer src="/assets/index.js"></script>\n'
            '</head>\n<body>\n<div id="app"></div>\n</body>\n</html>\n'
        )
