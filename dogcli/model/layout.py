"""The archive's one path scheme, relative to the data dir (or, later, a bucket prefix):

    images/{terminal}/{stream}/{local day}/{stream}_{UTC time}Z.jpg

e.g. `images/apm/in_gate/2025-09-05/in_gate_20250906T002027Z.jpg`. A file of the earlier
layout is named `{stream}_{URL stamp}.jpg` (no Z) in the folder of the stamp's date. Every
module that builds or reads a path asks this one; every part comes from validated names.
"""

from __future__ import annotations

import re
from datetime import date, datetime

IMAGES = "images"
QUARANTINE = "quarantine"  # where verify --repair moves what is not a capture
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# {stream}_{YYYYMMDDTHHMMSS}Z.jpg: the UTC time. Without the Z: a file of the earlier layout.
FILE_RE = re.compile(r"^(?P<stream>[a-z0-9_]+)_(?P<compact>\d{8}T\d{6})(?P<z>Z?)\.jpg$")
# The same for hot loops (100,000 names): groups stream, YYYYMMDD, HH, MM, SS, Z.
FAST_FILE_RE = re.compile(r"^([a-z0-9_]+)_(\d{8})T([01]\d|2[0-3])([0-5]\d)([0-5]\d)(Z?)\.jpg$")


def terminal_dir(terminal: str) -> str:
    return f"{IMAGES}/{terminal}"


def stream_dir(terminal: str, stream: str) -> str:
    return f"{IMAGES}/{terminal}/{stream}"


def day_dir(terminal: str, stream: str, day: date | str) -> str:
    """The folder of one local day; `day` as a date or its YYYY-MM-DD name."""
    name = day if isinstance(day, str) else f"{day:%Y-%m-%d}"
    return f"{IMAGES}/{terminal}/{stream}/{name}"


def file_name(stream: str, taken: datetime) -> str:
    """`taken` is UTC."""
    return f"{stream}_{taken:%Y%m%dT%H%M%S}Z.jpg"


def rel_path(terminal: str, stream: str, day: date, taken: datetime) -> str:
    return f"{day_dir(terminal, stream, day)}/{file_name(stream, taken)}"


def rel_path_of_strings(terminal: str, stream: str, day: str, utc: str) -> str:
    """rel_path from a YYYY-MM-DD day and a YYYY-MM-DDTHH:MM:SS UTC time, without datetime
    (verify builds 100,000 of them)."""
    compact = f"{utc[:4]}{utc[5:7]}{utc[8:10]}T{utc[11:13]}{utc[14:16]}{utc[17:19]}"
    return f"{IMAGES}/{terminal}/{stream}/{day}/{stream}_{compact}Z.jpg"


def parse_day_name(name: str) -> date | None:
    """A day folder's date, or None when the name is not one."""
    if not DAY_RE.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None
