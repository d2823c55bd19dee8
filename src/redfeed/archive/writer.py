"""BatchWriter: records in, gzip JSON-lines parts out, manifest last."""

from __future__ import annotations

import gzip
import hashlib
import logging
import secrets
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import IO, Any

import orjson

from redfeed import __version__
from redfeed.archive.layout import STREAM_NAME, BatchKey
from redfeed.archive.manifest import FileEntry, Manifest
from redfeed.archive.store import PART_SIZE, ArchiveStore, ObjectWriter
from redfeed.contract import isoformat

log = logging.getLogger(__name__)

#: Keys the archive sets on every record; a scraper's own values for them are replaced.
LINEAGE_FIELDS = ("_batch_id", "_feed", "_interval_start", "_scraped_at")
REJECT_KEY = "_reject"
#: A record's stream (which table it is for, in a feed that fills several); the archive files it
#: in that stream's parts and removes the key.
STREAM_KEY = "_stream"
DIGEST_MODULUS = 2**256
#: Redshift COPY loads files in parallel, one per slice, best at 1 MB to 1 GB each compressed.
MIN_COPY_PART_BYTES = 1024 * 1024
MAX_COPY_PART_BYTES = 1024 * 1024 * 1024
#: Records dealt to one slice's part before the next one's turn: runs rather than single records
#: keep one gzip stream's state in the CPU caches while it works.
DEAL_RUN = 100


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

    def __init__(
        self,
        store: ArchiveStore,
        key: str,
        stream: str | None = None,
        *,
        target: ObjectWriter | None = None,
    ) -> None:
        self.key = key
        self.stream = stream
        self.url = store.uri(key)
        self.object = target if target is not None else store.new_object(key)
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


class SpooledObject:
    """An object held in a local temporary file (in memory up to one S3 part, then on disk) until
    it either moves to the store, to be continued there (``move_to_store``), or is read back
    (``read_back``)."""

    def __init__(self, store: ArchiveStore, key: str) -> None:
        self.store, self.key = store, key
        # Closed by whichever of move_to_store and abort ends the spool.
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=PART_SIZE)  # noqa: SIM115

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def move_to_store(self) -> ObjectWriter:
        """A new stored object holding what was spooled; later bytes go straight to it."""
        target = self.store.new_object(self.key)
        self.file.seek(0)
        try:
            while block := self.file.read(PART_SIZE):
                target.write(block)
        except BaseException:
            target.abort()
            raise
        finally:
            self.file.close()
        return target

    def commit(self) -> None:
        self.move_to_store().commit()

    def read_back(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file

    def abort(self) -> None:
        self.file.close()


def _dealt_order(readers: list[gzip.GzipFile], run: int) -> Iterator[bytes]:
    """The lines of parts dealt in runs of ``run`` from the first, in the order dealt."""
    while True:
        for reader in readers:
            lines = list(islice(reader, run))
            yield from lines
            if len(lines) < run:
                return


class StreamParts:
    """The open parts of one stream of a batch, and when each is full.

    Records are dealt round-robin, in runs of ``DEAL_RUN`` (shorter if parts are limited to few
    records), to ``slices`` parts (Redshift COPY loads one file per slice in parallel), so the
    parts stay within a run of each other. When one is full, all are committed together and a
    new round starts: a stream's part count is a multiple of ``slices`` (but for a last round
    too short to reach every slice). ``slices`` = 1 is one part at a time.

    With ``slices`` > 1 the first round is spooled locally until the batch has proven large
    (``slices * min_part_bytes`` compressed, or a full part): then each spool moves to the store
    and its gzip stream goes on there, so a record is compressed once. A batch that never proves
    large is merged back, in the scraped order, into one part, as without slices: small batches
    pay a second compression, large ones nothing. Memory: one upload buffer per slice, and the
    spools (bounded by the threshold, on disk past one S3 part each).
    """

    def __init__(
        self,
        writer: BatchWriter,
        stream: str | None,
        *,
        slices: int,
        min_part_bytes: int,
    ) -> None:
        self.writer = writer
        self.stream = stream
        self.kind = "part" if stream is None else f"part-{stream}"
        self.slices = slices
        self.proven_large_bytes = slices * min_part_bytes
        self.spooling = slices > 1
        self.next_index = 0
        self.slots: list[JsonLinesObject | None] = [None] * slices
        self.turn = 0
        self.run = max(1, min(DEAL_RUN, writer.part_max_records // 10))
        self.dealt = 0  # records of the current run

    @property
    def records(self) -> int:
        return sum(p.records for p in self.slots if p is not None)

    def _full(self, part: JsonLinesObject) -> bool:
        writer = self.writer
        return (
            part.records >= writer.part_max_records
            or part.uncompressed >= writer.part_max_bytes
            or (self.slices > 1 and part.sink.bytes >= MAX_COPY_PART_BYTES)
        )

    def _open(self) -> JsonLinesObject:
        key = self.writer.key.part(self.kind, self.next_index, self.writer.attempt)
        self.next_index += 1
        store = self.writer.store
        target = SpooledObject(store, key) if self.spooling else None
        return JsonLinesObject(store, key, self.stream, target=target)

    def write(self, line: bytes) -> list[FileEntry]:
        """Write one line; the parts this finished (usually none)."""
        part = self.slots[self.turn]
        if part is None:
            part = self.slots[self.turn] = self._open()
        part.write(line)
        self.dealt += 1
        turned = False
        if self.dealt == self.run:
            self.dealt = 0
            self.turn = (self.turn + 1) % self.slices
            turned = self.turn == 0
        full = self._full(part)
        # The spools' sizes are summed once a turn of the slices, not once a record.
        if self.spooling and (full or (turned and self._spooled() >= self.proven_large_bytes)):
            self._move_spools_to_store()
        return self._commit_round() if full else []

    def _spooled(self) -> int:
        return sum(p.sink.bytes for p in self.slots if p is not None)

    def _move_spools_to_store(self) -> None:
        """The batch is large: each spooled part becomes the stored part it began."""
        self.spooling = False
        for part in self.slots:
            if part is not None:
                assert isinstance(part.object, SpooledObject)
                part.object = part.sink.target = part.object.move_to_store()

    def _merge_spools(self) -> FileEntry:
        """The batch stayed small: one part, its records in the order they were dealt."""
        spools = [p for p in self.slots if p is not None]
        readers: list[gzip.GzipFile] = []
        for part in spools:
            assert isinstance(part.object, SpooledObject)
            part.gzip.close()
            readers.append(gzip.GzipFile(fileobj=part.object.read_back(), mode="rb"))
        self.spooling = False
        self.next_index = 0
        merged = self._open()
        try:
            for line in _dealt_order(readers, self.run):
                merged.write(line)
            entry = merged.commit()
        except BaseException:
            merged.abort()
            raise
        finally:
            for reader, part in zip(readers, spools, strict=True):
                reader.close()
                part.object.abort()
        self.slots = [None] * self.slices
        return entry

    def _commit_round(self) -> list[FileEntry]:
        finished = [part.commit() for part in self.slots if part is not None]
        self.slots = [None] * self.slices
        self.turn = self.dealt = 0
        return finished

    def commit(self) -> list[FileEntry]:
        """Close the open parts (a batch that never proved large: merged into one)."""
        if self.spooling and any(p is not None for p in self.slots):
            return [self._merge_spools()]
        return self._commit_round()

    def abort(self) -> None:
        for part in self.slots:
            if part is not None:
                part.abort()
        self.slots = [None] * self.slices


class BatchWriter:
    """Streams one batch into the archive with flat memory, then commits it with its manifest.

    Lines that are not JSON objects, and records a scraper marks ``{"_reject": {...}}``, go to
    ``rejects-*`` parts with their reason: nothing is dropped. ``slices`` > 1 (the Redshift
    cluster's slice count, ``REDFEED_COPY_SLICES``) splits a large batch's stream into a multiple
    of ``slices`` parts of about equal size, so that COPY loads them in parallel (StreamParts).
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
        slices: int = 1,
        min_part_bytes: int = MIN_COPY_PART_BYTES,
    ) -> None:
        if slices < 1:
            raise ValueError(f"slices must be at least 1, not {slices}")
        self.store = store
        self.key = key
        self.interval_end = interval_end
        self.part_max_records = part_max_records
        self.part_max_bytes = part_max_bytes
        self.code_version = code_version or f"redfeed {__version__}"
        self.source_url = source_url
        self.slices = slices
        self.min_part_bytes = min_part_bytes
        self.attempt = secrets.token_hex(3)
        self.started_at = datetime.now(UTC)
        self.files: list[FileEntry] = []
        self.reject_files: list[FileEntry] = []
        #: the open parts of each stream (``None``: the default stream)
        self._parts: dict[str | None, StreamParts] = {}
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
        parts = self._parts.get(stream)
        if parts is None:
            parts = self._parts[stream] = StreamParts(
                self, stream, slices=self.slices, min_part_bytes=self.min_part_bytes
            )
        self.files += parts.write(line)

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
        for parts in self._parts.values():
            self.files += parts.commit()
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
        for parts in self._parts.values():
            parts.abort()
        if self._rejects is not None:
            self._rejects.abort()
        self._parts.clear()
        self._rejects = None
        for entry in [*self.files, *self.reject_files]:
            try:
                self.store.delete(entry.key)
            except Exception:
                log.warning("could not delete abandoned part %s", entry.url)
        self.closed = True
