"""The CDN's URL scheme and the API's instants: how a capture is named, and read back."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from .dataset import CaptureSpec, Dataset, as_utc

TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
CDN_RE = re.compile(
    r"/cdn/(?P<terminal>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})/(?P<hour>\d{1,2})/"
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})-(?P<rest>[^/]+)\.jpeg"
)


def iso_z(utc: datetime) -> str:
    """``2025-09-06T07:03:17Z``: an instant as the API writes it."""
    return as_utc(utc).strftime(TS_FORMAT) + "Z"


def stamp(utc: datetime, url_tz: ZoneInfo) -> str:
    """An instant as written in CDN URLs: ``YYYY-MM-DDTHH:MM:SS`` in ``url_tz``."""
    return as_utc(utc).astimezone(url_tz).strftime(TS_FORMAT)


def cdn_path(terminal: str, stream: str, utc: datetime, variant: str, url_tz: ZoneInfo) -> str:
    """The path after the CDN's base URL: ``/apm/2025-09-06/7/2025-09-06T07:03:17-in_gate.jpeg``
    (date folder, unpadded hour and stamp all in ``url_tz``)."""
    u = as_utc(utc).astimezone(url_tz)
    suffix = "-thumbnail" if variant == "thumbnail" else ""
    return f"/{terminal}/{u:%Y-%m-%d}/{u.hour}/{u.strftime(TS_FORMAT)}-{stream}{suffix}.jpeg"


def parse_cdn_path(
    path: str, dataset: Dataset, url_tz: ZoneInfo
) -> tuple[str, CaptureSpec, str] | None:
    """A decoded ``/cdn/...`` path -> (stream, capture, variant) when the capture exists in
    ``dataset`` (whether it is served now is the replica's ``served()``)."""
    m = CDN_RE.fullmatch(path)
    if m is None or m["terminal"] != dataset.terminal:
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
    if rest not in dataset.streams:
        return None
    # a local url_timezone repeats a wall hour in autumn: try both readings
    for fold in (0, 1):
        instant = u.replace(tzinfo=url_tz, fold=fold).astimezone(UTC)
        if instant.astimezone(url_tz).replace(tzinfo=None) != u:
            continue  # a wall time skipped in spring
        spec = dataset.find(rest, instant)
        if spec is not None:
            return rest, spec, variant
    return None
