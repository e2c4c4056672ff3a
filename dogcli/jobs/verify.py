"""verify: compare the catalog with the files on disk, and optionally repair what differs.

What is checked (for the configured terminal, optionally from a day on):

- every catalog row: its file exists at the path its identity gives, with the row's size
  (and, with ``deep``, the row's sha256);
- every file under ``images/{terminal}/{stream}/{day}/``: a capture file the catalog lacks is
  *uncataloged* when it is a complete JPEG, *invalid* otherwise; temporary files of dead runs
  are *leftovers*; anything else (unknown names, folders, files in the wrong day) is
  *unexpected*.

Repair downloads missing, corrupt and invalid captures again (full size first, like fetch),
catalogs uncataloged files, deletes leftovers and moves unexpected files to
``{DATA_DIR}/quarantine/`` (never deletes what a person may have put there). A thumbnail never
takes the place of a capture cataloged as full size (the file, or its absence, stays and the
capture is a failure), and an invalid file is moved to quarantine before a thumbnail is put
in its place. An uncataloged file is cataloged from the pending journal when it has its record
(same size and sha256); otherwise the CDN is asked: when it serves the same bytes, the row
records that variant and URL; otherwise (other bytes, or no answer) the file is kept as it
is and its row records variant ``unknown`` and no URL rather than a guess; other bytes are
reported (``cdn_differs``). A valid file is never replaced by what the CDN serves now.

A file named by the earlier layout (``{stream}_{URL stamp}.jpg`` in the folder of the stamp's
date, from before URL stamps were known to be UTC) is *layout*: repair renames it to its
place (``{local day}/{stream}_{UTC time}Z.jpg``), then points its row there; a row whose
file is in place under another path is *path*, and repair points it there. Either step may be
cut short by a crash: the next verify finds the other half and finishes it.

Disk paths always come from a capture's identity, never from a row's ``path`` column, so a
damaged catalog cannot make verify read or write outside the data dir.
"""

from __future__ import annotations

import time
from datetime import date

from dogcli.archive.session import Archive, Session
from dogcli.catalog.ledger import Ledger
from dogcli.config import Settings
from dogcli.jobs.verify_check import Checker
from dogcli.jobs.verify_repair import Repairer
from dogcli.jobs.verify_report import VerifyReport
from dogcli.model.errors import CatalogUnavailable, DogcliError


def run_verify(
    session: Session,
    terminal: str,
    repair: bool = False,
    since: date | None = None,
    deep: bool = False,
) -> VerifyReport:
    """One terminal: check, and with `repair` put right, through the session's ingest."""
    started = time.monotonic()
    settings, catalog = session.settings, session.catalog()
    checker = Checker(settings, catalog, session.storage, terminal)
    report, plan = checker.check(since, deep)
    if repair:
        from dogcli.sources.cdn import CdnClient

        ingest = session.ingest(lambda _note: None)
        with CdnClient.for_settings(settings) as cdn:
            Repairer(checker, ingest, cdn).repair(report, plan)
        if ingest.errors:  # rows that could not be written: the repair is not done
            raise CatalogUnavailable(ingest.errors[0])
        # The ledger's counts are made again from the captures table, which now matches
        # the disk (what was read and is still wanted is kept).
        Ledger(catalog, terminal, settings.zones).rebuild()
    report.seconds = time.monotonic() - started
    return report


def verify_archive(
    settings: Settings,
    repair: bool = False,
    since: date | None = None,
    deep: bool = False,
    wait: float = 0.0,
) -> VerifyReport:
    """Compare (and with repair fix) catalog and disk while no fetch, backfill or cleanup
    runs: a verify beside a backfill counted the files it had written but not cataloged yet
    as uncataloged. Looking takes the lock shared (verifies may overlap), repairing
    exclusive; both wait up to `wait` seconds, then LockBusy (exit 75). Without repair and
    without a catalog file the report is empty: nothing is created."""
    with Archive.open(settings) as session:
        if repair:
            session.storage.ensure_writable()  # before any work: a usage error
        elif (missing := session.missing()) is not None:
            if settings.images_dir.is_dir():
                raise DogcliError(
                    f"{missing} does not exist but {settings.images_dir} does: "
                    "`dogcli verify --repair` catalogs its images"
                )
            return VerifyReport(repair=False, deep=deep, since=since)
        with session.locked(wait, shared=not repair):
            report: VerifyReport | None = None
            for terminal in settings.scope().terminals:  # every terminal of DOGCLI_CAMERAS
                done = run_verify(session, terminal, repair, since, deep)
                report = done if report is None else report.add(done)
            assert report is not None
            return report
