"""The extract wrapper run as a real process, wrapping small programs that play scraper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from redfeed.archive import Archive, FileStore

PRINT_THREE = (
    "import json,sys\n"
    "for i in range(3): print(json.dumps({'name': f'c{i}', 'n': i}))\n"
    "print('not json')\n"
    "print('scraper log line', file=sys.stderr)\n"
)


#: A program with a start gate (as ``redfeed scrape`` has): it says in $MARKER what the gate said.
GATED = (
    "import json,os\n"
    "with os.fdopen(int(os.environ['REDFEED_START_FD']), 'rb') as gate: go = gate.read(1) == b'1'\n"
    "open(os.environ['MARKER'], 'w').write('go' if go else 'closed')\n"
    "for i in range(3 if go else 0): print(json.dumps({'n': i}))\n"
)


def run(
    archive: Path, program: str, run_id: str = "run-1", *, early: bool = False, **env: str
) -> tuple[int, dict[str, Any], str]:
    full_env = {
        **os.environ,
        "REDFEED_FEED": "confs-tech",
        "REDFEED_RUN_ID": run_id,
        "REDFEED_INTERVAL_START": "2024-01-01T00:00:00Z",
        "REDFEED_INTERVAL_END": "2025-01-01T00:00:00Z",
        "REDFEED_ARCHIVE_URL": archive.as_uri(),
        **env,
    }
    flags = ["--start-early"] if early else []
    wrapper = [sys.executable, "-m", "redfeed.cli", "extract", *flags, "--"]
    proc = subprocess.run(
        [*wrapper, sys.executable, "-c", program],
        env=full_env,
        capture_output=True,
        timeout=60,
    )
    last = proc.stdout.decode().strip().splitlines()[-1]
    return proc.returncode, orjson.loads(last), proc.stderr.decode()


def test_success_commits_a_batch_and_prints_the_summary_last(tmp_path: Path) -> None:
    code, summary, stderr = run(tmp_path, PRINT_THREE)
    assert code == 0, stderr
    assert summary["status"] == "ok"
    assert summary["records"] == 3
    assert summary["rejected"] == 1
    assert summary["run_id"] == "run-1"
    assert summary["manifest"].startswith("file://")
    assert summary["manifest"].endswith("/raw/confs-tech/20240101T000000Z/run-1/manifest.json")
    assert "scraper log line" in stderr
    manifests = Archive(FileStore(tmp_path)).batches("confs-tech")
    assert [m.records for m in manifests] == [3]


@pytest.mark.parametrize(
    ("child", "wrapper", "status"),
    [(75, 75, "temporary"), (65, 65, "data"), (78, 78, "config"), (3, 1, "failed")],
)
def test_a_failing_program_commits_nothing(
    tmp_path: Path, child: int, wrapper: int, status: str
) -> None:
    program = f"print('{{\"n\": 1}}'); raise SystemExit({child})"
    code, summary, _ = run(tmp_path, program)
    assert code == wrapper
    assert summary["status"] == status
    assert summary["committed"] is False
    assert summary["records_seen"] == 1
    assert Archive(FileStore(tmp_path)).batches("confs-tech") == []
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "aborted parts were left behind"


def test_a_retry_with_the_same_run_id_reports_the_committed_batch(tmp_path: Path) -> None:
    assert run(tmp_path, PRINT_THREE)[0] == 0
    code, summary, _ = run(tmp_path, "raise SystemExit('must not run again')")
    assert code == 0
    assert summary["already_committed"] is True
    assert summary["records"] == 3


def test_unchanged_source_is_nothing_new_when_asked(tmp_path: Path) -> None:
    assert run(tmp_path, PRINT_THREE, run_id="a", REDFEED_SKIP_UNCHANGED="true")[0] == 0
    code, summary, _ = run(tmp_path, PRINT_THREE, run_id="b", REDFEED_SKIP_UNCHANGED="true")
    assert code == 99
    assert summary["status"] == "nothing_new"
    assert [m.run_id for m in Archive(FileStore(tmp_path)).batches("confs-tech")] == ["a"]
    # Without the flag a changed-or-not source always commits.
    assert run(tmp_path, PRINT_THREE, run_id="c")[0] == 0


def test_configuration_errors_exit_78_before_anything_runs(tmp_path: Path) -> None:
    code, summary, _ = run(tmp_path, PRINT_THREE, REDFEED_INTERVAL_START="soon")
    assert code == 78
    assert "not an ISO 8601" in summary["error"]
    code, summary, _ = run(tmp_path, PRINT_THREE, REDFEED_ARCHIVE_URL="file:///proc/redfeed")
    assert code == 78
    assert "not writable" in summary["error"]


def test_a_program_started_early_scrapes_once_the_checks_pass(tmp_path: Path) -> None:
    archive, marker = tmp_path / "archive", tmp_path / "marker"
    code, summary, stderr = run(archive, GATED, early=True, MARKER=str(marker))
    assert code == 0, stderr
    assert summary["records"] == 3
    assert marker.read_text() == "go"


def test_a_program_started_early_fetches_nothing_when_there_is_nothing_to_scrape(
    tmp_path: Path,
) -> None:
    """Its start gate closes unopened: the run's batch is committed already, or the archive
    refuses writes."""
    archive, marker = tmp_path / "archive", tmp_path / "marker"
    assert run(archive, PRINT_THREE)[0] == 0
    code, summary, _ = run(archive, GATED, early=True, MARKER=str(marker))
    assert (code, summary["already_committed"], summary["records"]) == (0, True, 3)
    assert marker.read_text() == "closed"

    marker.unlink()
    code, summary, _ = run(
        archive, GATED, early=True, MARKER=str(marker), REDFEED_ARCHIVE_URL="file:///proc/redfeed"
    )
    assert code == 78
    assert "not writable" in summary["error"]
    assert marker.read_text() == "closed"


def test_sigterm_stops_the_program_and_leaves_no_manifest(tmp_path: Path) -> None:
    program = (
        "import json,time\n"
        "for i in range(1000):\n"
        "    print(json.dumps({'n': i}), flush=True); time.sleep(0.01)\n"
    )
    env = {
        **os.environ,
        "REDFEED_FEED": "confs-tech",
        "REDFEED_RUN_ID": "killed",
        "REDFEED_ARCHIVE_URL": tmp_path.as_uri(),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "redfeed.cli", "extract", "--", sys.executable, "-c", program],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 143
    summary = orjson.loads(out.decode().strip().splitlines()[-1])
    assert summary["status"] == "terminated"
    assert not list(tmp_path.rglob("manifest.json"))


def test_the_scrape_command_waits_at_its_start_gate() -> None:
    from redfeed.feeds.crawl import wait_at_start_gate

    assert wait_at_start_gate(None) is True  # not started early
    for written, expected in ((b"1", True), (b"", False)):
        read, write = os.pipe()
        os.write(write, written)
        os.close(write)
        assert wait_at_start_gate(str(read)) is expected
