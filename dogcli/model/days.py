"""Days as a person types them on the command line: one parser for `--since`, `--until` and
backfill's ranges, with the same one-line errors everywhere."""

from __future__ import annotations

import re
from datetime import date, timedelta

from dogcli.model.errors import UsageError

_RANGE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?$")
# A range beyond these cannot be meant (`0025-09-01` for 2025): it would hold the lock for
# hundreds of thousands of pages, so it is refused before anything starts.
EARLIEST_DAY = date(2000, 1, 1)
MAX_RANGE_DAYS = 3660  # about ten years


def parse_day(option: str, text: str | None) -> date | None:
    """`YYYY-MM-DD` given to `option` (None: not given)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"bad {option} {text!r}: use YYYY-MM-DD") from None


def parse_since(text: str | None) -> date | None:
    return parse_day("--since", text)


def parse_range(text: str, today: date) -> tuple[date, date]:
    """`YYYY-MM-DD..YYYY-MM-DD` (inclusive) or one `YYYY-MM-DD`; no reversed or future days,
    none before EARLIEST_DAY, at most MAX_RANGE_DAYS."""
    match = _RANGE_RE.match(text.strip())
    if not match:
        raise UsageError(f"bad range {text!r}: use YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD")
    try:
        first = date.fromisoformat(match[1])
        last = date.fromisoformat(match[2] or match[1])
    except ValueError as exc:
        raise UsageError(f"bad range {text!r}: {exc}") from None
    if last < first:
        raise UsageError(f"bad range {text!r}: {last} is before {first}")
    if last > today:
        raise UsageError(f"bad range {text!r}: {last} is in the future (today is {today})")
    if first < EARLIEST_DAY:
        raise UsageError(f"bad range {text!r}: {first} is before {EARLIEST_DAY}")
    span = (last - first).days + 1
    if span > MAX_RANGE_DAYS:
        raise UsageError(
            f"bad range {text!r}: {span} days, more than {MAX_RANGE_DAYS} (give a shorter one)"
        )
    return first, last


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
