"""The DAGs as Airflow parses them: import errors, what parsing imports, structure and settings
per registry entry, rendered environments, and the operator's handling of container results
(with a fake Docker client: no Docker here)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.standard.operators.latest_only import LatestOnlyOperator
from airflow.sdk import DAG, CronDataIntervalTimetable
from airflow.sdk.definitions.mappedoperator import MappedOperator
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
)
from airflow.serialization.serialized_objects import DagSerialization

from redfeed.orchestration import dags as factory
from redfeed.orchestration.operators import ContractDockerOperator, parse_summary
from redfeed.orchestration.registry import Registry, load_registry, parse_registry

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
FEEDS_YAML = DAGS / "feeds.yaml"
HEAVY = ("scrapy", "boto3", "botocore", "psycopg", "psycopg2", "alembic", "redfeed.warehouse")
SECRET_NAMES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "REDFEED_WAREHOUSE_URL",
    "REDFEED_SOURCE_TOKEN",
)

PARSE_CHECK = r"""
import json, sys, tempfile
from airflow.dag_processing.dagbag import DagBag
DagBag(dag_folder=tempfile.mkdtemp())  # Airflow's own imports (it uses SQLAlchemy itself)
before = set(sys.modules)
bag = DagBag(dag_folder=sys.argv[1])
after = set(sys.modules)
print("RESULT " + json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dag_ids),
    "new": sorted(after - before),
    "all": sorted(after),
}))
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(FEEDS_YAML)


@pytest.fixture(scope="module")
def dags(registry: Registry) -> dict[str, DAG]:
    return {dag.dag_id: dag for dag in factory.build_dags(registry)}


def variant(**changes: Any) -> Registry:
    """The shipped registry with the confs-tech entry changed."""
    document = yaml.safe_load(FEEDS_YAML.read_text())
    document = copy.deepcopy(document)
    document["feeds"]["confs-tech"].update(changes)
    return parse_registry(yaml.safe_dump(document), "variant.yaml")


# ------------------------------------------------------------------------------- parsing
def test_the_dag_folder_parses_without_errors_or_heavy_imports(registry: Registry) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_CHECK, str(DAGS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert lines, proc.stdout[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["errors"] == {}
    assert {"feed_confs_tech", "feed_python_organizers", "feed_homepages"} <= set(result["dags"])
    feed_dags = [spec.dag_id for spec in registry.feeds]  # one DAG per feed, and no other
    assert result["dags"] == sorted(
        [*feed_dags, "redfeed_migrate", "redfeed_replay", "redfeed_xref"]
    )
    loaded = set(result["all"])
    assert not [m for m in HEAVY if m in loaded], "parsing the DAGs imported heavy modules"
    assert not [m for m in result["new"] if m.split(".")[0] in ("sqlalchemy", "redfeed_models")]
    assert not [m for m in result["new"] if m.startswith("redfeed.warehouse")]


@pytest.mark.parametrize(
    "dag_id", ["feed_confs_tech", "feed_homepages", "redfeed_replay", "redfeed_xref", "nope"]
)
def test_a_task_runner_parse_builds_only_the_dag_of_its_task(
    registry: Registry, dags: dict[str, DAG], dag_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The task runner sets Airflow's parsing context before it parses the file for a task.
    from airflow.sdk.definitions._internal.dag_parsing_context import (
        _airflow_parsing_context_manager,
    )
    from airflow.sdk.definitions.context import (
        _AIRFLOW_PARSING_CONTEXT_DAG_ID,
        _AIRFLOW_PARSING_CONTEXT_TASK_ID,
    )

    context = (_AIRFLOW_PARSING_CONTEXT_DAG_ID, _AIRFLOW_PARSING_CONTEXT_TASK_ID)
    for name in context:  # its variables outlive the context manager: undone after the test
        monkeypatch.setenv(name, "")
    with _airflow_parsing_context_manager(dag_id=dag_id, task_id="extract"):
        bag = DagBag(dag_folder=str(DAGS))
    for name in context:
        monkeypatch.delenv(name)
    assert bag.import_errors == {}
    assert bag.dag_ids == ([dag_id] if dag_id in dags else [])
    if dag_id in dags:  # the very DAG the dag-processor's parse of the whole file has
        whole = DagBag(dag_folder=str(DAGS))
        assert len(whole.dag_ids) == len(dags)
        one = DagSerialization.to_dict(bag.dags[dag_id])
        assert one == DagSerialization.to_dict(whole.dags[dag_id])
    assert [d.dag_id for d in factory.build_dags(registry, dag_id="nope")] == []


def test_a_broken_registry_is_an_import_error_naming_the_feed_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = FEEDS_YAML.read_text().replace("retries: 3", "retries: three", 1)
    assert broken != FEEDS_YAML.read_text()
    (tmp_path / "feeds.yaml").write_text(broken)
    monkeypatch.setenv("REDFEED_FEEDS_FILE", str(tmp_path / "feeds.yaml"))
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.dag_ids == []
    (error,) = bag.import_errors.values()
    assert "feed 'confs-tech': field 'retries': expected an integer >= 0, got 'three'" in error


def test_every_dag_serializes_as_the_dag_processor_stores_it(dags: dict[str, DAG]) -> None:
    for dag in dags.values():
        restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        assert {t.task_id for t in restored.tasks} == {t.task_id for t in dag.tasks}


# ----------------------------------------------------------------------------- feed DAGs
def chain_of(dag: DAG) -> list[str]:
    """The task ids in order, checking that the DAG is one straight line."""
    (first,) = [t for t in dag.tasks if not t.upstream_task_ids]
    order = [first.task_id]
    while downstream := dag.get_task(order[-1]).downstream_task_ids:
        assert len(downstream) == 1
        order.append(next(iter(downstream)))
    assert len(order) == len(dag.tasks)
    return order


def test_every_registry_entry_produces_its_dag(registry: Registry, dags: dict[str, DAG]) -> None:
    for spec in registry.feeds:
        dag = dags[f"feed_{spec.name.replace('-', '_')}"]
        expected = ["extract", "load", "verify"]
        assert chain_of(dag) == (["latest_only", *expected] if spec.latest_only else expected)
        assert isinstance(dag.timetable, CronDataIntervalTimetable)
        assert str(dag.timetable.timezone) in ("UTC", "Timezone('UTC')")
        assert dag.catchup is spec.catchup
        assert dag.max_active_runs == spec.max_active_runs
        assert dag.start_date == spec.start_date
        assert dag.doc_md
        assert spec.name in dag.doc_md
        for task in dag.tasks:
            assert task.doc_md, f"{task.task_id} has no doc_md"
            assert task.retries == spec.retries
            assert task.retry_delay == spec.retry_delay
            assert task.retry_exponential_backoff == spec.retry_exponential_backoff
            assert task.max_retry_delay == spec.max_retry_delay
            assert task.queue == spec.queue
        for task_id in ("extract", "load", "verify"):
            task = dag.get_task(task_id)
            assert isinstance(task, ContractDockerOperator)
            assert task.mount_tmp_dir is False
            assert task.auto_remove in ("success", "force")
            assert 99 in task.skip_on_exit_code
        assert dag.get_task("extract").image == spec.image
        assert dag.get_task("load").image == registry.loader.image
        flags = [a for t in spec.tables for a in ("--table", t)]
        assert dag.get_task("load").command == ["load", *flags]
        assert dag.get_task("verify").command == ["verify", *flags]


def test_the_shipped_schedule_is_a_daily_utc_interval(dags: dict[str, DAG]) -> None:
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(dags["feed_confs_tech"].timetable)
    start = pendulum.datetime(2026, 11, 20, tz="UTC")
    interval = timetable.infer_manual_data_interval(run_after=start + timedelta(hours=5))
    assert (interval.start, interval.end) == (start - timedelta(days=1), start)


def test_latest_only_comes_first_when_configured() -> None:
    (dag, *_rest) = factory.build_dags(variant(latest_only=True))
    assert chain_of(dag) == ["latest_only", "extract", "load", "verify"]
    assert isinstance(dag.get_task("latest_only"), LatestOnlyOperator)
    (dag, *_rest) = factory.build_dags(variant(latest_only=False))
    assert "latest_only" not in dag.task_ids


def render(task: Any, context: dict[str, Any]) -> Any:
    return task.render_template(task.environment, context)


class FakeTI:
    try_number = 1

    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcoms[task_ids]


def test_the_extract_environment_is_the_run_and_no_secret(dags: dict[str, DAG]) -> None:
    extract = dags["feed_confs_tech"].get_task("extract")
    assert extract._private_environment == {}
    assert not set(extract.environment) & set(SECRET_NAMES)
    assert extract.archive_conn_id == "redfeed_archive"
    assert extract.warehouse_conn_id is None
    context = {
        "run_id": "scheduled__2026-11-20T00:00:00+00:00",
        "data_interval_start": pendulum.datetime(2026, 11, 20, tz="UTC"),
        "data_interval_end": pendulum.datetime(2026, 11, 21, tz="UTC"),
    }
    env = render(extract, context)
    assert env["REDFEED_FEED"] == "confs-tech"
    assert env["REDFEED_RUN_ID"] == "scheduled__2026-11-20T00:00:00+00:00"
    assert env["REDFEED_INTERVAL_START"] == "2026-11-20T00:00:00+00:00"
    assert env["REDFEED_INTERVAL_END"] == "2026-11-21T00:00:00+00:00"
    assert env["REDFEED_CONCURRENCY_PER_HOST"] == "4"
    assert env["REDFEED_SOURCE_URL"].startswith("https://")
    assert "REDFEED_ARCHIVE_URL" not in env, "resolved at run time, not rendered"

    manual = render(extract, {**context, "data_interval_start": None, "data_interval_end": None})
    assert manual["REDFEED_INTERVAL_START"] == manual["REDFEED_INTERVAL_END"] == ""
    # Airflow 3.3 leaves the interval out of a manual run's context altogether, and renders
    # with StrictUndefined: the contract's default (today) applies, not a template error.
    import jinja2

    strict = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for name in ("REDFEED_INTERVAL_START", "REDFEED_INTERVAL_END"):
        assert strict.from_string(extract.environment[name]).render(run_id="manual__x") == ""


def test_load_and_verify_take_the_batch_from_the_extract_summary(dags: dict[str, DAG]) -> None:
    summary = {
        "run_id": "backfill__2026-11-20T00:00:00+00:00",
        "interval_start": "2026-11-20T00:00:00Z",
        "interval_end": "2026-11-21T00:00:00Z",
    }
    for task_id in ("load", "verify"):
        task = dags["feed_confs_tech"].get_task(task_id)
        assert task._private_environment == {}
        assert task.warehouse_conn_id == "redfeed_warehouse"
        assert task.archive_conn_id == "redfeed_archive"
        env = render(task, {"ti": FakeTI({"extract": summary}), "run_id": "ignored"})
        assert env == {
            "REDFEED_FEED": "confs-tech",
            "REDFEED_RUN_ID": summary["run_id"],
            "REDFEED_INTERVAL_START": summary["interval_start"],
            "REDFEED_INTERVAL_END": summary["interval_end"],
        }


# ---------------------------------------------------------------------- replay, migrate
def test_the_replay_dag_maps_loads_over_the_archived_batches(
    dags: dict[str, DAG], registry: Registry
) -> None:
    dag = dags["redfeed_replay"]
    assert dag.timetable.can_be_scheduled is False
    assert dag.get_task("find_batches").upstream_task_ids == set()
    assert dag.get_task("load").upstream_task_ids == {"find_batches"}
    assert dag.get_task("verify").upstream_task_ids == {"find_batches", "load"}
    assert set(dag.params) == {"feed", "start", "end", "run_id"}
    assert dag.params.get_param("feed").schema["enum"] == registry.names()
    assert {"confs-tech", "python-organizers", "homepages"} <= set(registry.names())
    assert dag.doc_md
    assert all(t.doc_md for t in dag.tasks)

    find = dag.get_task("find_batches")
    rendered = find.render_template(
        find.command,
        {"params": {"feed": "confs-tech", "start": "2026-11-01", "end": "2026-11-03"}},
    )
    assert rendered[:2] == ["archive", "batches"]
    assert rendered[rendered.index("--run-id") + 1] == ""
    assert "--json" in rendered
    assert "--latest" in rendered
    assert find.summary_field == "batches"

    batch = {
        "feed": "confs-tech",
        "run_id": "backfill__2026-11-01T00:00:00+00:00",
        "interval_start": "2026-11-01T00:00:00Z",
        "interval_end": "2026-11-02T00:00:00Z",
    }
    for task_id, command, replay in (("load", "load", "true"), ("verify", "verify", None)):
        mapped = dag.get_task(task_id)
        assert isinstance(mapped, MappedOperator)
        (callable_,) = mapped.expand_input.value.callables
        kwargs = callable_(batch)
        assert kwargs["command"] == [command, "--table", "conferences"]
        assert kwargs["environment"]["REDFEED_RUN_ID"] == batch["run_id"]
        assert kwargs["environment"].get("REDFEED_REPLAY") == replay
        assert not set(kwargs["environment"]) & set(SECRET_NAMES)


def test_the_migrate_dag_runs_the_loader_migrations(dags: dict[str, DAG]) -> None:
    dag = dags["redfeed_migrate"]
    (task,) = dag.tasks
    assert isinstance(task, ContractDockerOperator)
    assert task.command == ["migrate", "upgrade"]
    assert task.image == "redfeed/loader"
    assert (task.archive_conn_id, task.warehouse_conn_id) == (None, "redfeed_warehouse")
    assert task.summary_required is False
    assert dag.doc_md
    assert task.doc_md


def test_the_xref_dag_runs_when_a_feed_it_reads_has_verified_a_load(
    dags: dict[str, DAG], registry: Registry
) -> None:
    dag = dags["redfeed_xref"]
    (task,) = dag.tasks
    assert isinstance(task, ContractDockerOperator)
    assert task.command == ["xref"]
    assert (task.archive_conn_id, task.warehouse_conn_id) == (None, "redfeed_warehouse")
    # Scheduled on the assets the feeds' verify tasks update: every loaded table xref reads.
    scheduled = {asset.name for asset in dag.timetable.asset_condition.objects}
    read = {t for spec in registry.feeds for t in spec.tables} & set(factory.XREF_SOURCE_TABLES)
    assert read, "the registry loads no table the cross-reference reads"
    assert scheduled == {factory.warehouse_asset(t).name for t in read}
    for spec in registry.feeds:
        verify = dags[spec.dag_id].get_task("verify")
        assert {a.name for a in verify.outlets} == {
            factory.warehouse_asset(t).name for t in spec.tables
        }


# ------------------------------------------------------------------------------ operator
def operator(**kwargs: Any) -> ContractDockerOperator:
    return ContractDockerOperator(task_id="t", image="redfeed/x", **kwargs)


SUMMARY = {"redfeed": "extract", "status": "ok", "exit_code": 0, "run_id": "r1", "records": 3}


def summary_lines(**fields: Any) -> list[str]:
    return ["log line", "{not json", json.dumps({**SUMMARY, **fields})]


def test_parse_summary_takes_the_last_json_object_line() -> None:
    assert parse_summary(summary_lines()) == SUMMARY
    assert parse_summary([b'{"a": 1}', b"trailing noise"]) == {"a": 1}
    assert parse_summary(["[1, 2]", "plain"]) is None
    assert parse_summary(None) is None


def test_success_returns_the_summary_as_the_xcom() -> None:
    assert operator().handle_result(0, summary_lines()) == SUMMARY
    assert operator(summary_field="records").handle_result(0, summary_lines()) == 3
    with pytest.raises(AirflowException, match="no JSON summary") as caught:
        operator().handle_result(0, ["done"])
    assert not isinstance(caught.value, AirflowFailException), "worth a retry"
    assert operator(summary_required=False).handle_result(0, ["upgrade: a -> b"]) is None


def test_nothing_new_skips() -> None:
    with pytest.raises(AirflowSkipException, match="nothing new: same records"):
        operator().handle_result(99, summary_lines(exit_code=99, error="same records"))


@pytest.mark.parametrize("code", [65, 78])
def test_data_and_config_errors_fail_without_retry(code: int) -> None:
    with pytest.raises(AirflowFailException, match=f"exit {code} .*: bad input"):
        operator().handle_result(code, summary_lines(exit_code=code, error="bad input"))


@pytest.mark.parametrize("code", [1, 70, 75, 137, 143, None])
def test_other_failures_are_retried(code: int | None) -> None:
    with pytest.raises(AirflowException) as caught:
        operator().handle_result(code, summary_lines(error="boom"))
    assert not isinstance(caught.value, AirflowFailException | AirflowSkipException)


class FakeDocker:
    """Just enough of docker.APIClient for DockerOperator: records what it is asked."""

    def __init__(self, exit_code: int, output: list[str]) -> None:
        self.exit_code = exit_code
        self.output = output
        self.created: dict[str, Any] = {}
        self.removed: list[tuple[str, bool]] = []

    def images(self, name: str) -> list[dict[str, Any]]:
        return [{"Id": name}]

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def create_container(self, **kwargs: Any) -> dict[str, str]:
        self.created = kwargs
        return {"Id": "c0ffee"}

    def attach(self, **kwargs: Any) -> Iterator[bytes]:
        return iter([(line + "\n").encode() for line in self.output])

    def start(self, container_id: str) -> None:
        pass

    def wait(self, container_id: str) -> dict[str, Any]:
        return {"Error": None, "StatusCode": self.exit_code}

    def remove_container(self, container_id: str, force: bool = False) -> None:
        self.removed.append((container_id, force))


CONNECTIONS = {
    "redfeed_archive": SimpleNamespace(
        conn_id="redfeed_archive",
        conn_type="aws",
        host=None,
        schema=None,
        port=None,
        login="AKIA-local",
        password="archive-secret",
        extra_dejson={"endpoint_url": "http://s3:9000", "archive_url": "s3://bucket/redfeed"},
    ),
    "redfeed_warehouse": SimpleNamespace(
        conn_id="redfeed_warehouse",
        conn_type="postgres",
        host="postgres",
        schema="warehouse",
        port=5432,
        login="redfeed",
        password="warehouse-secret",
        extra_dejson={},
    ),
}


def run_with_fake_docker(
    monkeypatch: pytest.MonkeyPatch, exit_code: int, output: list[str], **kwargs: Any
) -> tuple[ContractDockerOperator, FakeDocker, Any]:
    docker = FakeDocker(exit_code, output)
    op = operator(**kwargs)
    op.__dict__["hook"] = SimpleNamespace(api_client=docker, client_created=True)
    monkeypatch.setattr(op, "get_connection", CONNECTIONS.__getitem__)
    monkeypatch.setenv("REDFEED_DOCKER_NETWORK", "redfeed_default")
    monkeypatch.setenv("REDFEED_SOURCE_URL__CONFS_TECH", "http://source-mirror:8000")
    context: Any = {"run_id": "scheduled__2026-11-20T00:00:00+00:00", "ti": FakeTI({})}
    try:
        result = op.execute(context)
    except Exception as exc:  # returned for the test to look at
        result = exc
    return op, docker, result


def test_execute_resolves_connections_into_the_private_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    op, docker, result = run_with_fake_docker(
        monkeypatch,
        0,
        summary_lines(),
        feed="confs-tech",
        source_url_feed="confs-tech",
        warehouse_conn_id="redfeed_warehouse",
        environment={"REDFEED_FEED": "confs-tech"},
    )
    assert result == SUMMARY
    env = docker.created["environment"]
    assert env["AWS_SECRET_ACCESS_KEY"] == "archive-secret"
    assert env["REDFEED_WAREHOUSE_URL"] == (
        "postgresql+psycopg://redfeed:warehouse-secret@postgres:5432/warehouse"
    )
    assert env["REDFEED_ARCHIVE_URL"] == "s3://bucket/redfeed"
    assert env["AWS_ENDPOINT_URL"] == "http://s3:9000"
    assert env["REDFEED_SOURCE_URL"] == "http://source-mirror:8000"
    assert not set(op.environment) & set(SECRET_NAMES), "secrets only in private_environment"
    assert docker.created["host_config"]["network_mode"] == "redfeed_default"
    assert docker.created["host_config"]["mounts"] == []
    assert docker.created["labels"]["org.redfeed.run_id"] == "scheduled__2026-11-20T00:00:00+00:00"
    assert docker.removed == [("c0ffee", True)]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (99, AirflowSkipException),
        (65, AirflowFailException),
        (78, AirflowFailException),
        (75, AirflowException),
    ],
)
def test_execute_maps_the_container_exit_code(
    monkeypatch: pytest.MonkeyPatch, code: int, expected: type[Exception]
) -> None:
    _op, docker, result = run_with_fake_docker(
        monkeypatch, code, summary_lines(exit_code=code, error="why")
    )
    assert type(result) is expected
    assert "why" in str(result)
    assert docker.removed, "the container is removed whatever happened"


def test_a_missing_connection_fails_without_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Connection

    def missing(conn_id: str) -> Any:
        raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr(Connection, "get", missing)
    op = operator()
    with pytest.raises(AirflowFailException, match="AIRFLOW_CONN_REDFEED_ARCHIVE"):
        op.execute({"run_id": "r", "ti": FakeTI({})})  # type: ignore[typeddict-item]


def test_the_start_date_is_utc(dags: dict[str, DAG]) -> None:
    start = dags["feed_confs_tech"].start_date
    assert start is not None
    assert start.utcoffset() == timedelta(0)
    assert start == datetime(2024, 1, 1, tzinfo=UTC)


def test_the_workers_celery_config_is_airflows_own_and_brings_the_dag_modules() -> None:
    """compose names redfeed's Celery config: Airflow's unchanged, imported with the DAG file's
    modules so that the worker's forked tasks do not import them again."""
    compose = yaml.safe_load((REPO / "compose" / "docker-compose.yml").read_text())
    name = compose["x-airflow-common"]["environment"]["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"]
    program = (
        "import importlib, sys\n"
        f"module, _, attr = {name!r}.rpartition('.')\n"
        "config = getattr(importlib.import_module(module), attr)\n"
        "from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG\n"
        "assert config == DEFAULT_CELERY_CONFIG, config\n"
        "print(sorted(m for m in sys.modules if m.startswith(('redfeed.orchestration', "
        "'airflow.providers.docker'))))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = run.stdout.strip()
    for module in ("redfeed.orchestration.dags", "airflow.providers.docker.operators.docker"):
        assert repr(module) in loaded, loaded
