"""The stack's light Airflow job check against a metadata DB: it must say what
``airflow jobs check --job-type T --hostname H`` says (a running job of that type on that host
with a heartbeat within Airflow's threshold), without importing Airflow. The compose stack (e2e,
``make demo``) runs it against real Airflow jobs: no service becomes healthy if it is wrong."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from redfeed.orchestration import health
from redfeed.warehouse.destinations.postgres import conninfo

# The columns of Airflow's `job` table the check reads, as Airflow 3 declares them.
JOB_TABLE = """
CREATE TABLE job (
    id serial PRIMARY KEY,
    dag_id varchar(250),
    state varchar(20),
    job_type varchar(30),
    start_date timestamptz,
    end_date timestamptz,
    latest_heartbeat timestamptz,
    executor_class varchar(500),
    hostname varchar(500),
    unixname varchar(1000)
)
"""


@pytest.fixture
def metadata_db(fresh_warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow-shaped `job` table; AIRFLOW__DATABASE__SQL_ALCHEMY_CONN pointing at it."""
    import sqlalchemy as sa

    url = sa.make_url(fresh_warehouse_url)
    with psycopg.connect(conninfo(fresh_warehouse_url), autocommit=True) as conn:
        conn.execute(JOB_TABLE)
    airflow_url = url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", airflow_url)
    for name, _ in health.THRESHOLDS.values():
        monkeypatch.delenv(name, raising=False)
    return conninfo(fresh_warehouse_url)


def add_job(dsn: str, job_type: str, hostname: str, state: str, heartbeat_age_s: float) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO job (job_type, hostname, state, start_date, latest_heartbeat) "
            "VALUES (%s, %s, %s, now(), now() - make_interval(secs => %s))",
            (job_type, hostname, state, heartbeat_age_s),
        )


def test_a_running_job_with_a_fresh_heartbeat_is_healthy(metadata_db: str) -> None:
    assert health.job_alive("TriggererJob", "host-a") is not None  # nothing there yet
    add_job(metadata_db, "TriggererJob", "host-a", "running", 3)
    assert health.job_alive("TriggererJob", "host-a") is None
    # Another type, another host: not this one's health.
    assert "no running DagProcessorJob on host-a" in str(
        health.job_alive("DagProcessorJob", "host-a")
    )
    assert health.job_alive("TriggererJob", "host-b") is not None


def test_a_stale_or_finished_job_is_unhealthy_by_airflows_own_threshold(
    metadata_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_job(metadata_db, "DagProcessorJob", "host-a", "running", 45)
    add_job(metadata_db, "DagProcessorJob", "host-a", "success", 1)
    problem = health.job_alive("DagProcessorJob", "host-a")
    assert problem == "no running DagProcessorJob on host-a has heartbeated in the last 30 s"
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD", "60")
    assert health.job_alive("DagProcessorJob", "host-a") is None


def test_the_command_exits_0_or_1_and_says_why(metadata_db: str) -> None:
    command = [sys.executable, "-m", "redfeed.orchestration.health", "job", "SchedulerJob", "h"]
    unhealthy = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (unhealthy.returncode, unhealthy.stdout.strip()) == (
        1,
        "no running SchedulerJob on h has heartbeated in the last 30 s",
    )
    add_job(metadata_db, "SchedulerJob", "h", "running", 0)
    healthy = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "healthy")


def test_an_unreachable_metadata_db_is_unhealthy_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://airflow:x@127.0.0.1:1/airflow"
    )
    problem = health.job_alive("TriggererJob", "host-a")
    assert problem is not None
    assert problem.startswith("metadata DB: ")
