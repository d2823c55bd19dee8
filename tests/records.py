"""Generated conference records in the archived confs.tech shape, for tests that need many."""

from __future__ import annotations

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
