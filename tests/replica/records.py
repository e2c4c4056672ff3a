"""What the replica saw: the request log, the open connections and the requests in flight."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass


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


class Connections:
    """The TCP connections open now (numbered in accept order) and the requests being
    handled, so that stop() can shut the idle keep-alive ones and tests can see a hung call."""

    def __init__(self) -> None:
        self._conns: dict[socket.socket, int] = {}
        self._in_flight: dict[object, tuple[str, str]] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def register(self, conn: socket.socket) -> int:
        with self._lock:
            self._seq += 1
            self._conns[conn] = self._seq
            return self._seq

    def unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.pop(conn, None)

    def sockets(self) -> list[socket.socket]:
        with self._lock:
            return list(self._conns)

    def __len__(self) -> int:
        with self._lock:
            return len(self._conns)

    def begin(self, method: str, path: str) -> object:
        token = object()
        with self._lock:
            self._in_flight[token] = (method, path)
        return token

    def end(self, token: object) -> None:
        with self._lock:
            self._in_flight.pop(token, None)

    def in_flight(self, path_substring: str | None = None) -> list[tuple[str, str]]:
        """(method, path) of the requests being handled right now."""
        with self._lock:
            items = list(self._in_flight.values())
        return [i for i in items if path_substring is None or path_substring in i[1]]
