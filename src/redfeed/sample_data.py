"""Generated demo data in each source's real layout, for the source mirror of ``make demo``.

Fetched data is never committed; the demo serves this instead. It is deterministic (seeded) and
has the real data's shape and defects, and the sources overlap the way the real ones do, so the
cross-reference has work to do:

- ``confs-tech/conferences/<year>/<topic>.json``: the same conference listed under several
  topics, online events without a city, optional CFP and social fields;
- ``python-organizers/<year>.csv``: the python-topic conferences again (without the year in the
  name), a few of its own, and one row whose end is before its start (quarantined);
- ``pretalx/api/events/europython-<year>``: a pretalx instance (event, talks, speakers) for
  EuroPython, which the other two sources list too;
- ``homepages/<host>/<path>/index.html``: home pages of some listed conferences, with
  schema.org JSON-LD (one in ``@graph``, one page without any, one host whose robots.txt
  disallows the crawler).
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

TOPICS = ("python", "data", "devops", "javascript", "rust", "security")
PLACES = (
    ("Berlin", "Germany"),
    ("Lisbon", "Portugal"),
    ("Prague", "Czech Republic"),
    ("Austin, TX", "U.S.A."),
    ("Bengaluru", "India"),
    ("Tokyo", "Japan"),
    ("Nairobi", "Kenya"),
    ("São Paulo", "Brazil"),
    ("Montréal", "Canada"),
    ("Wrocław", "Poland"),
)
WORDS = ("Summit", "Conf", "Days", "Camp", "Forum", "Con")


def confs_tech_sample(
    years: list[int], per_topic: int = 8, seed: int = 7
) -> dict[str, list[dict[str, object]]]:
    """``{"conferences/<year>/<topic>.json": [conference, ...]}``."""
    rng = random.Random(seed)  # noqa: S311 (reproducible sample data, not secrets)
    files: dict[str, list[dict[str, object]]] = {}
    for year in years:
        shared: list[dict[str, object]] = []
        for topic in TOPICS:
            entries: list[dict[str, object]] = []
            for n in range(per_topic):
                city, country = rng.choice(PLACES)
                online = rng.random() < 0.15
                start = date(year, 1, 1) + timedelta(days=rng.randrange(0, 360))
                end = start + timedelta(days=rng.choice((0, 1, 2, 4)))
                name = f"{topic.capitalize()} {city.split(',')[0]} {rng.choice(WORDS)}"
                slug = name.lower().replace(" ", "").replace("ã", "a").replace("é", "e")
                entry: dict[str, object] = {
                    "name": name if n else f"{name} {year}",
                    "url": f"https://{slug}.example.org/{year}",
                    "startDate": start.isoformat(),
                    "endDate": end.isoformat(),
                    "city": "Online" if online else city,
                    "country": "Online" if online else country,
                    "online": online,
                    "locales": rng.choice(("EN", "EN,ES", "DE,EN", "JA")),
                }
                if rng.random() < 0.6:
                    entry["cfpUrl"] = f"https://{slug}.example.org/{year}/cfp"
                    entry["cfpEndDate"] = (
                        start - timedelta(days=rng.randrange(30, 120))
                    ).isoformat()
                if rng.random() < 0.5:
                    entry["cocUrl"] = f"https://{slug}.example.org/coc"
                if rng.random() < 0.4:
                    entry["twitter"] = "@" + slug[:15]
                if rng.random() < 0.3:
                    entry["mastodon"] = f"@{slug[:15]}@fosstodon.org"
                entries.append(entry)
            # Like the real data, a multi-topic conference is listed in each of its topics.
            if shared:
                entries.append(dict(rng.choice(shared)))
            shared.extend(entries[:2])
            if topic == "python":
                entries.append(europython(year))
            files[f"conferences/{year}/{topic}.json"] = entries
    return files


def europython(year: int) -> dict[str, object]:
    """EuroPython as confs.tech lists it: every source of the demo knows this one."""
    start = date(year, 7, 13)
    return {
        "name": "EuroPython",
        "url": f"https://europython.example.org/{year}",
        "startDate": start.isoformat(),
        "endDate": (start + timedelta(days=6)).isoformat(),
        "city": "Prague",
        "country": "Czech Republic",
        "online": False,
        "locales": "EN",
        "cfpUrl": f"https://europython.example.org/{year}/cfp",
        "cfpEndDate": date(year, 3, 1).isoformat(),
    }


ISO3 = {
    "Germany": "DEU",
    "Portugal": "PRT",
    "Czech Republic": "CZE",
    "U.S.A.": "USA",
    "India": "IND",
    "Japan": "JPN",
    "Kenya": "KEN",
    "Brazil": "BRA",
    "Canada": "CAN",
    "Poland": "POL",
}


def python_organizers_sample(
    listed: dict[str, list[dict[str, object]]], years: list[int]
) -> dict[str, str]:
    """``{"<year>.csv": text}``: the python-topic conferences of :func:`confs_tech_sample`
    as python-organizers would list them, plus some only it knows and one defect."""
    # The spider's own column list: the sample is whatever it expects. (Imported here: the
    # spider module imports Scrapy, which nothing else in this module needs.)
    from redfeed.feeds.python_organizers import COLUMNS

    files: dict[str, str] = {}
    for year in years:
        out = io.StringIO()
        rows = csv.writer(out, lineterminator="\n")
        rows.writerow(COLUMNS)
        for entry in listed[f"conferences/{year}/python.json"]:
            if entry.get("online"):
                continue
            name = str(entry["name"]).removesuffix(f" {year}")
            country = str(entry["country"])
            rows.writerow(
                [
                    name,
                    entry["startDate"],
                    entry["endDate"],
                    f"{str(entry['city']).split(',')[0]}, {country}",
                    ISO3.get(country, ""),
                    "",
                    "",
                    entry.get("cfpEndDate", ""),
                    entry["url"],
                    entry.get("cfpUrl", ""),
                    f"{entry['url']}/sponsors",
                ]
            )
        rows.writerow(
            [
                "PyCon Namibia",
                f"{year}-02-10",
                f"{year}-02-14",
                "Windhoek, Namibia",
                "NAM",
                "",
                "",
                f"{year - 1}-12-15",
                f"https://na.pycon.example.org/{year}",
                "",
                "",
            ]
        )
        # The real data has such rows: the scraper quarantines it with its reason.
        rows.writerow(
            [
                "PyCon Typo",
                f"{year}-10-20",
                f"{year - 1}-10-22",
                "Lima, Peru",
                "PER",
                "",
                "",
                "",
                "https://typo.example.org",
                "",
                "",
            ]
        )
        files[f"{year}.csv"] = out.getvalue()
    return files


def pretalx_sample(year: int) -> dict[str, Any]:
    """``{"api/events/<slug>.json": event, ".../talks.json": [...], ".../speakers.json": [...]}``
    for EuroPython ``year`` on a pretalx instance (the mirror paginates the arrays)."""
    slug = f"europython-{year}"
    start = date(year, 7, 13)
    speakers = [
        {"code": f"SP{n:04d}", "name": name, "biography": bio}
        for n, (name, bio) in enumerate(
            [
                ("Ada Lovelace", "Writes programs for engines that do not exist yet."),
                ("Grace Hopper", "Compilers, COBOL, and nanoseconds on a wire."),
                ("Guido van Rossum", {"en": "Created Python.", "nl": "Maakte Python."}),
                ("山田 太郎", "Python と日本語処理。"),
                ("Zoë Ünal", None),
            ]
        )
    ]
    titles = [
        "Async all the way down",
        "Typing a legacy codebase",
        "Packaging in 2026: what changed",
        "日本語テキスト処理の実践",
        "Free-threaded Python in production",
        "Property-based testing for data pipelines",
        "The Redshift COPY you did not know",
    ]
    talks = []
    for n, title in enumerate(titles):
        day = start + timedelta(days=2 + n % 3)
        talk_speakers = [speakers[n % len(speakers)], speakers[(n + 2) % len(speakers)]][
            : 1 + n % 2
        ]
        talks.append(
            {
                "code": f"T{n:05d}",
                "title": title,
                "track": {"en": ["Python", "Data", "Web"][n % 3]},
                "submission_type": {"en": "Talk"},
                "state": "confirmed",
                "abstract": f"About {title.lower()}.",
                "duration": 30,
                "slot": {
                    "start": f"{day.isoformat()}T{9 + n:02d}:00:00+02:00",
                    "end": f"{day.isoformat()}T{9 + n:02d}:30:00+02:00",
                    "room": {"en": f"Room {n % 2 + 1}"},
                },
                "speakers": [
                    {"code": s["code"], "name": s["name"], "biography": s["biography"]}
                    for s in talk_speakers
                ],
            }
        )
    event = {
        "name": {"en": f"EuroPython {year}"},
        "slug": slug,
        "is_public": True,
        "date_from": start.isoformat(),
        "date_to": (start + timedelta(days=6)).isoformat(),
        "timezone": "Europe/Prague",
        "urls": {"base": f"https://pretalx.example.org/{slug}/"},
    }
    return {
        f"api/events/{slug}.json": event,
        f"api/events/{slug}/talks.json": talks,
        f"api/events/{slug}/speakers.json": speakers[:3],
    }


def _jsonld_page(title: str, *documents: object) -> str:
    blocks = "".join(
        f'<script type="application/ld+json">{json.dumps(d, ensure_ascii=False)}</script>\n'
        for d in documents
    )
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title>\n"
        f"{blocks}</head><body><h1>{title}</h1></body></html>\n"
    )


def homepages_sample(
    listed: dict[str, list[dict[str, object]]], years: list[int]
) -> dict[str, str]:
    """``{"<host>/<path>/index.html": html, "<host>/robots.txt": text}`` for some listed
    conferences: EuroPython with a full ConferenceEvent, one in ``@graph``, one page without
    JSON-LD, and a host whose robots.txt disallows everything."""
    files: dict[str, str] = {}
    for year in years:
        conference = europython(year)
        event = {
            "@context": "https://schema.org",
            "@type": "ConferenceEvent",
            "name": f"EuroPython {year}",
            "url": conference["url"],
            "startDate": f"{conference['startDate']}T09:00:00+02:00",
            "endDate": conference["endDate"],
            "eventAttendanceMode": "https://schema.org/MixedEventAttendanceMode",
            "location": {
                "@type": "Place",
                "name": "Prague Congress Centre",
                "address": {
                    "@type": "PostalAddress",
                    "addressLocality": "Prague",
                    "addressCountry": "CZ",
                },
            },
            "hasParticipationOffer": {
                "@type": "Offer",
                "name": "Call for proposals",
                "url": f"{conference['url']}/cfp",
            },
            "hasSponsorshipOffer": {
                "@type": "Offer",
                "name": "Sponsorship",
                "url": f"{conference['url']}/sponsor",
            },
            "organizer": {"@type": "Organization", "name": "EuroPython Society"},
            "sponsor": [{"@type": "Organization", "name": n} for n in ("Acme", "Initech")],
        }
        files[f"europython.example.org/{year}/index.html"] = _jsonld_page(
            f"EuroPython {year}", event
        )
        # Not EuroPython (its page is above); ASCII hosts: a page's directory is named by the
        # host as the crawler spells it.
        pages = [
            e
            for e in listed[f"conferences/{year}/python.json"]
            if e["name"] != "EuroPython" and str(e["url"]).isascii()
        ][:3]
        for role, entry in zip(("graph", "plain", "disallowed"), pages, strict=False):
            url = str(entry["url"])
            host, _, path = url.removeprefix("https://").partition("/")
            page = f"{host}/{path}/index.html"
            if role == "graph":
                graph = {
                    "@context": "https://schema.org",
                    "@graph": [
                        {"@type": "WebSite", "name": entry["name"], "url": url},
                        {
                            "@type": "ConferenceEvent",
                            "name": entry["name"],
                            "url": url,
                            "startDate": entry["startDate"],
                            "endDate": entry["endDate"],
                            "location": f"{entry['city']}, {entry['country']}",
                        },
                    ],
                }
                files[page] = _jsonld_page(str(entry["name"]), graph)
            elif role == "plain":
                files[page] = _jsonld_page(str(entry["name"]))
            else:
                files[page] = _jsonld_page(str(entry["name"]), {"@type": "Event", "name": "x"})
                files[f"{host}/robots.txt"] = "User-agent: *\nDisallow: /\n"
    return files


def write_sample(root: Path, years: list[int]) -> dict[str, int]:
    """Every feed's sample under ``root/<feed>/``; the number of files written per feed."""
    listed = confs_tech_sample(years)
    written: dict[str, int] = {}
    written["confs-tech"] = len(_write_json(root / "confs-tech", listed))
    written["python-organizers"] = len(
        _write_text(root / "python-organizers", python_organizers_sample(listed, years))
    )
    pretalx: dict[str, Any] = {}
    for year in years:
        pretalx.update(pretalx_sample(year))
    written["pretalx"] = len(_write_json(root / "pretalx", pretalx))
    written["homepages"] = len(_write_text(root / "homepages", homepages_sample(listed, years)))
    return written


def _write_json(root: Path, documents: dict[str, Any]) -> list[Path]:
    return _write_text(
        root, {k: json.dumps(v, indent=2, ensure_ascii=False) + "\n" for k, v in documents.items()}
    )


def _write_text(root: Path, texts: dict[str, str]) -> list[Path]:
    paths = []
    for relative, text in texts.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
