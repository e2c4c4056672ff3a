"""A capture's identity, parsed strictly from a CDN URL, and the URLs and paths derived from it.

The time model (SITE.md): a URL's date folder, hour folder and stamp are written in the URL
zone (UTC on the real site), while the page's days are local days of the site zone. A capture
is identified by (terminal, stream, URL stamp), which is an instant: the stamp read in the URL
zone. Its local day, in the site zone, names its folder on disk; its UTC time names the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from dogcli.model import layout

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
_FILE_RE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})-(?P<stream>[a-z0-9_]+?)(?P<thumb>-thumbnail)?\.jpeg$"
)
_HOUR_RE = re.compile(r"^(?:[0-9]|1[0-9]|2[0-3])$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")  # terminals and streams: they name folders

# Captures outside these years are refused: no camera took them, and near the ends of
# datetime's range moving a stamp across a zone, or to the next day, overflows.
FIRST_YEAR, LAST_YEAR = 1970, 9998

FULL = "full"
THUMBNAIL = "thumbnail"


@dataclass(frozen=True)
class Zones:
    """The two time zones of the site: `site` for its days (and every report), `url` for the
    stamps in image URLs."""

    site: ZoneInfo
    url: ZoneInfo

    def capture(self, terminal: str, stream: str, url_ts: str) -> Capture:
        """Build a capture, refusing anything that is not a strict name or timestamp."""
        if not NAME_RE.match(terminal) or not NAME_RE.match(stream):
            raise ValueError(f"bad terminal or stream: {terminal!r}/{stream!r}")
        try:
            parsed = datetime.strptime(url_ts, STAMP_FORMAT)
        except ValueError:
            raise ValueError(f"bad timestamp: {url_ts!r}") from None
        if parsed.strftime(STAMP_FORMAT) != url_ts:
            raise ValueError(f"bad timestamp: {url_ts!r}")
        try:
            taken = self.to_utc(parsed)
            day = taken.astimezone(self.site).date()
        except OverflowError:  # year 1 or 9999 moved across a zone
            raise ValueError(f"timestamp out of range: {url_ts!r}") from None
        if not FIRST_YEAR <= taken.year <= LAST_YEAR:
            raise ValueError(f"timestamp out of range: {url_ts!r}")
        return Capture(terminal, stream, taken, url_ts, day)

    def to_utc(self, stamp: datetime) -> datetime:
        """A naive URL stamp as a UTC instant (fold=0: an hour that repeats in the URL zone is
        read as its first occurrence; the real site's UTC stamps never repeat)."""
        return stamp.replace(tzinfo=self.url).astimezone(UTC)

    def stamp(self, moment: datetime) -> str:
        """The URL stamp of an instant."""
        return moment.astimezone(self.url).strftime(STAMP_FORMAT)

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """[start, end) of a local day in UTC: 23, 24 or 25 hours long."""
        start = datetime.combine(day, time(0), tzinfo=self.site).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.site)
        return start, end.astimezone(UTC)

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.site).date()


@dataclass(frozen=True, order=True)
class Capture:
    """One image of a stream: identified by its instant (equal to its URL stamp)."""

    terminal: str
    stream: str
    taken: datetime  # UTC, aware
    url_ts: str = field(compare=False)  # as in the URL: YYYY-MM-DDTHH:MM:SS, URL zone
    day: date = field(compare=False)  # its local day in the site zone

    def url(self, cdn_url: str, variant: str = FULL) -> str:
        t = self.url_ts
        suffix = "-thumbnail.jpeg" if variant == THUMBNAIL else ".jpeg"
        return (
            f"{cdn_url.rstrip('/')}/{self.terminal}/{t[:10]}/{int(t[11:13])}/"
            f"{t}-{self.stream}{suffix}"
        )

    @property
    def rel_path(self) -> str:
        """Path under the data dir; every part comes from validated fields only."""
        return layout.rel_path(self.terminal, self.stream, self.day, self.taken)


def parse_image_url(
    url: str, cdn_url: str, terminal: str, zones: Zones
) -> tuple[Capture, str] | None:
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
    url_ts = match["ts"]
    if url_ts[:10] != day or int(url_ts[11:13]) != int(hour):
        return None
    try:
        capture = zones.capture(terminal, match["stream"], url_ts)
    except ValueError:
        return None
    return capture, THUMBNAIL if match["thumb"] else FULL


def capture_from_path(
    terminal: str, stream: str, filename: str, zones: Zones
) -> tuple[Capture, bool] | None:
    """The capture a local file stands for, from its name, and whether the name is of the
    earlier layout ({stream}_{URL stamp}.jpg instead of {stream}_{UTC time}Z.jpg)."""
    match = layout.FILE_RE.match(filename)
    if not match or match["stream"] != stream:
        return None
    try:
        moment = datetime.strptime(match["compact"], "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    legacy = not match["z"]
    try:
        url_ts = (
            moment.strftime(STAMP_FORMAT) if legacy else zones.stamp(moment.replace(tzinfo=UTC))
        )
        return zones.capture(terminal, stream, url_ts), legacy
    except (ValueError, OverflowError):
        return None
