"""Shared test fixtures. Real public data is read from ../shared/fixtures (or REDFEED_FIXTURES),
never copied into the repo; under CI=true a missing fixture directory fails loudly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytest_plugins = ["tests.docker_env"]


def fixtures_root() -> Path:
    return Path(os.environ.get("REDFEED_FIXTURES", REPO.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    root = fixtures_root()
    if not root.is_dir():
        message = f"fixture data not found at {root} (set REDFEED_FIXTURES)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def confs_tech_dir(fixtures_dir: Path) -> Path:
    path = fixtures_dir / "confs-tech"
    assert (path / "conferences").is_dir(), f"{path} has no conferences/ directory"
    return path


@pytest.fixture(scope="session")
def python_organizers_dir(fixtures_dir: Path) -> Path:
    path = fixtures_dir / "python-organizers"
    assert sorted(path.glob("[0-9][0-9][0-9][0-9].csv")), f"{path} has no <year>.csv files"
    return path


@pytest.fixture(scope="session")
def pretalx_dir(fixtures_dir: Path) -> Path:
    path = fixtures_dir / "pretalx-europython" / "pretalx"
    for name in ("submissions.json", "speakers.json"):
        assert (path / name).is_file(), f"{path} has no {name}"
    return path
