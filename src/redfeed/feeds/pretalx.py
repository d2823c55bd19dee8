"""pretalx: one event's talks and speakers from a pretalx instance's public REST API.

pretalx is the conference-management system behind EuroPython, PyCon DE and many more. For the
event ``REDFEED_PRETALX_EVENT`` (a slug such as ``europython-2024``) on the instance
``REDFEED_SOURCE_URL`` (default ``https://pretalx.com``) the spider reads

* ``/api/events/{event}/`` -- the event (a 404 here means there is no such event: exit 78),
* ``/api/events/{event}/talks/`` and ``/api/events/{event}/speakers/`` -- paginated answers
  (``count``, ``next``, ``previous``, ``results``) followed through their ``next`` links.

Every run is a snapshot of the event as the API shows it now; the data interval only names the
snapshot. Records go to four archive streams, one per warehouse table:

``events``         one record: slug, name, dates, time zone, URL
``talks``          one per talk: code, title, track, submission type, state, abstract,
                   description, duration, slot start/end and room
``speakers``       one per speaker of ``/speakers/``: code, name, biography
``talk_speakers``  the talk <-> speaker bridge: one per entry of a talk's nested ``speakers``
                   array (talk code, speaker code, position in the array)

Translated fields (pretalx answers ``{"en": "...", "de": "..."}`` or a plain string, depending on
the field and the API version) become one string, English if there is one, else the first
language; when there are several languages, ``<field>_i18n`` keeps all of them as JSON text.

Records are projections, not the API's objects: the archive keeps what the warehouse loads.
E-mail addresses, avatars, availabilities, answers to the call for papers and notes are
personal data the pipeline has no use for, so they are never archived (the public API does not
show e-mails, but an authenticated one does). Bad input is quarantined, never dropped: a talk
without a code, a translated field that is neither text nor translations, a duplicate code
(pages that shifted while we read them) become ``_reject`` records with the reason.

A ``next`` link that goes back to a page already read, or to another host, is a data error
(exit 65): following it would loop, or send the token elsewhere. The token
(``REDFEED_SOURCE_TOKEN``, for events whose API is not public) goes as ``Authorization: Token``
to the instance's host only. Throttling (429 with ``Retry-After``) is waited out by the shared
``BackoffRetryMiddleware``.

One pretalx instance serves many events, so one image serves many feeds: each event is its own
feed (``pretalx-<event>``, one registry entry and DAG each, see docs/orchestration.md), and
``redfeed scrape pretalx`` archives under whichever family member ``REDFEED_FEED`` names.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
from scrapy.http import JsonRequest, Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from redfeed.archive.writer import REJECT_KEY
from redfeed.contract import Settings
from redfeed.errors import ConfigError, RedfeedError, SourceDataError, TemporaryError
from redfeed.feeds.api import ApiSpider
from redfeed.feeds.confs_tech import json_type, reject
from redfeed.feeds.crawl import fail, fail_and_close

DEFAULT_BASE_URL = "https://pretalx.com"
#: pretalx's own rule for event slugs (letters, digits, "." and "-", at most 50).
EVENT_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,49}\Z")
#: A key of a translated field: a language code such as "en", "de-formal", "pt_BR".
LANGUAGE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*\Z")
#: Never archived, not even inside a quarantined value: personal data the pipeline does not use.
PERSONAL_FIELDS = frozenset({"email"})

EVENTS, TALKS, SPEAKERS, TALK_SPEAKERS = "events", "talks", "speakers", "talk_speakers"
#: Fields of a talk copied as they are (translated ones and the slot are handled apart).
TALK_FIELDS = (
    "title",
    "state",
    "abstract",
    "description",
    "duration",
    "content_locale",
    "do_not_record",
    "is_featured",
)


class Unreadable(ValueError):
    """A source object the spider cannot turn into a record; the message is the reason."""


def translated(value: object, field: str) -> tuple[str | None, str | None]:
    """A translated field as ``(text, translations)``: the English text if there is one, else
    the first language's; ``translations`` is every language as JSON text when there are
    several. Plain strings and null pass through. Anything else is :class:`Unreadable`."""
    if value is None or isinstance(value, str):
        return value, None
    if not (
        isinstance(value, dict)
        and all(
            isinstance(key, str) and LANGUAGE.match(key) and (text is None or isinstance(text, str))
            for key, text in value.items()
        )
    ):
        raise Unreadable(
            f"{field} is {json_type(value)} that is neither text nor translations "
            f"({{language: text}}): {orjson.dumps(value).decode()[:120]}"
        )
    texts = {language: text for language, text in value.items() if text}
    if not texts:
        return None, None
    text = texts.get("en") or next(iter(texts.values()))
    several = orjson.dumps(texts).decode() if len(texts) > 1 else None
    return text, several


def without_personal(value: Any) -> Any:
    """``value`` with :data:`PERSONAL_FIELDS` removed at any depth (for quarantined values)."""
    if isinstance(value, dict):
        return {k: without_personal(v) for k, v in value.items() if k not in PERSONAL_FIELDS}
    if isinstance(value, list):
        return [without_personal(item) for item in value]
    return value


def code_of(item: object) -> str:
    """The ``code`` of a talk or speaker object (pretalx's identifier for both)."""
    if not isinstance(item, dict):
        raise Unreadable(f"it is {json_type(item)}, not an object")
    code = item.get("code")
    if not isinstance(code, str) or not code.strip():
        raise Unreadable("it has no code")
    return code


def event_record(event: str, document: dict[str, Any]) -> dict[str, Any]:
    name, name_i18n = translated(document.get("name"), "name")
    urls = document.get("urls")
    base = urls.get("base") if isinstance(urls, dict) else None
    return {
        "_stream": EVENTS,
        "event": event,
        "name": name,
        "name_i18n": name_i18n,
        "date_from": document.get("date_from"),
        "date_to": document.get("date_to"),
        "timezone": document.get("timezone"),
        "url": base if isinstance(base, str) else None,
    }


#: Builds a stream's record from an API object: (event, object, its code) -> record.
RecordBuilder = Callable[[str, dict[str, Any], str], dict[str, Any]]


def talk_record(event: str, talk: dict[str, Any], code: str) -> dict[str, Any]:
    record: dict[str, Any] = {"_stream": TALKS, "event": event, "code": code}
    record.update((field, talk.get(field)) for field in TALK_FIELDS)
    for field in ("track", "submission_type"):
        record[field], record[f"{field}_i18n"] = translated(talk.get(field), field)
    slot = talk.get("slot")
    if slot is not None and not isinstance(slot, dict):
        raise Unreadable(f"slot is {json_type(slot)}, not an object")
    slot = slot or {}
    record["slot_start"] = slot.get("start")
    record["slot_end"] = slot.get("end")
    record["room"], record["room_i18n"] = translated(slot.get("room"), "slot.room")
    return record


def speaker_record(event: str, speaker: dict[str, Any], code: str) -> dict[str, Any]:
    return {
        "_stream": SPEAKERS,
        "event": event,
        "code": code,
        "name": speaker.get("name"),
        "biography": speaker.get("biography"),
    }


def http_error(response: Response) -> RedfeedError:
    """What an HTTP error answer (after the retries) means for the batch."""
    where = f"{response.url} answered {response.status}"
    if response.status == 401:
        return ConfigError(f"{where}: the instance rejected the token (REDFEED_SOURCE_TOKEN)")
    if response.status == 403:
        return ConfigError(
            f"{where}: forbidden (the event's API is not public: set REDFEED_SOURCE_TOKEN)"
        )
    # 429/5xx after the retries, or a page that vanished: a later run may work.
    return TemporaryError(where)


class PretalxSpider(ApiSpider):
    name = "pretalx"
    default_base_url = DEFAULT_BASE_URL
    token_scheme = "Token"  # noqa: S105 - pretalx's HTTP auth scheme, not a secret

    def __init__(self, *args: Any, config: Settings, **kwargs: Any) -> None:
        super().__init__(*args, config=config, **kwargs)
        event = config.extra.get("REDFEED_PRETALX_EVENT", "").strip()
        if not event:
            raise ConfigError("REDFEED_PRETALX_EVENT is not set: name the event (its slug)")
        if not EVENT_SLUG.match(event) or ".." in event:
            raise ConfigError(
                f"REDFEED_PRETALX_EVENT={event!r} is not a pretalx event slug "
                "(letters, digits, '.' and '-', at most 50)"
            )
        self.event = event
        self.api_url = f"{self.base_url}/api/events/{event}/"
        #: every page URL requested, to refuse a ``next`` link that loops
        self.requested: set[str] = set()
        #: codes seen per stream, to quarantine duplicates
        self.codes: dict[str, set[str]] = {TALKS: set(), SPEAKERS: set()}

    # -- requests ---------------------------------------------------------------------------

    def _request(
        self, url: str, callback: Any, meta: dict[str, Any] | None = None, **cb_kwargs: Any
    ) -> JsonRequest:
        self.requested.add(url)
        return JsonRequest(
            url,
            headers=self._headers(url, {}),
            callback=callback,
            errback=self.on_error,
            cb_kwargs=cb_kwargs,
            meta=meta,
        )

    async def start(self) -> AsyncIterator[Request]:
        self.logger.info(
            "reading event %s from %s (a snapshot: the interval %s names it)",
            self.event,
            self.base_url,
            self.config.interval_start.date(),
        )
        yield self._request(self.api_url, self.parse_event, {"handle_httpstatus_list": [404]})

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

    def parse_event(self, response: Response) -> Iterator[dict[str, Any] | Request]:
        if response.status == 404:
            raise fail(
                self.crawler,
                ConfigError(
                    f"no such event: {response.url} is 404 (check REDFEED_PRETALX_EVENT="
                    f"{self.event!r} and REDFEED_SOURCE_URL={self.base_url!r})"
                ),
            )
        document = self._load_json(response, f"event {self.event}")
        if not isinstance(document, dict):
            raise fail(
                self.crawler,
                SourceDataError(f"event {self.event} ({response.url}) is {json_type(document)}"),
            )
        try:
            yield event_record(self.event, document)
            self.crawler.stats.inc_value("redfeed/records")
        except Unreadable as exc:
            self.crawler.stats.inc_value("redfeed/rejects")
            yield reject(f"event {self.event}: {exc}", without_personal(document))
        for stream in (TALKS, SPEAKERS):
            yield self._request(f"{self.api_url}{stream}/", self.parse_page, stream=stream, page=1)

    def parse_page(
        self, response: Response, stream: str, page: int
    ) -> Iterator[dict[str, Any] | Request]:
        what = f"page {page} of {stream}"
        document = self._load_json(response, what)
        results = document.get("results") if isinstance(document, dict) else None
        if not isinstance(results, list):
            raise fail(
                self.crawler,
                SourceDataError(
                    f"{what} ({response.url}) is not a paginated answer "
                    "(an object with a results array)"
                ),
            )
        following = self._next_page(response, document.get("next"), what, bool(results))
        stats = self.crawler.stats
        stats.inc_value("redfeed/pages")
        stats.inc_value(f"redfeed/{stream}_read", len(results))
        for index, item in enumerate(results):
            where = f"{stream} result {index} of page {page}"
            parse = self._talk if stream == TALKS else self._speaker
            for record in parse(item, where):
                stats.inc_value("redfeed/rejects" if "_reject" in record else "redfeed/records")
                yield record
        if following is not None:
            yield self._request(following, self.parse_page, stream=stream, page=page + 1)
            return
        read = stats.get_value(f"redfeed/{stream}_read", 0)
        count = document.get("count")
        self.logger.info("read %d %s in %d page(s)", read, stream, page)
        if count != read:  # the event changed while we paged through it
            stats.inc_value("redfeed/count_mismatch")
            self.logger.warning("%s: the API counts %r results, %d were read", stream, count, read)

    def _next_page(
        self, response: Response, link: object, what: str, had_results: bool
    ) -> str | None:
        """The next page's URL, or None on the last page; a link that loops, leaves the
        instance or follows an empty page is a data error (following it might never end)."""
        if link is None:
            return None
        url = response.urljoin(link) if isinstance(link, str) else ""
        problem = ""
        if urlsplit(url).scheme not in ("http", "https"):
            problem = f"a next link that is not an http(s) URL: {link!r:.200}"
        elif urlsplit(url).netloc != urlsplit(self.base_url).netloc:
            problem = f"a next link to another host: {url[:200]}"
        elif url in self.requested:
            problem = f"a next link to a page already read (a loop): {url[:200]}"
        elif not had_results:
            problem = "no results but a next link"
        if problem:
            raise fail(self.crawler, SourceDataError(f"{what} ({response.url}) has {problem}"))
        return url

    def _first_time(self, stream: str, code: str) -> bool:
        seen = self.codes[stream]
        if code in seen:
            return False
        seen.add(code)
        return True

    def _read(
        self, stream: str, noun: str, item: object, where: str, build: RecordBuilder
    ) -> dict[str, Any]:
        """``item``'s record, or a ``_reject`` record when it cannot be read or was read already."""
        try:
            code = code_of(item)
            assert isinstance(item, dict)
            record = build(self.event, item, code)
        except Unreadable as exc:
            return reject(f"{where}: {exc}", without_personal(item))
        if not self._first_time(stream, code):
            return reject(
                f"{where}: {noun} {code} was already read (the pages shifted while being read)",
                without_personal(item),
            )
        return record

    def _talk(self, item: object, where: str) -> Iterator[dict[str, Any]]:
        record = self._read(TALKS, "talk", item, where, talk_record)
        yield record
        if REJECT_KEY in record:
            return
        assert isinstance(item, dict)
        code = record["code"]
        speakers = item.get("speakers")
        if speakers is None:
            return
        if not isinstance(speakers, list):
            yield reject(
                f"talk {code}: speakers is {json_type(speakers)}, not an array",
                without_personal(speakers),
            )
            return
        for position, speaker in enumerate(speakers):
            try:
                speaker_code = code_of(speaker)
            except Unreadable as exc:
                yield reject(f"talk {code}, speaker {position}: {exc}", without_personal(speaker))
                continue
            yield {
                "_stream": TALK_SPEAKERS,
                "event": self.event,
                "talk_code": code,
                "speaker_code": speaker_code,
                "position": position,
            }

    def _speaker(self, item: object, where: str) -> Iterator[dict[str, Any]]:
        yield self._read(SPEAKERS, "speaker", item, where, speaker_record)

    # -- errors -----------------------------------------------------------------------------

    def on_error(self, failure: Failure) -> None:
        """A request failed for good (after the retries): the batch is doomed."""
        exc = failure.value
        request: Request = failure.request  # type: ignore[attr-defined]
        if isinstance(exc, HttpError):
            error = http_error(exc.response)
        else:
            error = TemporaryError(f"{request.url} failed: {type(exc).__name__}: {exc}")
        fail_and_close(self.crawler, error)
