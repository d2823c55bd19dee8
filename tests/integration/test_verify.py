"""``redfeed verify`` against a real (migrated) PostgreSQL: the ledger and partition queries as
the DAG's ``verify`` task runs them, after real loads (in-process, from a file archive)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from redfeed.archive import BatchKey, BatchWriter, FileStore
from redfeed.cli import main as cli_main
from redfeed.warehouse import migrate
from tests.records import conference

START = datetime(2025, 6, 1, tzinfo=UTC)


def write_batch(store: FileStore, run_id: str, records: int, bad: int = 0) -> None:
    writer = BatchWriter(store, BatchKey("confs-tech", START, run_id), START + timedelta(days=1))
    for n in range(records):
        record = conference(n, locales=["EN"])
        if n < bad:
            record["startDate"] = "not a date"  # quarantined by the loader's pre-flight
        writer.write_line(orjson.dumps(record))
    writer.commit()


@pytest.fixture
def env(fresh_warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileStore:
    migrate.upgrade(fresh_warehouse_url)
    store = FileStore(tmp_path / "archive")
    for name, value in {
        "REDFEED_FEED": "confs-tech",
        "REDFEED_INTERVAL_START": "2025-06-01T00:00:00+00:00",
        "REDFEED_ARCHIVE_URL": store.root.as_uri(),
        "REDFEED_WAREHOUSE_URL": fresh_warehouse_url,
        "REDFEED_LOAD_WORKERS": "1",
        "REDFEED_MAX_REJECT_RATIO": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    return store


def run(
    command: str, run_id: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("REDFEED_RUN_ID", run_id)
    code = cli_main([command, "--table", "conferences"])
    return code, orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_verify_reconciles_real_loads_and_catches_tampering(
    env: FileStore,
    fresh_warehouse_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_batch(env, "run-a", records=20, bad=2)
    code, loaded = run("load", "run-a", capsys, monkeypatch)
    assert code == 0, loaded
    assert (loaded["rows_loaded"], loaded["rows_rejected"]) == (18, 2)

    code, summary = run("verify", "run-a", capsys, monkeypatch)
    assert code == 0, summary
    assert summary["reconciled"] is True
    assert summary["tables"]["conferences"] == {
        "ledger_run_id": "run-a",
        "rows_in": 20,
        "rows_loaded": 18,
        "rows_rejected": 2,
        "rows_in_table": 18,
        "status": "ok",
    }

    conninfo = fresh_warehouse_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM conferences WHERE ctid IN (SELECT ctid FROM conferences LIMIT 1)")
    code, summary = run("verify", "run-a", capsys, monkeypatch)
    assert code == 65
    assert "the table holds 17 rows for the partition, the ledger says 18" in summary["error"]

    # A newer run of the interval is loaded: the older run no longer verifies, the newer does.
    write_batch(env, "run-b", records=5)
    assert run("load", "run-b", capsys, monkeypatch)[0] == 0
    code, summary = run("verify", "run-a", capsys, monkeypatch)
    assert code == 65
    assert "holds run run-b, not run-a" in summary["error"]
    assert run("verify", "run-b", capsys, monkeypatch)[0] == 0


def test_verify_before_any_load_or_of_an_unknown_run_fails(
    env: FileStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_batch(env, "run-a", records=3)
    code, summary = run("verify", "run-a", capsys, monkeypatch)
    assert code == 65
    assert "the ledger has no loaded row for this partition" in summary["error"]
    code, summary = run("verify", "never-scraped", capsys, monkeypatch)
    assert code == 65
    assert "no committed batch at file://" in summary["error"]
