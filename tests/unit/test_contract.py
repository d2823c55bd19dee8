from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import orjson
import pytest

from redfeed.contract import RUN_ID, Settings, isoformat, new_run_id, process_elapsed
from redfeed.errors import (
    ConfigError,
    ExitCode,
    NothingNew,
    ProgramFailed,
    SourceDataError,
    TemporaryError,
    Terminated,
    error_for_exit_code,
)

BASE = {
    "REDFEED_FEED": "confs-tech",
    "REDFEED_ARCHIVE_URL": "file:///tmp/archive",
    "REDFEED_INTERVAL_START": "2024-01-01T00:00:00+00:00",
    "REDFEED_INTERVAL_END": "2025-01-01T00:00:00+00:00",
}


def test_settings_from_env_reads_the_contract_variables() -> None:
    s = Settings.from_env({**BASE, "REDFEED_RUN_ID": "scheduled__2024-01-01T00:00:00+00:00"})
    assert s.feed == "confs-tech"
    assert s.run_id == "scheduled__2024-01-01T00:00:00+00:00"
    assert s.interval_start == datetime(2024, 1, 1, tzinfo=UTC)
    assert s.interval_end == datetime(2025, 1, 1, tzinfo=UTC)
    assert s.archive_url == "file:///tmp/archive"
    assert s.skip_unchanged is False


def test_run_id_is_generated_when_absent_and_unique() -> None:
    a, b = Settings.from_env(BASE).run_id, Settings.from_env(BASE).run_id
    assert a != b
    assert RUN_ID.match(a)
    assert a.startswith("manual__")


def test_naive_and_zulu_instants_are_utc() -> None:
    s = Settings.from_env(
        {**BASE, "REDFEED_INTERVAL_START": "2024-03-05", "REDFEED_INTERVAL_END": "2024-03-06Z"}
    )
    assert s.interval_start == datetime(2024, 3, 5, tzinfo=UTC)
    assert isoformat(s.interval_end) == "2024-03-06T00:00:00Z"


def test_interval_end_defaults_to_one_day() -> None:
    env = {k: v for k, v in BASE.items() if k != "REDFEED_INTERVAL_END"}
    s = Settings.from_env(env)
    assert (s.interval_end - s.interval_start).days == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"REDFEED_FEED": ""}, "REDFEED_FEED is not set"),
        ({"REDFEED_FEED": "../etc"}, "not a feed name"),
        ({"REDFEED_RUN_ID": "../../x"}, "REDFEED_RUN_ID"),
        ({"REDFEED_RUN_ID": "a/b"}, "REDFEED_RUN_ID"),
        ({"REDFEED_INTERVAL_START": "yesterday"}, "not an ISO 8601"),
        ({"REDFEED_INTERVAL_END": "2023-01-01"}, "must be after"),
        ({"REDFEED_ARCHIVE_URL": "ftp://x"}, "must start with s3:// or file://"),
        ({"REDFEED_ARCHIVE_URL": ""}, "REDFEED_ARCHIVE_URL is not set"),
        ({"REDFEED_SOURCE_URL": "mirror:8000"}, "http(s) URL"),
        ({"REDFEED_SKIP_UNCHANGED": "maybe"}, "not a boolean"),
        ({"REDFEED_PART_MAX_RECORDS": "0"}, "at least 1"),
    ],
)
def test_bad_configuration_is_a_config_error(override: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({**BASE, **override})


def test_exit_codes_are_the_documented_ones() -> None:
    assert ExitCode.TEMPORARY == 75
    assert ExitCode.CONFIG == 78
    assert ExitCode.DATA_ERROR == 65
    assert ExitCode.NOTHING_NEW == 99
    assert ExitCode.TERMINATED == 143


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (75, TemporaryError),
        (78, ConfigError),
        (65, SourceDataError),
        (99, NothingNew),
        (143, Terminated),
        (-15, Terminated),
        (-9, TemporaryError),
        (1, ProgramFailed),
        (2, ProgramFailed),
    ],
)
def test_child_exit_codes_keep_their_meaning(code: int, kind: type[Exception]) -> None:
    err = error_for_exit_code(code, "x")
    assert type(err) is kind


def test_new_run_id_sorts_by_time() -> None:
    early = new_run_id(datetime(2024, 1, 1, tzinfo=UTC))
    late = new_run_id(datetime(2024, 1, 2, tzinfo=UTC))
    assert early < late


def test_summary_times_the_whole_process_start_up_included() -> None:
    """``elapsed_s`` counts from the process's start (interpreter, imports), ``duration_s`` from
    the command's: the benchmark subtracts ``elapsed_s`` from a task's duration to get what the
    container and Airflow around the process cost."""
    program = (
        "import time; time.sleep(0.4)\n"
        "from redfeed.contract import run_command\n"
        "raise SystemExit(run_command('probe', lambda: {'records': 0}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    summary = orjson.loads(done.stdout.splitlines()[-1])
    assert summary["redfeed"] == "probe"
    assert summary["duration_s"] < 0.3
    assert summary["elapsed_s"] >= summary["duration_s"] + 0.35
    assert summary["elapsed_s"] < 30


def test_process_elapsed_grows_with_wall_time() -> None:
    first = process_elapsed()
    assert first is not None
    time.sleep(0.05)
    second = process_elapsed()
    assert second is not None
    assert second - first >= 0.03  # /proc/uptime counts hundredths
