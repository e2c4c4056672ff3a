"""Passwords never appear in output, logs (even -v), the run journal, .health, metrics, the
pending journal or anything else dogcli writes: on success and on every failure path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.faultkit import record
from tests.reliability.test_faults import trim

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PASSWORD = "S3cr3t-p@ss:w/rd"
ENCODED = "S3cr3t-p%40ss%3Aw%2Frd"
ALERT_SECRET = "AlertT0ken"
FORMS = (PASSWORD, ENCODED, "S3cr3t", ALERT_SECRET)


def _with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{ENCODED}@{host}"  # the server trusts: the password is ignored


def _leaks(text_: str) -> list[str]:
    return [form for form in FORMS if form in text_]


def test_passwords_never_leak(
    make_site: Any, cli: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = _with_password(pg_url)
    site = make_site(days=2, database_url=url, api_delay=0.0, gallery="eager")
    day = site.day(-1)
    trim(site, "in_gate", day, 6)
    metrics = site.data_dir / "metrics.prom"
    monkeypatch.setenv("DOGCLI_STREAMS", "in_gate")
    monkeypatch.setenv("DOGCLI_METRICS_FILE", str(metrics))
    monkeypatch.setenv("DOGCLI_ALERT_URLS", f"http://hook:{ALERT_SECRET}@127.0.0.1:9/alert")
    monkeypatch.setenv("DOGCLI_MAX_RETRIES", "1")
    outputs: list[str] = []

    def run(*args: str) -> Any:
        ran = cli("-v", *args)
        outputs.append(ran.out + ran.err)
        assert "Traceback" not in ran.err, ran.err
        return ran

    assert run("db", "upgrade").code == 0
    assert run("backfill", str(day)).code == 0
    for args in (["stats", "--json"], ["runs", "--json"], ["verify", "--json"],
                 ["cleanup", "--dry-run"], ["fetch", "--max-days", "1"]):  # fmt: skip
        ran = run(*args)
        assert ran.code == 0, ran.out + ran.err
    run("health", "--json")  # writes .health; its status depends on the clock, not tested here
    assert (site.data_dir / ".health").exists() and metrics.exists()

    # Failure paths: the server unreachable, a URL that cannot be parsed, a failing alert.
    down = url.replace(f":{pg_url.split(':')[-1].split('/')[0]}/", ":1/")
    monkeypatch.setenv("DOGCLI_DATABASE_URL", down)
    for args in (["backfill", str(day)], ["stats"], ["verify"], ["db", "upgrade"], ["health"]):
        assert run(*args).code != 0
    monkeypatch.setenv("DOGCLI_DATABASE_URL", down.replace(":1/", ":port/"))
    assert run("stats").code == 2
    site.replica.stop()  # the site is down too: the fetch fails and alerts
    monkeypatch.setenv("DOGCLI_DATABASE_URL", url)
    monkeypatch.setenv("DOGCLI_PAGE_TIMEOUT", "2")
    assert run("fetch", "--max-days", "1").code == 1

    leaks = {f"output {i}": _leaks(o) for i, o in enumerate(outputs) if _leaks(o)}
    files = [p for p in site.data_dir.rglob("*") if p.is_file() and "images" not in p.parts]
    for path in files:
        found = _leaks(path.read_bytes().decode(errors="replace"))
        if found:
            leaks[str(path)] = found
    engine = create_engine(pg_url)
    rows = 0
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'select * from "{table}"')):
                rows += 1
                found = _leaks(" ".join(str(v) for v in row))
                if found:
                    leaks[f"table {table}"] = found
    engine.dispose()
    assert leaks == {}
    assert any("***" in o for o in outputs)  # the URLs were there, redacted
    record("secrets", commands_run=len(outputs), files_checked=len(files),
           catalog_rows_checked=rows, leaks=0)  # fmt: skip
