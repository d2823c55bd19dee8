"""confs-tech end to end: ``python -m redfeed.feeds.crawl confs-tech`` as a subprocess against
the mirror serving the real fixture files, with faults injected; plus the runner's pure parts
(years, exit codes, settings, registry)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import CloseSpider
from scrapy.http import Request, Response, TextResponse
from scrapy.utils.test import get_crawler

from redfeed.contract import Settings
from redfeed.errors import ConfigError, ExitCode, SourceDataError, TemporaryError
from redfeed.feeds import crawl
from redfeed.feeds.confs_tech import ConfsTechSpider, http_error, years_for
from redfeed.feeds.registry import FEEDS, spider_class
from redfeed.feeds.settings import for_run
from redfeed.mirror import MirrorServer
from tests.records import confs_tech_records
from tests.spider_run import FAST, run_spider
from tests.spider_run import SpiderRun as Run

#: Fast but otherwise production settings: no politeness delay, tiny backoff, two retries.
ONE_YEAR = {"REDFEED_INTERVAL_START": "2024-03-01T00:00:00Z"}  # end: +1 day
PYTHON_2024 = "/conferences/2024/python.json"
ADDED = {"topic", "year", "sourcePath"}


def scrape(source_url: str, feed: str = "confs-tech", **env: str) -> Run:
    """Run the scraper as the wrapper does and parse stdout strictly as JSON lines."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REDFEED_")}
    environment.update(FAST)
    environment.update(ONE_YEAR)
    environment["REDFEED_SOURCE_URL"] = source_url
    environment.update(env)
    return run_spider(feed, environment)


def expected_records(root: Path, years: Iterable[int]) -> Counter[str]:
    """Every array element of the year files, as the spider should emit it, computed here."""
    expected: Counter[str] = Counter()
    for record in confs_tech_records(root, years):
        expected[json.dumps(record, sort_keys=True)] += 1
    return expected


def canonical(records: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(record, sort_keys=True) for record in records)


def copy_year(source: Path, target: Path, year: int = 2024) -> Path:
    shutil.copytree(source / "conferences" / str(year), target / "conferences" / str(year))
    return target


@pytest.fixture
def mirror(confs_tech_dir: Path) -> Iterable[MirrorServer]:
    with MirrorServer(confs_tech_dir) as server:
        yield server


# -- happy paths -----------------------------------------------------------------------------


def test_every_element_of_the_interval_years_becomes_a_record(
    mirror: MirrorServer, confs_tech_dir: Path
) -> None:
    run = scrape(
        mirror.url,
        REDFEED_INTERVAL_START="2023-12-31T00:00:00Z",
        REDFEED_INTERVAL_END="2024-01-02T00:00:00Z",
    )
    assert run.code == 0, run.stderr[-3000:]
    expected = expected_records(confs_tech_dir, [2023, 2024])
    assert sum(expected.values()) > 1000
    assert len(run.records) == sum(expected.values())
    assert canonical(run.records) == expected  # original fields unchanged, duplicates kept
    assert run.rejects == []
    assert run.stats["redfeed/records"] == len(run.records)
    assert mirror.requests["/conferences/2023"] == 1
    assert mirror.requests["/conferences/2024"] == 1
    assert "/conferences/2022" not in mirror.requests
    assert "/conferences/2025" not in mirror.requests  # the interval ends on 2024-01-02
    by_conference = Counter((r["name"], r["url"], r["startDate"]) for r in run.records)
    assert any(count > 1 for count in by_conference.values()), "kept under each topic"
    for record in run.records:
        assert record["sourcePath"] == f"conferences/{record['year']}/{record['topic']}.json"


def test_a_year_not_there_yet_is_zero_records_and_success(mirror: MirrorServer) -> None:
    run = scrape(mirror.url, REDFEED_INTERVAL_START="2031-05-01", REDFEED_YEARS_AHEAD="1")
    assert run.code == 0, run.stderr[-3000:]
    assert run.records == []
    assert mirror.requests["/conferences/2031"] == 1
    assert mirror.requests["/conferences/2032"] == 1
    assert mirror.requests["/conferences"] == 1  # the base URL was checked once


def test_a_wrong_source_url_is_a_config_error(mirror: MirrorServer) -> None:
    run = scrape(f"{mirror.url}/no/such/repo")
    assert run.code == ExitCode.CONFIG, run.stderr[-3000:]
    assert "REDFEED_SOURCE_URL" in run.stderr


# -- faults ----------------------------------------------------------------------------------


def test_recoverable_faults_are_retried_to_success(
    mirror: MirrorServer, confs_tech_dir: Path
) -> None:
    go, rust = "/conferences/2024/golang.json", "/conferences/2024/rust.json"
    mirror.set_faults(
        [
            # rules on one path fire in order: 502, then a GitHub secondary rate limit, then OK
            {"path": "/conferences/2024", "status": 502, "times": 1},
            {"path": "/conferences/2024", "status": 403, "retry_after": 0, "times": 1},
            {"path": PYTHON_2024, "status": 500, "times": 2},
            {"path": rust, "truncate": 100, "times": 2},  # connection cut mid-body
            {"path": go, "status": 429, "retry_after": 1, "times": 1},
        ]
    )
    run = scrape(mirror.url)
    assert run.code == 0, run.stderr[-3000:]
    assert canonical(run.records) == expected_records(confs_tech_dir, [2024])
    assert mirror.requests["/conferences/2024"] == 3
    assert mirror.requests[PYTHON_2024] == 3
    assert mirror.requests[rust] == 3
    assert mirror.requests[go] == 2
    assert run.stats["retry/count"] == 7
    assert run.stats["redfeed/retry_wait_count"] == 7
    assert run.stats["redfeed/retry_after_honoured"] == 2
    assert run.stats["redfeed/retry_wait_seconds"] >= 1.0  # the 429's Retry-After, not backoff


def test_5xx_for_good_is_temporary_and_quick(mirror: MirrorServer) -> None:
    mirror.set_faults([{"path": PYTHON_2024, "status": 500}])
    run = scrape(mirror.url)
    assert run.code == ExitCode.TEMPORARY, run.stderr[-3000:]
    assert mirror.requests[PYTHON_2024] == 3  # first try + REDFEED_RETRY_TIMES=2
    assert run.stats["redfeed/error_kind"] == "temporary"
    assert run.seconds < 15


def test_retry_after_beyond_the_cap_gives_up_at_once(mirror: MirrorServer) -> None:
    mirror.set_faults([{"path": PYTHON_2024, "status": 503, "retry_after": 3600}])
    run = scrape(mirror.url, REDFEED_RETRY_AFTER_MAX="5")
    assert run.code == ExitCode.TEMPORARY, run.stderr[-3000:]
    assert mirror.requests[PYTHON_2024] == 1
    assert run.stats["redfeed/retry_after_too_long"] == 1
    assert run.seconds < 15


def test_a_connection_cut_every_time_is_temporary(mirror: MirrorServer) -> None:
    mirror.set_faults([{"path": PYTHON_2024, "truncate": 100}])
    run = scrape(mirror.url)
    assert run.code == ExitCode.TEMPORARY, run.stderr[-3000:]
    assert mirror.requests[PYTHON_2024] == 3


def test_nothing_listening_is_temporary() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = scrape(f"http://127.0.0.1:{port}")
    assert run.code == ExitCode.TEMPORARY, run.stderr[-3000:]
    assert run.stats["retry/count"] == 2


def test_malformed_json_is_a_data_error(confs_tech_dir: Path, tmp_path: Path) -> None:
    root = copy_year(confs_tech_dir, tmp_path)
    (root / "conferences" / "2024" / "python.json").write_text('[{"name": "PyCon", "url": ')
    with MirrorServer(root) as server:
        run = scrape(server.url)
    assert run.code == ExitCode.DATA_ERROR, run.stderr[-3000:]
    assert "conferences/2024/python.json" in run.stats["redfeed/error"]
    assert "not valid JSON" in run.stats["redfeed/error"]


def test_elements_that_are_not_objects_are_rejected_not_dropped(
    confs_tech_dir: Path, tmp_path: Path
) -> None:
    root = copy_year(confs_tech_dir, tmp_path)
    path = root / "conferences" / "2024" / "python.json"
    conferences = json.loads(path.read_bytes())
    odd: list[Any] = [42, "PyCon", None, ["x"]]
    path.write_text(json.dumps(conferences[:2] + odd + conferences[2:]))
    with MirrorServer(root) as server:
        run = scrape(server.url)
    assert run.code == 0, run.stderr[-3000:]
    assert [reject["value"] for reject in run.rejects] == odd
    assert run.rejects[0]["reason"] == (
        "element 2 of conferences/2024/python.json is a number, not an object"
    )
    assert all("conferences/2024/python.json" in reject["reason"] for reject in run.rejects)
    assert canonical(run.data) == expected_records(confs_tech_dir, [2024])  # all the rest
    assert run.stats["redfeed/rejects"] == len(odd)


# -- configuration and signals ---------------------------------------------------------------


def test_a_bad_interval_is_a_config_error(mirror: MirrorServer) -> None:
    run = scrape(mirror.url, REDFEED_INTERVAL_START="yesterday")
    assert run.code == ExitCode.CONFIG
    assert "REDFEED_INTERVAL_START" in run.stderr
    assert run.records == []
    assert mirror.requests == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDFEED_INTERVAL_START": "2024-02-01", "REDFEED_INTERVAL_END": "2024-01-01"}, "END"),
        ({"REDFEED_RETRY_TIMES": "many"}, "REDFEED_RETRY_TIMES"),
        ({"REDFEED_RETRY_BACKOFF_BASE": "-1"}, "REDFEED_RETRY_BACKOFF_BASE"),
        ({"REDFEED_SOURCE_URL": "ftp://example.org"}, "REDFEED_SOURCE_URL"),
        ({"REDFEED_FEED": "other-feed"}, "REDFEED_FEED"),
    ],
)
def test_config_errors_exit_78_before_crawling(
    env: dict[str, str], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert crawl.main("confs-tech", env={**ONE_YEAR, **env}) == ExitCode.CONFIG
    assert message in caplog.text


def test_an_unknown_feed_is_a_config_error_naming_the_known_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert crawl.main("no-such-feed", env=ONE_YEAR) == ExitCode.CONFIG
    assert "confs-tech" in caplog.text
    with pytest.raises(ConfigError, match="known feeds: confs-tech"):
        spider_class("no-such-feed")


def test_sigterm_stops_promptly_with_143(mirror: MirrorServer, tmp_path: Path) -> None:
    mirror.set_faults(
        [
            {"path": PYTHON_2024, "status": 503, "retry_after": 30},  # a long retry wait
            {"path": "/conferences/2024/rust.json", "delay_ms": 20_000},  # a hung download
        ]
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REDFEED_")}
    environment.update(FAST, **ONE_YEAR, REDFEED_SOURCE_URL=mirror.url)
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "redfeed.feeds.crawl", "confs-tech"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 20
            while "Retry 1/2" not in stderr_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "in 30.00 s" in stderr_path.read_text()
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
    assert code == ExitCode.TERMINATED, stderr_path.read_text()[-3000:]
    assert time.monotonic() - signalled < crawl.SHUTDOWN_GRACE_SECONDS + 2


# -- the spider's callbacks, in process ------------------------------------------------------

BASE = "https://api.github.test/repos/o/r/contents"


def make_spider(**env: str) -> ConfsTechSpider:
    config = Settings.from_env(
        {**ONE_YEAR, "REDFEED_FEED": "confs-tech", "REDFEED_SOURCE_URL": BASE, **env},
        need_archive=False,
    )
    crawler = get_crawler(ConfsTechSpider)
    spider: ConfsTechSpider = crawler._create_spider(config=config)
    return spider


def answer(url: str, body: bytes | str) -> TextResponse:
    data = body.encode() if isinstance(body, str) else body
    return TextResponse(url, body=data, encoding="utf-8", request=Request(url))


def listing(*entries: dict[str, Any]) -> TextResponse:
    return answer(f"{BASE}/conferences/2024", json.dumps(list(entries)))


def entry(name: str, kind: str = "file", url: str | None = "default") -> dict[str, Any]:
    download = f"https://raw.test/o/r/main/conferences/2024/{name}" if url == "default" else url
    return {
        "name": name,
        "path": f"conferences/2024/{name}",
        "type": kind,
        "download_url": download,
    }


def recorded_error(spider: ConfsTechSpider) -> tuple[int | None, str]:
    stats = spider.crawler.stats
    return stats.get_value(crawl.STAT_ERROR_CODE), str(stats.get_value(crawl.STAT_ERROR))


def test_listing_follows_json_files_only_and_sends_the_token_to_the_api_only() -> None:
    spider = make_spider(REDFEED_SOURCE_TOKEN="s3cret")
    requests = list(
        spider.parse_listing(
            listing(
                entry("python.json"),
                entry("README.md"),
                entry("archive", kind="dir", url=None),
                entry("rust.json"),
            ),
            year=2024,
        )
    )
    assert [r.url for r in requests] == [
        "https://raw.test/o/r/main/conferences/2024/python.json",
        "https://raw.test/o/r/main/conferences/2024/rust.json",
    ]
    assert [r.cb_kwargs["topic"] for r in requests] == ["python", "rust"]
    assert requests[0].cb_kwargs["source_path"] == "conferences/2024/python.json"
    assert all("Authorization" not in r.headers for r in requests)  # another host
    api = spider._listing(f"{BASE}/conferences/2024", spider.parse_listing, year=2024)
    assert api.headers["Authorization"] == b"Bearer s3cret"
    assert api.headers["Accept"] == b"application/vnd.github+json"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>rate limited", "not valid JSON"),
        ('{"message": "Not Found"}', "not an array"),
        (json.dumps([{"type": "file"}]), "without a name or type"),
        (json.dumps([entry("python.json", url="file:///etc/passwd")]), "no http(s) download_url"),
        (json.dumps([entry("python.json", url=None)]), "no http(s) download_url"),
    ],
)
def test_a_bad_listing_is_a_data_error(body: str, message: str) -> None:
    spider = make_spider()
    with pytest.raises(CloseSpider):
        list(spider.parse_listing(answer(f"{BASE}/conferences/2024", body), year=2024))
    code, error = recorded_error(spider)
    assert code == ExitCode.DATA_ERROR
    assert message in error


def test_a_topic_file_that_is_not_an_array_is_a_data_error() -> None:
    spider = make_spider()
    with pytest.raises(CloseSpider):
        list(
            spider.parse_topic(
                answer("https://raw.test/python.json", '{"name": "PyCon"}'),
                year=2024,
                topic="python",
                source_path="conferences/2024/python.json",
            )
        )
    assert recorded_error(spider) == (
        ExitCode.DATA_ERROR,
        "conferences/2024/python.json is an object, not an array",
    )


def test_records_keep_fields_and_clashing_objects_are_rejected() -> None:
    spider = make_spider()
    conferences = [
        {"name": "PyCon", "url": "https://pycon.test", "online": False, "locales": "EN"},
        {"name": "Odd", "year": 1999},
        True,
    ]
    out = list(
        spider.parse_topic(
            answer("https://raw.test/python.json", json.dumps(conferences)),
            year=2024,
            topic="python",
            source_path="conferences/2024/python.json",
        )
    )
    assert out[0] == {
        **conferences[0],
        "topic": "python",
        "year": 2024,
        "sourcePath": "conferences/2024/python.json",
    }
    assert out[1]["_reject"]["value"] == {"name": "Odd", "year": 1999}
    assert "already has field(s) year" in out[1]["_reject"]["reason"]
    assert out[2] == {
        "_reject": {
            "reason": "element 2 of conferences/2024/python.json is a boolean, not an object",
            "value": True,
        }
    }


def test_severity_decides_between_recorded_failures() -> None:
    spider = make_spider()
    crawler = spider.crawler
    crawl.fail(crawler, TemporaryError("5xx"))
    crawl.fail(crawler, SourceDataError("bad json"))
    crawl.fail(crawler, TemporaryError("another 5xx"))
    assert recorded_error(spider) == (ExitCode.DATA_ERROR, "bad json")


# -- pure parts ------------------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "ahead", "years"),
    [
        ("2024-03-01", "2024-03-02", 0, [2024]),
        ("2024-12-31", "2025-01-01", 0, [2024]),  # half-open: the end instant is not in it
        ("2024-12-31", "2025-01-01T00:00:01", 0, [2024, 2025]),
        ("2023-06-01", "2025-02-01", 0, [2023, 2024, 2025]),
        ("2024-03-01", "2024-03-02", 2, [2024, 2025, 2026]),
    ],
)
def test_years_for(start: str, end: str, ahead: int, years: list[int]) -> None:
    assert years_for(at(start), at(end), ahead) == years


def test_http_errors_map_to_error_kinds() -> None:
    def kind(status: int, **headers: str) -> str:
        return http_error(Response("http://s/x", status=status, headers=headers), False).kind

    assert kind(500) == "temporary"
    assert kind(429) == "temporary"
    assert kind(404) == "temporary"  # listed, then gone: a later run may see it again
    assert kind(403, **{"x-ratelimit-remaining": "0"}) == "temporary"
    assert kind(403) == "config"
    assert kind(401) == "config"


@pytest.mark.parametrize(
    ("stats", "signalled", "code"),
    [
        ({"finish_reason": "finished"}, None, 0),
        ({"finish_reason": "finished"}, "SIGTERM", 143),
        ({"finish_reason": "shutdown"}, None, 143),
        ({"finish_reason": "redfeed_temporary", crawl.STAT_ERROR_CODE: 75}, None, 75),
        ({"finish_reason": "redfeed_data", crawl.STAT_ERROR_CODE: 65}, None, 65),
        ({"finish_reason": "redfeed_data", crawl.STAT_ERROR_CODE: 65}, "SIGTERM", 143),
        ({"finish_reason": "finished", "spider_exceptions/count": 1}, None, 70),
        ({"finish_reason": "finished", "log_count/ERROR": 2}, None, 70),
        ({"finish_reason": "closespider_timeout"}, None, 70),
        ({}, None, 70),
    ],
)
def test_exit_codes(stats: dict[str, Any], signalled: str | None, code: int) -> None:
    assert crawl.exit_code_for(stats, signalled)[0] == code


def test_settings_for_a_run() -> None:
    env = {**ONE_YEAR, "REDFEED_FEED": "confs-tech"}
    config = Settings.from_env(env, need_archive=False)
    settings = for_run(config)
    assert settings["RETRY_TIMES"] == 5
    assert settings["HTTPCACHE_ENABLED"] is False
    assert settings["FEEDS"] == {"stdout:": {"format": "jsonlines", "encoding": "utf8"}}
    assert (
        settings["DOWNLOADER_MIDDLEWARES"]["scrapy.downloadermiddlewares.retry.RetryMiddleware"]
        is None
    )
    assert settings["USER_AGENT"].startswith("redfeed/")

    cached = Settings.from_env(
        {**env, "REDFEED_HTTP_CACHE": "true", "REDFEED_HTTP_CACHE_DIR": "/tmp/x-cache"},
        need_archive=False,
    )
    assert for_run(cached)["HTTPCACHE_ENABLED"] is True
    assert for_run(cached)["HTTPCACHE_DIR"] == "/tmp/x-cache"
    fast = Settings.from_env({**env, **FAST}, need_archive=False)
    assert for_run(fast)["RETRY_TIMES"] == 2
    assert for_run(fast)["AUTOTHROTTLE_START_DELAY"] == 0
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 4
    one = Settings.from_env({**env, "REDFEED_CONCURRENCY_PER_HOST": "1"}, need_archive=False)
    assert for_run(one)["CONCURRENT_REQUESTS_PER_DOMAIN"] == 1
    assert for_run(one)["AUTOTHROTTLE_TARGET_CONCURRENCY"] == 1.0
    zero = Settings.from_env({**env, "REDFEED_CONCURRENCY_PER_HOST": "0"}, need_archive=False)
    with pytest.raises(ConfigError, match="REDFEED_CONCURRENCY_PER_HOST"):
        for_run(zero)


def test_registry_is_lazy() -> None:
    code = (
        "import sys; import redfeed.feeds.registry as r; "
        "assert 'confs-tech' in r.FEEDS; assert 'scrapy' not in sys.modules, 'scrapy imported'; "
        "import redfeed.feeds.crawl; assert 'scrapy' not in sys.modules, 'crawl imports scrapy'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert spider_class("confs-tech").name == "confs-tech"
    assert {"confs-tech", "python-organizers"} <= set(FEEDS)
