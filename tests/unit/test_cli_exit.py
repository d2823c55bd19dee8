"""The console script leaves without Python's interpreter teardown, but keeps what a normal exit
guarantees: the command's exit code, every line it printed, atexit handlers, other threads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

PROGRAM = """
import atexit, sys, threading, time
from pathlib import Path
from redfeed import cli

out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late() -> None:
    time.sleep(0.3)
    (out / "thread").write_text("done")
threading.Thread(target=late).start()
print("x" * 200_000)  # more than a pipe holds: must be flushed, not lost
sys.argv = ["redfeed", "load"]  # no configuration: a config error, exit 78, summary last
cli.run()
"""


def test_fast_exit_keeps_exit_code_output_atexit_and_threads(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "REDFEED_LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78, done.stderr.decode()[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == b"x" * 200_000
    summary = orjson.loads(lines[-1])
    assert summary["redfeed"] == "load"
    assert summary["exit_code"] == 78
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"
