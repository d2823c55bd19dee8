"""Archive faults: the S3 endpoint gone while a scraper uploads parts, gone exactly when the
manifest is written, stalled mid-upload, gone when a loader starts; and committed parts that no
longer match their manifest (corrupted, tampered with, deleted).

A batch exists only once its manifest does: a scraper that cannot write commits nothing (exit
75), and whatever parts it left are never loaded, because the loader reads only the files a
manifest names and checks each against its sha256. A clean retry under the same run id commits
exactly one manifest, and its load holds every record once."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.docker_env import BUCKET
from tests.faults.pipeline import Pipeline, conference_records, wait_for
from tests.faults.source import (
    FEED,
    INTERVAL,
    assert_archived_exactly_once,
    expected_records,
    scrape_env,
    victim_path,
)

Mirror = Callable[..., str]

#: Any program printing JSON lines is a feed: this one prints $FAULT_RECORDS, then sleeps
#: $FAULT_SLEEP seconds before exiting, which opens a window right before the manifest.
PROGRAM = [
    "python3",
    "-c",
    "import json, os, time\n"
    "for record in json.loads(os.environ['FAULT_RECORDS']):\n"
    "    print(json.dumps(record), flush=True)\n"
    "time.sleep(float(os.environ.get('FAULT_SLEEP', '0')))\n",
]


def part_keys(pipeline: Pipeline, run_id: str, interval: str = INTERVAL) -> list[str]:
    prefix = pipeline.batch_prefix(FEED, interval, run_id)
    return [key for key in pipeline.s3.keys(prefix) if "/part-" in key]


def test_s3_down_during_upload_commits_nothing_and_the_retry_archives_once(
    source_2024: Path, start_mirror: Mirror, pipeline: Pipeline, database: str
) -> None:
    # The biggest topic file comes 6 s late; the others fill (and upload) parts before that.
    slow = start_mirror(source_2024, faults=[{"path": victim_path(source_2024), "delay_ms": 6000}])
    run_id = "s3-down-during-upload"
    env = scrape_env(slow, run_id, REDFEED_PART_MAX_RECORDS="5")
    container = pipeline.start_scraper(env)
    wait_for(lambda: part_keys(pipeline, run_id), "the first uploaded part")
    container.reload()
    assert container.status == "running"
    with pipeline.s3.unreachable():
        run = pipeline.finish(container)
    assert run.exit_code == 75, run.logs[-3000:]
    assert run.summary["status"] == "temporary"
    assert run.summary["committed"] is False
    assert "s3://" in run.summary["error"], run.summary["error"]
    assert pipeline.manifests(FEED, INTERVAL, run_id) == []
    debris = set(part_keys(pipeline, run_id))  # the abort could not delete them: S3 was gone

    retry = pipeline.scrape(scrape_env(start_mirror(source_2024), run_id))
    assert retry.exit_code == 0, retry.logs[-3000:]
    records = sum(expected_records(source_2024).values())
    manifest = pipeline.manifest(FEED, INTERVAL, run_id)
    assert manifest.records == records
    assert pipeline.archived_records(manifest) == expected_records(source_2024)
    assert not debris & {entry.key for entry in manifest.files}, "a new attempt, new parts"
    assert pipeline.manifests(FEED, INTERVAL, run_id) == [
        pipeline.batch_prefix(FEED, INTERVAL, run_id) + "manifest.json"
    ]

    load = pipeline.load(database, {"REDFEED_INTERVAL_START": INTERVAL, "REDFEED_RUN_ID": run_id})
    assert load.exit_code == 0, load.logs[-3000:]
    pipeline.assert_loaded_once(database, INTERVAL, run_id, records)


def test_s3_down_at_manifest_time_commits_nothing_and_leftover_parts_are_never_loaded(
    pipeline: Pipeline, database: str
) -> None:
    interval = "2025-03-01T00:00:00Z"
    run_id = "s3-down-at-manifest"
    records = list(conference_records(10))
    env = {
        "REDFEED_RUN_ID": run_id,
        "REDFEED_INTERVAL_START": interval,
        "REDFEED_PART_MAX_RECORDS": "5",  # two full parts, uploaded while the program sleeps
        "FAULT_RECORDS": json.dumps(records),
        "FAULT_SLEEP": "8",
    }
    container = pipeline.start_scraper(env, program=PROGRAM)
    leftovers = set(
        wait_for(
            lambda: len(found := part_keys(pipeline, run_id, interval)) == 2 and found,
            "both parts uploaded",
        )
    )
    with pipeline.s3.unreachable():  # the only write left is the manifest
        run = pipeline.finish(container)
    assert run.exit_code == 75, run.logs[-3000:]
    assert "manifest.json" in run.summary["error"], run.summary["error"]
    assert run.summary["committed"] is False
    assert pipeline.manifests(FEED, interval, run_id) == []
    assert set(part_keys(pipeline, run_id, interval)) == leftovers, "debris, never referenced"

    retry = pipeline.scrape({**env, "FAULT_SLEEP": "0"}, program=PROGRAM)
    assert retry.exit_code == 0, retry.logs[-3000:]
    manifest = pipeline.manifest(FEED, interval, run_id)
    assert manifest.records == len(records)
    assert not leftovers & {entry.key for entry in manifest.files}

    load = pipeline.load(database, {"REDFEED_INTERVAL_START": interval, "REDFEED_RUN_ID": run_id})
    assert load.exit_code == 0, load.logs[-3000:]
    assert load.summary["rows_in"] == len(records), "the leftover parts were not read"
    pipeline.assert_loaded_once(database, interval, run_id, len(records))


def test_s3_stalled_mid_upload_slows_the_scraper_down_and_the_batch_is_exact(
    source_2024: Path, start_mirror: Mirror, pipeline: Pipeline
) -> None:
    slow = start_mirror(source_2024, faults=[{"path": victim_path(source_2024), "delay_ms": 2000}])
    run_id = "s3-stalled"
    container = pipeline.start_scraper(scrape_env(slow, run_id, REDFEED_PART_MAX_RECORDS="5"))
    wait_for(lambda: part_keys(pipeline, run_id), "the first uploaded part")
    with pipeline.s3.frozen():
        container.reload()
        assert container.status == "running", "the batch must still need S3 while it stalls"
        time.sleep(4)  # the slow file arrives meanwhile: its parts and the manifest must wait
    run = pipeline.finish(container)
    assert run.exit_code == 0, run.logs[-3000:]
    assert_archived_exactly_once(
        pipeline, source_2024, run_id, sum(expected_records(source_2024).values())
    )


def test_an_unreachable_archive_fails_the_load_before_the_warehouse_is_touched(
    pipeline: Pipeline, database: str
) -> None:
    interval = "2025-04-01T00:00:00Z"
    pipeline.write_batch("archive-gone", interval, conference_records(30))
    env = {"REDFEED_INTERVAL_START": interval}
    with pipeline.s3.unreachable():
        run = pipeline.load(database, env)
    assert run.exit_code == 75, run.logs[-3000:]
    assert run.summary["status"] == "temporary"
    assert "s3://" in run.summary["error"]
    assert pipeline.warehouse.snapshot(database).ledger == []

    retry = pipeline.load(database, env)
    assert retry.exit_code == 0, retry.logs[-3000:]
    pipeline.assert_loaded_once(database, interval, "archive-gone", 30)


def garbage(body: bytes) -> bytes:
    return b"this is not gzip " * 64


def tampered(body: bytes) -> bytes:
    """A valid gzip stream with as many records, one of them changed: only the sha256 tells."""
    lines = gzip.decompress(body).splitlines(keepends=True)
    record: dict[str, Any] = orjson.loads(lines[0])
    lines[0] = orjson.dumps({**record, "name": "Tampered Conf"}) + b"\n"
    return gzip.compress(b"".join(lines), mtime=0)


@pytest.mark.parametrize(
    ("day", "damage", "exit_code", "message"),
    [
        (1, garbage, 65, "not a readable gzip stream"),
        (2, tampered, 65, "but the manifest says"),
        (3, None, 75, "NoSuchKey"),
    ],
    ids=["corrupted-part", "tampered-part", "deleted-part"],
)
def test_a_part_that_no_longer_matches_its_manifest_is_refused_and_changes_nothing(
    pipeline: Pipeline,
    database: str,
    day: int,
    damage: Callable[[bytes], bytes] | None,
    exit_code: int,
    message: str,
) -> None:
    interval = f"2025-05-0{day}T00:00:00Z"
    env = {"REDFEED_INTERVAL_START": interval}
    run_id = "damaged"
    pipeline.write_batch("healthy", interval, conference_records(40), part_max_records=20)
    assert pipeline.load(database, {**env, "REDFEED_RUN_ID": "healthy"}).exit_code == 0
    before = pipeline.warehouse.snapshot(database)

    manifest = pipeline.write_batch(
        run_id, interval, conference_records(2000, start=100), part_max_records=500
    )
    victim = manifest.files[2].url.removeprefix(f"s3://{BUCKET}/")
    client = pipeline.s3.client()
    original = client.get_object(Bucket=BUCKET, Key=victim)["Body"].read()
    if damage is None:
        client.delete_object(Bucket=BUCKET, Key=victim)
    else:
        client.put_object(Bucket=BUCKET, Key=victim, Body=damage(original))

    refused = pipeline.load(database, env)
    assert refused.exit_code == exit_code, refused.logs[-3000:]
    assert message in refused.summary["error"], refused.summary["error"]
    assert victim.rsplit("/", 1)[-1] in refused.summary["error"], "the message names the part"
    after = pipeline.warehouse.snapshot(database)
    assert (after.rows, after.checksum) == (before.rows, before.checksum), "nothing committed"
    assert after.loaded() == before.loaded()
    [failed] = after.failed()
    assert (failed["run_id"], failed["rows_loaded"]) == (run_id, 0)

    # Restored (from a backup, or S3 versioning), the batch loads exactly once.
    client.put_object(Bucket=BUCKET, Key=victim, Body=original)
    retry = pipeline.load(database, env)
    assert retry.exit_code == 0, retry.logs[-3000:]
    assert retry.summary["rows_replaced"] == 40
    pipeline.assert_loaded_once(database, interval, run_id, 2000)
