"""The load ledger's SQL, shared by every destination (plain SQL with %s parameters: psycopg,
psycopg2 and redshift_connector all take it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redfeed.warehouse.destinations import LoadJob, LoadOutcome
from redfeed.warehouse.preflight import Preflight

LEDGER = "redfeed_loads"
# The SQL below is built from this constant only; values always go in as parameters.

CURRENT_SQL = f"""SELECT run_id, manifest_sha256, batch_finished_at, rows_in, rows_loaded,
       rows_rejected, reject_url
FROM {LEDGER}
WHERE feed = %s AND interval_start = %s AND table_name = %s AND status = 'loaded'
ORDER BY finished_at DESC
LIMIT 1"""  # noqa: S608

INSERT_SQL = f"""INSERT INTO {LEDGER} (load_id, feed, interval_start, interval_end, run_id,
    table_name, status, manifest_url, manifest_sha256, content_digest, batch_finished_at,
    rows_in, rows_loaded, rows_rejected, rows_replaced, reject_url, error, started_at,
    finished_at, loader_version)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"""  # noqa: S608


@dataclass(frozen=True)
class CurrentLoad:
    """What the ledger says the partition holds now."""

    run_id: str
    manifest_sha256: str
    batch_finished_at: datetime | None
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    reject_url: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...] | None) -> CurrentLoad | None:
        return cls(*row) if row else None

    def outcome(self) -> LoadOutcome:
        return LoadOutcome(
            "already_loaded", self.rows_in, self.rows_loaded, self.rows_rejected, 0, self.reject_url
        )


def naive_utc(instant: datetime | None) -> datetime | None:
    """Redshift TIMESTAMP has no zone: the ledger stores UTC."""
    if instant is None or instant.tzinfo is None:
        return instant
    return instant.astimezone(UTC).replace(tzinfo=None)


def current_params(job: LoadJob) -> tuple[Any, ...]:
    return (job.feed, naive_utc(job.interval_start), job.table.name)


def insert_params(
    job: LoadJob,
    status: str,
    started_at: datetime,
    outcome: LoadOutcome | None = None,
    error: str | None = None,
) -> tuple[Any, ...]:
    return (
        job.load_id,
        job.feed,
        naive_utc(job.interval_start),
        naive_utc(job.interval_end),
        job.run_id,
        job.table.name,
        status,
        job.manifest_url,
        job.manifest_sha256,
        job.content_digest,
        naive_utc(job.batch_finished_at),
        outcome.rows_in if outcome else None,
        outcome.rows_loaded if outcome else None,
        outcome.rows_rejected if outcome else None,
        outcome.rows_replaced if outcome else None,
        outcome.reject_url if outcome else None,
        error[:4000] if error else None,
        naive_utc(started_at),
        naive_utc(datetime.now(UTC)),
        job.loader_version[:64],
    )


def check_order(job: LoadJob, current: CurrentLoad | None) -> None:
    """Refuse to load an older run over a newer one, unless this is an explicit replay."""
    from redfeed.errors import ConfigError

    if current is None or job.replay:
        return
    ours, theirs = naive_utc(job.batch_finished_at), naive_utc(current.batch_finished_at)
    if ours is not None and theirs is not None and ours < theirs:
        raise ConfigError(
            f"{job.table.name} for {job.feed} {job.interval_start.isoformat()} holds run "
            f"{current.run_id}, newer than {job.run_id}; set REDFEED_REPLAY=true to load the "
            "older run anyway"
        )


def loaded(
    job: LoadJob, preflight: Preflight, inserted: int, replaced: int, reject_url: str | None
) -> LoadOutcome:
    """The outcome of a load about to commit, reconciled: records in = rows loaded + rows
    rejected, always; anything else is a bug and must not commit."""
    outcome = LoadOutcome(
        "loaded", preflight.rows_in, inserted, preflight.rows_rejected, replaced, reject_url
    )
    if outcome.rows_in != outcome.rows_loaded + outcome.rows_rejected:
        from redfeed.errors import RedfeedError

        raise RedfeedError(
            f"reconciliation failed for {job.table.name}: {outcome.rows_in} in != "
            f"{outcome.rows_loaded} loaded + {outcome.rows_rejected} rejected"
        )
    return outcome


def reject_ratio_exceeded(job: LoadJob, rows_in: int, rejected: int) -> str | None:
    if rows_in and rejected / rows_in > job.max_reject_ratio:
        return (
            f"{rejected} of {rows_in} records rejected ({rejected / rows_in:.2%}), over the "
            f"limit of {job.max_reject_ratio:.2%} (REDFEED_MAX_REJECT_RATIO): nothing loaded"
        )
    return None
