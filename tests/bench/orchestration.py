"""Orchestration and scale-out on the compose stack (issue 7, parts 3 and 4), side by side in one
run on one stack (``make bench-orchestration``):

- per-task overhead: a task instance's duration in Airflow minus the ``elapsed_s`` of the process
  it ran (the contract's summary: process start to summary), i.e. what the Celery hand-off, the
  task runner, DockerOperator and the container around the process cost;
- trigger-to-success of one warm run of the registry's ``confs-tech`` feed (stack up, DAG
  parsed, images cached, worker idle), and where its seconds go;
- a backfill of N feeds x D days with 1 Celery worker, then (the stack scaled out) the same
  amount of work, other days, with 2 workers, the pair repeated (scaled in and out again) so that
  each wall time is a min and median of several: speed-up, runs per minute, failures.

The feeds are ``confs-tech-bench-<n>``: members of the confs-tech family (same image, spider and
table, their own partitions), each with its own source domain (a DNS alias of the one source
mirror, so Scrapy's per-domain politeness applies per feed, as with real sources), the mirror
adding a fixed latency to every request: scraping is I/O-bound, as it is for real. Every worker
has a fixed number of task slots (``AIRFLOW__CELERY__WORKER_CONCURRENCY``): 1 worker versus 2
models one machine versus two of the same size.

The stack is its own compose project (``redfeed_bench``, random ports; tests/e2e/stack.py) and is
always torn down (``down -v``) at the end. ``python -m tests.bench.orchestration [--quick]
[--output BENCHMARKS.md]`` prints the section and, with ``--output``, replaces it in that file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import psycopg
import yaml

from tests.e2e.stack import DOCKER, REPO, Airflow, Stack

PROJECT = os.environ.get("REDFEED_BENCH_PROJECT", "redfeed_bench")
IMAGES = (
    "redfeed/airflow",
    "redfeed/loader",
    "redfeed/postgres",
    "redfeed/redis",
    "redfeed/s3",
    "redfeed/source-mirror",
    "redfeed/scraper-confs-tech",
)
SECTION = "## Orchestration and scale-out: the compose stack"
#: Added by the mirror to every request (a remote source's round trip).
LATENCY_MS = 200
#: Celery task slots per worker: a "machine" of fixed capacity.
WORKER_SLOTS = 4
#: Each bench feed's politeness towards its own domain, as a real feed's registry entry has it.
POLITENESS = {"download_delay": 0.5, "download_timeout": 30, "concurrency": 2, "retry_times": 5}
#: Runs of one feed's backfill at once (the registry's max_active_runs for confs-tech).
BACKFILL_ACTIVE_RUNS = 3
TRIGGER_FEED = "confs-tech"
FINISHED = ("success", "failed")
TARGET_OVERHEAD_S = 2.0
TARGET_TRIGGER_S = 20.0
TARGET_SPEEDUP = 1.7


@dataclass(frozen=True)
class Plan:
    feeds: int
    days: int
    trigger_runs: int
    #: backfills with 1 worker and with 2, alternating (1, 2, 1, 2, ...)
    repeats: int = 1

    @property
    def names(self) -> list[str]:
        return [f"confs-tech-bench-{n}" for n in range(1, self.feeds + 1)]


FULL = Plan(feeds=8, days=7, trigger_runs=3, repeats=3)
QUICK = Plan(feeds=2, days=2, trigger_runs=1)


# ------------------------------------------------------------------------------ measurements
@dataclass
class TaskTiming:
    """One task instance: Airflow's view (queued, start, end) and its process's own time."""

    dag_id: str
    run_id: str
    task_id: str
    state: str
    try_number: int
    hostname: str
    queued: datetime | None
    start: datetime | None
    end: datetime | None
    duration: float | None
    elapsed: float | None

    @property
    def overhead(self) -> float | None:
        if self.duration is None or self.elapsed is None:
            return None
        return self.duration - self.elapsed

    @property
    def queue_wait(self) -> float | None:
        if self.queued is None or self.start is None:
            return None
        return (self.start - self.queued).total_seconds()


@dataclass
class Backfill:
    workers: int
    feeds: int
    days: int
    wall_s: float
    runs: list[dict[str, Any]]
    tasks: list[TaskTiming]
    cpu_busy: float
    #: connections to the metadata DB at the busiest sample, by compose service
    db_connections: dict[str, int]
    load_average: float
    #: peak memory (MiB) per compose service during the backfill, from cgroup samples;
    #: the task containers DockerOperator starts are one entry (the largest of them)
    memory_mib: dict[str, float]
    #: CPU seconds per compose service during the backfill (a scaled service: its containers
    #: summed), the Docker engine's daemons, and the rest of the host's busy time (the task
    #: containers, this benchmark's polling, anything else on the machine)
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def peak_db_connections(self) -> int:
        return sum(self.db_connections.values())

    def peak_concurrent(self, task_id: str) -> int:
        """The most instances of ``task_id`` running at one moment."""
        edges = sorted(
            (instant, step)
            for t in self.tasks
            if t.task_id == task_id and t.start and t.end
            for instant, step in ((t.start, 1), (t.end, -1))
        )
        running = peak = 0
        for _, step in edges:
            running += step
            peak = max(peak, running)
        return peak

    @property
    def failed_runs(self) -> int:
        return sum(1 for r in self.runs if r["state"] != "success")

    @property
    def retried_tasks(self) -> int:
        return sum(1 for t in self.tasks if t.try_number > 1)

    @property
    def runs_per_minute(self) -> float:
        return len(self.runs) / (self.wall_s / 60)

    @property
    def slot_utilisation(self) -> float:
        """Task-seconds the workers ran over the slot-seconds they had."""
        busy = sum(t.duration or 0.0 for t in self.tasks)
        return busy / (self.workers * WORKER_SLOTS * self.wall_s)

    def tasks_per_worker(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.tasks:
            counts[t.hostname] = counts.get(t.hostname, 0) + 1
        return counts


@dataclass
class TriggerRun:
    seconds: float  # the POST to the run's end_date
    observed_s: float  # the POST to seeing it succeed (polled every 0.25 s)
    state: str
    tasks: list[TaskTiming]
    created: datetime
    end: datetime

    def breakdown(self) -> dict[str, float]:
        """Where the seconds went: scheduling before the first task, the processes themselves,
        the container/task overhead around them, and the hand-offs between tasks."""
        tasks = sorted(self.tasks, key=lambda t: t.start or self.end)
        first_start = tasks[0].start or self.end
        processes = sum(t.elapsed or 0.0 for t in tasks)
        overhead = sum(t.overhead or 0.0 for t in tasks)
        durations = sum(t.duration or 0.0 for t in tasks)
        total = (self.end - self.created).total_seconds()
        before = (first_start - self.created).total_seconds()
        return {
            "to first task start": before,
            "processes (elapsed_s)": processes,
            "task overhead": overhead,
            "between tasks and after the last": total - before - durations,
        }


@dataclass
class Report:
    plan: Plan
    stack_up_s: float
    triggers: list[TriggerRun]
    backfills: list[Backfill]
    db: dict[str, Any] = field(default_factory=dict)
    rows_ok: bool = True
    rows_note: str = ""
    airflow_version: str = "?"
    trigger_load_average: float = 0.0


def parse_instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def xcom_summary(api: Airflow, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
    """The task's XCom: the contract's summary (a dict), or None."""
    path = (
        f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
        "/xcomEntries/return_value"
    )
    try:
        value = api.get(path)["value"]
    except Exception:  # no XCom (a failed or skipped task): no timing
        return None
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def task_timings(api: Airflow, dag_id: str, run_id: str) -> list[TaskTiming]:
    found = []
    for ti in api.task_instances(dag_id, run_id):
        summary = xcom_summary(api, dag_id, run_id, ti["task_id"]) if ti["state"] else None
        elapsed = (summary or {}).get("elapsed_s")
        found.append(
            TaskTiming(
                dag_id=dag_id,
                run_id=run_id,
                task_id=ti["task_id"],
                state=str(ti["state"]),
                try_number=int(ti.get("try_number") or 0),
                hostname=str(ti.get("hostname") or ""),
                queued=parse_instant(ti.get("queued_when")),
                start=parse_instant(ti.get("start_date")),
                end=parse_instant(ti.get("end_date")),
                duration=ti.get("duration"),
                elapsed=float(elapsed) if isinstance(elapsed, int | float) else None,
            )
        )
    return found


def service_cpu(project: str) -> dict[str, float]:
    """CPU seconds each compose service's containers have used since they started (Docker's
    cumulative ``cpu_usage``), and the Docker engine's daemons' (``/proc/<pid>/stat``)."""
    import docker

    client = docker.from_env()
    found: dict[str, float] = {}
    for c in client.containers.list(filters={"label": f"com.docker.compose.project={project}"}):
        service = c.labels.get("com.docker.compose.service", c.name)
        usage = c.stats(stream=False, one_shot=True)["cpu_stats"]["cpu_usage"]["total_usage"]
        found[service] = found.get(service, 0.0) + usage / 1e9
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in Path("/proc").iterdir():
        if not pid.name.isdigit():
            continue
        with suppress(OSError):
            stat = (pid / "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            if name in ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2"):
                fields = stat[stat.rindex(")") + 2 :].split()
                # utime and stime only: the children a shim reaps are the containers' processes
                # (healthcheck execs included), already counted in their containers
                seconds = sum(int(v) for v in fields[11:13]) / ticks
                found["Docker engine (dockerd, containerd, shims)"] = (
                    found.get("Docker engine (dockerd, containerd, shims)", 0.0) + seconds
                )
    return found


def cpu_counters() -> tuple[int, int]:
    """(busy, total) jiffies of every core since boot (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@contextmanager
def sampling(probe: Callable[[], Any], every: float = 5.0) -> Iterator[list[Any]]:
    """Call ``probe`` every ``every`` seconds in a thread while the block runs."""
    samples: list[Any] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            with suppress(subprocess.SubprocessError, ValueError, OSError, psycopg.Error):
                samples.append(probe())
            stop.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join(timeout=30)


# ------------------------------------------------------------------------------ the stack
def registry(original: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The stack's registry: the real confs-tech entry (for the trigger runs) and the bench
    feeds, each a copy of it with its own name, politeness and two years scraped."""
    base = original["feeds"][TRIGGER_FEED]
    feeds: dict[str, Any] = {TRIGGER_FEED: base}
    for name in plan.names:
        feeds[name] = {
            **base,
            "description": f"Benchmark: confs-tech from its own source domain ({name}).",
            "max_active_runs": BACKFILL_ACTIVE_RUNS,
            "retries": 1,
            "retry_delay": 10,
            "execution_timeout": 900,
            "politeness": dict(POLITENESS),
            "env": {"REDFEED_LOG_LEVEL": "INFO", "REDFEED_YEARS_AHEAD": 1},
            "tags": ["bench"],
        }
    return {"version": original["version"], "loader": original["loader"], "feeds": feeds}


def domain(feed: str) -> str:
    return f"{feed.removeprefix('confs-tech-')}.sources.test"


def compose_override(plan: Plan) -> dict[str, Any]:
    """The mirror's latency and one DNS name per feed; the workers' source URLs for them."""
    return {
        "version": "3.8",
        "services": {
            "source-mirror": {
                "environment": {"REDFEED_MIRROR_LATENCY_MS": str(LATENCY_MS)},
                "networks": {"default": {"aliases": [domain(f) for f in plan.names]}},
            },
            "airflow-worker": {
                "environment": {
                    "REDFEED_SOURCE_URL__" + f.upper().replace("-", "_"): (
                        f"http://{domain(f)}:8000/confs-tech"
                    )
                    for f in plan.names
                }
            },
        },
    }


def windows(plan: Plan, today: date) -> tuple[list[list[datetime]], list[datetime]]:
    """Daily intervals from the first of January of the latest year in which they are all past
    (the same requests: the spider fetches the interval's year and the next): each backfill's
    (disjoint, as long, in the order they run: 1 worker, 2 workers, 1, 2...) and the trigger
    runs' (the warm-up first)."""
    count = 2 * plan.repeats * plan.days + 1 + plan.trigger_runs
    year = today.year
    while date(year, 1, 1) + timedelta(days=count) >= today:
        year -= 1
    first = datetime(year, 1, 1, tzinfo=UTC)
    days = [first + timedelta(days=n) for n in range(count)]
    backfills = [days[n * plan.days : (n + 1) * plan.days] for n in range(2 * plan.repeats)]
    return backfills, days[2 * plan.repeats * plan.days :]


def container(stack: Stack, service: str) -> str:
    return stack.containers(service)[0]


def docker_exec(container_id: str, *command: str) -> str:
    return subprocess.run(
        [DOCKER, "exec", container_id, *command],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def airflow_sql(postgres: str, query: str) -> str:
    return docker_exec(
        postgres, "psql", "-U", "postgres", "-d", "airflow", "-X", "-A", "-t", "-c", query
    )


def service_addresses(stack: Stack) -> dict[str, str]:
    """IP address on the stack's network -> compose service (workers numbered)."""
    found = {}
    for c in stack.containers():
        name = stack.inspect(c, '{{index .Config.Labels "com.docker.compose.service"}}')
        number = stack.inspect(c, '{{index .Config.Labels "com.docker.compose.container-number"}}')
        address = stack.inspect(c, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
        if address:  # not an exited one-shot
            found[address] = f"{name}-{number}" if name == "airflow-worker" else name
    return found


def wait_workers(stack: Stack, count: int, timeout: float = 300) -> None:
    """``count`` worker containers healthy (their healthcheck pings Celery)."""
    deadline = time.monotonic() + timeout
    while True:
        workers = stack.containers("airflow-worker")
        health = [stack.inspect(c, "{{.State.Health.Status}}") for c in workers]
        if len(workers) == count and all(h == "healthy" for h in health):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} healthy workers expected after {timeout}s: {health}")
        time.sleep(3)


# ------------------------------------------------------------------------------ the runs
def settle(api: Airflow, dags: list[str], timeout: float = 900, grace: float = 90) -> float:
    """Wait until the run the scheduler creates when a DAG is unpaused (its latest interval)
    exists for every DAG (or ``grace`` seconds passed) and no run is queued or running."""
    began = time.monotonic()
    while True:
        runs = {dag_id: api.dag_runs(dag_id) for dag_id in dags}
        active = [r for found in runs.values() for r in found if r["state"] not in FINISHED]
        created = all(runs.values()) or time.monotonic() - began > grace
        if created and not active:
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"runs still active after {timeout}s: {active}")
        time.sleep(2)


def trigger_run(api: Airflow, dag_id: str, day: datetime, label: str) -> TriggerRun:
    """A manual run of the interval starting at ``day``, as the UI's trigger with a date."""
    created = datetime.now(UTC)
    began = time.monotonic()
    run = api.trigger(
        dag_id,
        run_id=f"bench_{label}_{int(time.time() * 1000)}",
        logical_date=day,
        data_interval=(day, day + timedelta(days=1)),
    )
    run_id = run["dag_run_id"]
    while True:
        run = api.dag_run(dag_id, run_id)
        if run["state"] in ("success", "failed"):
            break
        if time.monotonic() - began > 600:
            raise RuntimeError(f"{dag_id} {run_id} still {run['state']} after 600 s")
        time.sleep(0.25)
    observed = time.monotonic() - began
    end = parse_instant(run["end_date"]) or datetime.now(UTC)
    return TriggerRun(
        seconds=(end - created).total_seconds(),
        observed_s=observed,
        state=run["state"],
        tasks=task_timings(api, dag_id, run_id),
        created=created,
        end=end,
    )


def backfill(
    stack: Stack,
    api: Airflow,
    plan: Plan,
    days: list[datetime],
    workers: int,
    log: Callable[[str], None],
) -> Backfill:
    import docker

    client = docker.from_env()
    dags = [f"feed_{name.replace('-', '_')}" for name in plan.names]

    try:
        services = service_addresses(stack)
    except subprocess.SubprocessError:
        services = {}

    # The probes run every few seconds on the machine they measure: no `docker exec` or
    # `docker stats` (about 0.07 and 0.1 CPU seconds each, in the engine and its CLI), but one
    # PostgreSQL session and the containers' cgroup files.
    monitor = psycopg.connect(
        host="127.0.0.1",
        port=stack.port("postgres", 5432),
        user="postgres",
        password=stack.settings["REDFEED_POSTGRES_PASSWORD"],
        dbname="postgres",
        autocommit=True,
        application_name="redfeed-bench",
    )

    def connections() -> dict[str, int]:
        rows = monitor.execute(
            "SELECT host(client_addr), count(*) FROM pg_stat_activity "
            "WHERE datname = 'airflow' GROUP BY 1"
        ).fetchall()
        found: dict[str, int] = {}
        for address, count in rows:
            service = services.get(address or "", address or "postgres (local socket)")
            found[service] = found.get(service, 0) + int(count)
        return found

    prefix = f"{stack.project}_"

    def memory() -> dict[str, float]:
        found: dict[str, float] = {}
        for name, mib in container_memory(client):
            if name.startswith(prefix):  # <project>_<service>_<index>
                service = name.removeprefix(prefix).rsplit("_", 1)[0]
            else:
                service = "task containers (largest)"
            found[service] = max(found.get(service, 0.0), mib)
        return found

    load_average = os.getloadavg()[0]
    cpu0 = service_cpu(stack.project)
    busy0, total0 = cpu_counters()
    started = datetime.now(UTC)
    began = time.monotonic()
    with (
        monitor,
        sampling(connections) as samples,
        sampling(memory, every=3.0) as memory_samples,
    ):
        for dag_id in dags:
            api.backfill(dag_id, days[0], days[-1], max_active_runs=BACKFILL_ACTIVE_RUNS)
        expected = len(dags) * len(days)
        while True:
            runs = api.get(
                "dags/~/dagRuns",
                logical_date_gte=days[0].isoformat(),
                logical_date_lte=days[-1].isoformat(),
                limit=100,
            )["dag_runs"]
            runs = [r for r in runs if r["dag_id"] in dags]
            done = [r for r in runs if r["state"] in ("success", "failed")]
            if len(runs) >= expected and len(done) == len(runs):
                break
            if time.monotonic() - began > 3600:
                raise RuntimeError(
                    f"backfill with {workers} worker(s): {len(done)}/{expected} done"
                )
            time.sleep(2)
    busy1, total1 = cpu_counters()
    cpu1 = service_cpu(stack.project)
    ticks = os.sysconf("SC_CLK_TCK")
    host_busy = (busy1 - busy0) / ticks
    # A worker added for this backfill counts from its start (absent before: 0).
    cpu_s = {name: cpu1[name] - cpu0.get(name, 0.0) for name in cpu1}
    cpu_s["everything else (task containers, the benchmark, the host)"] = host_busy - sum(
        cpu_s.values()
    )
    last_end = max(parse_instant(r["end_date"]) or datetime.now(UTC) for r in runs)
    wall = (last_end - started).total_seconds()
    log(f"backfill {len(dags)}x{len(days)} with {workers} worker(s): {wall:.0f}s")
    tasks = [t for r in runs for t in task_timings(api, r["dag_id"], r["dag_run_id"])]
    return Backfill(
        workers=workers,
        feeds=len(dags),
        days=len(days),
        wall_s=wall,
        runs=runs,
        tasks=tasks,
        cpu_busy=(busy1 - busy0) / max(1, total1 - total0),
        db_connections=max(samples, key=lambda c: sum(c.values()), default={}),
        load_average=load_average,
        memory_mib={
            service: max(sample.get(service, 0.0) for sample in memory_samples)
            for service in {name for sample in memory_samples for name in sample}
        },
        cpu_s=cpu_s,
    )


def container_memory(client: Any) -> list[tuple[str, float]]:
    """(name, MiB) of every running container, as `docker stats` counts it (usage less the
    inactive file cache), read from its cgroup; one `docker stats` call for those whose cgroup
    files are not where Docker's cgroupfs or systemd drivers put them. Task containers come and
    go meanwhile: one removed before it is read is left out, not the whole sample."""
    found = []
    elsewhere = {}
    for c in client.containers.list(ignore_removed=True):
        mib = cgroup_memory_mib(c.id)
        if mib is None:
            elsewhere[c.id] = c.name
        else:
            found.append((c.name, mib))
    if elsewhere:
        for line in _docker_stats(list(elsewhere)):
            container_id, _, usage = line.partition(" ")
            if container_id in elsewhere and "/" in usage:
                found.append((elsewhere[container_id], mebibytes(usage.split("/")[0])))
    return found


def _docker_stats(container_ids: list[str]) -> list[str]:
    """`docker stats` lines ("<id> <usage> / <limit>") of these containers: one call, and one
    per container if that fails (the CLI prints nothing when any one of them is gone)."""

    def stats(ids: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                DOCKER,
                "stats",
                "--no-stream",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.MemUsage}}",
                *ids,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    every = stats(container_ids)
    if every.returncode == 0 or len(container_ids) == 1:
        return every.stdout.splitlines()
    return [line for i in container_ids for line in stats([i]).stdout.splitlines()]


CGROUP = Path("/sys/fs/cgroup")


def cgroup_memory_mib(container_id: str, root: Path = CGROUP) -> float | None:
    """A container's memory in MiB from cgroup v2 (memory.current) or v1
    (memory.usage_in_bytes), less its inactive file cache; None where its cgroup is not found."""
    candidates = [
        (root / "system.slice" / f"docker-{container_id}.scope", "memory.current", "inactive_file"),
        (root / "docker" / container_id, "memory.current", "inactive_file"),
        (root / "memory" / "docker" / container_id, "memory.usage_in_bytes", "total_inactive_file"),
        (
            root / "memory" / "system.slice" / f"docker-{container_id}.scope",
            "memory.usage_in_bytes",
            "total_inactive_file",
        ),
    ]
    for directory, usage_file, inactive_key in candidates:
        try:
            usage = int((directory / usage_file).read_text())
            stat = (directory / "memory.stat").read_text()
        except (OSError, ValueError):
            continue
        inactive = 0
        for line in stat.splitlines():
            key, _, value = line.partition(" ")
            if key == inactive_key:
                inactive = int(value)
        return max(0, usage - inactive) / 2**20
    return None


def mebibytes(usage: str) -> float:
    """`docker stats`' memory figure ("512KiB", "123.4MiB", "1.2GiB") in MiB."""
    usage = usage.strip()
    for unit, factor in (("KiB", 1 / 1024), ("MiB", 1.0), ("GiB", 1024.0), ("B", 1 / 2**20)):
        if usage.endswith(unit):
            return float(usage.removesuffix(unit)) * factor
    raise ValueError(f"not a docker stats memory figure: {usage!r}")


def metadata_numbers(stack: Stack) -> dict[str, Any]:
    """Cheap readings of the metadata DB and the broker after the runs."""
    postgres = container(stack, "postgres")
    numbers: dict[str, Any] = {
        "db_bytes": int(airflow_sql(postgres, "SELECT pg_database_size('airflow')")),
        "max_connections": int(airflow_sql(postgres, "SHOW max_connections")),
    }
    for table in ("dag_run", "task_instance", "xcom", "log", "job"):
        numbers[f"rows_{table}"] = int(airflow_sql(postgres, f"SELECT count(*) FROM {table}"))
    redis = container(stack, "redis")
    info: dict[str, str] = {}
    for line in docker_exec(redis, "redis-cli", "info").splitlines():
        key, _, value = line.strip().partition(":")
        info[key] = value
    numbers["redis_commands"] = int(info.get("total_commands_processed", "0"))
    numbers["redis_memory"] = info.get("used_memory_human", "?")
    return numbers


def check_rows(
    stack: Stack, plan: Plan, backfills: list[Backfill], days: list[datetime]
) -> tuple[bool, str]:
    """Every bench feed has one loaded partition per backfilled day in the warehouse."""
    rows = stack.sql(
        "SELECT _feed, count(DISTINCT _interval_start), count(*) FROM conferences "
        f"WHERE _feed LIKE 'confs-tech-bench-%' AND _interval_start >= '{days[0].isoformat()}' "
        f"AND _interval_start <= '{days[-1].isoformat()}' GROUP BY 1 ORDER BY 1"
    )
    partitions = {feed: int(n) for feed, n, _ in rows}
    expected = sum(b.days for b in backfills)
    bad = {f: partitions.get(f, 0) for f in plan.names if partitions.get(f, 0) != expected}
    total = sum(int(count) for _, _, count in rows)
    if bad:
        return False, f"partitions per feed {bad}, expected {expected} each"
    return True, f"{len(plan.names)} feeds x {expected} partitions, {total:,} rows"


def run(quick: bool) -> str:
    """Bring the bench stack up, measure, tear it down; the markdown section."""
    return render(measure(QUICK if quick else FULL))


def measure(plan: Plan, log: Callable[[str], None] | None = None) -> Report:
    log = log or (lambda line: print(f"orchestration: {line}", file=sys.stderr, flush=True))
    import docker

    client = docker.from_env()
    missing = [name for name in IMAGES if not client.images.list(name=name)]
    if missing:
        raise RuntimeError(f"images {missing} are missing: run `make images` first")
    stack = Stack(PROJECT, REPO / "build" / "bench" / PROJECT)
    today = datetime.now(UTC).date()
    backfill_days, trigger_days = windows(plan, today)
    years = {backfill_days[0][0].year, today.year}
    stack.prepare(
        sorted(years | {y + 1 for y in years}),
        REDFEED_WORKER_CONCURRENCY=str(WORKER_SLOTS),
    )
    original = yaml.safe_load((REPO / "dags" / "feeds.yaml").read_text())
    (stack.dags_dir / "feeds.yaml").write_text(
        yaml.safe_dump(registry(original, plan), sort_keys=False)
    )
    override = stack.workdir / "bench.compose.yml"
    override.write_text(yaml.safe_dump(compose_override(plan), sort_keys=False))
    stack.compose_files.append(override)
    stack.down()  # leftovers of an interrupted run
    try:
        began = time.monotonic()
        stack.up(workers=1)
        stack.wait_healthy(timeout=600)
        api = stack.airflow()
        api.wait_healthy(timeout=300)
        dags = [f"feed_{n.replace('-', '_')}" for n in [TRIGGER_FEED, *plan.names]]
        for dag_id in dags:
            api.wait_dag(dag_id, timeout=300)
            api.set_paused(dag_id, False)
        stack_up = time.monotonic() - began
        log(f"stack up, {len(dags)} DAGs parsed: {stack_up:.0f}s")
        version = str(api.get("version").get("version", "?"))

        # Unpausing created each DAG's latest scheduled run: let them finish first.
        settled = settle(api, dags)
        log(f"scheduled runs after unpausing finished: {settled:.0f}s")

        trigger_dag = dags[0]
        trigger_load_average = os.getloadavg()[0]
        warmup = trigger_run(api, trigger_dag, trigger_days[0], "warmup")
        log(f"warm-up run: {warmup.seconds:.1f}s ({warmup.state})")
        triggers = []
        for n, day in enumerate(trigger_days[1:]):
            triggered = trigger_run(api, trigger_dag, day, f"trigger{n}")
            triggers.append(triggered)
            log(f"trigger-to-success {n + 1}: {triggered.seconds:.1f}s ({triggered.state})")

        backfills = []
        for n, days in enumerate(backfill_days):
            workers = 1 + n % 2
            if n > 0:
                stack.up(workers=workers)
                wait_workers(stack, workers)
            backfills.append(backfill(stack, api, plan, days, workers, log))
        report = Report(
            plan,
            stack_up,
            triggers,
            backfills,
            airflow_version=version,
            trigger_load_average=trigger_load_average,
        )
        # Side readings: a failure here is reported, it does not throw the measurements away.
        try:
            report.db = metadata_numbers(stack)
        except (subprocess.SubprocessError, ValueError) as exc:
            log(f"metadata DB and broker readings failed: {exc}")
        try:
            report.rows_ok, report.rows_note = check_rows(
                stack, plan, backfills, [day for days in backfill_days for day in days]
            )
        except RuntimeError as exc:
            report.rows_ok, report.rows_note = False, f"the check failed: {exc}"
        return report
    finally:
        print("\n".join(["bench stack:", *stack.log]), file=sys.stderr)
        stack.down()
        shutil.rmtree(stack.workdir, ignore_errors=True)


# ------------------------------------------------------------------------------ the report
def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def render(report: Report) -> str:
    plan = report.plan
    ones = [b for b in report.backfills if b.workers == 1]
    twos = [b for b in report.backfills if b.workers == 2]
    one_tasks = [t for b in ones for t in b.tasks]
    two_tasks = [t for b in twos for t in b.tasks]
    trigger_tasks = [t for r in report.triggers for t in r.tasks]
    backfill_tasks = one_tasks + two_tasks

    def overheads(tasks: list[TaskTiming], task: str | None = None) -> list[float]:
        return [
            t.overhead
            for t in tasks
            if t.overhead is not None and (task is None or t.task_id == task)
        ]

    lines = [
        SECTION,
        "",
        f"Airflow {report.airflow_version}, CeleryExecutor, the `make demo` compose file "
        f"(project `{PROJECT}`; stack up in {report.stack_up_s:.0f} s). Every worker has "
        f"**{WORKER_SLOTS} task slots** (`AIRFLOW__CELERY__WORKER_CONCURRENCY`): 1 worker "
        "versus 2 models one machine versus two of the same size, but both workers share this "
        "machine's cores, so CPU, not slots, can cap the second (host CPU busy below). "
        f"{plan.feeds} feeds `confs-tech-bench-1..{plan.feeds}` (the confs-tech image and "
        "table, their own partitions), each from its **own source domain** (a DNS alias of the "
        f"source mirror), which adds **{LATENCY_MS} ms to every request**; per-domain "
        f"politeness as in a registry entry: download_delay {POLITENESS['download_delay']} s, "
        f"{POLITENESS['concurrency']} requests at a time, AutoThrottle; two years fetched per "
        "run. Each run is extract → load → verify, three containers; a feed's backfill runs "
        f"{BACKFILL_ACTIVE_RUNS} days at once. Load average when the trigger runs started: "
        f"{report.trigger_load_average:.1f} (other work shares the machine).",
        "",
        "### Per-task overhead: task duration in Airflow minus the process's own `elapsed_s`",
        "",
        "`elapsed_s` is the process's own wall time (its start to its summary, interpreter "
        "start-up included); the rest is the task runner (it parses the DAG file), "
        "DockerOperator creating, starting, waiting on and removing the container, and the XCom "
        "and state updates. Seconds, min / median / max over every task instance.",
        "",
        "| task | idle worker (trigger runs) | backfill, 1 worker | backfill, 2 workers | "
        "the process itself (backfills) |",
        "|---|---:|---:|---:|---:|",
    ]
    for task in ("extract", "load", "verify", None):
        processes = [
            t.elapsed
            for t in backfill_tasks
            if t.elapsed is not None and (task is None or t.task_id == task)
        ]
        lines.append(
            f"| {task or '**all**'} | {_stats(overheads(trigger_tasks, task))} | "
            f"{_stats(overheads(one_tasks, task))} | {_stats(overheads(two_tasks, task))} | "
            f"{_stats(processes)} |"
        )
    lines += [
        "",
        "### Trigger-to-success of one warm run",
        "",
        f"`{TRIGGER_FEED}` (the registry's own entry: delay 0.25 s, 4 requests at a time, one "
        f"year, {LATENCY_MS} ms per request), a manual run with a date triggered through the "
        "REST API on the idle stack after a warm-up run; seconds from the POST to the run's "
        "`end_date` (and to the client seeing `success`, polling every 0.25 s), and where they "
        "went.",
        "",
        "| run | state | seconds | seen by the client | to first task start | processes | "
        "task overhead | between tasks |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in enumerate(report.triggers, 1):
        parts = r.breakdown()
        lines.append(
            f"| {n} | {r.state} | {r.seconds:.1f} | {r.observed_s:.1f} | "
            f"{parts['to first task start']:.1f} | {parts['processes (elapsed_s)']:.1f} | "
            f"{parts['task overhead']:.1f} | {parts['between tasks and after the last']:.1f} |"
        )
    trigger_seconds = [r.seconds for r in report.triggers]
    orchestration_seconds = [
        r.seconds - r.breakdown()["processes (elapsed_s)"] for r in report.triggers
    ]
    lines += [
        "",
        f"min / median: {min(trigger_seconds):.1f} / {statistics.median(trigger_seconds):.1f} s "
        f"({len(trigger_seconds)} run{'s' if len(trigger_seconds) != 1 else ''}), of which "
        f"orchestration (everything but the processes) {min(orchestration_seconds):.1f} / "
        f"{statistics.median(orchestration_seconds):.1f} s.",
        "",
        f"### Backfill of {plan.feeds} feeds x {plan.days} days: 1 worker, then 2"
        + (f", {plan.repeats} times" if plan.repeats > 1 else ""),
        "",
        "Each backfill does the same work on other days of the same year (so the same "
        "requests), one after the other on the same stack, scaled out to 2 workers and in to 1 "
        "again between them; wall = the first POST /backfills to the last run's `end_date`. "
        "Slot use = task-seconds / (slots x wall).",
        "",
        "| # | workers | slots | runs | tasks | wall s | runs/min | failed runs | retried tasks | "
        "slot use | queue wait s (median / max) | peak extracts / loads at once | host CPU busy "
        "| load avg at start | tasks per worker |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, b in enumerate(report.backfills, 1):
        waits = [t.queue_wait for t in b.tasks if t.queue_wait is not None]
        per_worker = ", ".join(str(n) for n in sorted(b.tasks_per_worker().values(), reverse=True))
        lines.append(
            f"| {n} | {b.workers} | {b.workers * WORKER_SLOTS} | {len(b.runs)} | {len(b.tasks)} | "
            f"{b.wall_s:.0f} | {b.runs_per_minute:.1f} | {b.failed_runs} | {b.retried_tasks} | "
            f"{b.slot_utilisation:.0%} | "
            f"{statistics.median(waits) if waits else 0:.1f} / {max(waits, default=0):.1f} | "
            f"{b.peak_concurrent('extract')} / {b.peak_concurrent('load')} | "
            f"{b.cpu_busy:.0%} | {b.load_average:.1f} | {per_worker} |"
        )
    one_walls = [b.wall_s for b in ones]
    two_walls = [b.wall_s for b in twos]
    speedup = statistics.median(one_walls) / statistics.median(two_walls)
    best_speedup = min(one_walls) / min(two_walls)
    pairs = [a.wall_s / b.wall_s for a, b in zip(ones, twos, strict=False)]
    busy_medians = [
        (label, statistics.median(overheads(tasks)) if overheads(tasks) else float("nan"))
        for label, tasks in (("1 worker", one_tasks), ("2 workers", two_tasks))
    ]
    idle = overheads(trigger_tasks)
    idle_median = statistics.median(idle) if idle else float("nan")
    idle_waits = [t.queue_wait for t in trigger_tasks if t.queue_wait is not None]
    db = report.db

    busiest_one = max(ones, key=lambda b: b.peak_db_connections)
    busiest_two = max(twos, key=lambda b: b.peak_db_connections)

    def connections(b: Backfill) -> str:
        by_service = sorted(b.db_connections.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{service} {n}" for service, n in by_service)

    groups = [(label, group) for label, group in (("1 worker", ones), ("2 workers", twos)) if group]
    services = sorted({s for b in report.backfills for s in b.memory_mib})
    lines += [
        "",
        "Peak memory per service during the backfills (MiB, each container's cgroup every 3 s, "
        "counted as `docker stats` counts it; a "
        "service scaled to two containers counts its largest; the largest over the backfills "
        "with that many workers):",
        "",
        "| service | " + " | ".join(label for label, _ in groups) + " |",
        "|---|" + "---:|" * len(groups),
        *(
            f"| {service} | "
            + " | ".join(
                f"{max(b.memory_mib.get(service, 0.0) for b in group):.0f}" for _, group in groups
            )
            + " |"
            for service in services
        ),
    ]
    cpu_services = sorted(
        {s for b in report.backfills for s in b.cpu_s},
        key=lambda s: -max(b.cpu_s.get(s, 0.0) for b in report.backfills),
    )

    def cpu(group: list[Backfill], service: str | None, per_run: bool) -> str:
        values = [
            (b.cpu_s.get(service, 0.0) if service else sum(b.cpu_s.values()))
            / (max(1, len(b.runs)) if per_run else 1)
            for b in group
        ]
        return f"{statistics.median(values):.{2 if per_run else 0}f}"

    lines += [
        "",
        "Where the CPU went during the backfills (CPU seconds, the median over the backfills "
        "with that many workers; Docker's cumulative usage per compose service, the engine's "
        "daemons from /proc; the rest of the host's busy time is mostly the task containers). "
        "Per run = CPU seconds / runs.",
        "",
        "| CPU seconds | "
        + " | ".join(label for label, _ in groups)
        + " | "
        + " | ".join(f"per run, {label}" for label, _ in groups)
        + " |",
        "|---|" + "---:|" * (2 * len(groups)),
        *(
            f"| {service} | "
            + " | ".join(cpu(group, service, False) for _, group in groups)
            + " | "
            + " | ".join(cpu(group, service, True) for _, group in groups)
            + " |"
            for service in cpu_services
        ),
        "| **host, all** | "
        + " | ".join(cpu(group, None, False) for _, group in groups)
        + " | "
        + " | ".join(cpu(group, None, True) for _, group in groups)
        + " |",
    ]
    lines += [
        "",
        f"Speed-up with 2 workers: **{speedup:.2f}x** (median wall with 1 worker "
        f"{statistics.median(one_walls):.0f} s / with 2 {statistics.median(two_walls):.0f} s"
        + (
            f"; best against best {best_speedup:.2f}x; each pair, in the order run: "
            + ", ".join(f"{p:.2f}x" for p in pairs)
            if len(pairs) > 1
            else ""
        )
        + f"). Warehouse afterwards: {report.rows_note}"
        + ("." if report.rows_ok else " — **mismatch**."),
        "",
        "### Scheduler, metadata DB and broker",
        "",
        f"- Queued → running on an idle worker (trigger runs): {_stats(idle_waits)} s; under the "
        "backfills the queue wait is the wait for a free slot (table above).",
        f"- Metadata DB after {db.get('rows_dag_run', 0)} runs and "
        f"{db.get('rows_task_instance', 0)} task instances: "
        f"{db.get('db_bytes', 0) / 2**20:.1f} MiB ({db.get('rows_xcom', 0)} XComs, "
        f"{db.get('rows_log', 0)} log rows, {db.get('rows_job', 0)} jobs).",
        f"- Connections to it at the busiest moment (max_connections "
        f"{db.get('max_connections', '?')}): 1 worker {busiest_one.peak_db_connections} "
        f"({connections(busiest_one)}); 2 workers {busiest_two.peak_db_connections} "
        f"({connections(busiest_two)}).",
        f"- Redis (the broker): {db.get('redis_commands', 0):,} commands in all, "
        f"{db.get('redis_memory', '?')} used.",
        "",
        "Targets (issue 7):",
        "",
        f"- per-task overhead ≤ {TARGET_OVERHEAD_S:.0f} s: median {idle_median:.2f} s on an "
        f"idle worker — {_met(idle_median <= TARGET_OVERHEAD_S)}; under the backfills "
        + ", ".join(
            f"{median:.2f} s with {label} — {_met(median <= TARGET_OVERHEAD_S)}"
            for label, median in busy_medians
        )
        + ".",
        f"- trigger-to-success ≤ {TARGET_TRIGGER_S:.0f} s: median "
        f"{statistics.median(trigger_seconds):.1f} s — "
        f"{_met(statistics.median(trigger_seconds) <= TARGET_TRIGGER_S)}.",
        f"- 2-worker speed-up ≥ {TARGET_SPEEDUP}x: {speedup:.2f}x (medians) — "
        f"{_met(speedup >= TARGET_SPEEDUP)}.",
    ]
    if plan == QUICK:
        lines += [
            "",
            "*QUICK: a validation run (2 feeds x 2 days, one run of each); the figures are "
            "not the benchmark's.*",
        ]
    else:
        lines += [
            "",
            f"Each backfill was run {plan.repeats} times with each worker count (the tables "
            f"above pool their task instances); the trigger runs {plan.trigger_runs} times.",
        ]
    return "\n".join(lines) + "\n"


def replace_section(path: Path, section: str) -> None:
    """Put ``section`` in place of the file's section with the same heading, or append it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        after = text.find("\n## ", start + len(SECTION))
        rest = text[after + 1 :] if after >= 0 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 feeds x 2 days, one run each")
    parser.add_argument("--output", type=Path, help="replace (or append) the section in this file")
    args = parser.parse_args()
    section = run(args.quick)
    print(section)
    if args.output:
        replace_section(args.output, section)
        print(f"wrote the section into {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
