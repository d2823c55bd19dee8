"""Where a batch lives: ``raw/<feed>/<interval start>/<run id>/``.

The interval start is written in basic ISO 8601 (``20240101T000000Z``): sortable, and free of the
colons some S3 tooling mangles. Every component is validated before it becomes part of a key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from redfeed.contract import FEED_NAME, RUN_ID
from redfeed.errors import ConfigError

RAW = "raw"
MANIFEST = "manifest.json"
INTERVAL_DIR = re.compile(r"^\d{8}T\d{6}Z\Z")
#: A stream name (a record's ``_stream``): it becomes part of object keys.
STREAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")


def interval_dir(start: datetime) -> str:
    return start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_interval_dir(name: str) -> datetime:
    if not INTERVAL_DIR.match(name):
        raise ValueError(f"{name!r} is not an interval directory")
    return datetime.strptime(name, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class BatchKey:
    """The identity of one batch: feed, interval start and run id."""

    feed: str
    interval_start: datetime
    run_id: str

    def __post_init__(self) -> None:
        if not FEED_NAME.match(self.feed):
            raise ConfigError(f"feed name {self.feed!r} cannot be part of an archive key")
        if not RUN_ID.match(self.run_id) or ".." in self.run_id:
            raise ConfigError(f"run id {self.run_id!r} cannot be part of an archive key")

    @property
    def prefix(self) -> str:
        return f"{feed_prefix(self.feed)}{interval_dir(self.interval_start)}/{self.run_id}/"

    @property
    def manifest(self) -> str:
        return self.prefix + MANIFEST

    def part(self, kind: str, index: int, attempt: str) -> str:
        """Parts carry the writing attempt's token: a retry under the same run id writes new
        objects next to an abandoned attempt's leftovers instead of overwriting them."""
        return f"{self.prefix}{kind}-{index:05d}-{attempt}.jsonl.gz"


def feed_prefix(feed: str) -> str:
    if not FEED_NAME.match(feed):
        raise ConfigError(f"feed name {feed!r} cannot be part of an archive key")
    return f"{RAW}/{feed}/"
