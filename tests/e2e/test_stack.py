"""The whole pipeline on the compose stack (CeleryExecutor, 2 workers), through Airflow's REST API:
a 3-day backfill, the same with the feed switched to latest_only, a replay, then a worker stopped
(warm shutdown) and a worker killed in the middle of a run; last, every other feed and the
conference cross-reference. The tests run in file order on one
stack, each starting from the state the previous one left (an end-to-end story, not units)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.e2e.stack import DOCKER, REPO, Airflow, Stack, wait_for

DAG = "feed_confs_tech"
REPLAY = "redfeed_replay"
FEED = "confs-tech"
TABLE = "conferences"
FEED_TASKS = ("extract", "load", "verify")


# ------------------------------------------------------------------------------ helpers
def day(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d")


def states(api: Airflow, dag_id: str, run_id: str) -> dict[str, str]:
    """task id -> state (mapped tasks: the set of their states, joined)."""
    found: dict[str, set[str]] = {}
    for ti in api.task_instances(dag_id, run_id):
        found.setdefault(ti["task_id"], set()).add(str(ti["state"]))
    return {task: ",".join(sorted(s)) for task, s in found.items()}


def snapshots(stack: Stack) -> list[tuple[str, str, int]]:
    """(interval, batch id, rows) of every snapshot in the warehouse table."""
    rows = stack.sql(
        f"SELECT to_char(_interval_start, 'YYYY-MM-DD'), _batch_id, count(*) FROM {TABLE} "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [(interval, batch, int(count)) for interval, batch, count in rows]


def contents(stack: Stack) -> dict[str, str]:
    """interval -> digest of its rows, every column but the load time."""
    rows = stack.sql(
        "SELECT to_char(_interval_start, 'YYYY-MM-DD'), "
        "md5(string_agg((to_jsonb(c) - '_loaded_at')::text, '|' ORDER BY (to_jsonb(c) - "
        f"'_loaded_at')::text)) FROM {TABLE} c GROUP BY 1"
    )
    return {interval: digest for interval, digest in rows}


def current_ledger(stack: Stack) -> list[tuple[str, ...]]:
    """Per partition, what the latest `loaded` ledger row says it holds."""
    return stack.sql(
        "SELECT DISTINCT ON (interval_start, table_name) to_char(interval_start, 'YYYY-MM-DD'), "
        "table_name, run_id, manifest_sha256, rows_in, rows_loaded, rows_rejected "
        "FROM redfeed_loads WHERE status = 'loaded' "
        "ORDER BY interval_start, table_name, finished_at DESC"
    )


def loaded_ledger(stack: Stack) -> list[tuple[str, ...]]:
    """Every `loaded` ledger row: what has ever been written to the warehouse."""
    return stack.sql(
        "SELECT load_id, to_char(interval_start, 'YYYY-MM-DD'), table_name, run_id, rows_in, "
        "rows_loaded, rows_rejected FROM redfeed_loads WHERE status = 'loaded' ORDER BY load_id"
    )


def expected_rows(stack: Stack, interval_start: datetime) -> int:
    """Records one confs.tech run of this interval scrapes from the demo data: every entry of
    every topic file of the years the spider fetches."""
    from redfeed.feeds.confs_tech import years_for
    from redfeed.orchestration.registry import load_registry

    spec = next(f for f in load_registry(stack.dags_dir / "feeds.yaml").feeds if f.name == FEED)
    ahead = int(spec.extract_env().get("REDFEED_YEARS_AHEAD", "0"))
    years = years_for(interval_start, interval_start + timedelta(days=1), ahead)
    root = stack.data_dir / "confs-tech" / "conferences"
    return sum(
        len(json.loads(path.read_text())) for y in years for path in (root / str(y)).glob("*.json")
    )


def reconcile(stack: Stack) -> None:
    """The ledger says what the warehouse holds, and it adds up with the archive: per partition,
    the latest `loaded` row names the one batch in the table, with rows_loaded rows, and the
    batch's manifest records = rows_loaded + rows_rejected."""
    current = stack.sql(
        "SELECT DISTINCT ON (interval_start, table_name) to_char(interval_start, 'YYYY-MM-DD'), "
        "table_name, run_id, rows_in, rows_loaded, rows_rejected, manifest_url FROM redfeed_loads "
        "WHERE status = 'loaded' AND feed = 'confs-tech' "
        "ORDER BY interval_start, table_name, finished_at DESC"
    )
    in_table = {(i, b): n for i, b, n in snapshots(stack)}
    assert {i for i, _ in in_table} == {row[0] for row in current}
    s3 = stack.s3()
    for interval, table, run_id, rows_in, rows_loaded, rows_rejected, manifest_url in current:
        assert table == TABLE
        batches = {b: n for (i, b), n in in_table.items() if i == interval}
        assert batches == {run_id: int(rows_loaded)}, (
            f"{interval}: table {batches}, ledger {run_id}"
        )
        assert int(rows_in) == int(rows_loaded) + int(rows_rejected)
        url = urlparse(manifest_url)
        manifest = json.loads(
            s3.get_object(Bucket=url.netloc, Key=url.path.lstrip("/"))["Body"].read()
        )
        assert manifest["run_id"] == run_id
        assert manifest["records"] == int(rows_in), f"{interval}: manifest {manifest['records']}"


def wait_rerun(
    api: Airflow, run_ids: list[str], since: datetime, marker: str, timeout: float = 400
) -> list[dict[str, Any]]:
    """Wait until each run was re-run after ``since`` (its ``marker`` task finished) and is done."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [api.dag_run(DAG, r) for r in run_ids]
        done = all(r["state"] in ("success", "failed") for r in runs)
        if done and all(
            any(
                ti["task_id"] == marker
                and ti["end_date"]
                and datetime.fromisoformat(ti["end_date"]) > since
                for ti in api.task_instances(DAG, r["dag_run_id"])
            )
            for r in runs
        ):
            return runs
        if time.monotonic() > deadline:
            pytest.fail(
                f"runs not re-run after {timeout}s: {[(r['dag_run_id'], r['state']) for r in runs]}"
            )
        time.sleep(2)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def api(stack: Stack) -> Airflow:
    client = stack.airflow()
    client.wait_healthy(timeout=120)
    assert client.import_errors() == []
    client.wait_dag(DAG, timeout=120)
    client.wait_dag(REPLAY, timeout=60)
    return client


# ------------------------------------------------------------------------------ the story
def test_backfill_three_days(stack: Stack, api: Airflow, days: list[datetime]) -> None:
    api.set_paused(DAG, False)
    began = time.monotonic()
    api.backfill(DAG, days[0], days[-1], max_active_runs=3)
    runs = api.wait_runs(DAG, start=days[0], end=days[-1], expect=3, timeout=400)
    stack.log.append(
        f"backfill of 3 days, request to last success: {time.monotonic() - began:.0f}s"
    )

    assert [r["logical_date"][:10] for r in runs] == [day(d) for d in days]
    for run in runs:
        assert run["state"] == "success", (run["dag_run_id"], states(api, DAG, run["dag_run_id"]))
        assert states(api, DAG, run["dag_run_id"]) == dict.fromkeys(FEED_TASKS, "success")

    # Exactly one snapshot per scraped day, the run's own, with every record of the demo data.
    found = snapshots(stack)
    assert [interval for interval, _, _ in found] == [day(d) for d in days]
    run_of = {r["logical_date"][:10]: r["dag_run_id"] for r in runs}
    for interval, batch, count in found:
        assert batch == run_of[interval]
        assert count == expected_rows(stack, datetime.fromisoformat(interval + "T00:00:00+00:00"))
    reconcile(stack)


def test_latest_only_backfill_skips_older_intervals(
    stack: Stack, api: Airflow, days: list[datetime]
) -> None:
    before, rows_before, ledger_before = snapshots(stack), contents(stack), loaded_ledger(stack)
    registry = stack.dags_dir / "feeds.yaml"
    text = registry.read_text()
    assert "    latest_only: false\n" in text
    registry.write_text(text.replace("    latest_only: false\n", "    latest_only: true\n"))

    def has_latest_only() -> bool | None:
        tasks = api.get(f"dags/{DAG}/tasks")["tasks"]
        return True if any(t["task_id"] == "latest_only" for t in tasks) else None

    wait_for("the DAG to be re-parsed with latest_only", has_latest_only, timeout=120, interval=2)

    since = datetime.now().astimezone()
    api.backfill(DAG, days[0], days[-1], reprocess="completed", max_active_runs=3)
    run_ids = [r["dag_run_id"] for r in api.dag_runs(DAG, start=days[0], end=days[-1])]
    began = time.monotonic()
    runs = wait_rerun(api, run_ids, since, marker="latest_only")
    stack.log.append(f"latest-only backfill of 3 days: {time.monotonic() - began:.0f}s")

    *older, latest = runs
    for run in older:
        assert run["state"] == "success"
        assert states(api, DAG, run["dag_run_id"]) == {
            "latest_only": "success",
            **dict.fromkeys(FEED_TASKS, "skipped"),
        }
    assert latest["logical_date"][:10] == day(days[-1])
    assert latest["state"] == "success"
    assert states(api, DAG, latest["dag_run_id"]) == {
        "latest_only": "success",
        **dict.fromkeys(FEED_TASKS, "success"),
    }
    # The same run id again: the batch is the one committed before, and it is loaded already.
    assert snapshots(stack) == before
    assert contents(stack) == rows_before
    assert loaded_ledger(stack) == ledger_before
    reconcile(stack)


def test_replay_changes_nothing(stack: Stack, api: Airflow, days: list[datetime]) -> None:
    before, rows_before = snapshots(stack), contents(stack)
    ledger_before, current_before = loaded_ledger(stack), current_ledger(stack)
    api.set_paused(REPLAY, False)
    run = api.trigger(
        REPLAY,
        run_id=f"e2e_replay_{int(time.time())}",
        conf={"feed": FEED, "start": day(days[0]), "end": day(days[-1])},
    )
    began = time.monotonic()
    [done] = api.wait_runs(REPLAY, run_ids=[run["dag_run_id"]], timeout=400)
    stack.log.append(f"replay of 3 days: {time.monotonic() - began:.0f}s")
    found = states(api, REPLAY, run["dag_run_id"])
    assert done["state"] == "success", found
    assert found == {"find_batches": "success", "load": "success", "verify": "success"}
    mapped = [ti for ti in api.task_instances(REPLAY, run["dag_run_id"]) if ti["task_id"] == "load"]
    assert len(mapped) == len(days)  # one load per archived batch
    # The replay re-loads each batch (that is what it is for: re-run a fixed loader on old
    # inputs), replacing its partition exactly once: same batches, same rows, same ledger state.
    assert snapshots(stack) == before
    assert contents(stack) == rows_before
    assert current_ledger(stack) == current_before
    replayed = [row for row in loaded_ledger(stack) if row not in ledger_before]
    assert sorted(row[1] for row in replayed) == [day(d) for d in days]
    reconcile(stack)


def catch_extract_running(
    stack: Stack, api: Airflow, start: datetime, label: str
) -> tuple[dict[str, str], str, str, str]:
    """Trigger a run for the day at ``start`` and wait until a worker runs its extract:
    (workers by hostname, run id, that worker's hostname, the other worker's hostname)."""
    workers = stack.worker_hostnames()
    assert len(workers) == 2
    run = api.trigger(
        DAG,
        run_id=f"e2e_worker_{label}_{int(time.time())}",
        logical_date=start,
        data_interval=(start, start + timedelta(days=1)),
    )
    run_id = run["dag_run_id"]
    extract = api.wait_task_state(DAG, run_id, "extract", {"running"}, timeout=180)
    victim_host = extract["hostname"]
    assert victim_host in workers, (victim_host, workers)
    [survivor_host] = set(workers) - {victim_host}
    return workers, run_id, victim_host, survivor_host


def test_run_completes_when_a_worker_stops_mid_run(
    stack: Stack, api: Airflow, days: list[datetime]
) -> None:
    start = days[0] - timedelta(days=1)
    workers, run_id, victim_host, survivor_host = catch_extract_running(stack, api, start, "stop")

    # `docker stop`: SIGTERM, a warm shutdown. The worker takes no new task and finishes the one
    # it runs; what is left of the run goes to the other worker.
    stopping = threading.Thread(
        target=subprocess.run,
        args=([DOCKER, "stop", "-t", "120", workers[victim_host]],),
        kwargs={"capture_output": True, "check": False},
    )
    stopped_at = time.monotonic()
    stopping.start()
    [done] = api.wait_runs(DAG, run_ids=[run_id], timeout=400)
    stopping.join(timeout=150)
    by_task = {ti["task_id"]: ti for ti in api.task_instances(DAG, run_id)}
    where = {
        t: "stopped" if ti["hostname"] == victim_host else "other" for t, ti in by_task.items()
    }
    stack.log.append(
        f"run with a worker stopped mid-extract: done {time.monotonic() - stopped_at:.0f}s later; "
        + ", ".join(f"{t} try {ti['try_number']} on {where[t]}" for t, ti in by_task.items())
    )
    assert done["state"] == "success", {t: ti["state"] for t, ti in by_task.items()}
    # latest_only (on since the test above) lets manual runs through.
    assert {t: by_task[t]["state"] for t in FEED_TASKS} == dict.fromkeys(FEED_TASKS, "success")
    assert by_task["load"]["hostname"] == survivor_host
    assert by_task["verify"]["hostname"] == survivor_host
    assert stack.inspect(workers[victim_host], "{{.State.Status}}") == "exited"

    found = [s for s in snapshots(stack) if s[0] == day(start)]
    assert found == [(day(start), run_id, expected_rows(stack, start))]
    reconcile(stack)


def test_task_is_retried_on_the_other_worker_when_its_worker_dies(
    stack: Stack, api: Airflow, days: list[datetime]
) -> None:
    stack.compose("up", "-d", "--scale", "airflow-worker=2")  # brings the stopped one back
    stack.wait_healthy(timeout=180)
    start = days[0] - timedelta(days=2)
    workers, run_id, victim_host, survivor_host = catch_extract_running(stack, api, start, "kill")

    # SIGKILL: no warm shutdown, the task dies with its worker. The scheduler notices the missing
    # heartbeats (REDFEED_TASK_HEARTBEAT_TIMEOUT) and retries the task, on the other worker; the
    # retry under the same run id reports the batch the first try committed, or commits it.
    killed_at = time.monotonic()
    subprocess.run([DOCKER, "kill", workers[victim_host]], capture_output=True, check=True)
    [done] = api.wait_runs(DAG, run_ids=[run_id], timeout=400)
    by_task = {ti["task_id"]: ti for ti in api.task_instances(DAG, run_id)}
    stack.log.append(
        f"run with a worker killed mid-extract: done {time.monotonic() - killed_at:.0f}s later; "
        + ", ".join(f"{t} try {ti['try_number']}" for t, ti in by_task.items())
    )
    assert done["state"] == "success", {t: ti["state"] for t, ti in by_task.items()}
    assert {t: by_task[t]["state"] for t in FEED_TASKS} == dict.fromkeys(FEED_TASKS, "success")
    assert by_task["extract"]["try_number"] >= 2
    assert {by_task[t]["hostname"] for t in FEED_TASKS} == {survivor_host}

    found = [s for s in snapshots(stack) if s[0] == day(start)]
    assert found == [(day(start), run_id, expected_rows(stack, start))]
    reconcile(stack)


def test_the_same_interval_triggered_twice_at_once_holds_one_batch(
    stack: Stack, api: Airflow, days: list[datetime]
) -> None:
    """Two runs of one interval at once: two batches are archived, the loads serialize on the
    partition's lock, and the partition ends up holding exactly one of them, as the ledger says.
    A run whose batch lost the race fails with a clear reason (its older batch is refused, or
    its verify finds the partition holds the other run): never a mix of both."""
    stack.compose("up", "-d", "--scale", "airflow-worker=2")  # the killed worker comes back
    stack.wait_healthy(timeout=180)
    start = days[0] - timedelta(days=3)
    interval = (start, start + timedelta(days=1))
    stamp = int(time.time())
    # Airflow keeps logical dates unique per DAG: the second run is one second later, with
    # the same data interval (what the tasks use), e.g. a manual run beside a scheduled one.
    run_ids = [
        api.trigger(DAG, run_id=f"e2e_twice_{side}_{stamp}",
                    logical_date=start + timedelta(seconds=offset),
                    data_interval=interval)["dag_run_id"]
        for side, offset in (("a", 0), ("b", 1))
    ]  # fmt: skip
    runs = api.wait_runs(DAG, run_ids=run_ids, timeout=400)
    outcome = {r["dag_run_id"]: states(api, DAG, r["dag_run_id"]) for r in runs}
    assert any(r["state"] == "success" for r in runs), outcome
    for run in runs:
        if run["state"] != "success":
            tasks = outcome[run["dag_run_id"]]
            assert tasks["extract"] == "success", outcome
            assert (tasks["load"], tasks["verify"]) in (
                ("failed", "upstream_failed"),
                ("success", "failed"),
            ), outcome

    [(_, batch, rows)] = [s for s in snapshots(stack) if s[0] == day(start)]
    assert batch in run_ids
    assert rows == expected_rows(stack, start)
    refused = stack.sql(
        "SELECT run_id, error FROM redfeed_loads WHERE status = 'failed' "
        f"AND interval_start = '{day(start)}'"
    )
    assert all("older" in error or "REDFEED_REPLAY" in error for _, error in refused), refused
    reconcile(stack)
    stack.log.append(f"same interval twice at once: {outcome}")


@pytest.mark.timeout(900)  # longer than the waits below: their own timeouts say what is stuck
def test_the_scheduler_restarted_during_a_backfill_changes_nothing(
    stack: Stack, api: Airflow, days: list[datetime]
) -> None:
    """The scheduler restarts while a backfill runs: the backfill resumes and every interval
    ends up with exactly its one batch. A task the old scheduler queued but had not yet sent
    waits for the queued timeout (the next test makes that case happen every time)."""
    # The registry as shipped again (the latest_only step above switched the feeds).
    (stack.dags_dir / "feeds.yaml").write_text((REPO / "dags" / "feeds.yaml").read_text())

    def reparsed() -> bool | None:
        tasks = api.get(f"dags/{DAG}/tasks")["tasks"]
        return None if any(t["task_id"] == "latest_only" for t in tasks) else True

    wait_for("the DAG re-parsed without latest_only", reparsed, timeout=120, interval=2)
    first, last = days[0] - timedelta(days=7), days[0] - timedelta(days=5)
    api.backfill(DAG, first, last, max_active_runs=3)

    def running() -> bool | None:
        runs = api.dag_runs(DAG, start=first, end=last)
        return True if any(r["state"] == "running" for r in runs) else None

    wait_for("a backfill run to start", running, timeout=180)
    restarted_at = time.monotonic()
    stack.compose("restart", "-t", "10", "airflow-scheduler")
    runs = api.wait_runs(DAG, start=first, end=last, expect=3, timeout=480)
    stack.log.append(
        f"scheduler restarted mid-backfill: runs done {time.monotonic() - restarted_at:.0f}s later"
    )
    assert [r["state"] for r in runs] == ["success"] * 3, [
        (r["dag_run_id"], states(api, DAG, r["dag_run_id"])) for r in runs
    ]
    for run in runs:
        assert states(api, DAG, run["dag_run_id"]) == dict.fromkeys(FEED_TASKS, "success")
    for run in runs:
        interval = datetime.fromisoformat(run["logical_date"])
        found = [s for s in snapshots(stack) if s[0] == day(interval)]
        assert found == [(day(interval), run["dag_run_id"], expected_rows(stack, interval))]
    reconcile(stack)


def test_a_task_queued_but_never_sent_runs_after_the_queued_timeout(
    stack: Stack, api: Airflow, days: list[datetime]
) -> None:
    """Airflow commits a task as queued, then hands it to Celery: a scheduler stopped in between
    leaves a queued task that no worker will ever get. Made to happen here: the scheduler is
    stopped, and the metadata DB is set as it would have left it. The next scheduler adopts the
    task, finds no Celery task behind it, and queues it again after the queued timeout; the run
    ends with its one batch."""
    start = days[0] - timedelta(days=10)
    stack.compose("stop", "-t", "10", "airflow-scheduler")
    try:
        run_id = api.trigger(
            DAG,
            run_id=f"e2e_never_sent_{int(time.time())}",
            logical_date=start,
            data_interval=(start, start + timedelta(days=1)),
        )["dag_run_id"]
        where = f"dag_id = '{DAG}' AND run_id = '{run_id}'"
        # No scheduler runs now: one that `stop` had to kill still looks alive (its job row).
        [(celery_id,)] = stack.sql(
            "UPDATE job SET state = 'success', end_date = now()"
            " WHERE job_type = 'SchedulerJob' AND state = 'running';"
            f" UPDATE dag_run SET state = 'running', start_date = now() WHERE {where};"
            " UPDATE task_instance SET state = 'queued', queued_dttm = now(), try_number = 1,"
            " external_executor_id = gen_random_uuid()::text, queued_by_job_id ="
            " (SELECT max(id) FROM job WHERE job_type = 'SchedulerJob')"
            f" WHERE {where} AND task_id = 'extract' RETURNING external_executor_id",
            database="airflow",
        )
    finally:
        started = time.monotonic()
        stack.compose("start", "airflow-scheduler")
    [done] = api.wait_runs(DAG, run_ids=[run_id], timeout=400)
    stack.log.append(
        f"task queued but never sent: run done {time.monotonic() - started:.0f}s after the"
        " scheduler started"
    )
    assert done["state"] == "success", states(api, DAG, run_id)
    assert states(api, DAG, run_id) == dict.fromkeys(FEED_TASKS, "success")
    # Adopted with no Celery task behind it, then queued again by the timeout (Airflow's logs).
    logs = stack.compose("logs", "--no-color", "airflow-scheduler").splitlines()
    mine = [line for line in logs if f"extract {run_id} " in line]
    assert any("in state PENDING" in line for line in mine), f"Celery task {celery_id} not adopted"
    assert any("stuck in queued" in line for line in mine), "not queued again by the timeout"

    found = [s for s in snapshots(stack) if s[0] == day(start)]
    assert found == [(day(start), run_id, expected_rows(stack, start))]
    reconcile(stack)


def test_every_feed_then_the_cross_reference(
    stack: Stack, api: Airflow, days: list[datetime]
) -> None:
    """The other feeds of the registry for the last day, in dependency order (home pages read
    the listing feeds' batches), then redfeed_xref: EuroPython, listed by every source of the
    demo data, is one conference with its talks."""
    stack.compose("up", "-d", "--scale", "airflow-worker=2")  # the killed worker comes back
    stack.wait_healthy(timeout=180)
    began = time.monotonic()
    from redfeed.orchestration.registry import load_registry

    # As make demo does: the listing feeds first (home pages read their batches); a latest_only
    # feed gets one manual run for yesterday (its backfill runs of past intervals would skip).
    feeds = sorted(
        (f for f in load_registry(stack.dags_dir / "feeds.yaml").feeds if f.dag_id != DAG),
        key=lambda f: f.latest_only,
    )
    assert [f.name for f in feeds][:1] == ["python-organizers"]
    for feed in feeds:
        api.wait_dag(feed.dag_id, timeout=60)
        api.set_paused(feed.dag_id, False)
        if feed.latest_only:
            # Noon: a logical date no scheduled run has (unpausing creates one for midnight).
            noon = days[-1] + timedelta(hours=12)
            run_id = api.trigger(feed.dag_id, logical_date=noon)["dag_run_id"]
            [run] = api.wait_runs(feed.dag_id, run_ids=[run_id], timeout=300)
        else:
            api.backfill(feed.dag_id, days[-1], days[-1], max_active_runs=1)
            [run] = api.wait_runs(feed.dag_id, start=days[-1], end=days[-1], expect=1, timeout=300)
        tasks = states(api, feed.dag_id, run["dag_run_id"])
        assert run["state"] == "success", (feed.dag_id, tasks)
        assert {t: tasks[t] for t in FEED_TASKS} == dict.fromkeys(FEED_TASKS, "success")

    api.set_paused("redfeed_xref", False)
    run_id = api.trigger("redfeed_xref")["dag_run_id"]

    def finished() -> dict[str, Any] | None:
        run = api.dag_run("redfeed_xref", run_id)
        return run if run["state"] in ("success", "failed") else None

    done = wait_for("redfeed_xref", finished, timeout=300)
    assert done["state"] == "success", states(api, "redfeed_xref", run_id)
    stack.log.append(f"three more feeds and the cross-reference: {time.monotonic() - began:.0f}s")

    year = days[-1].year
    [(conference_id, sources)] = stack.sql(
        f"SELECT conference_id, sources FROM conference WHERE name = 'EuroPython' AND year = {year}"
    )
    assert sources == "confs-tech,python-organizers,pretalx,homepages"
    talks = json.loads(
        (
            stack.data_dir / "pretalx" / "api" / "events" / f"europython-{year}" / "talks.json"
        ).read_text()
    )
    [(count,)] = stack.sql(
        "SELECT count(DISTINCT talk_code) FROM conference_talks "
        f"WHERE conference_id = {int(conference_id)}"
    )
    assert int(count) == len(talks)
    # Every load of every feed reconciles: rows in = loaded + rejected.
    assert (
        stack.sql(
            "SELECT feed, table_name FROM redfeed_loads WHERE status = 'loaded' "
            "AND rows_in <> rows_loaded + rows_rejected"
        )
        == []
    )


def test_no_secret_reaches_logs_xcoms_rendered_fields_or_the_archive(
    stack: Stack, api: Airflow
) -> None:
    """Credentials reach task containers only through private_environment: the warehouse
    password and the S3 secret key (a canary) are in no task log, XCom, rendered template
    field or archived object, after every run of this stack."""
    canaries = [
        stack.settings["REDFEED_WAREHOUSE_DB_PASSWORD"],
        stack.settings["REDFEED_S3_SECRET_ACCESS_KEY"],
    ]
    assert all(len(c) >= 16 for c in canaries)

    # Task logs, as the workers wrote them (the shared logs volume).
    for canary in canaries:
        found = stack.compose(
            "exec", "-T", "airflow-worker", "grep", "-rlF", canary, "/opt/airflow/logs",
            check=False,
        )  # fmt: skip
        assert found.strip() == "", f"a task log holds a secret: {found[:500]}"

    # Task instances (rendered fields included) and XComs of every run.
    scanned = 0
    for dag in api.get("dags", limit=100)["dags"]:
        dag_id = dag["dag_id"]
        for run in api.get(f"dags/{dag_id}/dagRuns", limit=100)["dag_runs"]:
            run_id = run["dag_run_id"]
            for ti in api.task_instances(dag_id, run_id):
                documents = [json.dumps(ti)]
                path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}"
                xcoms = api.get(f"{path}/xcomEntries", map_index=ti["map_index"])
                documents.append(json.dumps(xcoms))
                for document in documents:
                    scanned += 1
                    assert not [c for c in canaries if c in document], (dag_id, run_id, ti)
    assert scanned > 50

    # Every archived object: manifests, parts, rejects, COPY manifests, JSONPaths files.
    import gzip

    s3 = stack.s3()
    objects = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="redfeed-archive"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket="redfeed-archive", Key=item["Key"])["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            objects += 1
            assert not [c for c in canaries if c.encode() in body], item["Key"]
    assert objects >= 10
    stack.log.append(f"secret canaries: {scanned} TI/XCom documents, {objects} objects clean")
