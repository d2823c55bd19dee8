"""Alembic DDL compiled the Redshift way (see redfeed.warehouse.dialect's notes): ``RENAME
COLUMN``, VARCHAR widening outside a transaction, and a clear refusal for the in-place changes
Redshift cannot do. Imported by the migration machinery only, so loading data never pays for
importing Alembic."""

from __future__ import annotations

from typing import Any

from alembic.ddl.base import (
    AlterColumn,
    ColumnDefault,
    ColumnName,
    ColumnNullable,
    alter_column,
    alter_table,
    format_column_name,
    format_type,
)
from alembic.ddl.postgresql import PostgresqlColumnType
from sqlalchemy import String
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler

from redfeed.warehouse.dialect import REDSHIFT


@compiles(ColumnName, REDSHIFT)
def _rename_column_redshift(element: ColumnName, compiler: DDLCompiler, **kw: Any) -> str:
    table = alter_table(compiler, element.table_name, element.schema)
    old = format_column_name(compiler, element.column_name)
    new = format_column_name(compiler, element.newname)
    return f"{table} RENAME COLUMN {old} TO {new}"


def _refuse(element: AlterColumn, what: str) -> CompileError:
    return CompileError(
        f"Redshift cannot {what} ({element.table_name}.{element.column_name}): add a new "
        "column, copy, drop the old one, rename (docs/warehouse.md, migration 0002)"
    )


@compiles(PostgresqlColumnType, REDSHIFT)
def _alter_column_type_redshift(
    element: PostgresqlColumnType, compiler: DDLCompiler, **kw: Any
) -> str:
    new, old = element.type_, element.existing_type
    if not isinstance(new, String) or new.length is None or element.using:
        raise _refuse(element, f"change a column's type in place to {format_type(compiler, new)}")
    if old is not None and not (
        isinstance(old, String) and old.length is not None and old.length <= new.length
    ):
        was = format_type(compiler, old)
        raise _refuse(element, f"turn {was} into VARCHAR({new.length})")
    table = alter_table(compiler, element.table_name, element.schema)
    column = alter_column(compiler, element.column_name)
    return f"{table} {column} TYPE {format_type(compiler, new)}"


@compiles(ColumnNullable, REDSHIFT)
def _alter_column_nullable_redshift(
    element: ColumnNullable, compiler: DDLCompiler, **kw: Any
) -> str:
    raise _refuse(element, "change NULL / NOT NULL in place")


@compiles(ColumnDefault, REDSHIFT)
def _alter_column_default_redshift(element: ColumnDefault, compiler: DDLCompiler, **kw: Any) -> str:
    raise _refuse(element, "change a column's DEFAULT in place")
