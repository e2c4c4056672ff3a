"""The HTTP plumbing: one threading server on a loopback port, its request dispatch, and
starting and stopping it for a Replica."""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .cdn import CdnRoutes
from .handler import Reset
from .routes import PageRoutes

if TYPE_CHECKING:
    from .replica import Replica


class ReplicaServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    replica: Replica

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # a client that went away (a killed browser, a reset): nothing to report
        super().handle_error(request, client_address)


class Handler(CdnRoutes, PageRoutes):
    """Routes each request to the CDN, the page, the API or the static files."""

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_POST(self) -> None:
        self._started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": "GET, HEAD"})

    def _dispatch(self, head: bool) -> None:
        self._started = time.monotonic()
        self._fault_name = ""
        self._view = None
        connections = self.server.replica.connections
        token = connections.begin(self.command, self.path)
        try:
            self._dispatch_inner(head)
        finally:
            connections.end(token)

    def _dispatch_inner(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        terminal = re.match(r"/(?:cdn|terminal_cameras|api/terminal_cameras)/([^/]+)", path)
        if terminal:
            self._view = self.server.replica.view(terminal.group(1))
        try:
            if path.startswith("/cdn/"):
                self._cdn(path, head)
            elif m := re.fullmatch(r"/terminal_cameras/([^/]+)/?", path):
                self._page(m.group(1), query, head)
            elif m := re.fullmatch(r"/api/terminal_cameras/([^/]+)/(history|latest)", path):
                self._api(m.group(1), m.group(2), query, head)
            elif path.startswith("/vendor/"):
                self._vendor(path[len("/vendor/") :], head)
            elif path.startswith("/assets/"):
                self._asset(path[len("/assets/") :], head)
            elif path == "/":
                self._index(head)
            elif self.rep.catch_all:
                self._junk_jpeg(head)
            else:
                self._not_found(head)
        except Reset:
            self._reset()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def serve(replica: Replica, host: str, port: int) -> tuple[ReplicaServer, threading.Thread]:
    """Bind ``host:port`` (0: a free port) and serve ``replica`` on a daemon thread."""
    server = ReplicaServer((host, port), Handler)
    server.replica = replica
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.name = f"replica-{server.server_address[1]}"
    thread.start()
    return server, thread


def shut_down(server: ReplicaServer, thread: threading.Thread | None) -> None:
    """Stop accepting, then cut the open (kept-alive) connections and wait for the thread."""
    server.shutdown()
    server.server_close()
    for conn in server.replica.connections.sockets():
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
    if thread is not None:
        thread.join(timeout=5)
