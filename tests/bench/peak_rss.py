"""Run a command and write its peak RSS (KiB, the largest process of its tree) to a file.

    python -I tests/bench/peak_rss.py RESULT_FILE COMMAND [ARGS...]

Why a launcher: the kernel counts a new process's pre-``exec`` memory (a copy, or with vfork the
very pages, of its parent's) in its ``ru_maxrss``, so every process the benchmark driver starts
would report at least the driver's own RSS (hundreds of MB with the naive loader's rows in
memory). Started from this small process instead, a command's figure is its own, plus at most
this launcher's few MB. Standard library only; stdin, stdout and stderr pass through.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    result, command = sys.argv[1], sys.argv[2:]
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    with open(result, "w") as out:
        out.write(f"{usage.ru_maxrss}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    raise SystemExit(main())
