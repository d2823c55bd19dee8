"""redfeed/scraper-homepages, run for real: it reads a confs-tech batch from the local S3, visits
the home pages it lists on the source mirror serving a generated site tree (robots.txt obeyed,
one robots.txt answering 500), and archives the events' JSON-LD next to it."""

from __future__ import annotations

import gzip
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import orjson
import pytest

from redfeed.archive import S3Store
from tests.docker_env import BUCKET, LocalS3, ScraperRun
from tests.homepage_site import (
    EXPLICIT_URL,
    INTERVAL_END,
    INTERVAL_START,
    Site,
    build_site,
    comparable,
    fixture_conferences,
    robots_fault,
    write_confs_tech_batch,
)

IMAGE = "redfeed/scraper-homepages"
Run = Callable[..., ScraperRun]
Mirror = Callable[..., str]


@pytest.fixture(scope="module", autouse=True)
def image(docker_client: docker.DockerClient) -> None:
    if not docker_client.images.list(name=IMAGE):
        pytest.fail(f"image {IMAGE} is missing: run `make images` first")


@pytest.fixture
def archive_prefix(s3: LocalS3, confs_tech_dir: Path) -> str:
    """A prefix of its own in the session's bucket, holding one confs-tech batch."""
    prefix = f"homepages-{secrets.token_hex(4)}"
    store = S3Store(BUCKET, prefix, client=s3.client())
    write_confs_tech_batch(store, fixture_conferences(confs_tech_dir))
    return prefix


@pytest.fixture
def site(tmp_path: Path, confs_tech_dir: Path) -> Site:
    return build_site(tmp_path / "web", confs_tech_dir)


def env_for(mirror: str, prefix: str, run_id: str, **extra: str) -> dict[str, str]:
    return {
        "REDFEED_SOURCE_URL": mirror,
        "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/{prefix}",
        "REDFEED_RUN_ID": run_id,
        "REDFEED_INTERVAL_START": INTERVAL_START.isoformat(),
        "REDFEED_INTERVAL_END": INTERVAL_END.isoformat(),
        **extra,
    }


def read_lines(s3: LocalS3, entry: dict[str, Any]) -> list[dict[str, Any]]:
    body = (
        s3.client()
        .get_object(Bucket=BUCKET, Key=entry["url"].removeprefix(f"s3://{BUCKET}/"))["Body"]
        .read()
    )
    assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    lines = gzip.decompress(body).splitlines()
    assert len(lines) == entry["records"]
    return [orjson.loads(line) for line in lines]


def test_archives_the_events_of_the_listed_home_pages(
    site: Site, archive_prefix: str, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    mirror = start_mirror(site.root, faults=[robots_fault(site)])
    run = run_scraper(
        env_for(mirror, archive_prefix, "homepages-1", REDFEED_HOMEPAGES_URLS=EXPLICIT_URL),
        image=IMAGE,
    )
    assert run.exit_code == 0, run.logs[-3000:]
    summary = run.summary
    assert summary["status"] == "ok"
    assert summary["records"] == len(site.records) == 5
    assert summary["rejected"] == len(site.rejects) == 2
    assert summary["manifest"] == (
        f"s3://{BUCKET}/{archive_prefix}/raw/homepages/20240301T000000Z/homepages-1/manifest.json"
    )

    manifest = orjson.loads(
        s3.client()
        .get_object(Bucket=BUCKET, Key=summary["manifest"].removeprefix(f"s3://{BUCKET}/"))["Body"]
        .read()
    )
    assert (manifest["feed"], manifest["records"], manifest["rejected"]) == ("homepages", 5, 2)
    records = [record for entry in manifest["files"] for record in read_lines(s3, entry)]
    assert all(entry["stream"] is None for entry in manifest["files"])
    assert comparable(records) == comparable(site.records)
    assert {r["_feed"] for r in records} == {"homepages"}
    assert {r["_interval_start"] for r in records} == {"2024-03-01T00:00:00Z"}

    rejects = [reject for entry in manifest["rejects"] for reject in read_lines(s3, entry)]
    assert len(rejects) == len(site.rejects)
    for got, (page, fragment) in zip(rejects, site.rejects, strict=True):
        assert got["value"]["page_url"] == page
        assert got["reason"].startswith(f"{page}: ")
        assert fragment in got["reason"]
    # Pages that failed or were disallowed are in the logs, not in the batch.
    assert f"disallows {site.urls['disallowed']}" in run.logs
    assert "robots.txt of https://" in run.logs
    assert " ERROR " not in run.logs


def test_an_archive_that_cannot_be_read_fails_the_batch(
    site: Site, archive_prefix: str, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    client = s3.client()
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{archive_prefix}/raw/confs-tech/")
    (part,) = [o["Key"] for o in listing["Contents"] if "/part-" in o["Key"]]
    client.put_object(Bucket=BUCKET, Key=part, Body=gzip.compress(b'{"url": "https://x.test"}\n'))
    mirror = start_mirror(site.root)
    run = run_scraper(env_for(mirror, archive_prefix, "homepages-tampered"), image=IMAGE)
    assert run.exit_code == 65, run.logs[-3000:]
    assert run.summary["status"] == "data"
    assert run.summary["committed"] is False
    assert "sha256" in run.logs
