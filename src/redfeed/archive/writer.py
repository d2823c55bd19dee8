"""BatchWriter: records in, gzip JSON-lines parts out, manifest last."""

from __future__ import annotations

import gzip
import hashlib
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson

from redfeed import __version__
from redfeed.archive.layout import STREAM_NAME, BatchKey
from redfeed.archive.manifest import FileEntry, Manifest
from redfeed.archive.store import ArchiveStore, ObjectWriter
from redfeed.contract import isoformat

log = logging.getLogger(__name__)

#: Keys the archive sets on every record; a scraper's own values for them are replaced.
LINEAGE_FIELDS = ("_batch_id", "_feed", "_interval_start", "_scraped_at")
REJECT_KEY = "_reject"
#: A record's stream (which table it is for, in a feed that fills several); the archive files it
#: in that stream's parts and removes the key.
STREAM_KEY = "_stream"
DIGEST_MODULUS = 2**256


class _CountingSink:
    """Sits between gzip and the object writer: counts and hashes the bytes as stored."""

    def __init__(self, target: ObjectWriter) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        pass


class JsonLinesObject:
    """One gzip JSON-lines object being written (a batch part, or a rejects file)."""

    def __init__(self, store: ArchiveStore, key: str, stream: str | None = None) -> None:
        self.key = key
        self.stream = stream
        self.url = store.uri(key)
        self.object = store.new_object(key)
        self.sink = _CountingSink(self.object)
        # mtime=0: identical records give identical bytes; level 6 is zlib's speed/size knee.
        self.gzip = gzip.GzipFile(fileobj=self.sink, mode="wb", compresslevel=6, mtime=0)
        self.records = 0
        self.uncompressed = 0

    def write(self, line: bytes) -> None:
        self.gzip.write(line)
        self.records += 1
        self.uncompressed += len(line)

    def commit(self) -> FileEntry:
        self.gzip.close()
        self.object.commit()
        return FileEntry(
            key=self.key,
            url=self.url,
            records=self.records,
            bytes=self.sink.bytes,
            uncompressed_bytes=self.uncompressed,
            sha256=self.sink.sha256.hexdigest(),
            stream=self.stream,
        )

    def abort(self) -> None:
        try:
            self.gzip.close()
        except Exception:  # the sink may be what failed
            log.debug("closing an aborted part failed", exc_info=True)
        self.object.abort()


class BatchWriter:
    """Streams one batch into the archive with flat memory, then commits it with its manifest.

    Lines that are not JSON objects, and records a scraper marks ``{"_reject": {...}}``, go to
    ``rejects-*`` parts with their reason: nothing is dropped.
    """

    def __init__(
        self,
        store: ArchiveStore,
        key: BatchKey,
        interval_end: datetime,
        *,
        part_max_records: int = 500_000,
        part_max_bytes: int = 256 * 1024 * 1024,
        code_version: str = "",
        source_url: str | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.interval_end = interval_end
        self.part_max_records = part_max_records
        self.part_max_bytes = part_max_bytes
        self.code_version = code_version or f"redfeed {__version__}"
        self.source_url = source_url
        self.attempt = secrets.token_hex(3)
        self.started_at = datetime.now(UTC)
        self.files: list[FileEntry] = []
        self.reject_files: list[FileEntry] = []
        #: the open part of each stream (``None``: the default stream)
        self._parts: dict[str | None, JsonLinesObject] = {}
        self._rejects: JsonLinesObject | None = None
        self._digest = 0
        self._lineage = {
            "_batch_id": key.run_id,
            "_feed": key.feed,
            "_interval_start": isoformat(key.interval_start),
        }
        self.closed = False

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files) + sum(p.records for p in self._parts.values())

    @property
    def rejected(self) -> int:
        done = sum(f.records for f in self.reject_files)
        return done + (self._rejects.records if self._rejects else 0)

    @property
    def content_digest(self) -> str:
        return f"{self._digest:064x}"

    def write_line(self, line: bytes) -> None:
        """Take one line of a scraper's stdout."""
        stripped = line.strip()
        if not stripped:
            return
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            self.reject(f"not valid JSON: {exc}", raw=stripped.decode("utf-8", "replace"))
            return
        if not isinstance(value, dict):
            self.reject(f"a record must be a JSON object, not {type(value).__name__}", value=value)
            return
        if REJECT_KEY in value and len(value) == 1 and isinstance(value[REJECT_KEY], dict):
            marked = value[REJECT_KEY]
            reason = str(marked.get("reason") or "rejected by the scraper (no reason given)")
            self.reject(reason, value=marked.get("value"))
            return
        stream = value.get(STREAM_KEY)
        if stream is not None and not (isinstance(stream, str) and STREAM_NAME.match(stream)):
            self.reject(
                f"{STREAM_KEY} must be a name matching {STREAM_NAME.pattern}, not {stream!r:.80}",
                value=value,
            )
            return
        # Sum of per-line hashes: equal for the same records in any order.
        self._digest = (self._digest + int.from_bytes(hashlib.sha256(stripped).digest())) % (
            DIGEST_MODULUS
        )
        self.write(value)

    def write(self, record: dict[str, Any]) -> None:
        stream = record.pop(STREAM_KEY, None)
        record.update(self._lineage)
        record["_scraped_at"] = isoformat(datetime.now(UTC))
        line = orjson.dumps(record) + b"\n"
        part = self._parts.get(stream)
        if part is None:
            index = sum(1 for f in self.files if f.stream == stream)
            kind = "part" if stream is None else f"part-{stream}"
            part = self._parts[stream] = JsonLinesObject(
                self.store, self.key.part(kind, index, self.attempt), stream
            )
        part.write(line)
        if part.records >= self.part_max_records or part.uncompressed >= self.part_max_bytes:
            self.files.append(part.commit())
            del self._parts[stream]

    def reject(self, reason: str, *, value: Any = None, raw: str | None = None) -> None:
        entry: dict[str, Any] = {"reason": reason, **self._lineage}
        entry["_scraped_at"] = isoformat(datetime.now(UTC))
        if raw is not None:
            entry["raw"] = raw
        else:
            entry["value"] = value
        log.warning("rejected record %d: %s", self.rejected + 1, reason)
        if self._rejects is None:
            key = self.key.part("rejects", len(self.reject_files), self.attempt)
            self._rejects = JsonLinesObject(self.store, key)
        self._rejects.write(orjson.dumps(entry) + b"\n")

    def commit(self) -> Manifest:
        """Close the open parts and write the manifest, which makes the batch exist."""
        for part in self._parts.values():
            self.files.append(part.commit())
        self._parts.clear()
        if self._rejects is not None:
            self.reject_files.append(self._rejects.commit())
            self._rejects = None
        manifest = Manifest(
            feed=self.key.feed,
            run_id=self.key.run_id,
            interval_start=isoformat(self.key.interval_start),
            interval_end=isoformat(self.interval_end),
            started_at=isoformat(self.started_at),
            finished_at=isoformat(datetime.now(UTC)),
            code_version=self.code_version,
            records=sum(f.records for f in self.files),
            rejected=sum(f.records for f in self.reject_files),
            files=self.files,
            rejects=self.reject_files,
            content_digest=self.content_digest,
            source_url=self.source_url,
        )
        self.store.put_new(self.key.manifest, manifest.to_json())
        self.closed = True
        return manifest

    def abort(self) -> None:
        """Abandon the batch: no manifest, so nobody downstream ever sees it. Our own finished
        parts are deleted (best effort); anything left is unreferenced debris."""
        for part in [*self._parts.values(), self._rejects]:
            if part is not None:
                part.abort()
        self._parts.clear()
        self._rejects = None
        for entry in [*self.files, *self.reject_files]:
            try:
                self.store.delete(entry.key)
            except Exception:
                log.warning("could not delete abandoned part %s", entry.url)
        self.closed = True
