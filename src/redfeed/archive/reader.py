"""Reading the archive: only committed batches (those with a manifest) exist, and their parts are
checked against the manifest's sha256 and counts before anyone trusts them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any, cast

import orjson
from isal import igzip, isal_zlib

from redfeed.archive.layout import MANIFEST, BatchKey, feed_prefix, interval_dir
from redfeed.archive.manifest import FileEntry, Manifest
from redfeed.archive.store import ArchiveStore
from redfeed.errors import SourceDataError


class BatchIntegrityError(SourceDataError):
    """An archived object no longer matches its manifest (corruption or tampering)."""


#: What a damaged or truncated gzip stream raises while it is read: BadGzipFile (an OSError), a
#: cut-off stream, or ISA-L refusing a deflate block (its stub declares the class an instance).
DAMAGED_GZIP: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    cast("type[BaseException]", isal_zlib.error),
)


class _VerifyingReader:
    """Hashes bytes as gzip pulls them, so verification costs no second read."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        self.bytes += len(data)
        return data

    def readinto(self, buffer: Any) -> int:  # what isal's reader asks for
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(1024 * 1024):
            pass


class Archive:
    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def manifest(self, key: BatchKey) -> Manifest | None:
        if not self.store.exists(key.manifest):
            return None
        return Manifest.from_json(self.store.get(key.manifest))

    def batches(self, feed: str, interval_start: datetime | None = None) -> list[Manifest]:
        """Committed batches of a feed (optionally one interval), oldest first."""
        prefix = feed_prefix(feed)
        if interval_start is not None:
            prefix += interval_dir(interval_start) + "/"
        found = [
            Manifest.from_json(self.store.get(k))
            for k in self.store.keys(prefix)
            if k.endswith("/" + MANIFEST)
        ]
        return sorted(found, key=lambda m: (m.interval_start, m.finished_at, m.run_id))

    def latest(self, feed: str, interval_start: datetime) -> Manifest | None:
        batches = self.batches(feed, interval_start)
        return batches[-1] if batches else None

    def lines(self, entry: FileEntry) -> Iterator[bytes]:
        """The decompressed lines of one object, verified against its manifest entry once the
        last line has been read (a consumer that stops early has verified nothing)."""
        with self.store.open(entry.key) as raw:
            reader = _VerifyingReader(raw)
            count = 0
            try:
                with igzip.GzipFile(fileobj=reader, mode="rb") as lines:  # type: ignore[no-untyped-call]
                    for line in lines:
                        count += 1
                        yield line
            except DAMAGED_GZIP as exc:
                raise BatchIntegrityError(
                    f"{entry.url}: not a readable gzip stream: {exc}"
                ) from exc
            reader.drain()
        digest = reader.sha256.hexdigest()
        if digest != entry.sha256 or reader.bytes != entry.bytes:
            raise BatchIntegrityError(
                f"{entry.url}: sha256 {digest} / {reader.bytes} bytes, but the manifest says "
                f"{entry.sha256} / {entry.bytes} bytes"
            )
        if count != entry.records:
            raise BatchIntegrityError(
                f"{entry.url}: {count} records, but the manifest says {entry.records}"
            )

    def records(self, manifest: Manifest) -> Iterator[dict[str, Any]]:
        for entry in manifest.files:
            for line in self.lines(entry):
                yield orjson.loads(line)

    def rejects(self, manifest: Manifest) -> Iterator[dict[str, Any]]:
        for entry in manifest.rejects:
            for line in self.lines(entry):
                yield orjson.loads(line)
