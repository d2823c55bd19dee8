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

from sqlalchemy import URL, DateTime, Engine, create_engine, pool
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
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
