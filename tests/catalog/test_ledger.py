"""The completeness ledger's rules, tested directly on a real catalog (no browser, no site):
what a read settles, what stays wanted and why, recounting, retention, rebuilding, and the
settle moment and overdue hours of the 23- and 25-hour days."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from dogcli.catalog.captures import Catalog
from dogcli.catalog.days import (
    ANY,
    FULL_SIZE,
    DayRead,
    DayState,
    Wanted,
    leaves_ledger,
    overdue,
    satisfied,
    settle_moment,
    want_of,
)
from dogcli.catalog.ledger import Ledger, archive_days, incomplete_days
from dogcli.config import Settings
from dogcli.model.captures import FULL, THUMBNAIL, Zones
from dogcli.storage.base import StoredFile

URL_ZONE = ZoneInfo("UTC")  # the zone of the URL stamps
ZONES = Zones(ZoneInfo("America/Los_Angeles"), URL_ZONE)
SETTLE = 3.0
DAY = date(2025, 9, 5)  # PDT: 2025-09-05 07:00 UTC to 2025-09-06 07:00 UTC
S1, S2, S3 = "2025-09-05T08:00:00", "2025-09-05T12:00:00", "2025-09-06T06:50:00"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def url(ts: str) -> str:
    return f"http://cdn/apm/{ts[:10]}/x/{ts}-in_gate.jpeg"


def store(
    catalog: Catalog,
    *stamps: str,
    variant: str = FULL,
    stream: str = "in_gate",
    terminal: str = "apm",
    size: int = 100,
    replace: bool = False,
) -> None:
    records = [
        StoredFile(
            terminal=terminal, stream=stream, url_ts=ts, variant=variant,
            path=ZONES.capture(terminal, stream, ts).rel_path, bytes=size,
            sha256=hashlib.sha256(ts.encode()).hexdigest(), source_url=url(ts),
            downloaded_at="2025-09-07T00:00:00+00:00",
        )
        for ts in stamps
    ]  # fmt: skip
    catalog.insert(records, URL_ZONE, replace=replace)


def read(
    day: date,
    stamps: Sequence[str],
    at: datetime,
    failures: dict[str, str] | None = None,
    stream: str = "in_gate",
) -> DayRead:
    """A complete read of the day's page, settling as collect decides it."""
    listed = {ts: url(ts) for ts in stamps}
    return DayRead(stream, day, listed, failures or {}, at, at >= settle_moment(ZONES, day, SETTLE))


def only(ledger: Ledger, stream: str = "in_gate") -> DayState:
    (state,) = ledger.days([stream])
    return state


def delete_all(catalog: Catalog, terminal: str = "apm") -> None:
    ids = [i for i, _path, _size in catalog.oldest_before(terminal, utc(2100, 1, 1), 10_000)]
    catalog.delete_ids(ids)


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog(f"sqlite:///{tmp_path / 'catalog.db'}") as opened:
        opened.upgrade()
        yield opened


@pytest.fixture
def any_catalog(db_url: str) -> Iterator[Catalog]:
    """The same on SQLite and on PostgreSQL."""
    with Catalog(db_url) as opened:
        opened.upgrade()
        yield opened


# -- settling ----------------------------------------------------------------------------------


def test_a_read_before_the_settle_moment_does_not_settle_the_day_and_the_first_after_does(
    catalog: Catalog,
) -> None:
    ledger = Ledger(catalog, "apm", ZONES)
    store(catalog, S1, S2)
    due = settle_moment(ZONES, DAY, SETTLE)
    assert due == utc(2025, 9, 6, 10, 0)  # midnight PDT is 07:00 UTC, plus three hours

    early = due - timedelta(minutes=1)
    ledger.record([read(DAY, [S1, S2], early)])
    state = only(ledger)
    assert (state.listed, state.stored, state.missing) == (2, 2, 0)
    assert state.last_read == early and state.settled_at is None and not state.settled

    ledger.record([read(DAY, [S1, S2], due)])
    assert only(ledger).settled_at == due

    later = due + timedelta(hours=5)
    ledger.record([read(DAY, [S1, S2], later)])
    state = only(ledger)
    assert state.settled_at == due  # the first settling read, not the newest
    assert state.last_read == later


# -- what stays wanted -------------------------------------------------------------------------


def test_listed_but_not_stored_captures_are_wanted_with_attempts_and_last_error(
    any_catalog: Catalog,
) -> None:
    ledger = Ledger(any_catalog, "apm", ZONES)
    store(any_catalog, S1)
    t1 = utc(2025, 9, 6, 8, 0)
    ledger.record([read(DAY, [S1, S2, S3], t1, {S2: "HTTP 503"})])
    assert ledger.wanted(["in_gate"]) == [
        Wanted("in_gate", S2, DAY, ANY, url(S2), 1, "HTTP 503"),
        Wanted("in_gate", S3, DAY, ANY, url(S3), 0, ""),
    ]
    state = only(ledger)
    assert (state.listed, state.stored, state.full, state.missing) == (3, 1, 1, 2)

    # Read again: a new failure counts and replaces the error; no failure keeps the last one.
    ledger.record([read(DAY, [S1, S2, S3], t1 + timedelta(hours=1), {S3: "timeout"})])
    assert ledger.wanted(["in_gate"]) == [
        Wanted("in_gate", S2, DAY, ANY, url(S2), 1, "HTTP 503"),
        Wanted("in_gate", S3, DAY, ANY, url(S3), 1, "timeout"),
    ]

    store(any_catalog, S2)
    ledger.record([read(DAY, [S1, S2, S3], t1 + timedelta(hours=2), {S3: "HTTP 404"})])
    assert ledger.wanted(["in_gate"]) == [Wanted("in_gate", S3, DAY, ANY, url(S3), 2, "HTTP 404")]
    state = only(ledger)
    assert (state.stored, state.missing) == (2, 1)
    assert ledger.wanted(["in_gate"], since=DAY + timedelta(days=1)) == []
    assert ledger.wanted(["out_gate"]) == []


def test_retries_count_their_failures_and_a_stored_retry_is_wanted_no_more(
    catalog: Catalog,
) -> None:
    ledger = Ledger(catalog, "apm", ZONES)
    ledger.record([read(DAY, [S1, S2, S3], utc(2025, 9, 6, 8, 0))])
    assert only(ledger).missing == 3

    store(catalog, S1)
    at = utc(2025, 9, 6, 9, 0)
    ledger.attempted(
        [("in_gate", S1, ""), ("in_gate", S2, "HTTP 500"), ("in_gate", "2025-01-01T00:00:00", "x")],
        at,
    )
    assert ledger.wanted(["in_gate"]) == [
        Wanted("in_gate", S2, DAY, ANY, url(S2), 1, "HTTP 500"),
        Wanted("in_gate", S3, DAY, ANY, url(S3), 0, ""),
    ]
    state = only(ledger)
    assert (state.stored, state.missing, state.listed) == (1, 2, 3)
    with catalog.engine.connect() as conn:
        tried = conn.execute(text("SELECT last_tried FROM wanted WHERE url_ts = :t"), {"t": S2})
        assert tried.scalar() is not None


def test_a_kept_thumbnail_is_wanted_in_full_size_until_its_day_settles(
    any_catalog: Catalog,
) -> None:
    ledger = Ledger(any_catalog, "apm", ZONES)
    store(any_catalog, S1, variant=THUMBNAIL)
    store(any_catalog, S2)
    due = settle_moment(ZONES, DAY, SETTLE)

    ledger.record([read(DAY, [S1, S2], due - timedelta(hours=2))])
    assert ledger.wanted(["in_gate"]) == [Wanted("in_gate", S1, DAY, FULL_SIZE, url(S1), 0, "")]
    state = only(ledger)
    assert (state.stored, state.full, state.thumbnail, state.missing) == (2, 1, 1, 0)

    # A read that no longer lists it keeps wanting the full size while the day is unsettled.
    ledger.record([read(DAY, [S2], due - timedelta(hours=1))])
    assert [w.url_ts for w in ledger.wanted(["in_gate"])] == [S1]

    ledger.record([read(DAY, [S1, S2], due)])
    assert ledger.wanted(["in_gate"]) == []
    state = only(ledger)
    assert state.settled and (state.thumbnail, state.missing) == (1, 0)


def test_the_full_size_arriving_ends_the_want_and_a_thumbnail_ends_a_want_of_any(
    catalog: Catalog,
) -> None:
    ledger = Ledger(catalog, "apm", ZONES)
    store(catalog, S1, variant=THUMBNAIL)
    early = utc(2025, 9, 6, 7, 30)
    ledger.record([read(DAY, [S1, S2, S3], early)])
    assert [(w.url_ts, w.want) for w in ledger.wanted(["in_gate"])] == [
        (S1, FULL_SIZE), (S2, ANY), (S3, ANY)
    ]  # fmt: skip

    store(catalog, S1, replace=True)  # downloaded again, in full
    store(catalog, S2, S3, variant=THUMBNAIL)
    # S3 is listed again: now wanted in full; S2 is not listed: any variant was wanted, done.
    ledger.record([read(DAY, [S1, S3], early + timedelta(minutes=10))])
    assert [(w.url_ts, w.want) for w in ledger.wanted(["in_gate"])] == [(S3, FULL_SIZE)]
    state = only(ledger)
    assert (state.full, state.thumbnail, state.missing, state.listed) == (1, 2, 0, 2)


def test_a_listed_capture_of_another_local_day_counts_as_stored(catalog: Catalog) -> None:
    ledger = Ledger(catalog, "apm", ZONES)
    next_day = "2025-09-06T07:00:00"  # 00:00 PDT on 2025-09-06: the next local day
    store(catalog, next_day)
    ledger.record([read(DAY, [S1, next_day], utc(2025, 9, 6, 8, 0))])
    assert [w.url_ts for w in ledger.wanted(["in_gate"])] == [S1]
    state = only(ledger)
    assert (state.day, state.stored, state.missing, state.listed) == (DAY, 0, 1, 2)


# -- counting -----------------------------------------------------------------------------------


def test_recount_counts_from_the_captures_and_wanted_tables_never_by_hand(
    any_catalog: Catalog,
) -> None:
    ledger = Ledger(any_catalog, "apm", ZONES)
    store(any_catalog, S1, size=100)
    store(any_catalog, S2, size=250, variant=THUMBNAIL)
    store(any_catalog, "2025-09-06T07:00:00", size=7)  # the next local day
    assert ledger.days() == []  # inserting captures does not touch the ledger
    ledger.recount([("in_gate", DAY), ("in_gate", DAY)])
    state = only(ledger)
    assert (state.stored, state.full, state.thumbnail, state.bytes) == (2, 1, 1, 350)
    assert (state.listed, state.last_read, state.missing) == (None, None, 0)

    with any_catalog.engine.begin() as conn:
        conn.execute(text("UPDATE days SET stored = 99, bytes = 1, missing = 5"))
    ledger.recount([("in_gate", DAY)])
    state = only(ledger)
    assert (state.stored, state.bytes, state.missing) == (2, 350, 0)

    # Nothing left and never read: the day leaves the ledger.
    delete_all(any_catalog)
    ledger.recount([("in_gate", DAY)])
    assert ledger.days() == []


def test_a_day_once_read_stays_in_the_ledger_when_its_captures_go(catalog: Catalog) -> None:
    ledger = Ledger(catalog, "apm", ZONES)
    store(catalog, S1, S2)
    at = utc(2025, 9, 6, 12, 0)
    ledger.record([read(DAY, [S1, S2], at)])
    delete_all(catalog)
    ledger.recount([("in_gate", DAY)])
    state = only(ledger)
    assert (state.stored, state.bytes, state.listed, state.last_read) == (0, 0, 2, at)
    assert state.settled_at == at


def test_forget_before_drops_the_days_and_wanted_of_earlier_days_of_its_terminal(
    catalog: Catalog,
) -> None:
    apm = Ledger(catalog, "apm", ZONES)
    bct = Ledger(catalog, "bct", ZONES)
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    stamps = ["2025-09-03T12:00:00", "2025-09-04T12:00:00", "2025-09-05T12:00:00"]
    at = utc(2025, 9, 6, 8, 0)
    apm.record([read(day, [ts], at) for day, ts in zip(days, stamps, strict=True)])
    bct.record([read(days[0], [stamps[0]], at)])

    apm.forget_before(days[1])
    assert [d.day for d in apm.days()] == days[1:]
    assert [w.url_ts for w in apm.wanted(["in_gate"])] == stamps[1:]
    assert [d.day for d in bct.days()] == [days[0]]
    assert [w.url_ts for w in bct.wanted(["in_gate"])] == [stamps[0]]


def test_rebuild_makes_the_ledger_again_from_the_captures(catalog: Catalog) -> None:
    ledger = Ledger(catalog, "apm", ZONES)
    before = DAY - timedelta(days=1)
    store(catalog, "2025-09-04T12:00:00")
    ledger.recount([("in_gate", before)])
    delete_all(catalog)  # gone without a recount: the ledger still has the day
    assert [d.day for d in ledger.days()] == [before]

    store(catalog, S1, "2025-09-06T06:59:59", size=10)  # both on DAY (the second 23:59:59 PDT)
    store(catalog, "2025-09-06T07:00:00", size=10)  # 00:00 PDT: the next day
    store(catalog, S2, stream="out_gate", size=10)
    assert ledger.rebuild() == 4  # three days with captures, and the one without
    assert [(d.stream, d.day, d.stored, d.bytes) for d in ledger.days()] == [
        ("in_gate", DAY, 2, 20),
        ("in_gate", DAY + timedelta(days=1), 1, 10),
        ("out_gate", DAY, 1, 10),
    ]
    assert ledger.first_day("in_gate") == DAY
    assert ledger.first_day("nothing") is None


def test_hours_gives_the_stored_and_the_missing_capture_times_of_a_day(catalog: Catalog) -> None:
    ledger = Ledger(catalog, "apm", ZONES)
    store(catalog, S1)
    store(catalog, S3, variant=THUMBNAIL)
    ledger.record([read(DAY, [S1, S2, S3], utc(2025, 9, 6, 8, 0))])
    stored, missing = ledger.hours("in_gate", DAY)
    assert sorted(stored) == [utc(2025, 9, 5, 8, 0), utc(2025, 9, 6, 6, 50)]
    assert missing == [utc(2025, 9, 5, 12, 0)]  # a thumbnail wanted in full is not missing


# -- the 23- and 25-hour days --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "end", "due"),
    [
        # spring forward: 00:00 PST is 08:00 UTC, the next midnight (PDT) 07:00 UTC
        (date(2025, 3, 9), utc(2025, 3, 9, 8), utc(2025, 3, 10, 7), utc(2025, 3, 10, 10)),
        # fall back: 00:00 PDT is 07:00 UTC, the next midnight (PST) 08:00 UTC
        (date(2025, 11, 2), utc(2025, 11, 2, 7), utc(2025, 11, 3, 8), utc(2025, 11, 3, 11)),
    ],
)
def test_settle_moment_and_overdue_follow_the_real_length_of_a_dst_day(
    day: date, start: datetime, end: datetime, due: datetime
) -> None:
    assert ZONES.day_bounds(day) == (start, end)
    assert settle_moment(ZONES, day, SETTLE) == due
    never_read = DayState("in_gate", day, None, 0, 0, 0, 0, 0, None, None)
    assert overdue(never_read, ZONES, SETTLE, due - timedelta(seconds=1)) is None
    assert overdue(never_read, ZONES, SETTLE, due) == 0.0
    assert overdue(never_read, ZONES, SETTLE, due + timedelta(minutes=90)) == 1.5
    complete = DayState("in_gate", day, 5, 5, 5, 0, 0, 500, due, due)
    assert overdue(complete, ZONES, SETTLE, due + timedelta(hours=10)) is None
    missing = DayState("in_gate", day, 5, 4, 4, 0, 1, 400, due, due)
    assert overdue(missing, ZONES, SETTLE, due + timedelta(hours=10)) == 10.0


def test_captures_fall_on_their_local_day_across_both_dst_changes(any_catalog: Catalog) -> None:
    ledger = Ledger(any_catalog, "apm", ZONES)
    store(any_catalog,
          "2025-03-09T07:59:59",  # 23:59:59 PST on 03-08
          "2025-03-09T08:00:00", "2025-03-10T06:59:59",  # the 23 hours of 03-09
          "2025-03-10T07:00:00",  # 00:00 PDT on 03-10
          "2025-11-02T06:59:59",  # 23:59:59 PDT on 11-01
          "2025-11-02T07:00:00", "2025-11-02T08:30:00", "2025-11-02T09:30:00",  # 01:30 twice
          "2025-11-03T07:59:59",  # 23:59:59 PST: still 11-02
          "2025-11-03T08:00:00")  # fmt: skip
    assert ledger.rebuild() == 6
    assert [(d.day.isoformat(), d.stored) for d in ledger.days()] == [
        ("2025-03-08", 1), ("2025-03-09", 2), ("2025-03-10", 1),
        ("2025-11-01", 1), ("2025-11-02", 4), ("2025-11-03", 1),
    ]  # fmt: skip


# -- the gap report's days -----------------------------------------------------------------------


def test_incomplete_days_are_the_ones_past_their_settle_moment_not_settled_or_missing(
    catalog: Catalog, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=catalog.url, settle_hours=SETTLE)
    ledger = Ledger(catalog, "apm", ZONES)
    d1, d2, d3, d4 = (date(2025, 9, n) for n in (3, 4, 5, 6))
    a, b, c, d = ("2025-09-03T12:00:00", "2025-09-04T12:00:00", "2025-09-05T12:00:00",
                  "2025-09-06T12:00:00")  # fmt: skip
    store(catalog, a, c, d)
    ledger.record([
        read(d1, [a], settle_moment(ZONES, d1, SETTLE)),  # settled, complete
        read(d2, [b], settle_moment(ZONES, d2, SETTLE)),  # settled, one missing
        read(d3, [c], settle_moment(ZONES, d3, SETTLE) - timedelta(hours=1)),  # never settled
        read(d4, [d, "2025-09-06T13:00:00"], utc(2025, 9, 6, 14)),  # today: not due yet
    ])  # fmt: skip
    now = utc(2025, 9, 6, 18)  # 11:00 PDT on 09-06
    streams = ["in_gate", "out_gate"]
    assert incomplete_days(settings, catalog, streams, None, now) == [
        ("in_gate", d2), ("in_gate", d3),
        ("out_gate", d1), ("out_gate", d2), ("out_gate", d3),  # never read at all
    ]  # fmt: skip
    assert incomplete_days(settings, catalog, streams, d3, now) == [
        ("in_gate", d3), ("out_gate", d3)
    ]  # fmt: skip

    days = archive_days(settings, catalog, ["out_gate", "in_gate"], None, now)
    assert [(s.stream, s.day) for s in days][:4] == [("out_gate", x) for x in (d1, d2, d3, d4)]
    assert all(s.listed is None and s.last_read is None for s in days[:4])
    assert [(s.day, s.listed, s.missing, s.settled) for s in days[4:]] == [
        (d1, 1, 0, True), (d2, 1, 1, True), (d3, 1, 0, False), (d4, 2, 1, False)
    ]  # fmt: skip


def test_a_day_state_in_json() -> None:
    at = datetime(2025, 9, 6, 3, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    state = DayState("in_gate", DAY, 3, 2, 1, 1, 1, 300, at, None)
    assert state.as_json() == {
        "stream": "in_gate", "day": "2025-09-05", "listed": 3, "stored": 2,
        "thumbnail_only": 1, "missing": 1, "settled": False, "last_read": "2025-09-06T10:00:00Z",
    }  # fmt: skip


def test_the_pure_rules_of_wanting_and_leaving() -> None:
    assert want_of(None, settles=False) == want_of(None, settles=True) == ANY
    assert want_of(THUMBNAIL, settles=False) == FULL_SIZE
    assert want_of(THUMBNAIL, settles=True) is None
    assert want_of(FULL, settles=False) is None
    assert not satisfied(None, ANY, settles=True)
    assert satisfied(FULL, FULL_SIZE, settles=False)
    assert not satisfied(THUMBNAIL, FULL_SIZE, settles=False)
    assert satisfied(THUMBNAIL, FULL_SIZE, settles=True)
    assert satisfied(THUMBNAIL, ANY, settles=False)
    assert leaves_ledger(0, 0, ever_read=False)
    assert not leaves_ledger(0, 0, ever_read=True)
    assert not leaves_ledger(1, 0, ever_read=False) and not leaves_ledger(0, 1, ever_read=False)
