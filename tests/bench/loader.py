"""Loader throughput, side by side in one run on one machine (``make bench``).

For each batch size: N generated confs.tech-shaped records (nested arrays included) archived as
gzip JSON lines in the local S3, then loaded into PostgreSQL by
  - floor:   ``COPY … FROM STDIN (FORMAT csv)`` of the same rows pre-flattened to CSV on disk
             (what every loader pays at least);
  - redfeed: ``redfeed load`` as a process (S3 read, gunzip, validation, JSONPaths, staging,
             delete/insert, ledger) — peak RSS read from the kernel after it exits.
Each figure is the min and median of ``--repeat`` runs; claims are ratios, not absolute times.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import docker
import orjson
import psycopg

from redfeed.archive import BatchKey, BatchWriter, S3Store
from redfeed.warehouse import migrate
from redfeed.warehouse.jsonpaths import table_spec
from redfeed.warehouse.rows import RowBuilder

BUCKET = "bench"
# moto accepts any credentials; the loader process gets the same ones.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
TOPICS = ["python", "data", "devops", "javascript", "rust", "security", "general", "ux"]


def records(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    base = datetime(2025, 1, 1)
    for i in range(n):
        start = base + timedelta(days=rng.randrange(365))
        yield {
            "name": f"Conference {i} {rng.choice(['Summit', 'Days', 'Conf'])}",
            "url": f"https://conf{i}.example.org/2025",
            "startDate": start.date().isoformat(),
            "endDate": (start + timedelta(days=rng.randrange(3))).date().isoformat(),
            "city": rng.choice(["Berlin", "東京", "São Paulo", "Austin, TX", "Wrocław"]),
            "country": rng.choice(["Germany", "Japan", "Brazil", "U.S.A.", "Poland"]),
            "online": rng.random() < 0.2,
            "locales": rng.sample(["EN", "DE", "JA", "PT", "PL"], k=rng.randrange(1, 4)),
            "cfpUrl": f"https://conf{i}.example.org/cfp",
            "cfpEndDate": (start - timedelta(days=60)).date().isoformat(),
            "twitter": f"@conf{i}",
            "topic": rng.choice(TOPICS),
            "year": 2025,
            "sourcePath": "conferences/2025/python.json",
            "speakers": [{"name": f"Speaker {j}", "tags": ["a", "b"]} for j in range(3)],
        }


@contextmanager
def services() -> Iterator[tuple[str, str]]:
    """A PostgreSQL and a local S3 of the project's own images, on host ports."""
    client = docker.from_env()
    password = secrets.token_hex(8)
    pg = client.containers.run(
        "redfeed/postgres",
        ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_wal_size=4GB"],
        environment={"POSTGRES_PASSWORD": password, "POSTGRES_DB": "bench"},
        ports={"5432/tcp": ("127.0.0.1", None)},
        detach=True,
    )
    s3 = client.containers.run("redfeed/s3", ports={"9000/tcp": ("127.0.0.1", None)}, detach=True)
    try:
        for c in (pg, s3):
            deadline = time.monotonic() + 60
            while (
                client.api.inspect_container(c.id)["State"].get("Health", {}).get("Status")
                != "healthy"
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{c.name} did not become healthy")
                time.sleep(0.5)
        pg.reload()
        s3.reload()
        pg_port = pg.ports["5432/tcp"][0]["HostPort"]
        s3_port = s3.ports["9000/tcp"][0]["HostPort"]
        yield (
            f"postgresql+psycopg://postgres:{password}@127.0.0.1:{pg_port}/bench",
            f"http://127.0.0.1:{s3_port}",
        )
    finally:
        for c in (pg, s3):
            c.remove(force=True)


@dataclass
class Figure:
    name: str
    size: int
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    mb: float = 0.0

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def rows_per_s(self, seconds: float) -> float:
        return self.size / seconds


def archive_batch(endpoint: str, size: int, run_id: str, start: datetime) -> tuple[int, Path]:
    """Archive ``size`` records to S3 and the same rows as CSV (the floor's input)."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    store = S3Store(BUCKET, "redfeed", client=client)
    writer = BatchWriter(store, BatchKey("confs-tech", start, run_id), start + timedelta(days=1))
    builder = RowBuilder(table_spec("conferences"))
    csv_path = Path(tempfile.mkstemp(suffix=".csv")[1])
    raw_bytes = 0
    with csv_path.open("w", newline="") as out:
        rows = csv.writer(out)
        for record in records(size):
            line = orjson.dumps(record)
            raw_bytes += len(line) + 1
            writer.write_line(line)
        writer.commit()
        # The floor gets the rows exactly as the loader would produce them (lineage included).
        archive = __import__("redfeed.archive", fromlist=["Archive"]).Archive(store)
        manifest = archive.manifest(BatchKey("confs-tech", start, run_id))
        for entry in manifest.files:
            for archived in archive.lines(entry):
                rows.writerow(["" if v is None else v for v in builder.build(archived)])
    return raw_bytes, csv_path


def floor(url: str, csv_path: Path) -> float:
    columns = ", ".join(f'"{c}"' for c in table_spec("conferences").column_names)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS floor_target")
        conn.execute("CREATE TABLE floor_target (LIKE conferences INCLUDING DEFAULTS)")
        started = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(f"COPY floor_target ({columns}) FROM STDIN (FORMAT csv)") as copy,
            csv_path.open("rb") as source,
        ):
            while block := source.read(1024 * 1024):
                copy.write(block)
        return time.perf_counter() - started


def redfeed_load(url: str, endpoint: str, start: datetime, run_id: str) -> tuple[float, float]:
    env = {
        **os.environ,
        "REDFEED_FEED": "confs-tech",
        "REDFEED_INTERVAL_START": start.isoformat(),
        "REDFEED_RUN_ID": run_id,
        "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/redfeed",
        "REDFEED_WAREHOUSE_URL": url,
        "REDFEED_REPLAY": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "REDFEED_LOG_LEVEL": "WARNING",
    }
    redfeed = str(Path(sys.executable).with_name("redfeed"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([redfeed, "load"], env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-2000:])
    summary = orjson.loads(done.stdout.splitlines()[-1])
    assert summary["rows_loaded"] + summary["rows_rejected"] == summary["rows_in"]
    # ru_maxrss of children is the max over all of them so far: sizes run small to large.
    rss_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return seconds, rss_kb / 1024


def run(sizes: list[int], repeat: int) -> str:
    """Run the loader benchmark; its section of BENCHMARKS.md."""
    results: list[tuple[Figure, Figure]] = []
    with services() as (url, endpoint):
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=BUCKET
        )
        migrate.upgrade(url)
        for index, size in enumerate(sizes):
            start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=index)
            run_id = f"bench-{size}"
            print(f"generating {size:,} records ...", file=sys.stderr)
            raw_bytes, csv_path = archive_batch(endpoint, size, run_id, start)
            low, ours = Figure("floor: COPY csv", size), Figure("redfeed load", size)
            low.mb = ours.mb = raw_bytes / 1e6
            for attempt in range(repeat):
                low.seconds.append(floor(url, csv_path))
                seconds, rss = redfeed_load(url, endpoint, start, run_id)
                ours.seconds.append(seconds)
                ours.rss_mb.append(rss)
                # Force a real reload next time: forget the ledger row for this interval.
                with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
                    conn.execute("DELETE FROM redfeed_loads WHERE run_id = %s", (run_id,))
                print(
                    f"  {size:>9,} run {attempt + 1}: floor {low.seconds[-1]:.2f}s, "
                    f"redfeed {seconds:.2f}s ({rss:.0f} MB RSS)",
                    file=sys.stderr,
                )
            csv_path.unlink()
            results.append((low, ours))
    return report(results)


def report(results: list[tuple[Figure, Figure]]) -> str:
    lines = [
        "| records | JSON MB | floor rows/s (min / median s) | redfeed rows/s (min / median s) "
        "| redfeed MB/s | ratio (best) | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for low, ours in results:
        lines.append(
            f"| {low.size:,} | {low.mb:.0f} | {low.rows_per_s(low.best):,.0f} "
            f"({low.best:.2f} / {low.median:.2f}) | {ours.rows_per_s(ours.best):,.0f} "
            f"({ours.best:.2f} / {ours.median:.2f}) | {ours.mb / ours.best:.1f} | "
            f"{low.best / ours.best:.2f} | {max(ours.rss_mb):.0f} |"
        )
    return (
        "## Loader throughput: gzip JSON lines in the local S3 → PostgreSQL\n\n"
        "floor = `COPY … FROM STDIN (FORMAT csv)` of the same rows pre-flattened to CSV; redfeed = "
        "`redfeed load` (S3 read, gunzip, validation, JSONPaths, staging, delete/insert, ledger). "
        "ratio = floor time / redfeed time (1.0 = as fast as the floor). Peak RSS is the largest "
        "loader process (the parent or one pre-flight worker).\n\n" + "\n".join(lines) + "\n"
    )
