"""PostgreSQL: the local stand-in for Redshift, with the same results and the same guarantees.

The loader streams the archive itself and feeds ``COPY … FROM STDIN`` (PostgreSQL's binary
format, encoded by the pre-flight workers) straight into the target table, inside the
transaction that first deletes the partition and last writes the ledger row; loads of one
partition are serialized with a transaction-scoped advisory lock (Redshift: ``LOCK`` on the
whole table). Redshift stages so that its slow COPY from S3 runs outside that table lock; here
the lock is the partition's own, every row was checked by the pre-flight before it is sent, and
a COPY into the target rolls back as whole as a staging table would, so staging would only make
the server write every row twice (BENCHMARKS.md).
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

from redfeed.errors import ConfigError, RedfeedError, SourceDataError, TemporaryError
from redfeed.warehouse import ledger
from redfeed.warehouse.destinations import LoadJob, LoadOutcome
from redfeed.warehouse.preflight import Preflight, ReadAhead
from redfeed.warehouse.rows import COPY_OPTIONS, BinaryCopy, LiveColumn
from redfeed.warehouse.url import DatabaseURL

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

#: The other way round: a loader killed mid-COPY (SIGKILL, OOM, its container or host gone) does
#: not always close its connection. Its FIN can be lost behind unsent COPY data when its network
#: namespace goes. Then the server's backend waits in COPY for good: its transaction stays open,
#: and so does the partition's lock, which every retry then waits for. Keepalives on the
#: server's side of this session (settings any user may set) abort that backend about a minute
#: after the loader's last packet. The warehouse URL's own ``options`` come after these, so they
#: win.
SERVER_LIVENESS = (
    "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
)


def conninfo(url: str) -> str:
    """libpq's URI for a SQLAlchemy-style ``postgresql+driver://`` URL."""
    return DatabaseURL.parse(url).libpq


def load_workers() -> int:
    """Pre-flight worker processes (``REDFEED_LOAD_WORKERS``): by default one per core."""
    raw = os.environ.get("REDFEED_LOAD_WORKERS", "").strip()
    if not raw:
        return max(1, os.cpu_count() or 1)
    try:
        return max(1, int(raw))
    except ValueError:
        raise ConfigError(f"REDFEED_LOAD_WORKERS={raw!r} is not a number") from None


#: COPY data the pre-flight workers may run ahead of the server (a thread drains their pipes
#: while the connection is busy sending): enough to ride out the server's pauses, small enough to
#: keep the loader's memory flat.
READ_AHEAD_BYTES = 16 * 1024 * 1024


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

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.conninfo = url.libpq

    def connect(self) -> psycopg.Connection:
        try:
            # autocommit: every `conn.transaction()` below is a real transaction, not a savepoint
            # of an implicit one (the failure ledger row must commit after the load rolled back).
            liveness = {k: v for k, v in TCP_LIVENESS.items() if k not in self.url.query}
            options = " ".join([SERVER_LIVENESS, *self.url.query.get("options", ())])
            conn = psycopg.connect(
                # The binary COPY's strings are UTF-8, whatever the server's default is.
                make_conninfo(self.conninfo, **liveness, options=options, client_encoding="UTF8"),
                autocommit=True,
                connect_timeout=15,
                application_name="redfeed-loader",
            )
        except psycopg.Error as exc:
            raise TemporaryError(f"cannot connect to the warehouse {self.url}: {exc}") from exc
        conn.execute(
            "SELECT set_config('lock_timeout', %s, false)",
            (os.environ.get("REDFEED_LOCK_TIMEOUT", "10min"),),
        )
        return conn

    def load(self, job: LoadJob, preflight: Preflight) -> LoadOutcome:
        started = datetime.now(UTC)
        target = sql.Identifier(job.table.name)
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
                        # The lock the DELETE would take, taken first: a migration cannot
                        # change the columns between their check and the COPY.
                        cur.execute(sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(target))
                        self._check_column_types(cur, job)
                        copy_started = time.perf_counter()
                        cur.execute(
                            sql.SQL(
                                "DELETE FROM {} WHERE _feed = %s AND _interval_start = %s"
                            ).format(target),
                            (job.feed, ledger.naive_utc(job.interval_start)),
                        )
                        replaced = cur.rowcount
                        copied = self._copy(cur, preflight, target, columns)
                        if copied != preflight.rows_valid:
                            raise RedfeedError(
                                f"COPY wrote {copied} rows, the validator passed "
                                f"{preflight.rows_valid}"
                            )
                        reject_url = preflight.rejects.commit()
                        too_many = ledger.reject_ratio_exceeded(
                            job, preflight.rows_in, preflight.rows_rejected
                        )
                        if too_many:
                            raise SourceDataError(f"{too_many}; rejects in {reject_url}")
                        outcome = ledger.loaded(job, preflight, copied, replaced, reject_url)
                        log.info(
                            "%s: replaced %d rows with %d copied in %.2fs",
                            job.table.name,
                            replaced,
                            copied,
                            time.perf_counter() - copy_started,
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

    def _check_column_types(self, cur: psycopg.Cursor[Any], job: LoadJob) -> None:
        """Refuse a table whose columns drifted from the models: binary COPY reads each field
        by the live column's type, and some wrong types would not fail, only read wrong."""
        cur.execute(
            "SELECT attname, atttypid::int, atttypmod, attnotnull,"
            " atthasdef OR attidentity <> '' OR attgenerated <> ''"
            " FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (sql.Identifier(job.table.name).as_string(cur),),
        )
        live = {row[0]: LiveColumn(*row[1:]) for row in cur.fetchall()}
        problems = BinaryCopy.mismatches(job.table, live)
        if problems:
            raise ConfigError(
                f"{job.table.name} differs from the models ({'; '.join(problems)}): run "
                "`redfeed migrate`, or `redfeed drift` to see every difference"
            )

    def _copy(
        self,
        cur: psycopg.Cursor[Any],
        preflight: Preflight,
        target: sql.Identifier,
        columns: sql.Composable,
    ) -> int:
        """COPY the valid rows into the target (the partition already deleted, uncommitted), the
        pre-flight workers' output read ahead by a thread so that they keep producing while this
        connection sends. The rows written."""
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
            target, columns, sql.SQL(COPY_OPTIONS)
        )
        with (
            ReadAhead(preflight.copy_data(workers=load_workers()), READ_AHEAD_BYTES) as chunks,
            cur.copy(copy_sql) as copy,
        ):
            for chunk in chunks:
                copy.write(chunk)
        return cur.rowcount

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
