"""the conference dimension and the cross-referenced views

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

``conference`` holds one row per real-world conference and ``conference_members`` says which
source listing belongs to which conference; ``redfeed xref`` rebuilds both from the sources'
latest snapshots (see redfeed.warehouse.xref). The views answer the tracker's questions:

- ``upcoming_open_cfps``: conferences still to come whose call for proposals is open;
- ``conference_talks``: talks and their speakers per conference (pretalx, latest snapshot);
- ``conferences_per_country_month``: how many conferences, where and when;
- ``cfp_changes``: CFP deadlines that moved between two snapshots of the same listing (the
  history is in the snapshots: every load keeps its interval's rows).

On Redshift the views are late-binding (schema-qualified, WITH NO SCHEMA BINDING) like 0003's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = ("upcoming_open_cfps", "conference_talks", "conferences_per_country_month", "cfp_changes")


def _redshift() -> bool:
    return op.get_context().dialect.name == "redshift"


def _t(name: str) -> str:
    return f"public.{name}" if _redshift() else name


def _binding() -> str:
    return "\nWITH NO SCHEMA BINDING" if _redshift() else ""


def view_sql() -> dict[str, str]:
    # Constants of this file only: no outside input reaches the SQL.
    conference, members = _t("conference"), _t("conference_members")
    return {
        "upcoming_open_cfps": f"""CREATE VIEW upcoming_open_cfps AS
SELECT conference_id, name, start_date, end_date, city, country, url, cfp_url, cfp_end_date,
       sources
FROM {conference}
WHERE start_date >= CURRENT_DATE AND cfp_end_date >= CURRENT_DATE{_binding()}""",  # noqa: S608
        "conference_talks": f"""CREATE VIEW conference_talks AS
WITH latest AS (
    SELECT _feed, MAX(_interval_start) AS _interval_start
    FROM {_t("pretalx_talks")}
    GROUP BY _feed
)
SELECT c.conference_id, c.name AS conference, c.start_date, m.ref AS event,
       t.code AS talk_code, t.title, t.track, t.submission_type, t.state, t.duration,
       t.slot_start, t.slot_end, t.room,
       b.position AS speaker_position, b.speaker_code, s.name AS speaker_name
FROM {conference} c
JOIN {members} m ON m.conference_id = c.conference_id AND m.source = 'pretalx'
JOIN latest l ON l._feed = m.feed
JOIN {_t("pretalx_talks")} t
  ON t._feed = m.feed AND t.event = m.ref AND t._interval_start = l._interval_start
LEFT JOIN {_t("pretalx_talk_speakers")} b
  ON b._feed = t._feed AND b._interval_start = t._interval_start AND b.talk_code = t.code
LEFT JOIN {_t("pretalx_speakers")} s
  ON s._feed = b._feed AND s._interval_start = b._interval_start
 AND s.code = b.speaker_code{_binding()}""",  # noqa: S608
        "conferences_per_country_month": f"""CREATE VIEW conferences_per_country_month AS
SELECT COALESCE(country, '(unknown)') AS country,
       CAST(DATE_TRUNC('month', start_date) AS DATE) AS month,
       COUNT(*) AS conferences,
       SUM(CASE WHEN source_count > 1 THEN 1 ELSE 0 END) AS seen_by_several_sources
FROM {conference}
WHERE start_date IS NOT NULL
GROUP BY 1, 2{_binding()}""",  # noqa: S608
        "cfp_changes": f"""CREATE VIEW cfp_changes AS
WITH snapshots AS (
    SELECT DISTINCT 'confs-tech' AS source,
           url || '|' || CAST(start_date AS VARCHAR(10)) AS source_key,
           name, _interval_start, cfp_end_date
    FROM {_t("conferences")}
    UNION ALL
    SELECT DISTINCT 'python-organizers',
           subject || '|' || CAST(start_date AS VARCHAR(10)),
           subject, _interval_start, talk_deadline
    FROM {_t("python_conferences")}
), ordered AS (
    SELECT s.*,
           LAG(cfp_end_date) OVER (
               PARTITION BY source, source_key ORDER BY _interval_start
           ) AS previous_cfp_end_date,
           LAG(_interval_start) OVER (
               PARTITION BY source, source_key ORDER BY _interval_start
           ) AS previous_snapshot
    FROM snapshots s
)
SELECT m.conference_id, o.source, o.source_key, o.name,
       o.previous_snapshot, o._interval_start AS snapshot,
       o.previous_cfp_end_date, o.cfp_end_date
FROM ordered o
LEFT JOIN {members} m ON m.source = o.source AND m.source_key = o.source_key
WHERE o.previous_snapshot IS NOT NULL
  AND COALESCE(o.cfp_end_date, DATE '1900-01-01')
      <> COALESCE(o.previous_cfp_end_date, DATE '1900-01-01'){_binding()}""",  # noqa: S608
    }


def upgrade() -> None:
    op.create_table(
        "conference",
        sa.Column("conference_id", sa.Integer(), nullable=False, redshift_encode="az64"),
        sa.Column("name", sa.String(1024), redshift_encode="zstd"),
        sa.Column("norm_name", sa.String(1024), redshift_encode="zstd"),
        sa.Column("year", sa.SmallInteger(), redshift_encode="az64"),
        sa.Column("start_date", sa.Date(), redshift_encode="raw"),
        sa.Column("end_date", sa.Date(), redshift_encode="az64"),
        sa.Column("city", sa.String(1024), redshift_encode="zstd"),
        sa.Column("country", sa.String(1024), redshift_encode="zstd"),
        sa.Column("url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("url_host", sa.String(253), redshift_encode="zstd"),
        sa.Column("cfp_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("cfp_end_date", sa.Date(), redshift_encode="az64"),
        sa.Column("sponsorship_url", sa.String(2048), redshift_encode="zstd"),
        sa.Column("sources", sa.String(128), nullable=False, redshift_encode="zstd"),
        sa.Column("source_count", sa.SmallInteger(), nullable=False, redshift_encode="az64"),
        sa.Column("member_count", sa.SmallInteger(), nullable=False, redshift_encode="az64"),
        sa.Column("updated_at", sa.DateTime(), nullable=False, redshift_encode="az64"),
        sa.PrimaryKeyConstraint("conference_id", name="pk_conference"),
        redshift_diststyle="ALL",
        redshift_sortkey=("start_date",),
    )
    op.create_table(
        "conference_members",
        sa.Column("source", sa.String(32), nullable=False, redshift_encode="zstd"),
        sa.Column("source_key", sa.String(2112), nullable=False, redshift_encode="zstd"),
        sa.Column("feed", sa.String(64), nullable=False, redshift_encode="zstd"),
        sa.Column("ref", sa.String(2048), redshift_encode="zstd"),
        sa.Column("conference_id", sa.Integer(), nullable=False, redshift_encode="raw"),
        sa.Column("name", sa.String(1024), redshift_encode="zstd"),
        sa.Column("norm_name", sa.String(1024), redshift_encode="zstd"),
        sa.Column("start_date", sa.Date(), redshift_encode="az64"),
        sa.Column("end_date", sa.Date(), redshift_encode="az64"),
        sa.Column("url_host", sa.String(253), redshift_encode="zstd"),
        sa.Column("updated_at", sa.DateTime(), nullable=False, redshift_encode="az64"),
        sa.PrimaryKeyConstraint("source", "source_key", name="pk_conference_members"),
        redshift_diststyle="ALL",
        redshift_sortkey=("conference_id",),
    )
    for sql in view_sql().values():
        op.execute(sql)


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW {name}")
    op.drop_table("conference_members")
    op.drop_table("conference")
