"""confs-tech: tech conferences from the GitHub repository tech-conferences/conference-data.

The repository holds ``conferences/<year>/<topic>.json``, each a JSON array of conference
objects (name, url, startDate, endDate, city, country, online, ...). The spider discovers the
files like any client of GitHub's contents API: for every year the data interval touches (plus
``REDFEED_YEARS_AHEAD`` following years) it lists ``{base}/conferences/{year}`` and downloads each
``*.json`` file of the listing through its ``download_url``. A year whose listing is 404 does not
exist yet: zero records, not an error.

Each object becomes one record: its fields unchanged plus ``topic`` (file stem), ``year`` and
``sourcePath``. A conference listed under several topics is a record per topic (no dedupe).
Elements that are not objects become ``_reject`` records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from redfeed.archive.writer import REJECT_KEY
from redfeed.contract import Settings
from redfeed.errors import ConfigError, RedfeedError, SourceDataError, TemporaryError
from redfeed.feeds.api import ApiSpider
from redfeed.feeds.crawl import fail, fail_and_close
from redfeed.feeds.middlewares import is_rate_limited

DEFAULT_BASE_URL = "https://api.github.com/repos/tech-conferences/conference-data/contents"
#: Fields the spider adds to every record; a source object that already has one is rejected
#: rather than silently overwritten.
ADDED_FIELDS = frozenset({"topic", "year", "sourcePath"})
API_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}
FILE_HEADERS = {"Accept": "application/json, text/plain;q=0.9, */*;q=0.1"}


def years_for(start: datetime, end: datetime, years_ahead: int = 0) -> list[int]:
    """Every year the half-open interval ``[start, end)`` touches, then ``years_ahead`` more."""
    last = (end - timedelta(microseconds=1)).year
    return list(range(start.year, max(last, start.year) + years_ahead + 1))


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def reject(reason: str, value: object) -> dict[str, Any]:
    """A record the wrapper quarantines (with ``reason``) instead of archiving as data."""
    return {REJECT_KEY: {"reason": reason, "value": value}}


def http_error(response: Response, has_token: bool) -> RedfeedError:
    """What an HTTP error answer (after the retries) means for the batch."""
    where = f"{response.url} answered {response.status}"
    if is_rate_limited(response):
        hint = "" if has_token else " (set REDFEED_SOURCE_TOKEN for a higher limit)"
        reset = response.headers.get("x-ratelimit-reset")
        when = f", resets at epoch {bytes(reset).decode('latin-1')}" if reset else ""
        return TemporaryError(f"{where}: rate limit exhausted{when}{hint}")
    if response.status == 401:
        return ConfigError(f"{where}: the source rejected the credentials (REDFEED_SOURCE_TOKEN)")
    if response.status == 403:
        return ConfigError(f"{where}: forbidden (check REDFEED_SOURCE_URL/REDFEED_SOURCE_TOKEN)")
    # 5xx/429 after the retries, or a file the listing named that is gone: a later run may work.
    return TemporaryError(where)


class ConfsTechSpider(ApiSpider):
    name = "confs-tech"
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, *args: Any, config: Settings, **kwargs: Any) -> None:
        super().__init__(*args, config=config, **kwargs)
        self.years = years_for(config.interval_start, config.interval_end, config.years_ahead)
        self._probed = False

    # -- requests ---------------------------------------------------------------------------

    def _listing(self, url: str, callback: Any, **cb_kwargs: Any) -> Request:
        return Request(
            url,
            headers=self._headers(url, API_HEADERS),
            callback=callback,
            errback=self.on_error,
            cb_kwargs=cb_kwargs,
            meta={"handle_httpstatus_list": [404]},
        )

    async def start(self) -> AsyncIterator[Request]:
        self.logger.info(
            "listing years %s under %s", ", ".join(map(str, self.years)), self.base_url
        )
        for year in self.years:
            yield self._listing(
                f"{self.base_url}/conferences/{year}", self.parse_listing, year=year
            )

    # -- callbacks --------------------------------------------------------------------------

    def _load_json(self, response: Response, what: str) -> Any:
        try:
            return orjson.loads(response.body)
        except orjson.JSONDecodeError as exc:
            raise fail(
                self.crawler,
                SourceDataError(
                    f"{what} ({response.url}, {len(response.body)} bytes) is not valid JSON: {exc}"
                ),
            ) from exc

    def parse_listing(self, response: Response, year: int) -> Iterator[Request]:
        stats = self.crawler.stats
        if response.status == 404:
            self.logger.info("conferences/%d is not in the source (404): no such year yet", year)
            stats.inc_value("redfeed/years_missing")
            if not self._probed:  # a wrong base URL would make every year "missing"
                self._probed = True
                yield self._listing(f"{self.base_url}/conferences", self.parse_probe)
            return
        what = f"the listing of conferences/{year}"
        entries = self._load_json(response, what)
        if not isinstance(entries, list):
            raise fail(
                self.crawler,
                SourceDataError(f"{what} ({response.url}) is {json_type(entries)}, not an array"),
            )
        requests = [self._file_request(response, year, entry, what) for entry in entries]
        stats.inc_value("redfeed/years_listed")
        for request in requests:
            if request is not None:
                stats.inc_value("redfeed/files_listed")
                yield request

    def _file_request(
        self, response: Response, year: int, entry: object, what: str
    ) -> Request | None:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("type"), str)
        ):
            raise fail(
                self.crawler,
                SourceDataError(f"{what} has an entry without a name or type: {entry!r:.200}"),
            )
        name: str = entry["name"]
        if entry["type"] != "file" or not name.endswith(".json"):
            self.logger.debug("skipping %s entry %r of %s", entry["type"], name, what)
            return None
        if "/" in name or name == ".json":
            raise fail(self.crawler, SourceDataError(f"{what} lists a bad file name {name!r}"))
        download_url = entry.get("download_url")
        url = response.urljoin(download_url) if isinstance(download_url, str) else ""
        if urlsplit(url).scheme not in ("http", "https"):
            raise fail(
                self.crawler,
                SourceDataError(f"{what}: {name} has no http(s) download_url: {download_url!r}"),
            )
        return Request(
            url,
            headers=self._headers(url, FILE_HEADERS),
            callback=self.parse_topic,
            errback=self.on_error,
            cb_kwargs={
                "year": year,
                "topic": name.removesuffix(".json"),
                "source_path": f"conferences/{year}/{name}",
            },
        )

    def parse_probe(self, response: Response) -> None:
        if response.status == 404:
            raise fail(
                self.crawler,
                ConfigError(
                    f"{response.url} is 404: the source has no conferences/ directory "
                    f"(check REDFEED_SOURCE_URL, now {self.base_url!r})"
                ),
            )

    def parse_topic(
        self, response: Response, year: int, topic: str, source_path: str
    ) -> Iterator[dict[str, Any]]:
        stats = self.crawler.stats
        conferences = self._load_json(response, source_path)
        if not isinstance(conferences, list):
            raise fail(
                self.crawler,
                SourceDataError(f"{source_path} is {json_type(conferences)}, not an array"),
            )
        stats.inc_value("redfeed/files_read")
        self.logger.info("read %s: %d entries", source_path, len(conferences))
        for index, conference in enumerate(conferences):
            if not isinstance(conference, dict):
                stats.inc_value("redfeed/rejects")
                yield reject(
                    f"element {index} of {source_path} is {json_type(conference)}, not an object",
                    conference,
                )
                continue
            clash = sorted(ADDED_FIELDS & conference.keys())
            if clash:
                stats.inc_value("redfeed/rejects")
                yield reject(
                    f"element {index} of {source_path} already has field(s) {', '.join(clash)}, "
                    "which redfeed adds",
                    conference,
                )
                continue
            stats.inc_value("redfeed/records")
            yield {**conference, "topic": topic, "year": year, "sourcePath": source_path}

    # -- errors -----------------------------------------------------------------------------

    def on_error(self, failure: Failure) -> None:
        """A request failed for good (after the retries): the batch is doomed."""
        exc = failure.value
        request: Request = failure.request  # type: ignore[attr-defined]
        if isinstance(exc, HttpError):
            error = http_error(exc.response, has_token=self.token is not None)
        else:
            error = TemporaryError(f"{request.url} failed: {type(exc).__name__}: {exc}")
        fail_and_close(self.crawler, error)
