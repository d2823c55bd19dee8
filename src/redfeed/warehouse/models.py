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
    Integer,
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


#: ISO 3166-1 alpha-3 country code: always three ASCII letters, so CHAR never pads.
ISO3_BYTES: Final = 3
#: A free-text place, "city, region, country" (python-organizers' Location): three place names
#: of up to 64 characters at 4 UTF-8 bytes each (768), plus separators and notes such as
#: "(Public Viewing)".
LOCATION_BYTES: Final = 1024


class PythonConference(Lineage, Base):
    """One row of a python-organizers ``<year>.csv``, as one snapshot (load interval) saw it.

    Rows are kept as the source lists them: a conference listed twice in one file is two rows
    (``source_path`` and ``line`` tell them apart); ``python_conferences_latest`` (0004)
    deduplicates. Rows the spider quarantined (end before start, unreadable dates, wrong number
    of cells) never reach this table.
    """

    __tablename__ = "python_conferences"
    __table_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        # Every snapshot of one conference series on one slice: "latest snapshot per
        # conference" (partitioned by subject) needs no redistribution. subject is never NULL
        # and has 148 distinct values in 360 fixture rows (at most 9 rows each): no skew. The
        # website URL would be the natural key, but 6 fixture rows have none.
        "redshift_diststyle": "KEY",
        "redshift_distkey": "subject",
        # As conferences: the loader deletes and reads by snapshot, analysts filter by date;
        # intervals only grow, so each load appends in sort order.
        "redshift_sortkey": ("_interval_start", "start_date"),
    }

    #: The conference's name ("Subject"): 128 characters of up to 4 bytes (longest seen: 35).
    subject: Mapped[str] = mapped_column(
        String(NAME_BYTES), info=source("$.subject"), redshift_encode="zstd"
    )
    start_date: Mapped[date] = mapped_column(
        Date(), info=source("$.start_date"), redshift_encode=SORTKEY_ENCODE
    )
    end_date: Mapped[date | None] = mapped_column(
        Date(), info=source("$.end_date"), redshift_encode="az64"
    )
    #: e.g. "Bogotá, Capital District, Colombia" (longest seen: 52 bytes).
    location: Mapped[str | None] = mapped_column(
        String(LOCATION_BYTES), info=source("$.location"), redshift_encode="zstd"
    )
    #: ISO 3166-1 alpha-3, e.g. "COL"; the spider quarantines anything else.
    country: Mapped[str | None] = mapped_column(
        CHAR(ISO3_BYTES), info=source("$.country"), redshift_encode="zstd"
    )
    #: A building's name: 128 characters of up to 4 bytes (longest seen: 68 characters, 69 bytes).
    venue: Mapped[str | None] = mapped_column(
        String(NAME_BYTES), info=source("$.venue"), redshift_encode="zstd"
    )
    tutorial_deadline: Mapped[date | None] = mapped_column(
        Date(), info=source("$.tutorial_deadline"), redshift_encode="az64"
    )
    talk_deadline: Mapped[date | None] = mapped_column(
        Date(), info=source("$.talk_deadline"), redshift_encode="az64"
    )
    website_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.website_url"), redshift_encode="zstd"
    )
    proposal_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.proposal_url"), redshift_encode="zstd"
    )
    sponsorship_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.sponsorship_url"), redshift_encode="zstd"
    )
    #: The year of the file the row is in (a row of 2020.csv may start on 2021-01-01).
    year: Mapped[int | None] = mapped_column(
        SmallInteger(), info=source("$.year"), redshift_encode="az64"
    )
    #: The file in the repository, e.g. "2024.csv" (a repository path, as conferences').
    source_path: Mapped[str | None] = mapped_column(
        String(256), info=source("$.source_path"), redshift_encode="zstd"
    )
    #: The row's first line in that file (the header is line 1).
    line: Mapped[int | None] = mapped_column(
        Integer(), info=source("$.line"), redshift_encode="az64"
    )

    __mapper_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "primary_key": ["_batch_id", "source_path", "line"]
    }


#: pretalx event slugs: letters, digits, "." and "-", at most 50 (pretalx's own rule).
EVENT_SLUG_BYTES: Final = 64
#: pretalx codes of talks and speakers (``A8CD3F``): its CharField(max_length=16), ASCII.
PRETALX_CODE_BYTES: Final = 16
#: pretalx titles and names of events and tracks: 200 characters of up to 4 UTF-8 bytes.
PRETALX_TITLE_BYTES: Final = 800
#: pretalx names of session types and rooms: 100 characters of up to 4 UTF-8 bytes.
PRETALX_SHORT_NAME_BYTES: Final = 400
#: Every translation of a name, as JSON text: 20 languages of the longest name (800 bytes).
PRETALX_I18N_BYTES: Final = 16384
#: Abstracts, descriptions and biographies are unbounded Markdown in pretalx: Redshift's widest
#: VARCHAR, used only for these. A longer one is quarantined by the loader, never truncated.
LONG_TEXT_BYTES: Final = 65535


def pretalx_table_args(stream: str, distkey: str | None) -> dict[str, Any]:
    """The shared Redshift design of the pretalx tables (see each class for the distribution)."""
    return {
        "info": {"stream": stream},
        **(
            {"redshift_diststyle": "KEY", "redshift_distkey": distkey}
            if distkey
            else {"redshift_diststyle": "ALL"}
        ),
        # The loader deletes and reads by snapshot; then analysts filter by event (a feed is one
        # event, but queries span events). Intervals only grow: each load appends in order.
        "redshift_sortkey": ("_interval_start", "event"),
    }


class PretalxEvent(Lineage, Base):
    """One pretalx event as one snapshot saw it: a row per batch of a ``pretalx-<event>`` feed.

    Tiny (one row per snapshot), and joined to every talk: ``DISTSTYLE ALL``.
    """

    __tablename__ = "pretalx_events"
    __table_args__ = pretalx_table_args("events", distkey=None)

    event: Mapped[str] = mapped_column(
        String(EVENT_SLUG_BYTES), info=source("$.event"), redshift_encode=SORTKEY_ENCODE
    )
    #: The English name (else the first language's); ``name_i18n``: all, when several.
    name: Mapped[str | None] = mapped_column(
        String(PRETALX_TITLE_BYTES), info=source("$.name"), redshift_encode="zstd"
    )
    name_i18n: Mapped[str | None] = mapped_column(
        String(PRETALX_I18N_BYTES), info=source("$.name_i18n"), redshift_encode="zstd"
    )
    date_from: Mapped[date | None] = mapped_column(
        Date(), info=source("$.date_from"), redshift_encode="az64"
    )
    date_to: Mapped[date | None] = mapped_column(
        Date(), info=source("$.date_to"), redshift_encode="az64"
    )
    #: An IANA zone name such as "Europe/Prague" (the longest is 32 ASCII bytes).
    timezone: Mapped[str | None] = mapped_column(
        String(64), info=source("$.timezone"), redshift_encode="zstd"
    )
    url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.url"), redshift_encode="zstd"
    )

    __mapper_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "primary_key": ["_batch_id", "event"]
    }


class PretalxTalk(Lineage, Base):
    """One talk of a pretalx event, as one snapshot saw it (slot: its first scheduled slot).

    Distributed by ``code`` (never NULL, unique per event): a talk's snapshots and its
    ``pretalx_talk_speakers`` rows share a slice, so the bridge joins without redistribution.
    """

    __tablename__ = "pretalx_talks"
    __table_args__ = pretalx_table_args("talks", distkey="code")

    event: Mapped[str] = mapped_column(
        String(EVENT_SLUG_BYTES), info=source("$.event"), redshift_encode=SORTKEY_ENCODE
    )
    code: Mapped[str] = mapped_column(
        String(PRETALX_CODE_BYTES), info=source("$.code"), redshift_encode="zstd"
    )
    title: Mapped[str | None] = mapped_column(
        String(PRETALX_TITLE_BYTES), info=source("$.title"), redshift_encode="zstd"
    )
    track: Mapped[str | None] = mapped_column(
        String(PRETALX_TITLE_BYTES), info=source("$.track"), redshift_encode="zstd"
    )
    track_i18n: Mapped[str | None] = mapped_column(
        String(PRETALX_I18N_BYTES), info=source("$.track_i18n"), redshift_encode="zstd"
    )
    submission_type: Mapped[str | None] = mapped_column(
        String(PRETALX_SHORT_NAME_BYTES), info=source("$.submission_type"), redshift_encode="zstd"
    )
    submission_type_i18n: Mapped[str | None] = mapped_column(
        String(PRETALX_I18N_BYTES),
        info=source("$.submission_type_i18n"),
        redshift_encode="zstd",
    )
    #: submitted, accepted, confirmed, rejected, canceled, withdrawn (at most 9 ASCII).
    state: Mapped[str | None] = mapped_column(
        String(16), info=source("$.state"), redshift_encode="zstd"
    )
    abstract: Mapped[str | None] = mapped_column(
        String(LONG_TEXT_BYTES), info=source("$.abstract"), redshift_encode="zstd"
    )
    description: Mapped[str | None] = mapped_column(
        String(LONG_TEXT_BYTES), info=source("$.description"), redshift_encode="zstd"
    )
    #: Minutes.
    duration: Mapped[int | None] = mapped_column(
        Integer(), info=source("$.duration"), redshift_encode="az64"
    )
    #: A language code, pretalx's CharField(max_length=32).
    content_locale: Mapped[str | None] = mapped_column(
        String(32), info=source("$.content_locale"), redshift_encode="zstd"
    )
    do_not_record: Mapped[bool | None] = mapped_column(
        Boolean(), info=source("$.do_not_record"), redshift_encode="zstd"
    )
    is_featured: Mapped[bool | None] = mapped_column(
        Boolean(), info=source("$.is_featured"), redshift_encode="zstd"
    )
    #: UTC (the API gives the event's local time with its offset).
    slot_start: Mapped[datetime | None] = mapped_column(
        DateTime(), info=source("$.slot_start"), redshift_encode="az64"
    )
    slot_end: Mapped[datetime | None] = mapped_column(
        DateTime(), info=source("$.slot_end"), redshift_encode="az64"
    )
    room: Mapped[str | None] = mapped_column(
        String(PRETALX_SHORT_NAME_BYTES), info=source("$.room"), redshift_encode="zstd"
    )
    room_i18n: Mapped[str | None] = mapped_column(
        String(PRETALX_I18N_BYTES), info=source("$.room_i18n"), redshift_encode="zstd"
    )

    __mapper_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "primary_key": ["_batch_id", "event", "code"]
    }


class PretalxSpeaker(Lineage, Base):
    """One speaker of a pretalx event (its ``/speakers/`` list), as one snapshot saw it. Only
    the public profile: no e-mail, no avatar (personal data the pipeline does not need).

    Distributed by ``code`` (never NULL, unique per event).
    """

    __tablename__ = "pretalx_speakers"
    __table_args__ = pretalx_table_args("speakers", distkey="code")

    event: Mapped[str] = mapped_column(
        String(EVENT_SLUG_BYTES), info=source("$.event"), redshift_encode=SORTKEY_ENCODE
    )
    code: Mapped[str] = mapped_column(
        String(PRETALX_CODE_BYTES), info=source("$.code"), redshift_encode="zstd"
    )
    #: pretalx user names: 120 characters of up to 4 bytes.
    name: Mapped[str | None] = mapped_column(
        String(NAME_BYTES), info=source("$.name"), redshift_encode="zstd"
    )
    biography: Mapped[str | None] = mapped_column(
        String(LONG_TEXT_BYTES), info=source("$.biography"), redshift_encode="zstd"
    )

    __mapper_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "primary_key": ["_batch_id", "event", "code"]
    }


class PretalxTalkSpeaker(Lineage, Base):
    """The talk <-> speaker bridge: one row per entry of a talk's ``speakers`` array, in order
    (``position`` 0 is the first speaker). A speaker code may be missing from
    ``pretalx_speakers`` of the same snapshot (pretalx lists only some speakers publicly).

    Distributed by ``talk_code``, like ``pretalx_talks.code``: the join is slice-local.
    """

    __tablename__ = "pretalx_talk_speakers"
    __table_args__ = pretalx_table_args("talk_speakers", distkey="talk_code")

    event: Mapped[str] = mapped_column(
        String(EVENT_SLUG_BYTES), info=source("$.event"), redshift_encode=SORTKEY_ENCODE
    )
    talk_code: Mapped[str] = mapped_column(
        String(PRETALX_CODE_BYTES), info=source("$.talk_code"), redshift_encode="zstd"
    )
    speaker_code: Mapped[str] = mapped_column(
        String(PRETALX_CODE_BYTES), info=source("$.speaker_code"), redshift_encode="zstd"
    )
    position: Mapped[int] = mapped_column(
        SmallInteger(), info=source("$.position"), redshift_encode="az64"
    )

    __mapper_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "primary_key": ["_batch_id", "event", "talk_code", "position"]
    }


#: A schema.org type or enumeration member without its vocabulary ("ConferenceEvent",
#: "MixedEventAttendanceMode": 24 characters): ASCII identifiers.
SCHEMA_NAME_BYTES: Final = 64
#: A postal address joined from its parts (street, postal code, locality, region, country):
#: five parts of up to 48 characters at 4 bytes each, plus separators.
ADDRESS_BYTES: Final = 1024
#: The sponsors' names as a JSON array: ~150 names of 50 bytes with quotes and commas.
SPONSORS_BYTES: Final = 8192
#: An event's JSON-LD object as JSON text: Redshift's widest VARCHAR. The spider quarantines a
#: bigger one whole; it is never truncated.
JSONLD_BYTES: Final = 65535


class HomepageEvent(Lineage, Base):
    """One schema.org event (``ConferenceEvent`` or ``Event``) that a conference's home page
    declared in JSON-LD, as one snapshot (load interval) saw it.

    A page with several events is a row per event (``event_index``); a page without JSON-LD is
    no row. The whole JSON-LD object is kept in ``jsonld`` for properties without a column.
    """

    __tablename__ = "homepage_events"
    __table_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        # page_url is the URL as confs-tech or python-organizers listed it, so rows sit on the
        # slice of their conference's rows in conferences (DISTKEY url): the join on the
        # website is collocated. Never NULL; one to a few events per page: no skew.
        "redshift_diststyle": "KEY",
        "redshift_distkey": "page_url",
        # As conferences: the loader deletes and reads by snapshot, analysts filter by date;
        # intervals only grow, so each load appends in sort order.
        "redshift_sortkey": ("_interval_start", "start_date"),
    }

    #: The home page as the source feed listed it (the URL fetched is its normalised form).
    page_url: Mapped[str] = mapped_column(
        String(URL_BYTES), info=source("$.page_url"), redshift_encode="zstd"
    )
    #: The event's position among the page's events (0, 1, ...).
    event_index: Mapped[int] = mapped_column(
        SmallInteger(), info=source("$.event_index"), redshift_encode="az64"
    )
    #: The event's own url, else the page's canonical link, else page_url.
    url: Mapped[str] = mapped_column(
        String(URL_BYTES), info=source("$.url"), redshift_encode="zstd"
    )
    #: "ConferenceEvent" or "Event".
    event_type: Mapped[str] = mapped_column(
        String(SCHEMA_NAME_BYTES), info=source("$.event_type"), redshift_encode="zstd"
    )
    name: Mapped[str | None] = mapped_column(
        String(NAME_BYTES), info=source("$.name"), redshift_encode="zstd"
    )
    start_date: Mapped[date | None] = mapped_column(
        Date(), info=source("$.start_date"), redshift_encode=SORTKEY_ENCODE
    )
    end_date: Mapped[date | None] = mapped_column(
        Date(), info=source("$.end_date"), redshift_encode="az64"
    )
    #: e.g. "EventScheduled", "EventCancelled".
    event_status: Mapped[str | None] = mapped_column(
        String(SCHEMA_NAME_BYTES), info=source("$.event_status"), redshift_encode="zstd"
    )
    #: e.g. "OfflineEventAttendanceMode", "MixedEventAttendanceMode".
    event_attendance_mode: Mapped[str | None] = mapped_column(
        String(SCHEMA_NAME_BYTES), info=source("$.event_attendance_mode"), redshift_encode="zstd"
    )
    #: The Place's name (a venue), or the location when it is a plain string.
    location_name: Mapped[str | None] = mapped_column(
        String(NAME_BYTES), info=source("$.location_name"), redshift_encode="zstd"
    )
    location_address: Mapped[str | None] = mapped_column(
        String(ADDRESS_BYTES), info=source("$.location_address"), redshift_encode="zstd"
    )
    location_locality: Mapped[str | None] = mapped_column(
        String(CITY_BYTES), info=source("$.location_locality"), redshift_encode="zstd"
    )
    #: addressCountry as the page wrote it: a name or an ISO code.
    location_country: Mapped[str | None] = mapped_column(
        String(COUNTRY_BYTES), info=source("$.location_country"), redshift_encode="zstd"
    )
    virtual_location_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.virtual_location_url"), redshift_encode="zstd"
    )
    participation_offer_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.participation_offer_url"), redshift_encode="zstd"
    )
    participation_offer_name: Mapped[str | None] = mapped_column(
        String(NAME_BYTES), info=source("$.participation_offer_name"), redshift_encode="zstd"
    )
    sponsorship_offer_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.sponsorship_offer_url"), redshift_encode="zstd"
    )
    sponsorship_offer_name: Mapped[str | None] = mapped_column(
        String(NAME_BYTES), info=source("$.sponsorship_offer_name"), redshift_encode="zstd"
    )
    organizer_name: Mapped[str | None] = mapped_column(
        String(NAME_BYTES), info=source("$.organizer_name"), redshift_encode="zstd"
    )
    organizer_url: Mapped[str | None] = mapped_column(
        String(URL_BYTES), info=source("$.organizer_url"), redshift_encode="zstd"
    )
    #: The sponsors' names as a JSON array (text); NULL when the event names none.
    sponsors: Mapped[str | None] = mapped_column(
        String(SPONSORS_BYTES), info=source("$.sponsors"), redshift_encode="zstd"
    )
    #: The event's JSON-LD object as JSON text.
    jsonld: Mapped[str] = mapped_column(
        String(JSONLD_BYTES), info=source("$.jsonld"), redshift_encode="zstd"
    )

    __mapper_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "primary_key": ["_batch_id", "page_url", "event_index"]
    }


#: Names and places in the cross-reference come from any source: the widest of their columns
#: (pretalx event names, python-organizers locations).
XREF_TEXT_BYTES: Final = 1024


class ConferenceDimension(Base):
    """One real-world conference, resolved across every source (``redfeed xref``).

    Rebuilt from the sources' latest snapshots after loads; ``conference_id`` is a stable
    surrogate key (see :mod:`redfeed.warehouse.xref`). Small and joined to everything:
    ``DISTSTYLE ALL``; sorted by date, which is how it is queried.
    """

    __tablename__ = "conference"
    __table_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "redshift_diststyle": "ALL",
        "redshift_sortkey": ("start_date",),
    }

    conference_id: Mapped[int] = mapped_column(
        Integer(), primary_key=True, autoincrement=False, redshift_encode="az64"
    )
    name: Mapped[str | None] = mapped_column(String(XREF_TEXT_BYTES), redshift_encode="zstd")
    #: The match key: case-folded, punctuation and years removed.
    norm_name: Mapped[str | None] = mapped_column(String(XREF_TEXT_BYTES), redshift_encode="zstd")
    year: Mapped[int | None] = mapped_column(SmallInteger(), redshift_encode="az64")
    start_date: Mapped[date | None] = mapped_column(Date(), redshift_encode=SORTKEY_ENCODE)
    end_date: Mapped[date | None] = mapped_column(Date(), redshift_encode="az64")
    city: Mapped[str | None] = mapped_column(String(XREF_TEXT_BYTES), redshift_encode="zstd")
    country: Mapped[str | None] = mapped_column(String(XREF_TEXT_BYTES), redshift_encode="zstd")
    url: Mapped[str | None] = mapped_column(String(URL_BYTES), redshift_encode="zstd")
    #: A DNS name is at most 253 bytes.
    url_host: Mapped[str | None] = mapped_column(String(253), redshift_encode="zstd")
    cfp_url: Mapped[str | None] = mapped_column(String(URL_BYTES), redshift_encode="zstd")
    cfp_end_date: Mapped[date | None] = mapped_column(Date(), redshift_encode="az64")
    sponsorship_url: Mapped[str | None] = mapped_column(String(URL_BYTES), redshift_encode="zstd")
    #: The contributing sources, comma-separated in priority order, e.g.
    #: "confs-tech,python-organizers".
    sources: Mapped[str] = mapped_column(String(128), redshift_encode="zstd")
    source_count: Mapped[int] = mapped_column(SmallInteger(), redshift_encode="az64")
    member_count: Mapped[int] = mapped_column(SmallInteger(), redshift_encode="az64")
    updated_at: Mapped[datetime] = mapped_column(DateTime(), redshift_encode="az64")


class ConferenceMember(Base):
    """Which source listing belongs to which conference: the cross-reference itself, and the
    memory that keeps ``conference_id`` stable from one rebuild to the next."""

    __tablename__ = "conference_members"
    __table_args__ = {  # noqa: RUF012 - SQLAlchemy's declarative class attribute
        "redshift_diststyle": "ALL",
        "redshift_sortkey": ("conference_id",),
    }

    #: confs-tech | python-organizers | pretalx | homepages
    source: Mapped[str] = mapped_column(String(32), primary_key=True, redshift_encode="zstd")
    #: The listing's identity in its source, e.g. "<url>|<start date>" (a URL plus 11 bytes).
    source_key: Mapped[str] = mapped_column(
        String(URL_BYTES + 64), primary_key=True, redshift_encode="zstd"
    )
    feed: Mapped[str] = mapped_column(String(FEED_BYTES), redshift_encode="zstd")
    #: What the source calls it (a pretalx event slug, a URL, a name): the join key to its rows.
    ref: Mapped[str | None] = mapped_column(String(URL_BYTES), redshift_encode="zstd")
    conference_id: Mapped[int] = mapped_column(Integer(), redshift_encode=SORTKEY_ENCODE)
    name: Mapped[str | None] = mapped_column(String(XREF_TEXT_BYTES), redshift_encode="zstd")
    norm_name: Mapped[str | None] = mapped_column(String(XREF_TEXT_BYTES), redshift_encode="zstd")
    start_date: Mapped[date | None] = mapped_column(Date(), redshift_encode="az64")
    end_date: Mapped[date | None] = mapped_column(Date(), redshift_encode="az64")
    url_host: Mapped[str | None] = mapped_column(String(253), redshift_encode="zstd")
    updated_at: Mapped[datetime] = mapped_column(DateTime(), redshift_encode="az64")


class Load(Base):
    """The load ledger: one row per attempt to load one batch into one table.

    The loader writes the ``loaded`` row in the same transaction that replaces the partition
    (DELETE the ``(feed, interval_start)`` rows of ``table_name``, then COPY or INSERT), so the
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
conference: Final[Table] = metadata.tables["conference"]
conference_members: Final[Table] = metadata.tables["conference_members"]
