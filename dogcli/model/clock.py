"""The one source of "now": every part of dogcli asks here, so a test can replay a timeline
(fetches every 10 minutes across midnight, a machine off for days, DST nights)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return (_source() if _source is not None else datetime.now(UTC)).astimezone(UTC)


def set_source(source: Callable[[], datetime] | None) -> None:
    """Replace the clock (None: the system clock again)."""
    global _source
    _source = source
