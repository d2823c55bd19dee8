"""Drift check: does the live warehouse match the models (and the migrations' head)?

:func:`check` returns one readable line per difference; an empty list means in sync. It uses
Alembic's autogenerate comparison (tables, columns, types, nullability, server defaults, keys,
indexes) and adds what Alembic cannot see:

- the database's Alembic revision against the migrations' head;
- on Redshift, the physical design sqlalchemy-redshift reflects: DISTKEY, SORTKEY and each
  column's ENCODE. (DISTSTYLE is not reflected; a KEY table shows as its DISTKEY.)

``python -m redfeed.warehouse.drift [--url URL]`` prints the lines and exits 1 on drift.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, Column, Connection, MetaData, Table, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import DefaultClause
from sqlalchemy.sql.elements import ClauseElement

from redfeed.errors import ExitCode, RedfeedError, TemporaryError
from redfeed.warehouse.dialect import is_redshift, make_engine
from redfeed.warehouse.migrate import head, warehouse_url
from redfeed.warehouse.models import metadata as models_metadata

VERSION_TABLE = "alembic_version"


class RedshiftInspector(Protocol):
    """The part of a SQLAlchemy ``Inspector`` on sqlalchemy-redshift that the check reads."""

    def get_table_options(self, table_name: str) -> dict[str, Any]: ...

    def get_columns(self, table_name: str) -> Any: ...


def _type(type_: Any, dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # a reflected type the dialect cannot render
        return repr(type_)


def _default(value: Any, dialect: Dialect) -> str:
    if value is None:
        return "no default"
    if isinstance(value, DefaultClause):
        value = value.arg
    if isinstance(value, ClauseElement):
        try:
            value = value.compile(dialect=dialect)
        except Exception:  # a construct the dialect cannot render
            value = repr(value)
    return f"DEFAULT {value}"


def _where(schema: str | None, table: str, column: str | None = None) -> str:
    name = f"{schema}.{table}" if schema else table
    return f"{name}.{column}" if column else name


def _describe_column_change(change: tuple[Any, ...], dialect: Dialect) -> str:
    op, schema, table, column, _existing, in_db, in_models = change
    where = _where(schema, table, column)
    if op == "modify_type":
        return (
            f"{where}: type {_type(in_db, dialect)} in the database, "
            f"{_type(in_models, dialect)} in the models"
        )
    if op == "modify_nullable":

        def null(nullable: bool) -> str:
            return "NULL" if nullable else "NOT NULL"

        return f"{where}: {null(in_db)} in the database, {null(in_models)} in the models"
    if op == "modify_default":
        return (
            f"{where}: {_default(in_db, dialect)} in the database, "
            f"{_default(in_models, dialect)} in the models"
        )
    if op == "modify_comment":
        return f"{where}: comment {in_db!r} in the database, {in_models!r} in the models"
    return f"{where}: {op} ({in_db!r} in the database, {in_models!r} in the models)"


def describe(diffs: Iterable[Any], dialect: Dialect) -> list[str]:
    """Alembic ``compare_metadata`` output as one sentence per difference."""
    lines: list[str] = []
    for diff in diffs:
        if isinstance(diff, list):  # column modifications come grouped per column
            lines.extend(_describe_column_change(change, dialect) for change in diff)
            continue
        op = diff[0]
        if op in ("add_table", "remove_table"):
            table: Table = diff[1]
            side = "the models" if op == "add_table" else "the database"
            other = "the database" if op == "add_table" else "the models"
            lines.append(f"{_where(table.schema, table.name)}: table in {side}, not in {other}")
        elif op in ("add_column", "remove_column"):
            _, schema, table_name, column = diff
            column_: Column[Any] = column
            side = "the models" if op == "add_column" else "the database"
            other = "the database" if op == "add_column" else "the models"
            lines.append(
                f"{_where(schema, table_name, column_.name)}: column "
                f"({_type(column_.type, dialect)}) in {side}, not in {other}"
            )
        else:
            obj = diff[1]
            side = "the models" if op.startswith("add_") else "the database"
            name = getattr(obj, "name", None) or obj
            owner = getattr(getattr(obj, "table", None), "name", "?")
            lines.append(f"{owner}: {op.split('_', 1)[1]} {name} only in {side}")
    return lines


def _model_encode(column: Column[Any]) -> str:
    encode = column.dialect_options["redshift"].get("encode")
    return str(encode).lower() if encode else "raw"


def _names(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str | Column):
        value = [value]
    return tuple(item.name if isinstance(item, Column) else str(item) for item in value)


def redshift_differences(inspector: RedshiftInspector, metadata: MetaData) -> list[str]:
    """DISTKEY, SORTKEY and ENCODE of each model table that exists on Redshift vs the models."""
    lines: list[str] = []
    for table in metadata.sorted_tables:
        try:
            options = inspector.get_table_options(table.name)
            reflected = {column["name"]: column for column in inspector.get_columns(table.name)}
        except Exception:  # noqa: S112 - a missing table is reported by compare_metadata
            continue
        declared = table.dialect_options["redshift"]
        for key in ("distkey", "sortkey", "interleaved_sortkey"):
            want = _names(declared.get(key))
            have = _names(options.get(f"redshift_{key}"))
            if want != have:
                lines.append(
                    f"{table.name}: {key.upper()} ({', '.join(have) or 'none'}) in the database, "
                    f"({', '.join(want) or 'none'}) in the models"
                )
        for column in table.columns:
            if column.name not in reflected:
                continue
            info = reflected[column.name].get("info") or {}
            have_encode = str(info.get("encode") or "raw").lower()
            want_encode = _model_encode(column)
            if have_encode != want_encode:
                lines.append(
                    f"{table.name}.{column.name}: ENCODE {have_encode} in the database, "
                    f"{want_encode} in the models"
                )
    return lines


def compare(connection: Connection, metadata: MetaData = models_metadata) -> list[str]:
    """The differences between ``metadata`` (and the migrations' head) and ``connection``'s
    database."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "target_metadata": metadata,
        },
    )
    lines: list[str] = []
    have, want = context.get_current_revision(), head()
    if have != want:
        lines.append(
            f"{VERSION_TABLE}: the database is at revision {have or 'base (no schema)'}, "
            f"the migrations' head is {want}"
        )
    lines.extend(describe(compare_metadata(context, metadata), connection.dialect))
    if is_redshift(connection.dialect):
        inspector: Any = inspect(connection)
        lines.extend(redshift_differences(inspector, metadata))
    return lines


def check(url: str | URL | None = None) -> list[str]:
    """Compare the warehouse at ``url`` (default ``$REDFEED_WAREHOUSE_URL``) with the models;
    one readable line per difference, empty when in sync."""
    parsed = warehouse_url(url)
    try:
        with make_engine(parsed).connect() as connection:
            return compare(connection)
    except OperationalError as exc:
        raise TemporaryError(f"warehouse {parsed.render_as_string()}: {exc.orig}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Print the drift between the models and the warehouse; exit 1 if there is any."""
    parser = argparse.ArgumentParser(prog="drift", description=main.__doc__)
    parser.add_argument("--url", help="warehouse URL (default: $REDFEED_WAREHOUSE_URL)")
    args = parser.parse_args(argv)
    try:
        lines = check(args.url)
    except RedfeedError as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    if not lines:
        print("drift: the warehouse matches the models")
        return int(ExitCode.OK)
    print(f"drift: the warehouse differs from the models in {len(lines)} way(s):")
    for line in lines:
        print(f"  - {line}")
    return int(ExitCode.FAILED)


if __name__ == "__main__":
    raise SystemExit(main())
