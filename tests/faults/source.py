"""The small confs.tech source the fault tests hit (five 2024 topic files served by the source
mirror), and what archiving it exactly once means."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from tests.faults.pipeline import Pipeline
from tests.records import confs_tech_records

FEED = "confs-tech"
INTERVAL = "2024-01-01T00:00:00Z"
LISTING = "/conferences/2024"


def expected_records(root: Path) -> Counter[bytes]:
    """The records the source holds, computed from its files (not by the spider)."""
    return Counter(
        orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        for record in confs_tech_records(root, [2024])
    )


def victim_path(root: Path) -> str:
    """The URL path of the source's biggest topic file, the one the faults hit."""
    files = (root / "conferences" / "2024").glob("*.json")
    biggest = max(files, key=lambda path: len(json.loads(path.read_text())))
    return f"{LISTING}/{biggest.name}"


def scrape_env(mirror: str, run_id: str, **extra: str) -> dict[str, str]:
    return {
        "REDFEED_SOURCE_URL": mirror,
        "REDFEED_RUN_ID": run_id,
        "REDFEED_INTERVAL_START": INTERVAL,
        "REDFEED_INTERVAL_END": "2024-01-02",
        **extra,
    }


def rule(template: dict[str, Any], root: Path) -> dict[str, Any]:
    paths = {"{file}": victim_path(root), "{listing}": LISTING}
    return {**template, "path": paths[template["path"]]}


def assert_archived_exactly_once(pipeline: Pipeline, root: Path, run_id: str, records: int) -> None:
    """One manifest, every record of the source once, and no object under the run's prefix
    that the manifest does not name (a failed attempt left nothing behind)."""
    assert pipeline.manifests(FEED, INTERVAL, run_id) == [
        pipeline.batch_prefix(FEED, INTERVAL, run_id) + "manifest.json"
    ]
    manifest = pipeline.manifest(FEED, INTERVAL, run_id)
    assert manifest.records == records
    assert pipeline.archived_records(manifest) == expected_records(root)
    named = {entry.key for entry in [*manifest.files, *manifest.rejects]}
    prefix = pipeline.batch_prefix(FEED, INTERVAL, run_id)
    assert set(pipeline.s3.keys(prefix)) == {*named, prefix + "manifest.json"}


def make_readable(root: Path) -> None:
    """The mirror container runs as an unprivileged user; pytest makes private files."""
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(path.stat().st_mode | 0o755)
        else:
            path.chmod(0o644)
