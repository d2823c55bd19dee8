"""homepage_events end to end on the host: ``redfeed extract -- python -m redfeed.feeds.crawl
homepages`` against the mirror serving the generated site tree, reading a confs-tech batch from a
file archive and writing its own there; then ``redfeed load`` into a migrated PostgreSQL. The
rows are the expected events, multi-byte text byte-exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from redfeed.archive import FileStore
from redfeed.cli import main as cli_main
from redfeed.mirror import MirrorServer
from redfeed.warehouse import migrate
from tests.homepage_site import (
    EXPLICIT_URL,
    INTERVAL_END,
    INTERVAL_START,
    JAPANESE_NAME,
    build_site,
    comparable,
    fixture_conferences,
    robots_fault,
    write_confs_tech_batch,
)

RUN_ID = "homepages-load-1"


def extract(archive: Path, source_url: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDFEED_")}
    env.update(
        {
            "REDFEED_FEED": "homepages",
            "REDFEED_RUN_ID": RUN_ID,
            "REDFEED_ARCHIVE_URL": archive.as_uri(),
            "REDFEED_SOURCE_URL": source_url,
            "REDFEED_INTERVAL_START": INTERVAL_START.isoformat(),
            "REDFEED_INTERVAL_END": INTERVAL_END.isoformat(),
            "REDFEED_HOMEPAGES_URLS": EXPLICIT_URL,
            "REDFEED_DOWNLOAD_DELAY": "0",
            "REDFEED_RETRY_TIMES": "1",
            "REDFEED_RETRY_BACKOFF_BASE": "0.05",
        }
    )
    crawl = [sys.executable, "-m", "redfeed.feeds.crawl", "homepages"]
    process = subprocess.run(
        [sys.executable, "-m", "redfeed.cli", "extract", "--", *crawl],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr.decode(errors="replace")[-3000:]
    summary: dict[str, Any] = orjson.loads(process.stdout.splitlines()[-1])
    return summary


def test_homepage_events_load_byte_exact(
    tmp_path: Path,
    confs_tech_dir: Path,
    fresh_warehouse_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = build_site(tmp_path / "web", confs_tech_dir)
    archive = tmp_path / "archive"
    write_confs_tech_batch(FileStore(archive), fixture_conferences(confs_tech_dir))
    with MirrorServer(site.root, faults=[robots_fault(site)]) as mirror:
        summary = extract(archive, mirror.url)
    assert (summary["records"], summary["rejected"]) == (len(site.records), len(site.rejects))

    migrate.upgrade(fresh_warehouse_url)
    for name, value in {
        "REDFEED_FEED": "homepages",
        "REDFEED_RUN_ID": RUN_ID,
        "REDFEED_INTERVAL_START": INTERVAL_START.isoformat(),
        "REDFEED_ARCHIVE_URL": archive.as_uri(),
        "REDFEED_WAREHOUSE_URL": fresh_warehouse_url,
        "REDFEED_LOAD_WORKERS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = cli_main(["load"])
    loaded = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, loaded
    assert (loaded["rows_in"], loaded["rows_loaded"], loaded["rows_rejected"]) == (5, 5, 0)

    conninfo = fresh_warehouse_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        columns = [
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'homepage_events' AND column_name NOT LIKE '\\_%' "
                "ORDER BY ordinal_position"
            )
        ]
        cursor = conn.execute(f"SELECT {', '.join(columns)}, _feed, _batch_id FROM homepage_events")
        rows = [dict(zip([*columns, "_feed", "_batch_id"], row, strict=True)) for row in cursor]
        name, octets = conn.execute(
            "SELECT name, octet_length(name) FROM homepage_events WHERE name = %s",
            (JAPANESE_NAME,),
        ).fetchone()  # type: ignore[misc]
    assert name == JAPANESE_NAME
    assert octets == len(JAPANESE_NAME.encode("utf-8")) > len(JAPANESE_NAME)
    assert {(r["_feed"], r["_batch_id"]) for r in rows} == {("homepages", RUN_ID)}
    for row in rows:
        for key in ("start_date", "end_date"):
            row[key] = row[key].isoformat() if row[key] is not None else None
    assert comparable(rows) == comparable(site.records)
    japanese = next(r for r in rows if r["name"] == JAPANESE_NAME)
    assert json.loads(japanese["sponsors"]) == ["Acme", "株式会社サンプル", "Initech"]
