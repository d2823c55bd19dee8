"""Injection attempts through everything an outsider or a source controls: feed names, run ids,
stream names, table names in the feed registry or on the command line, record field names and
values. Each is refused before it reaches SQL or an object key, or it is quoted/escaped there."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from redfeed.archive import BatchKey, BatchWriter, FileStore
from redfeed.archive.layout import feed_prefix
from redfeed.archive.store import S3Store
from redfeed.contract import Settings
from redfeed.errors import ConfigError
from redfeed.orchestration.registry import RegistryError, parse_registry
from redfeed.warehouse.destinations.redshift import quote
from redfeed.warehouse.jsonpaths import JsonPathError, check_jsonpath, table_spec
from redfeed.warehouse.models import metadata
from redfeed.warehouse.rows import BinaryCopy, RowBuilder
from tests.copy_binary import SIGNATURE, TRAILER, binary_records

START = datetime(2024, 1, 1, tzinfo=UTC)
#: Plain SQL identifiers: what every model table and column is (so quoting never has to save us).
SAFE_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")

HOSTILE_NAMES = [
    "confs-tech; DROP TABLE conferences",
    "confs-tech'--",
    'confs"tech',
    "../../etc",
    "confs/tech",
    "/absolute",
    "Confs-Tech",
    "confs tech",
    "confs-tech\x00",
    "",
    "a" * 64,
]
HOSTILE_RUN_IDS = [
    "../../other-feed/run",
    "run/../../escape",
    "..",
    ".hidden",
    "run..1",
    "/absolute",
    "run'; DROP TABLE redfeed_loads; --",
    'run"1',
    "run 1",
    "run\x00",
    "run\n1",
    "a" * 201,
]


@pytest.mark.parametrize("feed", HOSTILE_NAMES)
def test_hostile_feed_names_are_refused_everywhere_they_could_become_a_key(feed: str) -> None:
    env = {"REDFEED_FEED": feed, "REDFEED_ARCHIVE_URL": "file:///tmp/a"}
    with pytest.raises(ConfigError):
        Settings.from_env(env)
    with pytest.raises(ConfigError):
        BatchKey(feed, START, "run-1")
    with pytest.raises(ConfigError):
        feed_prefix(feed)


@pytest.mark.parametrize("name", ["confs-tech\n", "run-1\n"])
def test_a_trailing_newline_never_slips_into_a_key(name: str) -> None:
    """``$`` in a pattern matches before a final newline: the patterns end with ``\\Z``.
    (Settings strip the environment's values; direct callers get no such help.)"""
    with pytest.raises(ConfigError):
        BatchKey(name, START, "run-1")
    with pytest.raises(ConfigError):
        BatchKey("confs-tech", START, name)
    with pytest.raises(ConfigError):
        feed_prefix(name)
    with pytest.raises(JsonPathError):
        check_jsonpath("$.name\n")


@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS)
def test_hostile_run_ids_are_refused(run_id: str) -> None:
    env = {"REDFEED_FEED": "confs-tech", "REDFEED_RUN_ID": run_id, "REDFEED_ARCHIVE_URL": "s3://b"}
    with pytest.raises(ConfigError, match="REDFEED_RUN_ID"):
        Settings.from_env(env)
    with pytest.raises(ConfigError, match="run id"):
        BatchKey("confs-tech", START, run_id)


def test_airflow_run_ids_are_accepted_and_stay_one_key_segment() -> None:
    key = BatchKey("confs-tech", START, "scheduled__2024-01-01T00:00:00+00:00")
    assert key.prefix == "raw/confs-tech/20240101T000000Z/scheduled__2024-01-01T00:00:00+00:00/"
    assert key.prefix.count("/") == 4


@pytest.mark.parametrize(
    "key", ["../outside", "raw/../../outside", "/absolute/key", "raw//double", "raw/./here", ""]
)
def test_object_keys_that_climb_out_or_are_absolute_are_refused_by_both_stores(
    key: str, tmp_path: Path
) -> None:
    store = FileStore(tmp_path / "archive")
    with pytest.raises(ConfigError, match="refusing archive key"):
        store.put_new(key, b"x")
    with pytest.raises(ConfigError, match="refusing archive key"):
        store.exists(key)
    with pytest.raises(ConfigError, match="refusing archive key"):
        S3Store("bucket", "prefix", client=object()).uri(key)  # type: ignore[arg-type]
    assert not any((tmp_path).rglob("outside*"))


@pytest.mark.parametrize(
    "stream",
    [
        "../escape",
        "speakers/../../x",
        "Speakers",
        "speakers; DROP",
        "speakers\n",
        "",
        "s" * 64,
        7,
        ["a"],
    ],
)
def test_hostile_stream_names_are_quarantined_never_used_as_keys(
    stream: object, tmp_path: Path
) -> None:
    store = FileStore(tmp_path)
    writer = BatchWriter(store, BatchKey("confs-tech", START, "run-1"), START.replace(day=2))
    writer.write_line(orjson.dumps({"name": "x", "_stream": stream}))
    manifest = writer.commit()
    assert (manifest.records, manifest.rejected) == (0, 1)
    keys = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.gz"))
    assert len(keys) == 1
    assert keys[0].startswith("raw/confs-tech/20240101T000000Z/run-1/rejects-00000-")


@pytest.mark.parametrize(
    "table",
    [
        "conferences; DROP TABLE redfeed_loads",
        'conferences"',
        "Conferences",
        "../conferences",
        "conferences--",
        "pg_catalog.pg_class",
        "",
    ],
)
def test_hostile_table_names_are_refused_by_the_registry_and_the_loader(table: str) -> None:
    text = f"""
version: 1
feeds:
  confs-tech:
    image: redfeed/scraper-confs-tech
    schedule: "@daily"
    start_date: 2024-01-01
    catchup: false
    tables: [{orjson.dumps(table).decode()}]
"""
    with pytest.raises(RegistryError, match="not a table name"):
        parse_registry(text)
    with pytest.raises(ConfigError, match="no warehouse table"):
        table_spec(table)


def test_the_loader_refuses_a_hostile_table_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from redfeed.load import load

    for name, value in {
        "REDFEED_FEED": "confs-tech",
        "REDFEED_ARCHIVE_URL": "file:///nonexistent",
        # Nothing listens there: reaching it would fail differently (TemporaryError).
        "REDFEED_WAREHOUSE_URL": "postgresql+psycopg://u:p@127.0.0.1:9/none",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="no warehouse table"):
        load(["--table", "conferences; DROP TABLE redfeed_loads"])


def test_every_model_identifier_is_plain_and_quoted_where_sql_is_written() -> None:
    for table in metadata.tables.values():
        assert SAFE_IDENTIFIER.match(table.name), table.name
        for column in table.columns:
            assert SAFE_IDENTIFIER.match(column.name), f"{table.name}.{column.name}"
            assert quote(column.name) == f'"{column.name}"'
    # Quoting doubles embedded quotes, and refuses what cannot be an identifier at all.
    assert quote('con"ferences; --') == '"con""ferences; --"'
    for bad in ("", "a\x00b", "x" * 128):
        with pytest.raises(ConfigError):
            quote(bad)


@pytest.mark.parametrize(
    "path",
    ["$['name'']", "$['a\\'b']", "$.name; DROP", "$..name", "$.*", "$[?(@.x)]", "$.a[-1]"],
)
def test_jsonpaths_with_quotes_or_expressions_are_refused(path: str) -> None:
    with pytest.raises(JsonPathError):
        check_jsonpath(path)


def test_record_field_names_never_reach_sql_and_values_stay_data() -> None:
    """Field names are JSON keys the loader never writes anywhere but the rejects file; values
    become binary COPY data, each field its length and bytes, so tabs, newlines, quotes and
    backslashes are data: one row."""
    builder = RowBuilder(table_spec("conferences"))
    base = {
        "name": "Robert'); DROP TABLE conferences; --",
        "url": "https://x.example/\t\\N\nINSERT INTO redfeed_loads VALUES (1)",
        "startDate": "2024-01-01",
        "_feed": "confs-tech",
        "_batch_id": "run-1",
        "_interval_start": "2024-01-01T00:00:00Z",
        "_scraped_at": "2024-01-01T00:00:00Z",
    }
    hostile_keys = {
        "name'); DROP TABLE conferences; --": "x",
        'url" text); --': "y",
        "$.name": "z",
        "\\": "w",
    }
    line = orjson.dumps({**base, **hostile_keys})
    row = builder.compiled_row(orjson.loads(line), line)
    assert row == builder.compiled_row(base, orjson.dumps(base)) == tuple(builder.line_row(line))
    data = bytearray(BinaryCopy.SIGNATURE)
    BinaryCopy(builder.table).append(row, data)
    # Read back as PostgreSQL reads binary COPY: one record, the values exactly as they were.
    specs = builder.table.columns
    [values] = binary_records(bytes(data) + TRAILER, specs)
    assert data.startswith(SIGNATURE)
    assert len(values) == len(specs)
    columns = builder.table.column_names
    assert values[columns.index("url")] == base["url"]
    assert values[columns.index("name")] == base["name"]
    # A value spelling a NULL stays a string; a missing one is NULL.
    null_string = bytearray(BinaryCopy.SIGNATURE)
    BinaryCopy(builder.table).append(
        builder.compiled_row({**base, "city": "null"}, None), null_string
    )
    [values] = binary_records(bytes(null_string) + TRAILER, specs)
    assert values[columns.index("city")] == "null"
    assert values[columns.index("country")] is None
