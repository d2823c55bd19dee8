"""The PostgreSQL destination's connections notice a server that vanished without closing them
(tests/faults/test_warehouse_faults.py crashes one mid-COPY): TCP keepalives and a TCP user
timeout by default, each overridable in the warehouse URL; and the server notices a loader that
vanished mid-COPY (tests/integration/test_loader.py kills one): keepalives on the server's side
of the session."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from redfeed.warehouse.destinations.postgres import (
    SERVER_LIVENESS,
    TCP_LIVENESS,
    PostgresDestination,
)
from redfeed.warehouse.url import DatabaseURL


class Refused(Exception):
    pass


def connection_parameters(url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def connect(conninfo: str, **kwargs: Any) -> None:
        seen.update(conninfo_to_dict(conninfo), **kwargs)
        raise Refused

    monkeypatch.setattr(psycopg, "connect", connect)
    with pytest.raises(Refused):
        PostgresDestination(DatabaseURL.parse(url)).connect()
    return seen


def test_connections_carry_keepalives_and_a_tcp_user_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = connection_parameters("postgresql+psycopg://u:p@warehouse:5432/db", monkeypatch)
    assert {k: seen[k] for k in TCP_LIVENESS} == TCP_LIVENESS
    assert int(seen["tcp_user_timeout"]) <= 60_000
    assert (seen["host"], seen["dbname"], seen["application_name"]) == (
        "warehouse",
        "db",
        "redfeed-loader",
    )


def test_the_warehouse_url_overrides_them(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://u:p@warehouse:5432/db?tcp_user_timeout=5000&keepalives_idle=5"
    seen = connection_parameters(url, monkeypatch)
    assert (seen["tcp_user_timeout"], seen["keepalives_idle"]) == ("5000", "5")
    assert seen["keepalives_count"] == TCP_LIVENESS["keepalives_count"]


def test_the_server_side_of_the_session_has_keepalives_too(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = connection_parameters("postgresql+psycopg://u:p@warehouse:5432/db", monkeypatch)
    assert seen["options"] == SERVER_LIVENESS
    assert "-c tcp_keepalives_idle=30" in seen["options"]
    # The URL's own options come last: PostgreSQL applies -c settings in order, so they win.
    url = "postgresql+psycopg://u:p@warehouse:5432/db?options=-c%20tcp_keepalives_idle%3D2"
    seen = connection_parameters(url, monkeypatch)
    assert seen["options"] == f"{SERVER_LIVENESS} -c tcp_keepalives_idle=2"
