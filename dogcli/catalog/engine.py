"""The catalog's engine: opening a database (from a URL or the settings), retrying transient
errors, migrating it, telling its schema's revision, closing it. The queries live in
captures.py, ledger.py and runs.py; every one of them runs through `CatalogEngine.retry`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Self, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from dogcli.catalog import db
from dogcli.catalog.revisions import scripted_head
from dogcli.config import Settings
from dogcli.model.errors import CatalogRefused, CatalogUnavailable
from dogcli.model.redact import redact_url
from dogcli.model.retry import BackoffWait

log = logging.getLogger(__name__)
T = TypeVar("T")


# What a server says when the settings, not the moment, are wrong. psycopg hands connection
# errors over without a SQLSTATE, so its FATAL line is read; the codes serve other drivers.
_REFUSED_STATES = {"28P01": "auth", "28000": "auth", "3D000": "database", "42501": "auth"}
_REFUSED = (
    (re.compile(r'\w+ authentication failed for user "[^"]*"', re.I), "auth"),
    (re.compile(r"no pg_hba\.conf entry for [^\n]*", re.I), "auth"),
    (re.compile(r"fe_sendauth: no password supplied", re.I), "auth"),
    (re.compile(r'role "[^"]*" does not exist', re.I), "auth"),
    (re.compile(r'permission denied for database "[^"]*"', re.I), "auth"),
    (re.compile(r'database "[^"]*" does not exist', re.I), "database"),
)
_HINTS = {
    "auth": "check the user and password of the database URL (DOGCLI_DATABASE_URL)",
    "database": "create it, or correct the database name of the URL (DOGCLI_DATABASE_URL)",
}


def refusal(exc: BaseException) -> tuple[str, str] | None:
    """(the server's reason, its kind) when exc says the credentials or the database name are
    wrong (authentication failed, no such database or role); None for anything else."""
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    detail = str(orig if orig is not None else exc)
    for pattern, kind in _REFUSED:
        found = pattern.search(detail)
        if found:
            return found.group(0).rstrip(" .,;"), kind
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str) and state in _REFUSED_STATES:
        return detail.strip().splitlines()[0] if detail.strip() else state, _REFUSED_STATES[state]
    return None


def _transient(exc: BaseException) -> bool:
    if refusal(exc) is not None:  # retrying a wrong password only delays the answer
        return False
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def refused_error(exc: BaseException, url: str) -> CatalogRefused | None:
    """The one-line settings error for a refused connection (password never shown)."""
    refused = refusal(exc)
    if refused is None:
        return None
    reason, kind = refused
    where = db.display_url(url)
    return CatalogRefused(redact_url(f"catalog {where}: {reason}; {_HINTS[kind]}"))


class CatalogEngine:
    """One catalog database. Every call retries transient errors, then raises CatalogUnavailable;
    a refused login or a missing database raises CatalogRefused (exit 2) at once."""

    def __init__(
        self,
        url: str,
        max_retries: int = 3,
        retry_base: float = 1.0,
        url_timezone: str = "UTC",
        timezone: str = "America/Los_Angeles",
    ) -> None:
        self.url = url
        self.engine: Engine = db.make_engine(url)
        self.max_retries = max_retries
        self.retry_base = retry_base
        # For migrations: 0003 recomputes capture times, 0004 counts the captures of each day.
        self.url_timezone = url_timezone
        self.timezone = timezone

    @classmethod
    def for_settings(cls, settings: Settings, max_retries: int | None = None) -> Self:
        """The catalog the settings name (not yet migrated)."""
        retries = settings.max_retries if max_retries is None else max_retries
        return cls(
            settings.effective_database_url,
            retries,
            settings.retry_base,
            settings.url_timezone,
            settings.timezone,
        )

    @classmethod
    def open(cls, settings: Settings) -> tuple[Self | None, str]:
        """A migrated catalog, or (None, why) when it cannot be reached: callers carry on
        without."""
        catalog = cls.for_settings(settings)
        try:
            catalog.upgrade()
        except CatalogUnavailable as exc:
            catalog.close()
            return None, str(exc)
        return catalog, ""

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        if self.dialect == "sqlite":
            self._sqlite_statistics()
        self.engine.dispose()

    def _sqlite_statistics(self) -> None:
        """SQLite plans without statistics until ANALYZE runs, and nothing runs it by itself.
        Without them cleanup's `terminal = ? AND captured_at < ? ORDER BY captured_at` goes
        through the index that starts with terminal and sorts the whole terminal for every
        batch: 0.38 s per 1,000 rows of a million-row catalog, against 5 ms by captured_at.
        So once the captures table has rows its statistics are gathered, once (usually at the
        first fetch, instant; 0.25 s for an existing million rows). What they say, that one
        terminal is most rows and a capture time nearly unique, stays true as it grows
        (sampled statistics, PRAGMA analysis_limit, say the opposite: a terminal is rare)."""
        try:
            with self.engine.connect() as conn:
                run = conn.exec_driver_sql
                if (
                    run("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
                    and run("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'captures' LIMIT 1").first()
                ):
                    return
                if not run("SELECT 1 FROM captures LIMIT 1").first():
                    return
                run("PRAGMA busy_timeout = 200")  # never worth waiting for: next run does it
                run("ANALYZE captures")
                conn.commit()
        except DBAPIError as exc:
            log.debug("catalog statistics not gathered: %s", exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def retry(self, operation: Callable[[], T]) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=BackoffWait(self.retry_base),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            return retrying(operation)
        except (OperationalError, DBAPIError) as exc:
            refused = refused_error(exc, self.url)
            if refused is not None:
                raise refused from None
            raise CatalogUnavailable(db.describe_error(exc, self.url)) from None

    def _at_head(self) -> str | None:
        """The head revision when the database is known to be at it, by one plain query;
        None when that cannot be told this way (Alembic then looks, errors and all)."""
        head = scripted_head()
        if head is None:
            return None
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except DBAPIError:  # no table yet, or unreachable: the slow path reports it
            return None
        return head if len(rows) == 1 and rows[0][0] == head else None

    def upgrade(self) -> bool:
        if self._at_head() is not None:
            return False
        return self.retry(lambda: db.upgrade(self.engine, self.url_timezone, self.timezone))

    def schema_status(self) -> tuple[str | None, str | None]:
        """(current, head) revisions."""
        head = self._at_head()
        if head is not None:
            return head, head
        return self.retry(lambda: (db.current_revision(self.engine), db.head_revision(self.engine)))
