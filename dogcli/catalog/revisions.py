"""The schema's revisions, read from the migration scripts without SQLAlchemy or Alembic
(a tenth of a second or more of every command's start-up)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from dogcli.model.errors import CatalogUnavailable


def migrations_dir() -> Path:
    """Installed wheels carry migrations inside the package; a checkout has them at the top."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise CatalogUnavailable("Alembic migrations not found (broken install?)")


_REVISION_RE = re.compile(
    r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:\"([^\"]+)\"|'([^']+)'|(None))\s*$", re.M
)


@functools.lru_cache(maxsize=1)
def scripted_head() -> str | None:
    """The newest schema revision, read from the migration scripts' `revision` and
    `down_revision` lines without importing Alembic (a tenth of a second of every command's
    start-up). None unless the scripts form one plain chain: then Alembic decides."""
    try:
        files = sorted((migrations_dir() / "versions").glob("*.py"))
        texts = [path.read_text(encoding="utf-8") for path in files]
    except (CatalogUnavailable, OSError, UnicodeDecodeError):
        return None
    revisions: set[str] = set()
    parents: set[str] = set()
    for source in texts:
        found = {m[1]: m[2] or m[3] for m in _REVISION_RE.finditer(source)}
        if not found.get("revision") or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            parents.add(found["down_revision"])
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        return None
    return heads.pop()
