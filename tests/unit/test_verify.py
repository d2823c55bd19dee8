"""``redfeed verify`` against a file archive and a fake warehouse (the real ledger is the e2e
tests' job), and ``redfeed archive batches --json``, which the replay DAG maps over."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from redfeed import verify as verify_module
from redfeed.archive import BatchKey, BatchWriter, FileStore, Manifest
from redfeed.cli import main as cli_main
from redfeed.errors import ConfigError, ExitCode
from redfeed.verify import (
    Batch,
    LedgerRow,
    PartitionCount,
    SqlWarehouse,
    VerificationFailed,
    read_batch,
    reconcile,
)

START = datetime(2026, 11, 20, tzinfo=UTC)
RUN = "scheduled__2026-11-20T00:00:00+00:00"


def commit(store: FileStore, start: datetime, run_id: str, records: int = 3) -> Manifest:
    writer = BatchWriter(store, BatchKey("confs-tech", start, run_id), start + timedelta(days=1))
    for i in range(records):
        writer.write_line(orjson.dumps({"name": f"c{i}"}) + b"\n")
    writer.write_line(b"not json\n")  # rejected by the scraper: not part of the load
    return writer.commit()


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "archive")


@pytest.fixture
def batch(store: FileStore) -> Batch:
    commit(store, START, RUN, records=3)
    return read_batch(store, BatchKey("confs-tech", START, RUN))


class FakeWarehouse:
    def __init__(
        self,
        rows: dict[str, LedgerRow | None],
        counts: dict[str, PartitionCount] | None = None,
    ) -> None:
        self.rows = rows
        self.counts = counts or {}
        self.asked: list[tuple[Any, ...]] = []

    def current(self, feed: str, interval_start: datetime, table: str) -> LedgerRow | None:
        self.asked.append((feed, interval_start, table))
        return self.rows.get(table)

    def partition(
        self, table: str, feed: str, interval_start: datetime, run_id: str
    ) -> PartitionCount:
        row = self.rows[table]
        assert row is not None
        return self.counts.get(table, PartitionCount(row.rows_loaded or 0, 0))


def ledger_row(batch: Batch, **changes: Any) -> LedgerRow:
    fields: dict[str, Any] = {
        "run_id": RUN,
        "manifest_sha256": batch.manifest_sha256,
        "rows_in": 3,
        "rows_loaded": 2,
        "rows_rejected": 1,
        **changes,
    }
    return LedgerRow(**fields)


def test_a_reconciled_batch_passes(batch: Batch) -> None:
    warehouse = FakeWarehouse({"conferences": ledger_row(batch)})
    summary = reconcile(batch, ["conferences"], warehouse)
    assert summary["reconciled"] is True
    assert summary["records"] == 3
    assert summary["rejected_by_scraper"] == 1
    assert summary["tables"]["conferences"]["status"] == "ok"
    assert summary["tables"]["conferences"]["rows_in_table"] == 2
    assert warehouse.asked == [("confs-tech", START, "conferences")]


@pytest.mark.parametrize(
    ("changes", "count", "message"),
    [
        ({"rows_loaded": 3}, None, "3 records archived != 3 loaded + 1 rejected"),
        ({"rows_in": 4}, None, "the load read 4 records, the batch has 3"),
        ({"run_id": "scheduled__newer"}, None, "holds run scheduled__newer, not " + RUN),
        ({"manifest_sha256": "0" * 64}, None, "is not the archived manifest's"),
        ({}, PartitionCount(5, 0), "the table holds 5 rows for the partition, the ledger says 2"),
        ({}, PartitionCount(2, 1), "1 rows of the partition come from other runs"),
    ],
)
def test_a_mismatch_fails_with_exit_65_and_says_what(
    batch: Batch, changes: dict[str, Any], count: PartitionCount | None, message: str
) -> None:
    counts = {"conferences": count} if count else None
    warehouse = FakeWarehouse({"conferences": ledger_row(batch, **changes)}, counts)
    with pytest.raises(VerificationFailed) as caught:
        reconcile(batch, ["conferences"], warehouse)
    assert message in str(caught.value)
    assert str(caught.value).startswith("conferences (confs-tech 2026-11-20T00:00:00Z): ")
    assert caught.value.exit_code == ExitCode.DATA_ERROR == 65
    assert caught.value.summary["reconciled"] is False
    assert caught.value.summary["tables"]["conferences"]["status"] == "failed"


def test_every_table_is_checked_and_every_problem_reported(batch: Batch) -> None:
    warehouse = FakeWarehouse({"conferences": ledger_row(batch, rows_loaded=9), "other": None})
    with pytest.raises(VerificationFailed) as caught:
        reconcile(batch, ["conferences", "other"], warehouse)
    assert "3 records archived != 9 loaded + 1 rejected" in str(caught.value)
    assert "other (confs-tech 2026-11-20T00:00:00Z): the ledger has no loaded row" in str(
        caught.value
    )
    assert caught.value.summary["tables"]["other"] == {"status": "not_loaded"}


def test_a_batch_missing_from_the_archive_fails(store: FileStore) -> None:
    with pytest.raises(VerificationFailed, match="no committed batch at file://"):
        read_batch(store, BatchKey("confs-tech", START, RUN))


def test_the_manifest_identity_is_the_sha256_of_its_bytes(store: FileStore, batch: Batch) -> None:
    raw = store.get(BatchKey("confs-tech", START, RUN).manifest)
    assert batch.manifest_sha256 == hashlib.sha256(raw).hexdigest()
    assert batch.manifest.records == 3


# --------------------------------------------------------------------------- the command
def run_verify(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    warehouse: FakeWarehouse | None,
) -> tuple[int, dict[str, Any]]:
    for name in ("REDFEED_RUN_ID", "REDFEED_INTERVAL_START", "REDFEED_WAREHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    @contextmanager
    def connect(url: str) -> Iterator[FakeWarehouse]:
        assert url == env["REDFEED_WAREHOUSE_URL"]
        assert warehouse is not None
        yield warehouse

    monkeypatch.setattr(SqlWarehouse, "connect", connect)
    code = cli_main(["verify", "--table", "conferences"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, orjson.loads(out[-1])


def command_env(store: FileStore) -> dict[str, str]:
    return {
        "REDFEED_FEED": "confs-tech",
        "REDFEED_RUN_ID": RUN,
        "REDFEED_INTERVAL_START": "2026-11-20T00:00:00+00:00",
        "REDFEED_ARCHIVE_URL": store.root.as_uri(),
        "REDFEED_WAREHOUSE_URL": "postgresql+psycopg://u:p@postgres:5432/warehouse",
    }


def test_the_command_prints_the_summary_last(
    store: FileStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(store, START, RUN)
    batch = read_batch(store, BatchKey("confs-tech", START, RUN))
    code, summary = run_verify(
        monkeypatch, capsys, command_env(store), FakeWarehouse({"conferences": ledger_row(batch)})
    )
    assert code == 0
    assert summary["redfeed"] == "verify"
    assert summary["status"] == "ok"
    assert summary["reconciled"] is True
    assert summary["run_id"] == RUN


def test_the_command_exits_65_when_unreconciled(
    store: FileStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(store, START, RUN)
    batch = read_batch(store, BatchKey("confs-tech", START, RUN))
    warehouse = FakeWarehouse({"conferences": ledger_row(batch, rows_rejected=0)})
    code, summary = run_verify(monkeypatch, capsys, command_env(store), warehouse)
    assert code == 65
    assert summary["status"] == "data"
    assert summary["exit_code"] == 65
    assert "3 records archived != 2 loaded + 0 rejected" in summary["error"]
    assert summary["tables"]["conferences"]["status"] == "failed"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("REDFEED_RUN_ID", "REDFEED_RUN_ID is not set"),
        ("REDFEED_INTERVAL_START", "REDFEED_INTERVAL_START is not set"),
        ("REDFEED_WAREHOUSE_URL", "REDFEED_WAREHOUSE_URL is not set"),
    ],
)
def test_the_command_needs_the_batch_and_the_warehouse(
    store: FileStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    missing: str,
    message: str,
) -> None:
    env = command_env(store)
    del env[missing]
    code, summary = run_verify(monkeypatch, capsys, env, None)
    assert code == 78
    assert message in summary["error"]


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, query: str, params: tuple[Any, ...]) -> None:
        self.conn.queries.append((query, params))

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.conn.results.pop(0)


class FakeConnection:
    def __init__(self, results: list[tuple[Any, ...] | None]) -> None:
        self.results = results
        self.queries: list[tuple[str, tuple[Any, ...]]] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)


def test_the_sql_warehouse_reads_the_ledger_in_naive_utc() -> None:
    conn = FakeConnection([("r1", "ab" * 32 + "  ", None, 3, 2, 1, None), (2, 0), None])
    warehouse = SqlWarehouse(conn)
    row = warehouse.current("confs-tech", START, "conferences")
    assert row == LedgerRow("r1", "ab" * 32, 3, 2, 1)
    query, params = conn.queries[0]
    assert "FROM redfeed_loads" in query
    assert "status = 'loaded'" in query
    assert params == ("confs-tech", datetime(2026, 11, 20), "conferences")
    assert warehouse.partition("conferences", "confs-tech", START, "r1") == PartitionCount(2, 0)
    query, params = conn.queries[1]
    assert 'FROM "conferences" WHERE _feed = %s AND _interval_start = %s' in query
    assert params == ("r1", "confs-tech", datetime(2026, 11, 20))
    assert warehouse.current("confs-tech", START, "conferences") is None
    with pytest.raises(ConfigError, match="not a table name"):
        warehouse.partition('x"; DROP TABLE y; --', "confs-tech", START, "r1")


def test_a_missing_ledger_table_is_a_config_error() -> None:
    class UndefinedTable(Exception):
        pass

    class Broken(FakeConnection):
        def cursor(self) -> FakeCursor:
            raise UndefinedTable('relation "redfeed_loads" does not exist')

    with pytest.raises(ConfigError, match="has `redfeed migrate` run"):
        SqlWarehouse(Broken([])).current("confs-tech", START, "conferences")


# ----------------------------------------------------------------- archive batches --json
def list_batches(
    store: FileStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("REDFEED_ARCHIVE_URL", store.root.as_uri())
    code = cli_main(["archive", "batches", "--feed", "confs-tech", *args, "--json"])
    return code, orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_archive_batches_lists_a_range_for_the_replay_dag(
    store: FileStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    days = [START + timedelta(days=i) for i in range(-1, 4)]
    for day in days:
        commit(store, day, f"scheduled__{day:%Y-%m-%d}")
    commit(store, days[2], "manual__again")  # a second, later batch of the same interval

    code, summary = list_batches(
        store, monkeypatch, capsys, "--start", "2026-11-20", "--end", "2026-11-22"
    )
    assert code == 0
    assert [(b["interval_start"], b["run_id"]) for b in summary["batches"]] == [
        ("2026-11-20T00:00:00Z", "scheduled__2026-11-20"),
        ("2026-11-21T00:00:00Z", "scheduled__2026-11-21"),
        ("2026-11-21T00:00:00Z", "manual__again"),
        ("2026-11-22T00:00:00Z", "scheduled__2026-11-22"),
    ]
    first = summary["batches"][0]
    assert first["interval_end"] == "2026-11-21T00:00:00Z"
    assert first["records"] == 3
    assert first["manifest"].endswith("/scheduled__2026-11-20/manifest.json")

    _code, latest = list_batches(
        store, monkeypatch, capsys, "--start", "2026-11-20", "--end", "2026-11-22", "--latest"
    )
    assert [b["run_id"] for b in latest["batches"]] == [
        "scheduled__2026-11-20",
        "manual__again",
        "scheduled__2026-11-22",
    ]
    _code, one = list_batches(
        store, monkeypatch, capsys, "--start", "2026-11-01", "--run-id", "manual__again"
    )
    assert [b["run_id"] for b in one["batches"]] == ["manual__again"]
    _code, empty_run_id = list_batches(
        store, monkeypatch, capsys, "--start", "2026-11-23", "--run-id", "", "--latest"
    )
    assert [b["run_id"] for b in empty_run_id["batches"]] == ["scheduled__2026-11-23"]


def test_archive_batches_with_nothing_in_range_exits_99(
    store: FileStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(store, START, RUN)
    code, summary = list_batches(
        store, monkeypatch, capsys, "--start", "2025-01-01", "--end", "2025-01-31"
    )
    assert code == 99
    assert summary["status"] == "nothing_new"
    assert (
        "no committed batches of confs-tech between 2025-01-01 and 2025-01-31" in (summary["error"])
    )


def test_the_verify_module_imports_nothing_heavy_at_the_top() -> None:
    import subprocess
    import sys

    code = (
        "import sys, redfeed.verify, redfeed.archive.inspect; "
        "heavy = [m for m in ('sqlalchemy', 'psycopg', 'redfeed.warehouse') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert verify_module.PARTITION_SQL.count("%s") == 3
