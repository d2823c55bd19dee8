"""Pre-flight validation: every record checked against the target columns before the warehouse
sees it. Bad records go to a rejects file with their reason and origin; the rest stream on."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from redfeed.archive.store import ArchiveStore
from redfeed.archive.writer import JsonLinesObject
from redfeed.warehouse.rows import Rejection, Row, RowBuilder

log = logging.getLogger(__name__)

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


@dataclass
class Preflight:
    """Iterates the valid rows of ``lines``; counts and quarantines the rest."""

    builder: RowBuilder
    lines: Iterable[SourceLine]
    rejects: RejectSink
    #: Lineage to fill where a record lacks it (records piped on stdin, not from the archive).
    lineage: dict[str, Any] = field(default_factory=dict)
    rows_in: int = 0
    rows_valid: int = 0

    @property
    def rows_rejected(self) -> int:
        return self.rejects.count

    def __iter__(self) -> Iterator[tuple[bytes, Row]]:
        parse, row, lineage = self.builder.parse, self.builder.row, self.lineage
        for origin, line_no, line in self.lines:
            if not line.strip():
                continue
            self.rows_in += 1
            try:
                record = parse(line)
                if lineage:
                    for key, value in lineage.items():
                        record.setdefault(key, value)
                built = row(record)
            except Rejection as rejection:
                self.rejects.add(origin, line_no, line, rejection)
                continue
            self.rows_valid += 1
            yield line, built
