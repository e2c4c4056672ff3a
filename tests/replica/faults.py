"""Deterministic fault injection for the replica.

CDN faults are queues of behaviours consumed one per request, in order; once a queue is
exhausted the answer is "ok". A kind written ``always:<kind>`` is never consumed (every later
request gets it). Kinds:

- ``"ok"``: the normal answer;
- ``"404"``, ``"500"``, ``"502"``, ``"503"``: that status with a small text body;
- ``"429"`` or ``"429:N"``: 429 with ``Retry-After: N`` (default ``Faults.retry_after``);
- ``"reset"``: the connection is reset (RST) before any byte of the answer is sent;
- ``"truncate"``: headers with the full Content-Length, half the body, then the connection closes;
- ``"html200"``: status 200, ``text/html``, an HTML error page instead of the JPEG;
- ``"slow"`` or ``"slow:S"``: wait S seconds (default ``Faults.slow_seconds``), then answer ok.

API faults (the History JSON the page calls): ``"fail"`` (500), ``"hang"`` (no answer for
``Faults.hang_seconds`` or until the replica stops), ``"slow:S"``, ``"ok"``, and ``always:``.
Page faults (the camera page's HTML document) take the same kinds.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from .dataset import as_utc

CDN_KINDS = frozenset(
    {"ok", "404", "500", "502", "503", "429", "reset", "truncate", "html200", "slow"}
)
API_KINDS = frozenset({"ok", "fail", "hang", "slow"})

Target = str | datetime


@dataclass(frozen=True)
class Fault:
    """A parsed behaviour: ``kind`` plus an optional numeric argument (seconds)."""

    kind: str
    arg: float | None = None

    @property
    def name(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}:{self.arg:g}"


def parse_kind(text: str, allowed: frozenset[str]) -> tuple[Fault, bool]:
    """``"always:429:3"`` -> (Fault("429", 3.0), True)."""
    always = False
    if text.startswith("always:"):
        always, text = True, text[len("always:") :]
    kind, _, arg = text.partition(":")
    if kind not in allowed:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(allowed)}")
    return Fault(kind, float(arg) if arg else None), always


class _Queue:
    def __init__(self, kinds: Iterable[str], allowed: frozenset[str]) -> None:
        self.items: deque[tuple[Fault, bool]] = deque(parse_kind(k, allowed) for k in kinds)

    def pop(self) -> Fault | None:
        if not self.items:
            return None
        fault, always = self.items[0]
        if not always:
            self.items.popleft()
        return fault


def normalise_cdn_path(path_or_url: str, cdn_prefix: str = "/cdn") -> str:
    """A CDN URL or path -> the decoded path below the server root (``/cdn/apm/...``)."""
    path = unquote(urlsplit(path_or_url).path) if "://" in path_or_url else unquote(path_or_url)
    path = path.split("?", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    if not path.startswith(cdn_prefix + "/"):
        path = cdn_prefix + path
    return path


class Faults:
    """Fault plan of one replica. Thread-safe; all methods may be called while it serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retry_after: float = 1
        self.slow_seconds: float = 5.0
        self.hang_seconds: float = 120.0
        self._by_path: dict[str, _Queue] = {}
        self._by_capture: dict[tuple[str | None, datetime, str | None], _Queue] = {}
        self._wildcard: _Queue | None = None
        self._api: _Queue | None = None
        self._page: _Queue | None = None
        self._flaky: tuple[float, tuple[Fault, ...], int] | None = None
        self._attempts: dict[str, int] = {}
        self.injected: list[tuple[str, str]] = []  # (path, fault name) of every fault served

    # -- configuration --------------------------------------------------------------------
    def cdn(
        self,
        target: Target,
        kinds: Sequence[str] | str,
        *,
        stream: str | None = None,
        variant: str | None = None,
    ) -> None:
        """Plan the answers to successive requests for one CDN file.

        ``target`` is a CDN URL or path (``/cdn/apm/2025-09-06/7/...jpeg``, or the same
        without ``/cdn``), ``"*"`` for every CDN file without a plan of its own, or a capture
        instant (an aware ``datetime``, e.g. ``CaptureSpec.utc``) optionally narrowed by
        ``stream`` and ``variant`` (``"full"``/``"thumbnail"``; None means both).
        """
        if isinstance(kinds, str):
            kinds = [kinds]
        queue = _Queue(kinds, CDN_KINDS)
        with self._lock:
            if isinstance(target, datetime):
                self._by_capture[(stream, as_utc(target), variant)] = queue
            elif target == "*":
                self._wildcard = queue
            else:
                self._by_path[normalise_cdn_path(target)] = queue

    def cdn_flaky(
        self, rate: float, kinds: Sequence[str] = ("503", "reset"), seed: int = 0
    ) -> None:
        """Every CDN request without a plan fails with probability ``rate`` (deterministic per
        path and attempt number), with a kind drawn from ``kinds``."""
        parsed = tuple(parse_kind(k, CDN_KINDS)[0] for k in kinds)
        with self._lock:
            self._flaky = (rate, parsed, seed)

    def api(self, kinds: Sequence[str] | str) -> None:
        """Plan the answers to successive History API requests (``fail``/``hang``/``ok``...)."""
        if isinstance(kinds, str):
            kinds = [kinds]
        with self._lock:
            self._api = _Queue(kinds, API_KINDS)

    def page(self, kinds: Sequence[str] | str) -> None:
        """Plan the answers to successive camera page (HTML) requests."""
        if isinstance(kinds, str):
            kinds = [kinds]
        with self._lock:
            self._page = _Queue(kinds, API_KINDS)

    def clear(self) -> None:
        with self._lock:
            self._page = None
            self._by_path.clear()
            self._by_capture.clear()
            self._wildcard = None
            self._api = None
            self._flaky = None
            self._attempts.clear()

    # -- used by the server ---------------------------------------------------------------
    def next_cdn(
        self, path: str, stream: str | None, ts: datetime | None, variant: str | None
    ) -> Fault | None:
        with self._lock:
            n = self._attempts.get(path, 0)
            self._attempts[path] = n + 1
            queues: list[_Queue | None] = [self._by_path.get(path)]
            if ts is not None:
                for key in (
                    (stream, ts, variant),
                    (None, ts, variant),
                    (stream, ts, None),
                    (None, ts, None),
                ):
                    queues.append(self._by_capture.get(key))
            queues.append(self._wildcard)
            for q in queues:
                fault = q.pop() if q is not None else None
                if fault is not None:  # an exhausted plan falls through to the next one
                    return self._record(path, fault)
            if self._flaky is not None:
                rate, kinds, seed = self._flaky
                h = hashlib.sha256(f"{seed}|{path}|{n}".encode()).digest()
                if int.from_bytes(h[:4], "big") / 2**32 < rate:
                    return self._record(path, kinds[h[4] % len(kinds)])
        return None

    def attempts(self) -> dict[str, int]:
        """How many times each CDN path was requested (by anyone) since the last clear()."""
        with self._lock:
            return dict(self._attempts)

    def next_api(self) -> Fault | None:
        with self._lock:
            if self._api is None:
                return None
            return self._record("api", self._api.pop())

    def next_page(self) -> Fault | None:
        with self._lock:
            if self._page is None:
                return None
            return self._record("page", self._page.pop())

    def _record(self, path: str, fault: Fault | None) -> Fault | None:
        if fault is not None and fault.kind != "ok":
            self.injected.append((path, fault.name))
        return fault
