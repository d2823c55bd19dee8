"""Scraper side, side by side in one run: the same confs.tech spider against the same mirror
(serving ../shared/fixtures/confs-tech, every year), once as a plain Scrapy feed export to a file
and once under ``redfeed extract`` streaming into the local S3 (enrichment, gzip, multipart,
manifest). The difference is the contract wrapper's overhead. Also the archive writer alone:
records/s from JSON lines to gzip parts in S3."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import orjson

from redfeed.archive import BatchKey, BatchWriter, S3Store
from redfeed.mirror import MirrorServer
from tests.bench.loader import records, services
from tests.conftest import fixtures_root

BUCKET = "bench-extract"


def _time(command: list[str], env: dict[str, str], stdout: Path | None = None) -> float:
    started = time.perf_counter()
    with open(stdout or os.devnull, "wb") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-2000:])
    return seconds


def run(repeat: int, writer_records: int = 200_000, *, quick: bool = False) -> str:
    """``quick``: the spider on one fixture year and a small writer batch (``make bench
    QUICK=1``)."""
    root = fixtures_root() / "confs-tech"
    first_year = 2024 if quick else 2013
    writer_records = min(writer_records, 5_000) if quick else writer_records
    bin_dir = Path(sys.executable).parent
    plain_s: list[float] = []
    wrapped_s: list[float] = []
    writer_s: list[float] = []
    with services() as where, MirrorServer(root) as mirror:
        endpoint = where.endpoint
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        env = {
            **os.environ,
            "REDFEED_FEED": "confs-tech",
            "REDFEED_SOURCE_URL": mirror.url,
            "REDFEED_INTERVAL_START": f"{first_year}-01-01",
            "REDFEED_INTERVAL_END": "2025-01-01",
            "REDFEED_DOWNLOAD_DELAY": "0",
            "REDFEED_LOG_LEVEL": "WARNING",
            "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/redfeed",
            "AWS_ENDPOINT_URL": endpoint,
        }
        spider = [str(bin_dir / "redfeed"), "scrape", "confs-tech"]
        out = Path("build/bench-plain.jsonl")
        out.parent.mkdir(exist_ok=True)
        for attempt in range(repeat):
            plain_s.append(_time(spider, env, out))
            run_env = {**env, "REDFEED_RUN_ID": f"bench-{attempt}-{time.time_ns()}"}
            # As the scraper images run it.
            wrapper = [str(bin_dir / "redfeed"), "extract", "--start-early", "--"]
            wrapped_s.append(_time([*wrapper, *spider], run_env))
            print(
                f"  extract run {attempt + 1}: plain {plain_s[-1]:.2f}s, "
                f"wrapped {wrapped_s[-1]:.2f}s",
                file=sys.stderr,
            )
        scraped = sum(1 for _ in out.open("rb"))
        lines = [orjson.dumps(r) for r in records(writer_records)]
        for attempt in range(repeat):
            store = S3Store(BUCKET, "writer", client=client)
            start = datetime(2025, 1, 1, tzinfo=UTC)
            writer = BatchWriter(
                store, BatchKey("bench", start, f"w{attempt}"), start + timedelta(1)
            )
            started = time.perf_counter()
            for line in lines:
                writer.write_line(line)
            writer.commit()
            writer_s.append(time.perf_counter() - started)
        megabytes = sum(len(line) + 1 for line in lines) / 1e6

    overhead = min(wrapped_s) / min(plain_s) - 1
    years = "fixture year 2024" if quick else "every fixture year"
    return (
        "## Scraper: the contract wrapper's overhead, and the archive writer\n\n"
        f"confs.tech spider, {years} ({scraped:,} records), mirror on localhost, "
        "no politeness delay. plain = `redfeed scrape confs-tech > file` (Scrapy's feed export); "
        "wrapped = `redfeed extract --start-early -- redfeed scrape confs-tech` into the local "
        "S3 (as the scraper images run it).\n\n"
        "| | min s | median s | records/s (best) |\n|---|---:|---:|---:|\n"
        f"| plain Scrapy feed export | {min(plain_s):.2f} | {statistics.median(plain_s):.2f} | "
        f"{scraped / min(plain_s):,.0f} |\n"
        f"| redfeed extract (archive + manifest) | {min(wrapped_s):.2f} | "
        f"{statistics.median(wrapped_s):.2f} | {scraped / min(wrapped_s):,.0f} |\n\n"
        f"Wrapper overhead (best vs best): **{overhead:+.1%}** (target ≤ +10%).\n\n"
        f"Archive writer alone: {writer_records:,} records ({megabytes:.0f} MB of JSON) → gzip "
        f"parts in the local S3 with manifest: {min(writer_s):.2f} s best / "
        f"{statistics.median(writer_s):.2f} s median = {writer_records / min(writer_s):,.0f} "
        f"records/s, {megabytes / min(writer_s):.1f} MB/s.\n"
    )
