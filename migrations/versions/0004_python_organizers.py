"""python_conferences: the python-organizers feed, and the python_conferences_latest view

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Frozen: the table is spelled out instead of imported from the models, so this migration creates
the same thing forever. One row per row of a python-organizers ``<year>.csv`` per snapshot,
faithful to the source (duplicates kept); ``python_conferences_latest`` is where they are
deduplicated: one row per conference (``_feed, subject, start_date``) from the latest snapshot
that lists it, with ``occurrences`` (how many rows that snapshot had for it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from redfeed.warehouse.dialect import utc_now

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "python_conferences"
VIEW = "python_conferences_latest"
COLUMNS = (
    "subject",
    "start_date",
    "end_date",
    "location",
    "country",
    "venue",
    "tutorial_deadline",
    "talk_deadline",
    "website_url",
    "proposal_url",
    "sponsorship_url",
    "year",
    "source_path",
    "line",
    "_feed",
    "_batch_id",
    "_interval_start",
    "_scraped_at",
    "_loaded_at",
)


def _redshift() -> bool:
    return op.get_context().dialect.name == "redshift"


def view_sql() -> str:
    # Redshift: a late-binding view (schema-qualified, WITH NO SCHEMA BINDING), so later
    # migrations can widen or swap the columns it reads. PostgreSQL has no such view: there a
    # migration that retypes a python_conferences column drops and recreates this view.
    table = f"public.{TABLE}" if _redshift() else TABLE
    binding = "\nWITH NO SCHEMA BINDING" if _redshift() else ""
    columns = ", ".join(COLUMNS)
    # One window pass: the newest snapshot first, then the source's own order within it.
    # Constants of this file only: no outside input reaches the SQL.
    return f"""CREATE VIEW {VIEW} AS
SELECT {columns}, occurrences
FROM (
    SELECT {columns},
           COUNT(*) OVER (
               PARTITION BY _feed, subject, start_date, _interval_start
           ) AS occurrences,
           ROW_NUMBER() OVER (
               PARTITION BY _feed, subject, start_date
               ORDER BY _interval_start DESC, source_path, line
           ) AS newest
    FROM {table}
) ranked
WHERE newest = 1{binding}"""  # noqa: S608


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("subject", sa.String(512), nullable=False, redshift_encode="zstd"),
        sa.Column("start_date", sa.Date(), nullable=False, redshift_encode="raw"),
        sa.Column("end_date", sa.Date(), redshift_encode="az64"),
        sa.Column("location", sa.String(1024), redshift_encode="zstd"),
        sa.Column("country", sa.CHAR(3), redshift_encode="zstd"),
        sa.Column("venue", sa.String(512), redshift_encode="zstd"),
        sa.Column("tutorial_deadline", sa.Date(), redshift_encode="az64"),
        sa.Column("talk_deadline", sa.Date(), redshift_encode="az64"),
        sa.Column("website_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("proposal_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("sponsorship_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("year", sa.SmallInteger(), redshift_encode="az64"),
        sa.Column("source_path", sa.String(256), redshift_encode="zstd"),
        sa.Column("line", sa.Integer(), redshift_encode="az64"),
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
        redshift_distkey="subject",
        redshift_sortkey=("_interval_start", "start_date"),
    )
    op.execute(view_sql())


def downgrade() -> None:
    op.execute(f"DROP VIEW {VIEW}")
    op.drop_table(TABLE)
