"""What the commands that only look share: they read the archive and never create it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dogcli.catalog.quick import catalog_file, no_archive_message
from dogcli.config import Settings

if TYPE_CHECKING:
    from dogcli.catalog.runs import Run


def no_archive_note(settings: Settings) -> str | None:
    """The line to show when there is no archive yet (the catalog file does not exist)."""
    path = catalog_file(settings)
    if path is not None:  # the plain cases, without loading SQLAlchemy
        return None if path.exists() else no_archive_message(path)
    if settings.database_url.startswith("postgres"):
        return None  # a server: opening it never creates anything
    from dogcli.archive.session import Archive

    missing = Archive(settings).missing()
    return no_archive_message(missing) if missing is not None else None


def recent_runs(settings: Settings, limit: int) -> list[Run]:
    """The run journal, newest first."""
    from dogcli.archive.session import Archive
    from dogcli.catalog.runs import RunJournal

    with Archive(settings) as archive:
        catalog = archive.existing_catalog()
        return RunJournal(catalog).recent(limit) if catalog is not None else []
