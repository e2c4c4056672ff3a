"""Download capture images from the CDN: pooled HTTP, retries with backoff, strict validation."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from dogcli import __version__
from dogcli.config import Settings
from dogcli.model.captures import FULL, THUMBNAIL, Capture
from dogcli.model.retry import BackoffWait
from dogcli.sources.base import Downloaded, DownloadFailed, FullSizeMissing
from dogcli.storage.base import is_jpeg

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_RETRY_AFTER = 300.0


class TransientError(Exception):
    """Worth another try (5xx, 429, resets, truncation, junk with 200)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


class CdnClient:
    def __init__(
        self,
        cdn_url: str,
        concurrency: int = 4,
        max_retries: int = 3,
        retry_base: float = 1.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.cdn_url = cdn_url
        self.max_retries = max_retries
        self.wait = BackoffWait(retry_base)
        self.timeout = (connect_timeout, read_timeout)
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
        except TransientError as exc:
            raise DownloadFailed(f"{url}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, url: str) -> bytes:
        with self._lock:
            self.requests_made += 1
        try:
            response = self.session.get(url, timeout=self.timeout, stream=True)
        except requests.RequestException as exc:
            raise TransientError(_short(exc)) from None
        with response:
            status = response.status_code
            if status != 200:
                _discard_body(response)  # so that the connection goes back to the pool
            if status == 404:
                raise NotFound(url)
            if status != 200:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status in (429, 500, 502, 503, 504) or status >= 500:
                    raise TransientError(f"HTTP {status}", retry_after)
                raise TransientError(f"HTTP {status}")
            return _read_valid_jpeg(response)


def _read_valid_jpeg(response: requests.Response) -> bytes:
    ctype = response.headers.get("Content-Type", "")
    if not ctype.lower().startswith("image/"):
        raise TransientError(f"not an image (Content-Type {ctype or 'missing'})")
    expected = _content_length(response.headers)
    if expected is not None and expected > MAX_IMAGE_BYTES:
        raise TransientError(f"image too large ({expected} bytes)")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_IMAGE_BYTES:
                raise TransientError("image too large")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise TransientError(f"body cut off: {_short(exc)}") from None
    data = b"".join(chunks)
    if expected is not None and len(data) != expected:
        raise TransientError(f"body cut off ({len(data)} of {expected} bytes)")
    if not is_jpeg(data):
        raise TransientError("not a complete JPEG")
    return data


def _discard_body(response: requests.Response, limit: int = 64 * 1024) -> None:
    """Read a small error body to its end: closing an unread response drops its connection,
    and every thumbnail-only capture (404 for the full size) would cost a new one."""
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=8192):
            size += len(chunk)
            if size > limit:
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
