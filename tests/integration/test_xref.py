"""All four feeds from source to warehouse, then the cross-reference: each spider runs under the
extract wrapper against the mirror serving the real fixtures (confs.tech, python-organizers, the
pretalx examples through the paginated mock API) or the generated home-page tree, into one file
archive; ``redfeed load`` loads each batch into PostgreSQL and ``redfeed xref`` resolves the
conferences. Known cases from the fixtures are checked by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from redfeed.archive import BatchKey, BatchWriter, FileStore
from redfeed.cli import main as cli_main
from redfeed.mirror import MirrorServer
from redfeed.warehouse import migrate
from tests.extraction import extract
from tests.homepage_site import INTERVAL_END, INTERVAL_START, JAPANESE_NAME, build_site
from tests.pretalx_api import EVENT, fixture_speakers, fixture_talks, write_instance

START, END = INTERVAL_START.isoformat(), INTERVAL_END.isoformat()
INTERVAL = (START, END)
PRETALX_FEED = f"pretalx-{EVENT}"


@pytest.fixture
def command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., dict[str, Any]]:
    def run(argv: list[str], **env: str) -> dict[str, Any]:
        with monkeypatch.context() as scoped:
            for name, value in env.items():
                scoped.setenv(name, value)
            capsys.readouterr()
            code = cli_main(argv)
            summary: dict[str, Any] = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert code == 0, summary
        return summary

    return run


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(sql, params).fetchall()


def test_four_feeds_resolve_into_one_conference_dimension(
    tmp_path: Path,
    confs_tech_dir: Path,
    python_organizers_dir: Path,
    pretalx_dir: Path,
    fresh_warehouse_url: str,
    command: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = tmp_path / "archive"
    batches: list[tuple[str, str]] = []
    with MirrorServer(confs_tech_dir) as mirror:
        extract(archive, "confs-tech", "confs-tech", mirror.url, "ct-1", INTERVAL)
        batches.append(("confs-tech", "ct-1"))
    with MirrorServer(python_organizers_dir) as mirror:
        extract(archive, "python-organizers", "python-organizers", mirror.url, "po-1", INTERVAL)
        batches.append(("python-organizers", "po-1"))
    instance = write_instance(
        tmp_path / "pretalx", fixture_talks(pretalx_dir), fixture_speakers(pretalx_dir)
    )
    with MirrorServer(instance) as mirror:
        extract(
            archive,
            PRETALX_FEED,
            "pretalx",
            mirror.url,
            "px-1",
            INTERVAL,
            REDFEED_PRETALX_EVENT=EVENT,
        )
        batches.append((PRETALX_FEED, "px-1"))
    site = build_site(tmp_path / "web", confs_tech_dir)
    with MirrorServer(site.root) as mirror:
        extract(
            archive, "homepages", "homepages", mirror.url, "hp-1", INTERVAL, REDFEED_RETRY_TIMES="0"
        )
        batches.append(("homepages", "hp-1"))

    migrate.upgrade(fresh_warehouse_url)
    monkeypatch.setenv("REDFEED_WAREHOUSE_URL", fresh_warehouse_url)
    monkeypatch.setenv("REDFEED_ARCHIVE_URL", archive.as_uri())
    monkeypatch.setenv("REDFEED_LOAD_WORKERS", "1")
    for feed, run_id in batches:
        loaded = command(
            ["load"], REDFEED_FEED=feed, REDFEED_RUN_ID=run_id, REDFEED_INTERVAL_START=START
        )
        assert loaded["rows_in"] == loaded["rows_loaded"] + loaded["rows_rejected"] > 0, loaded

    first = command(["xref"])
    members = query(fresh_warehouse_url, "SELECT count(*) FROM conference_members")[0][0]
    assert first["members"] == members > 500
    assert (
        first["conferences"] == query(fresh_warehouse_url, "SELECT count(*) FROM conference")[0][0]
    )
    assert first["multi_source"] >= 10

    def sources_of(name: str, source: str) -> list[tuple[int, str, int]]:
        return query(
            fresh_warehouse_url,
            "SELECT c.conference_id, c.sources, c.member_count FROM conference c "
            "JOIN conference_members m USING (conference_id) "
            "WHERE m.source = %s AND m.name = %s AND c.year = 2024",
            source,
            name,
        )

    # Listed by confs.tech (python.json and data.json) and python-organizers: one conference.
    for name in ("PyCon DE & PyData Berlin", "PyCon Lithuania", "DjangoCon US", "PyBay"):
        ((_, sources, _),) = sources_of(name, "python-organizers")
        assert sources.split(",")[:2] == ["confs-tech", "python-organizers"], name
    # pretalx's "EuroPython 2024" (pretalx.com is a shared host: the name and dates decide).
    ((europython, sources, _),) = sources_of("EuroPython 2024", "pretalx")
    assert set(sources.split(",")) >= {"python-organizers", "pretalx"}
    # A home page joins its confs.tech listing by host and overlapping dates, whatever its name;
    # PyCascades is listed by three sources.
    ((_, sources, _),) = sources_of("Linux-Tage 2024", "homepages")
    assert sources == "confs-tech,homepages"
    ((_, sources, _),) = sources_of("PyCascades 2024", "homepages")
    assert sources == "confs-tech,python-organizers,homepages"
    # The page that declares a Japanese name gives other dates than its confs.tech listing
    # (2024-03-07, not 02-29): no overlap, no link. Its name survives byte for byte.
    ((_, sources, _),) = sources_of(JAPANESE_NAME, "homepages")
    assert sources == "homepages"
    ((stored, octets),) = query(
        fresh_warehouse_url,
        "SELECT name, octet_length(name) FROM conference WHERE name = %s",
        JAPANESE_NAME,
    )
    assert (stored, octets) == (JAPANESE_NAME, len(JAPANESE_NAME.encode()))

    # Talks and speakers per conference, through the bridge, from the latest pretalx snapshot.
    talks = query(
        fresh_warehouse_url,
        "SELECT talk_code, speaker_code FROM conference_talks WHERE conference_id = %s",
        europython,
    )
    expected = {
        (talk["code"], speaker["code"])
        for talk in fixture_talks(pretalx_dir)
        for speaker in talk["speakers"]
    }
    assert set(talks) == expected

    # Per country and month: every dated conference counted once.
    counted = query(
        fresh_warehouse_url, "SELECT sum(conferences) FROM conferences_per_country_month"
    )
    dated = query(
        fresh_warehouse_url, "SELECT count(*) FROM conference WHERE start_date IS NOT NULL"
    )
    assert counted == dated
    # Upcoming with an open CFP: only the future (the fixtures are past).
    assert query(
        fresh_warehouse_url,
        "SELECT count(*) FROM upcoming_open_cfps WHERE start_date < CURRENT_DATE "
        "OR cfp_end_date < CURRENT_DATE",
    ) == [(0,)]

    # Rebuilding changes no id; a later snapshot that moves a CFP deadline shows in cfp_changes
    # under the same conference.
    before = set(
        query(
            fresh_warehouse_url, "SELECT source, source_key, conference_id FROM conference_members"
        )
    )
    moved = json.loads((confs_tech_dir / "conferences" / "2024" / "python.json").read_text())
    target = next(c for c in moved if c.get("cfpEndDate"))
    old_cfp = date.fromisoformat(target["cfpEndDate"])
    writer = BatchWriter(
        FileStore(archive),
        BatchKey("confs-tech", INTERVAL_START.replace(day=2), "ct-2"),
        INTERVAL_END.replace(day=3),
    )
    for conference in moved:
        if conference is target:
            conference = {**conference, "cfpEndDate": "2024-12-31"}
        writer.write_line(
            orjson.dumps(
                {
                    **conference,
                    "topic": "python",
                    "year": 2024,
                    "sourcePath": "conferences/2024/python.json",
                }
            )
        )
    writer.commit()
    command(
        ["load"],
        REDFEED_FEED="confs-tech",
        REDFEED_RUN_ID="ct-2",
        REDFEED_INTERVAL_START=INTERVAL_START.replace(day=2).isoformat(),
    )
    command(["xref"])
    after = set(
        query(
            fresh_warehouse_url, "SELECT source, source_key, conference_id FROM conference_members"
        )
    )
    assert before <= after, "a rebuild changed existing conference ids"
    changes = query(
        fresh_warehouse_url,
        "SELECT conference_id, previous_cfp_end_date, cfp_end_date FROM cfp_changes "
        "WHERE source = 'confs-tech' AND source_key = %s",
        f"{target['url']}|{target['startDate']}",
    )
    ((conference_id, previous, current),) = changes
    assert (previous, current) == (old_cfp, date(2024, 12, 31))
    assert conference_id is not None
