"""A capture's identity, parsed strictly from a CDN URL, and the URLs and paths derived from it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

SITE_TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
_FILE_RE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})-(?P<stream>[a-z0-9_]+?)(?P<thumb>-thumbnail)?\.jpeg$"
)
_HOUR_RE = re.compile(r"^(?:[0-9]|1[0-9]|2[0-3])$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
LOCAL_FILE_RE = re.compile(r"^(?P<stream>[a-z0-9_]+)_(?P<compact>\d{8}T\d{6})\.jpg$")

FULL = "full"
THUMBNAIL = "thumbnail"


@dataclass(frozen=True, order=True)
class Capture:
    terminal: str
    stream: str
    site_ts: str  # as in the URL: YYYY-MM-DDTHH:MM:SS, site-local, no zone

    @property
    def local_time(self) -> datetime:
        return datetime.strptime(self.site_ts, SITE_TS_FORMAT)

    @property
    def day(self) -> date:
        return self.local_time.date()

    def utc_time(self, tz: ZoneInfo) -> datetime:
        return self.local_time.replace(tzinfo=tz).astimezone(UTC)

    def url(self, cdn_url: str, variant: str = FULL) -> str:
        local = self.local_time
        suffix = "-thumbnail.jpeg" if variant == THUMBNAIL else ".jpeg"
        return (
            f"{cdn_url.rstrip('/')}/{self.terminal}/{local:%Y-%m-%d}/{local.hour}/"
            f"{self.site_ts}-{self.stream}{suffix}"
        )

    @property
    def rel_path(self) -> str:
        """Path under the data dir; every part comes from validated fields only."""
        local = self.local_time
        return (
            f"images/{self.terminal}/{self.stream}/{local:%Y-%m-%d}/"
            f"{self.stream}_{local:%Y%m%dT%H%M%S}.jpg"
        )


def make_capture(terminal: str, stream: str, site_ts: str) -> Capture:
    """Build a capture, refusing anything that is not a strict name or timestamp."""
    if not _NAME_RE.match(terminal) or not _NAME_RE.match(stream):
        raise ValueError(f"bad terminal or stream: {terminal!r}/{stream!r}")
    try:
        parsed = datetime.strptime(site_ts, SITE_TS_FORMAT)
    except ValueError:
        raise ValueError(f"bad timestamp: {site_ts!r}") from None
    if parsed.strftime(SITE_TS_FORMAT) != site_ts:
        raise ValueError(f"bad timestamp: {site_ts!r}")
    return Capture(terminal, stream, site_ts)


def parse_image_url(url: str, cdn_url: str, terminal: str) -> tuple[Capture, str] | None:
    """Return (capture, variant) for a CDN image URL of this terminal, else None.

    Strict on purpose: the result names files on disk, so anything unexpected is rejected.
    """
    try:
        parts = urlsplit(url)
        base = urlsplit(cdn_url.rstrip("/"))
    except ValueError:
        return None
    if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
        return None
    prefix = base.path.rstrip("/") + "/"
    if not parts.path.startswith(prefix):
        return None
    segments = unquote(parts.path[len(prefix) :]).split("/")
    if len(segments) != 4:
        return None
    term, day, hour, filename = segments
    if term != terminal or not _DATE_RE.match(day) or not _HOUR_RE.match(hour):
        return None
    match = _FILE_RE.match(filename)
    if not match:
        return None
    try:
        capture = make_capture(terminal, match["stream"], match["ts"])
    except ValueError:
        return None
    local = capture.local_time
    if f"{local:%Y-%m-%d}" != day or local.hour != int(hour):
        return None
    return capture, THUMBNAIL if match["thumb"] else FULL


def capture_from_path(terminal: str, stream: str, filename: str) -> Capture | None:
    """The capture a local file stands for, from its name: {stream}_{YYYYMMDDTHHMMSS}.jpg."""
    match = LOCAL_FILE_RE.match(filename)
    if not match or match["stream"] != stream:
        return None
    try:
        local = datetime.strptime(match["compact"], "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    return make_capture(terminal, stream, local.strftime(SITE_TS_FORMAT))
