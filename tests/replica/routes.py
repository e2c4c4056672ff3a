"""The site's routes: the camera page, its static files and its JSON API (history, latest)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from .dataset import as_utc
from .handler import BaseHandler
from .markup import index_html, page_html
from .urls import iso_z
from .vendor import asset_file, vendor_file


class PageRoutes(BaseHandler):
    def _stream_ok(self, terminal: str, stream: str | None) -> bool:
        ds = self.rep.dataset
        return terminal == ds.terminal and stream in ds.streams

    # -- the page -------------------------------------------------------------------------
    def _page(self, terminal: str, query: dict[str, str], head: bool) -> None:
        ds = self.rep.dataset
        stream = query.get("streamName") or (ds.streams[0] if ds.streams else None)
        if not self._stream_ok(terminal, stream):
            self._not_found(head, b"<!DOCTYPE html><title>404</title><h1>404 Not Found</h1>")
            return
        assert stream is not None
        fault = self.rep.faults.next_page()
        if fault is not None and fault.kind != "ok":
            self._fault_name = fault.name
            if fault.kind == "hang":  # the document never finishes loading
                self.rep._stop.wait(self.rep.faults.hang_seconds)
                self._hang_up()
                return
            if fault.kind == "slow":
                self.rep._stop.wait(fault.arg if fault.arg is not None else 5.0)
            elif fault.kind == "fail":
                self._send(500, b"500 Internal Server Error\n", "text/plain", head=head)
                return
        body = page_html(self.rep, stream).encode()
        self._send(200, body, "text/html; charset=utf-8", {"Cache-Control": "no-cache"}, head)

    def _index(self, head: bool) -> None:
        body = index_html(self.rep.dataset).encode()
        self._send(200, body, "text/html; charset=utf-8", head=head)

    def _asset(self, name: str, head: bool) -> None:
        content = asset_file(name, self.rep._assets)
        if content is None:
            self._not_found(head)
            return
        body, ctype = content
        self._send(200, body, ctype, {"Cache-Control": "no-cache"}, head)

    def _vendor(self, name: str, head: bool) -> None:
        content = vendor_file(name)
        if content is None:
            self._not_found(head)
            return
        body, ctype = content
        # pinned by the lock file: let the browser cache them across page loads
        self._send(200, body, ctype, {"Cache-Control": "public, max-age=86400"}, head)

    # -- the API --------------------------------------------------------------------------
    def _api(self, terminal: str, kind: str, query: dict[str, str], head: bool) -> None:
        stream = query.get("stream")
        if not self._stream_ok(terminal, stream):
            self._json(404, {"error": "not found"}, head)
            return
        assert stream is not None
        camera = stream not in self.rep.no_camera
        base: dict[str, Any] = {"terminal": terminal, "stream": stream, "camera": camera}
        if kind == "latest":
            self._latest(stream, camera, base, query, head)
        else:
            self._history(stream, camera, base, query, head)

    def _latest(
        self, stream: str, camera: bool, base: dict[str, Any], query: dict[str, str], head: bool
    ) -> None:
        rep = self.rep
        if rep.api_delay > 0:
            rep._stop.wait(rep.api_delay)
        try:
            limit = max(1, min(50, int(query.get("limit", rep.live_count))))
        except ValueError:
            limit = rep.live_count
        now = rep.now_utc()
        specs = rep.dataset.latest(stream, limit, until=now) if camera else []
        images = [
            rep._image_json(stream, s, "full" if s.is_full(now) else "thumbnail") for s in specs
        ]
        self._json(200, {**base, "images": images}, head)

    def _history(
        self, stream: str, camera: bool, base: dict[str, Any], query: dict[str, str], head: bool
    ) -> None:
        rep = self.rep
        ds = rep.dataset
        day: date | None = None
        try:
            if "date" in query:
                day = date.fromisoformat(query["date"])
                start, end = ds.day_range(day)
                base["date"] = day.isoformat()
            else:
                start = datetime.fromisoformat(query["start"])
                end = datetime.fromisoformat(query["end"])
                if start.tzinfo is None or end.tzinfo is None or end <= start:
                    raise ValueError("start/end must be ordered instants with a zone")
                start, end = as_utc(start), as_utc(end)
                base["start"], base["end"] = iso_z(start), iso_z(end)
        except (KeyError, ValueError):
            self._json(400, {"error": "give date=YYYY-MM-DD or start= and end= instants"}, head)
            return
        fault = rep.faults.next_api()
        if fault is not None:
            self._fault_name = fault.name if fault.kind != "ok" else ""
            if fault.kind == "hang":
                rep._stop.wait(rep.faults.hang_seconds)
                self._hang_up()
                return
            if fault.kind == "slow":
                rep._stop.wait(fault.arg if fault.arg is not None else rep.faults.slow_seconds)
        if rep.api_delay > 0:
            rep._stop.wait(rep.api_delay)
        if fault is not None and fault.kind == "fail":
            self._json(500, {"error": "Internal Server Error"}, head)
            return
        now = rep.now_utc()
        specs = [s for s in ds.between(stream, start, end) if s.is_published(now)] if camera else []
        images = [rep._image_json(stream, s, "thumbnail") for s in specs]
        if day is None:  # history_extra is keyed by the site-local day
            day = ds.local_day(start + (end - start) / 2)
        extra = rep.history_extra.get((stream, day), [])
        images += [{"time": iso_z(start), "url": url} for url in extra]
        self._json(200, {**base, "images": images}, head)
