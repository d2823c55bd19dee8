"""homepages: schema.org events (JSON-LD) from the home pages of the conferences other feeds list.

Which pages: the ``url`` / ``website_url`` of every record in the latest committed archive batch
of each feed named by ``REDFEED_HOMEPAGES_FROM`` (default ``confs-tech,python-organizers``) whose
interval overlaps this run's, read from ``REDFEED_ARCHIVE_URL``; ``REDFEED_HOMEPAGES_URLS``
(separated by commas or white space) adds pages first. URLs are deduplicated on their scheme and
host in lower case, without the fragment (``https://x.dev`` and ``https://X.dev/#2024`` are one
page), and at most ``REDFEED_HOMEPAGES_MAX`` (default 1000) pages are visited, in the order they
were found; the rest are logged. A feed without a committed batch for the interval is logged and
skipped. The run reads the batches committed when it starts: schedule it after the feeds it
reads (dags/feeds.yaml runs it six hours after their midnight runs), there is no cross-DAG
dependency.

robots.txt: before any page of an origin, its ``/robots.txt`` is fetched and the page is checked
with Protego (the parser Scrapy's RobotsTxtMiddleware uses) under the spider's user agent,
following RFC 9309: a 4xx robots.txt allows everything, an unreachable one (5xx after the
retries, network errors) disallows everything. The spider does this itself rather than with
``ROBOTSTXT_OBEY``, for two reasons. Against the offline mirror every request goes to one host
(the mirror), so the middleware, which keys robots.txt by the request's host, would read one file
for all sites. And the middleware logs an ERROR when a host's robots.txt cannot be downloaded,
which the runner rightly takes for a bug (exit 70), while a dead conference site is normal here.

Offline mirror (``REDFEED_SOURCE_URL``): ``https://host/path`` is fetched as
``{source_url}/{host}/path``, a path ending in ``/`` as ``.../index.html``, and the robots.txt of
each original host is ``{source_url}/{host}/robots.txt`` (the layout of ``wget --mirror``; the
mirror answers a directory with its ``index.html`` when asked for HTML). Each original host
keeps its own download slot, so politeness per host is the same as against the real sites.

A page that fails (404, 5xx after the retries, DNS, timeouts) or that robots.txt disallows is
counted (``redfeed/pages_failed``, ``redfeed/pages_disallowed``) and logged, not a batch failure:
a conference site being down is normal. Only an unreadable archive fails the run.

Extraction: every ``<script type="application/ld+json">`` block is parsed as JSON (a block that
is not is quarantined with the page URL, and the page goes on); top-level objects, ``@graph``
members and list items whose ``@type`` is ``ConferenceEvent`` or ``Event`` become one record
each (other nodes, e.g. ``Organization``, and nested ``subEvent`` nodes do not). A page without
JSON-LD yields nothing (``redfeed/pages_without_jsonld``). Record fields: ``page_url`` (the URL as
the source listed it), ``event_index`` (the event's position on the page), ``url`` (the event's
own, else the page's ``<link rel="canonical">``, else the page as fetched; resolved against it),
``event_type``, ``name``, ``start_date`` / ``end_date`` (the ISO date part), ``event_status``,
``event_attendance_mode``, ``location_*`` (from a ``Place`` with a ``PostalAddress`` or an address
string, or a plain string), ``virtual_location_url``, ``participation_offer_*`` /
``sponsorship_offer_*`` (``hasParticipationOffer`` / ``hasSponsorshipOffer``: url and name),
``organizer_name`` / ``organizer_url``, ``sponsors`` (a JSON array of the sponsors' names, as
text) and ``jsonld`` (the event object as JSON text). An event whose date is not an ISO date, or
whose JSON-LD exceeds 65,535 UTF-8 bytes (the widest Redshift VARCHAR), is quarantined whole,
never truncated.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

import scrapy
from parsel import Selector
from protego import Protego
from scrapy.http import HtmlResponse, Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from redfeed.archive import Archive, Manifest, open_store
from redfeed.archive.layout import MANIFEST, feed_prefix, parse_interval_dir
from redfeed.contract import FEED_NAME, Settings, isoformat, parse_instant, parse_int
from redfeed.errors import ConfigError, RedfeedError, SourceDataError, TemporaryError
from redfeed.feeds.confs_tech import reject
from redfeed.feeds.crawl import fail_and_close

DEFAULT_FROM: Final = ("confs-tech", "python-organizers")
DEFAULT_MAX_PAGES: Final = 1000
#: Record fields that name a conference's home page, in the feeds this one reads.
URL_FIELDS: Final = ("url", "website_url")
#: Where ``REDFEED_HOMEPAGES_URLS`` pages say they come from, in logs and rejects.
EXPLICIT: Final = "REDFEED_HOMEPAGES_URLS"
#: ``@type`` values that make a JSON-LD node a record, most specific first.
EVENT_TYPES: Final = ("ConferenceEvent", "Event")
#: The widest Redshift VARCHAR: a bigger ``jsonld`` is quarantined, not truncated.
JSONLD_MAX_BYTES: Final = 65535
ISO_DATE: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:$|[T ])")
LIST_SEPARATORS: Final = re.compile(r"[\s,]+")
#: robots.txt answers that reach the callback (after the retries of 5xx); 3xx are followed.
ROBOTS_STATUSES: Final = list(range(400, 600))


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HomepagesConfig:
    """The feed's own knobs, read from the ``REDFEED_HOMEPAGES_*`` variables."""

    from_feeds: tuple[str, ...] = DEFAULT_FROM
    explicit_urls: tuple[str, ...] = ()
    max_pages: int = DEFAULT_MAX_PAGES

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HomepagesConfig:
        """Unset ``REDFEED_HOMEPAGES_FROM`` means the default feeds; set but empty, none."""
        raw_from = env.get("REDFEED_HOMEPAGES_FROM")
        feeds = DEFAULT_FROM if raw_from is None else tuple(split_list(raw_from))
        for feed in feeds:
            if not FEED_NAME.match(feed):
                raise ConfigError(
                    f"REDFEED_HOMEPAGES_FROM names {feed!r}, which is not a feed name"
                )
        explicit = tuple(split_list(env.get(EXPLICIT, "")))
        for url in explicit:
            if page_key(url) is None:
                raise ConfigError(f"{EXPLICIT} has {url!r}, which is not an http(s) URL")
        max_pages = parse_int(
            "REDFEED_HOMEPAGES_MAX",
            env.get("REDFEED_HOMEPAGES_MAX", "").strip() or str(DEFAULT_MAX_PAGES),
            1,
        )
        return cls(tuple(dict.fromkeys(feeds)), explicit, max_pages)


def split_list(value: str) -> list[str]:
    return [item for item in LIST_SEPARATORS.split(value) if item]


# -- which pages -----------------------------------------------------------------------------


def page_key(url: str) -> str | None:
    """The URL a page is fetched at and deduplicated by: scheme and host in lower case, an empty
    path as ``/``, no fragment. ``None`` for anything that is not an absolute http(s) URL."""
    if not url or any(char.isspace() or ord(char) < 32 for char in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


@dataclass(frozen=True)
class Page:
    """One home page to visit: ``url`` as the first source listed it, ``key`` as fetched."""

    url: str
    key: str
    listed_by: str

    @property
    def host(self) -> str:
        return urlsplit(self.key).netloc

    @property
    def origin(self) -> str:
        """What one robots.txt governs: scheme, host and port."""
        parts = urlsplit(self.key)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass
class PageList:
    """The pages of a run, and what was left out on the way."""

    pages: list[Page] = field(default_factory=list)
    #: Records of the other feeds whose URL field is not an http(s) URL: quarantined.
    rejects: list[dict[str, Any]] = field(default_factory=list)
    over_max: list[Page] = field(default_factory=list)
    feeds_without_batch: list[str] = field(default_factory=list)
    #: ``(feed, run id, interval start, URLs listed)`` of each batch read.
    batches: list[tuple[str, str, str, int]] = field(default_factory=list)
    duplicates: int = 0


def overlapping_batch(
    archive: Archive, feed: str, start: datetime, end: datetime
) -> Manifest | None:
    """The latest committed batch of ``feed`` whose interval overlaps ``[start, end)``: the one
    with the latest interval start, the latest committed of its runs. Interval directories are
    read newest first, so a daily feed costs one listing and a manifest or two."""
    by_interval: dict[datetime, list[str]] = {}
    prefix = feed_prefix(feed)
    for key in archive.store.keys(prefix):
        parts = key[len(prefix) :].split("/")
        if len(parts) != 3 or parts[2] != MANIFEST:
            continue
        try:
            interval_start = parse_interval_dir(parts[0])
        except ValueError:
            continue
        if interval_start < end:
            by_interval.setdefault(interval_start, []).append(key)
    for interval_start in sorted(by_interval, reverse=True):
        manifests = [
            Manifest.from_json(archive.store.get(key)) for key in by_interval[interval_start]
        ]
        overlapping = [
            m for m in manifests if parse_instant("manifest interval_end", m.interval_end) > start
        ]
        if overlapping:
            return max(overlapping, key=lambda m: (m.finished_at, m.run_id))
    return None


def listed_urls(archive: Archive, manifest: Manifest) -> Iterator[str]:
    """The URL fields of every record of a batch (all streams), verified against the manifest."""
    for entry in manifest.files:
        for line in archive.lines(entry):
            record = json.loads(line)
            if not isinstance(record, dict):
                continue
            for name in URL_FIELDS:
                value = record.get(name)
                if value is not None:
                    yield value if isinstance(value, str) else json.dumps(value)


def collect_pages(
    archive: Archive | None,
    config: HomepagesConfig,
    start: datetime,
    end: datetime,
) -> PageList:
    """The pages of a run: explicit URLs first, then each feed's in its batch's order."""
    found = PageList()
    seen: set[str] = set()

    def add(url: str, listed_by: str, origin: dict[str, Any]) -> None:
        listed = url.strip()
        if not listed:
            return
        key = page_key(listed)
        if key is None:
            found.rejects.append(
                reject(f"{listed_by} lists {listed!r:.300}, which is not an http(s) URL", origin)
            )
            return
        if key in seen:
            found.duplicates += 1
            return
        seen.add(key)
        page = Page(listed, key, listed_by)
        (found.pages if len(found.pages) < config.max_pages else found.over_max).append(page)

    for url in config.explicit_urls:
        add(url, EXPLICIT, {"url": url})
    if config.from_feeds and archive is None:
        raise ConfigError(
            "REDFEED_ARCHIVE_URL is not set: the homepages feed reads the batches of "
            f"{', '.join(config.from_feeds)} (or set REDFEED_HOMEPAGES_FROM= and "
            f"{EXPLICIT})"
        )
    for feed in config.from_feeds:
        assert archive is not None
        manifest = overlapping_batch(archive, feed, start, end)
        if manifest is None:
            found.feeds_without_batch.append(feed)
            continue
        count = 0
        for url in listed_urls(archive, manifest):
            count += 1
            add(url, feed, {"feed": feed, "run_id": manifest.run_id, "url": url})
        found.batches.append((feed, manifest.run_id, manifest.interval_start, count))
    return found


def mirror_url(source_url: str, key: str) -> str:
    """Where the offline mirror serves the page ``key``: ``{source_url}/{host}/path``."""
    parts = urlsplit(key)
    path = parts.path + "index.html" if parts.path.endswith("/") else parts.path
    query = f"?{parts.query}" if parts.query else ""
    return f"{source_url.rstrip('/')}/{parts.netloc}{path}{query}"


# -- extraction ------------------------------------------------------------------------------


class UnusableEvent(ValueError):
    """An event node the warehouse cannot take as it is: it is quarantined, not loaded."""


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def text_of(value: Any) -> str | None:
    """The text of a JSON-LD value: a string, a number, ``{"@value": ...}``, or the first of a
    list that has one. Blank is ``None``."""
    for item in as_list(value):
        if isinstance(item, dict):
            item = item.get("@value")
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int | float):
            return str(item)
        if isinstance(item, str) and item.strip():
            return item.strip()
    return None


def type_names(node: Mapping[str, Any]) -> list[str]:
    """``@type`` without its vocabulary: ``https://schema.org/Event`` and ``schema:Event`` are
    ``Event``."""
    names = []
    for value in as_list(node.get("@type")):
        if isinstance(value, str) and value.strip():
            names.append(re.split(r"[/:#]", value.strip())[-1])
    return names


def event_type(node: Mapping[str, Any]) -> str | None:
    names = type_names(node)
    return next((kind for kind in EVENT_TYPES if kind in names), None)


def event_nodes(document: Any) -> Iterator[dict[str, Any]]:
    """The event objects of a JSON-LD document, in document order: the document itself, the
    items of a top-level list and the members of ``@graph`` (recursively); not nested property
    values such as ``subEvent``, which belong to their event's ``jsonld``."""
    for item in as_list(document):
        if isinstance(item, list):
            yield from event_nodes(item)
        elif isinstance(item, dict):
            if event_type(item) is not None:
                yield item
            if "@graph" in item:
                yield from event_nodes(item["@graph"])


def resolve(base: str, value: str | None) -> str | None:
    return urljoin(base, value) if value else None


def looks_like_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "/", "www."))


def name_and_url(value: Any, base: str) -> tuple[str | None, str | None]:
    """``(name, url)`` of the first thing (Organization, Person, Offer, string) in ``value``."""
    for item in as_list(value):
        if isinstance(item, dict) and "@value" not in item:
            name = text_of(item.get("name"))
            url = resolve(base, text_of(item.get("url")))
            if name or url:
                return name, url
        else:
            text = text_of(item)
            if text:
                return (None, resolve(base, text)) if looks_like_url(text) else (text, None)
    return None, None


def names_of(value: Any) -> list[str]:
    names = []
    for item in as_list(value):
        if isinstance(item, dict) and "@value" not in item:
            name = text_of(item.get("name"))
        else:
            name = text_of(item)
        if name:
            names.append(name)
    return names


def iso_date(value: Any, field_name: str) -> str | None:
    """The ISO date part of a ``startDate``/``endDate`` (``2024-05-15T09:00+02:00`` is the
    local date ``2024-05-15``); :class:`UnusableEvent` for anything else."""
    text = text_of(value)
    if text is None:
        return None
    match = ISO_DATE.match(text)
    try:
        if match is None:
            raise ValueError("not ISO 8601")
        return date.fromisoformat(match.group(1)).isoformat()
    except ValueError:
        raise UnusableEvent(f"{field_name} {text!r:.80} is not an ISO 8601 date") from None


def location_fields(value: Any, base: str) -> dict[str, str | None]:
    """Place (with a PostalAddress or an address string), VirtualLocation, or plain strings; a
    list (a hybrid event) contributes its first place and its first virtual location."""
    place: dict[str, Any] | None = None
    virtual_url: str | None = None
    plain: str | None = None
    for item in as_list(value):
        if isinstance(item, dict) and "@value" not in item:
            if "VirtualLocation" in type_names(item):
                virtual_url = virtual_url or resolve(base, text_of(item.get("url")))
            elif place is None:
                place = item
        elif plain is None:
            plain = text_of(item)
    fields: dict[str, str | None] = {
        "location_name": None,
        "location_address": None,
        "location_locality": None,
        "location_country": None,
        "virtual_location_url": virtual_url,
    }
    if place is not None:
        fields["location_name"] = text_of(place.get("name"))
        for address in as_list(place.get("address"))[:1]:
            if isinstance(address, dict) and "@value" not in address:
                country = address.get("addressCountry")
                if isinstance(country, dict) and "@value" not in country:
                    country = country.get("name")
                fields["location_locality"] = text_of(address.get("addressLocality"))
                fields["location_country"] = text_of(country)
                parts = [
                    text_of(address.get(name))
                    for name in ("streetAddress", "postalCode", "addressLocality", "addressRegion")
                ]
                parts.append(fields["location_country"])
                fields["location_address"] = ", ".join(p for p in parts if p) or None
            else:
                fields["location_address"] = text_of(address)
    elif plain is not None:
        if looks_like_url(plain):
            fields["virtual_location_url"] = fields["virtual_location_url"] or resolve(base, plain)
        else:
            fields["location_name"] = plain
    return fields


def enumeration(value: Any) -> str | None:
    """A schema.org enumeration member without its vocabulary (``EventScheduled``)."""
    text = text_of(value)
    if text is None and isinstance(value, dict):
        text = text_of(value.get("@id"))
    return (re.split(r"[/:#]", text)[-1] or None) if text else None


def event_record(
    node: dict[str, Any], page_url: str, index: int, canonical: str, base_url: str | None = None
) -> dict[str, Any]:
    """One ``homepage_events`` record of the event ``node`` found on ``page_url`` (fetched as
    ``base_url``, the base of relative URLs); :class:`UnusableEvent` if it must be quarantined."""
    base = base_url or page_url
    kind = event_type(node)
    if kind is None:
        raise UnusableEvent(f"@type {node.get('@type')!r:.80} is not an event")
    jsonld = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    size = len(jsonld.encode("utf-8"))
    if size > JSONLD_MAX_BYTES:
        raise UnusableEvent(
            f"the event's JSON-LD is {size} bytes, more than the {JSONLD_MAX_BYTES} a warehouse "
            "column holds"
        )
    participation_name, participation_url = name_and_url(node.get("hasParticipationOffer"), base)
    sponsorship_name, sponsorship_url = name_and_url(node.get("hasSponsorshipOffer"), base)
    organizer_name, organizer_url = name_and_url(node.get("organizer"), base)
    sponsors = (
        None
        if node.get("sponsor") is None
        else json.dumps(names_of(node.get("sponsor")), ensure_ascii=False)
    )
    return {
        "page_url": page_url,
        "event_index": index,
        "url": resolve(base, text_of(node.get("url"))) or canonical,
        "event_type": kind,
        "name": text_of(node.get("name")),
        "start_date": iso_date(node.get("startDate"), "startDate"),
        "end_date": iso_date(node.get("endDate"), "endDate"),
        "event_status": enumeration(node.get("eventStatus")),
        "event_attendance_mode": enumeration(node.get("eventAttendanceMode")),
        **location_fields(node.get("location"), base),
        "participation_offer_url": participation_url,
        "participation_offer_name": participation_name,
        "sponsorship_offer_url": sponsorship_url,
        "sponsorship_offer_name": sponsorship_name,
        "organizer_name": organizer_name,
        "organizer_url": organizer_url,
        "sponsors": sponsors,
        "jsonld": jsonld,
    }


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass
class PageEvents:
    """What one page yielded: records, quarantined blocks or events, and how many blocks."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    blocks: int = 0


def jsonld_blocks(selector: Selector) -> list[str]:
    """The text of every non-empty ``<script type="application/ld+json">`` (any case, with or
    without parameters)."""
    scripts = selector.xpath(
        "//script[starts-with(translate(normalize-space(@type), "
        "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), 'application/ld+json')]"
    )
    texts = ("".join(script.xpath("text()").getall()) for script in scripts)
    return [text for text in texts if text.strip()]


def extract_events(page: Selector | str, page_url: str, base_url: str | None = None) -> PageEvents:
    """The events of one page (its HTML, or a selector over it) listed as ``page_url`` and
    fetched as ``base_url`` (default: ``page_url``), against which relative URLs resolve. An
    event without a url of its own gets the page's canonical link, else ``base_url``."""
    base = base_url or page_url
    selector = Selector(text=page) if isinstance(page, str) else page
    result = PageEvents()
    canonical = resolve(base, selector.css('link[rel="canonical"]::attr(href)').get()) or base
    index = 0
    for number, block in enumerate(jsonld_blocks(selector), 1):
        result.blocks += 1
        try:
            # strict=False: raw newlines and tabs inside strings, common in CMS output, are
            # accepted; NaN/Infinity are not JSON and are refused.
            document = json.loads(block, strict=False, parse_constant=_no_constants)
            # An escaped lone surrogate ("\ud800") decodes, but can never be written as UTF-8.
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeEncodeError) as exc:
            result.rejects.append(
                reject(
                    f"{page_url}: JSON-LD block {number} is not valid JSON: {exc}",
                    {"page_url": page_url, "block": block},
                )
            )
            continue
        for node in event_nodes(document):
            try:
                result.records.append(event_record(node, page_url, index, canonical, base))
            except UnusableEvent as exc:
                result.rejects.append(
                    reject(
                        f"{page_url}: event {index} ({event_type(node)}): {exc}",
                        {"page_url": page_url, "event": node},
                    )
                )
            index += 1
    return result


# -- the spider ------------------------------------------------------------------------------


class HomepagesSpider(scrapy.Spider):
    name = "homepages"
    custom_settings = {  # noqa: RUF012 - Scrapy's documented class attribute
        # robots.txt is obeyed, by the spider itself, per original host (module docstring).
        "ROBOTSTXT_OBEY": False,
        # A page or robots.txt that still fails after the retries is a normal outcome here
        # (a conference site is down), not the ERROR the runner takes for a bug.
        "RETRY_GIVE_UP_LOG_LEVEL": "WARNING",
    }

    def __init__(self, *args: Any, config: Settings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config
        self.source_url = config.source_url.rstrip("/") if config.source_url else None

    # -- requests ---------------------------------------------------------------------------

    def _meta(self, page: Page) -> dict[str, Any]:
        # Against the mirror every request has the mirror's host: keep one download slot per
        # original host, so concurrency and delay per site are as against the real sites.
        return {"download_slot": page.host} if self.source_url else {}

    def _robots_url(self, page: Page) -> str:
        if self.source_url:
            return f"{self.source_url}/{page.host}/robots.txt"
        return f"{page.origin}/robots.txt"

    def _page_request(self, page: Page) -> Request:
        return Request(
            mirror_url(self.source_url, page.key) if self.source_url else page.key,
            callback=self.parse_page,
            errback=self.on_page_error,
            cb_kwargs={"page": page},
            meta=self._meta(page),
            dont_filter=True,  # deduplicated already; two origins may share a mirror path
        )

    def _pages(self) -> PageList:
        config = HomepagesConfig.from_env(self.config.extra)
        archive = Archive(open_store(self.config.archive_url)) if self.config.archive_url else None
        try:
            return collect_pages(
                archive, config, self.config.interval_start, self.config.interval_end
            )
        except RedfeedError:
            raise
        except OSError as exc:
            raise TemporaryError(
                f"cannot read the archive {self.config.archive_url}: {type(exc).__name__}: {exc}"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:  # a manifest or record that is not one
            raise SourceDataError(
                f"cannot read the archive {self.config.archive_url}: {type(exc).__name__}: {exc}"
            ) from exc

    async def start(self) -> AsyncIterator[Request | dict[str, Any]]:
        stats = self.crawler.stats
        try:
            found = self._pages()
        except RedfeedError as error:
            fail_and_close(self.crawler, error)
            return
        interval = f"{isoformat(self.config.interval_start)}/{isoformat(self.config.interval_end)}"
        for feed in found.feeds_without_batch:
            self.logger.warning("%s has no committed batch overlapping %s: skipped", feed, interval)
            stats.inc_value("redfeed/feeds_without_batch")
        for feed, run_id, interval_start, count in found.batches:
            self.logger.info("%s: %d URLs in batch %s (%s)", feed, count, run_id, interval_start)
        for page in found.over_max:
            self.logger.info("over REDFEED_HOMEPAGES_MAX: not visiting %s", page.url)
        if found.over_max:
            self.logger.warning(
                "%d pages over REDFEED_HOMEPAGES_MAX=%d not visited (listed above)",
                len(found.over_max),
                len(found.pages),
            )
        stats.set_value("redfeed/pages_listed", len(found.pages))
        stats.set_value("redfeed/pages_over_max", len(found.over_max))
        stats.set_value("redfeed/urls_duplicate", found.duplicates)
        self.logger.info(
            "visiting %d pages (%d duplicate URLs, %d over the maximum, %d invalid)",
            len(found.pages),
            found.duplicates,
            len(found.over_max),
            len(found.rejects),
        )
        for rejected in found.rejects:
            stats.inc_value("redfeed/urls_invalid")
            stats.inc_value("redfeed/rejects")
            yield rejected
        by_origin: dict[str, list[Page]] = {}
        for page in found.pages:
            by_origin.setdefault(page.origin, []).append(page)
        for origin, pages in by_origin.items():
            yield Request(
                self._robots_url(pages[0]),
                callback=self.parse_robots,
                errback=self.on_robots_error,
                cb_kwargs={"origin": origin, "pages": pages},
                meta={**self._meta(pages[0]), "handle_httpstatus_list": ROBOTS_STATUSES},
            )

    # -- robots.txt -------------------------------------------------------------------------

    def _user_agent(self) -> str:
        return str(self.settings.get("ROBOTSTXT_USER_AGENT") or self.settings["USER_AGENT"])

    def parse_robots(self, response: Response, origin: str, pages: list[Page]) -> Iterator[Request]:
        stats = self.crawler.stats
        if response.status >= 500:
            self._unreachable(origin, pages, f"robots.txt answered {response.status}")
            return
        if response.status >= 400:  # RFC 9309 2.3.1.3: "unavailable", everything is allowed
            stats.inc_value("redfeed/robots_missing")
            rules = None
        else:
            stats.inc_value("redfeed/robots_fetched")
            rules = Protego.parse(response.body.decode("utf-8", "ignore"))
        agent = self._user_agent()
        for page in pages:
            if rules is not None and not rules.can_fetch(page.key, agent):
                stats.inc_value("redfeed/pages_disallowed")
                self.logger.info("robots.txt of %s disallows %s: not visited", origin, page.url)
                continue
            stats.inc_value("redfeed/pages_requested")
            yield self._page_request(page)

    def on_robots_error(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        exc = failure.value
        self._unreachable(
            request.cb_kwargs["origin"], request.cb_kwargs["pages"], f"{type(exc).__name__}: {exc}"
        )

    def _unreachable(self, origin: str, pages: list[Page], why: str) -> None:
        """RFC 9309 2.3.1.4: robots.txt unreachable means everything is disallowed."""
        self.crawler.stats.inc_value("redfeed/robots_unreachable")
        self.crawler.stats.inc_value("redfeed/pages_failed", len(pages))
        self.logger.warning(
            "robots.txt of %s is unreachable (%s): its %d page(s) are not visited",
            origin,
            why,
            len(pages),
        )

    # -- pages ------------------------------------------------------------------------------

    def parse_page(self, response: Response, page: Page) -> Iterator[dict[str, Any]]:
        stats = self.crawler.stats
        stats.inc_value("redfeed/pages_fetched")
        if not isinstance(response, TextResponse):
            stats.inc_value("redfeed/pages_not_html")
            self.logger.info("%s is not a text page: nothing to extract", page.url)
            return
        # Read as HTML whatever the Content-Type says (text/plain, XHTML): a JSON answer's own
        # selector cannot even be asked for <script> elements.
        selector = (
            response.selector
            if isinstance(response, HtmlResponse)
            else Selector(text=response.text, type="html")
        )
        # Relative URLs resolve against the page as fetched: after redirects on the web; the
        # original URL against the mirror (whose own URLs mean nothing to the warehouse).
        base = page.key if self.source_url else response.url
        found = extract_events(selector, page.url, base)
        if found.blocks == 0:
            stats.inc_value("redfeed/pages_without_jsonld")
            self.logger.debug("%s has no JSON-LD", page.url)
        elif not found.records and not found.rejects:
            stats.inc_value("redfeed/pages_without_events")
        self.logger.info(
            "%s: %d event(s), %d quarantined, from %d JSON-LD block(s)",
            page.url,
            len(found.records),
            len(found.rejects),
            found.blocks,
        )
        for rejected in found.rejects:
            stats.inc_value("redfeed/rejects")
            yield rejected
        for record in found.records:
            stats.inc_value("redfeed/events")
            yield record

    def on_page_error(self, failure: Failure) -> None:
        """A page that failed for good: counted and logged, the batch goes on."""
        request: Request = failure.request  # type: ignore[attr-defined]
        page: Page = request.cb_kwargs["page"]
        exc = failure.value
        why = (
            f"answered {exc.response.status}"
            if isinstance(exc, HttpError)
            else f"{type(exc).__name__}: {exc}"
        )
        self.crawler.stats.inc_value("redfeed/pages_failed")
        self.logger.warning("home page %s failed: %s", page.url, why)
