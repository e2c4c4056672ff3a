"""Catalog tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class CaptureRow(Base):
    __tablename__ = "captures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    terminal: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(64))
    url_ts: Mapped[str] = mapped_column(String(19))  # the stamp as in the URL (URL zone)
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the stamp, UTC
    variant: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    source_url: Mapped[str] = mapped_column(Text)
    downloaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("terminal", "stream", "url_ts", name="uq_captures_identity"),
        # Covering index: stats (count, bytes, first/last, recent) never touch the table.
        Index("ix_captures_stream_time", "terminal", "stream", "captured_at", "bytes"),
        Index("ix_captures_captured_at", "captured_at"),
    )


class RunRow(Base):
    """The run journal: one row per fetch, backfill or cleanup."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    command: Mapped[str] = mapped_column(String(32))
    streams: Mapped[str] = mapped_column(Text, default="")  # comma-separated
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # runrecord.OUTCOMES
    found: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_runs_command_started", "command", "started_at"),)


class DayRow(Base):
    """The completeness ledger: one row per (terminal, stream, local day) read or stored.

    `stored`, `full`, `thumbnail` and `bytes` are derived from the captures table (recounted
    after each change to the day), `missing` from the wanted table; `listed` and `last_read`
    record the last complete read of the day's page; `settled_at` the first complete read made
    a settle time after the day ended (later publications are then not expected)."""

    __tablename__ = "days"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    terminal: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))  # local day, YYYY-MM-DD
    listed: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: never read
    stored: Mapped[int] = mapped_column(Integer, default=0)
    full: Mapped[int] = mapped_column(Integer, default=0)
    thumbnail: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    last_read: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (UniqueConstraint("terminal", "stream", "day", name="uq_days_identity"),)


class WantedRow(Base):
    """A capture the page listed that the archive lacks (`want` "any"), or holds only as a
    thumbnail while its full size may still appear (`want` "full")."""

    __tablename__ = "wanted"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    terminal: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(64))
    url_ts: Mapped[str] = mapped_column(String(19))
    day: Mapped[str] = mapped_column(String(10))  # local day
    want: Mapped[str] = mapped_column(String(8))  # any | full
    url: Mapped[str] = mapped_column(Text)  # as the page listed it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_tried: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("terminal", "stream", "url_ts", name="uq_wanted_identity"),
        Index("ix_wanted_day", "terminal", "stream", "day"),
    )
