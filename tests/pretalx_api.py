"""A pretalx instance laid out for the source mirror (``<path>.json`` answers ``<path>/``, arrays
paginated), built from the pretalx fixture files, and what the spider must make of it, computed
from the files independently of the spider."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

EVENT = "europython-2024"
#: The event object the fixtures do not include, shaped like pretalx's ``/api/events/<slug>/``.
EVENT_DOCUMENT: dict[str, Any] = {
    "name": {"en": "EuroPython 2024"},
    "slug": EVENT,
    "is_public": True,
    "date_from": "2024-07-08",
    "date_to": "2024-07-14",
    "timezone": "Europe/Prague",
    "urls": {"base": "https://pretalx.com/europython-2024/"},
}


def fixture_talks(pretalx_dir: Path) -> list[dict[str, Any]]:
    talks: list[dict[str, Any]] = json.loads((pretalx_dir / "submissions.json").read_bytes())
    return talks


def fixture_speakers(pretalx_dir: Path) -> list[dict[str, Any]]:
    speakers: list[dict[str, Any]] = json.loads((pretalx_dir / "speakers.json").read_bytes())
    return speakers


def write_instance(
    root: Path,
    talks: list[Any],
    speakers: list[Any],
    event: str = EVENT,
    document: dict[str, Any] | None = None,
) -> Path:
    """``root`` laid out as a pretalx instance serving one event; world-readable, so the mirror
    container (another uid) can serve it."""
    events = root / "api" / "events"
    (events / event).mkdir(parents=True, exist_ok=True)
    (events / f"{event}.json").write_text(json.dumps(document or {**EVENT_DOCUMENT, "slug": event}))
    (events / event / "talks.json").write_text(json.dumps(talks))
    (events / event / "speakers.json").write_text(json.dumps(speakers))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def expected_counts(talks: list[dict[str, Any]], speakers: list[dict[str, Any]]) -> Counter[str]:
    """Records per stream: one event, one per talk and per speaker, one per nested speaker."""
    return Counter(
        events=1,
        talks=len(talks),
        speakers=len(speakers),
        talk_speakers=sum(len(talk["speakers"]) for talk in talks),
    )


def expected_bridge(talks: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    return {
        (talk["code"], speaker["code"], position)
        for talk in talks
        for position, speaker in enumerate(talk["speakers"])
    }
