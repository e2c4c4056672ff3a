"""Engines and schema migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from dogcli.catalog.revisions import migrations_dir
from dogcli.model.errors import SettingsError
from dogcli.model.redact import redact_url

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
MIGRATION_LOCK_KEY = 0x646F67636C69  # "dogcli"


def make_engine(url: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise SettingsError(f"cannot parse database URL {redact_url(url)!r}") from None
    if parsed.drivername == "postgresql" or parsed.drivername == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            parent = Path(database).expanduser().parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SettingsError(f"database folder {parent}: {exc.strerror}") from None
            if not os.access(parent, os.W_OK | os.X_OK):  # e.g. a read-only file system
                raise SettingsError(f"database folder {parent} is not writable")
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise SettingsError(f"unsupported database URL {redact_url(url)!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Python's sqlite3 opens a transaction only before INSERT/UPDATE/DELETE, so DDL ran in
        # autocommit: a run killed between CREATE TABLE and the version row left a schema no
        # later run could migrate ("table captures already exists"). SQLAlchemy emits BEGIN
        # itself instead (_sqlite_begin), which makes every migration all-or-nothing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # Percent signs in a URL would be read as interpolation by configparser.
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(
    engine: Engine, url_timezone: str = "UTC", timezone: str = "America/Los_Angeles"
) -> bool:
    """Bring the schema to the newest revision; returns True when it changed anything."""
    from alembic import command

    head = head_revision(engine)
    if current_revision(engine) == head:
        return False
    config = alembic_config(engine)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Several hosts may start at once: one migrates, the others wait.
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        from alembic.runtime.migration import MigrationContext

        if MigrationContext.configure(connection).get_current_revision() == head:
            return False
        config.attributes["connection"] = connection
        config.attributes["url_timezone"] = url_timezone  # 0003 recomputes capture times
        config.attributes["timezone"] = timezone  # 0004 counts captures per local day
        command.upgrade(config, "head")
    log.info("catalog schema upgraded to %s", head)
    return True


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a URI filename: let SQLite interpret it
        return None
    return Path(database).expanduser()


SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_broken(url: str) -> str | None:
    """Why a SQLite catalog file can never be opened as it is (damaged, overwritten, not a
    file), or None: no such file yet, not SQLite, or a passing problem (locked, busy) that
    the next run may not meet. Asked only after opening failed, so it may take a moment."""
    import sqlite3

    path = sqlite_file(url)
    if path is None or not os.path.lexists(path):
        return None
    if not path.is_file():
        return f"catalog {path} is not a file"
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"catalog {path} cannot be read: {exc.strerror}"
    if header and header != SQLITE_HEADER:
        return f"catalog {path} is not a SQLite database (damaged or overwritten)"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=1)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None
        return f"catalog {path} cannot be opened: {exc}"
    except sqlite3.DatabaseError as exc:  # SQLITE_CORRUPT, SQLITE_NOTADB
        return f"catalog {path} is damaged: {exc}"
    return None


def display_url(url: str) -> str:
    """What to show of a catalog URL: a SQLite file's path as it is on disk (not %-escaped),
    any other URL without its password."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return redact_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return redact_url(parsed.render_as_string(hide_password=True))


def describe_error(exc: BaseException, url: str) -> str:
    """One line for an unreachable database, with the password taken out."""
    if isinstance(exc, OperationalError):
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    else:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact_url(f"catalog {display_url(url)} unavailable: {detail}")
