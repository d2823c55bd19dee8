"""redfeed/scraper-confs-tech, run for real against the source mirror and the local S3."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import orjson
import pytest
from testcontainers.core.network import Network

from tests.docker_env import BUCKET, LocalS3, ScraperRun, last_json_line, start_scraper

Run = Callable[..., ScraperRun]
Mirror = Callable[..., str]


def fixture_counts(root: Path, years: list[int]) -> Counter[str]:
    """Entries per topic file, computed from the files themselves."""
    counts: Counter[str] = Counter()
    for year in years:
        for path in sorted((root / "conferences" / str(year)).glob("*.json")):
            counts[f"conferences/{year}/{path.name}"] = len(json.loads(path.read_text()))
    return counts


def batch_objects(s3: LocalS3, run_id: str, interval: str) -> list[str]:
    prefix = f"redfeed/raw/confs-tech/{interval}/{run_id}/"
    response = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in response.get("Contents", [])]


def env_for(mirror: str, run_id: str, start: str, end: str, **extra: str) -> dict[str, str]:
    return {
        "REDFEED_SOURCE_URL": mirror,
        "REDFEED_RUN_ID": run_id,
        "REDFEED_INTERVAL_START": start,
        "REDFEED_INTERVAL_END": end,
        **extra,
    }


def test_archives_exactly_one_record_per_fixture_entry(
    confs_tech_dir: Path, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    mirror = start_mirror(confs_tech_dir)
    started = time.monotonic()
    run = run_scraper(env_for(mirror, "full-2023-2024", "2023-01-01T00:00:00Z", "2025-01-01"))
    elapsed = time.monotonic() - started
    assert run.exit_code == 0, run.logs[-3000:]

    expected = fixture_counts(confs_tech_dir, [2023, 2024])
    summary = run.summary
    assert summary["status"] == "ok"
    assert summary["records"] == sum(expected.values()) > 1500
    assert summary["rejected"] == 0
    print(f"\nscraper: {summary['records']} records in {elapsed:.1f}s container wall time")

    client = s3.client()
    manifest_key = summary["manifest"].removeprefix(f"s3://{BUCKET}/")
    assert manifest_key == "redfeed/raw/confs-tech/20230101T000000Z/full-2023-2024/manifest.json"
    manifest: dict[str, Any] = orjson.loads(
        client.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read()
    )
    assert manifest["feed"] == "confs-tech"
    assert manifest["run_id"] == "full-2023-2024"
    assert manifest["interval_start"] == "2023-01-01T00:00:00Z"
    assert manifest["interval_end"] == "2025-01-01T00:00:00Z"
    assert manifest["code_version"].startswith("redfeed ")
    assert manifest["started_at"] <= manifest["finished_at"]
    assert manifest["records"] == summary["records"]

    seen: Counter[str] = Counter()
    for entry in manifest["files"]:
        body = client.get_object(Bucket=BUCKET, Key=entry["url"].removeprefix(f"s3://{BUCKET}/"))[
            "Body"
        ].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert len(body) == entry["bytes"]
        lines = gzip.decompress(body).splitlines()
        assert len(lines) == entry["records"]
        for line in lines:
            record = orjson.loads(line)
            seen[record["sourcePath"]] += 1
            assert record["_batch_id"] == "full-2023-2024"
            assert record["_feed"] == "confs-tech"
            assert record["_interval_start"] == "2023-01-01T00:00:00Z"
            assert record["topic"] == Path(record["sourcePath"]).stem
            assert record["year"] in (2023, 2024)
            assert "name" in record
            assert "startDate" in record
    assert seen == expected


def test_a_retry_of_a_committed_run_never_reaches_the_source(
    confs_tech_dir: Path, start_mirror: Mirror, run_scraper: Run
) -> None:
    """The image starts the spider while the wrapper checks the archive (``--start-early``):
    for a run that is already committed its start gate stays shut, and the retry reports the
    batch without a request (the source is gone here: a request would log a DNS failure)."""
    env = env_for(start_mirror(confs_tech_dir), "retried", "2024-01-01", "2024-01-02")
    first = run_scraper(env)
    assert first.exit_code == 0, first.logs[-3000:]
    again = run_scraper({**env, "REDFEED_SOURCE_URL": "http://nowhere.invalid:8000"})
    assert again.exit_code == 0, again.logs[-3000:]
    assert again.summary["already_committed"] is True
    assert again.summary["records"] == first.summary["records"]
    assert "the wrapper closed the start gate; nothing fetched" in again.logs
    assert "exited with 0 without scraping" in again.logs
    assert "<GET http://nowhere.invalid" not in again.logs  # how Scrapy logs a request


def test_a_year_that_does_not_exist_yet_is_an_empty_committed_batch(
    confs_tech_dir: Path, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    mirror = start_mirror(confs_tech_dir)
    run = run_scraper(env_for(mirror, "future", "2031-01-01", "2031-01-02"))
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.summary["records"] == 0
    assert batch_objects(s3, "future", "20310101T000000Z")[-1].endswith("manifest.json")


@pytest.mark.parametrize(
    ("fault", "exit_code"),
    [
        ({"path": "/conferences/2024/*.json", "status": 500}, 75),
        ({"path": "/conferences/2024", "status": 503}, 75),
        ({"path": "/conferences/2024/python.json", "status": 429, "retry_after": 1}, 75),
    ],
    ids=["500-on-files", "503-on-listing", "429-always"],
)
def test_persistent_source_errors_are_temporary_and_commit_nothing(
    confs_tech_dir: Path,
    start_mirror: Mirror,
    run_scraper: Run,
    s3: LocalS3,
    fault: dict[str, Any],
    exit_code: int,
) -> None:
    mirror = start_mirror(confs_tech_dir, faults=[fault])
    run_id = f"fault-{fault['status']}"
    run = run_scraper(env_for(mirror, run_id, "2024-01-01", "2024-01-02"))
    assert run.exit_code == exit_code, run.logs[-3000:]
    assert run.summary["status"] == "temporary"
    assert run.summary["committed"] is False
    assert not any(
        k.endswith("manifest.json") for k in batch_objects(s3, run_id, "20240101T000000Z")
    )


def test_a_passing_throttle_is_waited_out(
    confs_tech_dir: Path, start_mirror: Mirror, run_scraper: Run
) -> None:
    fault = {"path": "/conferences/2024/python.json", "status": 429, "retry_after": 1, "times": 1}
    mirror = start_mirror(confs_tech_dir, faults=[fault])
    run = run_scraper(env_for(mirror, "throttled-once", "2024-01-01", "2024-01-02"))
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.summary["records"] == sum(fixture_counts(confs_tech_dir, [2024]).values())


def test_a_truncated_json_body_is_a_data_error(
    confs_tech_dir: Path, tmp_path: Path, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    root = tmp_path / "source"
    shutil.copytree(confs_tech_dir / "conferences" / "2024", root / "conferences" / "2024")
    victim = root / "conferences" / "2024" / "python.json"
    victim.write_bytes(victim.read_bytes()[:500])
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    mirror = start_mirror(root)
    run = run_scraper(env_for(mirror, "truncated", "2024-01-01", "2024-01-02"))
    assert run.exit_code == 65, run.logs[-3000:]
    assert run.summary["status"] == "data"
    assert "python.json" in run.logs
    assert not any(
        k.endswith("manifest.json") for k in batch_objects(s3, "truncated", "20240101T000000Z")
    )


@pytest.mark.parametrize(
    ("override", "exit_code", "message"),
    [
        ({"REDFEED_INTERVAL_START": "last tuesday"}, 78, "not an ISO 8601"),
        ({"REDFEED_FEED": "Confs_Tech"}, 78, "not a feed name"),
        ({"REDFEED_ARCHIVE_URL": "s3://no-such-bucket/x"}, 78, "no-such-bucket"),
        ({"AWS_ENDPOINT_URL": "http://nowhere.invalid:9000", "AWS_MAX_ATTEMPTS": "1"}, 75, ""),
    ],
    ids=["bad-interval", "bad-feed", "missing-bucket", "s3-unreachable"],
)
def test_bad_configuration_and_unwritable_archives(
    confs_tech_dir: Path,
    start_mirror: Mirror,
    run_scraper: Run,
    override: dict[str, str],
    exit_code: int,
    message: str,
) -> None:
    mirror = start_mirror(confs_tech_dir)
    run = run_scraper({**env_for(mirror, "bad-config", "2024-01-01", "2024-01-02"), **override})
    assert run.exit_code == exit_code, run.logs[-3000:]
    assert message in run.summary["error"]


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_killing_the_scraper_mid_run_leaves_no_manifest(
    confs_tech_dir: Path,
    start_mirror: Mirror,
    docker_client: docker.DockerClient,
    network: Network,
    s3: LocalS3,
    how: str,
) -> None:
    # Slow topic files: the run is certainly mid-flight when the signal comes.
    mirror = start_mirror(
        confs_tech_dir, faults=[{"path": "/conferences/*/*.json", "delay_ms": 1500}]
    )
    run_id = f"killed-{how}"
    container = start_scraper(
        docker_client, network, s3, env_for(mirror, run_id, "2023-01-01", "2025-01-01")
    )
    try:
        deadline = time.monotonic() + 30
        while b"read conferences/" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.2)
        if how == "sigterm":
            container.stop(timeout=20)  # SIGTERM, like DockerOperator.on_kill
        else:
            container.kill()
        status = container.wait(timeout=30)["StatusCode"]
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert not any(
        k.endswith("manifest.json") for k in batch_objects(s3, run_id, "20230101T000000Z")
    )
    if how == "sigterm":
        assert status == 143, logs[-3000:]
        assert last_json_line(logs)["status"] == "terminated"
    else:
        assert status == 137
