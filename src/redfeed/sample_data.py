"""Generated demo data in the real confs.tech layout (``conferences/<year>/<topic>.json``).

Fetched data is never committed; the demo serves this instead. It is deterministic (seeded) and
has the real data's shape: the same conference listed under several topics, online events without
a city, optional CFP and social fields.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

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
            files[f"conferences/{year}/{topic}.json"] = entries
    return files


def write_confs_tech(root: Path, years: list[int]) -> int:
    """Write the sample under ``root``; returns the number of entries written."""
    total = 0
    for relative, entries in confs_tech_sample(years).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        total += len(entries)
    return total
