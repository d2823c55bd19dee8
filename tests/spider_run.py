"""A spider run as the wrapper runs it (``python -m redfeed.feeds.crawl <spider>``), its stdout
parsed strictly: one JSON object per line, the last line ended."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

#: No politeness delay, quick bounded retries: tests wait for outcomes, not for manners.
FAST = {
    "REDFEED_DOWNLOAD_DELAY": "0",
    "REDFEED_RETRY_TIMES": "2",
    "REDFEED_RETRY_BACKOFF_BASE": "0.05",
    "REDFEED_RETRY_BACKOFF_MAX": "0.2",
}


@dataclass
class SpiderRun:
    code: int
    records: list[dict[str, Any]]
    stdout: bytes
    stderr: str
    seconds: float

    @property
    def stats(self) -> dict[str, Any]:
        found = re.findall(r"finished: exit \d+ .*; stats (\{.*\})$", self.stderr, re.M)
        assert found, f"no final stats line in stderr:\n{self.stderr[-3000:]}"
        stats: dict[str, Any] = json.loads(found[-1])
        return stats

    @property
    def data(self) -> list[dict[str, Any]]:
        return [record for record in self.records if "_reject" not in record]

    @property
    def rejects(self) -> list[dict[str, Any]]:
        return [record["_reject"] for record in self.records if "_reject" in record]

    def stream(self, name: str) -> list[dict[str, Any]]:
        return [record for record in self.records if record.get("_stream") == name]

    @property
    def streams(self) -> Counter[str]:
        """Records per stream."""
        return Counter(record["_stream"] for record in self.records if "_stream" in record)


def run_spider(spider: str, env: dict[str, str], timeout: float = 60) -> SpiderRun:
    """Run ``spider`` with exactly ``env``; anything but JSON objects on stdout fails the test."""
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-m", "redfeed.feeds.crawl", spider],
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.monotonic() - started
    stdout = process.stdout
    assert not stdout or stdout.endswith(b"\n"), "stdout does not end with a newline"
    records = []
    for number, line in enumerate(stdout.split(b"\n")[:-1], 1):
        record = json.loads(line)
        assert isinstance(record, dict), f"stdout line {number} is not an object: {line[:200]!r}"
        records.append(record)
    return SpiderRun(
        process.returncode, records, stdout, process.stderr.decode(errors="replace"), seconds
    )
