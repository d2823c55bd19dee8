"""pretalx_events, pretalx_talks, pretalx_speakers, pretalx_talk_speakers: the pretalx feeds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Frozen: the tables are spelled out instead of imported from the models, so this migration
creates the same thing forever. One set of tables for every ``pretalx-<event>`` feed: each
batch is one snapshot of one event, in four archive streams (events, talks, speakers and the
talk <-> speaker bridge), one table each. Abstracts, descriptions and biographies are the only
VARCHAR(65535) columns: pretalx does not bound them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from redfeed.warehouse.dialect import utc_now

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORTKEY = ("_interval_start", "event")


def lineage() -> list[sa.Column[object]]:
    """The lineage columns every loaded table ends with (as 0001 spells them)."""
    return [
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
    ]


def event_column() -> sa.Column[object]:
    return sa.Column("event", sa.String(64), nullable=False, redshift_encode="raw")


def upgrade() -> None:
    op.create_table(
        "pretalx_events",
        event_column(),
        sa.Column("name", sa.String(800), redshift_encode="zstd"),
        sa.Column("name_i18n", sa.String(16384), redshift_encode="zstd"),
        sa.Column("date_from", sa.Date(), redshift_encode="az64"),
        sa.Column("date_to", sa.Date(), redshift_encode="az64"),
        sa.Column("timezone", sa.String(64), redshift_encode="zstd"),
        sa.Column("url", sa.String(2048), redshift_encode="zstd"),
        *lineage(),
        redshift_diststyle="ALL",
        redshift_sortkey=SORTKEY,
    )
    op.create_table(
        "pretalx_talks",
        event_column(),
        sa.Column("code", sa.String(16), nullable=False, redshift_encode="zstd"),
        sa.Column("title", sa.String(800), redshift_encode="zstd"),
        sa.Column("track", sa.String(800), redshift_encode="zstd"),
        sa.Column("track_i18n", sa.String(16384), redshift_encode="zstd"),
        sa.Column("submission_type", sa.String(400), redshift_encode="zstd"),
        sa.Column("submission_type_i18n", sa.String(16384), redshift_encode="zstd"),
        sa.Column("state", sa.String(16), redshift_encode="zstd"),
        sa.Column("abstract", sa.String(65535), redshift_encode="zstd"),
        sa.Column("description", sa.String(65535), redshift_encode="zstd"),
        sa.Column("duration", sa.Integer(), redshift_encode="az64"),
        sa.Column("content_locale", sa.String(32), redshift_encode="zstd"),
        sa.Column("do_not_record", sa.Boolean(), redshift_encode="zstd"),
        sa.Column("is_featured", sa.Boolean(), redshift_encode="zstd"),
        sa.Column("slot_start", sa.DateTime(), redshift_encode="az64"),
        sa.Column("slot_end", sa.DateTime(), redshift_encode="az64"),
        sa.Column("room", sa.String(400), redshift_encode="zstd"),
        sa.Column("room_i18n", sa.String(16384), redshift_encode="zstd"),
        *lineage(),
        redshift_diststyle="KEY",
        redshift_distkey="code",
        redshift_sortkey=SORTKEY,
    )
    op.create_table(
        "pretalx_speakers",
        event_column(),
        sa.Column("code", sa.String(16), nullable=False, redshift_encode="zstd"),
        sa.Column("name", sa.String(512), redshift_encode="zstd"),
        sa.Column("biography", sa.String(65535), redshift_encode="zstd"),
        *lineage(),
        redshift_diststyle="KEY",
        redshift_distkey="code",
        redshift_sortkey=SORTKEY,
    )
    op.create_table(
        "pretalx_talk_speakers",
        event_column(),
        sa.Column("talk_code", sa.String(16), nullable=False, redshift_encode="zstd"),
        sa.Column("speaker_code", sa.String(16), nullable=False, redshift_encode="zstd"),
        sa.Column("position", sa.SmallInteger(), nullable=False, redshift_encode="az64"),
        *lineage(),
        redshift_diststyle="KEY",
        redshift_distkey="talk_code",
        redshift_sortkey=SORTKEY,
    )


def downgrade() -> None:
    op.drop_table("pretalx_talk_speakers")
    op.drop_table("pretalx_speakers")
    op.drop_table("pretalx_talks")
    op.drop_table("pretalx_events")
