"""The CDN route: ``GET|HEAD /cdn/...`` serves a capture's JPEG, or the fault planned for it."""

from __future__ import annotations

import contextlib
import hashlib
import socket
from datetime import datetime

from .faults import Fault
from .handler import BaseHandler, Reset
from .images import jpeg_bytes

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
    b"<h1>We'll be right back</h1><p>The service is temporarily unavailable. "
    b"Please try again later.</p></body></html>"
)


class CdnRoutes(BaseHandler):
    def _cdn(self, path: str, head: bool) -> None:
        rep = self.server.replica  # the counters are the server's, whatever the terminal
        if rep.cdn_latency > 0:
            rep._stop.wait(rep.cdn_latency)
        with rep._stats_lock:
            rep._cdn_in_flight += 1
            rep.max_cdn_in_flight = max(rep.max_cdn_in_flight, rep._cdn_in_flight)
        try:
            self._cdn_inner(path, head)
        finally:
            with rep._stats_lock:
                rep._cdn_in_flight -= 1

    def _cdn_inner(self, path: str, head: bool) -> None:
        rep = self.rep
        found = rep._parse_cdn_path(path)
        stream, spec, variant = found if found else (None, None, None)
        fault = rep.faults.next_cdn(path, stream, spec.utc if spec else None, variant)
        if fault is not None and fault.kind != "ok":
            self._fault_name = fault.name
            if self._cdn_fault(fault, head):
                return
        if found is None:
            if rep.catch_all:
                self._junk_jpeg(head)
            else:
                self._not_found(head)
            return
        assert stream is not None and spec is not None and variant is not None
        if not rep.served(spec, variant):
            # not yet published, thumbnail-only, or its full size is not there yet
            self._not_found(head)
            return
        body = rep.image_bytes(stream, spec.utc, variant)
        headers = {
            "Cache-Control": "public, max-age=31536000",
            "ETag": f'"{hashlib.md5(body).hexdigest()}"',
            "Accept-Ranges": "bytes",
        }
        if fault is not None and fault.kind == "truncate":
            self.close_connection = True
            self._send(200, body, "image/jpeg", headers, head, send_bytes=len(body) // 2)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(200, body, "image/jpeg", headers, head)

    def _junk_jpeg(self, head: bool) -> None:
        """``catch_all``: any unknown path answers with one small valid JPEG, so that a
        hostile page's odd image URLs load in the browser and stay in its DOM."""
        body = jpeg_bytes("junk", "junk", datetime(2000, 1, 1), "thumbnail")
        self._send(200, body, "image/jpeg", head=head)

    def _cdn_fault(self, fault: Fault, head: bool) -> bool:
        """Serve ``fault``; True when the answer is complete, False to go on with "ok"."""
        rep = self.rep
        kind = fault.kind
        if kind == "reset":
            raise Reset
        if kind == "slow":
            rep._stop.wait(fault.arg if fault.arg is not None else rep.faults.slow_seconds)
            return False
        if kind == "truncate":
            return False  # handled when the body is sent
        if kind == "html200":
            self._send(200, HTML_ERROR_PAGE, "text/html; charset=utf-8", head=head)
            return True
        if kind == "429":
            after = fault.arg if fault.arg is not None else rep.faults.retry_after
            self._send(
                429,
                b"429 Too Many Requests\n",
                "text/plain",
                {"Retry-After": f"{after:g}"},
                head,
            )
            return True
        status = int(kind)
        reason = self.responses.get(status, ("Error",))[0]
        self._send(status, f"{status} {reason}\n".encode(), "text/plain", head=head)
        return True
