"""The light health checks' plumbing (their queries run in tests/integration/test_health.py,
and against real Airflow services in the compose stack)."""

from __future__ import annotations

import pytest

from redfeed.orchestration import health


def test_airflows_metadata_url_is_read_as_libpq_reads_it() -> None:
    assert (
        health.libpq_url("postgresql+psycopg2://airflow:p%40ss@postgres:5432/airflow")
        == "postgresql://airflow:p%40ss@postgres:5432/airflow"
    )
    with pytest.raises(SystemExit, match="not a PostgreSQL URL: mysql"):
        health.libpq_url("mysql://airflow@db/airflow")


def test_thresholds_are_airflows_settings_with_airflows_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, _ in health.THRESHOLDS.values():
        monkeypatch.delenv(name, raising=False)
    assert health.threshold("TriggererJob") == 30.0
    monkeypatch.setenv("AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD", "12.5")
    assert health.threshold("TriggererJob") == 12.5
    with pytest.raises(SystemExit, match="unknown job type 'LocalTaskJob'"):
        health.threshold("LocalTaskJob")


def test_a_check_without_its_connection_setting_says_which(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW__CELERY__BROKER_URL", raising=False)
    with pytest.raises(SystemExit, match="AIRFLOW__CELERY__BROKER_URL is not set"):
        health.celery_pong("celery@host")
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    with pytest.raises(SystemExit, match="AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is not set"):
        health.job_alive("TriggererJob", "host")


def test_the_compose_stack_uses_the_light_checks() -> None:
    """`airflow jobs check` and `celery inspect ping` import Airflow at every interval."""
    import yaml

    from tests.unit.test_container_hardening import COMPOSE

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("airflow-dag-processor", "airflow-triggerer", "airflow-worker"):
        test = " ".join(services[name]["healthcheck"]["test"])
        assert "redfeed.orchestration.health" in test, name
        assert "airflow jobs check" not in test, name
        assert "inspect ping" not in test, name
