"""homepages: the JSON-LD extraction on HTML strings, which pages a run visits (from archived
batches), and ``python -m redfeed.feeds.crawl homepages`` as a subprocess against the mirror
serving a generated site tree (tests/homepage_site.py) and a file archive holding a confs-tech
batch: exact records and rejects, robots.txt respected, failures counted, not fatal."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from redfeed.archive import Archive, BatchKey, BatchWriter, FileStore
from redfeed.errors import ConfigError, ExitCode
from redfeed.feeds.homepages import (
    DEFAULT_FROM,
    DEFAULT_MAX_PAGES,
    EXPLICIT,
    JSONLD_MAX_BYTES,
    HomepagesConfig,
    collect_pages,
    extract_events,
    mirror_url,
    overlapping_batch,
    page_key,
)
from redfeed.feeds.registry import spider_class
from redfeed.mirror import MirrorServer
from redfeed.warehouse.jsonpaths import load_columns, tables_for_feed
from tests import spider_run
from tests.homepage_site import (
    EXPLICIT_URL,
    INTERVAL_END,
    INTERVAL_START,
    Site,
    build_site,
    comparable,
    dedupe_key,
    fixture_conferences,
    robots_fault,
    write_confs_tech_batch,
)
from tests.spider_run import SpiderRun as Run
from tests.spider_run import run_spider

FAST = {**spider_run.FAST, "REDFEED_CONCURRENCY_PER_HOST": "2"}
PAGE = "https://conf.example.org/2024/"


def blocks(*documents: Any, raw: tuple[str, ...] = (), head: str = "") -> str:
    scripts = [f'<script type="application/ld+json">{json.dumps(d)}</script>' for d in documents]
    scripts += [f'<script type="application/ld+json">{text}</script>' for text in raw]
    return f"<html><head>{head}{''.join(scripts)}</head><body>x</body></html>"


# -- extraction ------------------------------------------------------------------------------


def test_a_conference_event_becomes_one_record_with_its_fields() -> None:
    node = {
        "@context": "https://schema.org",
        "@type": "ConferenceEvent",
        "name": "PyCon JP 2024 パイコン",
        "startDate": "2024-09-27T10:00:00+09:00",
        "endDate": "2024-09-29",
        "url": "/2024/en",
        "eventAttendanceMode": "https://schema.org/OfflineEventAttendanceMode",
        "eventStatus": "EventScheduled",
        "location": {
            "@type": "Place",
            "name": "Tokyo Big Sight",
            "address": {
                "@type": "PostalAddress",
                "addressLocality": "江東区",
                "addressRegion": "東京都",
                "addressCountry": "JP",
            },
        },
        "hasParticipationOffer": [{"@type": "Offer", "url": "https://tickets.example/jp"}],
        "hasSponsorshipOffer": "Ask us about sponsoring",
        "organizer": [{"@type": "Organization", "name": "PyCon JP Association"}],
        "sponsor": {"@type": "Organization", "name": "Sponsor A"},
    }
    found = extract_events(blocks(node), PAGE)
    assert found.blocks == 1
    assert found.rejects == []
    (record,) = found.records
    assert json.loads(record.pop("jsonld")) == node
    assert record == {
        "page_url": PAGE,
        "event_index": 0,
        "url": "https://conf.example.org/2024/en",
        "event_type": "ConferenceEvent",
        "name": "PyCon JP 2024 パイコン",
        "start_date": "2024-09-27",
        "end_date": "2024-09-29",
        "event_status": "EventScheduled",
        "event_attendance_mode": "OfflineEventAttendanceMode",
        "location_name": "Tokyo Big Sight",
        "location_address": "江東区, 東京都, JP",
        "location_locality": "江東区",
        "location_country": "JP",
        "virtual_location_url": None,
        "participation_offer_url": "https://tickets.example/jp",
        "participation_offer_name": None,
        "sponsorship_offer_url": None,
        "sponsorship_offer_name": "Ask us about sponsoring",
        "organizer_name": "PyCon JP Association",
        "organizer_url": None,
        "sponsors": '["Sponsor A"]',
    }


def test_graph_lists_and_type_spellings_are_walked_and_other_nodes_ignored() -> None:
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "Organization", "name": "Org"},
            {"@type": "http://schema.org/Event", "name": "A", "subEvent": {"@type": "Event"}},
            {"@graph": [{"@type": ["Thing", "schema:ConferenceEvent"], "name": "B"}]},
        ],
    }
    listed = [{"@type": "EducationEvent", "name": "not ours"}, {"@type": "Event", "name": "C"}]
    found = extract_events(blocks(graph, listed, {"@type": "WebSite"}), PAGE)
    assert found.blocks == 3
    assert [(r["event_index"], r["event_type"], r["name"]) for r in found.records] == [
        (0, "Event", "A"),
        (1, "ConferenceEvent", "B"),
        (2, "Event", "C"),
    ]
    assert json.loads(found.records[0]["jsonld"])["subEvent"] == {"@type": "Event"}


def test_the_canonical_link_then_the_base_url_stand_in_for_a_missing_event_url() -> None:
    event = {"@type": "Event", "name": "x"}
    with_link = extract_events(blocks(event, head='<link rel="canonical" href="/c">'), PAGE)
    assert with_link.records[0]["url"] == "https://conf.example.org/c"
    fetched = extract_events(blocks(event), "HTTPS://Conf.example.org/2024/#x", PAGE)
    assert fetched.records[0]["url"] == PAGE
    assert fetched.records[0]["page_url"] == "HTTPS://Conf.example.org/2024/#x"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("Online", {"location_name": "Online"}),
        ("https://meet.example/x", {"virtual_location_url": "https://meet.example/x"}),
        (
            [
                {"@type": "VirtualLocation", "url": "stream"},
                {"@type": "Place", "name": "Hall", "address": "Main St 1, Oslo"},
            ],
            {
                "location_name": "Hall",
                "location_address": "Main St 1, Oslo",
                "virtual_location_url": "https://conf.example.org/2024/stream",
            },
        ),
        (
            {"@type": "Place", "address": {"addressCountry": {"@type": "Country", "name": "NO"}}},
            {"location_country": "NO", "location_address": "NO"},
        ),
        ({"@type": "Place"}, {}),
    ],
    ids=["text", "url", "hybrid", "country-object", "empty-place"],
)
def test_location_shapes(location: Any, expected: dict[str, str]) -> None:
    found = extract_events(blocks({"@type": "Event", "location": location}), PAGE)
    fields = ("name", "address", "locality", "country")
    record = found.records[0]
    got = {k: v for k, v in record.items() if k.startswith(("location_", "virtual_")) and v}
    assert got == expected
    assert all(f"location_{f}" in record for f in fields)


def test_bad_blocks_and_bad_events_are_quarantined_and_the_page_goes_on() -> None:
    huge = {"@type": "Event", "name": "big", "description": "x" * JSONLD_MAX_BYTES}
    found = extract_events(
        blocks(
            [
                {"@type": "Event", "name": "bad start", "startDate": "next spring"},
                {
                    "@type": "Event",
                    "name": "bad end",
                    "startDate": "2024-01-01",
                    "endDate": "2024-02-30",
                },
                huge,
                {"@type": "Event", "name": "fine", "startDate": "2024-06-01"},
            ],
            raw=(
                '{"@type": "Event",}',
                '{"@type": "Event", "name": NaN}',
                '{"@type": "Event", "name": "\\ud800"}',
                '{"@type": "Event", "name": "tab\there"}',  # raw control character: accepted
                "   ",  # empty: not a block
            ),
        ),
        PAGE,
    )
    assert found.blocks == 5
    assert [(r["event_index"], r["name"]) for r in found.records] == [
        (3, "fine"),
        (4, "tab\there"),
    ]
    reasons = [r["_reject"]["reason"] for r in found.rejects]
    assert len(reasons) == 6
    assert reasons[0] == f"{PAGE}: event 0 (Event): startDate 'next spring' is not an ISO 8601 date"
    assert reasons[1] == f"{PAGE}: event 1 (Event): endDate '2024-02-30' is not an ISO 8601 date"
    assert re.fullmatch(
        rf"{re.escape(PAGE)}: event 2 \(Event\): the event's JSON-LD is \d+ bytes, more than the "
        r"65535 a warehouse column holds",
        reasons[2],
    )
    for reason, number in zip(reasons[3:], (2, 3, 4), strict=True):
        assert reason.startswith(f"{PAGE}: JSON-LD block {number} is not valid JSON: ")
    # Whole values, for the archive's rejects: nothing is dropped.
    assert found.rejects[2]["_reject"]["value"] == {"page_url": PAGE, "event": huge}
    assert found.rejects[3]["_reject"]["value"] == {
        "page_url": PAGE,
        "block": '{"@type": "Event",}',
    }
    json.dumps(found.rejects).encode("utf-8")  # writable as UTF-8: no lone surrogates


def test_a_page_without_json_ld_yields_nothing() -> None:
    found = extract_events(
        '<html><script>var a = {"@type": "Event"};</script><script type="text/json">{}</script>',
        PAGE,
    )
    assert (found.blocks, found.records, found.rejects) == (0, [], [])
    upper = extract_events(
        '<script type=" Application/LD+JSON; charset=utf-8">{"@type":"Event"}</script>', PAGE
    )
    assert len(upper.records) == 1


# -- which pages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://PyCon.ORG", "https://pycon.org/"),
        ("HTTP://pycon.org:8080/2024?x=1#frag", "http://pycon.org:8080/2024?x=1"),
        ("https://pycon.org/A/B/", "https://pycon.org/A/B/"),
        ("ftp://pycon.org/", None),
        ("pycon.org/2024", None),
        ("https://pycon .org/", None),
        ("https://pycon.org:99999/", None),
        ("https:///path", None),
        ("", None),
    ],
)
def test_page_key(url: str, key: str | None) -> None:
    assert page_key(url) == key


def test_mirror_url_maps_host_and_path_into_the_mirror() -> None:
    mirror = "http://mirror:8000/"
    assert mirror_url(mirror, "https://pycon.org/") == "http://mirror:8000/pycon.org/index.html"
    assert mirror_url(mirror, "https://pycon.org/2024") == "http://mirror:8000/pycon.org/2024"
    assert (
        mirror_url(mirror, "http://pycon.org:8080/a/?q=1")
        == "http://mirror:8000/pycon.org:8080/a/index.html?q=1"
    )


def test_config_from_env() -> None:
    assert HomepagesConfig.from_env({}) == HomepagesConfig(DEFAULT_FROM, (), DEFAULT_MAX_PAGES)
    config = HomepagesConfig.from_env(
        {
            "REDFEED_HOMEPAGES_FROM": " confs-tech , confs-tech ",
            EXPLICIT: "https://a.example/\nhttps://b.example/x, https://c.example",
            "REDFEED_HOMEPAGES_MAX": "7",
        }
    )
    assert config.from_feeds == ("confs-tech",)
    assert config.explicit_urls == (
        "https://a.example/",
        "https://b.example/x",
        "https://c.example",
    )
    assert config.max_pages == 7
    assert HomepagesConfig.from_env({"REDFEED_HOMEPAGES_FROM": ""}).from_feeds == ()
    for env, message in [
        ({"REDFEED_HOMEPAGES_FROM": "Confs_Tech"}, "not a feed name"),
        ({EXPLICIT: "example.org"}, "not an http(s) URL"),
        ({"REDFEED_HOMEPAGES_MAX": "0"}, "must be at least 1"),
        ({"REDFEED_HOMEPAGES_MAX": "many"}, "not an integer"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            HomepagesConfig.from_env(env)


def batch(store: FileStore, feed: str, start: str, end: str, run_id: str, urls: list[str]) -> None:
    writer = BatchWriter(
        store,
        BatchKey(feed, datetime.fromisoformat(start).replace(tzinfo=UTC), run_id),
        datetime.fromisoformat(end).replace(tzinfo=UTC),
    )
    for url in urls:
        writer.write(
            {"url": url, "website_url": None} if feed == "confs-tech" else {"website_url": url}
        )
    writer.commit()


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_the_latest_overlapping_batch_of_each_feed_is_read(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    batch(store, "confs-tech", "2024-02-29", "2024-03-01", "before", ["https://before.example"])
    batch(store, "confs-tech", "2024-03-01", "2024-03-02", "first", ["https://first.example"])
    batch(store, "confs-tech", "2024-03-01", "2024-03-02", "second", ["https://second.example"])
    batch(store, "confs-tech", "2024-03-02", "2024-03-03", "after", ["https://after.example"])
    batch(store, "confs-tech", "2024-01-01", "2025-01-01", "yearly", ["https://yearly.example"])
    archive = Archive(store)
    start, end = at("2024-03-01T06:00:00"), at("2024-03-02T06:00:00")
    latest = overlapping_batch(archive, "confs-tech", start, end)
    assert latest is not None
    assert latest.run_id == "after"
    latest = overlapping_batch(archive, "confs-tech", at("2024-03-01"), at("2024-03-02"))
    assert latest is not None
    assert latest.run_id == "second"
    latest = overlapping_batch(archive, "confs-tech", at("2024-06-01"), at("2024-06-02"))
    assert latest is not None
    assert latest.run_id == "yearly"
    assert overlapping_batch(archive, "confs-tech", at("2026-01-01"), at("2026-01-02")) is None
    assert overlapping_batch(archive, "python-organizers", start, end) is None

    batch(
        store,
        "python-organizers",
        "2024-03-01",
        "2024-03-02",
        "po",
        ["https://SECOND.example/#x", "not a url", "https://po.example/"],
    )
    found = collect_pages(
        archive,
        HomepagesConfig(
            ("confs-tech", "python-organizers", "pretalx-x"), ("https://e.example",), 2
        ),
        at("2024-03-01"),
        at("2024-03-02"),
    )
    assert [(p.url, p.key, p.listed_by) for p in found.pages] == [
        ("https://e.example", "https://e.example/", EXPLICIT),
        ("https://second.example", "https://second.example/", "confs-tech"),
    ]
    assert [p.url for p in found.over_max] == ["https://po.example/"]
    assert found.duplicates == 1
    assert found.feeds_without_batch == ["pretalx-x"]
    assert [(feed, run) for feed, run, _, _ in found.batches] == [
        ("confs-tech", "second"),
        ("python-organizers", "po"),
    ]
    assert found.rejects == [
        {
            "_reject": {
                "reason": "python-organizers lists 'not a url', which is not an http(s) URL",
                "value": {"feed": "python-organizers", "run_id": "po", "url": "not a url"},
            }
        }
    ]
    with pytest.raises(ConfigError, match="REDFEED_ARCHIVE_URL is not set"):
        collect_pages(None, HomepagesConfig(), at("2024-03-01"), at("2024-03-02"))


# -- the spider against the mirror -----------------------------------------------------------


def scrape(archive: Path | None, source_url: str, **env: str) -> Run:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REDFEED_")}
    environment.update(FAST)
    environment["REDFEED_INTERVAL_START"] = INTERVAL_START.isoformat()
    environment["REDFEED_INTERVAL_END"] = INTERVAL_END.isoformat()
    environment["REDFEED_SOURCE_URL"] = source_url
    if archive is not None:
        environment["REDFEED_ARCHIVE_URL"] = archive.as_uri()
    environment.update(env)
    return run_spider("homepages", environment, timeout=120)


@pytest.fixture
def site(tmp_path: Path, confs_tech_dir: Path) -> Site:
    return build_site(tmp_path / "web", confs_tech_dir)


@pytest.fixture
def archive(tmp_path: Path, confs_tech_dir: Path) -> Path:
    root = tmp_path / "archive"
    write_confs_tech_batch(FileStore(root), fixture_conferences(confs_tech_dir))
    return root


@pytest.fixture
def mirror(site: Site) -> Iterator[MirrorServer]:
    with MirrorServer(site.root, faults=[robots_fault(site)]) as server:
        yield server


def test_events_of_the_listed_home_pages_are_extracted_with_robots_obeyed(
    site: Site, archive: Path, mirror: MirrorServer
) -> None:
    run = scrape(archive, mirror.url, REDFEED_HOMEPAGES_URLS=EXPLICIT_URL)
    assert run.code == 0, run.stderr[-3000:]
    assert comparable(run.data) == comparable(site.records)
    assert len(run.rejects) == len(site.rejects)
    for got, (page, fragment) in zip(run.rejects, site.rejects, strict=True):
        assert got["value"]["page_url"] == page
        assert got["reason"].startswith(f"{page}: ")
        assert fragment in got["reason"]

    unique = site.unique_pages  # the explicit URL is one of the fixture's
    assert unique < len(site.listed)  # the fixture lists a page twice: deduplicated
    stats = run.stats
    assert stats["redfeed/pages_listed"] == unique
    assert stats["redfeed/urls_duplicate"] == 2
    assert stats["redfeed/pages_disallowed"] == 1
    assert stats["redfeed/robots_unreachable"] == 1
    assert stats["redfeed/pages_requested"] == unique - 2
    fetched = 6  # full, graph, plain, broken, the explicit one and the JSON answer
    assert stats["redfeed/pages_fetched"] == fetched
    assert stats["redfeed/pages_failed"] == unique - 1 - fetched  # the disallowed one aside
    assert stats["redfeed/pages_without_jsonld"] == 2  # plain, and the JSON answer
    assert stats["redfeed/events"] == len(site.records) == 5
    assert stats["redfeed/rejects"] == 2
    assert stats["redfeed/robots_fetched"] == 1  # the disallowing host's; the others are 404
    assert (
        stats["redfeed/robots_missing"]
        == len({dedupe_key(u).split("/")[2] for u in site.listed}) - 2
    )
    assert "log_count/ERROR" not in stats

    requests_seen = mirror.requests
    assert requests_seen.get(site.path_of(site.urls["disallowed"]), 0) == 0
    assert requests_seen.get(site.path_of(site.urls["robots_down"]), 0) == 0
    assert requests_seen[f"/{site.host('robots_down')}/robots.txt"] == 3  # 1 + 2 retries
    assert requests_seen[f"/{site.host('full')}/robots.txt"] == 1
    assert requests_seen[site.path_of(site.urls["missing"])] == 1  # 404: not retried
    assert requests_seen[site.path_of(site.json_page)] == 1
    assert "robots.txt of https://" in run.stderr
    assert "disallows" in run.stderr


def test_the_records_are_what_the_warehouse_table_loads() -> None:
    (table,) = tables_for_feed("homepages")
    assert table.name == "homepage_events"
    assert spider_class("homepages").name == "homepages"
    record = extract_events(blocks({"@type": "Event"}), PAGE).records[0]
    loaded = {path.removeprefix("$.") for path in table.jsonpaths["jsonpaths"]}
    assert loaded == set(record) | {"_feed", "_batch_id", "_interval_start", "_scraped_at"}
    assert load_columns("homepage_events")[:3] == ["page_url", "event_index", "url"]


def test_max_pages_limits_the_visit_and_logs_the_rest(
    site: Site, archive: Path, mirror: MirrorServer
) -> None:
    run = scrape(archive, mirror.url, REDFEED_HOMEPAGES_MAX="1")
    assert run.code == 0, run.stderr[-3000:]
    first = site.listed[0]
    assert {r["page_url"] for r in run.data} == {first}
    assert run.stats["redfeed/pages_listed"] == 1
    assert run.stats["redfeed/pages_over_max"] == site.unique_pages - 1
    assert f"over REDFEED_HOMEPAGES_MAX: not visiting {site.listed[1]}" in run.stderr


def test_explicit_urls_alone_need_no_archive(site: Site, mirror: MirrorServer) -> None:
    run = scrape(None, mirror.url, REDFEED_HOMEPAGES_FROM="", REDFEED_HOMEPAGES_URLS=EXPLICIT_URL)
    assert run.code == 0, run.stderr[-3000:]
    assert [r["page_url"] for r in run.data] == [EXPLICIT_URL]


def test_feeds_without_a_batch_are_skipped_not_failed(tmp_path: Path, mirror: MirrorServer) -> None:
    (tmp_path / "empty").mkdir()
    run = scrape(tmp_path / "empty", mirror.url)
    assert run.code == 0, run.stderr[-3000:]
    assert run.records == []
    assert run.stats["redfeed/feeds_without_batch"] == 2
    assert "confs-tech has no committed batch overlapping" in run.stderr


def test_page_errors_are_counted_not_fatal(site: Site, archive: Path) -> None:
    faults = [
        {"path": site.path_of(site.urls["full"]), "status": 503},
        {"path": site.path_of(site.urls["graph"]), "status": 503, "retry_after": 3600},
        {"path": site.path_of(site.urls["plain"]), "truncate": 10},
    ]
    with MirrorServer(site.root, faults=faults) as server:
        run = scrape(archive, server.url)
    assert run.code == 0, run.stderr[-3000:]
    pages = {r["page_url"] for r in run.data}
    assert site.urls["broken"] in pages
    assert not pages & {site.urls["full"], site.urls["graph"]}
    # broken, robots_down (no fault here), 2024.pycon.it (the fixture lists it too), JSON
    assert run.stats["redfeed/pages_fetched"] == 4
    assert run.stats["redfeed/pages_failed"] == site.unique_pages - 1 - 4
    assert "log_count/ERROR" not in run.stats
    assert "Gave up" in run.stderr


def test_an_unreadable_archive_fails_the_run(tmp_path: Path, confs_tech_dir: Path) -> None:
    root = tmp_path / "archive"
    manifest = write_confs_tech_batch(FileStore(root), fixture_conferences(confs_tech_dir)[:3])
    part = root / manifest.files[0].key
    part.chmod(0o644)
    part.write_bytes(gzip.compress(b'{"url": "https://tampered.example"}\n'))
    run = scrape(root, "http://127.0.0.1:9")
    assert run.code == ExitCode.DATA_ERROR, run.stderr[-3000:]
    assert "sha256" in run.stderr
    assert run.records == []

    missing = scrape(None, "http://127.0.0.1:9")
    assert missing.code == ExitCode.CONFIG
    assert "REDFEED_ARCHIVE_URL is not set" in missing.stderr


def test_the_mirror_answers_a_directory_with_its_index_for_html_clients(site: Site) -> None:
    with MirrorServer(site.root) as server, requests.Session() as web:
        web.trust_env = False
        url = server.url + site.path_of(site.urls["plain"])
        page = web.get(url, headers={"Accept": "text/html,*/*;q=0.8"}, timeout=10)
        assert page.headers["Content-Type"] == "text/html"
        assert "No structured data here" in page.text
        listing = web.get(url, headers={"Accept": "application/vnd.github+json"}, timeout=10)
        assert [entry["name"] for entry in listing.json()] == ["index.html"]
