"""Health checks for the compose stack's Airflow services that do not import Airflow.

``airflow jobs check`` and ``celery … inspect ping`` ask the right questions, but each start
imports Airflow: about 4 s of CPU for `airflow jobs check` and 2 s for the ping (host CPU over
three runs of each, less the idle stack's own), every interval, in every dag-processor, triggerer
and worker container. Replacing them (with shorter intervals) took an idle stack from 34.9 to 19.2
CPU seconds a minute (BENCHMARKS.md). These ask the same questions directly, with what the
Airflow image has anyway (psycopg2, celery), in 0.1 to 0.4 s:

    python3 -m redfeed.orchestration.health job TriggererJob "$HOSTNAME"
    python3 -m redfeed.orchestration.health celery "celery@$HOSTNAME"

Exit 0 healthy, 1 unhealthy (the reason on stdout, which ``docker inspect`` shows), 2 misused.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from redfeed.errors import ConfigError
from redfeed.warehouse.url import DatabaseURL

#: Airflow's own settings for how stale a job's heartbeat may be (seconds), and their defaults:
#: `airflow jobs check` judges a job alive by the same numbers.
THRESHOLDS = {
    "SchedulerJob": ("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", 30.0),
    "TriggererJob": ("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD", 30.0),
    "DagProcessorJob": ("AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD", 30.0),
}

ALIVE_SQL = """
SELECT count(*) FROM job
WHERE job_type = %s AND hostname = %s AND state = 'running'
  AND latest_heartbeat > now() - make_interval(secs => %s)
"""


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SystemExit(f"{name} is not set: this check reads it as Airflow would")
    return value


def threshold(job_type: str) -> float:
    if job_type not in THRESHOLDS:
        raise SystemExit(f"unknown job type {job_type!r}: one of {', '.join(THRESHOLDS)}")
    name, default = THRESHOLDS[job_type]
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg2://…`` (Airflow's metadata DB URL) as libpq reads it."""
    try:
        url = DatabaseURL.parse(sqlalchemy_url)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    if url.backend != "postgresql":
        raise SystemExit(f"not a PostgreSQL URL: {url}")
    return url.libpq


def job_alive(job_type: str, hostname: str) -> str | None:
    """None if a running ``job_type`` job of ``hostname`` has heartbeated within Airflow's
    threshold, else why not."""
    import psycopg2  # the Airflow image's metadata DB driver

    url = libpq_url(_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"))
    limit = threshold(job_type)
    try:
        conn = psycopg2.connect(url, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute(ALIVE_SQL, (job_type, hostname, limit))
                row: Any = cur.fetchone()
        finally:
            conn.close()
    except psycopg2.Error as exc:
        return f"metadata DB: {str(exc).strip()}"
    if not row or row[0] == 0:
        return f"no running {job_type} on {hostname} has heartbeated in the last {limit:g} s"
    return None


def celery_pong(destination: str, timeout: float = 10.0) -> str | None:
    """None if the Celery worker ``destination`` answers a ping over the broker, else why not."""
    from celery import Celery

    app = Celery(broker=_env("AIRFLOW__CELERY__BROKER_URL"))
    try:
        replies = app.control.ping(destination=[destination], timeout=timeout)
    except Exception as exc:  # the broker unreachable, refused credentials, ...
        return f"broker: {type(exc).__name__}: {exc}"
    if not any(destination in reply for reply in replies):
        return f"{destination} did not answer a ping within {timeout:g} s"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m redfeed.orchestration.health")
    checks = parser.add_subparsers(dest="check", required=True)
    job = checks.add_parser("job", help="a running Airflow job with a fresh heartbeat")
    job.add_argument("job_type", choices=sorted(THRESHOLDS))
    job.add_argument("hostname")
    ping = checks.add_parser("celery", help="a Celery worker answering a ping")
    ping.add_argument("destination", help="the worker's node name, celery@<hostname>")
    args = parser.parse_args(argv)
    if args.check == "job":
        problem = job_alive(args.job_type, args.hostname)
    else:
        problem = celery_pong(args.destination)
    print(problem or "healthy")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
