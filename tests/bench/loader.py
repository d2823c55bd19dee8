"""Loader throughput, side by side in one run on one machine (``make bench``).

For each batch size: N generated confs.tech-shaped records (nested arrays included) archived as
gzip JSON lines in the local S3, then loaded into the same PostgreSQL by
  - floor:   ``COPY … FROM STDIN (FORMAT csv)`` of the same rows pre-flattened to CSV on disk
             (what every loader pays at least);
  - redfeed: ``redfeed load`` as a process (S3 read, gunzip, validation, JSONPaths, the
             partition deleted and COPY in one transaction, ledger);
  - dlt:     the peer, ``tests/bench/dlt_peer.py`` under build/bench-venv's Python: dlt's
             defaults, reading the same S3 objects (batch sizes above ``peer_max``: not run);
  - naive:   psycopg ``executemany`` INSERT of the same rows (the first ``NAIVE_MAX`` at most).
Processes (redfeed, dlt) are timed whole, start-up included, and their peak RSS is the kernel's
figure for that process tree (``wait4``). Each figure is the min and median of ``--repeat`` runs;
claims are ratios, not absolute times. Then the Redshift load shape: the largest batch archived
with ``slices`` = 1, 4 and 16, and the sizes of the parts it became.
"""

from __future__ import annotations

import csv
import os
import random
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

from redfeed.archive import Archive, BatchKey, BatchWriter, Manifest, S3Store
from redfeed.archive.writer import MAX_COPY_PART_BYTES, MIN_COPY_PART_BYTES
from redfeed.warehouse import migrate
from redfeed.warehouse.jsonpaths import table_spec
from redfeed.warehouse.rows import Row, RowBuilder

BUCKET = "bench"
# moto accepts any credentials; the loader process gets the same ones.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
TOPICS = ["python", "data", "devops", "javascript", "rust", "security", "general", "ux"]
#: The naive loader gets at most this many rows of a batch (it is the slowest by far).
NAIVE_MAX = 200_000
#: The slice counts the load-shape section archives the largest batch with.
SHAPE_SLICES = (1, 4, 16)
HERE = Path(__file__).resolve().parent


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


@dataclass(frozen=True)
class Services:
    url: str  # SQLAlchemy URL (redfeed)
    endpoint: str  # the local S3

    @property
    def dsn(self) -> str:  # libpq URL (psycopg, dlt)
        return self.url.replace("+psycopg", "")


def _run(client: Any, image: str, command: list[str] | None, **kwargs: Any) -> Any:
    """Start a container on a random host port, picking again if Docker's pick was taken
    (see PORT_CLASH in tests/docker_env.py)."""
    for attempt in range(1, 5):
        container = client.containers.create(image, command, **kwargs)
        try:
            container.start()
            return container
        except docker.errors.APIError as exc:
            container.remove(force=True)
            if "address already in use" not in str(exc) or attempt == 4:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


@contextmanager
def services() -> Iterator[Services]:
    """A PostgreSQL and a local S3 of the project's own images, on host ports."""
    client = docker.from_env()
    password = secrets.token_hex(8)
    pg = _run(
        client,
        "redfeed/postgres",
        ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_wal_size=4GB"],
        environment={"POSTGRES_PASSWORD": password, "POSTGRES_DB": "bench"},
        ports={"5432/tcp": ("127.0.0.1", None)},
    )
    s3 = _run(client, "redfeed/s3", None, ports={"9000/tcp": ("127.0.0.1", None)})
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
        yield Services(
            f"postgresql+psycopg://postgres:{password}@127.0.0.1:{pg_port}/bench",
            f"http://127.0.0.1:{s3_port}",
        )
    finally:
        for c in (pg, s3):
            c.remove(force=True)


@dataclass
class Figure:
    """One loader at one batch size: ``records`` per run (fewer than the batch for a subset)."""

    records: int
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        """Records per second of the best run."""
        return self.records / self.best


@dataclass
class SizeResult:
    size: int
    json_mb: float
    floor: Figure
    redfeed: Figure
    naive: Figure
    peer: Figure | None  # None: above the peer's cap, not run
    peer_rows: dict[str, int] = field(default_factory=dict)


@dataclass
class PartShape:
    slices: int
    manifest: Manifest

    @property
    def sizes_mib(self) -> list[float]:
        return [f.bytes / 2**20 for f in self.manifest.files]


@dataclass
class LoaderReport:
    markdown: str
    series: dict[str, list[tuple[int, float]]]
    versions: dict[str, str]


@dataclass
class Batch:
    """One archived batch and the floor's and the naive loader's inputs."""

    start: datetime
    run_id: str
    manifest: Manifest
    json_bytes: int
    csv_path: Path
    naive_rows: list[Row]


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def write_batch(
    endpoint: str, size: int, run_id: str, start: datetime, slices: int = 1
) -> tuple[Manifest, int]:
    """Archive ``size`` generated records; (manifest, bytes of JSON lines written)."""
    store = S3Store(BUCKET, "redfeed", client=s3_client(endpoint))
    writer = BatchWriter(
        store, BatchKey("confs-tech", start, run_id), start + timedelta(days=1), slices=slices
    )
    json_bytes = 0
    for record in records(size):
        line = orjson.dumps(record)
        json_bytes += len(line) + 1
        writer.write_line(line)
    return writer.commit(), json_bytes


def archive_batch(endpoint: str, size: int, run_id: str, start: datetime) -> Batch:
    """Archive the batch, then the same rows as CSV (the floor's input) and as tuples (the naive
    loader's), exactly as the loader would build them (lineage included)."""
    manifest, json_bytes = write_batch(endpoint, size, run_id, start)
    archive = Archive(S3Store(BUCKET, "redfeed", client=s3_client(endpoint)))
    builder = RowBuilder(table_spec("conferences"))
    csv_path = Path(tempfile.mkstemp(suffix=".csv")[1])
    naive_rows: list[Row] = []
    with csv_path.open("w", newline="") as out:
        rows = csv.writer(out)
        for entry in manifest.files:
            for archived in archive.lines(entry):
                row = builder.build(archived)
                rows.writerow(["" if v is None else v for v in row])
                if len(naive_rows) < NAIVE_MAX:
                    naive_rows.append(row)
    return Batch(start, run_id, manifest, json_bytes, csv_path, naive_rows)


def _columns() -> str:
    return ", ".join(f'"{c}"' for c in table_spec("conferences").column_names)


def _fresh_table(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} (LIKE conferences INCLUDING DEFAULTS)")


def floor(dsn: str, csv_path: Path) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        _fresh_table(conn, "floor_target")
        started = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(f"COPY floor_target ({_columns()}) FROM STDIN (FORMAT csv)") as copy,
            csv_path.open("rb") as source,
        ):
            while block := source.read(1024 * 1024):
                copy.write(block)
        return time.perf_counter() - started


def naive(dsn: str, rows: list[Row]) -> float:
    """What a first loader often is: one parameterised INSERT per row (psycopg batches them in
    pipeline mode), in one transaction."""
    placeholders = ", ".join(["%s"] * len(table_spec("conferences").column_names))
    with psycopg.connect(dsn, autocommit=True) as conn:
        _fresh_table(conn, "naive_target")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO naive_target ({_columns()}) VALUES ({placeholders})", rows
            )
        return time.perf_counter() - started


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """Run a process to its end: (wall seconds, peak RSS MB of its process tree, stdout)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".rss") as rss,
    ):
        # Through a small launcher: see peak_rss.py for why not straight from this process.
        launcher = [sys.executable, "-I", str(HERE / "peak_rss.py"), rss.name]
        started = time.perf_counter()
        done = subprocess.run([*launcher, *command], env=env, stdout=out, stderr=err, check=False)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if done.returncode != 0:
            raise RuntimeError(f"{command[:2]} failed: {err.read().decode()[-3000:]}")
        return seconds, int(rss.read()) / 1024, out.read()


def redfeed_load(where: Services, batch: Batch) -> tuple[float, float]:
    env = {
        **os.environ,
        "REDFEED_FEED": "confs-tech",
        "REDFEED_INTERVAL_START": batch.start.isoformat(),
        "REDFEED_RUN_ID": batch.run_id,
        "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/redfeed",
        "REDFEED_WAREHOUSE_URL": where.url,
        "REDFEED_REPLAY": "true",
        "AWS_ENDPOINT_URL": where.endpoint,
        "REDFEED_LOG_LEVEL": "WARNING",
    }
    redfeed = str(Path(sys.executable).with_name("redfeed"))
    seconds, rss, stdout = measured([redfeed, "load"], env)
    summary = orjson.loads(stdout.splitlines()[-1])
    assert summary["rows_loaded"] + summary["rows_rejected"] == summary["rows_in"]
    assert summary["rows_loaded"] == batch.manifest.records, summary
    # The next run starts where this one did, as every floor run starts from a fresh table: the
    # ledger forgets the load and the partition is emptied and vacuumed (not timed), so each
    # timed load is the load of a new interval, not the replacement of a loaded one.
    with psycopg.connect(where.dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM redfeed_loads WHERE run_id = %s", (batch.run_id,))
        conn.execute(
            "DELETE FROM conferences WHERE _feed = 'confs-tech' AND _interval_start = %s",
            (batch.start.replace(tzinfo=None),),
        )
        conn.execute("VACUUM conferences")
    return seconds, rss


def peer_load(
    where: Services, batch: Batch, peer_python: Path, dataset: str
) -> tuple[float, float, dict[str, Any]]:
    """dlt into its own schema of the same database; the schema is dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as workdir:
        command = [
            str(peer_python),
            str(HERE / "dlt_peer.py"),
            "--endpoint",
            where.endpoint,
            "--dsn",
            where.dsn,
            "--dataset",
            dataset,
            "--workdir",
            workdir,
            *[f.url for f in batch.manifest.files],
        ]
        env = {**os.environ, "DLT_DATA_DIR": workdir, "RUNTIME__LOG_LEVEL": "WARNING"}
        seconds, rss, stdout = measured(command, env)
    summary = orjson.loads(stdout.splitlines()[-1])
    if summary["records"] != batch.manifest.records:
        raise RuntimeError(f"dlt loaded {summary['records']} of {batch.manifest.records}")
    with psycopg.connect(where.dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{dataset}" CASCADE')
    return seconds, rss, summary


def part_shapes(where: Services, size: int, first: Manifest) -> list[PartShape]:
    """The largest batch as the archive writer splits it for 1, 4 and 16 Redshift slices."""
    shapes = [PartShape(1, first)]
    for index, slices in enumerate(s for s in SHAPE_SLICES if s != 1):
        start = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=index)
        print(f"archiving {size:,} records for {slices} slices ...", file=sys.stderr)
        manifest, _ = write_batch(where.endpoint, size, f"shape-{slices}", start, slices)
        shapes.append(PartShape(slices, manifest))
    return shapes


def run(sizes: list[int], repeat: int, peer_python: Path, peer_max: int) -> LoaderReport:
    """Run the loader benchmark; its sections of BENCHMARKS.md, the chart's series, versions."""
    results: list[SizeResult] = []
    versions: dict[str, str] = {}
    with services() as where:
        s3_client(where.endpoint).create_bucket(Bucket=BUCKET)
        migrate.upgrade(where.url)
        with psycopg.connect(where.dsn) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            versions["PostgreSQL"] = str(row[0]) if row else "?"
        for index, size in enumerate(sorted(sizes)):
            start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=index)
            print(f"generating {size:,} records ...", file=sys.stderr)
            batch = archive_batch(where.endpoint, size, f"bench-{size}", start)
            result = SizeResult(
                size=size,
                json_mb=batch.json_bytes / 1e6,
                floor=Figure(size),
                redfeed=Figure(size),
                naive=Figure(len(batch.naive_rows)),
                peer=Figure(size) if size <= peer_max else None,
            )
            for attempt in range(repeat):
                result.floor.seconds.append(floor(where.dsn, batch.csv_path))
                seconds, rss = redfeed_load(where, batch)
                result.redfeed.seconds.append(seconds)
                result.redfeed.rss_mb.append(rss)
                result.naive.seconds.append(naive(where.dsn, batch.naive_rows))
                line = (
                    f"  {size:>9,} run {attempt + 1}: floor {result.floor.seconds[-1]:.2f}s, "
                    f"redfeed {seconds:.2f}s ({rss:.0f} MB RSS), "
                    f"naive {result.naive.seconds[-1]:.2f}s ({result.naive.records:,} rows)"
                )
                if result.peer is not None:
                    dataset = f"dlt_{size}_{attempt}"
                    seconds, rss, summary = peer_load(where, batch, peer_python, dataset)
                    result.peer.seconds.append(seconds)
                    result.peer.rss_mb.append(rss)
                    result.peer_rows = summary["row_counts"]
                    versions["dlt"] = summary["dlt_version"]
                    line += f", dlt {seconds:.2f}s ({rss:.0f} MB RSS)"
                print(line, file=sys.stderr)
            batch.csv_path.unlink()
            results.append(result)
            largest = batch.manifest
        shapes = part_shapes(where, results[-1].size, largest)
    series = {
        "floor: COPY csv": [(r.size, r.floor.rate) for r in results],
        "redfeed load": [(r.size, r.redfeed.rate) for r in results],
        "dlt (peer)": [(r.size, r.peer.rate) for r in results if r.peer is not None],
        "naive executemany": [(r.naive.records, r.naive.rate) for r in results],
    }
    markdown = report(results, peer_max) + "\n" + shape_report(results[-1].size, shapes)
    return LoaderReport(markdown, series, versions)


def _ratio(value: float) -> str:
    """Three significant digits: 0.00412, 0.71, 21.3, 1,234."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _cell(figure: Figure, size: int) -> str:
    subset = "" if figure.records == size else f"first {figure.records:,}: "
    return f"{figure.rate:,.0f} ({subset}{figure.best:.2f} / {figure.median:.2f} s)"


def report(results: list[SizeResult], peer_max: int) -> str:
    measured_peer = [r for r in results if r.peer is not None]
    peer_basis = measured_peer[-1] if measured_peer else None
    basis_rate = peer_basis.peer.rate if peer_basis and peer_basis.peer else None
    lines = [
        "| records | JSON MB | floor rec/s (min / median s) | redfeed rec/s (min / median s) "
        "| dlt rec/s (min / median s) | naive rec/s (min / median s) | redfeed ÷ floor "
        "| redfeed ÷ dlt | redfeed ÷ naive | redfeed peak RSS MB | dlt peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ours = r.redfeed.rate
        if r.peer is not None:
            peer_cell = _cell(r.peer, r.size)
            peer_ratio = _ratio(ours / r.peer.rate)
            peer_rss = f"{max(r.peer.rss_mb):.0f}"
        else:
            peer_cell = f"not run (over {peer_max:,})"
            peer_ratio = f"{_ratio(ours / basis_rate)}†" if basis_rate else "n/a"
            peer_rss = "n/a"
        lines.append(
            f"| {r.size:,} | {r.json_mb:.1f} | {_cell(r.floor, r.size)} "
            f"| {_cell(r.redfeed, r.size)} | {peer_cell} | {_cell(r.naive, r.size)} "
            f"| {_ratio(ours / r.floor.rate)} | {peer_ratio} | {_ratio(ours / r.naive.rate)} "
            f"| {max(r.redfeed.rss_mb):.0f} | {peer_rss} |"
        )
    notes = [
        "floor = `COPY … FROM STDIN (FORMAT csv)` of the same rows pre-flattened to CSV (no "
        "parsing, no validation: the least any loader pays); redfeed = `redfeed load` as a "
        "process (S3 read, gunzip, validation, JSONPaths, delete and COPY in one transaction, "
        "ledger), each run loading a new interval (the partition emptied and vacuumed between "
        "runs, untimed, as the floor loads a fresh table each run); "
        "dlt = dlt with its defaults in its own venv, reading the same gzip JSON-lines objects "
        "from the local S3, nested lists into child tables; naive = psycopg `executemany` of "
        f"one INSERT per row (the first {NAIVE_MAX:,} rows of larger batches). Processes are "
        "timed whole, start-up included. rec/s is the best run; ratios are redfeed's rec/s over "
        "the other's (above 1: redfeed is faster). Peak RSS is the largest process of the "
        "loader's process tree (redfeed: the parent or one pre-flight worker).",
    ]
    if peer_basis is not None:
        children = {k: v for k, v in peer_basis.peer_rows.items() if k != "conferences"}
        if children:
            detail = ", ".join(f"{k} {v:,}" for k, v in sorted(children.items()))
            notes.append(
                f"dlt also writes the nested lists as child tables (at {peer_basis.size:,} "
                f"records: {detail} rows); redfeed's `conferences` table keeps only the "
                "columns its model declares."
            )
        if any(r.peer is None for r in results):
            notes.append(
                f"† dlt is not run above {peer_max:,} records (it runs at a few thousand records "
                f"a second); the ratio uses its rate at {peer_basis.size:,} records, where its "
                "rate has levelled off: an extrapolation, not a measurement."
            )
    return (
        "## Loader throughput: gzip JSON lines in the local S3 → PostgreSQL\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n\n".join(notes)
        + "\n\n"
        + targets(results, peer_basis)
    )


def targets(results: list[SizeResult], peer_basis: SizeResult | None) -> str:
    """Issue 7's targets, checked at the largest batch (the claims are ratios)."""
    top = results[-1]
    ours = top.redfeed.rate
    rss = [max(r.redfeed.rss_mb) for r in results]
    checks = [
        f"redfeed ≥ 0.7 x floor at {top.size:,}: {_ratio(ours / top.floor.rate)} "
        f"({'met' if ours >= 0.7 * top.floor.rate else 'not met'})",
    ]
    if peer_basis is not None and peer_basis.peer is not None:
        ratio = ours / peer_basis.peer.rate
        basis = "" if peer_basis is top else f" (dlt at {peer_basis.size:,}†)"
        checks.append(
            f"redfeed ≥ 20 x dlt at {top.size:,}{basis}: {_ratio(ratio)} "
            f"({'met' if ratio >= 20 else 'not met'})"
        )
    flat = max(rss) - min(rss)
    checks.append(
        f"redfeed peak RSS < 300 MB and flat from {results[0].size:,} to {top.size:,} records: "
        f"{min(rss):.0f} to {max(rss):.0f} MB ({'met' if max(rss) < 300 else 'not met'}; "
        f"spread {flat:.0f} MB)"
    )
    return "Targets (issue 7):\n\n" + "\n".join(f"- {c}" for c in checks) + "\n"


def shape_report(size: int, shapes: list[PartShape]) -> str:
    lines = [
        "| slices | parts | a multiple of slices | compressed MiB min / median / max "
        "| records per part min / max | all within 1 MiB to 1 GiB |",
        "|---:|---:|---|---:|---:|---|",
    ]
    for shape in shapes:
        sizes = shape.sizes_mib
        counts = [f.records for f in shape.manifest.files]
        within = all(
            MIN_COPY_PART_BYTES <= f.bytes <= MAX_COPY_PART_BYTES for f in shape.manifest.files
        )
        if len(sizes) % shape.slices == 0:
            multiple = "yes"
        elif len(sizes) == 1:
            multiple = f"one part (batch under {shape.slices} MiB compressed)"
        else:
            multiple = "no"
        lines.append(
            f"| {shape.slices} | {len(sizes)} | {multiple} "
            f"| {min(sizes):.2f} / {statistics.median(sizes):.2f} / {max(sizes):.2f} "
            f"| {min(counts):,} / {max(counts):,} | {'yes' if within else 'no'} |"
        )
    return (
        f"## Redshift load shape: the {size:,}-record batch as archive parts\n\n"
        "`REDFEED_COPY_SLICES` (the cluster's slice count) makes the archive writer split a "
        "batch larger than slices x 1 MiB compressed into a multiple of slices parts of about "
        "equal size, which COPY loads in parallel, one per slice; a smaller batch stays one "
        "part. slices = 1 is the default (parts roll over at `REDFEED_PART_MAX_RECORDS` = "
        "500,000 records).\n\n" + "\n".join(lines) + "\n"
    )
