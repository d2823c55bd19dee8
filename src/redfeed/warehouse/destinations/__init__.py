"""Warehouse back-ends behind one small interface, chosen by the warehouse URL's scheme.

Both give the same guarantee: in ONE transaction (serialized per partition) the partition
``(feed, interval_start)`` is deleted, the batch's valid rows are written and the ledger row is
inserted. They differ in how rows get there: Redshift reads S3 itself (``COPY … FROM
's3://…manifest' FORMAT AS JSON 's3://…jsonpaths'``) into a staging table, checked before the
insert from it; PostgreSQL (the local stand-in) gets ``COPY … FROM STDIN`` from the loader, rows
the pre-flight already checked, straight into the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from redfeed.errors import ConfigError
from redfeed.warehouse.jsonpaths import TableSpec
from redfeed.warehouse.preflight import Preflight
from redfeed.warehouse.url import DatabaseURL


@dataclass(frozen=True)
class LoadJob:
    """One batch into one table."""

    load_id: str
    feed: str
    interval_start: datetime
    interval_end: datetime | None
    run_id: str
    table: TableSpec
    manifest_url: str
    manifest_sha256: str
    content_digest: str | None
    #: When the batch was committed (its manifest's finished_at): orders runs of one interval.
    batch_finished_at: datetime | None
    replay: bool
    max_reject_ratio: float
    loader_version: str
    #: The archive objects the batch consists of (empty for records piped on stdin).
    source_urls: tuple[str, ...] = ()


@dataclass
class LoadOutcome:
    status: str  # loaded | already_loaded
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    rows_replaced: int
    reject_url: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "rows_in": self.rows_in,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "rows_replaced": self.rows_replaced,
            "rejects": self.reject_url,
        }


class Destination(Protocol):
    name: str

    def load(self, job: LoadJob, preflight: Preflight) -> LoadOutcome: ...


def open_destination(url: str) -> Destination:
    try:
        parsed = DatabaseURL.parse(url)
    except ConfigError as exc:
        raise ConfigError(f"REDFEED_WAREHOUSE_URL: {exc}") from None
    if parsed.backend == "postgresql":
        from redfeed.warehouse.destinations.postgres import PostgresDestination

        return PostgresDestination(parsed)
    if parsed.backend == "redshift":
        from sqlalchemy import make_url

        from redfeed.warehouse.destinations.redshift import RedshiftDestination

        try:
            redshift_url = make_url(url)
        except Exception as exc:  # SQLAlchemy's ArgumentError, a port that is not a number...
            raise ConfigError(f"REDFEED_WAREHOUSE_URL is not a database URL: {exc}") from None
        return RedshiftDestination(redshift_url)
    raise ConfigError(
        f"REDFEED_WAREHOUSE_URL scheme {parsed.scheme!r}: use redshift+psycopg2:// or "
        "postgresql+psycopg://"
    )
