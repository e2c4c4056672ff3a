"""The page's static files: the pinned npm builds of Vue and Element Plus, and our app."""

from __future__ import annotations

import threading
from pathlib import Path

STATIC_DIR = Path(__file__).with_name("static")
NODE_MODULES = Path(__file__).with_name("node_modules")
# /vendor/{name} -> the pinned npm global builds (no build step)
VENDOR_FILES = {
    "vue.global.prod.js": ("vue/dist/vue.global.prod.js", "application/javascript"),
    "element-plus.full.min.js": ("element-plus/dist/index.full.min.js", "application/javascript"),
    "element-plus.css": ("element-plus/dist/index.css", "text/css; charset=utf-8"),
}
# /assets/{name} -> our app in static/
ASSET_TYPES = {"app.js": "application/javascript", "app.css": "text/css"}


class VendorMissing(RuntimeError):
    """The pinned npm packages the page loads are not installed."""


_vendor_cache: dict[str, tuple[bytes, str]] = {}
_vendor_lock = threading.Lock()


def check_vendor() -> None:
    missing = [str(NODE_MODULES / rel) for rel, _ in VENDOR_FILES.values()]
    missing = [p for p in missing if not Path(p).is_file()]
    if missing:
        raise VendorMissing(
            "the replica page needs Vue and Element Plus from npm; run "
            f"`npm ci --prefix tests/replica` (or `make replica-deps`). Missing: {missing[0]}"
        )


def vendor_file(name: str) -> tuple[bytes, str] | None:
    """The bytes of one pinned npm build (read once per process)."""
    if name not in VENDOR_FILES:
        return None
    with _vendor_lock:
        if name not in _vendor_cache:
            rel, ctype = VENDOR_FILES[name]
            try:
                _vendor_cache[name] = ((NODE_MODULES / rel).read_bytes(), ctype)
            except FileNotFoundError:
                return None
        return _vendor_cache[name]


def asset_file(name: str, cache: dict[str, tuple[bytes, str]]) -> tuple[bytes, str] | None:
    """The bytes of one of our static files (read once per replica, into ``cache``)."""
    if name not in ASSET_TYPES:
        return None
    if name not in cache:
        cache[name] = ((STATIC_DIR / name).read_bytes(), ASSET_TYPES[name] + "; charset=utf-8")
    return cache[name]
