"""pretalx end to end: ``python -m redfeed.feeds.crawl pretalx`` as a subprocess against the
mirror serving the pretalx fixtures as a paginated API, with faults injected; plus the spider's
pure parts (translations, records) and the feed-family rules."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.test import get_crawler

from redfeed.contract import Settings
from redfeed.errors import ConfigError, ExitCode
from redfeed.feeds import crawl
from redfeed.feeds.pretalx import PretalxSpider, Unreadable, talk_record, translated
from redfeed.feeds.registry import FEEDS, family_of
from redfeed.mirror import MirrorServer
from redfeed.orchestration.registry import load_registry
from redfeed.warehouse.jsonpaths import tables_for_feed
from tests.pretalx_api import (
    EVENT,
    expected_bridge,
    expected_counts,
    fixture_speakers,
    fixture_talks,
    write_instance,
)
from tests.spider_run import FAST, run_spider
from tests.spider_run import SpiderRun as Run

REPO = Path(__file__).resolve().parents[2]
FEED = f"pretalx-{EVENT}"
TALKS_PATH = f"/api/events/{EVENT}/talks/"
SPEAKERS_PATH = f"/api/events/{EVENT}/speakers/"


def scrape(source_url: str, **env: str) -> Run:
    """Run the spider as the wrapper does; stdout must be JSON objects, one per line."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REDFEED_")}
    environment.update(FAST)
    environment.update(
        REDFEED_FEED=FEED,
        REDFEED_PRETALX_EVENT=EVENT,
        REDFEED_SOURCE_URL=source_url,
        REDFEED_INTERVAL_START="2024-07-01",
    )
    environment.update(env)
    return run_spider("pretalx", environment)


@pytest.fixture
def talks(pretalx_dir: Path) -> list[dict[str, Any]]:
    return fixture_talks(pretalx_dir)


@pytest.fixture
def speakers(pretalx_dir: Path) -> list[dict[str, Any]]:
    return fixture_speakers(pretalx_dir)


@pytest.fixture
def instance(tmp_path: Path, talks: list[dict[str, Any]], speakers: list[dict[str, Any]]) -> Path:
    return write_instance(tmp_path / "pretalx", talks, speakers)


@pytest.fixture
def mirror(instance: Path) -> Iterator[MirrorServer]:
    with MirrorServer(instance, page_size=1) as server:
        yield server


def many_talks(talks: list[dict[str, Any]], copies: int) -> list[dict[str, Any]]:
    """The fixture talks repeated under new codes: enough to span many pages."""
    out = []
    for n in range(copies):
        for talk in talks:
            clone = copy.deepcopy(talk)
            clone["code"] = f"{talk['code'][:4]}{n:02d}"
            out.append(clone)
    return out


# -- happy paths -----------------------------------------------------------------------------


def test_every_talk_speaker_and_bridge_entry_becomes_one_record(
    mirror: MirrorServer, talks: list[dict[str, Any]], speakers: list[dict[str, Any]]
) -> None:
    run = scrape(mirror.url)
    assert run.code == 0, run.stderr[-3000:]
    expected = expected_counts(talks, speakers)
    assert run.streams == expected
    assert len(run.records) == sum(expected.values())  # no rejects, nothing without a stream
    assert mirror.requests[TALKS_PATH] == len(talks) >= 2  # one page per talk at page size 1
    assert mirror.requests[SPEAKERS_PATH] == 1

    (event,) = run.stream("events")
    assert event == {
        "_stream": "events",
        "event": EVENT,
        "name": "EuroPython 2024",
        "name_i18n": None,
        "date_from": "2024-07-08",
        "date_to": "2024-07-14",
        "timezone": "Europe/Prague",
        "url": "https://pretalx.com/europython-2024/",
    }
    by_code = {talk["code"]: talk for talk in run.stream("talks")}
    for source in talks:
        talk = by_code[source["code"]]
        assert talk["event"] == EVENT
        for field in ("title", "abstract", "description", "state", "duration", "content_locale"):
            assert talk[field] == source[field]
        assert talk["track"] == source["track"]["en"]  # {"en": ...} becomes the text
        assert talk["track_i18n"] is None  # one language: nothing more to keep
        assert talk["submission_type"] == source["submission_type"]
        assert (talk["slot_start"], talk["slot_end"], talk["room"]) == (None, None, None)
    assert {
        (r["talk_code"], r["speaker_code"], r["position"]) for r in run.stream("talk_speakers")
    } == expected_bridge(talks)
    assert [(s["code"], s["name"], s["biography"]) for s in run.stream("speakers")] == [
        (s["code"], s["name"], s["biography"]) for s in speakers
    ]
    # Personal data the pipeline does not need never leaves the spider.
    assert b"@example.com" not in run.stdout
    assert b"avatar" not in run.stdout
    assert b"answers" not in run.stdout
    assert run.stats["redfeed/records"] == len(run.records)


def test_pages_are_followed_to_the_end(
    instance: Path, talks: list[dict[str, Any]], speakers: list[dict[str, Any]]
) -> None:
    more = many_talks(talks, 4)
    write_instance(instance, more, speakers)
    with MirrorServer(instance, page_size=3) as server:
        run = scrape(server.url)
        requests = server.requests
    assert run.code == 0, run.stderr[-3000:]
    assert requests[TALKS_PATH] == -(-len(more) // 3) >= 3
    assert [t["code"] for t in run.stream("talks")] == [t["code"] for t in more]  # in order
    assert run.streams == expected_counts(more, speakers)
    assert run.stats["redfeed/pages"] == requests[TALKS_PATH] + 1
    assert "redfeed/count_mismatch" not in run.stats


def test_a_429_with_retry_after_is_waited_out(
    mirror: MirrorServer, talks: list[dict[str, Any]], speakers: list[dict[str, Any]]
) -> None:
    mirror.set_faults([{"path": TALKS_PATH, "status": 429, "retry_after": 1, "times": 1}])
    run = scrape(mirror.url)
    assert run.code == 0, run.stderr[-3000:]
    assert run.streams == expected_counts(talks, speakers)
    assert mirror.requests[TALKS_PATH] == len(talks) + 1
    assert run.stats["redfeed/retry_after_honoured"] == 1
    assert run.stats["redfeed/retry_wait_seconds"] >= 1.0  # the server's wait, not backoff


def test_translations_and_slots_are_flattened(
    instance: Path, talks: list[dict[str, Any]], speakers: list[dict[str, Any]]
) -> None:
    talk = copy.deepcopy(talks[0])
    talk["track"] = {"de": "Datenbanken", "en": "Databases"}
    talk["submission_type"] = {"de": "Vortrag"}
    talk["slot"] = {
        "start": "2024-07-10T11:00:00+02:00",
        "end": "2024-07-10T11:45:00+02:00",
        "room": {"en": "Forum Hall", "cs": "Fórum"},
    }
    document = {"name": {"de": "Konferenz", "en": "Conference"}, "slug": EVENT}
    write_instance(instance, [talk], speakers, document=document)
    with MirrorServer(instance) as server:
        run = scrape(server.url)
    assert run.code == 0, run.stderr[-3000:]
    (record,) = run.stream("talks")
    assert record["track"] == "Databases"
    assert json.loads(record["track_i18n"]) == {"de": "Datenbanken", "en": "Databases"}
    assert (record["submission_type"], record["submission_type_i18n"]) == ("Vortrag", None)
    assert record["slot_start"] == "2024-07-10T11:00:00+02:00"
    assert record["slot_end"] == "2024-07-10T11:45:00+02:00"
    assert record["room"] == "Forum Hall"
    assert json.loads(record["room_i18n"]) == {"en": "Forum Hall", "cs": "Fórum"}
    (event,) = run.stream("events")
    assert (event["name"], json.loads(event["name_i18n"])["de"]) == ("Conference", "Konferenz")
    assert event["date_from"] is None  # absent from the document: null, not an error


def test_bad_entries_are_quarantined_with_reasons_and_the_rest_kept(
    instance: Path, talks: list[dict[str, Any]], speakers: list[dict[str, Any]]
) -> None:
    no_code = {k: v for k, v in talks[0].items() if k != "code"}
    odd_track = {**copy.deepcopy(talks[1]), "code": "ODD001", "track": ["Databases"]}
    bad_speaker = {**copy.deepcopy(talks[1]), "code": "BAD001"}
    bad_speaker["speakers"] = [{"name": "no code", "email": "x@example.com"}, *talks[1]["speakers"]]
    served = [*talks, no_code, 42, odd_track, talks[0], bad_speaker]
    served_speakers = [*speakers, "nobody", speakers[0]]
    write_instance(instance, served, served_speakers)
    with MirrorServer(instance, page_size=2) as server:
        run = scrape(server.url)
    assert run.code == 0, run.stderr[-3000:]
    reasons = [reject["reason"] for reject in run.rejects]
    assert len(reasons) == 7, reasons
    assert "talks result 0 of page 2: it has no code" in reasons
    assert any("is a number, not an object" in r for r in reasons)
    assert any("track is an array that is neither text nor translations" in r for r in reasons)
    assert any(f"talk {talks[0]['code']} was already read" in r for r in reasons)
    assert "talk BAD001, speaker 0: it has no code" in reasons
    assert "speakers result 1 of page 1: it is a string, not an object" in reasons
    assert any(f"speaker {speakers[0]['code']} was already read" in r for r in reasons)
    # Quarantined values keep everything but e-mail addresses.
    assert b"@example.com" not in run.stdout
    assert {t["code"] for t in run.stream("talks")} == {t["code"] for t in talks} | {"BAD001"}
    bad_bridge = [r for r in run.stream("talk_speakers") if r["talk_code"] == "BAD001"]
    assert [r["position"] for r in bad_bridge] == list(range(1, len(talks[1]["speakers"]) + 1))
    assert run.streams["speakers"] == len(speakers)
    assert run.stats["redfeed/rejects"] == 7


# -- failures --------------------------------------------------------------------------------


def test_an_unknown_event_is_a_config_error(mirror: MirrorServer) -> None:
    run = scrape(mirror.url, REDFEED_PRETALX_EVENT="no-such-event", REDFEED_FEED="pretalx-x")
    assert run.code == ExitCode.CONFIG, run.stderr[-3000:]
    assert "no such event" in run.stats["redfeed/error"]
    assert run.records == []
    assert "/api/events/no-such-event/talks/" not in mirror.requests


@pytest.mark.parametrize(
    ("event", "message"),
    [("", "REDFEED_PRETALX_EVENT is not set"), ("../admin", "not a pretalx event slug")],
)
def test_a_missing_or_bad_event_slug_is_a_config_error(
    mirror: MirrorServer, event: str, message: str
) -> None:
    run = scrape(mirror.url, REDFEED_PRETALX_EVENT=event)
    assert run.code == ExitCode.CONFIG, run.stderr[-3000:]
    assert message in run.stderr
    assert mirror.requests == {}


def test_a_next_link_loop_is_a_data_error_not_a_hang(mirror: MirrorServer) -> None:
    again = f"{mirror.url}{TALKS_PATH}?page=2"
    body = json.dumps({"count": 99, "next": again, "previous": None, "results": [{"code": "X"}]})
    mirror.set_faults([{"path": TALKS_PATH, "body": body}])
    run = scrape(mirror.url)
    assert run.code == ExitCode.DATA_ERROR, run.stderr[-3000:]
    assert "a page already read (a loop)" in run.stats["redfeed/error"]
    assert mirror.requests[TALKS_PATH] == 2  # read twice, then refused: no third request


def test_a_next_link_to_another_host_is_a_data_error(mirror: MirrorServer) -> None:
    body = json.dumps(
        {"count": 2, "next": "https://elsewhere.test/api/?page=2", "results": [{"code": "X"}]}
    )
    mirror.set_faults([{"path": TALKS_PATH, "body": body}])
    run = scrape(mirror.url, REDFEED_SOURCE_TOKEN="s3cret")
    assert run.code == ExitCode.DATA_ERROR, run.stderr[-3000:]
    assert "a next link to another host" in run.stats["redfeed/error"]


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        ({"path": TALKS_PATH, "status": 500}, ExitCode.TEMPORARY, "answered 500"),
        ({"path": SPEAKERS_PATH, "status": 403}, ExitCode.CONFIG, "REDFEED_SOURCE_TOKEN"),
        ({"path": TALKS_PATH, "body": "<html>maintenance"}, ExitCode.DATA_ERROR, "not valid JSON"),
        ({"path": TALKS_PATH, "body": "[]"}, ExitCode.DATA_ERROR, "not a paginated answer"),
        (
            {"path": TALKS_PATH, "status": 429, "retry_after": 3600},
            ExitCode.TEMPORARY,
            "answered 429",
        ),
    ],
    ids=["500", "403", "html", "not-paginated", "429-too-long"],
)
def test_source_failures_map_to_exit_codes(
    mirror: MirrorServer, fault: dict[str, Any], code: int, message: str
) -> None:
    mirror.set_faults([fault])
    run = scrape(mirror.url)
    assert run.code == code, run.stderr[-3000:]
    assert message in run.stats["redfeed/error"]
    if fault.get("retry_after"):  # an hour's Retry-After is over the limit: not waited out
        assert "REDFEED_RETRY_AFTER_MAX" in run.stderr


# -- the spider in process -------------------------------------------------------------------


def make_spider(**env: str) -> PretalxSpider:
    config = Settings.from_env(
        {
            "REDFEED_FEED": FEED,
            "REDFEED_PRETALX_EVENT": EVENT,
            "REDFEED_SOURCE_URL": "https://pretalx.test",
            **env,
        },
        need_archive=False,
    )
    spider = get_crawler(PretalxSpider)._create_spider(config=config)
    assert isinstance(spider, PretalxSpider)
    return spider


def test_the_token_goes_to_the_instance_only() -> None:
    spider = make_spider(REDFEED_SOURCE_TOKEN="s3cret")
    own = spider._request("https://pretalx.test/api/events/x/talks/", spider.parse_page)
    other = spider._request("https://cdn.test/api/events/x/talks/", spider.parse_page)
    assert own.headers["Authorization"] == b"Token s3cret"
    assert "Authorization" not in other.headers
    assert (own.headers.get("Accept") or b"").startswith(b"application/json")
    assert spider.api_url == f"https://pretalx.test/api/events/{EVENT}/"
    assert make_spider(REDFEED_SOURCE_URL="").base_url == "https://pretalx.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (None, None)),
        ("Talk", ("Talk", None)),
        ({"en": "Talk"}, ("Talk", None)),
        ({"de": "Vortrag"}, ("Vortrag", None)),
        ({"de": "Vortrag", "en": "Talk"}, ("Talk", '{"de":"Vortrag","en":"Talk"}')),
        ({"de": "Vortrag", "en": ""}, ("Vortrag", None)),  # empty translations do not count
        ({"pt-BR": "Palestra", "de-formal": None}, ("Palestra", None)),
        ({}, (None, None)),
    ],
)
def test_translated_values(value: object, expected: tuple[str | None, str | None]) -> None:
    assert translated(value, "track") == expected


@pytest.mark.parametrize(
    "value", [42, ["Talk"], {"en": 1}, {"English": "Talk"}, {"en": {"text": "Talk"}}]
)
def test_values_that_are_not_translations_are_unreadable(value: object) -> None:
    with pytest.raises(Unreadable, match="track is"):
        translated(value, "track")


def test_a_slot_that_is_not_an_object_is_unreadable() -> None:
    with pytest.raises(Unreadable, match="slot is a string"):
        talk_record(EVENT, {"code": "A", "slot": "tomorrow"}, "A")


# -- feed families ---------------------------------------------------------------------------


def test_pretalx_feeds_are_a_family_served_by_one_spider_and_one_set_of_tables() -> None:
    assert FEEDS["pretalx"].endswith(":PretalxSpider")
    assert family_of("pretalx-europython-2024", FEEDS) == "pretalx"
    assert family_of("pretalx", FEEDS) == "pretalx"
    assert family_of("pretalxx", FEEDS) is None
    assert family_of("confs-tech", FEEDS) == "confs-tech"
    assert family_of("confs", FEEDS) is None
    assert family_of("a-b-c", ["a", "a-b"]) == "a-b"  # the longest family wins
    tables = [spec.name for spec in tables_for_feed("pretalx-pycon-de-2024")]
    assert tables == [
        "pretalx_events",
        "pretalx_talks",
        "pretalx_speakers",
        "pretalx_talk_speakers",
    ]
    streams = [spec.stream for spec in tables_for_feed("pretalx-pycon-de-2024")]
    assert streams == ["events", "talks", "speakers", "talk_speakers"]
    with pytest.raises(ConfigError, match="loads no warehouse table"):
        tables_for_feed("pretalxx")


@pytest.mark.parametrize("named", ["confs-tech", "pretalxx", "pretalx_x"])
def test_the_command_refuses_a_feed_outside_the_spiders_family(
    named: str, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"REDFEED_FEED": named, "REDFEED_PRETALX_EVENT": EVENT}
    assert crawl.main("pretalx", env=env) == ExitCode.CONFIG
    assert "REDFEED_FEED" in caplog.text


def test_the_shipped_registry_runs_each_event_as_its_own_feed() -> None:
    registry = load_registry(REPO / "dags" / "feeds.yaml")
    spec = registry.feed("pretalx-europython-2026")
    assert spec.dag_id == "feed_pretalx_europython_2026"
    assert spec.image == "redfeed/scraper-pretalx"
    assert spec.env["REDFEED_PRETALX_EVENT"] == "europython-2026"
    # archived under the event's own feed
    assert spec.extract_env()["REDFEED_FEED"] == "pretalx-europython-2026"
    assert list(spec.tables) == [t.name for t in tables_for_feed(spec.name)]
    pretalx_feeds = [s for s in registry.feeds if s.image == "redfeed/scraper-pretalx"]
    assert all(family_of(s.name, FEEDS) == "pretalx" for s in pretalx_feeds)
    events = [s.env.get("REDFEED_PRETALX_EVENT") for s in pretalx_feeds]
    assert all(events), "every pretalx feed names its event"
    assert len(set(events)) == len(events), "one feed per event"
    dockerfile = (REPO / "images" / "scraper-pretalx" / "Dockerfile").read_text()
    assert '"redfeed", "scrape", "pretalx"]' in dockerfile
    assert "ENV REDFEED_FEED" not in dockerfile  # the DAG names the event's feed
