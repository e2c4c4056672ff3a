"""The replica's data: which captures exist, per stream, as instants.

A capture is an instant (an aware UTC datetime, to the second), like the real site whose URLs
are stamped in UTC. The page's days are local days of the site's zone (America/Los_Angeles by
default), so a day is a UTC range of 23, 24 or 25 hours; ``captures(stream, day)`` selects by
that range. A capture may be published (listed by the page) or get its full size on the CDN
some time after its instant (``publish_delay``/``full_delay``), so what is served depends on
the replica's clock.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "America/Los_Angeles"
DEFAULT_STREAMS: tuple[str, ...] = ("in_gate", "out_gate")

Key = tuple[str, date]
Clock = datetime | Callable[[], datetime]


def as_utc(value: datetime, naive_zone: str | None = None) -> datetime:
    """An aware UTC datetime to the second. A naive value is read in ``naive_zone`` (the site's
    wall clock); without one it is refused: a naive capture instant is ambiguous."""
    if value.tzinfo is None:
        if naive_zone is None:
            raise ValueError(f"{value!r} is naive: give capture instants as aware datetimes")
        value = value.replace(tzinfo=ZoneInfo(naive_zone))
    return value.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True, order=True)
class CaptureSpec:
    """One capture at instant ``utc``.

    It always has a thumbnail; ``has_full=False`` means the full-size URL is a 404 forever.
    ``publish_delay``: seconds after ``utc`` before the page lists it (and the CDN serves it);
    ``full_delay``: seconds after ``utc`` before the CDN serves the full size.
    """

    utc: datetime
    has_full: bool = True
    publish_delay: float = 0.0
    full_delay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "utc", as_utc(self.utc))

    def published_at(self) -> datetime:
        return self.utc + timedelta(seconds=self.publish_delay)

    def full_at(self) -> datetime | None:
        """When the full size appears on the CDN (None: never)."""
        if not self.has_full:
            return None
        return max(self.utc + timedelta(seconds=self.full_delay), self.published_at())

    def is_published(self, now: datetime) -> bool:
        return self.published_at() <= now

    def is_full(self, now: datetime) -> bool:
        at = self.full_at()
        return at is not None and at <= now


@dataclass
class _Stream:
    caps: list[CaptureSpec] = field(default_factory=list)  # sorted by utc, unique utc
    keys: list[datetime] = field(default_factory=list)  # the utc of each, for bisect


class Dataset(MutableMapping[Key, list[CaptureSpec]]):
    """Captures per stream, thread-safe and mutable (the server reads it live).

    As a mapping it is keyed by ``(stream, local day)``: ``ds[(s, d)]`` is ``captures(s, d)``,
    and assigning replaces that local day's captures. Its keys are the days declared
    (``make_dataset``'s days, assigned keys) plus the days that hold captures.
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
        self.tz = ZoneInfo(timezone)
        self.now = as_utc(now, timezone) if now is not None else as_utc(datetime.now(UTC))
        self._streams: dict[str, _Stream] = {}
        self._declared: set[Key] = set()
        self._lock = threading.RLock()

    # -- local days -------------------------------------------------------------------------
    def local_day(self, instant: datetime) -> date:
        """The site-local day of an instant."""
        return as_utc(instant).astimezone(self.tz).date()

    def day_range(self, day: date) -> tuple[datetime, datetime]:
        """The UTC instants [start, end) of a site-local day (23, 24 or 25 hours long)."""
        start = datetime.combine(day, time(), self.tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), self.tz).astimezone(UTC)
        return start, end

    # -- MutableMapping -------------------------------------------------------------------
    def __getitem__(self, key: Key) -> list[CaptureSpec]:
        with self._lock:
            if key not in self._keys():
                raise KeyError(key)
            return self.captures(*key)

    def __setitem__(self, key: Key, value: Iterable[CaptureSpec]) -> None:
        stream, day = key
        items = list(value)
        for spec in items:
            if self.local_day(spec.utc) != day:
                raise ValueError(f"{spec.utc} is not on the local day {day}")
        with self._lock:
            self.clear_day(stream, day)
            self._declared.add(key)
            for spec in items:
                self.put(stream, spec)

    def __delitem__(self, key: Key) -> None:
        with self._lock:
            if key not in self._keys():
                raise KeyError(key)
            self.clear_day(*key)
            self._declared.discard(key)

    def __iter__(self) -> Iterator[Key]:
        with self._lock:
            return iter(sorted(self._keys()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys())

    def __repr__(self) -> str:
        n = sum(len(s.caps) for s in self._streams.values())
        return (
            f"Dataset(terminal={self.terminal!r}, streams={self.streams!r}, "
            f"keys={len(self)}, captures={n})"
        )

    def _keys(self) -> set[Key]:
        keys = set(self._declared)
        for name, st in self._streams.items():
            keys.update((name, self.local_day(c.utc)) for c in st.caps)
        return keys

    # -- captures ---------------------------------------------------------------------------
    def _stream(self, stream: str) -> _Stream:
        if stream not in self.streams:
            self.streams = (*self.streams, stream)
        return self._streams.setdefault(stream, _Stream())

    def put(self, stream: str, spec: CaptureSpec) -> CaptureSpec:
        """Add ``spec``, replacing any capture of the stream at the same instant."""
        with self._lock:
            st = self._stream(stream)
            i = bisect.bisect_left(st.keys, spec.utc)
            if i < len(st.keys) and st.keys[i] == spec.utc:
                st.caps[i] = spec
            else:
                st.caps.insert(i, spec)
                st.keys.insert(i, spec.utc)
        return spec

    def add(
        self,
        stream: str,
        utc: datetime,
        has_full: bool = True,
        publish_delay: float = 0.0,
        full_delay: float = 0.0,
    ) -> CaptureSpec:
        """Add (or replace) the capture at instant ``utc`` (aware); returns it."""
        return self.put(stream, CaptureSpec(utc, has_full, publish_delay, full_delay))

    def remove(self, stream: str, utc: datetime) -> None:
        utc = as_utc(utc)
        with self._lock:
            st = self._streams.get(stream)
            if st is None:
                return
            i = bisect.bisect_left(st.keys, utc)
            if i < len(st.keys) and st.keys[i] == utc:
                del st.caps[i], st.keys[i]

    def clear_day(self, stream: str, day: date) -> None:
        start, end = self.day_range(day)
        with self._lock:
            st = self._streams.get(stream)
            if st is None:
                return
            i, j = bisect.bisect_left(st.keys, start), bisect.bisect_left(st.keys, end)
            del st.caps[i:j], st.keys[i:j]

    def find(self, stream: str, utc: datetime) -> CaptureSpec | None:
        utc = as_utc(utc)
        with self._lock:
            st = self._streams.get(stream)
            if st is None:
                return None
            i = bisect.bisect_left(st.keys, utc)
            if i < len(st.keys) and st.keys[i] == utc:
                return st.caps[i]
        return None

    def between(self, stream: str, start: datetime, end: datetime) -> list[CaptureSpec]:
        """Captures with ``start <= utc < end``, sorted by instant (published or not)."""
        start, end = as_utc(start), as_utc(end)
        with self._lock:
            st = self._streams.get(stream)
            if st is None:
                return []
            i, j = bisect.bisect_left(st.keys, start), bisect.bisect_left(st.keys, end)
            return st.caps[i:j]

    def captures(self, stream: str, day: date) -> list[CaptureSpec]:
        """The captures of a site-local day, sorted by instant (published or not)."""
        return self.between(stream, *self.day_range(day))

    def all(self, stream: str) -> list[CaptureSpec]:
        with self._lock:
            st = self._streams.get(stream)
            return list(st.caps) if st else []

    def days(self, stream: str | None = None) -> list[date]:
        with self._lock:
            return sorted({d for (s, d) in self._keys() if stream is None or s == stream})

    def latest(
        self, stream: str, limit: int = 4, until: datetime | None = None
    ) -> list[CaptureSpec]:
        """The newest ``limit`` captures published at ``until`` (aware), newest first."""
        out: list[CaptureSpec] = []
        for spec in reversed(self.all(stream)):
            if until is not None and not spec.is_published(until):
                continue
            out.append(spec)
            if len(out) >= limit:
                break
        return out


def site_now(timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The current time as an aware datetime in the site's zone, to the second."""
    return datetime.now(ZoneInfo(timezone)).replace(microsecond=0)


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
    """Deterministic synthetic captures for site-local ``days``.

    ``now``: aware, or naive site-local wall time; no capture is generated after it.
    Per (stream, day): one capture about every ``interval`` seconds (± ``jitter``) over the
    day's real UTC range (so 23 or 25 hours on DST days); with probability ``outage_rate`` one
    outage of 1 to 3 hours; about ``thumb_only_rate`` of captures are thumbnail-only. Each
    (stream, day) has its own random stream derived from ``seed``, so adding a day never
    changes the others. ``empty_days`` are declared with no captures.
    """
    ds = Dataset(terminal, streams, now, timezone)
    empty = set(empty_days)
    for day in sorted(set(days) | empty):
        for stream in ds.streams:
            if day in empty:
                ds[(stream, day)] = []
                continue
            rng = random.Random(f"{seed}|{terminal}|{stream}|{day.isoformat()}")
            start, end = ds.day_range(day)
            ds[(stream, day)] = _day_captures(
                rng, start, end, ds.now, interval, jitter, outage_rate, thumb_only_rate
            )
    return ds


def _day_captures(
    rng: random.Random,
    start: datetime,
    end: datetime,
    now: datetime,
    interval: int,
    jitter: int,
    outage_rate: float,
    thumb_only_rate: float,
) -> list[CaptureSpec]:
    outage: tuple[datetime, datetime] | None = None
    if rng.random() < outage_rate:
        length = timedelta(seconds=rng.randint(3600, 3 * 3600))
        span = max(0, int((end - start - length).total_seconds()))
        o_start = start + timedelta(seconds=rng.randint(0, span))
        outage = (o_start, o_start + length)
    t = start + timedelta(seconds=rng.randint(5, interval - 5))
    out: list[CaptureSpec] = []
    limit = min(end, now + timedelta(seconds=1))
    while t < limit:
        in_outage = outage is not None and outage[0] <= t < outage[1]
        has_full = rng.random() >= thumb_only_rate
        if not in_outage:
            out.append(CaptureSpec(t, has_full))
        t += timedelta(seconds=interval + rng.randint(-jitter, jitter))
    return out
