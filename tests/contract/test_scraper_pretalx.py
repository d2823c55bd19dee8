"""redfeed/scraper-pretalx, run for real against the source mirror serving the pretalx fixtures
as a paginated API (one result per page), and the local S3."""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import orjson
import pytest

from tests.docker_env import BUCKET, LocalS3, ScraperRun
from tests.pretalx_api import (
    EVENT,
    expected_bridge,
    expected_counts,
    fixture_speakers,
    fixture_talks,
    write_instance,
)

Run = Callable[..., ScraperRun]
Mirror = Callable[..., str]
IMAGE = "redfeed/scraper-pretalx"
FEED = f"pretalx-{EVENT}"
TALKS_PATH = f"/api/events/{EVENT}/talks/"
ONE_PER_PAGE = {"REDFEED_MIRROR_PAGE_SIZE": "1"}


@pytest.fixture(scope="module")
def image(docker_client: docker.DockerClient) -> str:
    if not docker_client.images.list(name=IMAGE):
        pytest.fail(f"image {IMAGE} is missing: run `make images` first")
    return IMAGE


@pytest.fixture(scope="module")
def instance(pretalx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pretalx")
    return write_instance(root, fixture_talks(pretalx_dir), fixture_speakers(pretalx_dir))


def env_for(mirror: str, run_id: str, **extra: str) -> dict[str, str]:
    return {
        "REDFEED_FEED": FEED,
        "REDFEED_PRETALX_EVENT": EVENT,
        "REDFEED_SOURCE_URL": mirror,
        "REDFEED_RUN_ID": run_id,
        "REDFEED_INTERVAL_START": "2024-07-01",
        "REDFEED_INTERVAL_END": "2024-07-02",
        **extra,
    }


def batch_keys(s3: LocalS3, run_id: str, feed: str = FEED) -> list[str]:
    prefix = f"redfeed/raw/{feed}/20240701T000000Z/{run_id}/"
    response = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in response.get("Contents", [])]


def read_batch(
    s3: LocalS3, summary: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The manifest and the records of each stream, every file checked against its entry."""
    client = s3.client()
    key = summary["manifest"].removeprefix(f"s3://{BUCKET}/")
    manifest: dict[str, Any] = orjson.loads(
        client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    )
    records: dict[str, list[dict[str, Any]]] = {}
    for entry in manifest["files"]:
        key = entry["url"].removeprefix(f"s3://{BUCKET}/")
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert f"/part-{entry['stream']}-" in key
        lines = gzip.decompress(body).splitlines()
        assert len(lines) == entry["records"]
        records.setdefault(entry["stream"], []).extend(orjson.loads(line) for line in lines)
    return manifest, records


def test_archives_exactly_one_record_per_fixture_entry_in_four_streams(
    pretalx_dir: Path,
    instance: Path,
    image: str,
    start_mirror: Mirror,
    run_scraper: Run,
    s3: LocalS3,
) -> None:
    talks, speakers = fixture_talks(pretalx_dir), fixture_speakers(pretalx_dir)
    expected = expected_counts(talks, speakers)
    mirror = start_mirror(instance, env=ONE_PER_PAGE)
    run = run_scraper(env_for(mirror, "full"), image=image)
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.summary["status"] == "ok"
    assert run.summary["feed"] == FEED
    assert run.summary["records"] == sum(expected.values())
    assert run.summary["rejected"] == 0
    assert f"read {len(talks)} talks in {len(talks)} page(s)" in run.logs  # paginated

    manifest, records = read_batch(s3, run.summary)
    assert manifest["feed"] == FEED
    assert manifest["records"] == sum(expected.values())
    assert run.summary["manifest"].endswith(f"/raw/{FEED}/20240701T000000Z/full/manifest.json")
    per_stream = Counter({stream: len(rows) for stream, rows in records.items()})
    assert per_stream == expected
    assert Counter(entry["stream"] for entry in manifest["files"]) == Counter(expected.keys())
    for rows in records.values():
        for row in rows:
            assert "_stream" not in row
            assert row["_feed"] == FEED
            assert row["_batch_id"] == "full"
            assert row["event"] == EVENT
    assert {t["code"] for t in records["talks"]} == {t["code"] for t in talks}
    assert {s["code"] for s in records["speakers"]} == {s["code"] for s in speakers}
    bridge = {(r["talk_code"], r["speaker_code"], r["position"]) for r in records["talk_speakers"]}
    assert bridge == expected_bridge(talks)
    assert records["events"][0]["name"] == "EuroPython 2024"
    assert b"@example.com" not in orjson.dumps(records)


def test_a_passing_throttle_is_waited_out(
    pretalx_dir: Path, instance: Path, image: str, start_mirror: Mirror, run_scraper: Run
) -> None:
    fault = {"path": TALKS_PATH, "status": 429, "retry_after": 1, "times": 1}
    mirror = start_mirror(instance, faults=[fault], env=ONE_PER_PAGE)
    run = run_scraper(env_for(mirror, "throttled"), image=image)
    assert run.exit_code == 0, run.logs[-3000:]
    expected = expected_counts(fixture_talks(pretalx_dir), fixture_speakers(pretalx_dir))
    assert run.summary["records"] == sum(expected.values())
    assert "Retry 1/2" in run.logs


@pytest.mark.parametrize(
    ("override", "fault", "exit_code", "message"),
    [
        ({"REDFEED_FEED": ""}, None, 78, "REDFEED_FEED is not set"),
        ({"REDFEED_PRETALX_EVENT": "no-such-event"}, None, 78, "no such event"),
        ({"REDFEED_FEED": "confs-tech"}, None, 78, "but the command names feed 'pretalx'"),
        ({}, {"path": TALKS_PATH, "status": 500}, 75, "answered 500"),
    ],
    ids=["no-feed", "unknown-event", "feed-of-another-spider", "500-for-good"],
)
def test_failures_commit_nothing(
    instance: Path,
    image: str,
    start_mirror: Mirror,
    run_scraper: Run,
    s3: LocalS3,
    override: dict[str, str],
    fault: dict[str, Any] | None,
    exit_code: int,
    message: str,
) -> None:
    mirror = start_mirror(instance, faults=[fault] if fault else None, env=ONE_PER_PAGE)
    env = {k: v for k, v in {**env_for(mirror, "failing"), **override}.items() if v}
    run = run_scraper(env, image=image)
    assert run.exit_code == exit_code, run.logs[-3000:]
    assert run.summary.get("committed", False) is False
    assert message in run.logs
    for feed in (FEED, "confs-tech"):
        assert not any(k.endswith("manifest.json") for k in batch_keys(s3, "failing", feed))
