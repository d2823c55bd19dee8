"""Column lists, JSONPaths and validation facts are derived from the models, never written twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from redfeed.errors import ConfigError
from redfeed.feeds.registry import FEEDS
from redfeed.warehouse import jsonpaths
from redfeed.warehouse.jsonpaths import (
    FEED_TABLES,
    JsonPathError,
    build_table_spec,
    check_jsonpath,
    extract,
    load_columns,
    table_spec,
    tables_for_feed,
)
from redfeed.warehouse.models import conferences, metadata
from tests.records import confs_tech_records

LINEAGE = {
    "_feed": "$._feed",
    "_batch_id": "$._batch_id",
    "_interval_start": "$._interval_start",
    "_scraped_at": "$._scraped_at",
}
#: The fields of a confs.tech object (the source's schema) and the three the spider adds.
CONFS_TECH_FIELDS = {
    "name", "url", "startDate", "endDate", "city", "country", "online", "locales", "cocUrl",
    "cfpUrl", "cfpEndDate", "twitter", "mastodon", "offersSignLanguageOrCC",
}  # fmt: skip
SPIDER_FIELDS = {"topic", "year", "sourcePath"}


def fixture_records(confs_tech_dir: Path) -> list[dict[str, Any]]:
    return list(confs_tech_records(confs_tech_dir))


def test_column_list_is_the_model_column_order_without_database_filled_columns() -> None:
    expected = [c.name for c in conferences.columns if c.name != "_loaded_at"]
    assert load_columns("conferences") == expected
    assert load_columns(conferences) == expected


def test_jsonpaths_are_in_column_order_and_all_dot_paths() -> None:
    spec = table_spec("conferences")
    paths = spec.jsonpaths["jsonpaths"]
    assert len(paths) == len(spec.column_names)
    assert paths == [conferences.c[name].info["jsonpath"] for name in spec.column_names]
    assert all(path.startswith("$.") for path in paths)
    assert all(check_jsonpath(path) == path for path in paths)
    assert len(set(paths)) == len(paths)


def test_lineage_columns_are_loaded_and_loaded_at_is_not() -> None:
    spec = table_spec("conferences")
    pairs = dict(zip(spec.column_names, spec.jsonpaths["jsonpaths"], strict=True))
    assert {name: pairs[name] for name in LINEAGE} == LINEAGE
    assert "_loaded_at" not in spec.column_names
    assert conferences.c._loaded_at.server_default is not None


def test_jsonpaths_file_is_one_object_under_the_jsonpaths_key() -> None:
    """COPY silently falls back to 'auto' when the top-level key is not "jsonpaths"."""
    document = orjson.loads(table_spec("conferences").jsonpaths_file())
    assert list(document) == ["jsonpaths"]
    assert document == jsonpaths.jsonpaths("conferences")


def test_every_confs_tech_field_is_mapped_and_every_path_names_a_real_field(
    confs_tech_dir: Path,
) -> None:
    records = fixture_records(confs_tech_dir)
    seen = set().union(*(record.keys() for record in records))
    assert seen == CONFS_TECH_FIELDS | SPIDER_FIELDS, "the source's schema changed"
    mapped = {
        path.removeprefix("$.")
        for path in table_spec("conferences").jsonpaths["jsonpaths"]
        if path not in LINEAGE.values()
    }
    assert mapped == seen  # nothing dropped, no path to a field that does not exist


def test_validation_facts_come_from_the_column_types() -> None:
    spec = table_spec("conferences")
    name = spec.column("name")
    assert (name.kind, name.sql_type, name.max_bytes, name.nullable) == (
        "string",
        "VARCHAR(512)",
        512,
        False,
    )
    year = spec.column("year")
    assert (year.kind, year.min_value, year.max_value) == ("integer", -32768, 32767)
    assert spec.column("start_date").kind == "date"
    assert spec.column("cfp_end_date").kind == "date"
    assert spec.column("online").kind == "boolean"
    assert spec.column("_interval_start").kind == "timestamp"
    assert spec.column("_interval_start").encode == "raw"
    for column in spec.columns:
        assert column.nullable == conferences.c[column.name].nullable
    assert name.fits("x" * 512)
    assert not name.fits("é" * 257)


def test_feed_tables() -> None:
    assert [spec.name for spec in tables_for_feed("confs-tech")] == ["conferences"]
    with pytest.raises(ConfigError, match="loads no warehouse table"):
        tables_for_feed("no-such-feed")
    assert set(FEEDS) <= set(FEED_TABLES), "a feed whose batches have no table to go to"
    for names in FEED_TABLES.values():
        for name in names:
            assert name in metadata.tables


def test_the_generated_table_specs_are_the_models_own() -> None:
    derived = jsonpaths.model_table_specs()
    assert set(derived) >= {name for names in FEED_TABLES.values() for name in names}
    compiled = jsonpaths.compiled_table_specs()
    assert derived == compiled, "the models changed: run `make table-specs`"
    assert jsonpaths.TABLE_SPECS_FILE.read_bytes() == jsonpaths.render_table_specs()
    for name, spec in compiled.items():
        assert table_spec(name) is spec
        assert table_spec(metadata.tables[name]) is spec


def test_a_load_gets_its_tables_without_importing_sqlalchemy() -> None:
    """The loader and verify tasks read the generated specs and parse the warehouse URL
    themselves: importing SQLAlchemy, the models and the Redshift dialect cost each task 0.3 to
    0.4 s of CPU."""
    program = (
        "import sys\n"
        "import redfeed.load, redfeed.verify\n"
        "from redfeed.warehouse.destinations import open_destination\n"
        "from redfeed.warehouse.jsonpaths import tables_for_feed\n"
        "from redfeed.warehouse.rows import RowBuilder\n"
        "for feed in ('confs-tech', 'pretalx-europython-2024', 'python-organizers', 'homepages'):\n"
        "    for spec in tables_for_feed(feed):\n"
        "        RowBuilder(spec)\n"
        "open_destination('postgresql+psycopg://u:p@warehouse:5432/db')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic', "
        "'sqlalchemy_redshift'}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.strip() == "[]", run.stdout


def test_tables_not_loaded_from_the_archive_have_no_spec() -> None:
    with pytest.raises(ConfigError, match="no column with a JSONPath"):
        table_spec("redfeed_loads")
    with pytest.raises(ConfigError, match="no warehouse table"):
        table_spec("nope")


def test_a_column_copy_could_never_fill_is_refused() -> None:
    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("a", sa.String(10), info={"jsonpath": "$.a"}),
        sa.Column("b", sa.Integer(), nullable=False),
    )
    with pytest.raises(ConfigError, match="NOT NULL without a JSONPath"):
        build_table_spec(table)


def test_a_varchar_needs_a_byte_length() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("a", sa.String(), info={"jsonpath": "$.a"}))
    with pytest.raises(ConfigError, match="byte length"):
        build_table_spec(table)


@pytest.mark.parametrize(
    "path",
    ["$.a.b[0]", "$['a']['b'][0]", "$._feed", "$.speakers[0].name", "$['a b']"],
)
def test_redshift_jsonpaths_are_accepted(path: str) -> None:
    assert check_jsonpath(path) == path


@pytest.mark.parametrize(
    "path",
    ["a", "$", "$.a['b']", "$['a'].b", "$.a[*]", "$..a", "$.a[?(@.b)]", "$.a[-1]", "$.1a"],
)
def test_what_redshift_rejects_is_rejected(path: str) -> None:
    with pytest.raises(JsonPathError):
        check_jsonpath(path)


def test_extract_follows_copy_semantics() -> None:
    record = {"a": {"b": [10, {"c": "x"}]}, "speakers": [{"name": "Ada"}], "n": None}
    assert extract(record, "$.a.b[1].c") == "x"
    assert extract(record, "$['a']['b'][0]") == 10
    assert extract(record, "$.speakers[0].name") == "Ada"
    assert extract(record, "$.missing") is None  # a missing element loads NULL
    assert extract(record, "$.n.deeper") is None
    assert extract(record, "$.a") == {"b": [10, {"c": "x"}]}
    with pytest.raises(JsonPathError, match=r"no element \[1\]"):
        extract(record, "$.speakers[1].name")  # an index out of range fails the COPY
