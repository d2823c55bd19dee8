"""redfeed_loads.batch_finished_at, and the conferences_latest view

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

The ledger records when each loaded batch was committed, so the loader can refuse to load an
older run over a newer one (unless asked to replay).

``conferences_latest``: one row per conference per source — the conference's row from the latest
snapshot that lists it (a conference of 2023 stays visible after the 2025 snapshots stop listing
it), with every topic that snapshot filed it under. Snapshots keep all occurrences (faithful to
the source); this view is where they are deduplicated, never by dropping rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "name, url, start_date, end_date, city, country, online, locales, year, cfp_url, "
    "cfp_end_date, coc_url, twitter, mastodon, offers_sign_language_or_cc, "
    "_feed, _batch_id, _interval_start, _scraped_at, _loaded_at"
)


def _redshift() -> bool:
    return op.get_context().dialect.name == "redshift"


def _topics_aggregate() -> str:
    # The same aggregate, spelled per dialect (Redshift has no string_agg).
    if _redshift():
        return "LISTAGG(DISTINCT topic, ',') WITHIN GROUP (ORDER BY topic)"
    return "string_agg(DISTINCT topic, ',' ORDER BY topic)"


def view_sql() -> str:
    # Redshift: a late-binding view (schema-qualified, WITH NO SCHEMA BINDING), so later
    # migrations can widen or swap the columns it reads. PostgreSQL has no such view: there a
    # migration that retypes a conferences column drops and recreates this view.
    table = "public.conferences" if _redshift() else "conferences"
    binding = "\nWITH NO SCHEMA BINDING" if _redshift() else ""
    # Constants of this file only: no outside input reaches the SQL.
    return f"""CREATE VIEW conferences_latest AS
WITH latest AS (
    SELECT _feed, url, start_date, MAX(_interval_start) AS _interval_start
    FROM {table}
    GROUP BY _feed, url, start_date
), snapshot AS (
    SELECT c.*, ROW_NUMBER() OVER (
        PARTITION BY c._feed, c.url, c.start_date ORDER BY c.topic, c.source_path
    ) AS occurrence
    FROM {table} c
    JOIN latest l
      ON c._feed = l._feed AND c.url = l.url AND c.start_date = l.start_date
     AND c._interval_start = l._interval_start
), topics AS (
    SELECT _feed, url, start_date, {_topics_aggregate()} AS topics, COUNT(*) AS occurrences
    FROM snapshot
    GROUP BY _feed, url, start_date
)
SELECT {", ".join(f"s.{c.strip()}" for c in COLUMNS.split(","))}, t.topics, t.occurrences
FROM snapshot s
JOIN topics t ON s._feed = t._feed AND s.url = t.url AND s.start_date = t.start_date
WHERE s.occurrence = 1{binding}"""  # noqa: S608


def upgrade() -> None:
    op.add_column(
        "redfeed_loads", sa.Column("batch_finished_at", sa.DateTime(), redshift_encode="az64")
    )
    op.execute(view_sql())


def downgrade() -> None:
    op.execute("DROP VIEW conferences_latest")
    op.drop_column("redfeed_loads", "batch_finished_at")
