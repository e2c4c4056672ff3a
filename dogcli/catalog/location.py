"""Where the catalog lives, and the one answer to "is there an archive yet?".

Commands that only look never create anything: opening a SQLite URL whose file does not exist
would create it (and its folder), so they ask `missing()` first. The plain cases are answered
without loading SQLAlchemy (start-up of stats and health)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from dogcli.config import Settings


def no_archive_message(path: Path) -> str:
    return (
        f"no archive yet: {path} does not exist (the first fetch or `dogcli db upgrade` makes it)"
    )


def catalog_file(settings: Settings) -> Path | None:
    """The SQLite file of the catalog for the plain cases (the default, `sqlite:///PATH`);
    None for a server or an unusual URL."""
    url = settings.database_url
    if not url:
        return settings.data_dir.resolve() / "dogcli.db"
    if url.startswith("sqlite:///") and "?" not in url and "#" not in url:
        return Path(unquote(url[len("sqlite:///") :])).expanduser()
    return None


def missing(settings: Settings) -> Path | None:
    """The SQLite file of the catalog when it does not exist yet; None when it exists, or the
    catalog is a server (opening one never creates it)."""
    path = catalog_file(settings)
    if path is None:
        if settings.database_url.startswith("postgres"):
            return None
        from dogcli.catalog import db

        path = db.sqlite_file(settings.effective_database_url)
    return path if path is not None and not path.exists() else None


def no_archive_note(settings: Settings) -> str | None:
    """The line a looking command shows when there is no archive yet, else None."""
    path = missing(settings)
    return no_archive_message(path) if path is not None else None
