"""Run the warehouse migrations (Alembic) from code: what the loader image's ``migrate`` runs.

The migrations live in the repository's top-level ``migrations/`` directory; an image that ships
them elsewhere sets ``REDFEED_MIGRATIONS_DIR``. The warehouse URL comes from the caller or from
``REDFEED_WAREHOUSE_URL`` (``postgresql+psycopg://...`` locally, ``redshift+psycopg2://...`` on
AWS). No ``alembic.ini`` is needed: the configuration is built here.

Every migration runs in its own transaction (``transaction_per_migration``), so a failing
migration rolls back alone and leaves the database at the previous revision.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, make_url
from sqlalchemy.exc import OperationalError

from redfeed.errors import ConfigError, RedfeedError, TemporaryError
from redfeed.warehouse import migration_ddl  # noqa: F401 (registers the Redshift DDL rules)
from redfeed.warehouse.dialect import make_engine

URL_ENV = "REDFEED_WAREHOUSE_URL"
MIGRATIONS_DIR_ENV = "REDFEED_MIGRATIONS_DIR"
#: Offline rendering never connects: any Redshift URL renders the same DDL.
REDSHIFT_RENDER_URL = "redshift+psycopg2://redfeed@redshift.invalid:5439/redfeed"
#: src/redfeed/warehouse/migrate.py -> the repository root
_REPO_MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


@dataclass(frozen=True)
class MigrationResult:
    """The database's revision before and after a migrate command (None: no schema)."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def migrations_dir() -> Path:
    """Where the Alembic scripts are: ``$REDFEED_MIGRATIONS_DIR`` or the repo's ``migrations/``."""
    configured = os.environ.get(MIGRATIONS_DIR_ENV, "").strip()
    path = Path(configured) if configured else _REPO_MIGRATIONS
    if not (path / "env.py").is_file():
        hint = f"{MIGRATIONS_DIR_ENV}={configured!r}" if configured else f"{path} (the default)"
        raise ConfigError(
            f"no Alembic migrations at {hint}: set {MIGRATIONS_DIR_ENV} to the directory "
            "holding env.py and versions/"
        )
    return path


def warehouse_url(url: str | URL | None = None) -> URL:
    """``url`` or ``$REDFEED_WAREHOUSE_URL``, parsed; ``ConfigError`` if neither is usable."""
    raw = url if url is not None else os.environ.get(URL_ENV, "").strip()
    if not raw:
        raise ConfigError(f"no warehouse URL: pass one or set {URL_ENV}")
    try:
        return make_url(raw)
    except Exception as exc:  # sqlalchemy raises ArgumentError, ValueError, ...
        raise ConfigError(f"{URL_ENV}: not a database URL ({type(exc).__name__})") from None


def alembic_config(
    url: str | URL | None = None,
    *,
    connection: Connection | None = None,
    output: io.StringIO | None = None,
) -> Config:
    """An Alembic ``Config`` for the warehouse; ``env.py`` reads ``url``/``connection`` from it."""
    config = Config(output_buffer=output, stdout=output or sys.stdout)
    config.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    else:
        config.attributes["url"] = warehouse_url(url)
    return config


def head() -> str:
    """The revision the migrations lead to."""
    heads = ScriptDirectory.from_config(alembic_config(REDSHIFT_RENDER_URL)).get_heads()
    if len(heads) != 1:
        raise ConfigError(f"the migrations have {len(heads)} heads {heads}: merge them")
    return heads[0]


def current(url: str | URL | None = None) -> str | None:
    """The database's revision (None: no version table, or an empty one)."""
    with make_engine(warehouse_url(url)).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _run(url: str | URL | None, action: str, revision: str) -> MigrationResult:
    parsed = warehouse_url(url)
    try:
        before = current(parsed)
        config = alembic_config(parsed)
        if action == "upgrade":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)
        return MigrationResult(before, current(parsed))
    except OperationalError as exc:
        # Unreachable or refused: a retry may help. (A failing migration's SQL raises
        # ProgrammingError/DataError or IntegrityError, which stay errors of their own.)
        raise TemporaryError(f"warehouse {parsed.render_as_string()}: {exc.orig}") from exc


def upgrade(url: str | URL | None = None, revision: str = "head") -> MigrationResult:
    """Migrate the warehouse at ``url`` up to ``revision``."""
    return _run(url, "upgrade", revision)


def downgrade(url: str | URL | None, revision: str) -> MigrationResult:
    """Migrate the warehouse at ``url`` down to ``revision`` (``"base"``: drop everything)."""
    return _run(url, "downgrade", revision)


def render_sql(
    url: str | URL = REDSHIFT_RENDER_URL, revision: str = "head", *, start: str | None = None
) -> str:
    """The SQL that upgrading from ``start`` (default: an empty database) to ``revision`` runs,
    rendered offline for ``url``'s dialect (Redshift by default) without connecting."""
    output = io.StringIO()
    target = f"{start}:{revision}" if start else revision
    command.upgrade(alembic_config(url, output=output), target, sql=True)
    return output.getvalue()


def render_downgrade_sql(
    url: str | URL = REDSHIFT_RENDER_URL, revision: str = "base", *, start: str = "head"
) -> str:
    """The SQL that downgrading from ``start`` to ``revision`` runs, rendered offline."""
    output = io.StringIO()
    command.downgrade(alembic_config(url, output=output), f"{start}:{revision}", sql=True)
    return output.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """``migrate [upgrade [REV] | downgrade REV | current | sql [REV]]`` (default: upgrade head).

    The URL comes from ``--url`` or ``$REDFEED_WAREHOUSE_URL``. Exit codes follow
    :class:`redfeed.errors.ExitCode`.
    """
    parser = argparse.ArgumentParser(prog="migrate", description=main.__doc__)
    parser.add_argument("--url", help=f"warehouse URL (default: ${URL_ENV})")
    sub = parser.add_subparsers(dest="action")
    up = sub.add_parser("upgrade", help="migrate up (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    down = sub.add_parser("downgrade", help="migrate down to REVISION (base: drop all)")
    down.add_argument("revision")
    sub.add_parser("current", help="print the database's revision")
    sql = sub.add_parser("sql", help="print the upgrade SQL without connecting (default: Redshift)")
    sql.add_argument("revision", nargs="?", default="head")
    args = parser.parse_args(argv)
    try:
        action = args.action or "upgrade"
        if action == "sql":
            url = args.url or os.environ.get(URL_ENV, "").strip() or REDSHIFT_RENDER_URL
            print(render_sql(url, args.revision), end="")
        elif action == "current":
            print(current(args.url) or "base")
        else:
            run = upgrade if action == "upgrade" else downgrade
            result = run(args.url, getattr(args, "revision", "head"))
            print(f"{action}: {result.before or 'base'} -> {result.after or 'base'}")
    except RedfeedError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
