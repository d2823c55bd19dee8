"""A batch with several streams loads each table from its own stream only: the rows it
validates and the archive parts a Redshift COPY manifest would list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from redfeed import load
from redfeed.archive import BatchKey, BatchWriter, FileStore
from redfeed.warehouse.destinations import LoadJob, LoadOutcome
from redfeed.warehouse.preflight import Preflight

START = datetime(2026, 7, 1, tzinfo=UTC)
FEED = "pretalx-demo-2026"


class RecordingDestination:
    """Takes each table's job and drains its pre-flight, as a destination would."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: dict[str, tuple[LoadJob, list[bytes]]] = {}

    def load(self, job: LoadJob, preflight: Preflight) -> LoadOutcome:
        lines = [line for line, _ in preflight]
        self.seen[job.table.name] = (job, lines)
        return LoadOutcome(
            "loaded", preflight.rows_in, len(lines), preflight.rows_rejected, 0, None
        )


def test_each_table_reads_only_its_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path / "archive")
    writer = BatchWriter(store, BatchKey(FEED, START, "run-1"), START, part_max_records=2)
    records: list[dict[str, Any]] = [
        {"_stream": "events", "event": "demo-2026", "name": "Demo", "date_from": "2026-07-13"},
        *({"_stream": "talks", "event": "demo-2026", "code": f"T{n}"} for n in range(3)),
        *({"_stream": "speakers", "event": "demo-2026", "code": f"S{n}"} for n in range(2)),
        *(
            {"_stream": "talk_speakers", "event": "demo-2026", "talk_code": f"T{n}",
             "speaker_code": "S0", "position": 0}
            for n in range(3)
        ),
    ]  # fmt: skip
    for record in records:
        writer.write_line(orjson.dumps(record))
    manifest = writer.commit()

    destination = RecordingDestination()
    monkeypatch.setattr("redfeed.warehouse.destinations.open_destination", lambda url: destination)
    for name, value in {
        "REDFEED_FEED": FEED,
        "REDFEED_INTERVAL_START": START.isoformat(),
        "REDFEED_RUN_ID": "run-1",
        "REDFEED_ARCHIVE_URL": store.root.as_uri(),
        "REDFEED_WAREHOUSE_URL": "postgresql://nowhere/db",
    }.items():
        monkeypatch.setenv(name, value)
    summary = load.load([])

    expected = {
        "pretalx_events": ("events", 1),
        "pretalx_talks": ("talks", 3),
        "pretalx_speakers": ("speakers", 2),
        "pretalx_talk_speakers": ("talk_speakers", 3),
    }
    assert set(destination.seen) == set(expected)
    for table, (stream, count) in expected.items():
        job, lines = destination.seen[table]
        assert job.table.stream == stream
        assert len(lines) == count, table
        assert job.source_urls == tuple(f.url for f in manifest.files_of(stream))
        assert all(f"/part-{stream}-" in url for url in job.source_urls)
    assert summary["rows_in"] == summary["rows_loaded"] == len(records)
    # Each table of the load has its own ledger id.
    assert len({job.load_id for job, _ in destination.seen.values()}) == len(expected)
