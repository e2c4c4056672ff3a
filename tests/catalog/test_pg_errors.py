"""A wrong PostgreSQL password or database name is a settings error: exit 2 at once (no
retries), one line naming the problem, never the password. A real server of the test's own
that asks for passwords (scram-sha-256), and the real CLI."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import pgserver
from tests.conftest import unavailable

PASSWORD = "Right-pw"
WRONG = "Wr0ng-S3cret"
WITHIN = 5.0  # seconds; the retries took 7-14 s before


@pytest.fixture(scope="module")
def password_pg() -> Iterator[pgserver.PgServer]:
    """A server where role `dog` logs in over TCP with a password only."""
    bindir = pgserver.find_bindir()
    if bindir is None:
        unavailable("PostgreSQL binaries (apt-get install postgresql)")
    assert bindir is not None
    import psycopg

    server = pgserver.PgServer(bindir)
    try:
        server.start()
        with psycopg.connect(host="127.0.0.1", port=server.port, user=server.user,
                             dbname="postgres", autocommit=True) as conn:  # fmt: skip
            conn.execute(f"CREATE ROLE dog LOGIN PASSWORD '{PASSWORD}'")
            conn.execute("CREATE DATABASE dogdb OWNER dog")
        (server.datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {server.user} 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        server._run(str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "reload")
        _wait_for_password_auth(server)
        yield server
    finally:
        server.cleanup()


def _wait_for_password_auth(server: pgserver.PgServer) -> None:
    import psycopg

    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=server.port, user="dog", password=WRONG,
                            dbname="dogdb", connect_timeout=5).close()  # fmt: skip
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                return
        if time.monotonic() > deadline:
            raise AssertionError("the server did not start asking for passwords")
        time.sleep(0.1)


def _url(server: pgserver.PgServer, password: str, database: str = "dogdb") -> str:
    return f"postgresql+psycopg://dog:{password}@127.0.0.1:{server.port}/{database}"


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(data_dir))
    # Nothing of the site is ever reached: the catalog is opened first.
    monkeypatch.setenv("DOGCLI_SITE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("DOGCLI_CDN_URL", "http://127.0.0.1:9/cdn")
    return data_dir


def _timed(cli: Any, *args: str) -> tuple[Any, float]:
    started = time.monotonic()
    ran = cli(*args)
    return ran, time.monotonic() - started


COMMANDS = (("stats",), ("fetch",), ("runs",), ("db", "upgrade"), ("backfill", "--gaps"))


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_a_wrong_password_exits_2_at_once_without_the_password(
    password_pg: pgserver.PgServer,
    settings_env: Path,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    # The default retries (3, from 1 s) are what made this 7-14 s.
    monkeypatch.setenv("DOGCLI_DATABASE_URL", _url(password_pg, WRONG))
    ran, seconds = _timed(cli, *args)
    assert ran.code == 2, (ran.out, ran.err)
    assert seconds < WITHIN, f"took {seconds:.1f} s"
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert 'password authentication failed for user "dog"' in lines[0]
    assert "DOGCLI_DATABASE_URL" in lines[0]
    assert WRONG not in ran.out + ran.err
    assert "Traceback" not in ran.err


@pytest.mark.parametrize("args", COMMANDS[:3], ids=lambda a: " ".join(a))
def test_a_missing_database_exits_2_at_once(
    password_pg: pgserver.PgServer,
    settings_env: Path,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    monkeypatch.setenv("DOGCLI_DATABASE_URL", _url(password_pg, PASSWORD, "nosuch"))
    ran, seconds = _timed(cli, *args)
    assert ran.code == 2, (ran.out, ran.err)
    assert seconds < WITHIN, f"took {seconds:.1f} s"
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert 'database "nosuch" does not exist' in lines[0]
    assert PASSWORD not in ran.out + ran.err


def test_an_unknown_role_with_an_encoded_password_stays_hidden(
    password_pg: pgserver.PgServer, settings_env: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://nobody:p%40ss-Hidden7@127.0.0.1:{password_pg.port}/dogdb"
    monkeypatch.setenv("DOGCLI_DATABASE_URL", url)
    ran, seconds = _timed(cli, "stats")
    assert ran.code == 2 and seconds < WITHIN, (ran.err, seconds)
    assert 'user "nobody"' in ran.err
    assert "Hidden7" not in ran.out + ran.err
    assert len(ran.err.strip().splitlines()) == 1


def test_health_says_critical_and_names_the_problem(
    password_pg: pgserver.PgServer, settings_env: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_env.mkdir()
    monkeypatch.setenv("DOGCLI_DATABASE_URL", _url(password_pg, WRONG))
    ran, seconds = _timed(cli, "health", "--json")
    assert ran.code == 2, (ran.out, ran.err)  # health's CRITICAL
    assert seconds < WITHIN
    catalog = json.loads(ran.out)["checks"][0]
    assert catalog["name"] == "catalog" and catalog["status"] == "critical"
    assert "password authentication failed" in catalog["message"]
    assert WRONG not in ran.out + ran.err
    assert WRONG not in (settings_env / ".health").read_text()


def test_the_right_password_works_and_an_unreachable_server_is_still_retried(
    password_pg: pgserver.PgServer, settings_env: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_DATABASE_URL", _url(password_pg, PASSWORD))
    assert cli("db", "upgrade").code == 0
    ran = cli("runs", "--json")
    assert ran.code == 0 and json.loads(ran.out) == {"runs": []}
    # No server on the port: an outage, not a setting; retried, then exit 1 as before.
    monkeypatch.setenv("DOGCLI_DATABASE_URL", _url(password_pg, PASSWORD).replace(
        f":{password_pg.port}/", f":{pgserver.free_port()}/"))  # fmt: skip
    monkeypatch.setenv("DOGCLI_RETRY_BASE", "0.01")
    ran = cli("runs")
    assert ran.code == 1, ran.err
    assert "unavailable" in ran.err and PASSWORD not in ran.err


def test_the_refusal_is_told_apart_from_other_errors() -> None:
    """What decides: the server's FATAL line (psycopg gives no SQLSTATE for it), or a code."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from dogcli.catalog.engine import refusal

    def err(text: str, cls: Any = OperationalError, state: str | None = None) -> Any:
        orig = Exception(text)
        orig.sqlstate = state  # type: ignore[attr-defined]
        return cls("SELECT 1", {}, orig)

    fatal = 'connection failed: connection to server at "h", port 5432 failed: FATAL:  '
    assert refusal(err(fatal + 'password authentication failed for user "dog"')) == (
        'password authentication failed for user "dog"', "auth")  # fmt: skip
    assert refusal(err(fatal + 'database "x" does not exist'))[1] == "database"  # type: ignore[index]
    assert refusal(err(fatal + 'role "bob" does not exist'))[1] == "auth"  # type: ignore[index]
    assert refusal(err("some driver text", state="28P01"))[1] == "auth"  # type: ignore[index]
    assert refusal(err("some driver text", state="3D000"))[1] == "database"  # type: ignore[index]
    assert refusal(err("connection refused")) is None
    assert refusal(err("server closed the connection unexpectedly")) is None
    assert refusal(err('relation "captures" does not exist', ProgrammingError)) is None
    assert os.environ.get("DOGCLI_DATABASE_URL") is None
