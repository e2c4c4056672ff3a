"""captures table

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "captures",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("site_ts", sa.String(19), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("variant", sa.String(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("terminal", "stream", "site_ts", name="uq_captures_identity"),
    )
    op.create_index(
        "ix_captures_stream_time", "captures", ["terminal", "stream", "captured_at", "bytes"]
    )
    op.create_index("ix_captures_captured_at", "captures", ["captured_at"])


def downgrade() -> None:
    op.drop_index("ix_captures_captured_at", table_name="captures")
    op.drop_index("ix_captures_stream_time", table_name="captures")
    op.drop_table("captures")
