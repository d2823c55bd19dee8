"""The cross-reference: matching listings across sources, and keeping conference ids stable."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest

from redfeed.warehouse.xref import Member, normalize_name, resolve, url_host


def member(
    source: str,
    key: str,
    name: str | None,
    start: str | None,
    end: str | None = None,
    url: str | None = None,
) -> Member:
    return Member(
        source,
        key,
        source,
        name,
        date.fromisoformat(start) if start else None,
        date.fromisoformat(end) if end else None,
        url=url,
    )


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("PyCon DE & PyData Berlin 2024", "pycon de pydata berlin"),
        ("  EuroPython   2024 ", "europython"),
        ("PYCON jp", "pycon jp"),
        ("\uff30\uff59\uff23\uff4f\uff4e \uff2a\uff30", "pycon jp"),  # full-width (NFKC)
        ("Python Pizza 2024/2025", "python pizza"),
        ("東京 Python 会議", "東京 python 会議"),
        ("2024", None),
        ("", None),
        (None, None),
    ],
)
def test_names_are_normalized_for_matching(name: str | None, normalized: str | None) -> None:
    assert normalize_name(name) == normalized


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://www.PyCon.org/2024/", "pycon.org"),
        ("https://2024.pycon.de", "2024.pycon.de"),
        ("https://github.com/pyconjp", None),
        ("https://pyconjp.github.io/", None),
        ("https://www.meetup.com/pydata", None),
        ("not a url", None),
        ("http://localhost:8000/", None),
        (None, None),
    ],
)
def test_shared_and_odd_hosts_are_no_evidence(url: str | None, host: str | None) -> None:
    assert url_host(url) == host


def test_same_name_same_year_overlapping_dates_is_one_conference() -> None:
    clusters = resolve(
        [
            member("confs-tech", "a", "PyCon DE & PyData Berlin", "2024-04-22", "2024-04-24"),
            member("python-organizers", "b", "PyCon DE & PyData Berlin", "2024-04-22"),
            member("confs-tech", "c", "PyCon DE & PyData Berlin", "2025-04-23", "2025-04-25"),
        ],
        {},
    )
    assert [sorted(m.source_key for m in c.members) for c in clusters] == [["a", "b"], ["c"]]
    assert [c.conference_id for c in clusters] == [1, 2]


def test_host_links_differently_named_listings_and_links_are_transitive() -> None:
    clusters = resolve(
        [
            member(
                "confs-tech",
                "ct",
                "Pycon Colombia",
                "2024-06-07",
                "2024-06-09",
                "https://2024.pycon.co/en",
            ),
            member(
                "homepages",
                "hp",
                "PyCon Colombia 2024 — Medellín",
                "2024-06-07",
                "2024-06-09",
                "https://2024.pycon.co/",
            ),
            member("pretalx", "px", "PyCon Colombia 2024 — Medellín", "2024-06-08", "2024-06-08"),
            # Same host, other dates: a different conference of the same organizer.
            member(
                "confs-tech",
                "other",
                "Pycon Colombia Day",
                "2024-11-01",
                None,
                "https://2024.pycon.co/day",
            ),
        ],
        {},
    )
    assert [sorted(m.source for m in c.members) for c in clusters] == [
        ["confs-tech", "homepages", "pretalx"],
        ["confs-tech"],
    ]


def test_no_dates_no_link() -> None:
    clusters = resolve(
        [member("homepages", "x", "PyBay", None), member("confs-tech", "y", "PyBay", "2024-09-21")],
        {},
    )
    assert len(clusters) == 2


def test_ids_are_stable_across_rebuilds_and_merges_keep_the_older_id() -> None:
    first = [
        member("confs-tech", "a", "PyBay", "2024-09-21"),
        member("python-organizers", "b", "PyCascades", "2024-04-05"),
    ]
    clusters = resolve(first, {})
    known = {(m.source, m.source_key): c.conference_id for c in clusters for m in c.members}
    assert known == {("python-organizers", "b"): 1, ("confs-tech", "a"): 2}  # by date

    # The same data again: the same ids, whatever the input order.
    again = resolve(list(reversed(first)), known)
    assert {(m.source_key, c.conference_id) for c in again for m in c.members} == {
        ("a", 2),
        ("b", 1),
    }

    # A new listing of PyBay joins id 2; a new conference gets 3.
    grown = resolve(
        [
            *first,
            member("homepages", "h", "PyBay 2024", "2024-09-21", url="https://pybay.org"),
            member("confs-tech", "n", "New Conf", "2024-01-01"),
        ],
        known,
    )
    ids = {m.source_key: c.conference_id for c in grown for m in c.members}
    assert ids == {"a": 2, "b": 1, "h": 2, "n": 3}

    # A listing that bridges two known conferences merges them under the older id.
    bridged = resolve(
        [
            member("confs-tech", "p", "PyCon X", "2024-03-01", url="https://x.example"),
            member("confs-tech", "q", "Other Name", "2024-03-01", url="https://y.example"),
            member("homepages", "r", "PyCon X", "2024-03-01", url="https://y.example"),
        ],
        {("confs-tech", "p"): 7, ("confs-tech", "q"): 4},
    )
    assert [(c.conference_id, len(c.members)) for c in bridged] == [(4, 3)]


def test_an_end_before_the_start_counts_as_a_one_day_conference() -> None:
    listed = member("python-organizers", "a", "PyCon Z", "2024-05-10", "2024-05-01")
    assert listed.span == (date(2024, 5, 10), date(2024, 5, 10))


def test_fixture_conferences_listed_by_both_sources_resolve_to_one(fixtures_dir: Path) -> None:
    members: list[Member] = []
    for path in sorted((fixtures_dir / "confs-tech" / "conferences" / "2024").glob("*.json")):
        for entry in json.loads(path.read_text()):
            members.append(
                Member(
                    "confs-tech",
                    f"{entry['url']}|{entry['startDate']}|{path.stem}",
                    "confs-tech",
                    entry["name"],
                    date.fromisoformat(entry["startDate"]),
                    date.fromisoformat(entry["endDate"]) if entry.get("endDate") else None,
                    url=entry["url"],
                )
            )
    with (fixtures_dir / "python-organizers" / "2024.csv").open(encoding="utf-8-sig") as rows:
        for row in csv.DictReader(rows):
            members.append(
                Member(
                    "python-organizers",
                    f"{row['Subject']}|{row['Start Date']}",
                    "python-organizers",
                    row["Subject"],
                    date.fromisoformat(row["Start Date"]),
                    date.fromisoformat(row["End Date"]) if row["End Date"] else None,
                    url=row["Website URL"] or None,
                )
            )
    clusters = resolve(members, {})
    by_name = {m.name: c for c in clusters for m in c.members if m.source == "python-organizers"}
    for name in ("PyCon DE & PyData Berlin", "PyCon Lithuania", "DjangoCon US", "PyBay"):
        sources = {m.source for m in by_name[name].members}
        assert sources == {"confs-tech", "python-organizers"}, name
    # Every listing is in exactly one conference.
    assert sum(len(c.members) for c in clusters) == len(members)
    assert len({c.conference_id for c in clusters}) == len(clusters)


def test_the_xref_dag_is_scheduled_on_exactly_the_tables_xref_reads() -> None:
    """The DAG factory cannot import this module (SQLAlchemy at parse time), so it names the
    tables itself: they must be the ones the queries read (a view ``<table>_latest`` reads
    ``<table>``)."""
    import re

    from redfeed.orchestration.dags import XREF_SOURCE_TABLES
    from redfeed.warehouse.xref import SOURCE_QUERIES

    read = {
        name.removesuffix("_latest")
        for query in SOURCE_QUERIES.values()
        for name in re.findall(r"FROM\s+([a-z_]+)", query)
    }
    assert read == set(XREF_SOURCE_TABLES)
