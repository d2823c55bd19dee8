"""Pre-flight validation: every record checked against the target columns before the warehouse
sees it. Bad records go to a rejects file with their reason and origin; the rest stream on."""

from __future__ import annotations

import base64
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any, Final, Literal, cast, overload

import orjson

from redfeed.archive.store import ArchiveStore
from redfeed.archive.writer import JsonLinesObject
from redfeed.errors import ExitCode, RedfeedError, error_for_exit_code
from redfeed.warehouse.rows import BinaryCopy, Rejection, Row, RowBuilder

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


log = logging.getLogger(__name__)

#: COPY data a pre-flight worker sends at a time (what the read-ahead counts its room in).
CHUNK_BYTES: Final = 1024 * 1024

#: (where the line came from, its 1-based line number there, the line's bytes)
SourceLine = tuple[str, int, bytes]


class RejectSink:
    """Quarantine for one load: a gzip JSON-lines object created on the first rejection."""

    def __init__(self, store: ArchiveStore, key: str) -> None:
        self.store = store
        self.key = key
        self.url = store.uri(key)
        self._object: JsonLinesObject | None = None
        self.count = 0

    def add(self, origin: str, line_no: int, line: bytes, rejection: Rejection) -> None:
        entry: dict[str, Any] = {"reason": rejection.reason, "origin": origin, "line": line_no}
        if rejection.column:
            entry["column"] = rejection.column
        try:
            entry["raw"] = line.decode("utf-8")
        except UnicodeDecodeError:  # keep the exact bytes, never a lossy decoding
            entry["raw_base64"] = base64.b64encode(line).decode()
        if self._object is None:
            self._object = JsonLinesObject(self.store, self.key)
        self._object.write(orjson.dumps(entry) + b"\n")
        self.count += 1
        if self.count <= 20:
            log.warning("reject %s:%d: %s", origin, line_no, rejection.reason)
        elif self.count == 21:
            log.warning("more rejects: see %s", self.url)

    def commit(self) -> str | None:
        """Make the rejects visible; the URL, or None when nothing was rejected."""
        if self._object is None:
            return None
        self._object.commit()
        self._object = None
        return self.url

    def abort(self) -> None:
        if self._object is not None:
            self._object.abort()
            self._object = None


@dataclass(frozen=True)
class Part:
    """One archive object's lines, opened on demand, and how many records it holds (``None``:
    not known, as for stdin)."""

    open: Callable[[], Iterable[SourceLine]]
    records: int | None = None


def share_parts(parts: Sequence[Part], workers: int) -> tuple[list[list[int]], list[int]]:
    """Which parts (indexes) each worker reads on its own, and which all workers read and split
    line by line. A worker reading a whole part gunzips only its own records; a shared part is
    gunzipped by every worker, but no worker waits on another's big last part. Largest first,
    each part goes whole to the least-loaded worker while that keeps it within an even share
    of the records; the rest are shared."""
    owned: list[list[int]] = [[] for _ in range(workers)]
    if workers == 1:
        owned[0] = list(range(len(parts)))
        return owned, []
    known = [i for i, part in enumerate(parts) if part.records is not None]
    even_share = sum(parts[i].records or 0 for i in known) / workers
    loads = [0] * workers
    shared = [i for i, part in enumerate(parts) if part.records is None]
    for i in sorted(known, key=lambda i: -(parts[i].records or 0)):
        worker = loads.index(min(loads))
        records = parts[i].records or 0
        if loads[worker] + records <= even_share:
            owned[worker].append(i)
            loads[worker] += records
        else:
            shared.append(i)
    return owned, sorted(shared)


@dataclass
class Preflight:
    """Iterates the valid rows of ``lines``; counts and quarantines the rest."""

    builder: RowBuilder
    lines: Iterable[SourceLine]
    rejects: RejectSink
    #: Lineage to fill where a record lacks it (records piped on stdin, not from the archive).
    lineage: dict[str, Any] = field(default_factory=dict)
    #: ``lines`` split by archive object, each opened on demand, so that workers can read (and
    #: gunzip) only their own objects instead of every line (see :func:`share_parts`).
    parts: Sequence[Part] = ()
    rows_in: int = 0
    rows_valid: int = 0

    @property
    def rows_rejected(self) -> int:
        return self.rejects.count

    def copy_data(self, workers: int = 1, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The valid rows as the loader COPY's binary data (``rows.COPY_OPTIONS``, header and
        trailer included), in chunks, produced by ``workers`` forked processes (each takes its
        share, see :func:`share_parts`): reading, gunzip, parsing, validation and encoding run
        beside this process, which only feeds COPY while the server reads it. Each pipe holds a
        few chunks at most, so memory stays flat. Rejected records come back over the pipes to
        this process's one rejects file. Counts are settled when every worker has finished."""
        yield BinaryCopy.SIGNATURE
        yield from self._worker_chunks(workers, chunk_bytes)
        yield BinaryCopy.TRAILER

    def _worker_chunks(self, workers: int, chunk_bytes: int) -> Iterator[bytes]:
        context = multiprocessing.get_context("fork")
        pipes: dict[Any, Any] = {}
        for index in range(workers):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=self._produce_copy_data, args=(sender, index, workers, chunk_bytes)
            )
            process.start()
            sender.close()
            pipes[receiver] = process
        totals = {"rows_in": 0, "rows_valid": 0}
        try:
            while pipes:
                for ready in wait(list(pipes)):
                    receiver = cast("Connection", ready)
                    try:
                        message = receiver.recv_bytes()
                    except EOFError:
                        process = pipes[receiver]
                        process.join()
                        raise RedfeedError(
                            f"a pre-flight worker died (exit code {process.exitcode})"
                        ) from None
                    tag, body = message[:1], message[1:]
                    if tag == b"D":
                        yield body
                    elif tag == b"R":
                        origin, line_no, reason, column, line = orjson.loads(body)
                        self.rejects.add(
                            origin, line_no, base64.b64decode(line), Rejection(reason, column)
                        )
                    else:
                        outcome = orjson.loads(body)
                        if "error" in outcome:
                            code = outcome["exit_code"]
                            raise (
                                RedfeedError(outcome["error"])
                                if code == ExitCode.SOFTWARE
                                else error_for_exit_code(code, outcome["error"])
                            )
                        for key in totals:
                            totals[key] += outcome[key]
                        pipes.pop(receiver).join()
                        receiver.close()
            self.rows_in, self.rows_valid = totals["rows_in"], totals["rows_valid"]
        finally:
            for receiver, process in pipes.items():  # an error or an abandoned generator
                receiver.close()
                if process.is_alive():
                    process.terminate()
                process.join()

    def _produce_copy_data(
        self, sender: Connection, index: int, workers: int, chunk_bytes: int
    ) -> None:
        """Runs in a forked worker: its share of the rows → binary COPY tuples → the pipe."""
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            append = BinaryCopy(self.builder.table).append
            pending = bytearray(b"D")
            for row in self.rows(index, workers, sender, compiled=True):
                append(row, pending)
                if len(pending) > chunk_bytes:
                    sender.send_bytes(pending)
                    pending = bytearray(b"D")
            sender.send_bytes(pending)
            outcome: dict[str, Any] = {"rows_in": self.rows_in, "rows_valid": self.rows_valid}
        except Exception as exc:  # report it to the parent, which raises it as its own
            code = exc.exit_code if isinstance(exc, RedfeedError) else ExitCode.SOFTWARE
            outcome = {"error": f"{type(exc).__name__}: {exc}", "exit_code": int(code)}
        sender.send_bytes(b"E" + orjson.dumps(outcome))
        sender.close()
        os._exit(0)  # no atexit handlers, no flushing of the parent's inherited buffers

    def __iter__(self) -> Iterator[tuple[bytes, Row]]:
        return self.rows()

    def _share(self, index: int, workers: int) -> Iterator[SourceLine]:
        """This worker's lines: the archive objects it owns, then every ``workers``-th
        non-blank line of the shared ones (of ``lines`` when there are no parts)."""
        if self.parts:
            owned, shared = share_parts(self.parts, workers)
            for i in owned[index]:
                yield from self.parts[i].open()
            lines: Iterable[SourceLine] = chain.from_iterable(self.parts[i].open() for i in shared)
        else:
            lines = self.lines
        if workers == 1:
            yield from lines
            return
        position = -1
        for source_line in lines:
            if not source_line[2].strip():
                continue
            position += 1
            if position % workers == index:
                yield source_line

    @overload
    def rows(
        self,
        index: int = 0,
        workers: int = 1,
        rejects_to: Connection | None = None,
        compiled: Literal[False] = False,
    ) -> Iterator[tuple[bytes, Row]]: ...

    @overload
    def rows(
        self, index: int, workers: int, rejects_to: Connection | None, compiled: Literal[True]
    ) -> Iterator[Sequence[Any]]: ...

    def rows(
        self,
        index: int = 0,
        workers: int = 1,
        rejects_to: Connection | None = None,
        compiled: bool = False,
    ) -> Iterator[tuple[bytes, Row]] | Iterator[Sequence[Any]]:
        """The valid (line, row) pairs of this worker's share, or with ``compiled`` each valid
        record's row alone, from the compiled and fast paths (the COPY's). Rejected records go
        to the rejects file, or back over ``rejects_to`` when running in a worker."""
        parse, lineage = self.builder.parse, self.lineage
        build = self.builder.compiled_row if compiled else None
        # Records that carry their lineage (the archive's) take the fast path in one call.
        line_row = self.builder.line_row if compiled and not lineage else None
        row = self.builder.row
        for origin, line_no, line in self._share(index, workers):
            if not line.strip():
                continue
            self.rows_in += 1
            try:
                if line_row is not None:
                    built: Any = line_row(line)
                else:
                    record = parse(line)
                    if lineage:
                        for key, value in lineage.items():
                            record.setdefault(key, value)
                    built = build(record, line) if build else (line, row(record))
            except Rejection as rejection:
                if rejects_to is None:
                    self.rejects.add(origin, line_no, line, rejection)
                else:
                    rejected = [
                        origin,
                        line_no,
                        rejection.reason,
                        rejection.column,
                        base64.b64encode(line).decode(),
                    ]
                    rejects_to.send_bytes(b"R" + orjson.dumps(rejected))
                continue
            self.rows_valid += 1
            yield built


class ReadAhead:
    """Runs ``chunks`` (of about ``chunk_bytes``) in a thread, up to ``max_bytes`` ahead of the
    consumer, so that the pre-flight workers keep producing while the consumer's connection is
    busy sending (the server parsing the COPY). Use as a context manager: leaving it early stops
    the thread, which closes ``chunks`` (and so stops the workers)."""

    _END: Final = object()

    def __init__(
        self, chunks: Iterator[bytes], max_bytes: int, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        self._chunks = chunks
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, max_bytes // chunk_bytes))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="preflight-read-ahead")

    def __enter__(self) -> Iterator[bytes]:
        self._thread.start()
        return self._drain()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer, which raises it as its own
            self._put(exc)
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()

    def _put(self, item: Any) -> bool:
        """Queue ``item`` once there is room; False if the consumer has gone."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _drain(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
