"""A pretalx event from the mirror to PostgreSQL: ``redfeed extract -- <the pretalx spider>``
archives one snapshot (four streams) into a file archive, ``redfeed load`` fills the four
tables of the feed's family, ``redfeed verify`` reconciles them, and the bridge joins."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from redfeed.cli import main as cli_main
from redfeed.mirror import MirrorServer
from redfeed.warehouse import migrate
from tests.pretalx_api import (
    EVENT,
    expected_bridge,
    expected_counts,
    fixture_speakers,
    fixture_talks,
    write_instance,
)

FEED = f"pretalx-{EVENT}"
RUN_ID = "snapshot-1"
EXTRACT = (sys.executable, "-m", "redfeed.cli", "extract", "--")
TABLES = {
    "events": "pretalx_events",
    "talks": "pretalx_talks",
    "speakers": "pretalx_speakers",
    "talk_speakers": "pretalx_talk_speakers",
}


def scheduled_talk(talks: list[dict[str, Any]]) -> dict[str, Any]:
    """A fixture talk with what the fixtures lack: a slot, and translations."""
    talk = copy.deepcopy(talks[0])
    talk["code"] = "SCHED1"
    talk["track"] = {"en": "Data", "de": "Daten"}
    talk["slot"] = {
        "start": "2024-07-10T11:00:00+02:00",
        "end": "2024-07-10T11:45:00+02:00",
        "room": {"en": "Forum Hall"},
    }
    return talk


@pytest.fixture
def served(pretalx_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    talks = fixture_talks(pretalx_dir)
    return [*talks, scheduled_talk(talks)], fixture_speakers(pretalx_dir)


@pytest.fixture
def archive(tmp_path: Path, served: tuple[list[Any], list[Any]]) -> Path:
    """The snapshot archived by the real wrapper running the real spider; yields the archive."""
    talks, speakers = served
    root = write_instance(tmp_path / "pretalx", talks, speakers)
    archive = tmp_path / "archive"
    archive.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDFEED_")}
    env.update(
        REDFEED_FEED=FEED,
        REDFEED_PRETALX_EVENT=EVENT,
        REDFEED_ARCHIVE_URL=archive.as_uri(),
        REDFEED_RUN_ID=RUN_ID,
        REDFEED_INTERVAL_START="2024-07-01",
        REDFEED_DOWNLOAD_DELAY="0",
    )
    with MirrorServer(root, page_size=1) as mirror:
        env["REDFEED_SOURCE_URL"] = mirror.url
        process = subprocess.run(
            [*EXTRACT, sys.executable, "-m", "redfeed.feeds.crawl", "pretalx"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert process.returncode == 0, process.stderr.decode()[-3000:]
    summary = orjson.loads(process.stdout.splitlines()[-1])
    assert summary["records"] == sum(expected_counts(talks, speakers).values())
    return archive


@pytest.fixture
def warehouse(fresh_warehouse_url: str, archive: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    migrate.upgrade(fresh_warehouse_url)
    for name, value in {
        "REDFEED_FEED": FEED,
        "REDFEED_INTERVAL_START": "2024-07-01T00:00:00Z",
        "REDFEED_RUN_ID": RUN_ID,
        "REDFEED_ARCHIVE_URL": archive.as_uri(),
        "REDFEED_WAREHOUSE_URL": fresh_warehouse_url,
        "REDFEED_LOAD_WORKERS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    return fresh_warehouse_url.replace("postgresql+psycopg://", "postgresql://")


def command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = cli_main(argv)
    return code, orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_one_snapshot_loads_all_four_tables_and_reconciles(
    warehouse: str,
    served: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    talks, speakers = served
    expected = expected_counts(talks, speakers)

    code, loaded = command(["load"], capsys)  # no --table: the pretalx family's four tables
    assert code == 0, loaded
    assert set(loaded["tables"]) == set(TABLES.values())
    for stream, table in TABLES.items():
        result = loaded["tables"][table]
        assert (result["rows_in"], result["rows_loaded"], result["rows_rejected"]) == (
            expected[stream],
            expected[stream],
            0,
        ), table
    assert loaded["rows_loaded"] == sum(expected.values())

    code, verified = command(["verify"], capsys)
    assert code == 0, verified
    assert verified["reconciled"] is True

    with psycopg.connect(warehouse) as conn:
        for stream, table in TABLES.items():
            count = conn.execute(
                f"SELECT count(*) FROM {table} WHERE _feed = %s AND _batch_id = %s",
                (FEED, RUN_ID),
            ).fetchone()
            assert count == (expected[stream],), table
        bridge = set(
            conn.execute(
                "SELECT b.talk_code, b.speaker_code, b.position FROM pretalx_talk_speakers b "
                "JOIN pretalx_talks t ON t._batch_id = b._batch_id AND t.event = b.event "
                "AND t.code = b.talk_code"
            ).fetchall()
        )
        assert bridge == expected_bridge(talks)  # every bridge row finds its talk
        with_profile = conn.execute(
            "SELECT b.speaker_code, s.name FROM pretalx_talk_speakers b "
            "JOIN pretalx_speakers s ON s._batch_id = b._batch_id AND s.event = b.event "
            "AND s.code = b.speaker_code ORDER BY 1"
        ).fetchall()
        # pretalx lists some speakers only nested in talks: those rows find no profile.
        listed = {s["code"]: s["name"] for s in speakers}
        assert with_profile == sorted(
            (code, listed[code]) for _, code, _ in expected_bridge(talks) if code in listed
        )
        scheduled = conn.execute(
            "SELECT slot_start, slot_end, room, track, track_i18n FROM pretalx_talks "
            "WHERE code = 'SCHED1'"
        ).fetchone()
        assert scheduled is not None
        assert scheduled[:3] == (
            datetime(2024, 7, 10, 9, 0),  # UTC
            datetime(2024, 7, 10, 9, 45),
            "Forum Hall",
        )
        assert scheduled[3] == "Data"
        assert orjson.loads(scheduled[4]) == {"en": "Data", "de": "Daten"}
        event = conn.execute("SELECT event, name, date_from::text FROM pretalx_events").fetchone()
        assert event == (EVENT, "EuroPython 2024", "2024-07-08")
        ledger = conn.execute(
            "SELECT table_name, status FROM redfeed_loads WHERE feed = %s ORDER BY 1", (FEED,)
        ).fetchall()
        assert ledger == sorted((table, "loaded") for table in TABLES.values())

    code, again = command(["load"], capsys)  # exactly once: the ledger has this batch
    assert code == 0, again
    assert again["already_loaded"] is True
    with psycopg.connect(warehouse) as conn:
        assert conn.execute("SELECT count(*) FROM pretalx_talks").fetchone() == (len(talks),)
