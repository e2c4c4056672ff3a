"""The request handler's base: connection bookkeeping, the request log and the ways to answer
(a body, JSON, a 404, a reset). The routes are mixins of it (cdn.py, routes.py)."""

from __future__ import annotations

import io
import json
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from .records import RequestRecord

if TYPE_CHECKING:
    from .replica import Replica
    from .server import ReplicaServer


class Reset(Exception):
    """Raised inside the handler to reset the connection."""


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: ReplicaServer
    _conn_id = 0
    _started = 0.0
    _fault_name = ""
    _view: Replica | None = None

    # -- connection bookkeeping -----------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        replica = self.server.replica
        self.connection.settimeout(replica.keepalive_timeout)  # keep-alive idle limit
        self._conn_id = replica.connections.register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.replica.connections.unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return self.server_version

    @property
    def rep(self) -> Replica:
        # The view of the request's terminal (Replica.view), set by the dispatch.
        return self._view or self.server.replica

    # -- responses ------------------------------------------------------------------------
    def _record(self, status: int) -> None:
        self.rep.requests.append(
            RequestRecord(
                self.command,
                self.path,
                status,
                self._started,
                time.monotonic(),
                self._fault_name,
                self._conn_id,
                self.headers.get("User-Agent", "") if self.headers else "",
            )
        )

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        head: bool = False,
        send_bytes: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body if send_bytes is None else body[:send_bytes])
        self.wfile.flush()
        self._record(status)

    def _not_found(self, head: bool, body: bytes = b"404 Not Found\n") -> None:
        self._send(404, body, "text/plain; charset=utf-8", head=head)

    def _json(self, status: int, payload: Any, head: bool) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, "application/json", {"Cache-Control": "no-store"}, head)

    def _hang_up(self) -> None:
        """Close without an answer, after a "hang" fault (recorded with status 0)."""
        self.close_connection = True
        self._record(0)

    def _reset(self) -> None:
        """Abort the connection with an RST, sending nothing."""
        self.close_connection = True
        self._record(0)
        conn = self.connection
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # drop the file's reference so close() really closes
            conn.close()
        except OSError:
            pass
        self.wfile = io.BytesIO()  # the handler's final flush goes nowhere
