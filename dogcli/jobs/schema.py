"""dogcli db upgrade: create the catalog or bring it to the newest schema."""

from __future__ import annotations

from dogcli.archive.session import Archive
from dogcli.config import Settings


def upgrade_catalog(settings: Settings) -> tuple[bool, str | None]:
    """(whether anything changed, the revision it is at now)."""
    with Archive.open(settings) as archive:
        catalog = archive.catalog(migrate=False)
        changed = catalog.upgrade()
        current, _head = catalog.schema_status()
    return changed, current
