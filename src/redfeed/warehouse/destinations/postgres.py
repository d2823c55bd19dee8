"""PostgreSQL: the local stand-in for Redshift, loaded through the same SQL shape.

The loader streams the archive itself and feeds ``COPY … FROM STDIN`` (CSV written by the
pre-flight workers) into a staging table private to the load; the partition swap, the inserts from
staging and the ledger row are one transaction, serialized per partition with a transaction-scoped
advisory lock (Redshift: ``LOCK``).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy import URL

from redfeed.errors import ConfigError, RedfeedError, SourceDataError, TemporaryError
from redfeed.warehouse import ledger
from redfeed.warehouse.destinations import LoadJob, LoadOutcome
from redfeed.warehouse.preflight import Preflight, ReadAhead
from redfeed.warehouse.rows import COPY_OPTIONS

log = logging.getLogger(__name__)

#: A server that vanishes without closing its connections (killed with its container, its host
#: gone, a network partition) never answers again: without these the loader would wait for the
#: kernel's TCP timeout (~15 min) mid-COPY. Data unacknowledged for tcp_user_timeout (ms) fails
#: the connection; an idle one (a long statement) is probed. Query parameters of the warehouse URL
#: with the same names win.
TCP_LIVENESS = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}


def conninfo(url: URL) -> str:
    """libpq's URI for a SQLAlchemy ``postgresql+driver://`` URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def load_workers() -> int:
    """Pre-flight worker processes (``REDFEED_LOAD_WORKERS``): by default one per core."""
    raw = os.environ.get("REDFEED_LOAD_WORKERS", "").strip()
    if not raw:
        return max(1, os.cpu_count() or 1)
    try:
        return max(1, int(raw))
    except ValueError:
        raise ConfigError(f"REDFEED_LOAD_WORKERS={raw!r} is not a number") from None


def staging_round_bytes() -> int:
    """COPY data staged and inserted per round (``REDFEED_STAGING_ROUND_MB``, default 64)."""
    raw = os.environ.get("REDFEED_STAGING_ROUND_MB", "").strip() or "64"
    try:
        megabytes = int(raw)
    except ValueError:
        raise ConfigError(f"REDFEED_STAGING_ROUND_MB={raw!r} is not a number") from None
    if megabytes < 1:
        raise ConfigError(f"REDFEED_STAGING_ROUND_MB={raw!r} must be at least 1")
    return megabytes * 1024 * 1024


def _classify(exc: psycopg.Error, what: str) -> RedfeedError:
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        # The partition's advisory lock (another load of it) or a lock on a table the load
        # reads or writes (a migration, a VACUUM FULL, someone's LOCK TABLE).
        return TemporaryError(
            f"{what}: another session holds a lock this load needs (the partition's load lock "
            f"or a table lock) past REDFEED_LOCK_TIMEOUT="
            f"{os.environ.get('REDFEED_LOCK_TIMEOUT', '10min')} ({exc.diag.message_primary}); "
            "try again later"
        )
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return ConfigError(f"{what}: {exc} (has `redfeed migrate` run?)")
    if isinstance(exc, psycopg.errors.DataError):
        return SourceDataError(f"{what}: PostgreSQL refused a row the validator passed: {exc}")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return ConfigError(f"{what}: {exc}")
    # Connection lost, server restarting, disk full, serialization failures: worth a retry.
    return TemporaryError(f"{what}: {type(exc).__name__}: {exc}")


class PostgresDestination:
    name = "postgres"

    def __init__(self, url: URL) -> None:
        self.url = url
        self.conninfo = conninfo(url)

    def connect(self) -> psycopg.Connection:
        try:
            # autocommit: every `conn.transaction()` below is a real transaction, not a savepoint
            # of an implicit one (the failure ledger row must commit after the load rolled back).
            liveness = {k: v for k, v in TCP_LIVENESS.items() if k not in self.url.query}
            conn = psycopg.connect(
                make_conninfo(self.conninfo, **liveness),
                autocommit=True,
                connect_timeout=15,
                application_name="redfeed-loader",
            )
        except psycopg.Error as exc:
            raise TemporaryError(
                f"cannot connect to the warehouse {self.url.render_as_string()}: {exc}"
            ) from exc
        conn.execute(
            "SELECT set_config('lock_timeout', %s, false)",
            (os.environ.get("REDFEED_LOCK_TIMEOUT", "10min"),),
        )
        return conn

    def load(self, job: LoadJob, preflight: Preflight) -> LoadOutcome:
        started = datetime.now(UTC)
        target = sql.Identifier(job.table.name)
        # The staging table is UNLOGGED, not TEMP: created, filled, read and dropped inside the
        # load's transaction, it is as private and leaves as little behind (a rollback or a
        # killed loader takes its creation with it), but it goes through shared buffers, where
        # a TEMP table pages through the session's local buffers and spills to files: the
        # staging half of a 1M-row load took 4.6 s of server CPU as TEMP, 3.5 s as UNLOGGED
        # (BENCHMARKS.md). One name per load, so loads of other partitions never collide.
        stage = sql.Identifier(f"redfeed_stage_{job.load_id}")
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in job.table.column_names)
        what = f"load of {job.feed} run {job.run_id} into {job.table.name}"
        try:
            with self.connect() as conn:
                try:
                    with conn.transaction(), conn.cursor() as cur:
                        # Serialize loads of one partition; released at commit/rollback.
                        cur.execute(
                            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                            (
                                f"redfeed:{job.feed}:{job.interval_start.isoformat()}:{job.table.name}",
                            ),
                        )
                        cur.execute(ledger.CURRENT_SQL, ledger.current_params(job))
                        current = ledger.CurrentLoad.from_row(cur.fetchone())
                        if (
                            current
                            and current.manifest_sha256 == job.manifest_sha256
                            and not job.replay
                        ):
                            log.info("%s: already loaded (ledger), nothing to do", what)
                            return current.outcome()
                        ledger.check_order(job, current)
                        staging_started = time.perf_counter()
                        cur.execute(
                            sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
                                stage, target
                            )
                        )
                        cur.execute(
                            sql.SQL(
                                "DELETE FROM {} WHERE _feed = %s AND _interval_start = %s"
                            ).format(target),
                            (job.feed, ledger.naive_utc(job.interval_start)),
                        )
                        replaced = cur.rowcount
                        staged, inserted, rounds = self._stage_and_insert(
                            cur, preflight, stage, target, columns
                        )
                        if staged != preflight.rows_valid or inserted != staged:
                            raise RedfeedError(
                                f"COPY staged {staged} rows and inserted {inserted}, the "
                                f"validator passed {preflight.rows_valid}"
                            )
                        reject_url = preflight.rejects.commit()
                        too_many = ledger.reject_ratio_exceeded(
                            job, preflight.rows_in, preflight.rows_rejected
                        )
                        if too_many:
                            raise SourceDataError(f"{too_many}; rejects in {reject_url}")
                        outcome = ledger.loaded(job, preflight, inserted, replaced, reject_url)
                        cur.execute(sql.SQL("DROP TABLE {}").format(stage))
                        log.info(
                            "%s: replaced %d rows with %d staged in %d round(s) in %.2fs",
                            job.table.name,
                            replaced,
                            inserted,
                            rounds,
                            time.perf_counter() - staging_started,
                        )
                        cur.execute(
                            ledger.INSERT_SQL, ledger.insert_params(job, "loaded", started, outcome)
                        )
                    return outcome
                except (psycopg.Error, RedfeedError) as exc:
                    preflight.rejects.abort()
                    self._record_failure(conn, job, started, exc, preflight)
                    raise
        except psycopg.Error as exc:
            raise _classify(exc, what) from exc

    def _stage_and_insert(
        self,
        cur: psycopg.Cursor[Any],
        preflight: Preflight,
        stage: sql.Identifier,
        target: sql.Identifier,
        columns: sql.Composable,
    ) -> tuple[int, int, int]:
        """COPY the valid rows into the staging table and insert them into the target, a round
        of about ``REDFEED_STAGING_ROUND_MB`` at a time: while PostgreSQL inserts one round, the
        pre-flight workers prepare the next (a read-ahead of one round), instead of one core
        idling through a single INSERT of the whole batch at the end. Every round is inside the
        load's transaction, so a failure anywhere still leaves the target as it was.
        (staged, inserted, rounds)."""
        round_bytes = staging_round_bytes()
        staged = inserted = rounds = 0
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
            stage, columns, sql.SQL(COPY_OPTIONS)
        )
        insert_sql = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            target, columns, columns, stage
        )
        with ReadAhead(preflight.copy_text(workers=load_workers()), round_bytes) as chunks:
            pending = next(chunks, None)
            while pending is not None:
                size = 0
                with cur.copy(copy_sql) as copy:
                    while pending is not None and size < round_bytes:
                        copy.write(pending)
                        size += len(pending)
                        pending = next(chunks, None)
                staged += cur.rowcount
                cur.execute(insert_sql)
                inserted += cur.rowcount
                rounds += 1
                if pending is not None:
                    cur.execute(sql.SQL("TRUNCATE {}").format(stage))
        return staged, inserted, rounds

    def _record_failure(
        self,
        conn: psycopg.Connection,
        job: LoadJob,
        started: datetime,
        exc: Exception,
        preflight: Preflight,
    ) -> None:
        """The failed attempt gets its own ledger row (best effort: the connection may be gone)."""
        outcome = LoadOutcome(
            "failed",
            preflight.rows_in,
            0,
            preflight.rows_rejected,
            0,
            preflight.rejects.url if preflight.rows_rejected else None,
        )
        try:
            with conn.transaction():
                conn.execute(
                    ledger.INSERT_SQL,
                    ledger.insert_params(job, "failed", started, outcome, str(exc)),
                )
        except psycopg.Error:
            log.warning("could not record the failed load in the ledger", exc_info=True)
