"""verify as the CLI runs it: under the archive lock, and without creating anything when it
only looks. (dogcli/jobs/verify.py does the comparing and repairing.)"""

from __future__ import annotations

from datetime import date

from dogcli.archive.session import Archive
from dogcli.config import Settings
from dogcli.jobs.verify import VerifyReport, run_verify
from dogcli.model.errors import DogcliError


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
    with Archive(settings) as archive:
        if repair:
            archive.storage.ensure_writable()  # before any work: a usage error
        elif (missing := archive.missing()) is not None:
            if settings.images_dir.is_dir():
                raise DogcliError(
                    f"{missing} does not exist but {settings.images_dir} does: "
                    "`dogcli verify --repair` catalogs its images"
                )
            return VerifyReport(repair=False, deep=deep, since=since)
        with archive.locked(wait, shared=not repair):
            report: VerifyReport | None = None
            for part in settings.per_terminal():  # every terminal of DOGCLI_CAMERAS
                done = run_verify(part, archive.catalog(), repair, since, deep)
                report = done if report is None else report.add(done)
            assert report is not None
            return report
