"""The fault suite's rig: a local S3 and a PostgreSQL warehouse of its own on the test network,
so a test may cut the archive off, pause it, restart or lock the warehouse without disturbing
the other layers' containers; and the pipeline's steps (scrape, load, verify) run as the real
images, started the way DockerOperator starts them.

Every fault test ends the same way: after the fault, a clean retry must leave exactly one
committed batch for the run, and the warehouse must hold exactly that batch's rows, once: the
same rows (by checksum) as a load that never saw a fault, a ledger where records in = loaded +
rejected, and ``redfeed verify`` agreeing (:meth:`Pipeline.assert_loaded_once`).
"""

from __future__ import annotations

import contextlib
import gzip
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import docker
import orjson
import psycopg
from docker.models.containers import Container
from docker.models.networks import Network as DockerNetwork
from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.network import Network

from redfeed.archive import Archive, BatchKey, BatchWriter, Manifest, S3Store
from redfeed.contract import parse_instant
from redfeed.warehouse import migrate
from redfeed.warehouse.jsonpaths import load_columns
from tests.docker_env import (
    BUCKET,
    LocalS3,
    ScraperRun,
    last_json_line,
    start_scraper,
    wait_http,
)

S3_ALIAS = "s3-faults"
WAREHOUSE_ALIAS = "warehouse-faults"
ARCHIVE_PREFIX = "redfeed"
TEMPLATE_DB = "redfeed_template"
#: The lineage fields the archive adds to every record.
LINEAGE = ("_batch_id", "_feed", "_interval_start", "_scraped_at")
#: Fast, bounded retries: a fault test waits for the outcome, not for production's patience.
QUICK_AWS = {"AWS_MAX_ATTEMPTS": "2"}


@dataclass
class ControlledS3(LocalS3):
    """The suite's own local S3, which a test may take off the network or freeze. Objects live
    in the server's memory, so they survive both (as they would on real S3)."""

    container: Container
    network: DockerNetwork

    def refresh(self) -> None:
        """Docker publishes the port afresh when the container rejoins the network."""
        self.container.reload()
        port = self.container.ports["9000/tcp"][0]["HostPort"]
        self.endpoint_for_host = f"http://127.0.0.1:{port}"

    @contextlib.contextmanager
    def unreachable(self) -> Iterator[None]:
        """The endpoint is gone (its name no longer resolves, as in a network or DNS outage)
        until the block ends."""
        self.network.disconnect(self.container)
        try:
            yield
        finally:
            self.network.connect(self.container, aliases=[S3_ALIAS])
            self.refresh()
            wait_http(self.endpoint_for_host + "/moto-api/")

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The endpoint accepts connections but answers nothing until the block ends (a slow or
        stalled S3): ``docker pause``."""
        self.container.pause()
        try:
            yield
        finally:
            self.container.unpause()

    def store(self) -> S3Store:
        return S3Store(BUCKET, ARCHIVE_PREFIX, client=self.client())

    def keys(self, prefix: str) -> list[str]:
        """Object keys under ``prefix`` (relative to the archive's prefix)."""
        return sorted(self.store().keys(prefix))

    def env(self) -> dict[str, str]:
        return {**super().env(), **QUICK_AWS}

    def lines(self, url: str) -> list[bytes]:
        """The lines of the gzip JSON-lines object at ``url`` (a rejects file, a part)."""
        key = url.removeprefix(f"s3://{BUCKET}/")
        body = self.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return gzip.decompress(body).splitlines()


@dataclass(frozen=True)
class Snapshot:
    """A table's rows of one feed (count, order-independent checksum) and the feed's ledger."""

    rows: int
    checksum: str
    ledger: list[dict[str, Any]]

    def loaded(self) -> list[dict[str, Any]]:
        return [row for row in self.ledger if row["status"] == "loaded"]

    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.ledger if row["status"] == "failed"]


@dataclass
class Warehouse:
    """The suite's own PostgreSQL: a migrated template, and a new database from it per test."""

    container: PostgresContainer
    password: str

    @property
    def wrapped(self) -> Container:
        container: Container = self.container.get_wrapped_container()
        return container

    def host_conninfo(self, database: str) -> str:
        # Asked every time: a restarted container publishes its port afresh.
        self.wrapped.reload()
        port = self.wrapped.ports["5432/tcp"][0]["HostPort"]
        return f"postgresql://redfeed:{self.password}@127.0.0.1:{port}/{database}"

    def network_url(self, database: str) -> str:
        return f"postgresql+psycopg://redfeed:{self.password}@{WAREHOUSE_ALIAS}:5432/{database}"

    def connect(self, database: str, autocommit: bool = True) -> psycopg.Connection[Any]:
        return psycopg.connect(self.host_conninfo(database), autocommit=autocommit)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect("redfeed") as conn:
                    conn.execute("SELECT 1")
                return
            except (psycopg.Error, IndexError, KeyError, TypeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def prepare_template(self) -> None:
        with self.connect("redfeed") as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        url = self.host_conninfo(TEMPLATE_DB).replace("postgresql://", "postgresql+psycopg://")
        migrate.upgrade(url)

    def create_database(self) -> str:
        name = f"f_{secrets.token_hex(5)}"
        with self.connect("redfeed") as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (TEMPLATE_DB,),
            )
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
        return name

    def snapshot(
        self, database: str, table: str = "conferences", feed: str = "confs-tech"
    ) -> Snapshot:
        columns = ", ".join(f'"{c}"' for c in load_columns(table))
        with self.connect(database) as conn:
            count, checksum = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) FROM "
                f'(SELECT md5(row({columns})::text) AS h FROM "{table}" WHERE _feed = %s) t',
                (feed,),
            ).fetchone()  # type: ignore[misc]
            cursor = conn.execute(
                "SELECT run_id, interval_start, table_name, status, rows_in, rows_loaded, "
                "rows_rejected, reject_url, error FROM redfeed_loads WHERE feed = %s "
                "ORDER BY started_at, finished_at",
                (feed,),
            )
            names = [column.name for column in cursor.description or ()]
            ledger = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return Snapshot(count, checksum, ledger)


@dataclass
class Pipeline:
    """Scrape, load and verify with the real images against the suite's S3 and warehouse."""

    docker_client: docker.DockerClient
    network: Network
    s3: ControlledS3
    warehouse: Warehouse
    _references: dict[tuple[str, str, bytes], Snapshot] = field(default_factory=dict)

    # ---------------------------------------------------------------------------- containers
    def start_scraper(
        self,
        env: dict[str, str],
        image: str = "redfeed/scraper-confs-tech",
        program: list[str] | None = None,
    ) -> Container:
        """A scraper container; ``program`` replaces the image's spider under the same
        ``redfeed extract`` wrapper (any program printing JSON lines is a feed)."""
        if program is None:
            return start_scraper(self.docker_client, self.network, self.s3, env, image)
        full_env = {
            "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/{ARCHIVE_PREFIX}",
            "REDFEED_FEED": "confs-tech",
            **self.s3.env(),
            **env,
        }
        return self.docker_client.containers.run(
            image,
            entrypoint=["tini", "--", "redfeed", "extract", "--", *program],
            environment=full_env,
            network=self.network.name,
            detach=True,
        )

    def start_loader(
        self, database: str, env: dict[str, str], command: list[str] | None = None
    ) -> Container:
        full_env = {
            "REDFEED_FEED": "confs-tech",
            "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/{ARCHIVE_PREFIX}",
            "REDFEED_WAREHOUSE_URL": self.warehouse.network_url(database),
            **self.s3.env(),
            **env,
        }
        return self.docker_client.containers.run(
            "redfeed/loader",
            command or ["load"],
            environment=full_env,
            network=self.network.name,
            detach=True,
        )

    @staticmethod
    def finish(container: Container, timeout: float = 240) -> ScraperRun:
        """Wait for a started container; its exit code, summary (the last line) and logs."""
        try:
            status = container.wait(timeout=timeout)["StatusCode"]
            logs = container.logs(stdout=True, stderr=True).decode()
        finally:
            container.remove(force=True)
        return ScraperRun(status, last_json_line(logs), logs)

    def scrape(
        self,
        env: dict[str, str],
        image: str = "redfeed/scraper-confs-tech",
        program: list[str] | None = None,
    ) -> ScraperRun:
        return self.finish(self.start_scraper(env, image, program))

    def load(self, database: str, env: dict[str, str]) -> ScraperRun:
        return self.finish(self.start_loader(database, env))

    def verify(self, database: str, env: dict[str, str]) -> ScraperRun:
        return self.finish(self.start_loader(database, env, ["verify"]))

    # ------------------------------------------------------------------------------- archive
    def batch_prefix(self, feed: str, interval_start: str, run_id: str) -> str:
        return BatchKey(feed, parse_instant("interval", interval_start), run_id).prefix

    def manifests(self, feed: str, interval_start: str, run_id: str) -> list[str]:
        prefix = self.batch_prefix(feed, interval_start, run_id)
        return [key for key in self.s3.keys(prefix) if key.endswith("/manifest.json")]

    def manifest(self, feed: str, interval_start: str, run_id: str) -> Manifest:
        key = BatchKey(feed, parse_instant("interval", interval_start), run_id)
        found = Archive(self.s3.store()).manifest(key)
        assert found is not None, f"no manifest for {key.prefix}"
        return found

    def archived_records(self, manifest: Manifest) -> Counter[bytes]:
        """The batch's records as the source gave them (lineage removed), as a multiset; reading
        them checks every part against the manifest's sha256 and counts."""
        archive = Archive(self.s3.store())
        return Counter(
            orjson.dumps(
                {k: v for k, v in record.items() if k not in LINEAGE}, option=orjson.OPT_SORT_KEYS
            )
            for record in archive.records(manifest)
        )

    def write_batch(
        self, run_id: str, interval_start: str, records: Iterator[dict[str, Any]], **options: Any
    ) -> Manifest:
        """Commit a confs-tech batch straight from the test, as the scraper's writer would."""
        start = parse_instant("interval", interval_start)
        end = start + timedelta(days=1)
        writer = BatchWriter(self.s3.store(), BatchKey("confs-tech", start, run_id), end, **options)
        for record in records:
            writer.write_line(orjson.dumps(record))
        return writer.commit()

    # ----------------------------------------------------------------------------- warehouse
    def reference(
        self, interval_start: str, run_id: str, env: dict[str, str] | None = None
    ) -> Snapshot:
        """The table as a load that never met a fault leaves it (loaded once into a database of
        its own, then remembered); ``env``: the loader settings the load under test used."""
        key = (interval_start, run_id, orjson.dumps(env or {}, option=orjson.OPT_SORT_KEYS))
        if key not in self._references:
            database = self.warehouse.create_database()
            run = self.load(
                database,
                {"REDFEED_INTERVAL_START": interval_start, "REDFEED_RUN_ID": run_id, **(env or {})},
            )
            assert run.exit_code == 0, run.logs[-3000:]
            self._references[key] = self.warehouse.snapshot(database)
        return self._references[key]

    def assert_loaded_once(
        self,
        database: str,
        interval_start: str,
        run_id: str,
        records: int,
        env: dict[str, str] | None = None,
    ) -> Snapshot:
        """Nothing lost, nothing duplicated: the warehouse holds exactly the batch's rows, the
        same rows as a fault-free load, the ledger reconciles and ``redfeed verify`` agrees."""
        now = self.warehouse.snapshot(database)
        reference = self.reference(interval_start, run_id, env)
        assert now.rows == records, f"{now.rows} rows, the batch has {records} records"
        assert (now.rows, now.checksum) == (reference.rows, reference.checksum)
        latest = now.loaded()[-1]
        assert latest["run_id"] == run_id
        assert latest["rows_in"] == latest["rows_loaded"] + latest["rows_rejected"]
        assert latest["rows_loaded"] == records
        assert latest["rows_loaded"] == reference.loaded()[-1]["rows_loaded"]
        check = self.verify(
            database, {"REDFEED_INTERVAL_START": interval_start, "REDFEED_RUN_ID": run_id}
        )
        assert check.exit_code == 0, check.logs[-3000:]
        return now


def wait_for(condition: Any, what: str, timeout: float = 60, interval: float = 0.1) -> Any:
    """Poll ``condition()`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def copy_progress(warehouse: Warehouse, database: str) -> int:
    """Rows the server has taken so far from a COPY into ``database`` (0 when none runs)."""
    with warehouse.connect(database) as conn:
        row = conn.execute(
            "SELECT max(tuples_processed) FROM pg_stat_progress_copy p "
            "JOIN pg_database d ON d.oid = p.datid WHERE d.datname = %s",
            (database,),
        ).fetchone()
    return int((row[0] if row else None) or 0)


def conference_records(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """Generated confs-tech records (see tests.records.conference)."""
    from tests.records import conference

    for n in range(start, start + count):
        yield conference(n)
