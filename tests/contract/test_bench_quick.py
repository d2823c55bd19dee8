"""`make bench QUICK=1` runs end to end (real images, the dlt peer in its own venv) and writes a
well-formed report and chart. Never a timing assertion: the figures are whatever this machine
measured; only their shape is checked."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICK_SIZES = [1000, 5000]  # the Makefile's QUICK=1 sizes
NUMBER = re.compile(r"^\d[\d,]*(\.\d+)?$")
RATE = re.compile(
    r"^(?P<rate>\d[\d,]*) \((first [\d,]+: )?(?P<best>\d+\.\d+) / (?P<median>\d+\.\d+) s\)$"
)
#: The first run of `make bench` builds the bench venv (PyPI) as well.
pytestmark = pytest.mark.timeout(1500)
LOADER_COLUMNS = [
    "records",
    "JSON MB",
    "floor rec/s (min / median s)",
    "redfeed rec/s (min / median s)",
    "dlt rec/s (min / median s)",
    "naive rec/s (min / median s)",
    "redfeed ÷ floor",
    "redfeed ÷ dlt",
    "redfeed ÷ naive",
    "redfeed peak RSS MB",
    "dlt peak RSS MB",
]


def cells(row: str) -> list[str]:
    assert row.startswith("|"), row
    assert row.endswith("|"), row
    return [cell.strip() for cell in row[1:-1].split("|")]


def table_after(text: str, heading: str) -> list[str]:
    """The rows of the first table under ``heading``."""
    section = text.split(heading, 1)[1]
    rows: list[str] = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return rows


def number(cell: str) -> float:
    assert NUMBER.match(cell), f"not a number: {cell!r}"
    return float(cell.replace(",", ""))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    output = tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"
    committed = (ROOT / "BENCHMARKS.md").read_bytes()
    done = subprocess.run(
        ["make", "--no-print-directory", "bench", "QUICK=1", f"BENCH_OUTPUT={output}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert (ROOT / "BENCHMARKS.md").read_bytes() == committed, "QUICK wrote BENCHMARKS.md"
    return output.read_text(), output


def test_quick_bench_writes_a_well_formed_loader_table(report: tuple[str, Path]) -> None:
    text, _ = report
    rows = table_after(text, "## Loader throughput")
    header, separator, *body = rows
    assert cells(header) == LOADER_COLUMNS
    assert separator == "|" + "---:|" * len(LOADER_COLUMNS)
    assert [number(cells(row)[0]) for row in body] == QUICK_SIZES, "one row per size"
    for row in body:
        record = dict(zip(LOADER_COLUMNS, cells(row), strict=True))
        number(record["JSON MB"])
        for loader in ("floor", "redfeed", "naive"):
            match = RATE.match(record[f"{loader} rec/s (min / median s)"])
            assert match, record
            assert float(match["best"]) <= float(match["median"]), "min above median"
        for ratio in ("redfeed ÷ floor", "redfeed ÷ naive"):
            assert number(record[ratio]) > 0
        number(record["redfeed peak RSS MB"])
        if record["dlt rec/s (min / median s)"].startswith("not run"):
            # Above the peer's cap: the ratio is marked as extrapolated, never left out.
            assert record["redfeed ÷ dlt"].endswith("†")
            assert number(record["redfeed ÷ dlt"].rstrip("†")) > 0
            assert record["dlt peak RSS MB"] == "n/a"
        else:
            assert RATE.match(record["dlt rec/s (min / median s)"]), record
            assert number(record["redfeed ÷ dlt"]) > 0
            number(record["dlt peak RSS MB"])
    ran_peer = [r for r in body if not cells(r)[4].startswith("not run")]
    assert [number(cells(r)[0]) for r in ran_peer] == [1000], "QUICK runs dlt on 1,000 only"
    assert "Targets (issue 7):" in text


def test_quick_bench_reports_its_machine_versions_and_load_shape(
    report: tuple[str, Path],
) -> None:
    text, output = report
    first = text.split("\n\n")[1]
    for name in ("cores", "Python 3.", "PostgreSQL ", "dlt 1.", "redfeed ", "min and the median"):
        assert name in first, f"{name!r} missing from the header: {first}"
    shape = table_after(text, "## Redshift load shape")
    assert [cells(row)[0] for row in shape[2:]] == ["1", "4", "16"]
    assert all(NUMBER.match(cells(row)[1]) for row in shape[2:])
    assert "## Scraper" in text
    chart = output.with_name("BENCHMARKS-loader.png")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({chart.name})" in text
