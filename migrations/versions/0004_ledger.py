"""the completeness ledger: days and wanted

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

The days table starts empty: `dogcli verify --repair` (or the first fetch or backfill of a
day) fills it from the captures table.
"""

from __future__ import annotations

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


def downgrade() -> None:
    op.drop_index("ix_wanted_day", table_name="wanted")
    op.drop_table("wanted")
    op.drop_table("days")
