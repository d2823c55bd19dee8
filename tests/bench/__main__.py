"""``make bench``: every benchmark in one run on one machine, written to BENCHMARKS.md (or
``--output``) with the loader chart beside it (``<output stem>-loader.png``)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from redfeed import __version__
from tests.bench import extract, loader, orchestration


def machine() -> str:
    """CPU model, cores and memory, as the kernel reports them."""
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
        else:
            memory = ""
    except OSError:
        memory = ""
    return f"{platform.node()} ({os.cpu_count()} cores, {cpu}{memory}, Linux {platform.release()})"


#: The sections this run writes; any other one in the file (``make bench-orchestration`` writes
#: its own) is kept as it is.
OWN_SECTIONS = ("## Loader throughput", "## Redshift load shape", "## Scraper")


def other_sections(path: Path, written: list[str]) -> list[str]:
    """The sections of an existing report that this run does not write."""
    if not path.exists():
        return []
    own = (*OWN_SECTIONS, *(s.split("\n", 1)[0] for s in written))
    sections = re.split(r"(?m)^(?=## )", path.read_text())[1:]
    return [s.rstrip("\n") + "\n" for s in sections if not s.startswith(own)]


def render_chart(peer_python: Path, report: loader.LoaderReport, title: str, png: Path) -> None:
    """The chart is drawn by the bench venv's Python, where matplotlib lives."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data:
        json.dump({"title": title, "series": report.series}, data)
    try:
        subprocess.run(
            [str(peer_python), str(Path(__file__).with_name("chart.py")), data.name, str(png)],
            check=True,
        )
    finally:
        os.unlink(data.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument(
        "--peer-python",
        type=Path,
        default=Path("build/bench-venv/bin/python"),
        help="the Python of the bench venv (dlt, matplotlib): `make bench-venv`",
    )
    parser.add_argument("--peer-max", type=int, default=200_000, help="largest batch dlt is run on")
    parser.add_argument(
        "--quick", action="store_true", help="tiny runs: scraper on one year, small writer"
    )
    parser.add_argument(
        "--orchestration",
        action="store_true",
        help="also the compose-stack benchmark (tests/bench/orchestration.py; several minutes)",
    )
    args = parser.parse_args()
    if args.repeat < 3:
        parser.error("--repeat must be at least 3 (every figure is a min and a median)")
    if not args.peer_python.exists():
        parser.error(f"{args.peer_python} is missing: run `make bench-venv`")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.monotonic()
    measured_at = datetime.now(UTC)

    loads = loader.run(sizes, args.repeat, args.peer_python, args.peer_max)
    scraper = extract.run(args.repeat, quick=args.quick)
    sections = [loads.markdown, scraper]
    if args.orchestration:
        sections.append(orchestration.run(quick=args.quick))

    png = args.output.with_name(f"{args.output.stem}-loader.png")
    where = machine()
    render_chart(
        args.peer_python,
        loads,
        f"Loader throughput, {measured_at:%Y-%m-%d}, {where.split(' (')[0]}",
        png,
    )
    versions = {
        "Python": platform.python_version(),
        "PostgreSQL": loads.versions.get("PostgreSQL", "?"),
        "dlt": loads.versions.get("dlt", "not run"),
        "redfeed": __version__,
        "psycopg": version("psycopg"),
    }
    header = (
        "# Benchmarks\n\n"
        f"Measured {measured_at:%Y-%m-%d %H:%M} UTC on {where} by `make bench"
        f"{' QUICK=1' if args.quick else ''}` in {(time.monotonic() - started) / 60:.1f} min. "
        + ", ".join(f"{name} {v}" for name, v in versions.items())
        + ". Every comparison is measured side by side in the same run on the same machine; "
        f"each figure is the min and the median of {args.repeat} runs. Absolute times are "
        "reported, but the claims are ratios.\n\n"
        f"![records loaded per second against batch size]({png.name})\n\n"
    )
    text = header + "\n".join([*sections, *other_sections(args.output, sections)])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"wrote {args.output} and {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
