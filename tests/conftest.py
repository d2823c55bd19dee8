"""Shared test fixtures. Real public data is read from ../shared/fixtures (or REDFEED_FIXTURES),
never copied into the repo; under CI=true a missing fixture directory fails loudly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


@pytest.hookimpl(tryfirst=True)  # before xdist's own choice from --dist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under xdist (`make test`: two workers), the unit of work is a layer (tests/<layer>/):
    the layers run side by side, each layer's tests one after another on one worker, as when it
    runs alone. The e2e stack mostly waits on Airflow, the fault and contract tests on
    containers, so side by side they take about half the wall time. (xdist's own `loadgroup`
    cannot do this with pytest 9, whose test ids ignore the group xdist appends to them.)"""
    from xdist.scheduler import LoadScopeScheduling

    class LayerScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            top, _, rest = nodeid.partition("/")
            return rest.partition("/")[0] if top == "tests" and "/" in rest else nodeid

    return LayerScheduling(config, log)
