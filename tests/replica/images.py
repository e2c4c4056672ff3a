"""Deterministic JPEG images for the replica CDN (Pillow, cached in memory)."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from functools import lru_cache

from PIL import Image, ImageDraw

FULL_SIZE = (160, 120)
THUMB_SIZE = (64, 48)
VARIANTS = ("full", "thumbnail")


def _colour(seed: bytes, offset: int) -> tuple[int, int, int]:
    return (seed[offset], seed[offset + 1], seed[offset + 2])


@lru_cache(maxsize=256)
def render_full(terminal: str, stream: str, ts: datetime) -> Image.Image:
    """The full-size picture of a capture at instant ``ts`` (a gradient, stream and UTC stamp)."""
    seed = hashlib.sha256(f"{terminal}|{stream}|{ts.isoformat()}".encode()).digest()
    w, h = FULL_SIZE
    top, bottom = _colour(seed, 0), _colour(seed, 3)
    img = Image.new("RGB", FULL_SIZE)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        f = y / (h - 1)
        draw.line(
            [(0, y), (w, y)],
            fill=tuple(int(a + (b - a) * f) for a, b in zip(top, bottom, strict=True)),
        )
    # a "truck" whose position depends on the time of day
    x = (ts.hour * 60 + ts.minute) * (w - 40) // (24 * 60)
    draw.rectangle([x, 62, x + 38, 88], fill=_colour(seed, 6), outline=(0, 0, 0))
    draw.rectangle([0, 0, w, 30], fill=(0, 0, 0))
    draw.text((4, 3), f"{terminal.upper()} {stream}", fill=(255, 255, 255))
    draw.text((4, 16), ts.isoformat(), fill=(255, 230, 0))
    return img


@lru_cache(maxsize=16384)
def jpeg_bytes(terminal: str, stream: str, ts: datetime, variant: str) -> bytes:
    """The exact bytes the replica CDN serves for a capture's variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    img = render_full(terminal, stream, ts)
    if variant == "thumbnail":
        img = img.resize(THUMB_SIZE, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()
