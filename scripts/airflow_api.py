"""A small client for Airflow 3's REST API (``/auth/token``, then ``/api/v2/...``), shared by
``make demo`` (``scripts/demo.sh``) and the end-to-end tests (``tests/e2e``).

Command line (what the demo runs)::

    python scripts/airflow_api.py --url http://127.0.0.1:18080 backfill feed_confs_tech --days 3

reads the login from ``REDFEED_AIRFLOW_USER`` / ``REDFEED_AIRFLOW_PASSWORD``, unpauses the DAG,
creates a backfill of the last ``--days`` complete daily intervals, waits for every run of that
window and prints one line per run with its task states. Exit 0 when every run succeeded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests

T = TypeVar("T")

FINISHED_RUN_STATES = frozenset({"success", "failed"})
FINISHED_TASK_STATES = frozenset(
    {"success", "failed", "skipped", "upstream_failed", "removed", "upstream_skipped"}
)


class AirflowError(RuntimeError):
    """The API answered something unexpected, or a wait ran out of time."""


class DagProblem(RuntimeError):
    """Waiting is pointless: the DAG does not import, or it is paused with runs queued."""


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def midnight(day_offset: int, now: datetime | None = None) -> datetime:
    """00:00 UTC ``day_offset`` days from today (``-1`` is yesterday)."""
    today = (
        (now or datetime.now(UTC))
        .astimezone(UTC)
        .replace(hour=0, minute=0, second=0, microsecond=0)
    )
    return today + timedelta(days=day_offset)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """Call ``probe`` until it returns something other than None (or raise after ``timeout``)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
        except (requests.ConnectionError, requests.Timeout, AirflowError) as exc:
            value, last_error = None, exc
        if value is not None:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise AirflowError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


@dataclass
class Airflow:
    """Airflow's REST API with a bearer token from the auth manager (``/auth/token``)."""

    url: str
    username: str
    password: str
    timeout: float = 30
    _token: str | None = None

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.session = requests.Session()

    # ------------------------------------------------------------------ plumbing
    def token(self) -> str:
        response = self.session.post(
            f"{self.url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        if response.status_code not in (200, 201):
            raise AirflowError(
                f"POST /auth/token as {self.username!r}: {response.status_code} {response.text}"
            )
        token: str = response.json()["access_token"]
        self._token = token
        return token

    def request(self, method: str, path: str, *, ok: Iterable[int] = (200,), **kwargs: Any) -> Any:
        """``method /api/v2/<path>``; the JSON body of the answer. A 401 renews the token once."""
        for attempt in (1, 2):
            token = self._token or self.token()
            response = self.session.request(
                method,
                f"{self.url}/api/v2/{path.lstrip('/')}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
                **kwargs,
            )
            if response.status_code == 401 and attempt == 1:
                self._token = None
                continue
            if response.status_code not in set(ok):
                raise AirflowError(
                    f"{method} /api/v2/{path}: {response.status_code} {response.text[:2000]}"
                )
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    # ------------------------------------------------------------------ health and DAGs
    def health(self) -> dict[str, Any]:
        response = self.session.get(f"{self.url}/api/v2/monitor/health", timeout=self.timeout)
        response.raise_for_status()
        health: dict[str, Any] = response.json()
        return health

    def wait_healthy(self, timeout: float = 180) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            health = self.health()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            healthy = all((health.get(p) or {}).get("status") == "healthy" for p in parts)
            return health if healthy else None

        return wait_for("Airflow's /api/v2/monitor/health", probe, timeout, interval=2)

    def import_errors(self) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = self.get("importErrors")["import_errors"]
        return errors

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        try:
            dag: dict[str, Any] = self.request("GET", f"dags/{dag_id}")
        except AirflowError as exc:
            if ": 404 " in str(exc):
                return None
            raise
        return dag

    def wait_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the DAG processor has parsed ``dag_id``; import errors fail at once."""

        def probe() -> dict[str, Any] | None:
            dag = self.dag(dag_id)
            if dag is None and (errors := self.import_errors()):
                text = "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors)
                raise DagProblem(f"DAG import errors:\n{text}")
            return dag

        return wait_for(f"DAG {dag_id} to be parsed", probe, timeout, interval=2)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"dags/{dag_id}", json={"is_paused": paused})

    # ------------------------------------------------------------------ runs
    def backfill(
        self,
        dag_id: str,
        from_date: datetime,
        to_date: datetime,
        *,
        reprocess: str = "none",
        max_active_runs: int = 3,
        conf: dict[str, Any] | None = None,
        wait_running: float = 600,
    ) -> dict[str, Any] | None:
        """``POST /backfills`` for the logical dates ``from_date``..``to_date`` (inclusive).
        None when there is nothing to create (every run exists and ``reprocess`` is "none").
        While another backfill of the DAG runs (409), waits up to ``wait_running`` s for it."""
        body: dict[str, Any] = {
            "dag_id": dag_id,
            "from_date": iso(from_date),
            "to_date": iso(to_date),
            "reprocess_behavior": reprocess,
            "max_active_runs": max_active_runs,
        }
        if conf is not None:
            body["dag_run_conf"] = conf
        for attempt in (1, 2):
            try:
                backfill: dict[str, Any] = self.request("POST", "backfills", json=body)
            except AirflowError as exc:
                if "No runs to create" in str(exc) or "NoBackfillRunsToCreate" in str(exc):
                    return None
                if ": 409 " in str(exc) and attempt == 1:
                    # One backfill per DAG at a time; the scheduler marks a finished one
                    # complete every 30 s.
                    self.wait_backfills_complete(dag_id, timeout=wait_running)
                    continue
                raise
            return backfill
        raise AssertionError("unreachable")

    def backfills(self, dag_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("backfills", dag_id=dag_id, limit=100)["backfills"]
        return found

    def wait_backfills_complete(self, dag_id: str, timeout: float = 600) -> None:
        """Wait until no backfill of ``dag_id`` is running (all its runs finished, and the
        scheduler marked it complete)."""

        def probe() -> bool | None:
            running = [b for b in self.backfills(dag_id) if not b["completed_at"]]
            return True if not running else None

        wait_for(f"the backfills of {dag_id} to complete", probe, timeout, interval=2)

    def trigger(
        self,
        dag_id: str,
        *,
        run_id: str | None = None,
        logical_date: datetime | None = None,
        data_interval: tuple[datetime, datetime] | None = None,
        conf: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``POST /dags/{dag_id}/dagRuns`` (a manual run); without ``data_interval`` Airflow
        infers one from the logical date and the timetable."""
        body: dict[str, Any] = {"logical_date": iso(logical_date) if logical_date else None}
        if run_id:
            body["dag_run_id"] = run_id
        if data_interval:
            body["data_interval_start"], body["data_interval_end"] = map(iso, data_interval)
        if conf is not None:
            body["conf"] = conf
        run: dict[str, Any] = self.request("POST", f"dags/{dag_id}/dagRuns", json=body)
        return run

    def dag_runs(
        self, dag_id: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Runs of ``dag_id``, oldest logical date first, optionally with logical dates in
        [start, end]."""
        params: dict[str, Any] = {"limit": 100, "order_by": "logical_date"}
        if start:
            params["logical_date_gte"] = iso(start)
        if end:
            params["logical_date_lte"] = iso(end)
        runs: list[dict[str, Any]] = self.get(f"dags/{dag_id}/dagRuns", **params)["dag_runs"]
        return runs

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.get(f"dags/{dag_id}/dagRuns/{run_id}")
        return run

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        tis: list[dict[str, Any]] = self.get(
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100
        )["task_instances"]
        return tis

    def wait_runs(
        self,
        dag_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        run_ids: Iterable[str] = (),
        expect: int | None = None,
        timeout: float = 600,
        progress: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until the runs (those named, else those with logical dates in [start, end]; at
        least ``expect`` of them) are all finished; returns them."""
        wanted = set(run_ids)
        seen: list[dict[str, Any]] = []

        def probe() -> list[dict[str, Any]] | None:
            if wanted:
                runs = [self.dag_run(dag_id, r) for r in sorted(wanted)]
            else:
                runs = self.dag_runs(dag_id, start=start, end=end)
            seen[:] = runs
            if progress:
                progress(runs)
            if any(r["state"] == "queued" for r in runs) and (self.dag(dag_id) or {}).get(
                "is_paused"
            ):
                raise DagProblem(f"{dag_id} is paused: its queued runs will not start")
            if expect is not None and len(runs) < expect:
                return None
            return runs if all(r["state"] in FINISHED_RUN_STATES for r in runs) else None

        try:
            return wait_for(f"runs of {dag_id} to finish", probe, timeout, interval=2)
        except AirflowError as exc:
            # Which task each unfinished run is stuck on: what a timeout report needs first.
            unfinished = [r for r in seen if r["state"] not in FINISHED_RUN_STATES]
            try:
                detail = "; ".join(describe_run(self, dag_id, r) for r in unfinished)
            except (requests.RequestException, AirflowError) as error:
                detail = f"(task states unavailable: {error})"
            raise AirflowError(f"{exc}; unfinished: {detail or 'none seen'}") from exc

    def wait_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        timeout: float = 300,
    ) -> dict[str, Any]:
        wanted = set(states)

        def probe() -> dict[str, Any] | None:
            for ti in self.task_instances(dag_id, run_id):
                if ti["task_id"] == task_id and ti["state"] in wanted:
                    return ti
            return None

        return wait_for(f"{dag_id}/{run_id}/{task_id} in {sorted(wanted)}", probe, timeout, 0.5)


def describe_run(api: Airflow, dag_id: str, run: dict[str, Any]) -> str:
    tis = sorted(api.task_instances(dag_id, run["dag_run_id"]), key=lambda t: t["start_date"] or "")
    tasks = " ".join(f"{t['task_id']}={t['state']}" for t in tis)
    took = ""
    if run.get("start_date") and run.get("end_date"):
        seconds = (
            datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])
        ).total_seconds()
        took = f" {seconds:5.1f}s"
    day = (run.get("logical_date") or run.get("run_after") or "")[:10]
    return f"{day}  {run['state']:<8}{took}  {run['dag_run_id']}  {tasks}"


def _backfill_command(api: Airflow, args: argparse.Namespace) -> int:
    api.wait_healthy(args.timeout)
    api.wait_dag(args.dag_id, args.timeout)
    api.set_paused(args.dag_id, False)
    for other in args.unpause:  # e.g. redfeed_replay, ready to trigger from the UI
        if api.dag(other) is not None:
            api.set_paused(other, False)
    # The last complete daily intervals: logical dates (interval starts) up to yesterday.
    start, end = midnight(-args.days), midnight(-1)
    created = api.backfill(args.dag_id, start, end, max_active_runs=args.max_active_runs)
    if created is None:
        print(
            f"backfill: every run from {start:%Y-%m-%d} to {end:%Y-%m-%d} exists", file=sys.stderr
        )
    else:
        print(
            f"backfill {created['id']}: {args.dag_id} {start:%Y-%m-%d} .. {end:%Y-%m-%d}",
            file=sys.stderr,
        )
    began = time.monotonic()
    seen: dict[str, str] = {}

    def progress(runs: list[dict[str, Any]]) -> None:
        for run in runs:
            if seen.get(run["dag_run_id"]) != run["state"]:
                seen[run["dag_run_id"]] = run["state"]
                print(
                    f"  {time.monotonic() - began:6.1f}s  {run['dag_run_id']}: {run['state']}",
                    file=sys.stderr,
                )

    runs = api.wait_runs(
        args.dag_id,
        start=start,
        end=end,
        expect=args.days,
        timeout=args.timeout,
        progress=progress,
    )
    for run in runs:
        print(describe_run(api, args.dag_id, run))
    return 0 if all(r["state"] == "success" for r in runs) else 1


def _run_command(api: Airflow, args: argparse.Namespace) -> int:
    """Unpause ``dag_id``, trigger one manual run, wait for it, report. ``--yesterday``: the run's
    logical date is yesterday 12:00 UTC (Airflow infers the data interval from the timetable:
    the last complete one), else it has none."""
    api.wait_healthy(args.timeout)
    api.wait_dag(args.dag_id, args.timeout)
    api.set_paused(args.dag_id, False)
    # Noon: unpausing a DAG creates a scheduled run whose logical date may be midnight, and
    # logical dates are unique per DAG.
    logical_date = midnight(-1) + timedelta(hours=12) if args.yesterday else None
    run_id = api.trigger(args.dag_id, logical_date=logical_date)["dag_run_id"]
    print(f"triggered {args.dag_id} {run_id}", file=sys.stderr)

    def finished() -> dict[str, Any] | None:
        run = api.dag_run(args.dag_id, run_id)
        return run if run["state"] in ("success", "failed") else None

    run = wait_for(f"{args.dag_id} {run_id}", finished, args.timeout)
    print(describe_run(api, args.dag_id, run))
    return 0 if run["state"] == "success" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the api-server, e.g. http://127.0.0.1:18080")
    parser.add_argument("--timeout", type=float, default=600)
    commands = parser.add_subparsers(dest="command", required=True)
    backfill = commands.add_parser("backfill", help="unpause, backfill the last days, wait, report")
    backfill.add_argument("dag_id")
    backfill.add_argument("--days", type=int, default=3)
    backfill.add_argument("--max-active-runs", type=int, default=3)
    backfill.add_argument("--unpause", nargs="*", default=[], help="more DAGs to unpause")
    run = commands.add_parser("run", help="unpause, trigger one run now, wait, report")
    run.add_argument("dag_id")
    run.add_argument(
        "--yesterday", action="store_true", help="logical date: yesterday 12:00 UTC (default none)"
    )
    args = parser.parse_args(argv)
    user = os.environ.get("REDFEED_AIRFLOW_USER", "admin")
    password = os.environ.get("REDFEED_AIRFLOW_PASSWORD", "")
    if not password:
        parser.error("REDFEED_AIRFLOW_PASSWORD is not set")
    api = Airflow(args.url, user, password)
    try:
        if args.command == "run":
            return _run_command(api, args)
        return _backfill_command(api, args)
    except (AirflowError, DagProblem) as exc:
        print(f"airflow_api: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
