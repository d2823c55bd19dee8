"""``redfeed verify``: reconcile one committed batch with the warehouse, from the ledger.

For the batch ``REDFEED_FEED`` / ``REDFEED_INTERVAL_START`` / ``REDFEED_RUN_ID`` (all required)
and each of its tables (``--table``, default: the feed's), the latest ``loaded`` ledger row of
the partition must be this run (same manifest), and

    records in the manifest = rows loaded + rows rejected  (= the ledger's rows in)

and the partition in the table must hold exactly ``rows loaded`` rows, all of this run. Exit 0
with a JSON summary if so; otherwise exit 65 (no retry) with every failed check in the message.
An unreachable archive or warehouse is exit 75 (retried).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from redfeed.archive import BatchKey, Manifest, open_store
from redfeed.archive.store import ArchiveStore
from redfeed.contract import Settings, isoformat, run_command
from redfeed.errors import ConfigError, ExitCode, RedfeedError

log = logging.getLogger("redfeed.verify")

TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
#: Rows of a partition, and how many of them another run wrote ({table}: a checked name).
PARTITION_SQL = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN _batch_id = %s THEN 0 ELSE 1 END), 0) "
    'FROM "{table}" WHERE _feed = %s AND _interval_start = %s'
)


class VerificationFailed(RedfeedError):
    """The warehouse does not hold what the archive says was loaded: do not retry, look."""

    exit_code = ExitCode.DATA_ERROR
    kind = "data"

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class LedgerRow:
    """The latest ``loaded`` ledger row of a partition (feed, interval start, table)."""

    run_id: str
    manifest_sha256: str
    rows_in: int | None
    rows_loaded: int | None
    rows_rejected: int | None


@dataclass(frozen=True)
class PartitionCount:
    """Rows of a partition in its table, and how many of them came from another run."""

    rows: int
    other_runs: int


class Warehouse(Protocol):
    def current(self, feed: str, interval_start: datetime, table: str) -> LedgerRow | None: ...

    def partition(
        self, table: str, feed: str, interval_start: datetime, run_id: str
    ) -> PartitionCount: ...


@dataclass(frozen=True)
class Batch:
    key: BatchKey
    manifest: Manifest
    manifest_url: str
    manifest_sha256: str


def read_batch(store: ArchiveStore, key: BatchKey) -> Batch:
    if not store.exists(key.manifest):
        raise VerificationFailed(
            f"no committed batch at {store.uri(key.manifest)}: the run's batch is not in the "
            "archive",
            {"manifest": store.uri(key.manifest)},
        )
    raw = store.get(key.manifest)
    return Batch(
        key, Manifest.from_json(raw), store.uri(key.manifest), hashlib.sha256(raw).hexdigest()
    )


def reconcile(
    batch: Batch,
    tables: list[str],
    warehouse: Warehouse,
    streams: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Check every table; return the summary, or raise ``VerificationFailed`` listing every
    failed check. With ``streams`` (table -> its archive stream), a table is reconciled with
    the records of its own stream, as the loader loads them; without, with the whole batch."""
    key = batch.key
    problems: list[str] = []
    results: dict[str, Any] = {}
    for table in tables:
        records = (
            batch.manifest.records
            if streams is None
            else sum(f.records for f in batch.manifest.files_of(streams.get(table)))
        )
        where = f"{table} ({key.feed} {isoformat(key.interval_start)})"
        row = warehouse.current(key.feed, key.interval_start, table)
        if row is None:
            problems.append(f"{where}: the ledger has no loaded row for this partition")
            results[table] = {"status": "not_loaded"}
            continue
        loaded, rejected = row.rows_loaded or 0, row.rows_rejected or 0
        result: dict[str, Any] = {
            "ledger_run_id": row.run_id,
            "rows_in": row.rows_in,
            "rows_loaded": loaded,
            "rows_rejected": rejected,
        }
        if row.run_id != key.run_id:
            problems.append(
                f"{where}: the partition holds run {row.run_id}, not {key.run_id} "
                "(a newer run was loaded, or this one never was)"
            )
        elif row.manifest_sha256 != batch.manifest_sha256:
            problems.append(
                f"{where}: the ledger's manifest sha256 {row.manifest_sha256} is not the "
                f"archived manifest's {batch.manifest_sha256}"
            )
        if records != loaded + rejected:
            problems.append(
                f"{where}: {records} records archived != {loaded} loaded + {rejected} rejected"
            )
        if row.rows_in is not None and row.rows_in != records:
            problems.append(
                f"{where}: the load read {row.rows_in} records, the batch has {records}"
            )
        if row.run_id == key.run_id:
            count = warehouse.partition(table, key.feed, key.interval_start, key.run_id)
            result["rows_in_table"] = count.rows
            if count.rows != loaded:
                problems.append(
                    f"{where}: the table holds {count.rows} rows for the partition, the ledger "
                    f"says {loaded} were loaded"
                )
            if count.other_runs:
                problems.append(
                    f"{where}: {count.other_runs} rows of the partition come from other runs"
                )
        result["status"] = "ok" if not any(p.startswith(where) for p in problems) else "failed"
        results[table] = result

    summary: dict[str, Any] = {
        "feed": key.feed,
        "run_id": key.run_id,
        "interval_start": isoformat(key.interval_start),
        "manifest": batch.manifest_url,
        "records": batch.manifest.records,
        "rejected_by_scraper": batch.manifest.rejected,
        "reconciled": not problems,
        "tables": results,
    }
    if problems:
        raise VerificationFailed("; ".join(problems), summary)
    return summary


# ------------------------------------------------------------------------------- SQL ledger
class SqlWarehouse:
    """The ledger and tables through the loader's own connection (psycopg for PostgreSQL,
    psycopg2 for Redshift), imported only when a real warehouse is asked."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    @contextmanager
    def connect(cls, url: str) -> Iterator[SqlWarehouse]:
        from redfeed.warehouse.destinations import open_destination

        destination: Any = open_destination(url)
        conn = destination.connect()
        try:
            yield cls(conn)
        finally:
            conn.close()

    def _one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            with self.conn.cursor() as cur:
                cur.execute(query, params)
                row: tuple[Any, ...] | None = cur.fetchone()
                return row
        except Exception as exc:
            raise _classify(exc) from exc

    def current(self, feed: str, interval_start: datetime, table: str) -> LedgerRow | None:
        from redfeed.warehouse import ledger

        row = self._one(ledger.CURRENT_SQL, (feed, ledger.naive_utc(interval_start), table))
        if row is None:
            return None
        run_id, sha, _finished, rows_in, rows_loaded, rows_rejected, _reject_url = row
        return LedgerRow(str(run_id), str(sha).strip(), rows_in, rows_loaded, rows_rejected)

    def partition(
        self, table: str, feed: str, interval_start: datetime, run_id: str
    ) -> PartitionCount:
        from redfeed.warehouse import ledger

        if not TABLE.match(table):
            raise ConfigError(f"{table!r} is not a table name")
        # The name is checked above and double-quoted; values are parameters.
        row = self._one(
            PARTITION_SQL.format(table=table), (run_id, feed, ledger.naive_utc(interval_start))
        )
        rows, others = row if row else (0, 0)
        return PartitionCount(int(rows), int(others))


def _classify(exc: Exception) -> RedfeedError:
    """Missing tables are configuration (has `migrate` run?); anything else may pass."""
    from redfeed.errors import TemporaryError

    name = type(exc).__name__
    if name in ("UndefinedTable", "UndefinedColumn"):
        return ConfigError(f"{name}: {exc} (has `redfeed migrate` run?)")
    if isinstance(exc, RedfeedError):
        return exc
    return TemporaryError(f"reading the warehouse failed: {name}: {exc}")


# ------------------------------------------------------------------------------------ CLI
def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="redfeed verify", description=__doc__)
    parser.add_argument(
        "--table", action="append", help="verify only this table (repeatable; default: the feed's)"
    )
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        raise ConfigError(f"usage: {parser.format_usage().strip()}") from exc


def verify(argv: list[str]) -> dict[str, Any]:
    args = _parse_args(argv)
    if not os.environ.get("REDFEED_RUN_ID", "").strip():
        raise ConfigError("REDFEED_RUN_ID is not set: name the run whose batch to verify")
    if not os.environ.get("REDFEED_INTERVAL_START", "").strip():
        raise ConfigError("REDFEED_INTERVAL_START is not set: name the batch's interval")
    settings = Settings.from_env()
    if not settings.warehouse_url:
        raise ConfigError("REDFEED_WAREHOUSE_URL is not set")
    assert settings.archive_url is not None
    from redfeed.warehouse.jsonpaths import table_spec, tables_for_feed

    specs = (
        [table_spec(t) for t in dict.fromkeys(args.table)]
        if args.table
        else tables_for_feed(settings.feed)
    )
    tables = [spec.name for spec in specs]
    key = BatchKey(settings.feed, settings.interval_start, settings.run_id)
    batch = read_batch(open_store(settings.archive_url), key)
    with SqlWarehouse.connect(settings.warehouse_url) as warehouse:
        summary = reconcile(batch, tables, warehouse, {s.name: s.stream for s in specs})
    for table, result in summary["tables"].items():
        log.info(
            "%s: %d archived = %d loaded + %d rejected; run %s",
            table,
            result["rows_loaded"] + result["rows_rejected"],
            result["rows_loaded"],
            result["rows_rejected"],
            key.run_id,
        )
    return summary


def main(argv: list[str]) -> int:
    return run_command("verify", lambda: verify(argv))
