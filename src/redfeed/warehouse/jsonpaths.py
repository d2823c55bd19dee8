"""Column lists, Redshift JSONPaths and validation facts, derived from the models.

A model column that is loaded from the archive declares where its value is in an archived record,
``info={"jsonpath": "$.startDate"}``. From that one declaration this module gives the loader:

- the ordered list of loaded columns (the COPY column list, and the INSERT ... SELECT list);
- the JSONPaths document ``{"jsonpaths": [...]}`` in the same order (COPY matches them by
  position, so they are built together and cannot disagree);
- per column, what a validator needs before COPY sees a row: the Redshift type, nullability, the
  VARCHAR byte limit, the integer range.

Columns without a JSONPath (``_loaded_at``) are filled by their DEFAULT and are not in the list.

Redshift's JSONPath subset (COPY ``FORMAT AS JSON 's3://...jsonpaths'``): ``$`` followed by
``.name`` or ``['name']`` elements (one notation per expression, not both) and ``[n]`` array
indexes; no wildcards, no filters. :func:`check_jsonpath` enforces it and :func:`extract`
evaluates it the way COPY does: a missing object element is NULL, an array index out of range is
an error.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from redfeed.archive.layout import STREAM_NAME
from redfeed.errors import ConfigError
from redfeed.feeds.registry import family_of

if TYPE_CHECKING:
    from sqlalchemy import Column, MetaData, Table
    from sqlalchemy.engine import Dialect

JSONPATH_KEY: Final = "jsonpath"
STREAM_KEY: Final = "stream"

#: feed -> the tables its batches load into. (The feed registry owns spiders; this is the
#: warehouse side of the same names.)
FEED_TABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "confs-tech": ("conferences",),
    # a family: every `pretalx-<event>` feed loads these (see tables_for_feed)
    "pretalx": ("pretalx_events", "pretalx_talks", "pretalx_speakers", "pretalx_talk_speakers"),
    "python-organizers": ("python_conferences",),
    "homepages": ("homepage_events",),
}

#: Integer ranges of Redshift's integer types.
INTEGER_RANGES: Final = {
    "SMALLINT": (-(2**15), 2**15 - 1),
    "INTEGER": (-(2**31), 2**31 - 1),
    "BIGINT": (-(2**63), 2**63 - 1),
}

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INDEX = r"\[(?:0|[1-9][0-9]*)\]"
_DOT_PATH = re.compile(rf"^\$(?:\.{_NAME}(?:{_INDEX})*)+\Z")
_BRACKET_PATH = re.compile(rf"^\$(?:\['[^'\\]+'\](?:{_INDEX})*)+\Z")
JSONPATH_STEP = re.compile(rf"\.({_NAME})|\['([^'\\]+)'\]|\[(0|[1-9][0-9]*)\]")


class JsonPathError(ValueError):
    """A JSONPath that Redshift's COPY would reject, or one that does not fit a record."""


@dataclass(frozen=True)
class ColumnSpec:
    """One loaded column: where its value comes from, and what the warehouse accepts."""

    name: str
    jsonpath: str
    #: The type as Redshift's DDL spells it, e.g. ``VARCHAR(512)``, ``DATE``.
    sql_type: str
    #: ``string`` | ``date`` | ``timestamp`` | ``boolean`` | ``integer``
    kind: str
    nullable: bool
    #: VARCHAR/CHAR: the limit in UTF-8 **bytes** (Redshift counts bytes, not characters).
    max_bytes: int | None = None
    #: integer columns: the range of the Redshift type.
    min_value: int | None = None
    max_value: int | None = None
    #: ENCODE declared for Redshift (``raw`` for sort keys).
    encode: str | None = None

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits this column's byte limit (always true without one)."""
        return self.max_bytes is None or len(text.encode("utf-8")) <= self.max_bytes


@dataclass(frozen=True)
class TableSpec:
    """What the loader needs to COPY archived records into ``name``."""

    name: str
    columns: tuple[ColumnSpec, ...]
    #: The archive stream the table loads (``None``: the feed's default stream), declared on the
    #: model as ``__table_args__ = {"info": {"stream": "speakers"}}``.
    stream: str | None = None

    @property
    def column_names(self) -> list[str]:
        """The COPY column list, in JSONPaths order."""
        return [column.name for column in self.columns]

    @property
    def jsonpaths(self) -> dict[str, list[str]]:
        """The JSONPaths document, one expression per column of :attr:`column_names`."""
        return {"jsonpaths": [column.jsonpath for column in self.columns]}

    def jsonpaths_file(self) -> bytes:
        """The JSONPaths document as the file COPY reads (one JSON object)."""
        return orjson.dumps(self.jsonpaths, option=orjson.OPT_INDENT_2) + b"\n"

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} loads no column {name!r}")


def check_jsonpath(path: str) -> str:
    """``path`` if Redshift's COPY accepts it, else :class:`JsonPathError`."""
    if not (_DOT_PATH.match(path) or _BRACKET_PATH.match(path)):
        raise JsonPathError(
            f"{path!r} is not a Redshift JSONPath: use $.a.b[0] or $['a']['b'][0] "
            "(one notation, no wildcards or filters)"
        )
    return path


def compile_getter(path: str) -> Callable[[Any], Any]:
    """A function reading ``path`` from a record the way COPY does: None where an object element
    is missing; :class:`JsonPathError` where an array index is out of range (COPY fails there).
    Compiled once per column, so the loader's per-record cost is a few dict lookups."""
    steps: list[str | int] = [
        int(index) if index else (name or quoted)
        for name, quoted, index in JSONPATH_STEP.findall(check_jsonpath(path)[1:])
    ]
    if len(steps) == 1 and isinstance(steps[0], str):
        key = steps[0]
        return lambda record: record.get(key) if isinstance(record, dict) else None

    def get(record: Any) -> Any:
        value = record
        for step in steps:
            if isinstance(step, int):
                if not isinstance(value, list) or step >= len(value):
                    raise JsonPathError(f"{path}: no element [{step}] in {type(value).__name__}")
                value = value[step]
            elif isinstance(value, dict):
                value = value.get(step)
            else:
                return None
        return value

    return get


def extract(record: Any, path: str) -> Any:
    """The value COPY would load from ``record`` at ``path`` (see :func:`compile_getter`)."""
    return compile_getter(path)(record)


@cache
def redshift_dialect() -> Dialect:
    """A Redshift dialect instance (sqlalchemy-redshift), for rendering types; never connects."""
    from sqlalchemy import make_url

    dialect: Dialect = make_url("redshift+psycopg2://").get_dialect()()
    return dialect


def _column_spec(column: Column[Any], jsonpath: str) -> ColumnSpec:
    from sqlalchemy import Boolean, Date, DateTime, Integer, String

    type_ = column.type
    sql_type = type_.compile(dialect=redshift_dialect())
    encode = column.dialect_options["redshift"].get("encode")
    common: dict[str, Any] = {
        "name": str(column.name),
        "jsonpath": check_jsonpath(jsonpath),
        "sql_type": sql_type,
        "nullable": bool(column.nullable),
        "encode": encode,
    }
    if isinstance(type_, String):
        if type_.length is None:
            raise ConfigError(f"{column}: a VARCHAR needs a byte length (Redshift defaults to 256)")
        return ColumnSpec(kind="string", max_bytes=type_.length, **common)
    if isinstance(type_, Boolean):
        return ColumnSpec(kind="boolean", **common)
    if isinstance(type_, DateTime):
        return ColumnSpec(kind="timestamp", **common)
    if isinstance(type_, Date):
        return ColumnSpec(kind="date", **common)
    if isinstance(type_, Integer):  # SMALLINT, INTEGER, BIGINT
        low, high = INTEGER_RANGES[sql_type]
        return ColumnSpec(kind="integer", min_value=low, max_value=high, **common)
    raise ConfigError(f"{column}: no loader support for {sql_type} yet")


def _table(table: str | Table, metadata: MetaData) -> Table:
    if not isinstance(table, str):
        return table
    try:
        return metadata.tables[table]
    except KeyError:
        known = ", ".join(sorted(metadata.tables))
        raise ConfigError(f"no warehouse table {table!r}; known: {known}") from None


def build_table_spec(table: Table) -> TableSpec:
    """The :class:`TableSpec` of ``table``, checked: every column is either loaded (it has a
    JSONPath) or filled by the database (nullable or a server default)."""
    if not any(JSONPATH_KEY in column.info for column in table.columns):
        raise ConfigError(f"table {table.name} has no column with a JSONPath: it is not loaded")
    specs: list[ColumnSpec] = []
    for column in table.columns:
        jsonpath = column.info.get(JSONPATH_KEY)
        if jsonpath is None:
            if not column.nullable and column.server_default is None:
                raise ConfigError(
                    f"{column}: NOT NULL without a JSONPath or a server default; COPY could "
                    "never fill it"
                )
            continue
        specs.append(_column_spec(column, jsonpath))
    stream = table.info.get(STREAM_KEY)
    if stream is not None and not (isinstance(stream, str) and STREAM_NAME.match(stream)):
        raise ConfigError(f"table {table.name}: stream {stream!r} is not a stream name")
    return TableSpec(str(table.name), tuple(specs), stream)


def _models_metadata() -> MetaData:
    from redfeed.warehouse.models import metadata

    return metadata


#: The loaded tables' specs as the models declare them, generated by ``make table-specs``.
TABLE_SPECS_FILE: Final = Path(__file__).with_name("table_specs.json")


@cache
def compiled_table_specs() -> dict[str, TableSpec]:
    """The specs in :data:`TABLE_SPECS_FILE`, which loads and verify read instead of importing
    the models, SQLAlchemy and the Redshift dialect (0.3 - 0.4 s of CPU in every such task);
    tests/unit/test_warehouse_jsonpaths.py fails when they differ from the models."""
    tables = orjson.loads(TABLE_SPECS_FILE.read_bytes())
    return {
        name: TableSpec(name, tuple(ColumnSpec(**c) for c in table["columns"]), table["stream"])
        for name, table in tables.items()
    }


@cache
def _spec_of_model_table(name: str) -> TableSpec:
    compiled = compiled_table_specs().get(name)
    if compiled is not None:
        return compiled
    return build_table_spec(_table(name, _models_metadata()))


def table_spec(table: str | Table) -> TableSpec:
    """The :class:`TableSpec` of a model table (by name or ``Table``); by name, from
    :func:`compiled_table_specs`."""
    if isinstance(table, str):
        return _spec_of_model_table(table)
    metadata = _models_metadata()
    if metadata.tables.get(table.name) is table:
        return _spec_of_model_table(table.name)
    return build_table_spec(table)


def model_table_specs() -> dict[str, TableSpec]:
    """Every loaded table's spec, derived from the models now (what ``table_specs`` must hold)."""
    metadata = _models_metadata()
    return {
        name: build_table_spec(table)
        for name, table in sorted(metadata.tables.items())
        if any(JSONPATH_KEY in column.info for column in table.columns)
    }


def render_table_specs() -> bytes:
    """:data:`TABLE_SPECS_FILE` for the models as they are: one JSON object, a line per column
    (its fields at their default left out), so that a model change is a readable diff."""

    def column(spec: ColumnSpec) -> bytes:
        fields = dataclasses.fields(spec)
        return orjson.dumps(
            {f.name: v for f in fields if (v := getattr(spec, f.name)) != f.default}
        )

    tables = [
        b'  %s: {"stream": %s, "columns": [\n    %s\n  ]}'
        % (
            orjson.dumps(name),
            orjson.dumps(spec.stream),
            b",\n    ".join(map(column, spec.columns)),
        )
        for name, spec in model_table_specs().items()
    ]
    return b"{\n" + b",\n".join(tables) + b"\n}\n"


def load_columns(table: str | Table) -> list[str]:
    """The ordered COPY column list of ``table``."""
    return table_spec(table).column_names


def jsonpaths(table: str | Table) -> dict[str, list[str]]:
    """The Redshift JSONPaths document of ``table`` (same order as :func:`load_columns`)."""
    return table_spec(table).jsonpaths


def tables_for_feed(feed: str) -> list[TableSpec]:
    """The tables a batch of ``feed`` loads into (those of its family, e.g. ``pretalx`` for
    ``pretalx-europython-2024``); ``ConfigError`` for a feed without tables."""
    family = family_of(feed, FEED_TABLES)
    if family is None:
        known = ", ".join(sorted(FEED_TABLES)) or "(none)"
        raise ConfigError(f"feed {feed!r} loads no warehouse table; known: {known}")
    return [table_spec(name) for name in FEED_TABLES[family]]


def main(argv: list[str] | None = None) -> None:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=render_table_specs.__doc__)
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    if args.output is None:
        sys.stdout.buffer.write(render_table_specs())
    else:
        args.output.write_bytes(render_table_specs())


if __name__ == "__main__":
    main()
