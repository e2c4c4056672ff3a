"""the completeness ledger: days and wanted

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

The days table is filled from the captures table (counts per local day of the site zone,
handed over as config.attributes["timezone"]); those days count as never read, so the gap
report lists them until a backfill reads them under the UTC time model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "days",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=True),
        sa.Column("stored", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("full", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("thumbnail", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("missing", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("last_read", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("terminal", "stream", "day", name="uq_days_identity"),
    )
    op.create_table(
        "wanted",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("url_ts", sa.String(19), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("want", sa.String(8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_tried", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("terminal", "stream", "url_ts", name="uq_wanted_identity"),
    )
    op.create_index("ix_wanted_day", "wanted", ["terminal", "stream", "day"])
    _count_days()


def _count_days() -> None:
    config = op.get_context().config
    zone = ZoneInfo(str((config.attributes.get("timezone") if config else None)
                        or "America/Los_Angeles"))  # fmt: skip
    bind = op.get_bind()
    counts: dict[tuple[str, str, str], list[int]] = {}
    last: tuple[str, str, str] | None = None
    day = ""
    rows = bind.execute(
        sa.text(
            "SELECT terminal, stream, captured_at, variant, bytes FROM captures "
            "ORDER BY terminal, stream, captured_at"
        )
    )
    for terminal, stream, at, variant, size in rows:
        if isinstance(at, str):  # SQLite: text, in UTC
            at = datetime.fromisoformat(at)
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        hour = (terminal, stream, f"{at:%Y-%m-%dT%H}")
        if hour != last:  # one zone conversion per hour
            day = f"{at.astimezone(zone):%Y-%m-%d}"
            last = hour
        count = counts.setdefault((terminal, stream, day), [0, 0, 0])
        count[0 if variant == "thumbnail" else 1] += 1
        count[2] += int(size)
    days = sa.table(
        "days",
        sa.column("terminal"), sa.column("stream"), sa.column("day"), sa.column("stored"),
        sa.column("full"), sa.column("thumbnail"), sa.column("bytes"),
    )  # fmt: skip
    values = [
        {
            "terminal": t,
            "stream": s,
            "day": d,
            "stored": c[0] + c[1],
            "full": c[1],
            "thumbnail": c[0],
            "bytes": c[2],
        }
        for (t, s, d), c in counts.items()
    ]
    for start in range(0, len(values), 1000):
        bind.execute(days.insert(), values[start : start + 1000])


def downgrade() -> None:
    op.drop_index("ix_wanted_day", table_name="wanted")
    op.drop_table("wanted")
    op.drop_table("days")
