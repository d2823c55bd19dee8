"""The batch manifest: written last, it is what makes a batch exist."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

FORMAT = "redfeed.batch/1"


@dataclass(frozen=True)
class FileEntry:
    """One archived object: where it is, how many records, and the bytes as stored."""

    key: str
    url: str
    records: int
    bytes: int
    uncompressed_bytes: int
    sha256: str
    #: The stream the records belong to (``None``: the feed's default stream). A feed that
    #: fills several tables writes each table's records to its own stream, so a Redshift COPY
    #: manifest can list exactly one table's files.
    stream: str | None = None


@dataclass(frozen=True)
class Manifest:
    feed: str
    run_id: str
    interval_start: str
    interval_end: str
    started_at: str
    finished_at: str
    code_version: str
    records: int
    rejected: int
    files: list[FileEntry]
    rejects: list[FileEntry]
    #: Order-independent digest of the records as the scraper printed them; equal digests mean
    #: the source said the same thing (used by REDFEED_SKIP_UNCHANGED).
    content_digest: str
    source_url: str | None = None
    format: str = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2) + b"\n"

    def files_of(self, stream: str | None) -> list[FileEntry]:
        """The data files of ``stream`` (``None``: the default stream)."""
        return [f for f in self.files if f.stream == stream]

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw = orjson.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        raw["files"] = [FileEntry(**f) for f in raw["files"]]
        raw["rejects"] = [FileEntry(**f) for f in raw["rejects"]]
        return cls(**raw)
