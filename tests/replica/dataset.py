"""The replica's data: which captures exist, per (stream, site-local day).

Timestamps are naive datetimes in the site's local time (America/Los_Angeles by default),
exactly as they appear on the real site. Generation walks real (absolute) time, so a
spring-forward day has no 02:xx captures and a fall-back day repeats the 01:xx hour.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "America/Los_Angeles"
DEFAULT_STREAMS: tuple[str, ...] = ("in_gate", "out_gate")

Key = tuple[str, date]


@dataclass(frozen=True, order=True)
class CaptureSpec:
    """One capture: its naive site-local timestamp and whether a full-size image exists.

    A capture always has a thumbnail; ``has_full=False`` means the full-size URL is a 404.
    """

    ts: datetime
    has_full: bool = True


class Dataset(MutableMapping[Key, list[CaptureSpec]]):
    """Mapping ``(stream, day) -> list[CaptureSpec]`` sorted by ``ts``; thread-safe, mutable.

    The replica server reads it live, so a test may add captures between runs.
    """

    def __init__(
        self,
        terminal: str = "apm",
        streams: Sequence[str] = DEFAULT_STREAMS,
        now: datetime | None = None,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        self.terminal = terminal
        self.streams: tuple[str, ...] = tuple(streams)
        self.timezone = timezone
        self.now = now if now is not None else site_now(timezone)
        self._data: dict[Key, list[CaptureSpec]] = {}
        self._lock = threading.RLock()

    # -- MutableMapping -------------------------------------------------------------------
    def __getitem__(self, key: Key) -> list[CaptureSpec]:
        with self._lock:
            return self._data[key]

    def __setitem__(self, key: Key, value: Iterable[CaptureSpec]) -> None:
        stream, day = key
        items = sorted(value)
        for spec in items:
            if spec.ts.date() != day:
                raise ValueError(f"{spec.ts} is not on {day}")
        with self._lock:
            self._add_stream(stream)
            self._data[(stream, day)] = items

    def __delitem__(self, key: Key) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Iterator[Key]:
        with self._lock:
            return iter(sorted(self._data))

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._data.values())
        return (
            f"Dataset(terminal={self.terminal!r}, streams={self.streams!r}, "
            f"keys={len(self)}, captures={n})"
        )

    # -- helpers ----------------------------------------------------------------------------
    def _add_stream(self, stream: str) -> None:
        if stream not in self.streams:
            self.streams = (*self.streams, stream)

    def captures(self, stream: str, day: date) -> list[CaptureSpec]:
        """A copy of the day's captures (empty list when none)."""
        with self._lock:
            return list(self._data.get((stream, day), ()))

    def add(self, stream: str, ts: datetime, has_full: bool = True) -> CaptureSpec:
        """Add (or replace) the capture at ``ts``; returns it."""
        spec = CaptureSpec(ts.replace(microsecond=0, tzinfo=None), has_full)
        with self._lock:
            self._add_stream(stream)
            items = self._data.setdefault((stream, spec.ts.date()), [])
            i = bisect.bisect_left([c.ts for c in items], spec.ts)
            if i < len(items) and items[i].ts == spec.ts:
                items[i] = spec
            else:
                items.insert(i, spec)
        return spec

    def remove(self, stream: str, ts: datetime) -> None:
        with self._lock:
            items = self._data.get((stream, ts.date()), [])
            self._data[(stream, ts.date())] = [c for c in items if c.ts != ts]

    def find(self, stream: str, ts: datetime) -> CaptureSpec | None:
        with self._lock:
            items = self._data.get((stream, ts.date()))
            if not items:
                return None
            keys = [c.ts for c in items]
            i = bisect.bisect_left(keys, ts)
            if i < len(items) and items[i].ts == ts:
                return items[i]
        return None

    def days(self, stream: str | None = None) -> list[date]:
        with self._lock:
            return sorted({d for (s, d) in self._data if stream is None or s == stream})

    def latest(
        self, stream: str, limit: int = 4, until: datetime | None = None
    ) -> list[CaptureSpec]:
        """The newest ``limit`` captures of ``stream`` at or before ``until``, newest first."""
        out: list[CaptureSpec] = []
        for day in reversed(self.days(stream)):
            for spec in reversed(self.captures(stream, day)):
                if until is not None and spec.ts > until:
                    continue
                out.append(spec)
                if len(out) >= limit:
                    return out
        return out


def site_now(timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The current naive site-local time, to the second."""
    return datetime.now(ZoneInfo(timezone)).replace(tzinfo=None, microsecond=0)


def make_dataset(
    terminal: str = "apm",
    streams: Sequence[str] = DEFAULT_STREAMS,
    days: Iterable[date] = (),
    now: datetime | None = None,
    seed: int = 1,
    *,
    empty_days: Iterable[date] = (),
    timezone: str = DEFAULT_TIMEZONE,
    interval: int = 600,
    jitter: int = 40,
    outage_rate: float = 0.3,
    thumb_only_rate: float = 0.02,
) -> Dataset:
    """Deterministic synthetic captures.

    Per (stream, day): one capture about every ``interval`` seconds (± ``jitter``), never after
    ``now``; with probability ``outage_rate`` one outage of 1 to 3 hours; about
    ``thumb_only_rate`` of captures are thumbnail-only. Each (stream, day) has its own random
    stream derived from ``seed``, so adding a day never changes the others.
    ``empty_days`` get an entry with no captures.
    """
    tz = ZoneInfo(timezone)
    ds = Dataset(terminal, streams, now, timezone)
    now_utc = _to_utc(ds.now, tz)
    empty = set(empty_days)
    for day in sorted(set(days) | empty):
        for stream in ds.streams:
            if day in empty:
                ds[(stream, day)] = []
                continue
            rng = random.Random(f"{seed}|{terminal}|{stream}|{day.isoformat()}")
            ds[(stream, day)] = _day_captures(
                rng, day, tz, now_utc, interval, jitter, outage_rate, thumb_only_rate
            )
    return ds


def _to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def _day_captures(
    rng: random.Random,
    day: date,
    tz: ZoneInfo,
    now_utc: datetime,
    interval: int,
    jitter: int,
    outage_rate: float,
    thumb_only_rate: float,
) -> list[CaptureSpec]:
    start = _to_utc(datetime.combine(day, time()), tz)
    end = _to_utc(datetime.combine(day + timedelta(days=1), time()), tz)
    outage: tuple[datetime, datetime] | None = None
    if rng.random() < outage_rate:
        length = timedelta(seconds=rng.randint(3600, 3 * 3600))
        span = max(0, int((end - start - length).total_seconds()))
        o_start = start + timedelta(seconds=rng.randint(0, span))
        outage = (o_start, o_start + length)
    t = start + timedelta(seconds=rng.randint(5, interval - 5))
    seen: set[datetime] = set()
    out: list[CaptureSpec] = []
    limit = min(end, now_utc + timedelta(seconds=1))
    while t < limit:
        local = t.astimezone(tz).replace(tzinfo=None)
        in_outage = outage is not None and outage[0] <= t < outage[1]
        has_full = rng.random() >= thumb_only_rate
        if not in_outage and local.date() == day and local not in seen:
            seen.add(local)
            out.append(CaptureSpec(local, has_full))
        t += timedelta(seconds=interval + rng.randint(-jitter, jitter))
    out.sort()
    return out
