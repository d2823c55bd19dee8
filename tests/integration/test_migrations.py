"""The migrations on a real PostgreSQL: up, down, up again, the Redshift-style type change, the
drift check, and archived confs.tech records loading through the derived column list."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from redfeed.warehouse import drift, migrate
from redfeed.warehouse.dialect import make_engine
from redfeed.warehouse.jsonpaths import extract, table_spec
from redfeed.warehouse.models import metadata
from tests.records import confs_tech_records

REPO = Path(__file__).resolve().parents[2]
HEAD = migrate.head()


def snapshot(url: str) -> dict[str, Any]:
    """The reflected schema: per table, columns in physical order with type, nullability and
    default, plus keys and indexes; and the Alembic revision."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            tables: dict[str, Any] = {}
            for name in sorted(inspector.get_table_names()):
                tables[name] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in inspector.get_columns(name)
                    ],
                    "pk": inspector.get_pk_constraint(name),
                    "indexes": inspector.get_indexes(name),
                    "unique": inspector.get_unique_constraints(name),
                }
            return {"revision": migrate.current(url), "tables": tables}
    finally:
        engine.dispose()


def execute(db_url: str, *statements: str, params: dict[str, Any] | None = None) -> list[Any]:
    """Run ``statements`` in one transaction; the last one's rows."""
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            result = None
            for statement in statements:
                result = connection.execute(sa.text(statement), params or {})
            return list(result) if result is not None and result.returns_rows else []
    finally:
        engine.dispose()


def conference_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "name": "PyCon Kraków",
        "url": "https://pycon.example/2024",
        "start_date": date(2024, 5, 1),
        "year": 2024,
        "cfp_end_date": "2024-03-01",
        "_feed": "confs-tech",
        "_batch_id": "scheduled__2024-01-01T00:00:00+00:00",
        "_interval_start": datetime(2024, 1, 1),
        "_scraped_at": datetime(2024, 1, 1, 0, 5),
    }
    return row | overrides


INSERT_0001 = (
    "INSERT INTO conferences (name, url, start_date, year, cfp_end_date, _feed, _batch_id, "
    "_interval_start, _scraped_at) VALUES (:name, :url, :start_date, :year, :cfp_end_date, "
    ":_feed, :_batch_id, :_interval_start, :_scraped_at)"
)


def test_upgrade_head_creates_the_model_tables(fresh_warehouse_url: str) -> None:
    result = migrate.upgrade(fresh_warehouse_url)
    assert (result.before, result.after) == (None, HEAD)
    assert migrate.head() == HEAD
    tables = snapshot(fresh_warehouse_url)["tables"]
    assert set(tables) == {"alembic_version", *metadata.tables}
    for table in metadata.sorted_tables:
        assert {c[0] for c in tables[table.name]["columns"]} == set(table.columns.keys())
    assert tables["redfeed_loads"]["pk"]["constrained_columns"] == ["load_id"]
    # Re-running is a no-op, not an error (the loader image runs migrate on every start).
    again = migrate.upgrade(fresh_warehouse_url)
    assert (again.before, again.after, again.changed) == (HEAD, HEAD, False)


def test_downgrade_base_drops_every_table(fresh_warehouse_url: str) -> None:
    migrate.upgrade(fresh_warehouse_url)
    result = migrate.downgrade(fresh_warehouse_url, "base")
    assert (result.before, result.after) == (HEAD, None)
    assert set(snapshot(fresh_warehouse_url)["tables"]) == {"alembic_version"}


@pytest.mark.parametrize("down_to", ["base", "0001"])
def test_upgrade_downgrade_upgrade_leaves_the_same_schema(
    fresh_warehouse_url: str, down_to: str
) -> None:
    migrate.upgrade(fresh_warehouse_url)
    first = snapshot(fresh_warehouse_url)
    assert first["tables"]["conferences"]["columns"], "nothing reflected: the test would be void"
    migrate.downgrade(fresh_warehouse_url, down_to)
    assert snapshot(fresh_warehouse_url) != first
    migrate.upgrade(fresh_warehouse_url)
    assert snapshot(fresh_warehouse_url) == first


def test_type_change_keeps_the_data_both_ways(fresh_warehouse_url: str) -> None:
    url = fresh_warehouse_url
    migrate.upgrade(url, "0001")
    rows = [
        conference_row(),
        conference_row(name="No CFP", cfp_end_date=None),
        conference_row(name="Blank CFP", cfp_end_date=""),
        conference_row(name="Padded", cfp_end_date=" 2024-12-31 "),
    ]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(INSERT_0001), rows)
    engine.dispose()

    migrate.upgrade(url, "0002")
    after = dict(execute(url, "SELECT name, cfp_end_date FROM conferences"))
    assert after == {
        "PyCon Kraków": date(2024, 3, 1),
        "No CFP": None,
        "Blank CFP": None,
        "Padded": date(2024, 12, 31),
    }
    columns = {c[0]: c[1] for c in snapshot(url)["tables"]["conferences"]["columns"]}
    assert columns["cfp_end_date"] == "DATE"
    assert "cfp_end_date__new" not in columns
    # The other columns came through untouched.
    assert execute(url, "SELECT count(*), min(year), max(url) FROM conferences") == [
        (4, 2024, "https://pycon.example/2024")
    ]

    migrate.downgrade(url, "0001")
    back = dict(execute(url, "SELECT name, cfp_end_date FROM conferences"))
    assert back == {
        "PyCon Kraków": "2024-03-01",
        "No CFP": None,
        "Blank CFP": None,
        "Padded": "2024-12-31",
    }


def test_type_change_rolls_back_whole_on_a_value_that_is_not_a_date(
    fresh_warehouse_url: str,
) -> None:
    url = fresh_warehouse_url
    migrate.upgrade(url, "0001")
    execute(url, INSERT_0001, params=conference_row(cfp_end_date="TBA"))
    before = snapshot(url)
    with pytest.raises(sa.exc.DataError, match="TBA"):
        migrate.upgrade(url)
    # One transaction per migration: no half-done add/copy/drop/rename, still at 0001.
    assert snapshot(url) == before
    assert execute(url, "SELECT cfp_end_date FROM conferences") == [("TBA",)]


def test_loaded_at_is_utc_whatever_the_session_time_zone(fresh_warehouse_url: str) -> None:
    migrate.upgrade(fresh_warehouse_url)
    row = conference_row()
    del row["cfp_end_date"]
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    (loaded_at,) = execute(
        fresh_warehouse_url,
        "SET TIME ZONE 'America/Los_Angeles'",
        f"INSERT INTO conferences ({columns}) VALUES ({values}) RETURNING _loaded_at",
        params=row,
    )[0]
    now = datetime.now(UTC).replace(tzinfo=None)
    assert abs(now - loaded_at) < timedelta(minutes=1), (loaded_at, now)


def test_confs_tech_records_load_through_the_derived_column_list(
    fresh_warehouse_url: str, confs_tech_dir: Path
) -> None:
    """Every real confs.tech record, shaped like an archived one, inserts through the models'
    column list and JSONPaths into the migrated schema (NOT NULL, types and sizes hold)."""
    migrate.upgrade(fresh_warehouse_url)
    spec = table_spec("conferences")
    lineage = {
        "_feed": "confs-tech",
        "_batch_id": "manual__20240101T000000Z-0000",
        "_interval_start": "2024-01-01T00:00:00Z",
        "_scraped_at": "2024-01-01T00:01:02Z",
    }
    records = [
        {c.name: extract(record | lineage, c.jsonpath) for c in spec.columns}
        for record in confs_tech_records(confs_tech_dir)
    ]
    table = metadata.tables["conferences"]
    engine = make_engine(fresh_warehouse_url)
    with engine.begin() as connection:
        connection.execute(sa.insert(table), records)
        loaded = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        # A value wider than its column is refused, as Redshift would refuse it.
        with pytest.raises(sa.exc.DataError), connection.begin_nested():
            connection.execute(sa.insert(table), [records[0] | {"topic": "x" * 65}])
    engine.dispose()
    assert loaded == len(records) > 5000


def test_drift_check_is_empty_after_upgrade(fresh_warehouse_url: str) -> None:
    migrate.upgrade(fresh_warehouse_url)
    assert drift.check(fresh_warehouse_url) == []
    assert drift.main(["--url", fresh_warehouse_url]) == 0


def test_drift_check_reports_hand_made_changes_readably(
    fresh_warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = fresh_warehouse_url
    migrate.upgrade(url)
    execute(
        url,
        # PostgreSQL refuses to retype a column a view reads; views are not drift-checked.
        "DROP VIEW conferences_latest",
        "ALTER TABLE conferences ALTER COLUMN city TYPE VARCHAR(100)",
        "ALTER TABLE conferences ALTER COLUMN topic SET NOT NULL",
        "ALTER TABLE conferences DROP COLUMN mastodon",
        "ALTER TABLE conferences ALTER COLUMN _loaded_at DROP DEFAULT",
        "ALTER TABLE redfeed_loads ADD COLUMN note VARCHAR(10)",
        "CREATE TABLE scratch (id INTEGER)",
    )
    lines = drift.check(url)
    assert set(lines) == {
        "conferences.city: type VARCHAR(100) in the database, VARCHAR(256) in the models",
        "conferences.topic: NOT NULL in the database, NULL in the models",
        "conferences.mastodon: column (VARCHAR(320)) in the models, not in the database",
        "conferences._loaded_at: no default in the database, "
        "DEFAULT timezone('utc', now()) in the models",
        "redfeed_loads.note: column (VARCHAR(10)) in the database, not in the models",
        "scratch: table in the database, not in the models",
    }, lines
    capsys.readouterr()
    assert drift.main(["--url", url]) == 1
    out = capsys.readouterr().out
    assert "differs from the models in 6 way(s)" in out
    assert "  - conferences.city: type VARCHAR(100) in the database" in out


def test_drift_check_reports_a_database_behind_head(fresh_warehouse_url: str) -> None:
    migrate.upgrade(fresh_warehouse_url, "0001")
    lines = drift.check(fresh_warehouse_url)
    assert lines[0] == (
        f"alembic_version: the database is at revision 0001, the migrations' head is {HEAD}"
    )
    assert "conferences.cfp_end_date: type VARCHAR(32) in the database, DATE in the models" in lines


def test_alembic_command_line_reads_the_url_from_the_environment(
    fresh_warehouse_url: str,
) -> None:
    env = {**os.environ, "REDFEED_WAREHOUSE_URL": fresh_warehouse_url}
    alembic = str(Path(sys.executable).with_name("alembic"))
    done = subprocess.run(
        [alembic, "upgrade", "head"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Running upgrade 0001 -> 0002" in done.stderr
    assert migrate.current(fresh_warehouse_url) == HEAD
