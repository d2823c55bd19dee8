"""A generated web-site tree for the homepages feed, laid out as the mirror serves it
(``<host>/<path>``, ``index.html`` for directories), built around real conference URLs from the
confs.tech fixtures; and the confs-tech batch that lists them.

There is no fixture of home pages, so the pages are written here. Seven fixture conferences with
distinct hosts get roles: a full ``ConferenceEvent`` (offers, sponsors, Japanese text), an
``@graph`` with two events, a page without JSON-LD, a page with a broken JSON-LD block and an
event with a date that is not one, a page robots.txt disallows, a site without a home page
(its other listed URL is answered with JSON), and (for tests that inject a fault) a site whose
robots.txt answers 500. Every other fixture URL has no page (404). The expected records are
written out by hand, not computed by the spider's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from redfeed.archive import BatchKey, BatchWriter, Manifest
from redfeed.archive.store import ArchiveStore
from tests.records import confs_tech_records

YEAR = 2024
TOPIC_FILE = f"conferences/{YEAR}/python.json"
INTERVAL_START = datetime(2024, 3, 1, tzinfo=UTC)
INTERVAL_END = datetime(2024, 3, 2, tzinfo=UTC)
ROLES = ("full", "graph", "plain", "broken", "disallowed", "missing", "robots_down")
#: Added with REDFEED_HOMEPAGES_URLS: the fixture lists it as https://2024.pycon.it.
EXPLICIT_URL = "HTTPS://2024.PyCon.it/#tickets"
EXPLICIT_HOST = "2024.pycon.it"
JAPANESE_NAME = "Conf42 Python 2024 — パイソン会議"
USER_AGENT_TOKEN = "redfeed"


def fixture_conferences(confs_tech_dir: Path) -> list[dict[str, Any]]:
    """The python.json entries of 2024 as the confs-tech spider archives them."""
    return [r for r in confs_tech_records(confs_tech_dir, [YEAR]) if r["sourcePath"] == TOPIC_FILE]


def dedupe_key(url: str) -> str:
    """The test's own spelling of "the same page": lower-case scheme and host, no fragment."""
    parts = urlsplit(url.strip())
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def ld(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1)


def html(title: str, *blocks: str, canonical: str | None = None) -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    scripts = "".join(f'\n<script type="application/ld+json">{block}</script>' for block in blocks)
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title>{link}'
        f'{scripts}\n<script>var notJsonLd = {{"@type": "Event"}};</script>\n</head>'
        f"<body><h1>{title}</h1></body></html>\n"
    )


@dataclass
class Site:
    """The generated tree and what a run over it must produce."""

    root: Path
    #: role -> the URL as the fixture lists it
    urls: dict[str, str]
    #: every fixture URL, in file order (duplicates included)
    listed: list[str]
    records: list[dict[str, Any]] = field(default_factory=list)
    #: (page URL, reason fragment) of each quarantined block or event
    rejects: list[tuple[str, str]] = field(default_factory=list)
    #: a listed URL the mirror answers with JSON (a directory without index.html)
    json_page: str = ""

    @property
    def unique_pages(self) -> int:
        return len({dedupe_key(url) for url in self.listed})

    def path_of(self, url: str) -> str:
        """The mirror path a page is requested at."""
        parts = urlsplit(dedupe_key(url))
        path = parts.path + "index.html" if parts.path.endswith("/") else parts.path
        return f"/{parts.netloc}{path}"

    def host(self, role: str) -> str:
        return urlsplit(self.urls[role]).netloc.lower()


def write(root: Path, url: str, text: str, as_directory: bool = True) -> None:
    """The page of ``url`` under ``root``: a path ending in / (or any path, ``as_directory``)
    becomes ``<path>/index.html``, as ``wget --mirror`` saves a page that redirects to its
    directory."""
    parts = urlsplit(url)
    relative = parts.path.strip("/")
    target = root / parts.netloc.lower() / relative
    if as_directory or not relative:
        target = target / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def build_site(root: Path, confs_tech_dir: Path) -> Site:
    conferences = fixture_conferences(confs_tech_dir)
    listed = [c["url"] for c in conferences]
    urls: dict[str, str] = {}
    hosts: set[str] = {EXPLICIT_HOST}
    for url in listed:
        host = urlsplit(url).netloc.lower()
        if host not in hosts and len(urls) < len(ROLES):
            hosts.add(host)
            urls[ROLES[len(urls)]] = url
    assert len(urls) == len(ROLES), f"{TOPIC_FILE} has too few distinct hosts"
    assert any(dedupe_key(u) == dedupe_key(EXPLICIT_URL) for u in listed), EXPLICIT_URL
    site = Site(root, urls, listed)

    full_url = urls["full"]
    full_node = {
        "@context": "https://schema.org",
        "@type": "ConferenceEvent",
        "name": JAPANESE_NAME,
        "url": full_url,
        "startDate": "2024-03-07T09:00:00-08:00",
        "endDate": "2024-03-07",
        "eventStatus": "https://schema.org/EventScheduled",
        "eventAttendanceMode": "https://schema.org/MixedEventAttendanceMode",
        "location": [
            {
                "@type": "Place",
                "name": "東京国際フォーラム",
                "address": {
                    "@type": "PostalAddress",
                    "streetAddress": "3-5-1 Marunouchi",
                    "postalCode": "100-0005",
                    "addressLocality": "東京",
                    "addressCountry": {"@type": "Country", "name": "JP"},
                },
            },
            {"@type": "VirtualLocation", "url": "https://live.example.org/python2024"},
        ],
        "hasParticipationOffer": {"@type": "Offer", "name": "Call for papers", "url": "cfp"},
        "hasSponsorshipOffer": {
            "@type": "Offer",
            "name": "Sponsorship prospectus",
            "url": "https://sponsors.example.org/prospectus.pdf",
        },
        "organizer": {"@type": "Organization", "name": "Conf42", "url": "https://conf42.example"},
        "sponsor": [
            {"@type": "Organization", "name": "Acme"},
            {"@type": "Organization", "name": "株式会社サンプル"},
            "Initech",
        ],
    }
    write(root, full_url, html("Conf42", ld(full_node)))
    full_base = dedupe_key(full_url)
    site.records.append(
        {
            "page_url": full_url,
            "event_index": 0,
            "url": full_url,
            "event_type": "ConferenceEvent",
            "name": JAPANESE_NAME,
            "start_date": "2024-03-07",
            "end_date": "2024-03-07",
            "event_status": "EventScheduled",
            "event_attendance_mode": "MixedEventAttendanceMode",
            "location_name": "東京国際フォーラム",
            "location_address": "3-5-1 Marunouchi, 100-0005, 東京, JP",
            "location_locality": "東京",
            "location_country": "JP",
            "virtual_location_url": "https://live.example.org/python2024",
            "participation_offer_url": full_base.rsplit("/", 1)[0] + "/cfp",
            "participation_offer_name": "Call for papers",
            "sponsorship_offer_url": "https://sponsors.example.org/prospectus.pdf",
            "sponsorship_offer_name": "Sponsorship prospectus",
            "organizer_name": "Conf42",
            "organizer_url": "https://conf42.example",
            "sponsors": '["Acme", "株式会社サンプル", "Initech"]',
            "jsonld": full_node,
        }
    )

    graph_url = urls["graph"]
    canonical = dedupe_key(graph_url).rstrip("/") + "/"
    conference = {
        "@type": ["Event", "EducationEvent"],
        "name": "Linux-Tage 2024",
        "startDate": "2024-03-16",
        "endDate": "2024-03-17",
        "location": "Technische Universität Chemnitz",
        "organizer": {"@id": "#org", "name": "Linux-Tage e.V."},
    }
    track = {
        "@type": "schema:ConferenceEvent",
        "name": {"@value": "Python-Track", "@language": "de"},
        "startDate": "2024-03-16",
        "url": "python",
        "location": {"@type": "Place", "name": "Hörsaal 1", "address": "Straße 90, 09126 Chemnitz"},
        "sponsor": [],
    }
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "Linux-Tage", "url": canonical},
            {"@type": "Organization", "@id": "#org", "name": "Linux-Tage e.V."},
            conference,
            track,
        ],
    }
    write(root, graph_url, html("Linux-Tage", ld(graph), canonical=canonical))
    empty = dict.fromkeys(
        (
            "event_status",
            "event_attendance_mode",
            "location_name",
            "location_address",
            "location_locality",
            "location_country",
            "virtual_location_url",
            "participation_offer_url",
            "participation_offer_name",
            "sponsorship_offer_url",
            "sponsorship_offer_name",
            "organizer_name",
            "organizer_url",
            "sponsors",
        )
    )
    site.records.append(
        {
            **empty,
            "page_url": graph_url,
            "event_index": 0,
            "url": canonical,
            "event_type": "Event",
            "name": "Linux-Tage 2024",
            "start_date": "2024-03-16",
            "end_date": "2024-03-17",
            "location_name": "Technische Universität Chemnitz",
            "organizer_name": "Linux-Tage e.V.",
            "jsonld": conference,
        }
    )
    site.records.append(
        {
            **empty,
            "page_url": graph_url,
            "event_index": 1,
            "url": dedupe_key(graph_url).rsplit("/", 1)[0] + "/python",
            "event_type": "ConferenceEvent",
            "name": "Python-Track",
            "start_date": "2024-03-16",
            "end_date": None,
            "location_name": "Hörsaal 1",
            "location_address": "Straße 90, 09126 Chemnitz",
            "sponsors": "[]",
            "jsonld": track,
        }
    )

    write(root, urls["plain"], html("No structured data here"))

    broken_url = urls["broken"]
    good = {
        "@context": "https://schema.org",
        "@type": "ConferenceEvent",
        "name": "PyCascades 2024",
        "startDate": "2024-04-05",
        "endDate": "2024-04-06",
        "eventAttendanceMode": "OfflineEventAttendanceMode",
        "location": {
            "@type": "Place",
            "name": "Seattle University",
            "address": {
                "@type": "PostalAddress",
                "addressLocality": "Seattle",
                "addressRegion": "WA",
                "addressCountry": "US",
            },
        },
    }
    write(
        root,
        broken_url,
        html(
            "PyCascades",
            '{"@type": "ConferenceEvent", "name": "PyCascades 2024",}',
            ld([{"@type": "ConferenceEvent", "name": "PyCascades", "startDate": "TBA"}, good]),
        ),
    )
    site.rejects.append((broken_url, "JSON-LD block 1 is not valid JSON"))
    site.rejects.append((broken_url, "startDate 'TBA' is not an ISO 8601 date"))
    site.records.append(
        {
            **empty,
            "page_url": broken_url,
            "event_index": 1,
            "url": dedupe_key(broken_url),
            "event_type": "ConferenceEvent",
            "name": "PyCascades 2024",
            "start_date": "2024-04-05",
            "end_date": "2024-04-06",
            "event_attendance_mode": "OfflineEventAttendanceMode",
            "location_name": "Seattle University",
            "location_address": "Seattle, WA, US",
            "location_locality": "Seattle",
            "location_country": "US",
            "jsonld": good,
        }
    )

    disallowed = urls["disallowed"]
    write(root, disallowed, html("Disallowed", ld({"@type": "Event", "name": "must not appear"})))
    host_dir = root / site.host("disallowed")
    (host_dir / "robots.txt").write_text(
        f"User-agent: *\nAllow: /\n\nUser-agent: {USER_AGENT_TOKEN}\n"
        f"Disallow: {urlsplit(disallowed).path or '/'}\n"
    )

    # A site without a home page, whose other listed URL is a directory with no index.html:
    # the mirror answers it with a JSON listing, a page that is not HTML.
    missing = site.host("missing")
    site.json_page = next(
        u
        for u in listed
        if dedupe_key(u) != dedupe_key(urls["missing"]) and urlsplit(u).netloc.lower() == missing
    )
    json_dir = root / missing / urlsplit(site.json_page).path.strip("/")
    json_dir.mkdir(parents=True)
    (json_dir / "schedule.json").write_text('{"@type": "Event", "name": "not a page"}')
    robots_down = urls["robots_down"]
    write(root, robots_down, html("Down", ld({"@type": "Event", "name": "must not appear"})))
    (root / site.host("robots_down") / "robots.txt").write_text("User-agent: *\nAllow: /\n")

    explicit = {
        "@context": "https://schema.org",
        "@type": "https://schema.org/ConferenceEvent",
        "name": "PyCon Italia 2024",
        "startDate": "2024-05-22",
        "endDate": "2024-05-25",
        "eventStatus": {"@id": "https://schema.org/EventScheduled"},
        "organizer": "Python Italia APS",
        "hasParticipationOffer": "https://2024.pycon.it/en/tickets",
    }
    write(root, f"https://{EXPLICIT_HOST}/", html("PyCon Italia", ld(explicit)))
    site.records.append(
        {
            **empty,
            "page_url": EXPLICIT_URL,
            "event_index": 0,
            "url": f"https://{EXPLICIT_HOST}/",
            "event_type": "ConferenceEvent",
            "name": "PyCon Italia 2024",
            "start_date": "2024-05-22",
            "end_date": "2024-05-25",
            "event_status": "EventScheduled",
            "organizer_name": "Python Italia APS",
            "participation_offer_url": "https://2024.pycon.it/en/tickets",
            "jsonld": explicit,
        }
    )
    # Readable by the mirror container's user, whatever the umask.
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return site


def robots_fault(site: Site) -> dict[str, Any]:
    return {"path": f"/{site.host('robots_down')}/robots.txt", "status": 500}


def write_confs_tech_batch(
    store: ArchiveStore,
    records: list[dict[str, Any]],
    run_id: str = "confs-tech-2024-03-01",
    start: datetime = INTERVAL_START,
    end: datetime = INTERVAL_END,
) -> Manifest:
    writer = BatchWriter(store, BatchKey("confs-tech", start, run_id), end)
    for record in records:
        writer.write_line(orjson.dumps(record))
    return writer.commit()


def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with ``jsonld`` decoded and lineage removed, sorted by page and index."""
    out = []
    for record in records:
        item = {k: v for k, v in record.items() if not k.startswith("_")}
        if isinstance(item.get("jsonld"), str):
            item["jsonld"] = json.loads(item["jsonld"])
        out.append(item)
    return sorted(out, key=lambda r: (r["page_url"], r["event_index"]))
