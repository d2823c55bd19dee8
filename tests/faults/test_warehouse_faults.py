"""Warehouse faults: PostgreSQL stopped, crashed or the loader's session killed while COPY
streams a 120,000-record batch; another session holding the partition's load lock or a table
lock; a statement failing the way a full disk or a constraint makes it fail.

The partition swap and its ledger row are one transaction, so a fault anywhere leaves the
previous state intact, nothing committed; every fault is a retryable error (exit 75) with a
message that says what happened, the ledger records the failed attempt where the server is
still there to take it, and the retry loads the batch exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.faults.pipeline import Pipeline, Snapshot, conference_records, copy_progress, wait_for

SMALL = 50


@dataclass(frozen=True)
class Partition:
    """A partition with an older small batch (loaded first) and a newer one (the faulted load):
    a fault must leave the small batch's rows in place."""

    interval: str
    newer: int

    def write(self, pipeline: Pipeline) -> Partition:
        pipeline.write_batch("small", self.interval, conference_records(SMALL))
        pipeline.write_batch(
            "newer",
            self.interval,
            conference_records(self.newer, start=SMALL),
            part_max_records=40_000,
        )
        return self


#: Big enough for a fault to land while COPY streams.
BIG = Partition("2025-08-01T00:00:00Z", 120_000)
#: For faults before or after the COPY.
QUICK = Partition("2025-09-01T00:00:00Z", 5_000)


@pytest.fixture(scope="module")
def batches(pipeline: Pipeline) -> None:
    BIG.write(pipeline)
    QUICK.write(pipeline)


def load_small(pipeline: Pipeline, database: str, partition: Partition) -> Snapshot:
    env = {"REDFEED_INTERVAL_START": partition.interval, "REDFEED_RUN_ID": "small"}
    run = pipeline.load(database, env)
    assert run.exit_code == 0, run.logs[-3000:]
    return pipeline.warehouse.snapshot(database)


def assert_unchanged(pipeline: Pipeline, database: str, before: Snapshot) -> Snapshot:
    after = pipeline.warehouse.snapshot(database)
    assert (after.rows, after.checksum) == (before.rows, before.checksum), "nothing committed"
    assert after.loaded() == before.loaded()
    return after


def retry_loads_newer_once(pipeline: Pipeline, database: str, partition: Partition) -> None:
    retry = pipeline.load(database, {"REDFEED_INTERVAL_START": partition.interval})
    assert retry.exit_code == 0, retry.logs[-3000:]
    assert retry.summary["run_id"] == "newer"
    assert retry.summary["rows_replaced"] == SMALL
    pipeline.assert_loaded_once(database, partition.interval, "newer", partition.newer)


def terminate_loader_session(pipeline: Pipeline, database: str) -> None:
    with pipeline.warehouse.connect(database) as conn:
        [(killed,)] = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'redfeed-loader' AND datname = %s",
            (database,),
        ).fetchall()
    assert killed == 1


def stop_server(pipeline: Pipeline, database: str) -> None:
    """PostgreSQL's fast shutdown (SIGINT): sessions are told the server is going away."""
    server = pipeline.warehouse.wrapped
    server.kill(signal="SIGINT")
    server.wait(timeout=60)


def crash_server(pipeline: Pipeline, database: str) -> None:
    """The server dies at once (SIGKILL): no goodbye to anyone, crash recovery at the restart."""
    server = pipeline.warehouse.wrapped
    server.kill(signal="SIGKILL")
    server.wait(timeout=60)


FAULTS: dict[str, Callable[[Pipeline, str], None]] = {
    "session-terminated-mid-copy": terminate_loader_session,
    "server-restarted-mid-copy": stop_server,
    "server-crashed-mid-copy": crash_server,
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_mid_copy_commits_nothing_and_the_retry_loads_once(
    name: str, pipeline: Pipeline, batches: None, database: str
) -> None:
    before = load_small(pipeline, database, BIG)
    loader = pipeline.start_loader(database, {"REDFEED_INTERVAL_START": BIG.interval})
    try:
        wait_for(
            lambda: copy_progress(pipeline.warehouse, database) >= 10_000,
            "the big batch's COPY to be under way",
            timeout=120,
            interval=0.02,
        )
        FAULTS[name](pipeline, database)
        run = pipeline.finish(loader)
        assert run.exit_code == 75, run.logs[-3000:]
        assert run.summary["status"] == "temporary"
        assert "OperationalError" in run.summary["error"], run.summary["error"]
        if name != "session-terminated-mid-copy":
            # While the server is down, a load cannot even start: retryable, nothing changes.
            down = pipeline.load(database, {"REDFEED_INTERVAL_START": BIG.interval})
            assert down.exit_code == 75, down.logs[-3000:]
            assert "cannot connect to the warehouse" in down.summary["error"]
    finally:
        server = pipeline.warehouse.wrapped
        server.reload()
        if server.status != "running":
            server.start()
        pipeline.warehouse.wait_ready()
    assert_unchanged(pipeline, database, before)
    retry_loads_newer_once(pipeline, database, BIG)


@pytest.fixture
def other_session(pipeline: Pipeline, database: str) -> Iterator[psycopg.Connection[Any]]:
    with pipeline.warehouse.connect(database, autocommit=False) as conn:
        yield conn
        conn.rollback()


LOCKS = {
    # What a concurrent load of the same partition holds while it swaps the partition.
    "partition-load-lock": (
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "'redfeed:confs-tech:2025-09-01T00:00:00+00:00:conferences', 0))"
    ),
    # A migration, VACUUM FULL or someone's maintenance holding the table.
    "table-lock": "LOCK TABLE conferences IN ACCESS EXCLUSIVE MODE",
}


@pytest.mark.parametrize("name", list(LOCKS))
def test_a_lock_held_by_another_session_times_out_with_a_clear_error(
    name: str,
    pipeline: Pipeline,
    batches: None,
    database: str,
    other_session: psycopg.Connection[Any],
) -> None:
    before = load_small(pipeline, database, QUICK)
    other_session.execute(LOCKS[name])  # type: ignore[arg-type]
    env = {"REDFEED_INTERVAL_START": QUICK.interval, "REDFEED_LOCK_TIMEOUT": "2s"}
    run = pipeline.load(database, env)
    other_session.rollback()  # the other session is done (the snapshot below reads the table)
    assert run.exit_code == 75, run.logs[-3000:]
    error = run.summary["error"]
    assert "another session holds a lock this load needs" in error, error
    assert "REDFEED_LOCK_TIMEOUT=2s" in error
    assert "lock timeout" in error
    after = assert_unchanged(pipeline, database, before)
    [failed] = after.failed()
    assert failed["run_id"] == "newer"
    assert "lock" in failed["error"]
    retry_loads_newer_once(pipeline, database, QUICK)


FAILING_STATEMENTS = {
    # A full disk surfaces as SQLSTATE 53100 from whichever statement needed the space.
    "disk-full": (
        """CREATE FUNCTION fail_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             RAISE EXCEPTION 'could not extend file "base/16384/16385": No space left on device'
               USING ERRCODE = 'disk_full';
           END $$;
           CREATE TRIGGER disk_full BEFORE INSERT ON conferences
             FOR EACH STATEMENT EXECUTE FUNCTION fail_disk_full()""",
        "DROP TRIGGER disk_full ON conferences",
        "No space left on device",
    ),
    # A constraint the models do not know about (added by hand on the warehouse).
    "check-constraint": (
        "ALTER TABLE conferences ADD CONSTRAINT no_generated_names "
        "CHECK (name <> 'Generated Conf 4999')",
        "ALTER TABLE conferences DROP CONSTRAINT no_generated_names",
        "no_generated_names",
    ),
}


@pytest.mark.parametrize("name", list(FAILING_STATEMENTS))
def test_a_failing_statement_rolls_the_load_back_and_the_ledger_says_why(
    name: str, pipeline: Pipeline, batches: None, database: str
) -> None:
    create, drop, message = FAILING_STATEMENTS[name]
    before = load_small(pipeline, database, QUICK)
    with pipeline.warehouse.connect(database) as conn:
        conn.execute(create)  # type: ignore[call-overload]
    run = pipeline.load(database, {"REDFEED_INTERVAL_START": QUICK.interval})
    assert run.exit_code == 75, run.logs[-3000:]
    assert message in run.summary["error"], run.summary["error"]
    after = assert_unchanged(pipeline, database, before)
    [failed] = after.failed()
    assert (failed["run_id"], failed["rows_loaded"]) == ("newer", 0)
    assert message in failed["error"]

    with pipeline.warehouse.connect(database) as conn:
        conn.execute(drop)  # type: ignore[call-overload]
    retry_loads_newer_once(pipeline, database, QUICK)


@pytest.mark.parametrize(
    ("drift", "undo", "problem"),
    [
        pytest.param(
            "ALTER TABLE conferences ALTER COLUMN year TYPE integer",
            "ALTER TABLE conferences ALTER COLUMN year TYPE smallint",
            "year: type oid 23, the model says SMALLINT",
            id="type",
        ),
        pytest.param(
            "ALTER TABLE conferences ALTER COLUMN mastodon TYPE varchar(300)",
            "ALTER TABLE conferences ALTER COLUMN mastodon TYPE varchar(320)",
            "mastodon: holds 300 characters, the model says VARCHAR(320)",
            id="narrower",
        ),
        pytest.param(
            "ALTER TABLE conferences ADD COLUMN owner text NOT NULL DEFAULT 'ops';"
            " ALTER TABLE conferences ALTER COLUMN owner DROP DEFAULT",
            "ALTER TABLE conferences DROP COLUMN owner",
            "owner: NOT NULL without a default, not in the models",
            id="not-null",
        ),
    ],
)
def test_a_column_that_drifted_from_the_models_fails_the_load_as_config(
    pipeline: Pipeline, batches: None, database: str, drift: str, undo: str, problem: str
) -> None:
    """Binary COPY sends each field in the model's type; a column altered by hand would make
    PostgreSQL refuse the data as if the rows were bad (a NOT NULL even as worth a retry), or
    read it wrong. The loader checks the live columns first and says what drifted (exit 78,
    not retried)."""
    before = load_small(pipeline, database, QUICK)
    with pipeline.warehouse.connect(database) as conn:
        # The view reads the columns: PostgreSQL alters no column a view depends on.
        [(view,)] = conn.execute("SELECT pg_get_viewdef('conferences_latest')").fetchall()
        conn.execute("DROP VIEW conferences_latest")
        for statement in drift.split("; "):
            conn.execute(statement)  # type: ignore[call-overload]
    try:
        run = pipeline.load(database, {"REDFEED_INTERVAL_START": QUICK.interval})
    finally:
        with pipeline.warehouse.connect(database) as conn:
            conn.execute(undo)  # type: ignore[call-overload]
            conn.execute(f"CREATE VIEW conferences_latest AS {view}")  # type: ignore[call-overload]
    assert run.exit_code == 78, run.logs[-3000:]
    error = run.summary["error"]
    assert f"conferences differs from the models ({problem})" in error, error
    assert "redfeed drift" in error
    after = assert_unchanged(pipeline, database, before)
    [failed] = after.failed()
    assert failed["run_id"] == "newer"
    assert problem in failed["error"]
    retry_loads_newer_once(pipeline, database, QUICK)
