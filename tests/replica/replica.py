"""The Replica facade: one dataset served as the DrayDog page, API and CDN, with its clock,
URLs, expected results, request log and faults for the tests to read."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from . import markup, urls
from .config import ReplicaConfig
from .dataset import CaptureSpec, Clock, Dataset, as_utc
from .faults import Faults
from .images import jpeg_bytes
from .records import Connections, RequestLog, RequestRecord
from .server import ReplicaServer, serve, shut_down
from .vendor import check_vendor


class Replica:
    """A local stand-in for the DrayDog camera page (Vue 3 + Element Plus) and its CDN.

    ``Replica(dataset, config)``: ``config`` (a ``ReplicaConfig``; default: all defaults) holds
    the page variant, the clock, the zones, the delays and the address; its options read as
    attributes (``rep.gallery``). ``api_delay``, ``cdn_latency`` and ``now`` may also be set
    while it serves (``rep.now = moving_clock``); ``rep.config`` follows. Run-time state for
    the tests: ``faults``, ``requests``, ``history_extra``, ``catch_all``, ``extra_datasets``.
    """

    def __init__(self, dataset: Dataset, config: ReplicaConfig | None = None) -> None:
        config = config or ReplicaConfig()
        self.dataset = dataset
        self._apply(config if config.timezone else config.replace(timezone=dataset.timezone))
        # A hostile or broken page: image URLs appended to the History answer of a
        # (stream, site-local day), as given (any host, path or timestamp).
        self.history_extra: dict[tuple[str, date], list[str]] = {}
        self.catch_all = False  # unknown paths answer with a small JPEG instead of a 404
        self.faults = Faults()
        self.requests = RequestLog()
        self.connections = Connections()
        self.max_cdn_in_flight = 0
        self._cdn_in_flight = 0
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ReplicaServer | None = None
        self._thread: threading.Thread | None = None
        self._assets: dict[str, tuple[bytes, str]] = {}
        # More terminals on the same server, by name: their pages, API and CDN paths answer
        # from their own dataset (see view()); everything else is shared.
        self.extra_datasets = dict(config.extra_datasets)

    def _apply(self, config: ReplicaConfig) -> None:
        self.config = config
        assert config.timezone is not None
        self.tz = ZoneInfo(config.timezone)
        self.url_tz = ZoneInfo(config.url_timezone)

    # -- options (from the config) --------------------------------------------------------
    @property
    def api_delay(self) -> float:
        return self.config.api_delay

    @api_delay.setter
    def api_delay(self, value: float) -> None:
        self._apply(self.config.replace(api_delay=value))

    @property
    def cdn_latency(self) -> float:
        return self.config.cdn_latency

    @cdn_latency.setter
    def cdn_latency(self, value: float) -> None:
        self._apply(self.config.replace(cdn_latency=value))

    @property
    def now(self) -> Clock | None:
        return self.config.now

    @now.setter
    def now(self, value: Clock | None) -> None:
        self._apply(self.config.replace(now=value))

    @property
    def timezone(self) -> str:
        assert self.config.timezone is not None  # resolved in __init__
        return self.config.timezone

    @property
    def url_timezone(self) -> str:
        return self.config.url_timezone

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def live_count(self) -> int:
        return self.config.live_count

    @property
    def keepalive_timeout(self) -> float:
        return self.config.keepalive_timeout

    @property
    def gallery(self) -> str:
        return self.config.gallery

    @property
    def page_size(self) -> int | None:
        return self.config.page_size

    @property
    def loading_mask(self) -> bool:
        return self.config.loading_mask

    @property
    def heading(self) -> str:
        return self.config.heading

    @property
    def no_camera(self) -> frozenset[str]:
        return frozenset(self.config.no_camera)

    @property
    def page_zone(self) -> str:
        return self.config.page_zone

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Replica:
        if self._server is not None:
            return self
        check_vendor()
        self._stop.clear()
        self._server, self._thread = serve(self, self.host, self.port)
        self._apply(self.config.replace(port=self._server.server_address[1]))
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stop.set()
        shut_down(server, self._thread)
        self._server = None
        self._thread = None

    def __enter__(self) -> Replica:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def in_flight(self, path_substring: str | None = None) -> list[tuple[str, str]]:
        """(method, path) of the requests being handled right now (e.g. a hung API call)."""
        return self.connections.in_flight(path_substring)

    @property
    def open_connections(self) -> int:
        return len(self.connections)

    # -- clock ----------------------------------------------------------------------------
    def now_utc(self) -> datetime:
        """The site clock as an aware UTC datetime, to the second."""
        now = self.now
        value = now() if callable(now) else now
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
        return urls.stamp(utc, self.url_tz)

    def cdn_path(self, stream: str, utc: datetime, variant: str = "full") -> str:
        """The path after ``cdn_url``: ``/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg``
        (date folder, unpadded hour and stamp all in ``url_timezone``)."""
        return urls.cdn_path(self.dataset.terminal, stream, utc, variant, self.url_tz)

    def url(self, stream: str, utc: datetime, variant: str = "full") -> str:
        if variant not in ("full", "thumbnail"):
            raise ValueError(f"unknown variant {variant!r}")
        return self.cdn_url + self.cdn_path(stream, utc, variant)

    def full_url(self, stream: str, utc: datetime) -> str:
        return self.url(stream, utc, "full")

    def thumb_url(self, stream: str, utc: datetime) -> str:
        return self.url(stream, utc, "thumbnail")

    def _image_json(self, stream: str, spec: CaptureSpec, variant: str) -> dict[str, str]:
        return {"time": urls.iso_z(spec.utc), "url": self.url(stream, spec.utc, variant)}

    def _parse_cdn_path(self, path: str) -> tuple[str, CaptureSpec, str] | None:
        """A decoded ``/cdn/...`` path -> (stream, capture, variant) when the capture exists
        (whether it is served now is ``served()``'s business)."""
        return urls.parse_cdn_path(path, self.dataset, self.url_tz)

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

    def page_html(self, stream: str) -> str:
        return markup.page_html(self, stream)

    # -- what was requested ---------------------------------------------------------------
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
