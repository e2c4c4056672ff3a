"""Download capture images from the CDN: pooled HTTP, retries with backoff, strict validation,
and bounds on every download (same-origin redirects only, a deadline, a size cap)."""

from __future__ import annotations

import hashlib
import io
import logging
import math
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

from dogcli import __version__
from dogcli.config import Settings
from dogcli.model.captures import FULL, THUMBNAIL, Capture
from dogcli.model.retry import BackoffWait
from dogcli.sources.base import Downloaded, DownloadFailed, FullSizeMissing
from dogcli.storage.base import is_jpeg

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 32 * 1024 * 1024  # a real capture is under 1 MiB
MAX_RETRY_AFTER = 300.0
MIN_DEADLINE = 60.0  # a whole download may take this long, or 3 read timeouts if longer
MAX_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)  # those requests would follow
READ_CHUNK = 65536


class TransientError(Exception):
    """Worth another try (5xx, 429, resets, truncation, junk with 200, past the deadline)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(Exception):
    """Never worth another try: a redirect to another host, a body over the size cap."""


class NotFound(Exception):
    """404: the CDN does not have this variant."""


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            from datetime import UTC, datetime

            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    if math.isnan(seconds):  # "nan" parses as a float, and time.sleep(nan) raises
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def default_deadline(read_timeout: float) -> float:
    """The whole-download deadline of one attempt when none is given."""
    return max(3 * read_timeout, MIN_DEADLINE)


class CdnClient:
    def __init__(
        self,
        cdn_url: str,
        concurrency: int = 4,
        max_retries: int = 3,
        retry_base: float = 1.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        deadline: float | None = None,
        max_image_bytes: int = MAX_IMAGE_BYTES,
    ) -> None:
        self.cdn_url = cdn_url
        try:
            self.origin: tuple[str, str, int] | None = _origin(cdn_url)
        except ValueError:  # settings refuse such a URL; here it only means no redirects
            self.origin = None
        self.max_retries = max_retries
        self.wait = BackoffWait(retry_base)
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = default_deadline(read_timeout) if deadline is None else deadline
        self.max_image_bytes = max_image_bytes
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(concurrency, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"dogcli/{__version__}"
        self._lock = threading.Lock()
        self.requests_made = 0

    @classmethod
    def for_settings(cls, settings: Settings) -> CdnClient:
        return cls(
            settings.cdn_url,
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            retry_base=settings.retry_base,
            read_timeout=settings.read_timeout,
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> CdnClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def download(self, capture: Capture, thumbnail: bool = True) -> Downloaded:
        """Full size first; the thumbnail only when the full size answers 404 (and
        `thumbnail` allows it: an upgrade of a kept thumbnail wants the full size alone)."""
        for variant in (FULL, THUMBNAIL) if thumbnail else (FULL,):
            url = capture.url(self.cdn_url, variant)
            try:
                data = self._get_with_retries(url)
            except NotFound:
                continue
            return Downloaded(capture, variant, url, data, hashlib.sha256(data).hexdigest())
        if not thumbnail:
            raise FullSizeMissing(f"{capture.stream} {capture.url_ts}: 404 for the full size")
        raise DownloadFailed(f"{capture.stream} {capture.url_ts}: 404 for full size and thumbnail")

    def _get_with_retries(self, url: str) -> bytes:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.wait,
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._get(url)
        except (TransientError, Refused) as exc:
            raise DownloadFailed(f"{url}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, url: str) -> bytes:
        """One attempt: the request, same-origin redirects and the body, within the deadline."""
        deadline = time.monotonic() + self.deadline
        for _hop in range(MAX_REDIRECTS + 1):
            with self._lock:
                self.requests_made += 1
            try:
                response = self.session.get(
                    url, timeout=self.timeout, stream=True, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise TransientError(_short(exc)) from None
            with response:
                status = response.status_code
                location = response.headers.get("Location")
                if status in REDIRECT_STATUSES and location is not None:
                    _discard_body(response, deadline)
                    url = self._same_origin(url, location)
                    continue
                if status != 200:
                    _discard_body(response, deadline)  # so the connection goes back to the pool
                if status == 404:
                    raise NotFound(url)
                if status != 200:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    if status in (429, 500, 502, 503, 504) or status >= 500:
                        raise TransientError(f"HTTP {status}", retry_after)
                    raise TransientError(f"HTTP {status}")
                return _read_valid_jpeg(response, deadline, self.deadline, self.max_image_bytes)
        raise TransientError(f"more than {MAX_REDIRECTS} redirects")

    def _same_origin(self, url: str, location: str) -> str:
        """Where a redirect leads, if it stays on the CDN's scheme, host and port: an image
        from anywhere else would be archived as the camera's."""
        target = urljoin(url, location)
        try:
            origin = _origin(target)
        except ValueError:
            raise Refused("redirect to an unusable address refused") from None
        if origin != self.origin:
            scheme, host, port = origin
            where = f"{scheme}://{host[:100]}:{port}"
            raise Refused(f"redirect to another host refused ({where})")
        return target


def _origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in; ValueError if unusable."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port  # raises ValueError on a port out of range
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (parts.hostname or ""), port


def _read_valid_jpeg(
    response: requests.Response, deadline: float, budget: float, cap: int
) -> bytes:
    ctype = response.headers.get("Content-Type", "")
    if not ctype.lower().startswith("image/"):
        raise TransientError(f"not an image (Content-Type {ctype or 'missing'})")
    expected = _content_length(response.headers)
    if expected is not None and expected > cap:
        raise Refused(f"image too large ({expected} bytes, the limit is {cap})")
    body = io.BytesIO()  # getvalue() hands over its buffer: the body is never held twice
    try:
        for chunk in _chunks(response):
            if body.tell() + len(chunk) > cap:
                raise Refused(f"image too large (more than {cap} bytes)")
            body.write(chunk)
            if time.monotonic() > deadline:
                raise TransientError(
                    f"no whole image within {budget:g} s ({body.tell()} bytes came)"
                )
    except requests.RequestException as exc:
        raise TransientError(f"body cut off: {_short(exc)}") from None
    data = body.getvalue()
    if expected is not None and len(data) != expected:
        raise TransientError(f"body cut off ({len(data)} of {expected} bytes)")
    if not is_jpeg(data):
        raise TransientError("not a complete JPEG")
    return data


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The (decoded) body as it arrives. read1 returns what one socket read brought, where
    iter_content waits for a whole 64 KiB chunk: a byte every 2 s would hide in it for a day
    and the deadline would never be looked at. Errors as iter_content raises them."""
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:  # urllib3 older than 2.3: the deadline is then looked at per chunk
        yield from response.iter_content(chunk_size=READ_CHUNK)
        return
    try:
        while chunk := read1(READ_CHUNK, decode_content=True):
            yield chunk
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    except SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None


def _discard_body(response: requests.Response, deadline: float, limit: int = 64 * 1024) -> None:
    """Read a small error body to its end: closing an unread response drops its connection,
    and every thumbnail-only capture (404 for the full size) would cost a new one."""
    size = 0
    try:
        for chunk in _chunks(response):
            size += len(chunk)
            if size > limit or time.monotonic() > deadline:
                return  # not worth it: close() drops the connection instead
    except requests.RequestException:
        pass


def _content_length(headers: Any) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _short(exc: BaseException) -> str:
    """One line naming the failure, without the nested repr noise of urllib3."""
    text = str(exc)
    for marker in (
        "Read timed out",
        "Connection reset",
        "Connection refused",
        "Connection aborted",
    ):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
