"""Source faults: the real confs.tech scraper against a source mirror that resets connections,
stalls past the download timeout, cuts bodies, throttles without saying for how long, answers
garbage, or changes its format.

A passing fault is retried and the batch is exact. A lasting one commits nothing (exit 75, or 65
for an answer that cannot be read), leaves no parts behind, and a clean retry under the same run
id archives every record exactly once. Persistent 500/503, 429 with Retry-After and a truncated
file are already proven by tests/contract/test_scraper_confs_tech.py; they are not repeated."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.faults.pipeline import Pipeline
from tests.faults.source import (
    FEED,
    INTERVAL,
    assert_archived_exactly_once,
    expected_records,
    make_readable,
    rule,
    scrape_env,
    victim_path,
)

Mirror = Callable[..., str]

TRANSIENT = {
    "500-twice": {"path": "{file}", "status": 500, "times": 2},
    "503-on-the-listing": {"path": "{listing}", "status": 503, "times": 1},
    "429-without-retry-after": {"path": "{file}", "status": 429, "times": 2},
    "connection-reset": {"path": "{file}", "reset": True, "times": 2},
    "connection-reset-on-the-listing": {"path": "{listing}", "reset": True, "times": 1},
    "slower-than-the-timeout": {"path": "{file}", "delay_ms": 2500, "times": 1},
    "body-cut-mid-transfer": {"path": "{file}", "truncate": 40, "times": 2},
}


@pytest.mark.parametrize("name", list(TRANSIENT))
def test_a_passing_source_fault_is_retried_and_the_batch_is_exact(
    name: str, source_2024: Path, start_mirror: Mirror, pipeline: Pipeline
) -> None:
    fault = rule(TRANSIENT[name], source_2024)
    mirror = start_mirror(source_2024, faults=[fault])
    run_id = f"transient-{name}"
    run = pipeline.scrape(scrape_env(mirror, run_id, REDFEED_DOWNLOAD_TIMEOUT="1"))
    assert run.exit_code == 0, run.logs[-3000:]
    assert "Retry 1/2" in run.logs, "the fault never fired"
    expected = expected_records(source_2024)
    assert run.summary["records"] == sum(expected.values())
    assert_archived_exactly_once(pipeline, source_2024, run_id, sum(expected.values()))


PERSISTENT = {
    "connection-reset": ({"path": "{file}", "reset": True}, 75, "ConnectionLost"),
    "slower-than-the-timeout": (
        {"path": "{file}", "delay_ms": 2500},
        75,
        "took longer than 1.0 seconds",
    ),
    "body-cut-mid-transfer": ({"path": "{file}", "truncate": 40}, 75, "ResponseDataLossError"),
    "429-without-retry-after": ({"path": "{file}", "status": 429}, 75, "answered 429"),
    "retry-after-past-the-limit": (
        {"path": "{file}", "status": 429, "retry_after": 3600},
        75,
        "answered 429",
    ),
    "html-instead-of-json": (
        {"path": "{file}", "status": 200, "body": "<html><body>Rate limited</body></html>"},
        65,
        "is not valid JSON",
    ),
    "an-object-instead-of-an-array": (
        {"path": "{file}", "status": 200, "body": '{"message": "Moved Permanently"}'},
        65,
        "is an object, not an array",
    ),
    "listing-not-json": (
        {"path": "{listing}", "status": 200, "body": "Service Unavailable"},
        65,
        "is not valid JSON",
    ),
    "listing-entry-without-a-name": (
        {"path": "{listing}", "status": 200, "body": '[{"type": "file", "size": 3}]'},
        65,
        "without a name or type",
    ),
}


@pytest.fixture(scope="module")
def clean_mirror(source_2024: Path, start_mirror: Mirror) -> str:
    return start_mirror(source_2024)


@pytest.mark.parametrize("name", list(PERSISTENT))
def test_a_lasting_source_fault_commits_nothing_and_a_clean_retry_archives_once(
    name: str,
    source_2024: Path,
    start_mirror: Mirror,
    clean_mirror: str,
    pipeline: Pipeline,
) -> None:
    template, exit_code, message = PERSISTENT[name]
    mirror = start_mirror(source_2024, faults=[rule(template, source_2024)])
    run_id = f"lasting-{name}"
    run = pipeline.scrape(scrape_env(mirror, run_id, REDFEED_DOWNLOAD_TIMEOUT="1"))
    assert run.exit_code == exit_code, run.logs[-3000:]
    assert run.summary["status"] == ("temporary" if exit_code == 75 else "data")
    assert run.summary["committed"] is False
    # The wrapper's summary says how the spider exited; the spider's log says why.
    assert message in run.logs, run.logs[-3000:]
    assert pipeline.manifests(FEED, INTERVAL, run_id) == []
    assert pipeline.s3.keys(pipeline.batch_prefix(FEED, INTERVAL, run_id)) == [], "debris"
    if name == "retry-after-past-the-limit":  # given up at once, not after waiting an hour
        assert "REDFEED_RETRY_AFTER_MAX" in run.logs

    retry = pipeline.scrape(scrape_env(clean_mirror, run_id))
    assert retry.exit_code == 0, retry.logs[-3000:]
    expected = sum(expected_records(source_2024).values())
    assert_archived_exactly_once(pipeline, source_2024, run_id, expected)


def test_a_renamed_field_is_quarantined_by_the_loader_never_dropped(
    source_2024: Path,
    tmp_path: Path,
    start_mirror: Mirror,
    clean_mirror: str,
    pipeline: Pipeline,
    database: str,
) -> None:
    """The source renames ``startDate`` in one topic file. The scraper archives what the source
    said (it does not judge fields); the loader refuses the batch (too many rejects) with every
    renamed record quarantined whole with its reason, or, allowed more rejects, loads the rest.
    Once the source is fixed, a new run loads every record exactly once."""
    root = tmp_path / "renamed"
    shutil.copytree(source_2024, root)
    victim = root / victim_path(source_2024).lstrip("/")
    renamed = [
        {("start_date" if key == "startDate" else key): value for key, value in item.items()}
        for item in json.loads(victim.read_text())
    ]
    victim.write_text(json.dumps(renamed))
    make_readable(root)
    total = sum(expected_records(source_2024).values())

    run = pipeline.scrape(scrape_env(start_mirror(root), "renamed"))
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.summary["records"] == total, "the scraper keeps every record"

    env = {"REDFEED_INTERVAL_START": INTERVAL, "REDFEED_RUN_ID": "renamed"}
    refused = pipeline.load(database, env)
    assert refused.exit_code == 65, refused.logs[-3000:]
    assert "REDFEED_MAX_REJECT_RATIO" in refused.summary["error"]
    after_refusal = pipeline.warehouse.snapshot(database)
    assert after_refusal.rows == 0
    [failed] = after_refusal.failed()
    assert failed["rows_rejected"] == len(renamed)

    allowed = pipeline.load(database, {**env, "REDFEED_MAX_REJECT_RATIO": "1"})
    assert allowed.exit_code == 0, allowed.logs[-3000:]
    summary = allowed.summary
    assert (summary["rows_in"], summary["rows_loaded"], summary["rows_rejected"]) == (
        total,
        total - len(renamed),
        len(renamed),
    )
    [reject_url] = summary["rejects"]
    rejects = [orjson.loads(line) for line in pipeline.s3.lines(reject_url)]
    assert len(rejects) == len(renamed)
    for entry in rejects:
        assert "start_date: required, but $.startDate is missing or null" in entry["reason"]
        assert orjson.loads(entry["raw"])["start_date"], "the record is kept whole"
    assert pipeline.warehouse.snapshot(database).rows == total - len(renamed)

    fixed = pipeline.scrape(scrape_env(clean_mirror, "renamed-fixed"))
    assert fixed.exit_code == 0, fixed.logs[-3000:]
    fixed_env = {"REDFEED_INTERVAL_START": INTERVAL, "REDFEED_RUN_ID": "renamed-fixed"}
    assert pipeline.load(database, fixed_env).exit_code == 0
    pipeline.assert_loaded_once(database, INTERVAL, "renamed-fixed", total)
