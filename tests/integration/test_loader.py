"""The loader image against a real PostgreSQL and the local S3, with batches archived by the real
scraper image: exactly-once under repeats, concurrency and kill -9; quarantine of bad input."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import docker
import orjson
import psycopg
import pytest
from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.network import Network

from redfeed.archive import Archive, BatchKey, BatchWriter, S3Store
from redfeed.warehouse import migrate
from redfeed.warehouse.destinations.postgres import conninfo
from redfeed.warehouse.jsonpaths import load_columns, table_spec
from redfeed.warehouse.rows import RowBuilder
from tests.docker_env import BUCKET, LocalS3, ScraperRun, last_json_line, start_scraper
from tests.records import conference

PASSWORD = "loader-test-pw"
IN_NETWORK_URL = f"postgresql+psycopg://redfeed:{PASSWORD}@warehouse:5432/redfeed"


@pytest.fixture(scope="module")
def warehouse(network: Network) -> Iterator[str]:
    """A migrated PostgreSQL reachable as ``warehouse`` inside the network; yields its host URL."""
    container = (
        PostgresContainer(
            "redfeed/postgres",
            username="redfeed",
            password=PASSWORD,
            dbname="redfeed",
            driver="psycopg",
        )
        .with_command("-c fsync=off -c synchronous_commit=off")
        .with_network(network)
        .with_network_aliases("warehouse")
    )
    with container:
        url = str(container.get_connection_url())
        migrate.upgrade(url)
        yield url


def snapshot(url: str, feed: str = "confs-tech") -> dict[str, Any]:
    """Row count and an order-independent checksum of the loaded columns, the ledger, and the
    schema's tables (a load must leave no table behind)."""
    columns = ", ".join(f'"{c}"' for c in load_columns("conferences"))
    with psycopg.connect(conninfo(url)) as conn:
        count, checksum = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) FROM "
            f"(SELECT md5(row({columns})::text) AS h FROM conferences WHERE _feed = %s) t",
            (feed,),
        ).fetchone()  # type: ignore[misc]
        ledger = conn.execute(
            "SELECT run_id, interval_start, status, rows_in, rows_loaded, rows_rejected "
            "FROM redfeed_loads WHERE feed = %s ORDER BY started_at",
            (feed,),
        ).fetchall()
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        ).fetchall()
    return {"rows": count, "checksum": checksum, "ledger": ledger, "tables": tables}


@pytest.fixture(scope="module")
def run_loader(
    docker_client: docker.DockerClient, network: Network, s3: LocalS3
) -> Callable[..., ScraperRun]:
    def run(
        env: dict[str, str], command: list[str] | None = None, timeout: float = 180
    ) -> ScraperRun:
        container = start_loader(docker_client, network, s3, env, command)
        try:
            status = container.wait(timeout=timeout)["StatusCode"]
            logs = container.logs().decode()
        finally:
            container.remove(force=True)
        return ScraperRun(status, last_json_line(logs), logs)

    return run


def start_loader(
    client: docker.DockerClient,
    network: Network,
    s3: LocalS3,
    env: dict[str, str],
    command: list[str] | None = None,
) -> Any:
    full_env = {
        "REDFEED_FEED": "confs-tech",
        "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/redfeed",
        "REDFEED_WAREHOUSE_URL": IN_NETWORK_URL,
        **s3.env(),
        **env,
    }
    return client.containers.run(
        "redfeed/loader",
        command or ["load"],
        environment=full_env,
        network=network.name,
        detach=True,
    )


@pytest.fixture(scope="module")
def scraped(
    confs_tech_dir: Path,
    start_mirror: Callable[..., str],
    docker_client: docker.DockerClient,
    network: Network,
    s3: LocalS3,
) -> Callable[[str], dict[str, Any]]:
    """Archive the 2024 confs.tech files with the real scraper image under a given run id."""
    mirror = start_mirror(confs_tech_dir)

    def scrape(run_id: str) -> dict[str, Any]:
        env = {
            "REDFEED_SOURCE_URL": mirror,
            "REDFEED_RUN_ID": run_id,
            "REDFEED_INTERVAL_START": "2024-01-01",
            "REDFEED_INTERVAL_END": "2024-01-02",
            "REDFEED_DOWNLOAD_DELAY": "0",
        }
        container = start_scraper(docker_client, network, s3, env)
        try:
            assert container.wait(timeout=180)["StatusCode"] == 0, container.logs().decode()[-3000:]
            return last_json_line(container.logs().decode())
        finally:
            container.remove(force=True)

    return scrape


def test_loads_are_exactly_once_across_repeats_and_concurrent_loaders(
    warehouse: str,
    scraped: Callable[[str], dict[str, Any]],
    run_loader: Callable[..., ScraperRun],
    docker_client: docker.DockerClient,
    network: Network,
    s3: LocalS3,
) -> None:
    first = scraped("daily-a")
    env = {"REDFEED_INTERVAL_START": "2024-01-01"}
    run = run_loader(env)
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.summary["rows_in"] == first["records"] > 800
    assert run.summary["rows_loaded"] == first["records"]
    assert run.summary["rows_rejected"] == 0
    assert run.summary["run_id"] == "daily-a"
    loaded = snapshot(warehouse)
    assert loaded["rows"] == first["records"]
    assert [row[0] for row in loaded["ledger"]] == ["daily-a"]

    for _ in range(5):
        again = run_loader(env)
        assert again.exit_code == 0, again.logs[-3000:]
        assert again.summary["already_loaded"] is True
        assert snapshot(warehouse) == loaded

    # A newer batch of the same interval, loaded by two loaders at once: one replaces the
    # partition, the other finds it done. Never twice the rows.
    second = scraped("daily-b")
    racers = [start_loader(docker_client, network, s3, env) for _ in range(2)]
    outcomes = []
    for container in racers:
        assert container.wait(timeout=180)["StatusCode"] == 0, container.logs().decode()[-3000:]
        outcomes.append(last_json_line(container.logs().decode()))
        container.remove(force=True)
    assert sorted(o["already_loaded"] for o in outcomes) == [False, True]
    after = snapshot(warehouse)
    assert after["rows"] == second["records"]
    assert [row[0] for row in after["ledger"]] == ["daily-a", "daily-b"]
    assert after["checksum"] != loaded["checksum"]  # _batch_id differs

    # Loading the older run over the newer one is refused, unless it is an explicit replay.
    refused = run_loader({**env, "REDFEED_RUN_ID": "daily-a"})
    assert refused.exit_code == 78, refused.logs[-2000:]
    assert "REDFEED_REPLAY" in refused.summary["error"]
    now = snapshot(warehouse)
    assert (now["rows"], now["checksum"]) == (after["rows"], after["checksum"])
    assert now["ledger"][-1][:3:2] == ("daily-a", "failed"), "the refusal is on record"
    replayed = run_loader({**env, "REDFEED_RUN_ID": "daily-a", "REDFEED_REPLAY": "true"})
    assert replayed.exit_code == 0, replayed.logs[-2000:]
    assert snapshot(warehouse)["checksum"] == loaded["checksum"]

    # Replaying the batch the partition already holds (after a loader fix, say) reloads it:
    # the same rows, once; the ledger shows the new load.
    again = run_loader({**env, "REDFEED_RUN_ID": "daily-a", "REDFEED_REPLAY": "true"})
    assert again.exit_code == 0, again.logs[-2000:]
    assert again.summary["already_loaded"] is False
    assert again.summary["rows_replaced"] == first["records"]
    final = snapshot(warehouse)
    assert (final["rows"], final["checksum"]) == (loaded["rows"], loaded["checksum"])
    assert [row[:3:2] for row in final["ledger"][-2:]] == [("daily-a", "loaded")] * 2


def write_batch(s3: LocalS3, run_id: str, start: datetime, records: int) -> None:
    store = S3Store(BUCKET, "redfeed", client=s3.client())
    writer = BatchWriter(store, BatchKey("confs-tech", start, run_id), start.replace(day=2))
    for n in range(records):
        writer.write_line(orjson.dumps(conference(n)))
    writer.commit()


def test_killing_the_loader_mid_load_changes_nothing_and_the_retry_loads_once(
    warehouse: str,
    run_loader: Callable[..., ScraperRun],
    docker_client: docker.DockerClient,
    network: Network,
    s3: LocalS3,
) -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    env = {"REDFEED_INTERVAL_START": "2025-06-01"}
    write_batch(s3, "small", start, 50)
    assert run_loader(env).exit_code == 0
    before = snapshot(warehouse)

    # Big enough that the kill lands mid-COPY: a binary COPY takes the rows from 50,000 to
    # 200,000 in well under a second, which a loaded host's poll and kill could miss.
    big = 600_000
    write_batch(s3, "big", start, big)
    # Its server-side keepalives short (the default aborts an orphaned backend after about a
    # minute): the kill below often loses the loader's FIN behind unsent COPY data, and the
    # server must notice that by itself, or the retry waits on the partition's lock for good.
    fast_liveness = (
        "-c tcp_keepalives_idle=1 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=2"
    )
    killed_env = {
        **env,
        "REDFEED_WAREHOUSE_URL": f"{IN_NETWORK_URL}?{urlencode({'options': fast_liveness})}",
    }
    container = start_loader(docker_client, network, s3, killed_env)
    try:
        # Kill it mid-COPY, once a good share of the batch is in the target (the partition
        # deleted before it), uncommitted: none of it may survive.
        copied = 0
        deadline = time.monotonic() + 60
        with psycopg.connect(conninfo(warehouse), autocommit=True) as watcher:
            while copied < 50_000 and time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT max(tuples_processed) FROM pg_stat_progress_copy"
                ).fetchone()
                copied = (row[0] if row else None) or 0
                time.sleep(0.005)
        assert copied >= 50_000, f"the COPY never got past {copied} rows"
        container.kill()
        container.wait(timeout=30)
    finally:
        container.remove(force=True)
    assert snapshot(warehouse) == before, "a killed load must leave the previous state intact"
    with psycopg.connect(conninfo(warehouse), autocommit=True) as watcher:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            orphans = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'redfeed-loader'"
            ).fetchone()
            if not orphans or orphans[0] == 0:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the killed loader's backend still holds its transaction")

    retry = run_loader(env)
    assert retry.exit_code == 0, retry.logs[-3000:]
    assert retry.summary["rows_loaded"] == big
    after = snapshot(warehouse)
    with psycopg.connect(conninfo(warehouse)) as conn:
        per_run = conn.execute(
            "SELECT _batch_id, count(*) FROM conferences WHERE _interval_start = '2025-06-01' "
            "GROUP BY 1"
        ).fetchall()
    assert per_run == [("big", big)]
    assert [r[0] for r in after["ledger"] if r[1] == datetime(2025, 6, 1)] == ["small", "big"]
    assert after["tables"] == before["tables"]


#: Values that CSV, COPY and the fast path could get wrong, each in one record.
AWKWARD = [
    {"name": 'Quotes "inside", commas, and a "" pair'},
    {"name": "tab\there, new\nline, cr\r, back\\slash \\N"},
    {"name": "null", "city": ""},
    {"name": "PyCon 東京 🐍", "city": "São Paulo", "country": "Ελλάδα"},
    {"locales": ['a"b', "c,d", "e\\f"], "country": {"nested": [1, 2.5, None, True]}},
    {"twitter": 123, "mastodon": 1.5, "online": None},
    {"startDate": "2025-06-01T23:30:00-02:00", "year": "2025"},
    {"_scraped_at": "2025-06-01T03:04:05+05:30"},
    {"name": ",", "url": '"'},
]


def test_values_land_exactly_as_validated(
    warehouse: str, run_loader: Callable[..., ScraperRun], s3: LocalS3
) -> None:
    """The COPY's CSV read back by PostgreSQL is the validator's row, value for value, for
    awkward values (fast and slow path alike) among enough records for many COPY chunks."""
    start = datetime(2025, 7, 1, tzinfo=UTC)
    store = S3Store(BUCKET, "redfeed", client=s3.client())
    writer = BatchWriter(store, BatchKey("confs-tech", start, "awkward"), start.replace(day=2))
    for n in range(12_000):
        record = conference(n, name=f"Conference {n} " + "x" * 80)
        if n % 1000 == 0 and n // 1000 < len(AWKWARD):
            record.update(AWKWARD[n // 1000])
        writer.write_line(orjson.dumps(record))
    manifest = writer.commit()
    run = run_loader({"REDFEED_INTERVAL_START": "2025-07-01"})
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.summary["rows_loaded"] == 12_000

    builder = RowBuilder(table_spec("conferences"))
    archive = Archive(store)
    expected = Counter(
        builder.build(line) for entry in manifest.files for line in archive.lines(entry)
    )
    columns = ", ".join(f'"{c}"' for c in load_columns("conferences"))
    with psycopg.connect(conninfo(warehouse)) as conn:
        loaded = Counter(
            conn.execute(
                f"SELECT {columns} FROM conferences WHERE _batch_id = 'awkward'"
            ).fetchall()
        )
    assert loaded == expected


def bad_corpus() -> tuple[bytes, int, list[str]]:
    """Good records and every class of bad one, as JSON lines; (bytes, good count, reasons)."""
    good = {
        "name": "Good Conf",
        "url": "https://good.example.org",
        "startDate": "2024-05-01",
        "city": "東京",
    }
    lines = [orjson.dumps({**good, "name": f"Good {n}"}) for n in range(40)]
    bad = [
        (b'{"name": "cut off', "invalid JSON"),
        (b'{"name": "caf\xe9", "url": "https://x", "startDate": "2024-01-01"}', "invalid UTF-8"),
        (orjson.dumps({**good, "startDate": 20240501}), "expected a date string"),
        (orjson.dumps({**good, "online": "yes"}), "expected true or false"),
        (orjson.dumps({k: v for k, v in good.items() if k != "url"}), "url: required"),
        (orjson.dumps({**good, "city": "東京都" * 40}), "UTF-8 bytes (120 characters) do not fit"),
        (orjson.dumps({**good, "mastodon": "x" * (4 * 1024 * 1024)}), "at most 4 MB"),
        (b"[1, 2, 3]", "must be a JSON object"),
    ]
    return b"\n".join(lines + [raw for raw, _ in bad]) + b"\n", len(lines), [r for _, r in bad]


def pipe_to_loader(
    network: Network, env: dict[str, str], args: list[str], data: bytes
) -> tuple[int, dict[str, Any], str]:
    """`docker run -i redfeed/loader load … -` with ``data`` on stdin, as a user would pipe it."""
    flags = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    command = ["/usr/bin/docker", "run", "-i", "--rm", "--network", network.name, *flags]
    proc = subprocess.run(
        [*command, "redfeed/loader", "load", *args, "-"],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    summary = orjson.loads(proc.stdout.strip().splitlines()[-1])
    return proc.returncode, summary, proc.stderr.decode()


def test_bad_input_from_stdin_is_quarantined_and_reconciled(
    warehouse: str, network: Network, s3: LocalS3
) -> None:
    data, good, reasons = bad_corpus()
    env = {
        "REDFEED_FEED": "confs-tech",
        "REDFEED_RUN_ID": "piped-1",
        "REDFEED_INTERVAL_START": "2023-03-01",
        "REDFEED_WAREHOUSE_URL": IN_NETWORK_URL,
        "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/redfeed",
        "REDFEED_MAX_REJECT_RATIO": "0.5",
        **s3.env(),
    }
    code, summary, stderr = pipe_to_loader(network, env, ["--table", "conferences"], data)
    assert code == 0, stderr[-3000:]
    assert summary["rows_in"] == good + len(reasons)
    assert summary["rows_loaded"] == good
    assert summary["rows_rejected"] == len(reasons)
    [reject_url] = summary["rejects"]

    import gzip

    body = s3.client().get_object(Bucket=BUCKET, Key=reject_url.removeprefix(f"s3://{BUCKET}/"))
    rejects = [orjson.loads(line) for line in gzip.decompress(body["Body"].read()).splitlines()]
    rejects.sort(key=lambda entry: entry["line"])  # pre-flight workers interleave
    assert len(rejects) == len(reasons)
    for entry, reason in zip(rejects, reasons, strict=True):
        assert reason in entry["reason"]
        assert entry["origin"] == "stdin"
        assert entry["line"] > good
    assert len(rejects[6]["raw"]) > 4 * 1024 * 1024, "rejected records are kept whole"
    assert "raw_base64" in rejects[1]  # invalid UTF-8 kept byte for byte

    with psycopg.connect(conninfo(warehouse)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM conferences WHERE _batch_id = 'piped-1' AND city = '東京'"
        ).fetchone() == (good,)


def assert_nothing_committed(warehouse: str, run_id: str) -> None:
    """The run's load failed whole: no row of it in the table, and the ledger says failed."""
    with psycopg.connect(conninfo(warehouse)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM conferences WHERE _batch_id = %s", (run_id,)
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT status FROM redfeed_loads WHERE run_id = %s", (run_id,)
        ).fetchall() == [("failed",)]


def test_too_many_rejects_commit_nothing(warehouse: str, network: Network, s3: LocalS3) -> None:
    data, _, _ = bad_corpus()
    env = {
        "REDFEED_FEED": "confs-tech",
        "REDFEED_RUN_ID": "piped-2",
        "REDFEED_INTERVAL_START": "2023-04-01",
        "REDFEED_WAREHOUSE_URL": IN_NETWORK_URL,
    }
    code, summary, stderr = pipe_to_loader(network, env, [], data)
    assert code == 65, stderr[-3000:]
    assert "REDFEED_MAX_REJECT_RATIO" in summary["error"]
    assert_nothing_committed(warehouse, "piped-2")


def test_a_damaged_gzip_on_stdin_is_bad_input_and_commits_nothing(
    warehouse: str, network: Network, s3: LocalS3
) -> None:
    """A truncated download piped in is the data's fault (exit 65, not a crash), and the rows
    read before the damage are not committed."""
    import gzip

    data, _, _ = bad_corpus()
    good_lines = b"".join(line + b"\n" for line in data.splitlines()[:20])
    damaged = gzip.compress(good_lines * 50)[:-200]
    env = {
        "REDFEED_FEED": "confs-tech",
        "REDFEED_RUN_ID": "piped-damaged",
        "REDFEED_INTERVAL_START": "2023-05-01",
        "REDFEED_WAREHOUSE_URL": IN_NETWORK_URL,
        "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/redfeed",
        **s3.env(),
    }
    code, summary, stderr = pipe_to_loader(network, env, ["--table", "conferences"], damaged)
    assert code == 65, stderr[-3000:]
    assert "stdin: not a readable gzip stream after line" in summary["error"], summary
    assert_nothing_committed(warehouse, "piped-damaged")
