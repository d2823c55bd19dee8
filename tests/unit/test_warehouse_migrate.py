"""The migration API, the dialect adaptations and the drift report, without a database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.ddl.base import ColumnDefault, ColumnNullable
from alembic.ddl.postgresql import PostgresqlColumnType
from sqlalchemy.schema import CreateTable

from redfeed.errors import ConfigError, ExitCode
from redfeed.warehouse import drift, migrate
from redfeed.warehouse.dialect import adapt, utc_now
from redfeed.warehouse.models import metadata

REDSHIFT = "redshift+psycopg2://u@redshift.invalid:5439/db"
POSTGRES = "postgresql+psycopg://u@postgres.invalid:5432/db"


def dialect(url: str) -> sa.engine.Dialect:
    return adapt(sa.make_url(url).get_dialect()())


def test_migrations_dir_defaults_to_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(migrate.MIGRATIONS_DIR_ENV, raising=False)
    assert migrate.migrations_dir() == Path(__file__).resolve().parents[2] / "migrations"


def test_migrations_dir_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(migrate.MIGRATIONS_DIR_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match="REDFEED_MIGRATIONS_DIR"):
        migrate.migrations_dir()
    (tmp_path / "env.py").write_text("")
    assert migrate.migrations_dir() == tmp_path


def test_warehouse_url_comes_from_the_argument_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(migrate.URL_ENV, raising=False)
    with pytest.raises(ConfigError, match="REDFEED_WAREHOUSE_URL"):
        migrate.warehouse_url()
    monkeypatch.setenv(migrate.URL_ENV, POSTGRES)
    assert migrate.warehouse_url().drivername == "postgresql+psycopg"
    assert migrate.warehouse_url(REDSHIFT).drivername == "redshift+psycopg2"
    with pytest.raises(ConfigError, match="not a database URL"):
        migrate.warehouse_url("::nonsense::")


def test_head_is_the_last_migration() -> None:
    newest = max(
        p.name.split("_")[0] for p in (migrate.migrations_dir() / "versions").glob("0*.py")
    )
    assert migrate.head() == newest


def test_render_sql_for_postgresql_uses_the_postgresql_default() -> None:
    sql = migrate.render_sql(POSTGRES)
    assert "DEFAULT timezone('utc', now())" in sql
    assert "ENCODE" not in sql
    assert "DISTKEY" not in sql
    assert "RETURNING" in sql  # PostgreSQL has it: the adaptation is for Redshift only


def test_render_sql_from_a_revision() -> None:
    sql = migrate.render_sql(REDSHIFT, "0002", start="0001")
    assert "CREATE TABLE conferences" not in sql
    assert "ALTER TABLE conferences ADD COLUMN cfp_end_date__new DATE ENCODE az64" in sql


def test_migrate_main_prints_redshift_sql_without_a_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(migrate.URL_ENV, raising=False)
    assert migrate.main(["sql"]) == 0
    assert "DISTSTYLE KEY DISTKEY (url)" in capsys.readouterr().out


def test_migrate_main_without_a_url_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(migrate.URL_ENV, raising=False)
    assert migrate.main(["upgrade"]) == ExitCode.CONFIG
    assert "REDFEED_WAREHOUSE_URL" in capsys.readouterr().err
    assert drift.main([]) == ExitCode.CONFIG


def test_unreachable_warehouse_is_temporary(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://u:secret@127.0.0.1:9/db?connect_timeout=2"
    assert migrate.main(["--url", url, "upgrade"]) == ExitCode.TEMPORARY
    err = capsys.readouterr().err
    assert "127.0.0.1:9" in err
    assert "secret" not in err


@pytest.mark.parametrize(
    ("url", "sql"),
    [(REDSHIFT, "SYSDATE"), (POSTGRES, "timezone('utc', now())")],
)
def test_utc_now_per_dialect(url: str, sql: str) -> None:
    assert str(sa.select(utc_now()).compile(dialect=dialect(url))) == f"SELECT {sql} AS utc_now_1"


def test_adapt_turns_returning_off_only_on_redshift() -> None:
    assert not dialect(REDSHIFT).insert_returning
    assert dialect(POSTGRES).insert_returning


def test_models_render_without_redshift_options_on_postgresql() -> None:
    for table in metadata.sorted_tables:
        sql = str(CreateTable(table).compile(dialect=dialect(POSTGRES)))
        assert "ENCODE" not in sql
        assert "SORTKEY" not in sql


# -- drift report ---------------------------------------------------------------------------


def test_describe_turns_alembic_diffs_into_sentences() -> None:
    pg = dialect(POSTGRES)
    table = metadata.tables["conferences"]
    loaded_at = table.c._loaded_at.server_default
    diffs: list[Any] = [
        ("add_table", metadata.tables["redfeed_loads"]),
        ("remove_column", None, "conferences", sa.Column("extra", sa.Integer())),
        [
            ("modify_type", None, "conferences", "city", {}, sa.String(100), sa.String(256)),
            ("modify_nullable", None, "conferences", "url", {}, True, False),
            ("modify_default", None, "conferences", "_loaded_at", {}, None, loaded_at),
        ],
    ]
    lines = drift.describe(diffs, pg)
    assert lines == [
        "redfeed_loads: table in the models, not in the database",
        "conferences.extra: column (INTEGER) in the database, not in the models",
        "conferences.city: type VARCHAR(100) in the database, VARCHAR(256) in the models",
        "conferences.url: NULL in the database, NOT NULL in the models",
        "conferences._loaded_at: no default in the database, "
        "DEFAULT timezone('utc', now()) in the models",
    ]


class FakeRedshiftInspector:
    """What sqlalchemy-redshift reflects, for tables built exactly like the models."""

    def __init__(self, **changes: Any) -> None:
        self.changes = changes

    def get_table_options(self, table_name: str) -> dict[str, Any]:
        options = metadata.tables[table_name].dialect_options["redshift"]
        sortkey = tuple(options["sortkey"])
        return {
            "redshift_distkey": self.changes.get("distkey", options["distkey"]),
            "redshift_sortkey": self.changes.get("sortkey", sortkey),
            "redshift_interleaved_sortkey": None,
        }

    def get_columns(self, table_name: str) -> list[dict[str, Any]]:
        columns = []
        for column in metadata.tables[table_name].columns:
            encode = self.changes.get(column.name, column.dialect_options["redshift"]["encode"])
            info = {} if encode == "raw" else {"encode": encode}  # RAW reflects as "none"
            columns.append({"name": column.name, "info": info})
        return columns


def test_redshift_physical_design_in_sync() -> None:
    assert drift.redshift_differences(FakeRedshiftInspector(), metadata) == []


def test_redshift_physical_design_drift() -> None:
    inspector = FakeRedshiftInspector(distkey="name", sortkey=("start_date",), city="lzo")
    lines = drift.redshift_differences(inspector, metadata)
    assert "conferences: DISTKEY (name) in the database, (url) in the models" in lines
    assert (
        "conferences: SORTKEY (start_date) in the database, (_interval_start, start_date) "
        "in the models"
    ) in lines
    assert "conferences.city: ENCODE lzo in the database, zstd in the models" in lines


# -- in-place ALTER COLUMN on Redshift: the one legal form renders, the others are refused -----


def compile_redshift(construct: Any) -> str:
    return str(construct.compile(dialect=dialect(REDSHIFT)))


def test_widening_a_varchar_renders_for_redshift() -> None:
    widen = PostgresqlColumnType(
        "conferences", "city", sa.String(512), existing_type=sa.String(256)
    )
    assert compile_redshift(widen) == "ALTER TABLE conferences ALTER COLUMN city TYPE VARCHAR(512)"


@pytest.mark.parametrize(
    ("construct", "message"),
    [
        (PostgresqlColumnType("conferences", "year", sa.Integer()), "type in place to INTEGER"),
        (
            PostgresqlColumnType(
                "conferences", "city", sa.String(100), existing_type=sa.String(256)
            ),
            r"turn VARCHAR\(256\) into VARCHAR\(100\)",
        ),
        (ColumnNullable("conferences", "city", False), "NULL / NOT NULL"),
        (ColumnDefault("conferences", "city", "x"), "DEFAULT"),
    ],
)
def test_in_place_changes_redshift_cannot_do_fail_at_render_time(
    construct: Any, message: str
) -> None:
    with pytest.raises(sa.exc.CompileError, match=message):
        compile_redshift(construct)
