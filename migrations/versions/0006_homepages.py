"""homepage_events: the conference home pages feed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

Frozen: the table is spelled out instead of imported from the models, so this migration creates
the same thing forever. One row per schema.org event (JSON-LD) a conference's home page declared,
per snapshot; ``page_url`` is the URL as the listing feed had it, so the table is distributed
like ``conferences`` (by the website) and the join between them is collocated.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from redfeed.warehouse.dialect import utc_now

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "homepage_events"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("page_url", sa.String(2048), nullable=False, redshift_encode="zstd"),
        sa.Column("event_index", sa.SmallInteger(), nullable=False, redshift_encode="az64"),
        sa.Column("url", sa.String(2048), nullable=False, redshift_encode="zstd"),
        sa.Column("event_type", sa.String(64), nullable=False, redshift_encode="zstd"),
        sa.Column("name", sa.String(512), redshift_encode="zstd"),
        sa.Column("start_date", sa.Date(), redshift_encode="raw"),
        sa.Column("end_date", sa.Date(), redshift_encode="az64"),
        sa.Column("event_status", sa.String(64), redshift_encode="zstd"),
        sa.Column("event_attendance_mode", sa.String(64), redshift_encode="zstd"),
        sa.Column("location_name", sa.String(512), redshift_encode="zstd"),
        sa.Column("location_address", sa.String(1024), redshift_encode="zstd"),
        sa.Column("location_locality", sa.String(256), redshift_encode="zstd"),
        sa.Column("location_country", sa.String(128), redshift_encode="zstd"),
        sa.Column("virtual_location_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("participation_offer_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("participation_offer_name", sa.String(512), redshift_encode="zstd"),
        sa.Column("sponsorship_offer_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("sponsorship_offer_name", sa.String(512), redshift_encode="zstd"),
        sa.Column("organizer_name", sa.String(512), redshift_encode="zstd"),
        sa.Column("organizer_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("sponsors", sa.String(8192), redshift_encode="zstd"),
        sa.Column("jsonld", sa.String(65535), nullable=False, redshift_encode="zstd"),
        sa.Column("_feed", sa.String(64), nullable=False, redshift_encode="zstd"),
        sa.Column("_batch_id", sa.String(200), nullable=False, redshift_encode="zstd"),
        sa.Column("_interval_start", sa.DateTime(), nullable=False, redshift_encode="raw"),
        sa.Column("_scraped_at", sa.DateTime(), nullable=False, redshift_encode="az64"),
        sa.Column(
            "_loaded_at",
            sa.DateTime(),
            server_default=utc_now(),
            nullable=False,
            redshift_encode="az64",
        ),
        redshift_diststyle="KEY",
        redshift_distkey="page_url",
        redshift_sortkey=("_interval_start", "start_date"),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
