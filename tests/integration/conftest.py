"""Integration tests: a real PostgreSQL (the project's own ``redfeed/postgres`` image) through
testcontainers. Ryuk is disabled: it would be pulled from Docker Hub, and there is no registry.

``warehouse_url`` is one container for the whole layer; ``fresh_warehouse_url`` is a new, empty
database in it for each test, so tests that migrate cannot see each other's schema.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from testcontainers.community.postgres import PostgresContainer

IMAGE = "redfeed/postgres"
# Durability is not what these tests test: skip the fsyncs.
POSTGRES_ARGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees every item of the session, not only this directory's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="package")
def warehouse_container() -> Iterator[PostgresContainer]:
    container = PostgresContainer(
        IMAGE, username="redfeed", password=secrets.token_hex(8), dbname="redfeed", driver="psycopg"
    ).with_command(POSTGRES_ARGS)
    try:
        container.start()
    except Exception as exc:  # no engine, no image: say what to do
        pytest.fail(f"cannot start {IMAGE} (run `make images` and start Docker): {exc}")
    try:
        yield container
    finally:
        container.stop()


@pytest.fixture(scope="package")
def warehouse_url(warehouse_container: PostgresContainer) -> str:
    """``postgresql+psycopg://`` URL of the layer's PostgreSQL (its ``redfeed`` database)."""
    return str(warehouse_container.get_connection_url())


@pytest.fixture
def fresh_warehouse_url(warehouse_url: str) -> Iterator[str]:
    """A new empty database in the layer's container, dropped after the test."""
    name = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(warehouse_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(warehouse_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
