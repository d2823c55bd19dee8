"""redfeed/scraper-python-organizers, run for real against the source mirror and the local S3:
exactly one archived record per fixture row, and every quarantined row in the batch's rejects
with its reason."""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import orjson
import pytest

from tests.docker_env import BUCKET, LocalS3, ScraperRun
from tests.records import PYTHON_ORGANIZERS_KEYS, python_organizers_problem, python_organizers_rows

IMAGE = "redfeed/scraper-python-organizers"
FEED = "python-organizers"
HEADER = ",".join(PYTHON_ORGANIZERS_KEYS)
LINEAGE = {"_batch_id", "_feed", "_interval_start", "_scraped_at"}
#: A real row with an end before its start: python-organizers/conferences 2025.csv (commit
#: 01953f3), a year after the fixtures end.
EUROSCIPY_2025 = (
    'EuroSciPy,2025-08-18,2024-08-22,"Krakow, Poland",POL,AGH University,2025-04-28,2025-04-28,'
    "https://www.euroscipy.org/2025/,https://www.euroscipy.org/2025/program.html,"
    "https://www.euroscipy.org/2025/sponsoring.html"
)

Run = Callable[..., ScraperRun]
Mirror = Callable[..., str]


@pytest.fixture(autouse=True)
def image_is_built(docker_client: docker.DockerClient) -> None:
    if not docker_client.images.list(name=IMAGE):
        pytest.fail(f"image {IMAGE} is missing: run `make images` first")


def env_for(mirror: str, run_id: str, start: str, end: str, **extra: str) -> dict[str, str]:
    return {
        "REDFEED_SOURCE_URL": mirror,
        "REDFEED_RUN_ID": run_id,
        "REDFEED_INTERVAL_START": start,
        "REDFEED_INTERVAL_END": end,
        **extra,
    }


def readable_copy(files: dict[str, str], tmp_path: Path) -> Path:
    """A source directory the mirror container (another user) can read."""
    root = tmp_path / "source"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    for path in [tmp_path, root, *root.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def get(s3: LocalS3, url: str) -> bytes:
    body: bytes = (
        s3.client()
        .get_object(Bucket=BUCKET, Key=url.removeprefix(f"s3://{BUCKET}/"))["Body"]
        .read()
    )
    return body


def archived(s3: LocalS3, summary: dict[str, Any]) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """(manifest, records, rejects) of a committed batch, each file checked against its entry."""
    manifest: dict[str, Any] = orjson.loads(get(s3, summary["manifest"]))
    out: dict[str, list[Any]] = {"files": [], "rejects": []}
    for kind in out:
        for entry in manifest[kind]:
            body = get(s3, entry["url"])
            assert hashlib.sha256(body).hexdigest() == entry["sha256"]
            assert len(body) == entry["bytes"]
            lines = gzip.decompress(body).splitlines()
            assert len(lines) == entry["records"]
            out[kind].extend(orjson.loads(line) for line in lines)
    return manifest, out["files"], out["rejects"]


def test_archives_exactly_one_record_per_fixture_row(
    python_organizers_dir: Path, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    mirror = start_mirror(python_organizers_dir)
    run = run_scraper(env_for(mirror, "all-years", "2017-01-01", "2025-01-01"), image=IMAGE)
    assert run.exit_code == 0, run.logs[-3000:]

    rows = list(python_organizers_rows(python_organizers_dir))
    expected = Counter(r["source_path"] for r in rows if not python_organizers_problem(r))
    quarantined = Counter(r["source_path"] for r in rows if python_organizers_problem(r))
    assert sum(expected.values()) == 360
    assert run.summary["status"] == "ok"
    assert run.summary["records"] == sum(expected.values())
    assert run.summary["rejected"] == sum(quarantined.values()) == 0

    manifest, records, rejects = archived(s3, run.summary)
    assert run.summary["manifest"] == (
        f"s3://{BUCKET}/redfeed/raw/{FEED}/20170101T000000Z/all-years/manifest.json"
    )
    assert manifest["feed"] == FEED
    assert manifest["run_id"] == "all-years"
    assert manifest["interval_start"] == "2017-01-01T00:00:00Z"
    assert manifest["interval_end"] == "2025-01-01T00:00:00Z"
    assert manifest["records"] == len(records) == 360
    assert manifest["rejected"] == len(rejects) == 0
    assert manifest["code_version"].startswith("redfeed ")
    assert manifest["source_url"] == mirror
    assert all(entry.get("stream") is None for entry in manifest["files"])

    assert Counter(r["source_path"] for r in records) == expected
    by_place = {(r["source_path"], r["line"]): r for r in records}
    for row in rows:  # every value as the file has it
        record = by_place[(row["source_path"], row["line"])]
        assert {k: v for k, v in record.items() if k not in LINEAGE} == row
        assert record["_feed"] == FEED
        assert record["_batch_id"] == "all-years"
        assert record["_interval_start"] == "2017-01-01T00:00:00Z"


def test_quarantined_rows_are_in_the_rejects_with_their_reason(
    python_organizers_dir: Path, tmp_path: Path, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    rows_2025 = [
        'PyCon Good,2025-03-01,2025-03-02,"Lyon, France",FRA,,,,https://good.test,,',
        EUROSCIPY_2025,
        "PyCon Short,2025-04-01",
        "PyCon Later,2025-13-01,2025-13-02,,,,,,,,",
        ",2025-05-01,2025-05-02,,,,,,,,",
    ]
    root = readable_copy(
        {
            "2024.csv": (python_organizers_dir / "2024.csv").read_text(encoding="utf-8"),
            "2025.csv": "\n".join([HEADER, *rows_2025]) + "\n",
        },
        tmp_path,
    )
    mirror = start_mirror(root)
    run = run_scraper(
        env_for(mirror, "with-rejects", "2024-06-01", "2024-06-02", REDFEED_YEARS_AHEAD="1"),
        image=IMAGE,
    )
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.summary["records"] == 67 + 1
    assert run.summary["rejected"] == 4

    manifest, records, rejects = archived(s3, run.summary)
    assert Counter(r["source_path"] for r in records) == {"2024.csv": 67, "2025.csv": 1}
    assert len(manifest["rejects"]) == 1
    assert [r["reason"] for r in rejects] == [
        "2025.csv line 3: end_date 2024-08-22 is before start_date 2025-08-18",
        "2025.csv line 4: 2 cells, the header has 11",
        "2025.csv line 5: start_date '2025-13-01' is not a date (month must be in 1..12); "
        "end_date '2025-13-02' is not a date (month must be in 1..12)",
        "2025.csv line 6: no subject",
    ]
    assert rejects[0]["value"]["subject"] == "EuroSciPy"
    assert rejects[1]["value"]["cells"] == ["PyCon Short", "2025-04-01"]
    assert all(r["_batch_id"] == "with-rejects" for r in rejects)


def test_a_renamed_column_fails_the_batch_as_a_data_error(
    python_organizers_dir: Path, tmp_path: Path, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    real = (python_organizers_dir / "2024.csv").read_text(encoding="utf-8")
    root = readable_copy({"2024.csv": real.replace("Start Date", "Begins", 1)}, tmp_path)
    mirror = start_mirror(root)
    run = run_scraper(env_for(mirror, "renamed", "2024-01-01", "2024-01-02"), image=IMAGE)
    assert run.exit_code == 65, run.logs[-3000:]
    assert run.summary["status"] == "data"
    assert run.summary["committed"] is False
    assert "2024.csv: the header has no column 'Start Date'" in run.logs
    listed = s3.client().list_objects_v2(
        Bucket=BUCKET, Prefix=f"redfeed/raw/{FEED}/20240101T000000Z/renamed/"
    )
    assert not [o for o in listed.get("Contents", []) if o["Key"].endswith("manifest.json")]


def test_a_year_without_a_file_is_an_empty_committed_batch(
    python_organizers_dir: Path, start_mirror: Mirror, run_scraper: Run, s3: LocalS3
) -> None:
    mirror = start_mirror(python_organizers_dir)
    run = run_scraper(env_for(mirror, "future", "2031-01-01", "2031-01-02"), image=IMAGE)
    assert run.exit_code == 0, run.logs[-3000:]
    assert run.summary["records"] == 0
    manifest, records, rejects = archived(s3, run.summary)
    assert (manifest["records"], records, rejects) == (0, [], [])
