"""What Redshift needs that sqlalchemy-redshift 1.0 and Alembic do not do by themselves.

Importing this module registers two SQL compilation rules; :func:`adapt` fixes a dialect
instance. Both are idempotent, and both leave PostgreSQL exactly as SQLAlchemy renders it.

- ``RETURNING``: sqlalchemy-redshift inherits PostgreSQL's ``insert_returning``, so Alembic's
  ``INSERT INTO alembic_version ... VALUES ('...')`` gets ``RETURNING alembic_version.version_num``
  (the version is a SQL literal, which SQLAlchemy fetches back), online and in ``--sql`` output
  (sqlalchemy-redshift issue #281). Redshift has no RETURNING: :func:`adapt` turns it off.
- ``RENAME COLUMN``: Alembic renders ``ALTER TABLE t RENAME a TO b``; Redshift documents
  ``ALTER TABLE t RENAME COLUMN a TO b`` (valid PostgreSQL too), which is what we render.
- In-place ALTER COLUMN: Redshift only widens a VARCHAR (outside a transaction block), and
  cannot change NULL/NOT NULL or a DEFAULT. sqlalchemy-redshift cannot even render Alembic's
  ``alter_column(type_=...)`` (PostgreSQL-only construct); here the one legal form renders, and
  the others fail at render time (``make redshift-ddl``, the golden test) with the way to do it.
- :class:`utc_now`: the transaction's start time as a UTC ``TIMESTAMP``. Redshift's ``NOW()`` and
  ``CURRENT_TIMESTAMP`` are leader-node-only, so a column default must be ``SYSDATE`` (start of the
  transaction, UTC); PostgreSQL gets ``timezone('utc', now())``, the same instant whatever the
  session time zone. Every row of one load transaction gets the same value.
"""

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
from sqlalchemy import URL, DateTime, Engine, String, create_engine, pool
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

REDSHIFT = "redshift"


def is_redshift(dialect: Dialect) -> bool:
    return dialect.name == REDSHIFT


def adapt(dialect: Dialect) -> Dialect:
    """Make ``dialect`` render only what its database accepts (no RETURNING on Redshift)."""
    if is_redshift(dialect):
        dialect.insert_returning = False
        dialect.update_returning = False
        dialect.delete_returning = False
        dialect.insert_executemany_returning = False
        dialect.use_insertmanyvalues = False
    return dialect


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for the warehouse at ``url`` (no pool: one task, one connection), adapted."""
    kwargs.setdefault("poolclass", pool.NullPool)
    engine = create_engine(url, **kwargs)
    adapt(engine.dialect)
    return engine


class utc_now(FunctionElement[Any]):
    """``SYSDATE`` on Redshift, ``timezone('utc', now())`` on PostgreSQL: a UTC TIMESTAMP."""

    type = DateTime()
    inherit_cache = True
    name = "utc_now"


@compiles(utc_now)
def _utc_now_default(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(utc_now, "postgresql")
def _utc_now_postgresql(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "timezone('utc', now())"


@compiles(utc_now, REDSHIFT)
def _utc_now_redshift(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "SYSDATE"


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
