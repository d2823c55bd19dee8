"""The DAG factory: one DAG per registry entry, plus ``redfeed_replay``, ``redfeed_migrate`` and
``redfeed_xref``.

A feed's DAG is ``[latest_only] → extract → load → verify``:

- ``extract`` runs the feed's image with the contract's environment rendered from the run's
  data interval and run id; the wrapper commits one batch per run id, so a retry never creates a
  second batch (it reports the committed one);
- ``load`` runs ``redfeed load`` (loader image) for the batch ``extract`` reported (run id and
  interval from its XCom); the ledger makes it exactly-once;
- ``verify`` runs ``redfeed verify``: the ledger must say the partition holds this run, and the
  manifest's records = rows loaded + rows rejected.

Only configuration lives here; endpoints and credentials are resolved on the worker when a task
runs (:mod:`redfeed.orchestration.runtime`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from airflow.providers.standard.operators.latest_only import LatestOnlyOperator
from airflow.sdk import DAG, Asset, AssetAny, CronDataIntervalTimetable, Param, chain

from redfeed.orchestration import runtime
from redfeed.orchestration.operators import ContractDockerOperator
from redfeed.orchestration.registry import FeedSpec, LoaderSpec, Registry

REPLAY_DAG_ID = "redfeed_replay"
MIGRATE_DAG_ID = "redfeed_migrate"
XREF_DAG_ID = "redfeed_xref"
#: The tables the cross-reference reads (redfeed.warehouse.xref.SOURCE_QUERIES).
XREF_SOURCE_TABLES = ("conferences", "python_conferences", "pretalx_events", "homepage_events")


def warehouse_asset(table: str) -> Asset:
    """The Airflow asset of a warehouse table: a feed's ``verify`` updates it once the
    partition is loaded and reconciled, and DAGs that read the table are scheduled on it.

    Named, without a URI scheme: an asset URI with a scheme makes Airflow load every provider's
    URI normalizers (the Amazon one imports boto3) in each DAG-parsing process."""
    return Asset(name=f"redfeed-warehouse.{table}")


#: Manual runs may come without a logical date: then the interval is empty and the contract's
#: default applies (today, UTC). Scheduled and backfill runs always have one.
INTERVAL_START = (
    "{{ data_interval_start.isoformat() "
    "if data_interval_start is defined and data_interval_start else '' }}"
)
INTERVAL_END = (
    "{{ data_interval_end.isoformat() if data_interval_end is defined and data_interval_end "
    "else '' }}"
)
RUN_ID = "{{ run_id }}"


def _from_extract(field: str) -> str:
    return "{{ ti.xcom_pull(task_ids='extract')['" + field + "'] }}"


def _table_flags(tables: tuple[str, ...]) -> list[str]:
    return [arg for table in tables for arg in ("--table", table)]


def _common_args(spec: FeedSpec) -> dict[str, Any]:
    return {
        "owner": spec.owner,
        "retries": spec.retries,
        "retry_delay": spec.retry_delay,
        "retry_exponential_backoff": spec.retry_exponential_backoff,
        "max_retry_delay": spec.max_retry_delay,
        "queue": spec.queue,
    }


# ------------------------------------------------------------------------------ feed DAGs
def build_feed_dag(spec: FeedSpec, loader: LoaderSpec) -> DAG:
    batch_env = {
        "REDFEED_FEED": spec.name,
        "REDFEED_RUN_ID": _from_extract("run_id"),
        "REDFEED_INTERVAL_START": _from_extract("interval_start"),
        "REDFEED_INTERVAL_END": _from_extract("interval_end"),
    }
    with DAG(
        dag_id=spec.dag_id,
        description=spec.description or f"Scrape {spec.name}, archive, load, verify",
        schedule=CronDataIntervalTimetable(spec.schedule, timezone="UTC"),
        start_date=spec.start_date,
        catchup=spec.catchup,
        max_active_runs=spec.max_active_runs,
        default_args=_common_args(spec),
        tags=["redfeed", "feed", *spec.tags],
        doc_md=feed_doc(spec, loader),
    ) as dag:
        extract = ContractDockerOperator(
            task_id="extract",
            image=spec.image,
            feed=spec.name,
            source_url_feed=spec.name,
            source_token_conn_id=spec.source_token_conn_id,
            environment={
                **spec.extract_env(),
                "REDFEED_RUN_ID": RUN_ID,
                "REDFEED_INTERVAL_START": INTERVAL_START,
                "REDFEED_INTERVAL_END": INTERVAL_END,
            },
            execution_timeout=spec.execution_timeout,
            doc_md=EXTRACT_DOC.format(image=spec.image, feed=spec.name),
        )
        load = ContractDockerOperator(
            task_id="load",
            image=loader.image,
            command=["load", *_table_flags(spec.tables)],
            feed=spec.name,
            warehouse_conn_id=runtime.WAREHOUSE_CONN_ID,
            environment=dict(batch_env),
            execution_timeout=spec.execution_timeout,
            doc_md=LOAD_DOC.format(image=loader.image, tables=", ".join(spec.tables)),
        )
        verify = ContractDockerOperator(
            task_id="verify",
            image=loader.image,
            command=["verify", *_table_flags(spec.tables)],
            feed=spec.name,
            warehouse_conn_id=runtime.WAREHOUSE_CONN_ID,
            environment=dict(batch_env),
            execution_timeout=spec.execution_timeout,
            outlets=[warehouse_asset(table) for table in spec.tables],
            doc_md=VERIFY_DOC.format(image=loader.image),
        )
        steps: list[Any] = [extract, load, verify]
        if spec.latest_only:
            steps.insert(0, LatestOnlyOperator(task_id="latest_only", doc_md=LATEST_ONLY_DOC))
        chain(*steps)
    return dag


# ------------------------------------------------------------------------------ replay DAG
def build_replay_dag(registry: Registry) -> DAG:
    names = registry.names()
    tables = {spec.name: spec.tables for spec in registry.feeds}
    loader = registry.loader

    def batch_env(batch: dict[str, Any]) -> dict[str, str]:
        return {
            "REDFEED_FEED": str(batch["feed"]),
            "REDFEED_RUN_ID": str(batch["run_id"]),
            "REDFEED_INTERVAL_START": str(batch["interval_start"]),
            "REDFEED_INTERVAL_END": str(batch["interval_end"]),
        }

    def load_kwargs(batch: dict[str, Any]) -> dict[str, Any]:
        return {
            "environment": {**batch_env(batch), "REDFEED_REPLAY": "true"},
            "command": ["load", *_table_flags(tables[batch["feed"]])],
        }

    def verify_kwargs(batch: dict[str, Any]) -> dict[str, Any]:
        return {
            "environment": batch_env(batch),
            "command": ["verify", *_table_flags(tables[batch["feed"]])],
        }

    with DAG(
        dag_id=REPLAY_DAG_ID,
        description="Re-load archived batches of a feed into the warehouse, without scraping",
        schedule=None,
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": "redfeed",
            "retries": 2,
            "retry_delay": 30.0,
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": 600.0,
            "queue": loader.queue,
        },
        tags=["redfeed", "replay"],
        params={
            "feed": Param(
                names[0], type="string", enum=names, title="Feed", description="Feed to replay"
            ),
            "start": Param(
                type="string",
                format="date",
                title="From",
                description="First interval start to replay (UTC date, e.g. 2026-01-01)",
            ),
            "end": Param(
                type="string",
                format="date",
                title="To",
                description="Last interval start to replay, inclusive (UTC date)",
            ),
            "run_id": Param(
                None,
                type=["null", "string"],
                title="Run id",
                description="Replay only this run's batches (default: each interval's latest)",
            ),
        },
        doc_md=REPLAY_DOC,
    ) as dag:
        find = ContractDockerOperator(
            task_id="find_batches",
            image=loader.image,
            command=[
                "archive",
                "batches",
                "--feed",
                "{{ params.feed }}",
                "--start",
                "{{ params.start }}",
                "--end",
                "{{ params.end }}",
                "--run-id",
                "{{ params.get('run_id') or '' }}",
                "--latest",
                "--json",
            ],
            summary_field="batches",
            doc_md=FIND_BATCHES_DOC,
        )
        batches = find.output
        load = ContractDockerOperator.partial(
            task_id="load",
            image=loader.image,
            warehouse_conn_id=runtime.WAREHOUSE_CONN_ID,
            map_index_template=MAP_INDEX,
            max_active_tis_per_dagrun=4,
            doc_md=REPLAY_LOAD_DOC,
        ).expand_kwargs(batches.map(load_kwargs))
        verify = ContractDockerOperator.partial(
            task_id="verify",
            image=loader.image,
            warehouse_conn_id=runtime.WAREHOUSE_CONN_ID,
            map_index_template=MAP_INDEX,
            max_active_tis_per_dagrun=4,
            doc_md=VERIFY_DOC.format(image=loader.image),
        ).expand_kwargs(batches.map(verify_kwargs))
        chain(find, load, verify)
    return dag


# ----------------------------------------------------------------------------- migrate DAG
def build_migrate_dag(loader: LoaderSpec) -> DAG:
    with DAG(
        dag_id=MIGRATE_DAG_ID,
        description="Apply the warehouse migrations (Alembic, loader image)",
        schedule=None,
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "redfeed", "retries": 1, "retry_delay": 30.0, "queue": loader.queue},
        tags=["redfeed", "maintenance"],
        doc_md=MIGRATE_DOC,
    ) as dag:
        ContractDockerOperator(
            task_id="migrate",
            image=loader.image,
            command=["migrate", "upgrade"],
            archive_conn_id=None,
            warehouse_conn_id=runtime.WAREHOUSE_CONN_ID,
            summary_required=False,
            doc_md=MIGRATE_TASK_DOC.format(image=loader.image),
        )
    return dag


# -------------------------------------------------------------------------------- xref DAG
def build_xref_dag(registry: Registry) -> DAG | None:
    """``redfeed_xref``: rebuild the conference dimension whenever a feed it reads has verified
    a load (asset-scheduled: no cron to keep in step with the feeds)."""
    loaded = {table for spec in registry.feeds for table in spec.tables}
    assets = [warehouse_asset(t) for t in XREF_SOURCE_TABLES if t in loaded]
    if not assets:
        return None
    loader = registry.loader
    with DAG(
        dag_id=XREF_DAG_ID,
        description="Rebuild the cross-referenced conference dimension (loader image)",
        schedule=AssetAny(*assets),
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": "redfeed",
            "retries": 2,
            "retry_delay": 30.0,
            "retry_exponential_backoff": 2.0,
            "queue": loader.queue,
        },
        tags=["redfeed", "conferences"],
        doc_md=XREF_DOC,
    ) as dag:
        ContractDockerOperator(
            task_id="xref",
            image=loader.image,
            command=["xref"],
            archive_conn_id=None,
            warehouse_conn_id=runtime.WAREHOUSE_CONN_ID,
            outlets=[warehouse_asset("conference")],
            doc_md=XREF_DOC,
        )
    return dag


def build_dags(registry: Registry, dag_id: str | None = None) -> list[DAG]:
    """Every DAG the registry defines, in a stable order; only ``dag_id`` where it is given
    (a task runner parses the file for one task of one DAG: Airflow's parsing context)."""
    builders: list[tuple[str, Callable[[], DAG | None]]] = [
        *((spec.dag_id, partial(build_feed_dag, spec, registry.loader)) for spec in registry.feeds),
        (REPLAY_DAG_ID, partial(build_replay_dag, registry)),
        (MIGRATE_DAG_ID, partial(build_migrate_dag, registry.loader)),
        (XREF_DAG_ID, partial(build_xref_dag, registry)),
    ]
    dags = (build() for name, build in builders if dag_id is None or name == dag_id)
    return [dag for dag in dags if dag is not None]


# ---------------------------------------------------------------------------------- docs
MAP_INDEX = (
    "{{ task.environment.get('REDFEED_INTERVAL_START', '') }} "
    "{{ task.environment.get('REDFEED_RUN_ID', '') }}"
)


def feed_doc(spec: FeedSpec, loader: LoaderSpec) -> str:
    politeness = spec.politeness.env()
    knobs = ", ".join(f"`{k}={v}`" for k, v in politeness.items()) or "image defaults"
    latest = (
        "**latest only**: runs of older intervals (backfills, catch-up) skip all tasks; only the "
        "latest interval is scraped."
        if spec.latest_only
        else "every interval is scraped (backfills re-scrape what the source shows now)."
    )
    return f"""\
### Feed `{spec.name}`
{spec.description or ""}

`[latest_only] → extract → load → verify`, one run per data interval (`{spec.schedule}`, UTC).

| | |
|---|---|
| scraper image | `{spec.image}` |
| loader image | `{loader.image}` |
| tables | {", ".join(f"`{t}`" for t in spec.tables)} |
| source | `{spec.source_url or "the image's default"}` (worker `{spec.source_url_override_env}` \
overrides) |
| politeness | {knobs} |
| catch-up | `{spec.catchup}`; at most {spec.max_active_runs} active run(s) |
| retries | {spec.retries}, from {spec.retry_delay.total_seconds():g} s, x\
{spec.retry_exponential_backoff:g} each time, at most {spec.max_retry_delay.total_seconds():g} s |
| Celery queue | `{spec.queue}` |

Scheduling: {latest}

Exit codes (docs/contract.md): 99 *nothing new* → skipped; 65 *data* and 78 *config* → failed
without retries; anything else (75 *temporary*: network, throttling, archive or warehouse
unreachable) → retried with backoff.

Re-load old batches without scraping: trigger `{REPLAY_DAG_ID}` with this feed and a date range.
"""


LATEST_ONLY_DOC = """\
Skips `extract`, `load` and `verify` unless this run is for the latest interval (manual runs
always proceed). Scraping shows the source as it is *now*, so older intervals are not re-scraped.
"""

EXTRACT_DOC = """\
Runs `{image}`: the `{feed}` scraper under `redfeed extract`, which streams the records into
the archive as one batch (`raw/{feed}/<interval start>/<run id>/`) and commits it by writing its
manifest last. Environment: the run's data interval (`REDFEED_INTERVAL_START/END`) and the run id
(`REDFEED_RUN_ID`, the batch id). Archive endpoint and credentials come from the
`redfeed_archive` connection at run time (credentials via `private_environment`).

A retry of the same run reports the batch it already committed instead of scraping again.
Exit 99 (nothing new, with `skip_unchanged`) skips the run's remaining tasks. The XCom is the
scraper's JSON summary (run id, records, rejects, manifest URL).
"""

LOAD_DOC = """\
Runs `{image} load` for the batch `extract` committed (run id and interval from its XCom) into
{tables}. Pre-flight validation quarantines bad rows; the partition swap and the ledger row are
one transaction, and a batch the ledger already holds is not loaded again: retries are
exactly-once. Warehouse credentials come from the `redfeed_warehouse` connection at run time.
"""

VERIFY_DOC = """\
Runs `{image} verify`: reads the batch's manifest and the ledger, and fails (exit 65, no retry)
unless, for each table, the ledger says the partition now holds this run and the archived
records = rows loaded + rows rejected.
"""

REPLAY_DOC = f"""\
### Replay archived batches

Re-loads batches that are already in the archive into the warehouse **without scraping again**:
fix a loader bug, then re-run it on weeks of old inputs. Trigger it with:

- `feed`: the feed;
- `start`, `end`: the first and last interval start (UTC dates, both inclusive);
- `run_id` (optional): only that run's batches; by default each interval's latest batch.

`find_batches` lists the committed batches (loader image, `redfeed archive batches --json`);
`load` is mapped over them (one task per batch, `REDFEED_REPLAY=true` so an older run may replace
a newer one); `verify` reconciles each. The ledger keeps it exactly-once: replaying a batch the
warehouse already holds changes nothing. Nothing found → `find_batches` is skipped.

Feed DAGs: `feed_<name>`; schema migrations: `{MIGRATE_DAG_ID}`.
"""

FIND_BATCHES_DOC = """\
Lists the committed batches (those with a manifest) of the feed whose interval starts between
`start` and `end`; its XCom is the list the `load` and `verify` tasks are mapped over. Exit 99
(none found) skips the rest of the run.
"""

REPLAY_LOAD_DOC = """\
`redfeed load` of one archived batch with `REDFEED_REPLAY=true`. A batch the ledger already
holds for its partition is a no-op.
"""

XREF_DOC = """\
Rebuilds `conference` (one row per real-world conference, stable `conference_id`) and
`conference_members` (which source listing is which conference) from the latest snapshots of
confs.tech, python-organizers, pretalx and the conference home pages, in one transaction
(`redfeed xref`, loader image). Runs whenever a feed verifies a load of a table it reads.
Views over it: `upcoming_open_cfps`, `conference_talks`, `conferences_per_country_month`,
`cfp_changes`.
"""

MIGRATE_DOC = """\
### Warehouse migrations

Runs `redfeed migrate upgrade` (Alembic, in the loader image) against the `redfeed_warehouse`
connection. The compose stack also runs it once at start-up (`warehouse-migrate`); trigger this
DAG after deploying a loader image that carries new migrations, before loads run.
"""

MIGRATE_TASK_DOC = """\
`{image} migrate upgrade`: migrates the warehouse to the newest revision the image carries.
"""
