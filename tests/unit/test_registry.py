"""The feed registry (dags/feeds.yaml) and the runtime configuration of task containers: plain
Python, no Airflow."""

from __future__ import annotations

import copy
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from redfeed.errors import ConfigError, ExitCode
from redfeed.orchestration import runtime
from redfeed.orchestration.registry import (
    FeedSpec,
    Registry,
    RegistryError,
    load_registry,
    parse_registry,
)

REPO = Path(__file__).resolve().parents[2]
FEEDS_YAML = REPO / "dags" / "feeds.yaml"

VALID: dict[str, Any] = {
    "version": 1,
    "loader": {"image": "redfeed/loader", "queue": "default"},
    "feeds": {
        "confs-tech": {
            "image": "redfeed/scraper-confs-tech",
            "schedule": "@daily",
            "start_date": "2024-01-01",
            "catchup": False,
            "latest_only": True,
            "max_active_runs": 2,
            "retries": 4,
            "retry_delay": 10,
            "retry_exponential_backoff": 3,
            "max_retry_delay": 300,
            "tables": ["conferences"],
            "queue": "scrapers",
            "source_url": "https://example.org/data",
            "politeness": {"download_delay": 0.5, "concurrency": 2, "download_timeout": 10},
            "env": {"REDFEED_YEARS_AHEAD": 1, "REDFEED_HTTP_CACHE": False},
        }
    },
}


def registry_text(**changes: Any) -> str:
    """VALID with the confs-tech entry's fields changed (``None`` deletes a field)."""
    document = copy.deepcopy(VALID)
    entry = document["feeds"]["confs-tech"]
    for name, value in changes.items():
        if value is None:
            entry.pop(name, None)
        else:
            entry[name] = value
    return yaml.safe_dump(document, sort_keys=False)


def problems_of(text: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, "feeds.yaml")
    assert str(caught.value).startswith("feeds.yaml: ")
    assert isinstance(caught.value, ConfigError)
    assert caught.value.exit_code == ExitCode.CONFIG
    return caught.value.problems


def test_the_shipped_registry_is_valid() -> None:
    registry = load_registry(FEEDS_YAML)
    assert {"confs-tech", "python-organizers", "homepages"} <= set(registry.names())
    spec = registry.feed("confs-tech")
    assert spec.image == "redfeed/scraper-confs-tech"
    assert spec.dag_id == "feed_confs_tech"
    assert spec.schedule == "@daily"
    assert spec.tables == ("conferences",)
    assert spec.catchup is False
    assert spec.start_date.tzinfo is not None
    assert spec.retries >= 1
    assert spec.retry_exponential_backoff > 1
    assert spec.max_retry_delay >= spec.retry_delay
    assert registry.loader.image == "redfeed/loader"
    with pytest.raises(ConfigError, match=r"unknown feed 'nope'.*confs-tech"):
        registry.feed("nope")


def test_a_valid_entry_becomes_a_typed_spec() -> None:
    registry = parse_registry(registry_text())
    assert isinstance(registry, Registry)
    spec = registry.feeds[0]
    assert isinstance(spec, FeedSpec)
    assert spec.start_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert spec.retry_delay == timedelta(seconds=10)
    assert spec.max_retry_delay == timedelta(seconds=300)
    assert spec.retry_exponential_backoff == 3.0
    assert spec.latest_only is True
    assert spec.queue == "scrapers"
    assert spec.source_url_override_env == "REDFEED_SOURCE_URL__CONFS_TECH"
    assert spec.extract_env() == {
        "REDFEED_FEED": "confs-tech",
        "REDFEED_SKIP_UNCHANGED": "false",
        "REDFEED_DOWNLOAD_DELAY": "0.5",
        "REDFEED_DOWNLOAD_TIMEOUT": "10",
        "REDFEED_CONCURRENCY_PER_HOST": "2",
        "REDFEED_YEARS_AHEAD": "1",
        "REDFEED_HTTP_CACHE": "false",
        "REDFEED_SOURCE_URL": "https://example.org/data",
    }


def test_defaults_apply_to_optional_fields() -> None:
    text = registry_text(
        latest_only=None,
        max_active_runs=None,
        retries=None,
        retry_delay=None,
        retry_exponential_backoff=None,
        max_retry_delay=None,
        queue=None,
        source_url=None,
        politeness=None,
        env=None,
    )
    spec = parse_registry(text).feeds[0]
    assert (spec.latest_only, spec.max_active_runs, spec.retries, spec.queue) == (
        False,
        1,
        3,
        "default",
    )
    assert spec.source_url is None
    assert "REDFEED_SOURCE_URL" not in spec.extract_env()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"retries": "three"}, "feed 'confs-tech': field 'retries': expected an integer >= 0"),
        ({"retries": -1}, "feed 'confs-tech': field 'retries': expected an integer >= 0"),
        ({"catchup": "yes please"}, "feed 'confs-tech': field 'catchup': expected true or false"),
        ({"catchup": None}, "feed 'confs-tech': field 'catchup' is required"),
        ({"image": None}, "feed 'confs-tech': field 'image' is required"),
        ({"retry": 3}, "feed 'confs-tech': unknown field 'retry'; did you mean 'retries'?"),
        ({"schedule": "61 0 * * *"}, "feed 'confs-tech': field 'schedule': not a valid cron"),
        ({"schedule": "0 0 * *"}, "feed 'confs-tech': field 'schedule': expected a 5-field cron"),
        ({"schedule": "@once"}, "feed 'confs-tech': field 'schedule': unknown preset"),
        ({"image": "nginx:latest"}, "feed 'confs-tech': field 'image': expected a redfeed image"),
        ({"image": "redfeed/Scraper"}, "feed 'confs-tech': field 'image': expected a redfeed"),
        ({"tables": []}, "feed 'confs-tech': field 'tables': expected a non-empty list"),
        ({"tables": ["Conferences;"]}, "field 'tables': 'Conferences;' is not a table name"),
        ({"tables": ["a", "a"]}, "feed 'confs-tech': field 'tables': lists a table twice"),
        ({"start_date": "soon"}, "feed 'confs-tech': field 'start_date': expected a date"),
        ({"max_active_runs": 0}, "field 'max_active_runs': expected an integer >= 1"),
        ({"retry_delay": 0}, "feed 'confs-tech': field 'retry_delay': expected a number > 0"),
        ({"max_retry_delay": 1}, "field 'max_retry_delay': must not be shorter than retry_delay"),
        ({"queue": "no spaces"}, "feed 'confs-tech': field 'queue': expected a Celery queue"),
        ({"source_url": "ftp://x"}, "feed 'confs-tech': field 'source_url': expected an http(s)"),
        (
            {"politeness": {"download_delay": -1}},
            "feed 'confs-tech': field 'politeness': field 'download_delay': expected a number >= 0",
        ),
        (
            {"politeness": {"delay": 1}},
            "feed 'confs-tech': field 'politeness': unknown field 'delay'",
        ),
        (
            {"env": {"REDFEED_RUN_ID": "x"}},
            "feed 'confs-tech': field 'env': REDFEED_RUN_ID is set by the DAG",
        ),
        (
            {"env": {"AWS_SECRET_ACCESS_KEY": "x"}},
            "feed 'confs-tech': field 'env': AWS_SECRET_ACCESS_KEY is set by the DAG",
        ),
        ({"env": {"lower": "x"}}, "field 'env': 'lower' is not an environment variable name"),
    ],
)
def test_a_broken_entry_names_the_feed_and_the_field(
    changes: dict[str, Any], expected: str
) -> None:
    problems = problems_of(registry_text(**changes))
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(registry_text(retries="x", schedule="nope", colour="red"))
    assert len(problems) == 3, problems
    with pytest.raises(RegistryError, match="3 problems in the feed registry"):
        parse_registry(registry_text(retries="x", schedule="nope", colour="red"))


def test_duplicate_feed_names_and_fields_are_found() -> None:
    text = """\
feeds:
  confs-tech:
    image: redfeed/a
    retries: 1
    retries: 2
  confs-tech:
    image: redfeed/b
"""
    problems = problems_of(text)
    assert "feed 'confs-tech': field 'retries' is given twice (lines 4 and 5)" in problems
    assert "duplicate feed name 'confs-tech' (lines 2 and 6)" in problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping with 'feeds'"),
        ("feeds: [a, b]\n", "field 'feeds': expected a mapping of feed name -> entry"),
        ("feeds:\n  Bad_Name: {}\n", "feed 'Bad_Name': not a feed name"),
        ("feeds:\n  x: 3\n", "feed 'x': expected a mapping of fields"),
        ("feeds: {x: [\n", "not valid YAML"),
        ("version: 2\nfeeds: {}\n", "field 'version': only version 1 is understood"),
        ("loader: {image: busybox}\nfeeds: {}\n", "loader: field 'image': expected a redfeed"),
    ],
)
def test_broken_files(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert any(expected in p for p in problems), problems


def test_an_unreadable_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read the registry"):
        load_registry(tmp_path / "missing.yaml")


def test_images_behind_a_registry_host_and_with_tags_are_accepted() -> None:
    for image in (
        "redfeed/scraper-x:1.2.3",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/redfeed/scraper-x:v1",
        "localhost:5000/redfeed/scraper_x",
    ):
        assert parse_registry(registry_text(image=image)).feeds[0].image == image


def test_the_registry_imports_nothing_heavy() -> None:
    code = (
        "import sys; from redfeed.orchestration import registry, runtime; "
        f"registry.load_registry({str(FEEDS_YAML)!r}); "
        "heavy = [m for m in ('airflow', 'scrapy', 'sqlalchemy', 'boto3', 'psycopg') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ------------------------------------------------------------------------ runtime config
def conn(conn_id: str, **fields: Any) -> Any:
    base = {
        "conn_type": None,
        "host": None,
        "schema": None,
        "login": None,
        "password": None,
        "port": None,
    }
    extra = fields.pop("extra", {})
    return SimpleNamespace(conn_id=conn_id, extra_dejson=extra, **{**base, **fields})


def test_the_archive_connection_becomes_public_and_private_variables() -> None:
    env = runtime.archive_env(
        conn(
            "redfeed_archive",
            conn_type="aws",
            login="AKIA",
            password="s3cret",
            extra={
                "endpoint_url": "http://s3:9000",
                "region_name": "us-east-1",
                "archive_url": "s3://redfeed-archive/redfeed",
            },
        )
    )
    assert env.public == {
        "REDFEED_ARCHIVE_URL": "s3://redfeed-archive/redfeed",
        "AWS_ENDPOINT_URL": "http://s3:9000",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    assert env.private == {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cret"}


def test_the_archive_connection_without_keys_uses_the_ambient_role() -> None:
    env = runtime.archive_env(conn("a", extra={"archive_url": "s3://b/p"}))
    assert env.public == {"REDFEED_ARCHIVE_URL": "s3://b/p"}
    assert env.private == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"extra": {}}, "has no archive_url"),
        ({"extra": {"archive_url": "http://x"}}, "must start with s3://"),
        ({"login": "AKIA", "extra": {"archive_url": "s3://b"}}, "no secret access key"),
    ],
)
def test_a_bad_archive_connection_is_a_config_error(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(runtime.RuntimeConfigError, match=message):
        runtime.archive_env(conn("redfeed_archive", **fields))


def test_the_warehouse_connection_becomes_a_sqlalchemy_url() -> None:
    local = conn(
        "redfeed_warehouse",
        conn_type="postgres",
        host="postgres",
        port=5432,
        schema="warehouse",
        login="redfeed",
        password="p@ss/word:1",
    )
    assert (
        runtime.warehouse_url(local)
        == "postgresql+psycopg://redfeed:p%40ss%2Fword%3A1@postgres:5432/warehouse"
    )
    aws = conn(
        "redfeed_warehouse",
        conn_type="redshift",
        host="cluster.abc.eu-west-1.redshift.amazonaws.com",
        schema="dev",
        login="loader",
        password="pw",
        extra={"sslmode": "verify-full", "iam": True},
    )
    assert runtime.warehouse_url(aws) == (
        "redshift+psycopg2://loader:pw@cluster.abc.eu-west-1.redshift.amazonaws.com:5439/dev"
        "?sslmode=verify-full"
    )
    env = runtime.warehouse_env(local)
    assert env.public == {}
    assert set(env.private) == {"REDFEED_WAREHOUSE_URL"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"conn_type": "mysql", "host": "h", "schema": "d"}, "type 'mysql'; use one of"),
        ({"conn_type": "postgres", "schema": "d"}, "names no host"),
        ({"conn_type": "postgres", "host": "h"}, "names no database"),
    ],
)
def test_a_bad_warehouse_connection_is_a_config_error(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(runtime.RuntimeConfigError, match=message):
        runtime.warehouse_url(conn("redfeed_warehouse", **fields))


def test_worker_variables_give_the_network_and_the_source_override() -> None:
    environ = {
        "REDFEED_DOCKER_NETWORK": "redfeed_default",
        "REDFEED_SOURCE_URL__CONFS_TECH": "http://source-mirror:8000",
    }
    env, network = runtime.worker_env("confs-tech", environ)
    assert network == "redfeed_default"
    assert env.public == {"REDFEED_SOURCE_URL": "http://source-mirror:8000"}
    env, network = runtime.worker_env(None, {})
    assert (env.public, env.private, network) == ({}, {}, None)
    with pytest.raises(runtime.RuntimeConfigError, match="REDFEED_SOURCE_URL__CONFS_TECH"):
        runtime.worker_env("confs-tech", {"REDFEED_SOURCE_URL__CONFS_TECH": "mirror:8000"})
