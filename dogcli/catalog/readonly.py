"""The catalog as health, stats, runs and verify (without --repair) see it: they look, they
never create. Opening a SQLite URL whose file does not exist creates the file (and
make_engine its folder): `dogcli stats` in the wrong directory left a ./data/dogcli.db behind.
These commands ask missing_catalog() first and report "no archive yet" instead."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dogcli.catalog import db
from dogcli.catalog.store import Catalog, catalog_for
from dogcli.settings import Settings


def missing_catalog(settings: Settings) -> Path | None:
    """The SQLite file of the catalog when it does not exist yet (None: it exists, or the
    catalog is a server, which is never created by opening it)."""
    path = db.sqlite_file(settings.effective_database_url)
    if path is None or path.exists():
        return None
    return path


def no_archive_message(path: Path) -> str:
    return (
        f"no archive yet: {path} does not exist (the first fetch or `dogcli db upgrade` makes it)"
    )


@contextmanager
def existing_catalog(settings: Settings) -> Iterator[Catalog | None]:
    """The catalog, brought to the newest schema, or None when there is no archive yet."""
    if missing_catalog(settings) is not None:
        yield None
        return
    with catalog_for(settings) as cat:
        cat.upgrade()
        yield cat
