"""The bad-input corpus (tests/data/bad/corpus.py) through the loader's pre-flight, in-process,
both ways the loader runs it (rows for Redshift, COPY text from forked workers for PostgreSQL):
every bad record quarantined whole with its reason, column and line number, every good one
passed, records in = passed + quarantined. tests/faults/test_bad_input.py does the same through
the real loader image into PostgreSQL."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from redfeed.archive import FileStore
from redfeed.warehouse.jsonpaths import TableSpec, table_spec
from redfeed.warehouse.preflight import Preflight, RejectSink
from redfeed.warehouse.rows import RowBuilder
from tests.copy_binary import binary_records
from tests.data.bad import corpus

LINEAGE = {
    "_batch_id": "corpus",
    "_feed": "confs-tech",
    "_interval_start": "2024-01-01T00:00:00Z",
    "_scraped_at": "2024-01-01T00:00:00Z",
}
TABLES = {"conferences": table_spec("conferences"), "talks": corpus.NESTED_TABLE}


def with_lineage(line: bytes) -> bytes:
    """``line`` as the archive writer leaves it: lineage fields appended to a JSON object (the
    text is edited, so that invalid records stay exactly as invalid)."""
    body = line.rstrip()
    if not (body.startswith(b"{") and body.endswith(b"}")):
        return line
    try:
        present = set(orjson.loads(body))
    except orjson.JSONDecodeError:
        present = set()
    fields = orjson.dumps({k: v for k, v in LINEAGE.items() if k not in present})[1:-1]
    if not fields:
        return line
    inner = body[1:-1]
    return b"{" + (inner + b"," if inner.strip() else b"") + fields + b"}"


def run_preflight(
    spec: TableSpec,
    cases: list[corpus.Case],
    root: Path,
    copy_data: bool,
    lineage_in_records: bool = False,
) -> tuple[Preflight, list[dict[str, Any]], int]:
    """Pre-flight over the corpus: lineage given separately (as for stdin), or carried by
    the records (as archived: the COPY path then tries its fast path first)."""
    store = FileStore(root)
    edit = with_lineage if lineage_in_records else (lambda line: line)
    lines = [("stdin", n, edit(case.line) + b"\n") for n, case in enumerate(cases, start=1)]
    preflight = Preflight(
        RowBuilder(spec),
        lines,
        RejectSink(store, "rejects.jsonl.gz"),
        {} if lineage_in_records else dict(LINEAGE),
    )
    if copy_data:
        data = b"".join(preflight.copy_data(workers=2))
        passed = len(binary_records(data, spec.columns))
    else:
        passed = sum(1 for _ in preflight)
    preflight.rejects.commit()
    path = root / "rejects.jsonl.gz"
    rejects = (
        [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
        if path.exists()
        else []
    )
    return preflight, sorted(rejects, key=lambda entry: entry["line"]), passed


@pytest.mark.parametrize(
    ("copy_data", "lineage_in_records"),
    [(False, False), (True, False), (True, True)],
    ids=["rows", "copy-data", "copy-data-archived"],
)
@pytest.mark.parametrize("table", list(TABLES))
def test_every_bad_record_is_quarantined_with_its_reason_and_every_good_one_passes(
    table: str, copy_data: bool, lineage_in_records: bool, tmp_path: Path
) -> None:
    cases = corpus.cases(table)
    preflight, rejects, passed = run_preflight(
        TABLES[table], cases, tmp_path, copy_data, lineage_in_records
    )
    edit = with_lineage if lineage_in_records else (lambda line: line)

    bad = {n: case for n, case in enumerate(cases, start=1) if not case.good and not case.skipped}
    good = [case for case in cases if case.good]
    assert bad, "a corpus without bad records tests nothing"
    assert [entry["line"] for entry in rejects] == list(bad)
    for entry in rejects:
        case = bad[entry["line"]]
        assert case.reason is not None
        assert case.reason in entry["reason"], f"{case.name}: {entry['reason']}"
        assert entry.get("column") == case.column, case.name
        kept = entry["raw"].encode() if "raw" in entry else None
        assert kept is None or kept == edit(case.line) + b"\n", f"{case.name} is kept whole"
    assert passed == preflight.rows_valid == len(good)
    records = sum(1 for _ in corpus.records_of(cases))
    assert preflight.rows_in == records == passed + preflight.rows_rejected


def test_invalid_utf8_is_kept_byte_for_byte(tmp_path: Path) -> None:
    cases = [case for case in corpus.conference_cases() if case.name == "invalid UTF-8"]
    _, [entry], _ = run_preflight(TABLES["conferences"], cases, tmp_path, copy_data=False)
    assert base64.b64decode(entry["raw_base64"]) == cases[0].line + b"\n"


def test_the_generator_writes_the_corpus_and_its_expectations(tmp_path: Path) -> None:
    written = corpus.main([str(tmp_path)])
    assert written == 0
    for table in TABLES:
        cases = corpus.cases(table)
        lines = (tmp_path / f"{table}.jsonl").read_bytes().split(b"\n")[:-1]
        assert lines == [case.line for case in cases]
        expected = orjson.loads((tmp_path / f"{table}.expected.json").read_bytes())
        assert len(expected) == len(cases)
        assert {entry["outcome"] for entry in expected.values()} <= {
            "loaded",
            "rejected",
            "skipped",
        }
