"""conferences (confs.tech) and the load ledger redfeed_loads

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Frozen: this file spells its tables out instead of importing the models, so it creates the same
schema whatever the models later become. ``cfp_end_date`` starts as the source's text
(VARCHAR); 0002 turns it into a DATE the Redshift way.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from redfeed.warehouse.dialect import utc_now

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conferences",
        sa.Column("name", sa.String(512), nullable=False, redshift_encode="zstd"),
        sa.Column("url", sa.String(2048), nullable=False, redshift_encode="zstd"),
        sa.Column("start_date", sa.Date(), nullable=False, redshift_encode="raw"),
        sa.Column("end_date", sa.Date(), redshift_encode="az64"),
        sa.Column("city", sa.String(256), redshift_encode="zstd"),
        sa.Column("country", sa.String(128), redshift_encode="zstd"),
        sa.Column("online", sa.Boolean(), redshift_encode="zstd"),
        sa.Column("locales", sa.String(128), redshift_encode="zstd"),
        sa.Column("topic", sa.String(64), redshift_encode="zstd"),
        sa.Column("year", sa.SmallInteger(), redshift_encode="az64"),
        sa.Column("source_path", sa.String(256), redshift_encode="zstd"),
        sa.Column("cfp_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("cfp_end_date", sa.String(32), redshift_encode="zstd"),
        sa.Column("coc_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("twitter", sa.String(64), redshift_encode="zstd"),
        sa.Column("mastodon", sa.String(320), redshift_encode="zstd"),
        sa.Column("offers_sign_language_or_cc", sa.Boolean(), redshift_encode="zstd"),
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
        redshift_distkey="url",
        redshift_sortkey=("_interval_start", "start_date"),
    )
    op.create_table(
        "redfeed_loads",
        sa.Column("load_id", sa.String(64), nullable=False, redshift_encode="zstd"),
        sa.Column("feed", sa.String(64), nullable=False, redshift_encode="raw"),
        sa.Column("interval_start", sa.DateTime(), nullable=False, redshift_encode="raw"),
        sa.Column("interval_end", sa.DateTime(), redshift_encode="az64"),
        sa.Column("run_id", sa.String(200), nullable=False, redshift_encode="zstd"),
        sa.Column("table_name", sa.String(127), nullable=False, redshift_encode="zstd"),
        sa.Column("status", sa.String(16), nullable=False, redshift_encode="zstd"),
        sa.Column("manifest_url", sa.String(2048), nullable=False, redshift_encode="zstd"),
        sa.Column("manifest_sha256", sa.CHAR(64), nullable=False, redshift_encode="zstd"),
        sa.Column("content_digest", sa.CHAR(64), redshift_encode="zstd"),
        sa.Column("rows_in", sa.BigInteger(), redshift_encode="az64"),
        sa.Column("rows_loaded", sa.BigInteger(), redshift_encode="az64"),
        sa.Column("rows_rejected", sa.BigInteger(), redshift_encode="az64"),
        sa.Column("rows_replaced", sa.BigInteger(), redshift_encode="az64"),
        sa.Column("reject_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("error", sa.String(4096), redshift_encode="zstd"),
        sa.Column("started_at", sa.DateTime(), nullable=False, redshift_encode="az64"),
        sa.Column("finished_at", sa.DateTime(), redshift_encode="az64"),
        sa.Column("loader_version", sa.String(64), nullable=False, redshift_encode="zstd"),
        sa.PrimaryKeyConstraint("load_id", name="pk_redfeed_loads"),
        redshift_diststyle="ALL",
        redshift_sortkey=("feed", "interval_start"),
    )


def downgrade() -> None:
    op.drop_table("redfeed_loads")
    op.drop_table("conferences")
