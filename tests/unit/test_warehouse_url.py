"""The warehouse URL read without SQLAlchemy says what SQLAlchemy's own URL says."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from psycopg.conninfo import conninfo_to_dict

from redfeed.errors import ConfigError
from redfeed.warehouse.destinations import open_destination
from redfeed.warehouse.url import DatabaseURL, redacted

URLS = [
    "postgresql+psycopg://u:p@warehouse:5432/db",
    "postgresql+psycopg2://airflow:p%40ss%2Fw%3Ard@postgres/airflow",
    "postgresql://u@[::1]:5433/db?sslmode=require&application_name=x",
    "postgresql+psycopg://u:p@h/db?options=-c%20tcp_keepalives_idle%3D2&keepalives_idle=5",
    "postgresql+psycopg://u:p@h/d%C3%A9b",
    "postgresql+psycopg:///db?host=/run/postgresql",
    "redshift+psycopg2://admin:s3cret@cluster.abc.eu-west-1.redshift.amazonaws.com:5439/dev",
]


@pytest.mark.parametrize("url", URLS)
def test_it_reads_a_url_as_sqlalchemy_does(url: str) -> None:
    ours, theirs = DatabaseURL.parse(url), sa.make_url(url)
    assert ours.backend == theirs.get_backend_name()
    assert ours.driver == (theirs.drivername.partition("+")[2] or None)
    fields = {
        "user": theirs.username,
        "password": theirs.password,
        "host": theirs.host,
        "port": theirs.port and str(theirs.port),
        "dbname": theirs.database,
    }
    # libpq's parameters from SQLAlchemy's parse, not its rendering: that writes a space in a
    # query value as "+", which libpq does not read back as a space (an `options=-c x=1` breaks).
    expected = {k: v for k, v in fields.items() if v} | dict(theirs.query)
    assert conninfo_to_dict(ours.libpq) == expected
    assert {k: v if len(v) > 1 else v[0] for k, v in ours.query.items()} == dict(theirs.query)
    # the text for logs: up to the host, as SQLAlchemy's (password hidden)
    if theirs.username:
        assert str(ours).partition("@")[0] == theirs.render_as_string().partition("@")[0]


def test_a_password_never_reaches_its_text() -> None:
    url = DatabaseURL.parse("postgresql+psycopg://loader:hunter2@warehouse/db")
    assert str(url) == "postgresql+psycopg://loader:***@warehouse/db"
    assert "hunter2" in url.libpq
    assert redacted("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redacted("postgresql://u:p:q@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize("url", ["", "warehouse:5432/db", "post gres://h/db", "+psycopg://h/db"])
def test_what_is_not_a_database_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="is not a database URL"):
        DatabaseURL.parse(url)
    with pytest.raises(ConfigError, match=r"REDFEED_WAREHOUSE_URL: .*is not a database URL"):
        open_destination(url)


def test_a_backend_without_a_destination_is_named() -> None:
    with pytest.raises(ConfigError, match="scheme 'mysql\\+pymysql': use redshift"):
        open_destination("mysql+pymysql://u:p@h/db")


def test_a_redshift_url_sqlalchemy_refuses_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="is not a database URL"):
        open_destination("redshift+psycopg2://admin:pw@cluster:port/dev")
