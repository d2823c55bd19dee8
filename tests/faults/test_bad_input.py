"""The bad-input corpus (tests/data/bad/corpus.py) through the real loader image into PostgreSQL,
both ways records arrive: piped on stdin (every class, including lines that are not JSON) and
from a committed archive batch (the classes that survive the archive writer, spread over several
parts). Every bad record is quarantined with its reason, column, origin and line number; every
good one is loaded verbatim, hostile-looking ones included; records in = loaded + rejected."""

from __future__ import annotations

import subprocess
from typing import Any

import orjson
import pytest

from tests.data.bad import corpus
from tests.docker_env import BUCKET
from tests.faults.pipeline import ARCHIVE_PREFIX, Pipeline

FEED = "confs-tech"


def pipe_to_loader(pipeline: Pipeline, env: dict[str, str], data: bytes) -> tuple[int, Any, str]:
    """``docker run -i redfeed/loader load --table conferences -`` with ``data`` on stdin."""
    flags = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
    command = ["/usr/bin/docker", "run", "-i", "--rm", "--network", pipeline.network.name]
    proc = subprocess.run(
        [*command, *flags, "redfeed/loader", "load", "--table", "conferences", "-"],
        input=data,
        capture_output=True,
        timeout=180,
        check=False,
    )
    summary = orjson.loads(proc.stdout.strip().splitlines()[-1])
    return proc.returncode, summary, proc.stderr.decode(errors="replace")


def rejects_of(pipeline: Pipeline, summary: dict[str, Any]) -> list[dict[str, Any]]:
    [url] = summary["rejects"]
    entries = [orjson.loads(line) for line in pipeline.s3.lines(url)]
    return sorted(entries, key=lambda entry: (entry["origin"], entry["line"]))


def loaded_values(pipeline: Pipeline, database: str, run_id: str) -> dict[str, tuple[Any, ...]]:
    with pipeline.warehouse.connect(database) as conn:
        rows = conn.execute(
            "SELECT name, country, city, twitter, locales, start_date, year FROM conferences "
            "WHERE _batch_id = %s",
            (run_id,),
        ).fetchall()
    return {row[0]: row for row in rows}


def assert_good_records_loaded_verbatim(
    pipeline: Pipeline, database: str, run_id: str, cases: list[corpus.Case]
) -> None:
    rows = loaded_values(pipeline, database, run_id)
    good = [orjson.loads(case.line) for case in cases if case.good]
    assert sorted(rows) == sorted(record["name"] for record in good)
    for record in good:
        _, country, city, twitter, locales, _, _ = rows[record["name"]]
        assert (country, city, twitter) == (
            record.get("country"),
            record.get("city"),
            record.get("twitter"),
        )
        expected_locales = record.get("locales")
        if isinstance(expected_locales, list):
            expected_locales = orjson.dumps(expected_locales).decode()
        assert locales == expected_locales
    with pipeline.warehouse.connect(database) as conn:  # the hostile ones harmed nothing
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('conferences', 'redfeed_loads')"
        ).fetchone()
    assert tables == (2,)


def test_the_corpus_piped_on_stdin_is_quarantined_line_by_line(
    pipeline: Pipeline, database: str
) -> None:
    cases = corpus.conference_cases()
    env = {
        "REDFEED_FEED": FEED,
        "REDFEED_RUN_ID": "corpus-stdin",
        "REDFEED_INTERVAL_START": "2024-01-01",
        "REDFEED_WAREHOUSE_URL": pipeline.warehouse.network_url(database),
        "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/{ARCHIVE_PREFIX}",
        "REDFEED_MAX_REJECT_RATIO": "1",
        **pipeline.s3.env(),
    }
    code, summary, stderr = pipe_to_loader(pipeline, env, corpus.lines(cases))
    assert code == 0, stderr[-3000:]
    bad = {n: case for n, case in enumerate(cases, start=1) if not case.good and not case.skipped}
    records = sum(1 for _ in corpus.records_of(cases))
    good = sum(1 for case in cases if case.good)
    assert (summary["rows_in"], summary["rows_loaded"], summary["rows_rejected"]) == (
        records,
        good,
        len(bad),
    )
    rejects = rejects_of(pipeline, summary)
    assert [entry["line"] for entry in rejects] == list(bad)
    for entry in rejects:
        case = bad[entry["line"]]
        assert entry["origin"] == "stdin"
        assert case.reason is not None
        assert case.reason in entry["reason"], f"{case.name}: {entry['reason']}"
        assert entry.get("column") == case.column, case.name
    assert_good_records_loaded_verbatim(pipeline, database, "corpus-stdin", cases)
    [ledger] = pipeline.warehouse.snapshot(database).loaded()
    assert ledger["rows_in"] == ledger["rows_loaded"] + ledger["rows_rejected"] == records


@pytest.mark.parametrize("part_size", [7])
def test_the_corpus_from_an_archive_batch_is_quarantined_with_its_part_and_line(
    pipeline: Pipeline, database: str, part_size: int
) -> None:
    cases = [case for case in corpus.conference_cases() if case.via_archive]
    interval = "2024-02-01T00:00:00Z"
    run_id = "corpus-archive"
    manifest = pipeline.write_batch(
        run_id, interval, (orjson.loads(case.line) for case in cases), part_max_records=part_size
    )
    assert manifest.rejected == 0, "every case is a JSON object: the archive keeps them all"
    assert len(manifest.files) > 1

    env = {
        "REDFEED_INTERVAL_START": interval,
        "REDFEED_RUN_ID": run_id,
        "REDFEED_MAX_REJECT_RATIO": "1",
    }
    run = pipeline.load(database, env)
    assert run.exit_code == 0, run.logs[-3000:]
    bad = {
        (manifest.files[i // part_size].url, i % part_size + 1): case
        for i, case in enumerate(cases)
        if not case.good
    }
    rejects = rejects_of(pipeline, run.summary)
    assert sorted((entry["origin"], entry["line"]) for entry in rejects) == sorted(bad)
    for entry in rejects:
        case = bad[(entry["origin"], entry["line"])]
        assert case.reason is not None
        assert case.reason in entry["reason"], f"{case.name}: {entry['reason']}"
        assert entry.get("column") == case.column, case.name
    good = sum(1 for case in cases if case.good)
    assert (run.summary["rows_loaded"], run.summary["rows_rejected"]) == (good, len(bad))
    assert_good_records_loaded_verbatim(pipeline, database, run_id, cases)
    pipeline.assert_loaded_once(
        database, interval, run_id, good, env={"REDFEED_MAX_REJECT_RATIO": "1"}
    )
