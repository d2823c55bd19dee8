"""The light health checks' plumbing (their queries run in tests/integration/test_health.py,
and against real Airflow services in the compose stack)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

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


def _paced(
    tmp_path: Path, pace: str, *check: str, limit: str = "20"
) -> subprocess.CompletedProcess[str]:
    from tests.unit.test_container_hardening import COMPOSE

    env = {"PATH": "/usr/bin:/bin", "REDFEED_HEALTHCHECK_MARK": str(tmp_path / "healthy")}
    script = COMPOSE.parent / "healthcheck.sh"
    return subprocess.run(
        ["sh", str(script), pace, limit, *check],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_paced_check_marks_a_pass_and_clears_the_mark_on_a_failure(tmp_path: Path) -> None:
    mark = tmp_path / "healthy"
    assert _paced(tmp_path, "0", "true").returncode == 0
    assert mark.exists()
    failed = _paced(tmp_path, "0", "sh", "-c", "exit 3")
    assert (failed.returncode, failed.stdout.strip()) == (1, "healthcheck: sh exited 3")
    assert not mark.exists()
    missing = _paced(tmp_path, "0", "no-such-check")
    assert (missing.returncode, missing.stdout.strip()) == (
        1,
        "healthcheck: no-such-check could not run (exit 127)",
    )


def test_a_paced_check_sleeps_its_pace_only_once_it_has_passed(tmp_path: Path) -> None:
    started = time.monotonic()
    assert _paced(tmp_path, "3", "true").returncode == 0  # not healthy yet: checks at once
    first = time.monotonic() - started
    started = time.monotonic()
    assert _paced(tmp_path, "3", "true").returncode == 0  # healthy: waits 3 s, then checks
    second = time.monotonic() - started
    assert first < 2.5
    assert second >= 3


@pytest.mark.parametrize(
    ("pace", "limit", "message"),
    [
        ("61", "20", "healthcheck: PACE 61 s is over 60 s (the probe's timeout is 90 s)"),
        ("30s", "20", "healthcheck: PACE and LIMIT are whole seconds, not '30s'"),
        ("30", "0", "healthcheck: LIMIT 0 s is not within 1-29 s (the probe's timeout is 90 s)"),
        ("30", "30", "healthcheck: LIMIT 30 s is not within 1-29 s (the probe's timeout is 90 s)"),
    ],
)
def test_a_misconfigured_paced_check_says_so(
    tmp_path: Path, pace: str, limit: str, message: str
) -> None:
    wrong = _paced(tmp_path, pace, "true", limit=limit)
    assert (wrong.returncode, wrong.stdout.strip()) == (2, message)


def test_a_paced_check_that_hangs_fails_at_its_limit(tmp_path: Path) -> None:
    hung = _paced(tmp_path, "0", "sleep", "5", limit="1")
    assert (hung.returncode, hung.stdout.strip()) == (
        1,
        "healthcheck: sleep gave no answer within 1 s",
    )


def test_every_healthcheck_of_the_stack_is_paced_and_its_timeout_covers_the_pace() -> None:
    """Docker 20.10 has one probe interval: short unpaced ones cost an idle stack most of its
    CPU. A failure before the first success counts only after start_period: a short interval
    alone would shorten the time a starting service has."""
    import yaml

    from tests.unit.test_container_hardening import COMPOSE

    services = yaml.safe_load(COMPOSE.read_text())["services"]
    checked = {name: spec for name, spec in services.items() if "healthcheck" in spec}
    assert len(checked) == 9
    for name, spec in checked.items():
        check = spec["healthcheck"]
        test = " ".join(check["test"])
        assert "sh /usr/local/lib/redfeed/healthcheck.sh" in test, name
        assert "${REDFEED_HEALTHCHECK_PACE:-30}" in test, name
        after_pace = test.split("${REDFEED_HEALTHCHECK_PACE:-30}", 1)[1].lstrip('"')
        limit = int(after_pace.split()[0])
        assert 1 <= limit <= 29, name
        assert check["timeout"] == "90s", name
        assert int(check["start_period"].removesuffix("s")) >= 60, name
        assert "./healthcheck.sh:/usr/local/lib/redfeed/healthcheck.sh:ro" in spec["volumes"], name
