"""The fault-injection suite (``make test-faults``): the source, the archive and the warehouse
made to fail on purpose, each case ending with proof that nothing was lost or duplicated (see
``tests/faults/pipeline.py`` and docs/reliability.md)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from tests.docker_env import BUCKET
from tests.faults.pipeline import (
    S3_ALIAS,
    WAREHOUSE_ALIAS,
    ControlledS3,
    Pipeline,
    Warehouse,
    wait_http,
)
from tests.faults.source import make_readable

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees every item of the session: mark only this directory's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="package")
def controlled_s3(docker_client: docker.DockerClient, network: Network) -> Iterator[ControlledS3]:
    container = (
        DockerContainer("redfeed/s3")
        .with_network(network)
        .with_network_aliases(S3_ALIAS)
        .with_exposed_ports(9000)
    )
    with container:
        s3 = ControlledS3(
            endpoint_for_host="",
            endpoint_in_network=f"http://{S3_ALIAS}:9000",
            container=container.get_wrapped_container(),
            network=docker_client.networks.get(network.name),
        )
        s3.refresh()
        wait_http(s3.endpoint_for_host + "/moto-api/")
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3


@pytest.fixture(scope="package")
def fault_warehouse(network: Network) -> Iterator[Warehouse]:
    password = secrets.token_hex(8)
    container = (
        PostgresContainer(
            "redfeed/postgres",
            username="redfeed",
            password=password,
            dbname="redfeed",
            driver="psycopg",
        )
        .with_command("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        .with_network(network)
        .with_network_aliases(WAREHOUSE_ALIAS)
    )
    try:
        container.start()
    except Exception as exc:  # no engine, no image: say what to do
        pytest.fail(f"cannot start redfeed/postgres (run `make images`): {exc}")
    try:
        warehouse = Warehouse(container, password)
        warehouse.prepare_template()
        yield warehouse
    finally:
        container.stop()


@pytest.fixture(scope="package")
def pipeline(
    docker_client: docker.DockerClient,
    network: Network,
    controlled_s3: ControlledS3,
    fault_warehouse: Warehouse,
) -> Pipeline:
    for image in ("redfeed/loader", "redfeed/postgres"):
        if not docker_client.images.list(name=image):
            pytest.fail(f"image {image} is missing: run `make images` first")
    return Pipeline(docker_client, network, controlled_s3, fault_warehouse)


@pytest.fixture
def database(fault_warehouse: Warehouse) -> str:
    """A new migrated warehouse database for this test."""
    return fault_warehouse.create_database()


@pytest.fixture(scope="session")
def source_2024(confs_tech_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small copy of the confs.tech source: the first five 2024 topic files, readable by the
    mirror container's user."""
    root = tmp_path_factory.mktemp("source-2024")
    target = root / "conferences" / "2024"
    target.mkdir(parents=True)
    for path in sorted((confs_tech_dir / "conferences" / "2024").glob("*.json"))[:5]:
        shutil.copy(path, target / path.name)
    make_readable(root)
    return root
