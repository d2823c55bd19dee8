"""Amazon Redshift: validated records staged in S3, then COPY with a manifest and JSONPaths.

Shape: (1) pre-flight validation while writing the valid records, unchanged, to load parts under
the batch's ``load/`` prefix — or, when nothing was rejected, the archive's own parts are used as
they are; (2) a COPY manifest listing every part with ``mandatory: true`` (never a key prefix:
``batch_1`` must not load ``batch_10``); (3) ``COPY`` into a temporary staging table with the
table's JSONPaths file, checked with ``PG_LAST_COPY_COUNT()``; (4) one transaction that LOCKs the
target, deletes the partition, inserts from staging and writes the ledger row.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import URL

from redfeed.archive.store import ArchiveStore, S3Store, open_store
from redfeed.archive.writer import JsonLinesObject
from redfeed.errors import ConfigError, RedfeedError, SourceDataError, TemporaryError
from redfeed.warehouse import ledger
from redfeed.warehouse.destinations import LoadJob, LoadOutcome
from redfeed.warehouse.preflight import Preflight

log = logging.getLogger(__name__)


class Cursor(Protocol):
    rowcount: int

    def execute(self, operation: str, parameters: Any = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


class Connection(Protocol):
    autocommit: bool

    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


def quote(identifier: str) -> str:
    """A Redshift identifier, double-quoted (names come from the models, and are checked)."""
    if not identifier or len(identifier.encode()) > 127 or "\x00" in identifier:
        raise ConfigError(f"{identifier!r} is not a valid Redshift identifier")
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def copy_authorization() -> tuple[str, str]:
    """(SQL, the same SQL with secrets masked for logs): IAM role first, then session keys."""
    role = os.environ.get("REDFEED_REDSHIFT_IAM_ROLE", "").strip()
    if role:
        clause = f"IAM_ROLE {literal(role)}"
        return clause, clause
    key = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not key or not secret:
        raise ConfigError(
            "Redshift COPY needs REDFEED_REDSHIFT_IAM_ROLE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    creds = f"aws_access_key_id={key};aws_secret_access_key={secret}"
    token = os.environ.get("AWS_SESSION_TOKEN", "")
    if token:
        creds += f";token={token}"
    return f"CREDENTIALS {literal(creds)}", "CREDENTIALS '***'"


def copy_sql(stage: str, job: LoadJob, manifest_url: str, jsonpaths_url: str) -> tuple[str, str]:
    """The COPY statement (and its log-safe twin)."""
    columns = ", ".join(quote(c) for c in job.table.column_names)
    auth, masked = copy_authorization()
    region = os.environ.get("REDFEED_REDSHIFT_REGION", "").strip()
    options = (
        f"FORMAT AS JSON {literal(jsonpaths_url)} GZIP MANIFEST "
        "TIMEFORMAT 'auto' DATEFORMAT 'auto' MAXERROR 0 COMPUPDATE OFF STATUPDATE OFF"
        + (f" REGION {literal(region)}" if region else "")
    )
    head = f"COPY {quote(stage)} ({columns}) FROM {literal(manifest_url)}"
    return f"{head} {auth} {options}", f"{head} {masked} {options}"


LOAD_ERRORS_SQL = """SELECT TRIM(filename), line_number, TRIM(colname), TRIM(type), TRIM(err_reason)
FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY starttime LIMIT 20"""


class RedshiftDestination:
    name = "redshift"

    def __init__(
        self,
        url: URL,
        connect: Callable[[], Connection] | None = None,
        store: ArchiveStore | None = None,
    ) -> None:
        self.url = url
        self._connect = connect
        self._store = store

    def connect(self) -> Connection:
        if self._connect is not None:
            return self._connect()
        import psycopg2

        try:
            return psycopg2.connect(  # type: ignore[no-any-return]
                host=self.url.host,
                port=self.url.port or 5439,
                dbname=self.url.database,
                user=self.url.username,
                password=self.url.password,
                connect_timeout=15,
                sslmode=self.url.query.get("sslmode", "require"),
            )
        except psycopg2.Error as exc:
            raise TemporaryError(f"cannot connect to Redshift {self.url.host}: {exc}") from exc

    @property
    def store(self) -> ArchiveStore:
        if self._store is None:
            url = os.environ.get("REDFEED_ARCHIVE_URL", "")
            if not url.startswith("s3://"):
                raise ConfigError(
                    "Redshift loads need an s3:// REDFEED_ARCHIVE_URL (COPY reads S3)"
                )
            self._store = open_store(url)
        if not isinstance(self._store, S3Store):
            raise ConfigError("Redshift loads need an s3:// archive (COPY reads S3)")
        return self._store

    # -- staging files -------------------------------------------------------------------

    def stage_files(self, job: LoadJob, preflight: Preflight, prefix: str) -> tuple[str, int]:
        """Validate every record and write the COPY manifest; (manifest URL, rows to load)."""
        store = self.store
        load_part = JsonLinesObject(store, f"{prefix}part-00000.jsonl.gz")
        for line, _ in preflight:
            load_part.write(line if line.endswith(b"\n") else line + b"\n")
        if preflight.rows_rejected or not job.source_urls:
            entry = load_part.commit()
            urls = [entry.url] if entry.records else []
        else:
            # Nothing rejected: COPY the archive's own parts, no second copy of the batch.
            load_part.abort()
            urls = list(job.source_urls)
        manifest = {"entries": [{"url": url, "mandatory": True} for url in urls]}
        store.put_new(f"{prefix}copy-manifest.json", orjson.dumps(manifest))
        return store.uri(f"{prefix}copy-manifest.json"), preflight.rows_valid

    def jsonpaths_url(self, job: LoadJob) -> str:
        """The table's JSONPaths file, content-addressed under ``jsonpaths/`` (never beside the
        data, so no data prefix can match it), written once."""
        import hashlib

        body = job.table.jsonpaths_file()
        key = f"jsonpaths/{job.table.name}-{hashlib.sha256(body).hexdigest()[:16]}.json"
        if not self.store.exists(key):
            self.store.put_new(key, body)
        return self.store.uri(key)

    # -- the load ------------------------------------------------------------------------

    def load(self, job: LoadJob, preflight: Preflight, prefix: str | None = None) -> LoadOutcome:
        started = datetime.now(UTC)
        target, stage = quote(job.table.name), f"stage_{job.table.name}"
        columns = ", ".join(quote(c) for c in job.table.column_names)
        conn = self.connect()
        try:
            conn.autocommit = True
            cur = conn.cursor()
            cur.execute(ledger.CURRENT_SQL, ledger.current_params(job))
            current = ledger.CurrentLoad.from_row(cur.fetchone())
            if current and current.manifest_sha256 == job.manifest_sha256 and not job.replay:
                log.info("already loaded (ledger): %s into %s", job.run_id, job.table.name)
                return current.outcome()
            ledger.check_order(job, current)

            prefix = prefix or _load_prefix(job)
            manifest_url, expected = self.stage_files(job, preflight, prefix)
            reject_url = preflight.rejects.commit()
            too_many = ledger.reject_ratio_exceeded(job, preflight.rows_in, preflight.rows_rejected)
            if too_many:
                raise SourceDataError(f"{too_many}; rejects in {reject_url}")

            cur.execute(f"CREATE TEMP TABLE {quote(stage)} (LIKE {target})")
            statement, loggable = copy_sql(stage, job, manifest_url, self.jsonpaths_url(job))
            log.info("%s", loggable)
            try:
                cur.execute(statement)
            except Exception as exc:
                raise self._copy_failure(cur, exc) from exc
            cur.execute("SELECT PG_LAST_COPY_COUNT()")
            copied = int(cur.fetchone()[0])
            if copied != expected:
                raise RedfeedError(f"COPY loaded {copied} rows, the manifest holds {expected}")

            conn.autocommit = False
            # LOCK serializes concurrent loads of the table until COMMIT; then re-read the
            # ledger: a load that won the race may already have loaded this batch.
            cur.execute(f"LOCK {target}, {ledger.LEDGER}")
            cur.execute(ledger.CURRENT_SQL, ledger.current_params(job))
            current = ledger.CurrentLoad.from_row(cur.fetchone())
            if current and current.manifest_sha256 == job.manifest_sha256 and not job.replay:
                conn.rollback()
                return current.outcome()
            ledger.check_order(job, current)
            cur.execute(
                f"DELETE FROM {target} WHERE _feed = %s AND _interval_start = %s",  # noqa: S608
                (job.feed, ledger.naive_utc(job.interval_start)),
            )
            replaced = cur.rowcount
            cur.execute(
                f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {quote(stage)}"  # noqa: S608
            )
            outcome = ledger.loaded(job, preflight, cur.rowcount, replaced, reject_url)
            cur.execute(ledger.INSERT_SQL, ledger.insert_params(job, "loaded", started, outcome))
            conn.commit()
            return outcome
        except Exception:
            preflight.rejects.abort()
            try:
                conn.rollback()
            except Exception:
                log.debug("rollback failed", exc_info=True)
            raise
        finally:
            conn.close()

    def _copy_failure(self, cur: Cursor, exc: Exception) -> RedfeedError:
        """Name file, line, column and reason from STL_LOAD_ERRORS in the task log."""
        details = []
        try:
            cur.execute(LOAD_ERRORS_SQL)
            for filename, line, column, type_, reason in cur.fetchall() or []:
                details.append(f"{filename}:{line} column {column} ({type_}): {reason}")
        except Exception:
            log.debug("could not read stl_load_errors", exc_info=True)
        for detail in details:
            log.error("COPY error: %s", detail)
        message = f"COPY failed: {exc}" + (f"; first error: {details[0]}" if details else "")
        return SourceDataError(message) if details else TemporaryError(message)


def _load_prefix(job: LoadJob) -> str:
    from redfeed.archive.layout import BatchKey

    key = BatchKey(job.feed, job.interval_start, job.run_id)
    return f"{key.prefix}load/{job.table.name}-{job.load_id}/"
