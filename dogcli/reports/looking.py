"""What the commands that only look share: they read the archive and never create it."""

from __future__ import annotations

from dogcli.archive import Archive, no_archive_message
from dogcli.catalog.runs import Run, RunJournal
from dogcli.settings import Settings


def no_archive_note(settings: Settings) -> str | None:
    """The line to show when there is no archive yet (the catalog file does not exist)."""
    missing = Archive(settings).missing()
    return no_archive_message(missing) if missing is not None else None


def recent_runs(settings: Settings, limit: int) -> list[Run]:
    """The run journal, newest first."""
    with Archive(settings) as archive:
        catalog = archive.existing_catalog()
        return RunJournal(catalog).recent(limit) if catalog is not None else []
