"""The Redshift path without a cluster: the SQL it sends (captured by a fake DB-API connection)
parses as Redshift, COPYs through a manifest with the table's JSONPaths file, and the files it
writes to S3 follow the AWS rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import orjson
import pytest
import sqlglot
from moto import mock_aws
from sqlalchemy import make_url

from redfeed.archive import BatchKey, BatchWriter, S3Store
from redfeed.errors import SourceDataError
from redfeed.warehouse.destinations import LoadJob
from redfeed.warehouse.destinations.redshift import RedshiftDestination
from redfeed.warehouse.jsonpaths import check_jsonpath, table_spec
from redfeed.warehouse.preflight import Preflight, RejectSink
from redfeed.warehouse.rows import RowBuilder

START = datetime(2024, 1, 1, tzinfo=UTC)
RECORD = {
    "name": "PyCon",
    "url": "https://pycon.org",
    "startDate": "2024-05-15",
    "topic": "python",
}


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.rowcount = -1
        self._result: list[tuple[Any, ...]] = []

    def execute(self, operation: str, parameters: Any = None) -> None:
        self.conn.statements.append((operation, parameters))
        if operation.startswith("COPY") and self.conn.copy_error:
            raise RuntimeError(self.conn.copy_error)
        if "FROM redfeed_loads" in operation:
            self._result = [self.conn.current] if self.conn.current else []
        elif "PG_LAST_COPY_COUNT" in operation:
            self._result = [(self.conn.copy_count,)]
        elif "stl_load_errors" in operation:
            self._result = [("s3://b/k/part.gz", 7, "start_date", "date", "Invalid date format")]
        elif operation.startswith('INSERT INTO "conferences"'):
            self.rowcount = self.conn.copy_count
        elif operation.startswith("DELETE"):
            self.rowcount = 0

    def fetchone(self) -> Any:
        return self._result[0] if self._result else None

    def fetchall(self) -> Any:
        return self._result


class FakeConnection:
    def __init__(self, copy_count: int, current: tuple[Any, ...] | None = None) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.autocommit = True
        self.copy_count = copy_count
        self.current = current
        self.copy_error: str | None = None
        self.committed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def commit(self) -> None:
        self.committed = True

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Store]:
    monkeypatch.setenv("REDFEED_REDSHIFT_IAM_ROLE", "arn:aws:iam::123456789012:role/redfeed-copy")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="archive")
        yield S3Store("archive", "redfeed", client=client)


def batch(store: S3Store, lines: list[bytes]) -> tuple[LoadJob, Preflight]:
    key = BatchKey("confs-tech", START, "run-1")
    writer = BatchWriter(store, key, datetime(2024, 1, 2, tzinfo=UTC), part_max_records=2)
    for raw in lines:
        writer.write_line(raw)
    manifest = writer.commit()
    spec = table_spec("conferences")
    job = LoadJob(
        load_id="L1",
        feed="confs-tech",
        interval_start=START,
        interval_end=None,
        run_id="run-1",
        table=spec,
        manifest_url=store.uri(key.manifest),
        manifest_sha256="a" * 64,
        content_digest=manifest.content_digest,
        batch_finished_at=datetime.now(UTC),
        replay=False,
        max_reject_ratio=0.5,
        loader_version="test",
        source_urls=tuple(f.url for f in manifest.files),
    )
    from redfeed.archive import Archive

    archive = Archive(store)
    source = (
        (f.url, n, line) for f in manifest.files for n, line in enumerate(archive.lines(f), 1)
    )
    rejects = RejectSink(store, f"{key.prefix}rejects/conferences-L1.jsonl.gz")
    return job, Preflight(RowBuilder(spec), source, rejects)


def literal_sql(statement: str, parameters: Any) -> str:
    """Parameters inlined, so the statement can be parsed as the server would see it."""
    for value in parameters or ():
        statement = statement.replace("%s", "NULL" if value is None else f"'{value}'", 1)
    return statement


def test_copy_uses_a_manifest_and_the_jsonpaths_file(s3: S3Store) -> None:
    job, preflight = batch(s3, [orjson.dumps({**RECORD, "name": f"c{i}"}) for i in range(5)])
    conn = FakeConnection(copy_count=5)
    outcome = RedshiftDestination(make_url("redshift+psycopg2://u@h/db"), lambda: conn, s3).load(
        job, preflight
    )
    assert outcome.status == "loaded"
    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_rejected) == (5, 5, 0)
    assert conn.committed

    sent = [literal_sql(s, p) for s, p in conn.statements]
    for statement in sent:
        parsed = sqlglot.parse_one(statement, read="redshift")
        if statement.startswith("LOCK"):
            continue  # sqlglot keeps LOCK as a generic command
        assert not isinstance(parsed, sqlglot.exp.Command), statement
    copy = next(s for s in sent if s.startswith("COPY"))
    assert isinstance(sqlglot.parse_one(copy, read="redshift"), sqlglot.exp.Copy)
    assert re.search(r"FROM 's3://archive/redfeed/raw/confs-tech/.*/copy-manifest\.json'", copy)
    assert " MANIFEST " in copy
    assert " GZIP " in copy
    assert "TIMEFORMAT 'auto'" in copy
    assert "IAM_ROLE 'arn:aws:iam::123456789012:role/redfeed-copy'" in copy
    jsonpaths_url = re.search(r"FORMAT AS JSON '(s3://[^']+)'", copy).group(1)  # type: ignore[union-attr]

    # The COPY manifest lists each archive part, mandatory, never a bare prefix.
    manifest_key = re.search(r"FROM 's3://archive/([^']+)'", copy).group(1)  # type: ignore[union-attr]
    entries = orjson.loads(s3.client.get_object(Bucket="archive", Key=manifest_key)["Body"].read())
    assert entries["entries"] == [{"url": url, "mandatory": True} for url in job.source_urls]
    assert len(entries["entries"]) == 3

    # JSONPaths per the AWS rules: one object, top-level "jsonpaths", one valid expression per
    # COPY column, and not under the data files' prefix.
    jp_key = jsonpaths_url.removeprefix("s3://archive/")
    document = orjson.loads(s3.client.get_object(Bucket="archive", Key=jp_key)["Body"].read())
    assert list(document) == ["jsonpaths"]
    assert len(document["jsonpaths"]) == len(job.table.column_names)
    assert all(check_jsonpath(p) for p in document["jsonpaths"])
    assert not jp_key.startswith("redfeed/raw/")
    columns = re.search(r"COPY \"stage_conferences\" \(([^)]*)\)", copy).group(1)  # type: ignore[union-attr]
    assert columns.replace('"', "").split(", ") == job.table.column_names

    # One transaction: lock, delete the partition, insert from staging, ledger row.
    tail = [s.split()[0] for s in sent[sent.index(copy) + 2 :]]
    assert tail == ["LOCK", "SELECT", "DELETE", "INSERT", "INSERT"]


def test_rejected_records_are_left_out_of_the_copy(s3: S3Store) -> None:
    lines = [
        orjson.dumps(RECORD),
        orjson.dumps({**RECORD, "startDate": "soon"}),
        orjson.dumps(RECORD),
    ]
    job, preflight = batch(s3, lines)
    conn = FakeConnection(copy_count=2)
    outcome = RedshiftDestination(make_url("redshift+psycopg2://u@h/db"), lambda: conn, s3).load(
        job, preflight
    )
    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_rejected) == (3, 2, 1)
    copy = next(s for s, _ in conn.statements if s.startswith("COPY"))
    manifest_key = re.search(r"FROM 's3://archive/([^']+)'", copy).group(1)  # type: ignore[union-attr]
    entries = orjson.loads(s3.client.get_object(Bucket="archive", Key=manifest_key)["Body"].read())
    [entry] = entries["entries"]
    assert "/load/conferences-L1/" in entry["url"]
    import gzip

    body = s3.client.get_object(Bucket="archive", Key=entry["url"].removeprefix("s3://archive/"))
    assert len(gzip.decompress(body["Body"].read()).splitlines()) == 2
    reject_key = outcome.reject_url.removeprefix("s3://archive/")  # type: ignore[union-attr]
    [reject] = gzip.decompress(
        s3.client.get_object(Bucket="archive", Key=reject_key)["Body"].read()
    ).splitlines()
    assert "is not a date" in orjson.loads(reject)["reason"]


def test_a_batch_the_ledger_already_holds_sends_no_copy(s3: S3Store) -> None:
    job, preflight = batch(s3, [orjson.dumps(RECORD)])
    current = ("run-1", job.manifest_sha256, job.batch_finished_at, 1, 1, 0, None)
    conn = FakeConnection(copy_count=1, current=current)
    outcome = RedshiftDestination(make_url("redshift+psycopg2://u@h/db"), lambda: conn, s3).load(
        job, preflight
    )
    assert outcome.status == "already_loaded"
    assert not any(s.startswith("COPY") for s, _ in conn.statements)


def test_copy_errors_are_reported_from_stl_load_errors(s3: S3Store) -> None:
    job, preflight = batch(s3, [orjson.dumps(RECORD)])
    conn = FakeConnection(copy_count=0)
    conn.copy_error = "Load into table 'stage_conferences' failed. Check 'stl_load_errors'"
    with pytest.raises(
        SourceDataError, match=r"part\.gz:7 column start_date \(date\): Invalid date"
    ):
        RedshiftDestination(make_url("redshift+psycopg2://u@h/db"), lambda: conn, s3).load(
            job, preflight
        )
    assert not conn.committed


def test_secrets_never_reach_the_log(
    s3: S3Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("REDFEED_REDSHIFT_IAM_ROLE")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canary-secret-value")
    job, preflight = batch(s3, [orjson.dumps(RECORD)])
    conn = FakeConnection(copy_count=1)
    with caplog.at_level("DEBUG"):
        RedshiftDestination(make_url("redshift+psycopg2://u@h/db"), lambda: conn, s3).load(
            job, preflight
        )
    copy = next(s for s, _ in conn.statements if s.startswith("COPY"))
    assert "aws_secret_access_key=canary-secret-value" in copy
    assert "canary-secret-value" not in caplog.text
    assert "CREDENTIALS '***'" in caplog.text
