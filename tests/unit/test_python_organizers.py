"""python-organizers end to end: ``python -m redfeed.feeds.crawl python-organizers`` as a
subprocess against the mirror serving the real fixture files (expected records computed from the
files by ``tests.records``, not by the spider), faults and broken files included; plus the CSV
reading and row checks in process."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import CloseSpider
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from redfeed.contract import Settings
from redfeed.errors import ExitCode, SourceDataError
from redfeed.feeds import crawl
from redfeed.feeds.python_organizers import (
    COLUMNS,
    PythonOrganizersSpider,
    header_keys,
    parse_year_file,
    snake_case,
)
from redfeed.feeds.registry import spider_class
from redfeed.mirror import MirrorServer
from redfeed.orchestration.registry import load_registry
from redfeed.warehouse.jsonpaths import FEED_TABLES, load_columns
from tests.records import PYTHON_ORGANIZERS_KEYS, python_organizers_problem, python_organizers_rows
from tests.unit.test_confs_tech import Run, canonical, scrape

FEED = "python-organizers"
REPO = Path(__file__).resolve().parents[2]
HEADER = ",".join(COLUMNS)
#: A real row with an end before its start: python-organizers/conferences 2025.csv (commit
#: 01953f3), a year after the fixtures end.
EUROSCIPY_2025 = (
    'EuroSciPy,2025-08-18,2024-08-22,"Krakow, Poland",POL,AGH University,2025-04-28,2025-04-28,'
    "https://www.euroscipy.org/2025/,https://www.euroscipy.org/2025/program.html,"
    "https://www.euroscipy.org/2025/sponsoring.html"
)


def run(source_url: str, start: str, end: str, **env: str) -> Run:
    return scrape(
        source_url, feed=FEED, REDFEED_INTERVAL_START=start, REDFEED_INTERVAL_END=end, **env
    )


def expected(root: Path, years: Iterable[int]) -> tuple[Counter[str], list[dict[str, Any]]]:
    """(the records, the rows to quarantine) of the year files, judged by tests.records."""
    records: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    for row in python_organizers_rows(root, years):
        (quarantined if python_organizers_problem(row) else records).append(row)
    return canonical(records), quarantined


def per_file(records: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(record["source_path"] for record in records)


def source_with(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "source"
    root.mkdir()
    for name, content in files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def mirror(python_organizers_dir: Path) -> Iterable[MirrorServer]:
    with MirrorServer(python_organizers_dir) as server:
        yield server


# -- the real files --------------------------------------------------------------------------


def test_every_fixture_row_becomes_exactly_one_record_or_reject(
    mirror: MirrorServer, python_organizers_dir: Path
) -> None:
    years = sorted(int(p.stem) for p in python_organizers_dir.glob("[0-9]*.csv"))
    assert years == list(range(2017, 2025))
    result = run(mirror.url, f"{years[0]}-01-01", f"{years[-1] + 1}-01-01")
    assert result.code == 0, result.stderr[-3000:]

    records, quarantined = expected(python_organizers_dir, years)
    rows = sum(1 for _ in python_organizers_rows(python_organizers_dir, years))
    assert rows == 360  # the fixture files hold 360 rows (368 lines, 8 headers)
    assert len(result.records) == rows
    assert canonical(result.data) == records  # every value, duplicates kept
    assert per_file(result.data) == per_file(json.loads(r) for r in records.elements())
    # The fixtures' real defects: no row ends before it starts there (that one is in 2025.csv,
    # see test_end_before_start_is_quarantined_with_the_reason), but one conference is listed
    # twice in 2022.csv, and 16 rows have no country: all kept.
    assert (
        [r["reason"] for r in result.rejects]
        == [
            f"{q['source_path']} line {q['line']}: {python_organizers_problem(q)}"
            for q in quarantined
        ]
        == []
    )
    pybay = [r for r in result.data if (r["subject"], r["start_date"]) == ("PyBay", "2022-09-10")]
    assert sorted(r["line"] for r in pybay) == [13, 14]
    assert sum(r["country"] is None for r in result.data) == 16
    assert result.stats["redfeed/records"] == rows
    assert result.stats["redfeed/files_read"] == len(years)
    assert mirror.requests["/"] == 1
    assert all(mirror.requests[f"/{year}.csv"] == 1 for year in years)


def test_only_the_interval_years_are_fetched(
    mirror: MirrorServer, python_organizers_dir: Path
) -> None:
    result = run(mirror.url, "2023-12-31T00:00:00Z", "2024-01-02T00:00:00Z")
    assert result.code == 0, result.stderr[-3000:]
    records, _ = expected(python_organizers_dir, [2023, 2024])
    assert per_file(result.data) == {"2023.csv": 71, "2024.csv": 67}
    assert canonical(result.data) == records
    assert set(mirror.requests) == {"/", "/2023.csv", "/2024.csv"}


def test_multibyte_text_arrives_unchanged(mirror: MirrorServer) -> None:
    result = run(mirror.url, "2017-06-01", "2017-06-02")
    assert result.code == 0, result.stderr[-3000:]
    by_line = {r["line"]: r for r in result.data}
    assert by_line[3]["location"] == "Bogotá, Capital District, Colombia"
    assert by_line[29]["subject"] == "PyCon España"
    assert by_line[39]["venue"] == "Université du Québec à Montréal"


def test_a_year_not_in_the_listing_is_zero_records_and_success(
    mirror: MirrorServer, python_organizers_dir: Path
) -> None:
    result = run(mirror.url, "2024-06-01", "2024-06-02", REDFEED_YEARS_AHEAD="1")
    assert result.code == 0, result.stderr[-3000:]
    assert per_file(result.data) == {"2024.csv": 67}  # 2025.csv is not in the fixtures
    assert result.stats["redfeed/years_missing"] == 1
    future = run(mirror.url, "2031-05-01", "2031-05-02", REDFEED_YEARS_AHEAD="1")
    assert future.code == 0, future.stderr[-3000:]
    assert future.records == []
    assert future.stats["redfeed/years_missing"] == 2
    assert "/2031.csv" not in mirror.requests  # never asked for what the listing lacks


def test_a_wrong_source_url_is_a_config_error(mirror: MirrorServer) -> None:
    result = run(f"{mirror.url}/no/such/repo", "2024-01-01", "2024-01-02")
    assert result.code == ExitCode.CONFIG, result.stderr[-3000:]
    assert "REDFEED_SOURCE_URL" in result.stats["redfeed/error"]


# -- broken files and sources ----------------------------------------------------------------


def test_end_before_start_is_quarantined_with_the_reason(
    python_organizers_dir: Path, tmp_path: Path
) -> None:
    real = (python_organizers_dir / "2024.csv").read_text(encoding="utf-8")
    root = source_with(tmp_path, {"2024.csv": real, "2025.csv": f"{HEADER}\n{EUROSCIPY_2025}\n"})
    with MirrorServer(root) as server:
        result = run(server.url, "2024-06-01", "2024-06-02", REDFEED_YEARS_AHEAD="1")
    assert result.code == 0, result.stderr[-3000:]
    assert per_file(result.data) == {"2024.csv": 67}
    [quarantined] = result.rejects
    assert quarantined["reason"] == (
        "2025.csv line 2: end_date 2024-08-22 is before start_date 2025-08-18"
    )
    assert quarantined["value"]["subject"] == "EuroSciPy"
    assert quarantined["value"]["line"] == 2
    assert result.stats["redfeed/rejects"] == 1


def test_a_renamed_column_is_a_data_error_naming_it(
    python_organizers_dir: Path, tmp_path: Path
) -> None:
    real = (python_organizers_dir / "2024.csv").read_text(encoding="utf-8")
    renamed = real.replace("Talk Deadline", "CFP Deadline", 1)
    root = source_with(tmp_path, {"2024.csv": renamed})
    with MirrorServer(root) as server:
        result = run(server.url, "2024-01-01", "2024-01-02")
    assert result.code == ExitCode.DATA_ERROR, result.stderr[-3000:]
    assert result.records == []
    error = result.stats["redfeed/error"]
    assert "2024.csv: the header has no column 'Talk Deadline'" in error
    assert "'CFP Deadline'" in error


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "2024.csv is empty: no header row"),
        (f"{HEADER}\nPyCon Z\xfcrich,2024-01-01\n".encode("latin-1"), "2024.csv is not UTF-8"),
    ],
    ids=["empty", "latin-1"],
)
def test_an_unreadable_file_is_a_data_error(tmp_path: Path, content: bytes, message: str) -> None:
    root = source_with(tmp_path, {"2024.csv": content})
    with MirrorServer(root) as server:
        result = run(server.url, "2024-01-01", "2024-01-02")
    assert result.code == ExitCode.DATA_ERROR, result.stderr[-3000:]
    assert message in result.stats["redfeed/error"]


def test_recoverable_faults_are_retried_to_success(
    mirror: MirrorServer, python_organizers_dir: Path
) -> None:
    mirror.set_faults(
        [
            {"path": "/", "status": 502, "times": 1},
            {"path": "/2024.csv", "truncate": 50, "times": 1},  # connection cut mid-body
        ]
    )
    result = run(mirror.url, "2024-01-01", "2024-01-02")
    assert result.code == 0, result.stderr[-3000:]
    assert canonical(result.data) == expected(python_organizers_dir, [2024])[0]
    assert mirror.requests["/"] == 2
    assert mirror.requests["/2024.csv"] == 2


def test_a_file_failing_for_good_is_temporary(mirror: MirrorServer) -> None:
    mirror.set_faults([{"path": "/2024.csv", "status": 500}])
    result = run(mirror.url, "2024-01-01", "2024-01-02")
    assert result.code == ExitCode.TEMPORARY, result.stderr[-3000:]
    assert mirror.requests["/2024.csv"] == 3  # first try + REDFEED_RETRY_TIMES=2


# -- rows, in process ------------------------------------------------------------------------


def parse(*lines: str, header: str = HEADER, year: int = 2024) -> list[dict[str, Any]]:
    body = "".join(f"{line}\n" for line in (header, *lines)).encode()
    return list(parse_year_file(body, year, f"{year}.csv"))


VALID = {
    "subject": "PyCon Test",
    "start_date": "2024-05-01",
    "end_date": "2024-05-03",
    "location": "Lyon, France",
    "country": "FRA",
    "venue": "",
    "tutorial_deadline": "",
    "talk_deadline": "2024-02-01",
    "website_url": "https://pycon.test",
    "proposal_url": "",
    "sponsorship_url": "",
}


def row(**cells: str) -> str:
    """A CSV row of a valid conference with ``cells`` (by record key) changed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow({**VALID, **cells}.values())
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (row(end_date="2024-04-30"), "end_date 2024-04-30 is before start_date 2024-05-01"),
        (row(subject=""), "no subject"),
        (row(start_date="  "), "no start_date"),
        (row(start_date="2024/05/01"), "start_date '2024/05/01' is not a YYYY-MM-DD date"),
        (row(end_date="2024-02-30"), "end_date '2024-02-30' is not a date (day is out of range"),
        (
            row(talk_deadline="2024-02-01 23:59"),
            "talk_deadline '2024-02-01 23:59' is not a YYYY-MM-DD date",
        ),
        (row(tutorial_deadline="TBA"), "tutorial_deadline 'TBA' is not a YYYY-MM-DD date"),
        (row(country="France"), "country 'France' is not an ISO 3166-1 alpha-3 code"),
        (
            row(subject="", end_date="2024-04-01"),
            "no subject; end_date 2024-04-01 is before start_date 2024-05-01",
        ),
    ],
)
def test_rows_the_warehouse_must_not_take_are_rejected_with_the_reason(
    line: str, reason: str
) -> None:
    [out] = parse(line)
    assert set(out) == {"_reject"}
    assert out["_reject"]["reason"].startswith(f"2024.csv line 2: {reason}")
    assert out["_reject"]["value"]["line"] == 2
    assert out["_reject"]["value"]["source_path"] == "2024.csv"


@pytest.mark.parametrize(
    ("line", "reason", "kept"),
    [
        ("PyCon Short,2024-05-01", "2 cells, the header has 11", ["PyCon Short", "2024-05-01"]),
        (row() + ",extra", "12 cells, the header has 11", None),
        ('PyCon "Quoted",2024-05-01', "2 cells, the header has 11", None),
        ('"PyCon "Broken",2024-05-01', "malformed CSV (',' expected after '\"')", None),
    ],
    ids=["too-few", "too-many", "bare-quote", "bad-quoting"],
)
def test_rows_that_are_not_rows_of_the_header_are_rejected_whole(
    line: str, reason: str, kept: list[str] | None
) -> None:
    out = parse(row(subject="Before"), line, row(subject="After"))
    assert [o.get("subject") for o in out] == ["Before", None, "After"]  # reading goes on
    rejected = out[1]["_reject"]
    assert rejected["reason"] == f"2024.csv line 3: {reason}"
    value = rejected["value"]
    assert (value["year"], value["source_path"], value["line"]) == (2024, "2024.csv", 3)
    if kept is not None:
        assert value["cells"] == kept
    assert "cells" in value or value["raw"] == f"{line}\n"


def test_csv_details_bom_quotes_newlines_blanks_crlf_and_multibyte() -> None:
    body = (
        "\ufeff"
        + HEADER
        + "\r\n"
        + row(subject='PyCon "Quoted", Inc.', location="Kraków,\nPolska")
        + "\r\n\r\n"
        + row(subject=" 東京 Py ", country="jpn", venue="  ")
        + "\r\n"
    ).encode()
    first, second = parse_year_file(body, 2024, "2024.csv")
    assert first["subject"] == 'PyCon "Quoted", Inc.'
    assert first["location"] == "Kraków,\nPolska"
    assert first["line"] == 2
    assert second["line"] == 5  # the quoted newline and the blank line count as lines
    assert second["subject"] == "東京 Py"  # surrounding blanks trimmed
    assert second["country"] == "JPN"  # the one normalisation besides trimming
    assert second["venue"] is None  # empty cells are null
    assert set(first) == {*PYTHON_ORGANIZERS_KEYS.values(), "year", "source_path", "line"}


def test_header_columns_are_matched_by_name_and_extra_ones_kept() -> None:
    order = [*reversed(COLUMNS), "Code of Conduct URL"]
    values = {column: VALID[snake_case(column)] for column in COLUMNS}
    values["Code of Conduct URL"] = "https://coc.test"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values[column] for column in order)
    [record] = parse(buffer.getvalue(), header=",".join(order))
    assert record == {
        **{key: value or None for key, value in VALID.items()},
        "code_of_conduct_url": "https://coc.test",
        "year": 2024,
        "source_path": "2024.csv",
        "line": 2,
    }


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            HEADER.replace("Start Date", "Starts"),
            "no column 'Start Date' (instead it has 'Starts')",
        ),
        (HEADER.replace(",Venue", ""), "no column 'Venue'"),
        (HEADER + ",Website URL", "names website_url twice"),
        (HEADER + ",", "header cell 12 has no name"),
        (HEADER + ",Year", "column(s) year, which redfeed adds"),
    ],
)
def test_a_header_that_is_not_the_sources_is_a_data_error(header: str, message: str) -> None:
    with pytest.raises(SourceDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        header_keys(header.split(","), "2024.csv")


def test_the_header_is_matched_case_and_blank_insensitively() -> None:
    keys = header_keys([f" {c.upper()} " for c in COLUMNS], "2024.csv")
    assert keys == list(PYTHON_ORGANIZERS_KEYS.values())


# -- the spider's callbacks, in process ------------------------------------------------------

BASE = "https://api.github.test/repos/python-organizers/conferences/contents"


def make_spider(**env: str) -> PythonOrganizersSpider:
    config = Settings.from_env(
        {
            "REDFEED_INTERVAL_START": "2024-03-01",
            "REDFEED_FEED": FEED,
            "REDFEED_SOURCE_URL": BASE,
            **env,
        },
        need_archive=False,
    )
    crawler = get_crawler(PythonOrganizersSpider)
    spider = crawler._create_spider(config=config)
    assert isinstance(spider, PythonOrganizersSpider)
    return spider


def listing(*entries: dict[str, Any]) -> TextResponse:
    return TextResponse(
        BASE, body=json.dumps(list(entries)).encode(), encoding="utf-8", request=Request(BASE)
    )


def entry(name: str, kind: str = "file", url: str | None = "default") -> dict[str, Any]:
    download = f"https://raw.test/python-organizers/conferences/main/{name}"
    return {"name": name, "type": kind, "download_url": download if url == "default" else url}


def test_the_listing_picks_the_year_files_and_sends_the_token_to_the_api_only() -> None:
    spider = make_spider(REDFEED_SOURCE_TOKEN="s3cret", REDFEED_YEARS_AHEAD="1")
    requests = list(
        spider.parse_listing(
            listing(entry("2023.csv"), entry("2024.csv"), entry("README.md"), entry("2025.csv"))
        )
    )
    assert [r.url for r in requests] == [
        "https://raw.test/python-organizers/conferences/main/2024.csv",
        "https://raw.test/python-organizers/conferences/main/2025.csv",
    ]
    assert [r.cb_kwargs for r in requests] == [
        {"year": 2024, "source_path": "2024.csv"},
        {"year": 2025, "source_path": "2025.csv"},
    ]
    assert all("Authorization" not in r.headers for r in requests)
    assert requests[0].headers.getlist("Accept") == [b"text/csv, text/plain;q=0.9, */*;q=0.1"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([entry("2024.csv", url="file:///etc/passwd")], "no http(s) download_url"),
        ([entry("2024.csv", url=None)], "no http(s) download_url"),
        ([{"type": "file"}], "an entry without a name"),
    ],
)
def test_a_bad_listing_is_a_data_error(entries: list[dict[str, Any]], message: str) -> None:
    spider = make_spider()
    with pytest.raises(CloseSpider):
        list(spider.parse_listing(listing(*entries)))
    stats = spider.crawler.stats
    assert stats.get_value(crawl.STAT_ERROR_CODE) == ExitCode.DATA_ERROR
    assert message in str(stats.get_value(crawl.STAT_ERROR))


def test_a_year_directory_is_not_a_year_file() -> None:
    spider = make_spider()
    assert list(spider.parse_listing(listing(entry("2024.csv", kind="dir", url=None)))) == []
    assert spider.crawler.stats.get_value("redfeed/years_missing") == 1


# -- registration ----------------------------------------------------------------------------


def test_the_feed_is_registered_everywhere() -> None:
    assert spider_class(FEED) is PythonOrganizersSpider
    assert FEED_TABLES[FEED] == ("python_conferences",)
    assert load_columns("python_conferences")[:2] == ["subject", "start_date"]
    spec = load_registry(REPO / "dags" / "feeds.yaml").feed(FEED)
    assert spec.image == "redfeed/scraper-python-organizers"
    assert spec.dag_id == "feed_python_organizers"
    assert spec.tables == ("python_conferences",)
    assert spec.schedule == "@daily"
    assert spec.extract_env()["REDFEED_SOURCE_URL"] == (
        "https://api.github.com/repos/python-organizers/conferences/contents"
    )
    dockerfile = (REPO / "images" / "scraper-python-organizers" / "Dockerfile").read_text()
    assert f"ENV REDFEED_FEED={FEED}" in dockerfile
    assert '"redfeed", "scrape", "python-organizers"]' in dockerfile
