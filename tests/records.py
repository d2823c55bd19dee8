"""Generated conference records in the archived confs.tech shape, for tests that need many."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any


def conference(n: int, **overrides: Any) -> dict[str, Any]:
    """The n-th generated conference (2025, Lisbon); ``overrides`` replace fields."""
    return {
        "name": f"Generated Conf {n}",
        "url": f"https://conf{n}.example.org/2025",
        "startDate": "2025-06-01",
        "endDate": "2025-06-03",
        "city": "Lisbon",
        "country": "Portugal",
        "online": False,
        "topic": "python",
        "year": 2025,
        "sourcePath": "conferences/2025/python.json",
        "locales": ["EN", "PT"],
        **overrides,
    }


def confs_tech_records(root: Path, years: Iterable[int] | None = None) -> Iterator[dict[str, Any]]:
    """Every entry of the confs.tech fixture files under ``root`` (all years, or ``years``) as
    the spider archives it: its own fields plus ``topic``, ``year`` and ``sourcePath``. Computed
    from the files, independently of the spider."""
    folders = (
        sorted(p for p in (root / "conferences").iterdir() if p.is_dir())
        if years is None
        else [root / "conferences" / str(year) for year in years]
    )
    for folder in folders:
        year = int(folder.name)
        for path in sorted(folder.glob("*.json")):
            source_path = f"conferences/{year}/{path.name}"
            for item in json.loads(path.read_text(encoding="utf-8")):
                yield {**item, "topic": path.stem, "year": year, "sourcePath": source_path}


#: python-organizers CSV header -> the record key the spider archives it under.
PYTHON_ORGANIZERS_KEYS = {
    "Subject": "subject",
    "Start Date": "start_date",
    "End Date": "end_date",
    "Location": "location",
    "Country": "country",
    "Venue": "venue",
    "Tutorial Deadline": "tutorial_deadline",
    "Talk Deadline": "talk_deadline",
    "Website URL": "website_url",
    "Proposal URL": "proposal_url",
    "Sponsorship URL": "sponsorship_url",
}


def python_organizers_rows(
    root: Path, years: Iterable[int] | None = None
) -> Iterator[dict[str, Any]]:
    """Every row of the python-organizers fixture files under ``root`` (all years, or ``years``)
    in the record shape the spider gives it (snake_case keys, empty cells null, plus ``year``,
    ``source_path`` and ``line``), whether the warehouse may take it or not. Computed from the
    files with ``csv.DictReader``, independently of the spider."""
    paths = (
        sorted(root.glob("[0-9][0-9][0-9][0-9].csv"))
        if years is None
        else [root / f"{year}.csv" for year in years if (root / f"{year}.csv").exists()]
    )
    for path in paths:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                record: dict[str, Any] = {
                    key: (row[column].strip() or None)
                    for column, key in PYTHON_ORGANIZERS_KEYS.items()
                }
                record.update(year=int(path.stem), source_path=path.name, line=reader.line_num)
                yield record


def python_organizers_problem(record: dict[str, Any]) -> str | None:
    """Why the spider must quarantine a fixture row, judged here (None: it is a record)."""
    if record["subject"] is None or record["start_date"] is None:
        return "no subject or start date"
    try:
        start = date.fromisoformat(record["start_date"])
        end = date.fromisoformat(record["end_date"]) if record["end_date"] else None
        for deadline in ("tutorial_deadline", "talk_deadline"):
            if record[deadline] is not None:
                date.fromisoformat(record[deadline])
    except ValueError as exc:
        return f"a date that is not one: {exc}"
    if end is not None and end < start:
        return "end_date is before start_date"
    if record["country"] is not None and len(record["country"]) != 3:
        return "country is not ISO-3"
    return None
