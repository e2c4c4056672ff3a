"""dogcli export: every cataloged capture, once, in CSV, JSON lines or Parquet."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from dogcli.catalog.captures import Catalog
from dogcli.storage.base import StoredFile

ROOT = Path(__file__).resolve().parents[2]
SITE = ZoneInfo("America/Los_Angeles")
START = datetime(2025, 3, 8, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=37)
COUNT = 200  # 5 days; both streams share every stamp (ties on captured_at)


def stamps(count: int = COUNT) -> list[datetime]:
    return [START + STEP * i for i in range(count // 2)]


def fill(url: str, count: int = COUNT) -> None:
    now = datetime.now(UTC).isoformat()
    records = []
    for i, moment in enumerate(stamps(count)):
        ts = moment.strftime("%Y-%m-%dT%H:%M:%S")
        for stream in ("in_gate", "out_gate"):
            day = moment.astimezone(SITE).date()
            name = f"{stream}_{moment:%Y%m%dT%H%M%S}Z.jpg"
            records.append(StoredFile(
                "apm", stream, ts, "thumbnail" if i % 5 == 0 else "full",
                f"images/apm/{stream}/{day}/{name}", 1000 + i, f"{i:064x}", "https://cdn/x", now,
            ))  # fmt: skip
    with Catalog(url) as catalog:
        catalog.upgrade()
        catalog.insert(records, ZoneInfo("UTC"))


@pytest.fixture
def archive(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A catalog of COUNT captures; small batches so that paging crosses many ties."""
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOGCLI_DATABASE_URL", db_url)
    monkeypatch.setattr("dogcli.jobs.export.BATCH", 7)
    (tmp_path / "data").mkdir()
    fill(db_url)
    return db_url


def catalog_count(url: str) -> int:
    with Catalog(url) as catalog:
        return catalog.count_captures()


def test_csv_has_every_capture_once(archive: str, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "captures.csv"
    ran = cli("export", "--format", "csv", "--output", str(out))
    assert ran.code == 0, ran.err
    assert ran.out == ""  # the data went to the file
    assert f"exported {COUNT} captures" in ran.err
    rows = list(csv.DictReader(out.open(newline="")))
    assert len(rows) == catalog_count(archive) == COUNT
    assert list(rows[0]) == ["terminal", "stream", "captured_at", "day", "variant", "path",
                             "bytes", "sha256"]  # fmt: skip
    keys = {(r["stream"], r["captured_at"]) for r in rows}
    assert len(keys) == COUNT  # no row twice across the batch boundaries
    assert [r["captured_at"] for r in rows] == sorted(r["captured_at"] for r in rows)
    # 07:27Z on 9 March is 23:27 on the 8th in Los Angeles (PST, UTC-8).
    late = [r for r in rows if r["captured_at"] == "2025-03-09T07:27:00Z"]
    assert {r["day"] for r in late} == {"2025-03-08"}
    first = rows[0]
    assert first["path"] == "images/apm/in_gate/2025-03-07/in_gate_20250308T000000Z.jpg"
    assert first["bytes"] == "1000" and first["variant"] == "thumbnail"
    assert first["sha256"] == "0" * 64
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_jsonl_to_stdout(archive: str, cli: Any) -> None:
    ran = cli("export", "--format", "jsonl")
    assert ran.code == 0, ran.err
    rows = [json.loads(line) for line in ran.out.splitlines()]
    assert len(rows) == catalog_count(archive)
    for row in rows:
        moment = datetime.fromisoformat(row["captured_at"])
        assert row["captured_at"].endswith("Z")
        assert row["day"] == moment.astimezone(SITE).date().isoformat()
        assert isinstance(row["bytes"], int)


def test_parquet_reads_back(archive: str, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "captures.parquet"
    ran = cli("export", "--format", "parquet", "-o", str(out))
    assert ran.code == 0, ran.err
    table = pq.read_table(out)
    assert table.num_rows == catalog_count(archive)
    assert table.column_names == ["terminal", "stream", "captured_at", "day", "variant",
                                  "path", "bytes", "sha256"]  # fmt: skip
    assert str(table.schema.field("captured_at").type) == "timestamp[us, tz=UTC]"
    got = table.to_pylist()
    assert got[0]["captured_at"] == START
    assert sum(r["bytes"] for r in got) == sum(2 * (1000 + i) for i in range(COUNT // 2))
    assert {r["day"] for r in got} == {m.astimezone(SITE).date() for m in stamps()}


def test_filters_by_day_and_stream(archive: str, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "some.csv"
    ran = cli("export", "--since", "2025-03-08", "--until", "2025-03-09", "-s", "out_gate",
              "--output", str(out))  # fmt: skip
    assert ran.code == 0, ran.err
    rows = list(csv.DictReader(out.open(newline="")))
    wanted = [m for m in stamps() if "2025-03-08" <= str(m.astimezone(SITE).date()) <= "2025-03-09"]
    assert 0 < len(rows) == len(wanted) < COUNT // 2
    assert {r["stream"] for r in rows} == {"out_gate"}
    assert {r["day"] for r in rows} == {"2025-03-08", "2025-03-09"}


def test_output_replaces_a_file_atomically(archive: str, cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "captures.csv"
    out.write_text("old\n")
    assert cli("export", "--stream", "in_gate", "-o", str(out)).code == 0
    assert len(out.read_text().splitlines()) == COUNT // 2 + 1
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".captures.csv")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "bad --format 'xml'"),
        (["--since", "2025-13-01"], "bad --since '2025-13-01'"),
        (["--since", "2025-03-09", "--until", "2025-03-08"], "is before --since"),
        (["--stream", "In Gate"], "bad --stream"),
        (["--output", "/nonexistent/dir/x.csv"], "does not exist"),
    ],
)
def test_bad_options_are_one_line(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path / "data"))
    ran = cli("export", *args)
    assert ran.code == 2
    assert message in ran.err and len(ran.err.strip().splitlines()) == 1
    assert ran.out == ""


def test_no_archive_yet_is_an_empty_export(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path / "data"))
    ran = cli("export")
    assert ran.code == 0
    assert ran.out == "terminal,stream,captured_at,day,variant,path,bytes,sha256\n"
    assert "no archive yet" in ran.err
    assert not (tmp_path / "data").exists()  # looking never creates it


def run_dogcli(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, timeout=60, cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip


MAIN = "import sys\nfrom dogcli.cli.app import main\nmain(sys.argv[1:])"


def test_parquet_to_a_pipe(archive: str, tmp_path: Path) -> None:
    env = {"DOGCLI_DATA_DIR": str(tmp_path / "data"), "DOGCLI_DATABASE_URL": archive}
    ran = run_dogcli(MAIN, env, "export", "--format", "parquet")
    assert ran.returncode == 0, ran.stderr
    assert pq.read_table(io.BytesIO(ran.stdout)).num_rows == COUNT


def test_missing_pyarrow_is_one_line_exit_2(archive: str, tmp_path: Path) -> None:
    # sys.modules[name] = None makes `import name` raise ImportError: pyarrow as if absent.
    blocked = "import sys\nsys.modules['pyarrow'] = None\n" + MAIN
    env = {"DOGCLI_DATA_DIR": str(tmp_path / "data"), "DOGCLI_DATABASE_URL": archive}
    out = tmp_path / "x.parquet"
    ran = run_dogcli(blocked, env, "export", "--format", "parquet", "--output", str(out))
    assert ran.returncode == 2
    err = ran.stderr.decode()
    assert err == "dogcli: error: --format parquet needs pyarrow: pip install 'dogcli[parquet]'\n"
    assert not out.exists()
    # CSV does not need it.
    ran = run_dogcli(blocked, env, "-q", "export", "--format", "csv")
    assert ran.returncode == 0, ran.stderr
    assert len(ran.stdout.splitlines()) == COUNT + 1


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path / 'data' / 'dogcli.db'}"
    fill(url, 6000)  # over a megabyte: more than a pipe holds
    env = {**os.environ, "DOGCLI_DATA_DIR": str(tmp_path / "data"), "DOGCLI_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-c", MAIN, "export", "--format", "jsonl"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
