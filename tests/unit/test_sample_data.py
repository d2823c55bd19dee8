"""The demo's sample data works with every spider as the demo runs it: each source's layout
served by the mirror, the scraper wrapper archiving into one file archive."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

from redfeed.archive import Archive, FileStore
from redfeed.mirror import MirrorServer
from redfeed.sample_data import write_sample
from tests.extraction import extract as run_extract

YEAR = date.today().year
START, END = f"{YEAR}-06-01T00:00:00Z", f"{YEAR}-06-02T00:00:00Z"


def extract(archive: Path, feed: str, spider: str, source_url: str, **extra: str) -> Any:
    return run_extract(archive, feed, spider, source_url, f"{feed}-1", (START, END), **extra)


def test_every_feed_scrapes_the_sample(tmp_path: Path) -> None:
    data, archive = tmp_path / "demo-data", tmp_path / "archive"
    written = write_sample(data, [YEAR, YEAR + 1])
    assert set(written) == {"confs-tech", "python-organizers", "pretalx", "homepages"}

    with MirrorServer(data) as mirror:
        confs = extract(archive, "confs-tech", "confs-tech", f"{mirror.url}/confs-tech")
        listed = sum(
            len(json.loads(p.read_text()))
            for p in (data / "confs-tech" / "conferences" / str(YEAR)).glob("*.json")
        )
        assert (confs["records"], confs["rejected"]) == (listed, 0)

        organizers = extract(
            archive,
            "python-organizers",
            "python-organizers",
            f"{mirror.url}/python-organizers",
            REDFEED_YEARS_AHEAD="1",
        )
        rows = sum(
            len(list(csv.DictReader((data / "python-organizers" / f"{y}.csv").open())))
            for y in (YEAR, YEAR + 1)
        )
        # One row per year ends before it starts: quarantined, not dropped.
        assert (organizers["records"], organizers["rejected"]) == (rows - 2, 2)

        event = f"europython-{YEAR}"
        talks = extract(
            archive,
            f"pretalx-{event}",
            "pretalx",
            f"{mirror.url}/pretalx",
            REDFEED_PRETALX_EVENT=event,
        )
        assert talks["rejected"] == 0
        manifest = Archive(FileStore(archive)).latest(f"pretalx-{event}", _start())
        assert manifest is not None
        per_stream = {
            stream: sum(f.records for f in manifest.files_of(stream))
            for stream in ("events", "talks", "speakers", "talk_speakers")
        }
        served = data / "pretalx" / "api" / "events" / event
        served_talks = json.loads((served / "talks.json").read_text())
        assert per_stream == {
            "events": 1,
            "talks": len(served_talks),
            "speakers": len(json.loads((served / "speakers.json").read_text())),
            "talk_speakers": sum(len(t["speakers"]) for t in served_talks),
        }

        pages = extract(archive, "homepages", "homepages", f"{mirror.url}/homepages")
    manifest = Archive(FileStore(archive)).latest("homepages", _start())
    assert manifest is not None
    events = list(Archive(FileStore(archive)).records(manifest))
    names = sorted(str(e["name"]) for e in events)
    # Per year (python-organizers lists next year's too): EuroPython's full ConferenceEvent and
    # the @graph one; the page without JSON-LD yields nothing, the disallowed host is not fetched.
    assert len(names) == pages["records"] == 4, names
    assert {f"EuroPython {YEAR}", f"EuroPython {YEAR + 1}"} <= set(names)

    # Every archived record passes the loader's pre-flight for its table (the demo loads all).
    from redfeed.warehouse.jsonpaths import tables_for_feed
    from redfeed.warehouse.rows import RowBuilder

    reader = Archive(FileStore(archive))
    for feed in ("confs-tech", "python-organizers", f"pretalx-{event}", "homepages"):
        batch = reader.latest(feed, _start())
        assert batch is not None, feed
        for spec in tables_for_feed(feed):
            builder = RowBuilder(spec)
            lines = [line for f in batch.files_of(spec.stream) for line in reader.lines(f)]
            assert lines, (feed, spec.name)
            for line in lines:
                builder.build(line)  # raises Rejection with the reason


def _start() -> Any:
    from redfeed.contract import parse_instant

    return parse_instant("start", START)
