"""Shared fixtures: isolated settings, a real PostgreSQL server, the site replica, the CLI."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests import pgserver
from tests.archivekit import archive  # noqa: F401
from tests.faultkit import pytest_terminal_summary, reliability_figures  # noqa: F401

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SITE_TZ = ZoneInfo("America/Los_Angeles")


def unavailable(what: str) -> None:
    """In CI a browser or database test that cannot run is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{what} is not available in CI", pytrace=False)
    pytest.skip(f"{what} is not available")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No DOGCLI_* from the caller's shell and no user config leak into a test."""
    for key in list(os.environ):
        if key.startswith("DOGCLI_") and key != "DOGCLI_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.setattr("dogcli.config.SYSTEM_CONFIG", Path("/nonexistent/dogcli.toml"))


# -- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgserver.PgServer | None]:
    if os.environ.get("DOGCLI_TEST_DATABASE_URL"):
        yield None
        return
    if pgserver.find_bindir() is None:
        yield None
        return
    with pgserver.running_server() as server:
        yield server


_db_counter = 0


@pytest.fixture
def pg_url(pg_server: pgserver.PgServer | None) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    global _db_counter
    external = os.environ.get("DOGCLI_TEST_DATABASE_URL")
    if external:
        from sqlalchemy import create_engine, text

        engine = create_engine(external)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS captures, runs, alembic_version CASCADE"))
        engine.dispose()
        return external
    if pg_server is None:
        unavailable("PostgreSQL (apt-get install postgresql, or set DOGCLI_TEST_DATABASE_URL)")
        raise AssertionError  # unreachable
    _db_counter += 1
    return pg_server.create_database(f"t{os.getpid()}_{_db_counter}")


@pytest.fixture
def own_pg() -> Iterator[pgserver.PgServer]:
    """A server of this test's own: it is stopped and started again."""
    bindir = pgserver.find_bindir()
    if bindir is None:
        unavailable("PostgreSQL binaries (apt-get install postgresql)")
    assert bindir is not None
    server = pgserver.PgServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return str(request.getfixturevalue("pg_url"))


# -- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        unavailable("Chromium and chromedriver (apt-get install chromium chromium-driver)")
    assert binary and driver
    return binary, driver


# -- the replica ---------------------------------------------------------------------------------


def site_now() -> datetime:
    return datetime.now(SITE_TZ).replace(tzinfo=None, microsecond=0)


@dataclass
class Site:
    """A running replica plus the environment that points dogcli at it."""

    replica: Any
    dataset: Any
    data_dir: Path
    env: dict[str, str]
    today: date

    def day(self, offset: int) -> date:
        return self.today + timedelta(days=offset)


@pytest.fixture
def make_site(
    tmp_path: Path, chromium: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """make_site(days=3, ...) -> Site: a replica holding `days` local days up to today (or the
    local days given as a list), and the DOGCLI_* environment pointing dogcli at it.

    `now` (aware, or naive site-local) fixes the clock of the site AND of dogcli
    (`dogcli.model.clock`), so that both agree on "today" (e.g. a day after a DST change); without
    it both follow the real clock. `dataset_kwargs` go to `make_dataset` (e.g. `interval`,
    `outage_rate`); the other keyword arguments to `Replica` (gallery, page_size, ...).
    """
    from dogcli.model import clock
    from tests.replica import Replica, ReplicaConfig, make_dataset

    started: list[Any] = []
    fixed_clock: list[bool] = []

    def factory(
        days: int | Sequence[date] = 3,
        empty_days: tuple[int, ...] = (),
        api_delay: float = 0.05,
        database_url: str | None = None,
        seed: int = 7,
        now: datetime | None = None,
        dataset_kwargs: dict[str, Any] | None = None,
        **replica_kwargs: Any,
    ) -> Site:
        fixed = None
        if now is not None:
            fixed = (now if now.tzinfo else now.replace(tzinfo=SITE_TZ)).astimezone(UTC)
            fixed = fixed.replace(microsecond=0)
        current = fixed.astimezone(SITE_TZ).replace(tzinfo=None) if fixed else site_now()
        today = current.date()
        if isinstance(days, int):
            day_list = [today - timedelta(days=i) for i in range(days - 1, -1, -1)]
        else:
            day_list = sorted(days)
        dataset = make_dataset(
            terminal="apm",
            streams=("in_gate", "out_gate"),
            days=day_list,
            now=fixed or current,
            seed=seed,
            empty_days=[today + timedelta(days=offset) for offset in empty_days],
            **(dataset_kwargs or {}),
        )
        if fixed is not None:
            replica_kwargs.setdefault("now", fixed)
            clock.set_source(lambda: fixed)
            fixed_clock.append(True)
        replica = Replica(dataset, ReplicaConfig(api_delay=api_delay, **replica_kwargs))
        replica.start()
        started.append(replica)
        data_dir = tmp_path / "data"
        env = {
            "DOGCLI_DATA_DIR": str(data_dir),
            "DOGCLI_SITE_URL": replica.site_url,
            "DOGCLI_CDN_URL": replica.cdn_url,
            "DOGCLI_CHROME_BINARY": chromium[0],
            "DOGCLI_CHROMEDRIVER": chromium[1],
            "DOGCLI_RETRY_BASE": "0.05",
            "DOGCLI_READ_TIMEOUT": "5",
            "DOGCLI_PAGE_TIMEOUT": "15",
        }
        if database_url:
            env["DOGCLI_DATABASE_URL"] = database_url
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return Site(replica, dataset, data_dir, env, today)

    yield factory
    if fixed_clock:
        clock.set_source(None)
    for replica in started:
        replica.stop()


# -- the CLI ------------------------------------------------------------------------------------


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run dogcli's real entry point in-process (main(): one-line errors, exit codes)."""
    from dogcli.cli.app import main

    def run(*args: str) -> Ran:
        capsys.readouterr()
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:  # pragma: no cover
            code = 0
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def pytest_report_header() -> list[str]:
    return [f"python {sys.version.split()[0]}; CI={IN_CI}"]
