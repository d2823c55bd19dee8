"""Generated conference records in the archived confs.tech shape, for tests that need many."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
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
