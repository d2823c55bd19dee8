"""``redfeed xref``: one ``conference`` row per real-world conference, across every source.

Each source lists conferences its own way: confs.tech and python-organizers by name, dates and
website; pretalx by event; home pages by their JSON-LD. The cross-reference reads each source's
latest snapshot per listing (a *member*), links two members when they are the same conference,
and writes the ``conference`` dimension and the ``conference_members`` map in one transaction.

Two members are the same conference when they are of the same year, their date ranges overlap
(a missing end date is the start date) and they share either the normalized name or the
website's host (hosts that serve many conferences -- GitHub, Meetup, Eventbrite, ... -- never
link). Links are transitive (union-find), so confs.tech ↔ home page ↔ pretalx chains resolve.

Surrogate keys are stable: a member keeps the ``conference_id`` it was given; a new member joins
its cluster's id; two clusters that a new member joins keep the older (smaller) id; a cluster of
new members gets the next id. Rerunning with the same data changes nothing.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, insert, select, text

from redfeed.contract import run_command
from redfeed.errors import ConfigError

log = logging.getLogger("redfeed.xref")

#: Sources in the order their facts win (name, dates, place, CFP) when members disagree.
SOURCE_PRIORITY = ("confs-tech", "python-organizers", "pretalx", "homepages")

#: Hosts that serve many unrelated conferences: sharing one of them is no evidence.
SHARED_HOSTS = frozenset(
    {
        "github.com",
        "github.io",
        "gitlab.com",
        "meetup.com",
        "eventbrite.com",
        "eventbrite.co.uk",
        "google.com",
        "docs.google.com",
        "forms.gle",
        "sessionize.com",
        "pretalx.com",
        "papercall.io",
        "linkedin.com",
        "facebook.com",
        "twitter.com",
        "x.com",
        "youtube.com",
        "lu.ma",
        "hopin.com",
        "tito.io",
        "ti.to",
        "bit.ly",
        "linktr.ee",
        "notion.site",
        "medium.com",
    }
)

_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalize_name(name: str | None) -> str | None:
    """Case, accents' composition, punctuation and years do not make a different conference:
    ``"PyCon DE & PyData Berlin 2024"`` → ``"pycon de pydata berlin"``. Letters of every script
    are kept (a Japanese name normalizes to itself)."""
    if not name:
        return None
    folded = unicodedata.normalize("NFKC", name).casefold()
    words = _NOT_WORD.sub(" ", _YEAR.sub(" ", folded)).split()
    return " ".join(words) or None


def url_host(url: str | None) -> str | None:
    """The website's host without ``www.``, or None for no/odd URLs and shared hosts."""
    if not url:
        return None
    try:
        host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    host = host.removeprefix("www.")
    if not host or "." not in host:
        return None
    if host in SHARED_HOSTS or any(host.endswith("." + shared) for shared in SHARED_HOSTS):
        return None
    return host


@dataclass(frozen=True)
class Member:
    """One source's listing of a conference (its latest snapshot)."""

    source: str
    #: Identity within the source: the same listing across snapshots has the same key.
    source_key: str
    feed: str
    name: str | None
    start_date: date | None
    end_date: date | None
    url: str | None = None
    city: str | None = None
    country: str | None = None
    cfp_url: str | None = None
    cfp_end_date: date | None = None
    sponsorship_url: str | None = None
    #: What the source calls it: the pretalx event slug, a home page's URL, ...
    ref: str | None = None
    norm_name: str | None = field(init=False)
    host: str | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm_name", normalize_name(self.name))
        object.__setattr__(self, "host", url_host(self.url))

    @property
    def year(self) -> int | None:
        return self.start_date.year if self.start_date else None

    @property
    def span(self) -> tuple[date, date] | None:
        if self.start_date is None:
            return None
        end = self.end_date if self.end_date and self.end_date >= self.start_date else None
        return self.start_date, end or self.start_date

    def overlaps(self, other: Member) -> bool:
        mine, theirs = self.span, other.span
        if mine is None or theirs is None:
            return False
        return mine[0] <= theirs[1] and theirs[0] <= mine[1]


@dataclass
class Cluster:
    conference_id: int
    members: list[Member]

    def best(self, attribute: str) -> Any:
        """The attribute from the highest-priority source that has it."""
        for member in sorted(self.members, key=_priority):
            value = getattr(member, attribute)
            if value is not None:
                return value
        return None


def _priority(member: Member) -> tuple[int, str]:
    rank = SOURCE_PRIORITY.index(member.source) if member.source in SOURCE_PRIORITY else 99
    return rank, member.source_key


class _Links:
    """Union-find over member indexes."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, index: int) -> int:
        while self.parent[index] != index:
            self.parent[index] = self.parent[self.parent[index]]
            index = self.parent[index]
        return index

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def resolve(members: Sequence[Member], known: Mapping[tuple[str, str], int]) -> list[Cluster]:
    """Cluster ``members`` into conferences and give each a stable id (see the module doc);
    ``known`` maps (source, source_key) to the id a member had before."""
    links = _Links(len(members))
    buckets: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for index, member in enumerate(members):
        if member.year is None:
            continue
        if member.norm_name:
            buckets[("name", member.year, member.norm_name)].append(index)
        if member.host:
            buckets[("host", member.year, member.host)].append(index)
    for indexes in buckets.values():
        for position, a in enumerate(indexes):
            for b in indexes[position + 1 :]:
                if members[a].overlaps(members[b]):
                    links.union(a, b)
    groups: dict[int, list[Member]] = defaultdict(list)
    for index, member in enumerate(members):
        groups[links.find(index)].append(member)

    clusters: list[Cluster] = []
    fresh: list[list[Member]] = []
    for group in groups.values():
        ids = [known[(m.source, m.source_key)] for m in group if (m.source, m.source_key) in known]
        if ids:
            clusters.append(Cluster(min(ids), group))
        else:
            fresh.append(group)
    next_id = max([*known.values(), *(c.conference_id for c in clusters), 0]) + 1
    # New conferences are numbered in a stable order: earliest date, then name.
    for group in sorted(fresh, key=lambda g: min(_fresh_order(m) for m in g)):
        clusters.append(Cluster(next_id, group))
        next_id += 1
    return sorted(clusters, key=lambda c: c.conference_id)


def _fresh_order(member: Member) -> tuple[date, str, str, str]:
    return (member.start_date or date.max, member.norm_name or "", member.source, member.source_key)


# -- reading the sources ---------------------------------------------------------------------

#: The latest snapshot of each listing, per source; every query is plain SQL that PostgreSQL and
#: Redshift both run (window functions, no DISTINCT ON).
SOURCE_QUERIES: dict[str, str] = {
    "confs-tech": """
        SELECT _feed, name, url, start_date, end_date, city, country, cfp_url, cfp_end_date
        FROM conferences_latest""",
    "python-organizers": """
        SELECT _feed, subject, website_url, start_date, end_date, location, country,
               proposal_url, talk_deadline, sponsorship_url
        FROM (
            SELECT p.*, ROW_NUMBER() OVER (
                PARTITION BY _feed, subject, start_date ORDER BY _interval_start DESC, line
            ) AS latest
            FROM python_conferences p
        ) ranked
        WHERE latest = 1""",
    "pretalx": """
        SELECT _feed, event, name, url, date_from, date_to
        FROM (
            SELECT e.*, ROW_NUMBER() OVER (
                PARTITION BY _feed, event ORDER BY _interval_start DESC
            ) AS latest
            FROM pretalx_events e
        ) ranked
        WHERE latest = 1""",
    "homepages": """
        SELECT _feed, page_url, event_index, name, url, start_date, end_date,
               location_locality, location_country, participation_offer_url,
               sponsorship_offer_url
        FROM (
            SELECT h.*, ROW_NUMBER() OVER (
                PARTITION BY _feed, page_url, event_index ORDER BY _interval_start DESC
            ) AS latest
            FROM homepage_events h
        ) ranked
        WHERE latest = 1""",
}


def _location_country(location: str | None) -> str | None:
    """python-organizers' Location is "City, Country" (or "City, State, Country")."""
    if not location or "," not in location:
        return None
    return location.rsplit(",", 1)[1].strip() or None


def _location_city(location: str | None) -> str | None:
    if not location:
        return None
    return location.split(",", 1)[0].strip() or None


def members_from_rows(source: str, rows: Iterable[Mapping[str, Any]]) -> Iterator[Member]:
    """Source rows (as :data:`SOURCE_QUERIES` returns them) as members."""
    for row in rows:
        if source == "confs-tech":
            yield Member(
                source,
                f"{row['url']}|{row['start_date']}",
                row["_feed"],
                row["name"],
                row["start_date"],
                row["end_date"],
                url=row["url"],
                city=row["city"],
                country=row["country"],
                cfp_url=row["cfp_url"],
                cfp_end_date=row["cfp_end_date"],
                ref=row["url"],
            )
        elif source == "python-organizers":
            yield Member(
                source,
                f"{row['subject']}|{row['start_date']}",
                row["_feed"],
                row["subject"],
                row["start_date"],
                row["end_date"],
                url=row["website_url"],
                city=_location_city(row["location"]),
                country=_location_country(row["location"]) or row["country"],
                cfp_url=row["proposal_url"],
                cfp_end_date=row["talk_deadline"],
                sponsorship_url=row["sponsorship_url"],
                ref=row["subject"],
            )
        elif source == "pretalx":
            yield Member(
                source,
                f"{row['_feed']}|{row['event']}",
                row["_feed"],
                row["name"],
                row["date_from"],
                row["date_to"],
                url=row["url"],
                ref=row["event"],
            )
        elif source == "homepages":
            yield Member(
                source,
                f"{row['page_url']}|{row['event_index']}",
                row["_feed"],
                row["name"],
                row["start_date"],
                row["end_date"],
                # The page is the conference's site: its host is the evidence, whatever
                # canonical URL the JSON-LD declares.
                url=row["page_url"],
                city=row["location_locality"],
                country=row["location_country"],
                cfp_url=row["participation_offer_url"],
                sponsorship_url=row["sponsorship_offer_url"],
                ref=row["url"],
            )
        else:
            raise ConfigError(f"no cross-reference reader for source {source!r}")


def read_members(conn: Connection) -> list[Member]:
    members: list[Member] = []
    for source, query in SOURCE_QUERIES.items():
        rows = [dict(row) for row in conn.execute(text(query)).mappings()]
        found = list(members_from_rows(source, rows))
        log.info("%s: %d listings", source, len(found))
        members.extend(found)
    return members


# -- writing the dimension -------------------------------------------------------------------


def conference_rows(clusters: Sequence[Cluster], now: datetime) -> list[dict[str, Any]]:
    from redfeed.warehouse.models import XREF_TEXT_BYTES

    rows = []
    for cluster in clusters:
        sources = sorted({m.source for m in cluster.members}, key=SOURCE_PRIORITY.index)
        name = cluster.best("name")
        rows.append(
            {
                "conference_id": cluster.conference_id,
                "name": name,
                "norm_name": _fit(cluster.best("norm_name"), XREF_TEXT_BYTES),
                "year": cluster.best("year"),
                "start_date": cluster.best("start_date"),
                "end_date": cluster.best("end_date"),
                "city": cluster.best("city"),
                "country": cluster.best("country"),
                "url": cluster.best("url"),
                "url_host": cluster.best("host"),
                "cfp_url": cluster.best("cfp_url"),
                "cfp_end_date": cluster.best("cfp_end_date"),
                "sponsorship_url": cluster.best("sponsorship_url"),
                "sources": ",".join(sources),
                "source_count": len(sources),
                "member_count": len(cluster.members),
                "updated_at": now,
            }
        )
    return rows


def member_rows(clusters: Sequence[Cluster], now: datetime) -> list[dict[str, Any]]:
    from redfeed.warehouse.models import XREF_TEXT_BYTES

    return [
        {
            "source": m.source,
            "source_key": m.source_key,
            "feed": m.feed,
            "ref": m.ref,
            "conference_id": cluster.conference_id,
            "name": m.name,
            "norm_name": _fit(m.norm_name, XREF_TEXT_BYTES),
            "start_date": m.start_date,
            "end_date": m.end_date,
            "url_host": m.host,
            "updated_at": now,
        }
        for cluster in clusters
        for m in cluster.members
    ]


def _fit(value: str | None, limit: int) -> str | None:
    """A derived match key cut to its column at a character boundary (the source's own value
    is stored whole elsewhere; a key only needs to be stable)."""
    if value is None:
        return None
    return value.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _chunks(rows: list[dict[str, Any]], size: int = 500) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def rebuild(conn: Connection) -> dict[str, Any]:
    """Recompute the dimension from the sources' latest snapshots; one transaction."""
    from redfeed.warehouse.models import conference, conference_members

    members = read_members(conn)
    known = {
        (source, key): conference_id
        for source, key, conference_id in conn.execute(
            select(
                conference_members.c.source,
                conference_members.c.source_key,
                conference_members.c.conference_id,
            )
        )
    }
    clusters = resolve(members, known)
    now = datetime.now(UTC).replace(tzinfo=None)
    conferences, mapped = conference_rows(clusters, now), member_rows(clusters, now)
    conn.execute(delete(conference_members))
    conn.execute(delete(conference))
    # Multi-row VALUES in chunks: one statement per 500 rows (Redshift inserts row by row
    # otherwise, at a round trip each).
    for chunk in _chunks(conferences):
        conn.execute(insert(conference).values(chunk))
    for chunk in _chunks(mapped):
        conn.execute(insert(conference_members).values(chunk))
    kept = {m.conference_id for m in clusters} & set(known.values())
    per_sources: dict[str, int] = defaultdict(int)
    for row in conferences:
        per_sources[str(row["sources"])] += 1
    return {
        "members": len(members),
        "conferences": len(clusters),
        "multi_source": sum(1 for row in conferences if int(row["source_count"]) > 1),
        "new_ids": len({c.conference_id for c in clusters} - set(known.values())),
        "kept_ids": len(kept),
        "by_sources": dict(sorted(per_sources.items())),
    }


def xref(argv: list[str]) -> dict[str, Any]:
    import os

    from redfeed.warehouse.dialect import make_engine

    if argv:
        raise ConfigError(f"redfeed xref takes no arguments, got {' '.join(argv)!r}")
    url = os.environ.get("REDFEED_WAREHOUSE_URL", "").strip()
    if not url:
        raise ConfigError("REDFEED_WAREHOUSE_URL is not set")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            summary = rebuild(conn)
    finally:
        engine.dispose()
    log.info(
        "%d listings → %d conferences (%d seen by several sources)",
        summary["members"],
        summary["conferences"],
        summary["multi_source"],
    )
    return summary


def main(argv: list[str]) -> int:
    return run_command("xref", lambda: xref(argv))
