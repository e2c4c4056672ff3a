"""What the commands that only look share: they read the archive and never create it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dogcli.catalog.location import no_archive_note as no_archive_note
from dogcli.config import Settings

if TYPE_CHECKING:
    from dogcli.catalog.runs import Run


def recent_runs(settings: Settings, limit: int) -> list[Run]:
    """The run journal, newest first."""
    from dogcli.archive.session import Archive
    from dogcli.catalog.runs import RunJournal

    with Archive.open(settings) as session:
        catalog = session.existing_catalog()
        return RunJournal(catalog).recent(limit) if catalog is not None else []
