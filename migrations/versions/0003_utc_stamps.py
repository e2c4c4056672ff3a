"""URL stamps are UTC: rename captures.site_ts to url_ts and recompute captured_at

The image URLs of the real site are stamped in UTC (SITE.md); earlier versions read them as
site-local time, so every captured_at was off by the zone's offset. The stamp itself (the
identity) was stored as written in the URL, so it stays; captured_at is the stamp read in the
URL zone (DOGCLI_URL_TIMEZONE, handed over as config.attributes["url_timezone"]).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _url_timezone() -> str:
    config = op.get_context().config
    value = config.attributes.get("url_timezone") if config is not None else None
    return str(value or "UTC")


def upgrade() -> None:
    op.execute("ALTER TABLE captures RENAME COLUMN site_ts TO url_ts")
    bind = op.get_bind()
    zone = _url_timezone()
    if zone == "UTC" and bind.dialect.name == "postgresql":
        op.execute("UPDATE captures SET captured_at = (url_ts::timestamp AT TIME ZONE 'UTC')")
    elif zone == "UTC":
        # SQLAlchemy's SQLite DATETIME text form, in UTC as dogcli stores it.
        op.execute("UPDATE captures SET captured_at = replace(url_ts, 'T', ' ') || '.000000'")
    else:
        # In Python, as dogcli reads stamps (Zones.to_utc): a wall time that repeats is its
        # first occurrence, where PostgreSQL's AT TIME ZONE takes the second.
        tz = ZoneInfo(zone)
        rows = bind.execute(sa.text("SELECT id, url_ts FROM captures")).all()
        values = [
            {
                "i": row_id,
                "at": datetime.fromisoformat(url_ts).replace(tzinfo=tz).astimezone(UTC),
            }
            for row_id, url_ts in rows
        ]
        if values:
            update = sa.text("UPDATE captures SET captured_at = :at WHERE id = :i").bindparams(
                sa.bindparam("at", type_=sa.DateTime(timezone=True))
            )
            bind.execute(update, values)


def downgrade() -> None:
    # captured_at stays as it is: the older version's reading of the stamp was the error.
    op.execute("ALTER TABLE captures RENAME COLUMN url_ts TO site_ts")
