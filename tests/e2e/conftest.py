"""End-to-end layer: the compose stack (CeleryExecutor, 2 workers) driven through Airflow's REST
API. One stack for the layer, as its own compose project (``redfeed_e2e``) with random ports, torn
down (``down -v``) after its last test; ``REDFEED_E2E_KEEP=1`` leaves it up for a look."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.stack import REPO, Stack

HERE = Path(__file__).resolve().parent
PROJECT = os.environ.get("REDFEED_E2E_PROJECT", "redfeed_e2e")
IMAGES = ("redfeed/airflow", "redfeed/redis", "redfeed/postgres", "redfeed/loader")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees every item of the session: mark only this directory's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


def today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="session")
def days() -> list[datetime]:
    """The three last complete daily intervals (their starts: the runs' logical dates)."""
    return [today() - timedelta(days=n) for n in (3, 2, 1)]


@pytest.fixture(scope="package")
def stack(docker_client: object, days: list[datetime]) -> Iterator[Stack]:
    del docker_client  # checks the engine and the base images
    import docker

    client = docker.from_env()
    missing = [name for name in IMAGES if not client.images.list(name=name)]
    if missing:
        pytest.fail(f"images {missing} are missing: run `make images` first")
    stack = Stack(PROJECT, REPO / "build" / "e2e" / PROJECT)
    years = [d.year for d in days]
    # One more interval (the worker test) and the following year, for feeds that look ahead.
    stack.prepare(
        [min(years) - 1, *years, max(years) + 1, max(years) + 2],
        # Re-parse the DAG files every few seconds: a test edits the registry.
        REDFEED_DAG_PARSE_INTERVAL="5",
        # A stopped worker finishes its running task before it exits (warm shutdown).
        REDFEED_WORKER_STOP_GRACE="120s",
        # A killed worker's task is failed (and retried elsewhere) 30 s after its last heartbeat.
        REDFEED_TASK_HEARTBEAT_TIMEOUT="30",
        # A task queued but never sent to Celery (the scheduler stopped in between) is sent
        # again after a minute, not Airflow's 10 (no e2e task waits that long for a slot).
        REDFEED_TASK_QUEUED_TIMEOUT="60",
        REDFEED_TASK_QUEUED_CHECK_INTERVAL="10",
    )
    stack.down()  # leftovers of an interrupted session
    started = time.monotonic()
    try:
        stack.up(workers=2)
        stack.wait_healthy(timeout=360)
        stack.log.append(f"stack healthy in {time.monotonic() - started:.0f}s")
        yield stack
    finally:
        if os.environ.get("REDFEED_E2E_KEEP") != "1":
            stack.down()
            shutil.rmtree(stack.workdir, ignore_errors=True)
        print("\n".join(["", "e2e stack:", *stack.log]))
