"""Alembic environment of the redfeed warehouse: Amazon Redshift, or PostgreSQL standing in for it.

The URL comes from ``redfeed.warehouse.migrate`` (``config.attributes["url"]``), else from
``sqlalchemy.url`` in an ini file, else from ``$REDFEED_WAREHOUSE_URL``. A caller may also hand
over an open connection (``config.attributes["connection"]``).

Redshift rules applied here, for online runs and ``--sql`` alike:
- one transaction per migration: a failing migration rolls back alone; Redshift runs most DDL
  (CREATE/DROP TABLE, ADD/DROP/RENAME COLUMN) inside a transaction, and Alembic never uses
  savepoints, which Redshift lacks;
- a statement Redshift refuses inside a transaction (``ALTER COLUMN ... TYPE VARCHAR(n)``)
  goes in ``with op.get_context().autocommit_block():``;
- no RETURNING: the dialect is adapted before the version table is written
  (sqlalchemy-redshift issue #281).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection

from redfeed.warehouse import migration_ddl  # noqa: F401 (registers the Redshift DDL rules)
from redfeed.warehouse.dialect import adapt, make_engine
from redfeed.warehouse.migrate import warehouse_url
from redfeed.warehouse.models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

OPTIONS: dict[str, Any] = {
    "target_metadata": metadata,
    "transaction_per_migration": True,
    "compare_type": True,
    "compare_server_default": True,
}


def url() -> Any:
    return config.attributes.get("url") or warehouse_url(
        config.get_main_option("sqlalchemy.url") or None
    )


def run_offline() -> None:
    context.configure(
        url=url(), literal_binds=True, dialect_opts={"paramstyle": "named"}, **OPTIONS
    )
    adapt(context.get_context().dialect)
    with context.begin_transaction():
        context.run_migrations()


def run_with(connection: Connection) -> None:
    adapt(connection.dialect)
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    with make_engine(url()).connect() as connection:
        run_with(connection)


if context.is_offline_mode():
    run_offline()
else:
    run_online()
