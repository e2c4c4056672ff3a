"""The HTML the replica serves: the camera page shell (with its config) and the index."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from .dataset import Dataset
from .urls import iso_z

if TYPE_CHECKING:
    from .replica import Replica

TERMINAL_NAMES = {"apm": "APM Terminals"}


def stream_label(stream: str) -> str:
    """``in_gate`` -> ``In Gate``."""
    return " ".join(w.capitalize() for w in stream.split("_"))


def page_html(rep: Replica, stream: str) -> str:
    """The camera page of ``stream``: the app reads its options from ``__DRAYDOG_CONFIG__``."""
    ds = rep.dataset
    config = {
        "terminal": ds.terminal,
        "terminalName": TERMINAL_NAMES.get(ds.terminal, ds.terminal.upper()),
        "stream": stream,
        "streams": [{"name": s, "label": stream_label(s)} for s in ds.streams],
        "api": f"/api/terminal_cameras/{ds.terminal}",
        "liveCount": rep.live_count,
        "gallery": rep.gallery,
        "pageSize": rep.page_size,
        "loadingMask": rep.loading_mask,
        "heading": rep.heading,
        "pageZone": rep.page_zone,
        "timezone": rep.timezone,
        "now": iso_z(rep.now_utc()),  # the site clock, for "today" in either zone
        "today": rep.today().isoformat(),
    }
    cfg = json.dumps(config).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>DrayDog | Terminal Cameras</title>\n"
        '<link rel="icon" href="data:,">\n'
        '<link rel="stylesheet" href="/vendor/element-plus.css">\n'
        '<link rel="stylesheet" href="/assets/app.css">\n'
        f"<script>window.__DRAYDOG_CONFIG__ = {cfg};</script>\n"
        '<script src="/vendor/vue.global.prod.js"></script>\n'
        '<script src="/vendor/element-plus.full.min.js"></script>\n'
        '<script defer src="/assets/app.js"></script>\n'
        '</head>\n<body>\n<div id="app"></div>\n</body>\n</html>\n'
    )


def index_html(ds: Dataset) -> str:
    """``/``: a link to each stream's camera page."""
    links = "".join(
        f'<li><a href="/terminal_cameras/{ds.terminal}?streamName={s}#camera-history">'
        f"{html.escape(stream_label(s))}</a></li>"
        for s in ds.streams
    )
    return f"<!DOCTYPE html><title>DrayDog</title><ul>{links}</ul>"
