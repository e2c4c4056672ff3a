"""dogcli export: the catalog as CSV, JSON lines or Parquet, for analytics.

Rows come from the catalog in keyset-paginated batches (Catalog.iter_captures) and go out as
they come, so memory does not grow with the catalog. A file is written under a temporary name
in its folder and renamed when complete: a reader never sees half an export."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from dogcli.archive.session import Archive
from dogcli.catalog.captures import CaptureRecord
from dogcli.config import NAME_RE, Settings
from dogcli.model.days import parse_day
from dogcli.model.errors import UsageError

FORMATS = ("csv", "jsonl", "parquet")
COLUMNS = ("terminal", "stream", "captured_at", "day", "variant", "path", "bytes", "sha256")
BATCH = 10_000  # rows per catalog query, and per Parquet row group
PARQUET_MISSING = "--format parquet needs pyarrow: pip install 'dogcli[parquet]'"


@dataclass(frozen=True)
class ExportRequest:
    format: str
    since: date | None = None
    until: date | None = None
    streams: tuple[str, ...] = ()


@dataclass
class ExportResult:
    rows: int = 0
    seconds: float = 0.0
    output: Path | None = None  # None: stdout
    no_archive: bool = False


def parse_request(
    fmt: str, since: str | None, until: str | None, streams: Sequence[str]
) -> ExportRequest:
    """Check the options: one-line UsageError (exit 2) for anything wrong."""
    if fmt not in FORMATS:
        raise UsageError(f"bad --format {fmt!r}: use {', '.join(FORMATS)}")
    first = parse_day("--since", since)
    last = parse_day("--until", until)
    if first is not None and last is not None and last < first:
        raise UsageError(f"--until {last} is before --since {first}")
    for stream in streams:
        if not NAME_RE.match(stream):
            raise UsageError(f"bad --stream {stream!r}: lowercase letters, digits or _")
    return ExportRequest(fmt, first, last, tuple(dict.fromkeys(streams)))


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UsageError(PARQUET_MISSING) from None
    return pyarrow


def export_captures(
    settings: Settings, request: ExportRequest, output: Path | None, stdout: IO[bytes]
) -> ExportResult:
    """Write the export to `output` (atomically) or to `stdout`, a binary stream."""
    started = time.monotonic()
    pa = _pyarrow() if request.format == "parquet" else None
    if request.format == "parquet" and output is None and _isatty(stdout):
        raise UsageError("Parquet is binary: give --output FILE or redirect stdout")
    result = ExportResult(output=output)
    zones = settings.zones
    start = zones.day_bounds(request.since)[0] if request.since else None
    end = zones.day_bounds(request.until)[1] if request.until else None
    with Archive.open(settings) as archive:
        catalog = archive.existing_catalog()
        result.no_archive = catalog is None
        batches: Iterator[list[CaptureRecord]] = (
            catalog.iter_captures(start, end, request.streams, BATCH) if catalog else iter(())
        )
        with _sink(output, stdout) as sink:
            if pa is not None:
                result.rows = _write_parquet(pa, sink, batches, settings)
            else:
                result.rows = _write_text(request.format, sink, batches, settings)
    result.seconds = time.monotonic() - started
    return result


def _isatty(stream: IO[bytes]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def _sink(output: Path | None, stdout: IO[bytes]) -> Iterator[IO[bytes]]:
    if output is None:
        yield stdout
        stdout.flush()
        return
    folder = output.parent
    if not folder.is_dir():
        raise UsageError(f"--output {output}: folder {folder} does not exist")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"--output {output}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        os.replace(temp, output)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _write_text(
    fmt: str, sink: IO[bytes], batches: Iterator[list[CaptureRecord]], settings: Settings
) -> int:
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=False)
    site = settings.zones.site
    rows = 0
    try:
        writer = csv.writer(text, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(COLUMNS)
        for batch in batches:
            for r in batch:
                values = (r.terminal, r.stream, _iso(r.captured_at),
                          r.captured_at.astimezone(site).date().isoformat(),
                          r.variant, r.path, r.bytes, r.sha256)  # fmt: skip
                if writer is not None:
                    writer.writerow(values)
                else:
                    text.write(json.dumps(dict(zip(COLUMNS, values, strict=True))) + "\n")
            rows += len(batch)
        text.flush()
    finally:
        text.detach()  # the sink is the caller's to close
    return rows


def _write_parquet(
    pa: Any, sink: IO[bytes], batches: Iterator[list[CaptureRecord]], settings: Settings
) -> int:
    """Typed columns: captured_at a UTC timestamp and day a date, as analytics tools read
    them without parsing."""
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("terminal", pa.string()), ("stream", pa.string()),
        ("captured_at", pa.timestamp("us", tz="UTC")), ("day", pa.date32()),
        ("variant", pa.string()), ("path", pa.string()),
        ("bytes", pa.int64()), ("sha256", pa.string()),
    ])  # fmt: skip
    site = settings.zones.site
    rows = 0
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for batch in batches:
            columns = {
                "terminal": [r.terminal for r in batch],
                "stream": [r.stream for r in batch],
                "captured_at": [r.captured_at for r in batch],
                "day": [r.captured_at.astimezone(site).date() for r in batch],
                "variant": [r.variant for r in batch],
                "path": [r.path for r in batch],
                "bytes": [r.bytes for r in batch],
                "sha256": [r.sha256 for r in batch],
            }
            writer.write_table(pa.table(columns, schema=schema))
            rows += len(batch)
    return rows
