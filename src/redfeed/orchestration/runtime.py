"""Runtime configuration of task containers, resolved on the worker when a task runs.

Never at DAG parse time and never in rendered templates: endpoints and credentials come from two
Airflow connections and a few worker environment variables, so the same DAGs run on the local
compose stack and on AWS with nothing but configuration changed.

==========================================  =====================================================
Airflow connection ``redfeed_archive``       ``aws``: login = access key id, password = secret key,
                                             extra ``endpoint_url``, ``region_name``,
                                             ``aws_session_token``, ``archive_url`` (required,
                                             ``s3://bucket/prefix``)
Airflow connection ``redfeed_warehouse``     ``postgres`` (local emulation) or ``redshift``: host,
                                             port, schema = database, login, password; extra
                                             ``sslmode`` etc. become URL query parameters
worker ``REDFEED_DOCKER_NETWORK``            Docker network the task containers join (compose:
                                             the project's network, to reach ``s3``, ``postgres``)
worker ``REDFEED_SOURCE_URL__<FEED>``        replaces the registry's ``source_url`` (feed name
                                             upper-cased, ``-`` as ``_``), e.g. a local mirror
==========================================  =====================================================

Container variables (docs/contract.md): ``REDFEED_ARCHIVE_URL``, ``AWS_ENDPOINT_URL``,
``AWS_DEFAULT_REGION`` go in the environment; ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``REDFEED_WAREHOUSE_URL`` and ``REDFEED_SOURCE_TOKEN`` go in the private
environment (never shown in the UI).

Plain Python: the connection is anything with Airflow's ``Connection`` attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from redfeed.errors import ConfigError
from redfeed.orchestration.registry import source_url_env_for

ARCHIVE_CONN_ID = "redfeed_archive"
WAREHOUSE_CONN_ID = "redfeed_warehouse"
DOCKER_NETWORK_ENV = "REDFEED_DOCKER_NETWORK"

#: Warehouse connection type -> (SQLAlchemy driver, default port).
WAREHOUSE_DRIVERS: Mapping[str, tuple[str, int]] = {
    "postgres": ("postgresql+psycopg", 5432),
    "postgresql": ("postgresql+psycopg", 5432),
    "redshift": ("redshift+psycopg2", 5439),
}
#: Connection extras passed on as libpq parameters of the warehouse URL.
LIBPQ_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "application_name", "options")


class ConnectionLike(Protocol):
    conn_id: str
    conn_type: str | None
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


class RuntimeConfigError(ConfigError):
    """A connection or worker variable is missing or wrong: fix it, retrying will not help."""


@dataclass
class ContainerEnv:
    """Variables for a task container: ``public`` may be shown, ``private`` never."""

    public: dict[str, str] = field(default_factory=dict)
    private: dict[str, str] = field(default_factory=dict)

    def update(self, other: ContainerEnv) -> None:
        self.public.update(other.public)
        self.private.update(other.private)


def archive_env(conn: ConnectionLike) -> ContainerEnv:
    extra = conn.extra_dejson or {}
    archive_url = str(extra.get("archive_url") or "").strip()
    if not archive_url:
        raise RuntimeConfigError(
            f"connection {conn.conn_id!r} has no archive_url in its extra "
            '(e.g. {"archive_url": "s3://redfeed-archive/redfeed"})'
        )
    if not archive_url.startswith(("s3://", "file://")):
        raise RuntimeConfigError(
            f"connection {conn.conn_id!r}: archive_url {archive_url!r} must start with s3:// or file://"
        )
    env = ContainerEnv(public={"REDFEED_ARCHIVE_URL": archive_url})
    endpoint = extra.get("endpoint_url")
    if endpoint:
        env.public["AWS_ENDPOINT_URL"] = str(endpoint)
    region = extra.get("region_name")
    if region:
        env.public["AWS_DEFAULT_REGION"] = str(region)
    if conn.login:
        if not conn.password:
            raise RuntimeConfigError(
                f"connection {conn.conn_id!r} has an access key id (login) but no secret "
                "access key (password)"
            )
        env.private["AWS_ACCESS_KEY_ID"] = conn.login
        env.private["AWS_SECRET_ACCESS_KEY"] = conn.password
    token = extra.get("aws_session_token")
    if token:
        env.private["AWS_SESSION_TOKEN"] = str(token)
    return env


def warehouse_url(conn: ConnectionLike) -> str:
    """The SQLAlchemy URL the loader takes (``postgresql+psycopg://`` or ``redshift+psycopg2://``)."""
    conn_type = (conn.conn_type or "").lower()
    if conn_type not in WAREHOUSE_DRIVERS:
        known = ", ".join(sorted(set(WAREHOUSE_DRIVERS) - {"postgresql"}))
        raise RuntimeConfigError(
            f"connection {conn.conn_id!r} has type {conn.conn_type!r}; use one of: {known}"
        )
    if not conn.host:
        raise RuntimeConfigError(f"connection {conn.conn_id!r} names no host")
    if not conn.schema:
        raise RuntimeConfigError(f"connection {conn.conn_id!r} names no database (schema)")
    driver, default_port = WAREHOUSE_DRIVERS[conn_type]
    credentials = ""
    if conn.login:
        credentials = quote(conn.login, safe="")
        if conn.password:
            credentials += ":" + quote(conn.password, safe="")
        credentials += "@"
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    url = f"{driver}://{credentials}{host}:{conn.port or default_port}/{quote(conn.schema)}"
    extra = conn.extra_dejson or {}
    query = {k: str(extra[k]) for k in LIBPQ_EXTRAS if extra.get(k) not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url


def warehouse_env(conn: ConnectionLike) -> ContainerEnv:
    return ContainerEnv(private={"REDFEED_WAREHOUSE_URL": warehouse_url(conn)})


def source_token_env(conn: ConnectionLike) -> ContainerEnv:
    if not conn.password:
        raise RuntimeConfigError(f"connection {conn.conn_id!r} has no token (password)")
    return ContainerEnv(private={"REDFEED_SOURCE_TOKEN": conn.password})


def worker_env(feed: str | None, environ: Mapping[str, str]) -> tuple[ContainerEnv, str | None]:
    """Container variables from the worker's environment, and the Docker network to join."""
    env = ContainerEnv()
    if feed:
        override = environ.get(source_url_env_for(feed), "").strip()
        if override:
            if not override.startswith(("http://", "https://")):
                raise RuntimeConfigError(
                    f"{source_url_env_for(feed)}={override!r} must be an http(s) URL"
                )
            env.public["REDFEED_SOURCE_URL"] = override
    network = environ.get(DOCKER_NETWORK_ENV, "").strip() or None
    return env, network
