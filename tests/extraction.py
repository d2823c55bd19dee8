"""The scraper wrapper and a spider as the images run them, on the host: ``redfeed extract --
python -m redfeed.feeds.crawl <spider>`` with the contract's environment; its summary line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson


def extract(
    archive: Path,
    feed: str,
    spider: str,
    source_url: str,
    run_id: str,
    interval: tuple[str, str],
    **extra: str,
) -> dict[str, Any]:
    """Run one extraction into the file archive ``archive``; fails the test unless it exits 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDFEED_")}
    env.update(
        REDFEED_FEED=feed,
        REDFEED_RUN_ID=run_id,
        REDFEED_ARCHIVE_URL=archive.as_uri(),
        REDFEED_SOURCE_URL=source_url,
        REDFEED_INTERVAL_START=interval[0],
        REDFEED_INTERVAL_END=interval[1],
        REDFEED_DOWNLOAD_DELAY="0",
        **extra,
    )
    crawl = [sys.executable, "-m", "redfeed.feeds.crawl", spider]
    done = subprocess.run(
        [sys.executable, "-m", "redfeed.cli", "extract", "--", *crawl],
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    summary: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return summary
