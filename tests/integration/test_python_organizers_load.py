"""python-organizers from source to warehouse on a real PostgreSQL: ``redfeed extract -- redfeed
scrape python-organizers`` archives the fixture years (served by the mirror) into a file
archive, ``redfeed load`` loads the batch, and every source row is accounted for: loaded, or
quarantined by the scraper, or quarantined by the loader, never lost."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import orjson
import psycopg
import pytest

from redfeed.archive import FileStore
from redfeed.cli import main as cli_main
from redfeed.mirror import MirrorServer
from redfeed.warehouse import migrate
from tests.records import PYTHON_ORGANIZERS_KEYS, python_organizers_problem, python_organizers_rows

FEED = "python-organizers"
HEADER = ",".join(PYTHON_ORGANIZERS_KEYS)
REDFEED = str(Path(sys.executable).with_name("redfeed"))
#: 200 characters, 600 UTF-8 bytes: too long for VARCHAR(512), which only the loader knows.
TOO_LONG = "東" * 200


def extract(
    archive: FileStore, source_url: str, run_id: str, start: str, end: str, **extra: str
) -> Any:
    """The scraper wrapper and the spider as the image runs them; the summary line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDFEED_")}
    env.update(
        REDFEED_FEED=FEED,
        REDFEED_RUN_ID=run_id,
        REDFEED_INTERVAL_START=start,
        REDFEED_INTERVAL_END=end,
        REDFEED_ARCHIVE_URL=archive.root.as_uri(),
        REDFEED_SOURCE_URL=source_url,
        REDFEED_DOWNLOAD_DELAY="0",
        **extra,
    )
    done = subprocess.run(
        [REDFEED, "extract", "--", REDFEED, "scrape", FEED],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return orjson.loads(done.stdout.strip().splitlines()[-1])


def command(
    name: str, run_id: str, start: str, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch
) -> dict[str, Any]:
    mp.setenv("REDFEED_RUN_ID", run_id)
    mp.setenv("REDFEED_INTERVAL_START", start)
    code = cli_main([name])
    summary: dict[str, Any] = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, summary
    return summary


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def archive(fresh_warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileStore:
    migrate.upgrade(fresh_warehouse_url)
    store = FileStore(tmp_path / "archive")
    for name, value in {
        "REDFEED_FEED": FEED,
        "REDFEED_ARCHIVE_URL": store.root.as_uri(),
        "REDFEED_WAREHOUSE_URL": fresh_warehouse_url,
        "REDFEED_LOAD_WORKERS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    return store


def test_every_fixture_row_loads_once_and_the_latest_view_deduplicates(
    archive: FileStore,
    fresh_warehouse_url: str,
    python_organizers_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = fresh_warehouse_url
    rows = [
        r for r in python_organizers_rows(python_organizers_dir) if not python_organizers_problem(r)
    ]
    with MirrorServer(python_organizers_dir) as mirror:
        everything = extract(archive, mirror.url, "all-years", "2017-01-01", "2025-01-01")
        later = extract(archive, mirror.url, "later", "2024-06-01", "2024-06-02")
    assert everything["records"] == len(rows) == 360
    assert (everything["rejected"], later["rejected"]) == (0, 0)

    loaded = command("load", "all-years", "2017-01-01", capsys, monkeypatch)
    assert (loaded["rows_in"], loaded["rows_loaded"], loaded["rows_rejected"]) == (360, 360, 0)
    assert query(url, "SELECT count(*) FROM python_conferences") == [(360,)]
    assert command("verify", "all-years", "2017-01-01", capsys, monkeypatch)["reconciled"] is True

    # Every value as the file has it, multi-byte text byte for byte.
    columns = [*PYTHON_ORGANIZERS_KEYS.values(), "year", "source_path", "line"]
    as_text = ", ".join(f"{column}::text" for column in columns)
    stored = query(url, f"SELECT {as_text} FROM python_conferences")
    assert sorted(stored, key=str) == sorted(
        (tuple(None if r[c] is None else str(r[c]) for c in columns) for r in rows), key=str
    )
    [(location, octets)] = query(
        url,
        "SELECT location, octet_length(location) FROM python_conferences "
        "WHERE source_path = '2017.csv' AND line = 3",
    )
    assert location == "Bogotá, Capital District, Colombia"
    assert octets == len(location.encode("utf-8")) == len(location) + 1

    # A later snapshot of 2024: the view shows 2024's conferences from it, the rest from the
    # first, one row per conference; the conference 2022.csv lists twice is one row of two.
    assert command("load", "later", "2024-06-01", capsys, monkeypatch)["rows_loaded"] == 67
    assert query(url, "SELECT count(*) FROM python_conferences") == [(360 + 67,)]
    distinct = {(r["subject"], r["start_date"]) for r in rows}
    assert query(url, "SELECT count(*) FROM python_conferences_latest") == [(len(distinct),)]
    assert query(
        url,
        "SELECT _batch_id, count(*) FROM python_conferences_latest GROUP BY 1 ORDER BY 1",
    ) == [("all-years", len(distinct) - 67), ("later", 67)]
    assert query(
        url,
        "SELECT line, occurrences, website_url FROM python_conferences_latest "
        "WHERE subject = 'PyBay' AND start_date = '2022-09-10'",
    ) == [(13, 2, "https://pybay.com")]


def rejects_at(uri: str) -> list[dict[str, Any]]:
    path = Path(url2pathname(urlsplit(uri).path))
    return [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def test_rejects_reconcile_from_source_row_to_warehouse_row(
    archive: FileStore,
    fresh_warehouse_url: str,
    python_organizers_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "2024.csv").write_bytes((python_organizers_dir / "2024.csv").read_bytes())
    lines_2025 = [
        'PyCon Ünïcode,2025-03-01,2025-03-02,"Zürich, Schweiz",CHE,,,,,,',
        'EuroSciPy,2025-08-18,2024-08-22,"Krakow, Poland",POL,,,,,,',  # the scraper's
        f"{TOO_LONG},2025-05-01,2025-05-02,,,,,,,,",  # the loader's: 600 bytes > 512
    ]
    (source / "2025.csv").write_text("\n".join([HEADER, *lines_2025]) + "\n", encoding="utf-8")
    source_rows = sum(1 for _ in python_organizers_rows(source))
    assert source_rows == 67 + 3

    with MirrorServer(source) as mirror:
        scraped = extract(
            archive, mirror.url, "mixed", "2024-06-01", "2024-06-02", REDFEED_YEARS_AHEAD="1"
        )
    assert (scraped["records"], scraped["rejected"]) == (67 + 2, 1)
    monkeypatch.setenv("REDFEED_MAX_REJECT_RATIO", "0.05")
    loaded = command("load", "mixed", "2024-06-01", capsys, monkeypatch)
    assert (loaded["rows_in"], loaded["rows_loaded"], loaded["rows_rejected"]) == (69, 68, 1)
    assert loaded["rows_loaded"] + loaded["rows_rejected"] + scraped["rejected"] == source_rows
    assert query(fresh_warehouse_url, "SELECT count(*) FROM python_conferences") == [(68,)]
    assert command("verify", "mixed", "2024-06-01", capsys, monkeypatch)["reconciled"] is True

    # Both kinds of reject are kept next to the batch, whole, with the reason.
    [scraper_reject] = [r for uri in scraped["rejects"] for r in rejects_at(uri)]
    assert scraper_reject["reason"] == (
        "2025.csv line 3: end_date 2024-08-22 is before start_date 2025-08-18"
    )
    assert scraper_reject["value"]["subject"] == "EuroSciPy"
    [loader_reject] = [r for uri in loaded["rejects"] for r in rejects_at(uri)]
    assert "subject" in loader_reject["reason"]
    assert "600 UTF-8 bytes" in loader_reject["reason"]
    assert TOO_LONG in loader_reject["raw"]
    assert query(
        fresh_warehouse_url,
        "SELECT subject, location, octet_length(subject) FROM python_conferences "
        "WHERE source_path = '2025.csv'",
    ) == [("PyCon Ünïcode", "Zürich, Schweiz", len("PyCon Ünïcode".encode()))]
