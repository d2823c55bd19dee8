"""python-organizers: Python conferences from the GitHub repository python-organizers/conferences.

The repository holds one ``<year>.csv`` per year at its root (Subject, Start Date, End Date,
Location, Country, Venue, Tutorial Deadline, Talk Deadline, Website URL, Proposal URL,
Sponsorship URL). The spider lists the root like any client of GitHub's contents API and
downloads, through its ``download_url``, the file of every year the data interval touches (plus
``REDFEED_YEARS_AHEAD`` following years). A year without a file is zero records, not an error.

Each row becomes one record: the columns under snake_case keys (``start_date``, ``website_url``,
...), surrounding blanks trimmed, empty cells null, plus ``year`` (the file's), ``source_path``
(``2024.csv``) and ``line`` (the row's first line in the file; the header is line 1). Columns the
source adds later are kept under their snake_case names (archived, not loaded). Dates must be
ISO ``YYYY-MM-DD`` (what the source's own validator demands); the only normalisations are the
trimming and upper-casing a country code.

Rows the warehouse must not take are quarantined as ``_reject`` records naming the file, line
and problem: a wrong number of cells, malformed CSV quoting, a missing subject or start date, a
date that is not one, an end before the start, a country that is not an ISO 3166-1 alpha-3
code. A header without an expected column (a renamed field: the source changed its format), or a
file that is not UTF-8 text, fails the batch as a data error (exit 65).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from redfeed.contract import Settings
from redfeed.errors import ConfigError, SourceDataError, TemporaryError
from redfeed.feeds.api import ApiSpider
from redfeed.feeds.confs_tech import API_HEADERS, http_error, json_type, reject, years_for
from redfeed.feeds.crawl import fail, fail_and_close

DEFAULT_BASE_URL = "https://api.github.com/repos/python-organizers/conferences/contents"
#: The source's header, in its order; each column's record key is :func:`snake_case` of it.
COLUMNS: Final = (
    "Subject",
    "Start Date",
    "End Date",
    "Location",
    "Country",
    "Venue",
    "Tutorial Deadline",
    "Talk Deadline",
    "Website URL",
    "Proposal URL",
    "Sponsorship URL",
)
DATE_FIELDS: Final = ("start_date", "end_date", "tutorial_deadline", "talk_deadline")
REQUIRED_FIELDS: Final = ("subject", "start_date")
#: Fields the spider adds to every record; a source column with one of these names is a format
#: change, not something to overwrite.
ADDED_FIELDS: Final = frozenset({"year", "source_path", "line"})
CSV_HEADERS: Final = {"Accept": "text/csv, text/plain;q=0.9, */*;q=0.1"}
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
ISO3 = re.compile(r"^[A-Za-z]{3}\Z")


def snake_case(name: str) -> str:
    """``"Website URL"`` -> ``"website_url"``: the record key of a CSV column."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def file_name(year: int) -> str:
    return f"{year}.csv"


@dataclass(frozen=True)
class Row:
    """One CSV row (or what could not be read as one) and where it is in its file."""

    line: int
    cells: list[str] | None
    raw: str
    error: str | None = None


class _TrackedLines:
    """The file's lines for ``csv.reader``, remembering those not yet claimed by a row, so each
    row knows its first line and its raw text (a quoted cell may span lines)."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.read = 0
        self._pending: list[str] = []

    def __iter__(self) -> _TrackedLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.read += 1
        self._pending.append(line)
        return line

    def claim(self) -> tuple[int, str]:
        """The first line number and the raw text of the lines read since the last claim."""
        first = self.read - len(self._pending) + 1
        raw = "".join(self._pending)
        self._pending.clear()
        return first, raw


def csv_rows(text: str) -> Iterator[Row]:
    """Every row of ``text``, blank lines included (as ``cells == []``). Malformed quoting does
    not stop the file: that row comes back with ``error`` set and reading goes on."""
    lines = _TrackedLines(text)
    reader = csv.reader(lines, strict=True)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line, raw = lines.claim()
            yield Row(line, None, raw, f"malformed CSV ({exc})")
            continue
        line, raw = lines.claim()
        yield Row(line, cells, raw)


def header_keys(cells: list[str], source_path: str) -> list[str]:
    """The record key of each header cell; ``SourceDataError`` unless every expected column is
    there exactly once (extra columns are allowed: they are kept, under their own names)."""
    keys = [snake_case(cell) for cell in cells]
    expected = {snake_case(column): column for column in COLUMNS}
    missing = [column for key, column in expected.items() if key not in keys]
    if missing:
        extra = [cell for cell, key in zip(cells, keys, strict=True) if key not in expected]
        hint = f" (instead it has {', '.join(map(repr, extra))})" if extra else ""
        raise SourceDataError(
            f"{source_path}: the header has no column {', '.join(map(repr, missing))}{hint}: "
            f"the source changed its format; header: {','.join(cells)!r:.300}"
        )
    if "" in keys:
        raise SourceDataError(f"{source_path}: header cell {keys.index('') + 1} has no name")
    doubled = sorted({key for key in keys if keys.count(key) > 1})
    if doubled:
        raise SourceDataError(f"{source_path}: the header names {', '.join(doubled)} twice")
    clash = sorted(ADDED_FIELDS & set(keys))
    if clash:
        raise SourceDataError(
            f"{source_path}: the header has column(s) {', '.join(clash)}, which redfeed adds"
        )
    return keys


def iso_date(value: str) -> date:
    """``value`` as a date if it is one written ``YYYY-MM-DD``; ``ValueError`` saying why not."""
    if not ISO_DATE.match(value):
        raise ValueError("is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"is not a date ({exc})") from None


def row_problems(record: dict[str, Any]) -> list[str]:
    """Why the warehouse must not take this record (empty: it may)."""
    problems = [f"no {field}" for field in REQUIRED_FIELDS if record.get(field) is None]
    dates: dict[str, date] = {}
    for field in DATE_FIELDS:
        value = record.get(field)
        if value is None:
            continue
        try:
            dates[field] = iso_date(value)
        except ValueError as exc:
            problems.append(f"{field} {value!r} {exc}")
    start, end = dates.get("start_date"), dates.get("end_date")
    if start is not None and end is not None and end < start:
        problems.append(f"end_date {end} is before start_date {start}")
    country = record.get("country")
    if country is not None and not ISO3.match(country):
        problems.append(f"country {country!r} is not an ISO 3166-1 alpha-3 code")
    return problems


def parse_year_file(body: bytes, year: int, source_path: str) -> Iterator[dict[str, Any]]:
    """The records (and ``_reject`` records) of one year file, in file order.

    ``SourceDataError`` before the first record if the file is not UTF-8 or its header lacks an
    expected column."""
    try:
        text = body.decode("utf-8-sig")  # GitHub serves bytes; a BOM is not part of the header
    except UnicodeDecodeError as exc:
        raise SourceDataError(
            f"{source_path} is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from None
    rows = csv_rows(text)
    header = next((row for row in rows if row.cells != []), None)
    if header is None:
        raise SourceDataError(f"{source_path} is empty: no header row")
    if header.cells is None:
        raise SourceDataError(f"{source_path}: the header is {header.error}")
    keys = header_keys(header.cells, source_path)
    for row in rows:
        where = f"{source_path} line {row.line}"
        if row.cells is None:
            yield reject(
                f"{where}: {row.error}",
                {"year": year, "source_path": source_path, "line": row.line, "raw": row.raw},
            )
            continue
        if row.cells == []:  # a blank line holds no row
            continue
        if len(row.cells) != len(keys):
            yield reject(
                f"{where}: {len(row.cells)} cells, the header has {len(keys)}",
                {"year": year, "source_path": source_path, "line": row.line, "cells": row.cells},
            )
            continue
        record: dict[str, Any] = {
            key: (cell.strip() or None) for key, cell in zip(keys, row.cells, strict=True)
        }
        record.update(year=year, source_path=source_path, line=row.line)
        problems = row_problems(record)
        if problems:
            yield reject(f"{where}: {'; '.join(problems)}", record)
            continue
        if record.get("country") is not None:
            record["country"] = record["country"].upper()
        yield record


class PythonOrganizersSpider(ApiSpider):
    name = "python-organizers"
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, *args: Any, config: Settings, **kwargs: Any) -> None:
        super().__init__(*args, config=config, **kwargs)
        self.years = years_for(config.interval_start, config.interval_end, config.years_ahead)

    async def start(self) -> AsyncIterator[Request]:
        self.logger.info("listing %s for years %s", self.base_url, ", ".join(map(str, self.years)))
        yield Request(
            self.base_url,
            headers=self._headers(self.base_url, API_HEADERS),
            callback=self.parse_listing,
            errback=self.on_error,
            meta={"handle_httpstatus_list": [404]},
        )

    def parse_listing(self, response: Response) -> Iterator[Request]:
        stats = self.crawler.stats
        if response.status == 404:  # a repository's root always exists
            raise fail(
                self.crawler,
                ConfigError(
                    f"{response.url} is 404: no such repository root "
                    f"(check REDFEED_SOURCE_URL, now {self.base_url!r})"
                ),
            )
        what = f"the listing of {response.url}"
        try:
            entries = orjson.loads(response.body)
        except orjson.JSONDecodeError as exc:
            raise fail(
                self.crawler,
                SourceDataError(f"{what} ({len(response.body)} bytes) is not valid JSON: {exc}"),
            ) from exc
        if not isinstance(entries, list):
            raise fail(
                self.crawler, SourceDataError(f"{what} is {json_type(entries)}, not an array")
            )
        files: dict[str, dict[str, Any]] = {}
        for entry in entries:
            if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)):
                raise fail(
                    self.crawler,
                    SourceDataError(f"{what} has an entry without a name: {entry!r:.200}"),
                )
            if entry.get("type") == "file":
                files[entry["name"]] = entry
        for year in self.years:
            entry = files.get(file_name(year))
            if entry is None:
                self.logger.info("%s is not in the source: no such year yet", file_name(year))
                stats.inc_value("redfeed/years_missing")
                continue
            stats.inc_value("redfeed/years_listed")
            yield self._file_request(response, year, entry, what)

    def _file_request(
        self, response: Response, year: int, entry: dict[str, Any], what: str
    ) -> Request:
        download_url = entry.get("download_url")
        url = response.urljoin(download_url) if isinstance(download_url, str) else ""
        if urlsplit(url).scheme not in ("http", "https"):
            raise fail(
                self.crawler,
                SourceDataError(
                    f"{what}: {entry['name']} has no http(s) download_url: {download_url!r}"
                ),
            )
        return Request(
            url,
            headers=self._headers(url, CSV_HEADERS),
            callback=self.parse_year,
            errback=self.on_error,
            cb_kwargs={"year": year, "source_path": file_name(year)},
        )

    def parse_year(
        self, response: Response, year: int, source_path: str
    ) -> Iterator[dict[str, Any]]:
        stats = self.crawler.stats
        records = rejects = 0
        try:
            for item in parse_year_file(response.body, year, source_path):
                if "_reject" in item:
                    rejects += 1
                    stats.inc_value("redfeed/rejects")
                else:
                    records += 1
                    stats.inc_value("redfeed/records")
                yield item
        except SourceDataError as exc:
            raise fail(self.crawler, exc) from None
        stats.inc_value("redfeed/files_read")
        self.logger.info("read %s: %d records, %d rejected", source_path, records, rejects)

    def on_error(self, failure: Failure) -> None:
        """A request failed for good (after the retries): the batch is doomed."""
        exc = failure.value
        request: Request = failure.request  # type: ignore[attr-defined]
        if isinstance(exc, HttpError):
            error = http_error(exc.response, has_token=self.token is not None)
        else:
            error = TemporaryError(f"{request.url} failed: {type(exc).__name__}: {exc}")
        fail_and_close(self.crawler, error)
