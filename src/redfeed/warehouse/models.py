"""The warehouse schema as code: SQLAlchemy models with their Redshift physical design.

The models are the source of truth for three things, each derived and never written twice:
the migrations must produce them (the drift check and the Redshift-DDL test hold them to it),
the loader's column lists and JSONPaths come from ``info["jsonpath"]``
(:mod:`redfeed.warehouse.jsonpaths`), and the validator's facts (type, nullability, byte limit)
come from the column types.

Redshift design (docs/warehouse.md explains each choice):

- VARCHAR lengths are **bytes** in Redshift. Each size is a bound of the value's domain in UTF-8
  bytes (a URL, a DNS name, a run id), checked against the longest real value in the fixtures by
  ``tests/unit/test_warehouse_sizes.py``. Widening a VARCHAR later is cheap (``ALTER COLUMN TYPE``,
  outside a transaction), so sizes are bounds, not guesses times ten.
- ENCODE: ZSTD for text and booleans (it never grows data, and unlike BYTEDICT/RUNLENGTH/TEXT255 it
  keeps ``ALTER COLUMN ... TYPE VARCHAR(n)`` possible), AZ64 for numbers, dates and timestamps, RAW
  for sort-key columns (AWS: do not compress the sort key, or range-restricted scans suffer).
- Lineage columns are in every loaded table; ``_loaded_at`` is filled by the database (SYSDATE:
  the load transaction's start), never from the archive.

Python attribute names equal the column names, leading underscores included, so ``Table.c`` and
the ORM agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    MetaData,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from redfeed.warehouse.dialect import utc_now

# -- byte bounds (UTF-8) ---------------------------------------------------------------------
#: A URL: 2,048 is the de-facto ceiling (sitemaps protocol, browsers); the longest real one is
#: a 300-byte tracking link.
URL_BYTES: Final = 2048
#: Human names (conference, city): 128 characters of up to 4 UTF-8 bytes each.
NAME_BYTES: Final = 512
CITY_BYTES: Final = 256
#: A country's English short name is at most ~60 characters; room for local spellings.
COUNTRY_BYTES: Final = 128
#: Feed names match ``^[a-z][a-z0-9-]{0,62}$`` (redfeed.contract.FEED_NAME): 63 ASCII bytes.
FEED_BYTES: Final = 64
#: Run ids match ``^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,199}$`` (redfeed.contract.RUN_ID): 200 bytes.
RUN_ID_BYTES: Final = 200
#: Redshift identifiers (table names) are at most 127 bytes.
IDENTIFIER_BYTES: Final = 127

SORTKEY_ENCODE: Final = "raw"

#: A stable naming convention, so constraint names are the same on every database and the drift
#: check compares like with like.
NAMING_CONVENTION: Final = {
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def source(jsonpath: str) -> dict[str, Any]:
    """Column ``info`` for a value loaded from the archived record at ``jsonpath``."""
    return {"jsonpath": jsonpath}


class Lineage:
    """Lineage columns every loaded table has, last in column order.

    ``_feed``, ``_batch_id``, ``_interval_start`` and ``_scraped_at`` are set on each record by the
    archive writer; ``_loaded_at`` is the database's clock at load time.
    """

    _feed: Mapped[str] = mapped_column(
        String(FEED_BYTES), info=source("$._feed"), redshift_encode="zstd", sort_order=100
    )
    _batch_id: Mapped[str] = mapped_column(
        String(RUN_ID_BYTES), info=source("$._batch_id"), redshift_encode="zstd", sort_order=100
    )
    _interval_start: Mapped[datetime] = mapped_column(
        DateTime(),
        info=source("$._interval_start"),
        redshift_encode=SORTKEY_ENCODE,
        sort_order=100,
    )
    _scraped_at: Mapped[datetime] = mapped_column(
        DateTime(), info=source("$._scraped_at"), redshift_encode="az64", sort_order=100
    )
    _loaded_at: Mapped[datetime] = mapped_column(
        DateTime(), server_default=utc_now(), redshift_encode="az64", sort_order=101
    )


class Conference(Lineage, Base):
    """One conference occurrence, as one source listed it in one snapshot (one load interval).

    A conference listed under several confs.tech topics is one row per topic. No key is declared:
    Redshift does not enforce keys but its planner trusts them, and real snapshots repeat rows.
    The ORM identity below exists only for SQLAlchemy.
    """

    __tablename__ = "conferences"
    __table_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        # Rows of one conference across snapshots share a slice: "latest snapshot per
        # conference" windows and joins on url need no redistribution. url is never NULL and
        # has ~3,900 distinct values in 5,670 fixture rows (at most 10 rows per value): no skew.
        "redshift_diststyle": "KEY",
        "redshift_distkey": "url",
        # The loader deletes and queries by snapshot (_interval_start); analysts then filter by
        # start_date. Intervals only grow, so each load appends in sort order (no VACUUM SORT).
        "redshift_sortkey": ("_interval_start", "start_date"),
    }

    name: Mapped[str] = mapped_column(
        String(NAME_BYTES), info=source("$.name"), redshift_encode="zstd"
    )
    url: Mapped[str] = mapped_column(
        String(URL_BYTES), info=source("$.url"), redshift_encode="zstd"
    )
    start_date: Mapped[date] = mapped_column(
        Date(), info=source("$.startDate"), redshift_encode=SORTKEY_ENCODE
    )
    end_date: Mapped[date | None] = mapped_column(
        Date(), info=source("$.endDate"), redshift_encode="az64"
    )
    city: Mapped[str | None] = mapped_column(
        String(CITY_BYTES), info=source("$.city"), redshift_encode="zstd"
    )
    country: Mapped[str | None] = mapped_column(
        String(COUNTRY_BYTES), info=source("$.country"), redshift_encode="zstd"
    )
    online: Mapped[bool | None] = mapped_column(
        Boolean(), info=source("$.online"), redshift_encode="zstd"
    )
    #: Comma-separated language codes, e.g. "EN,ES,GL,PT".
    locales: Mapped[str | None] = mapped_column(
        String(128), info=source("$.locales"), redshift_encode="zstd"
    )
    #: The topic file's stem, e.g. "python".
    topic: Mapped[str | None] = mapped_column(
        String(64), info=source("$.topic"), redshift_encode="zstd"
    )
    year: Mapped[int | None] = mapped_column(
        SmallInteger(), info=source("$.year"), redshift_encode="az64"
    )
    #: Where in the source the record was listed, e.g. "conferences/2024/python.json".
    source_path: Mapped[str | None] = mapped_column(
        String(256), info=source("$.sourcePath"), redshift_encode="zstd"
    )
    cfp_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.cfpUrl"), redshift_encode="zstd"
    )
    #: DATE since migration 0002 (created as VARCHAR(32) by 0001).
    cfp_end_date: Mapped[date | None] = mapped_column(
        Date(), info=source("$.cfpEndDate"), redshift_encode="az64"
    )
    coc_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.cocUrl"), redshift_encode="zstd"
    )
    #: "@handle": 15 characters today, longer legacy handles exist (17 bytes seen).
    twitter: Mapped[str | None] = mapped_column(
        String(64), info=source("$.twitter"), redshift_encode="zstd"
    )
    #: "@user@instance": 30-character user name plus a DNS name of up to 253 bytes.
    mastodon: Mapped[str | None] = mapped_column(
        String(320), info=source("$.mastodon"), redshift_encode="zstd"
    )
    offers_sign_language_or_cc: Mapped[bool | None] = mapped_column(
        Boolean(),
        info=source("$.offersSignLanguageOrCC"),
        redshift_encode="zstd",
    )

    __mapper_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "primary_key": ["_batch_id", "source_path", "name", "start_date"]
    }


class Load(Base):
    """The load ledger: one row per attempt to load one batch into one table.

    The loader writes the ``loaded`` row in the same transaction that replaces the partition
    (DELETE the ``(feed, interval_start)`` rows of ``table_name``, INSERT from staging), so the
    ledger says exactly what is in the warehouse. A batch is already loaded when the latest
    ``loaded`` row of its ``(feed, interval_start, table_name)`` has its ``manifest_sha256``.
    A failed attempt is recorded afterwards, in its own transaction.
    """

    __tablename__ = "redfeed_loads"
    __table_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        # Tiny and read on every load: a copy on every node joins to anything for free.
        "redshift_diststyle": "ALL",
        "redshift_sortkey": ("feed", "interval_start"),
    }

    #: Unique per attempt, made by the loader (e.g. a uuid4 in hex).
    load_id: Mapped[str] = mapped_column(String(64), primary_key=True, redshift_encode="zstd")
    feed: Mapped[str] = mapped_column(String(FEED_BYTES), redshift_encode=SORTKEY_ENCODE)
    interval_start: Mapped[datetime] = mapped_column(DateTime(), redshift_encode=SORTKEY_ENCODE)
    interval_end: Mapped[datetime | None] = mapped_column(DateTime(), redshift_encode="az64")
    #: The batch's run id (``_batch_id`` of its rows).
    run_id: Mapped[str] = mapped_column(String(RUN_ID_BYTES), redshift_encode="zstd")
    table_name: Mapped[str] = mapped_column(String(IDENTIFIER_BYTES), redshift_encode="zstd")
    #: ``loaded`` | ``failed`` | ``skipped`` (already loaded, or nothing new).
    status: Mapped[str] = mapped_column(String(16), redshift_encode="zstd")
    manifest_url: Mapped[str] = mapped_column(String(URL_BYTES), redshift_encode="zstd")
    #: sha256 (hex) of the manifest as stored: the identity of the batch that was loaded.
    manifest_sha256: Mapped[str] = mapped_column(CHAR(64), redshift_encode="zstd")
    #: When the batch was committed (its manifest's finished_at): orders the runs of one
    #: interval, so an older run is never loaded over a newer one by accident.
    batch_finished_at: Mapped[datetime | None] = mapped_column(DateTime(), redshift_encode="az64")
    #: The manifest's order-independent digest of the records: equal means same content.
    content_digest: Mapped[str | None] = mapped_column(CHAR(64), redshift_encode="zstd")
    rows_in: Mapped[int | None] = mapped_column(BigInteger(), redshift_encode="az64")
    rows_loaded: Mapped[int | None] = mapped_column(BigInteger(), redshift_encode="az64")
    rows_rejected: Mapped[int | None] = mapped_column(BigInteger(), redshift_encode="az64")
    #: Rows of the partition the load replaced (0 on a first load).
    rows_replaced: Mapped[int | None] = mapped_column(BigInteger(), redshift_encode="az64")
    #: Where the rows the validator or COPY rejected were quarantined.
    reject_url: Mapped[str | None] = mapped_column(String(URL_BYTES), redshift_encode="zstd")
    #: Why a load failed (truncated to the column's bytes by the loader).
    error: Mapped[str | None] = mapped_column(String(4096), redshift_encode="zstd")
    started_at: Mapped[datetime] = mapped_column(DateTime(), redshift_encode="az64")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), redshift_encode="az64")
    loader_version: Mapped[str] = mapped_column(String(64), redshift_encode="zstd")


metadata: Final = Base.metadata
conferences: Final[Table] = metadata.tables["conferences"]
redfeed_loads: Final[Table] = metadata.tables["redfeed_loads"]
