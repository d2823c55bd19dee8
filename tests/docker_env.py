"""Docker fixtures shared by the contract, integration and e2e layers: the real images on a
private network (local S3, source mirror), and containers started the way DockerOperator starts
them (env in, summary line out). Registered as a plugin in tests/conftest.py."""

from __future__ import annotations

import functools
import os
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import docker
import orjson
import pytest
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

#: Docker 20.10 picks a random host port from the kernel's ephemeral range, which the host's own
#: outgoing connections (the tests' own, to other containers) share, and fails the start when
#: its pick is taken ("bind: address already in use") instead of picking again. So do that here.
PORT_CLASH = "address already in use"


def _start_retrying_port_clash(start: Callable[[DockerContainer], Any]) -> Callable[..., Any]:
    @functools.wraps(start)
    def start_retrying(self: DockerContainer) -> Any:
        for attempt in range(1, 5):
            try:
                return start(self)
            except docker.errors.APIError as exc:
                if PORT_CLASH not in str(exc):
                    raise
                if self._container is not None:  # created, never started
                    self._container.remove(force=True)
                    self._container = None
                if attempt == 4:
                    raise
                time.sleep(1)
        raise AssertionError("unreachable")

    return start_retrying


DockerContainer.start = _start_retrying_port_clash(DockerContainer.start)  # type: ignore[method-assign]

IMAGES = ("redfeed/s3", "redfeed/source-mirror", "redfeed/scraper-confs-tech")
BUCKET = "archive"


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    client = docker.from_env()
    missing = [name for name in IMAGES if not client.images.list(name=name)]
    if missing:
        pytest.fail(f"images {missing} are missing: run `make images` first")
    return client


@pytest.fixture(scope="session")
def network(docker_client: docker.DockerClient) -> Iterator[Network]:
    with Network() as net:
        yield net


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class LocalS3:
    endpoint_for_host: str
    endpoint_in_network: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_for_host,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_in_network,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@pytest.fixture(scope="session")
def s3(network: Network) -> Iterator[LocalS3]:
    container = (
        DockerContainer("redfeed/s3")
        .with_network(network)
        .with_network_aliases("s3")
        .with_exposed_ports(9000)
    )
    with container:
        host = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(9000)}"
        wait_http(host + "/moto-api/")
        local = LocalS3(host, "http://s3:9000")
        local.client().create_bucket(Bucket=BUCKET)
        yield local


@pytest.fixture(scope="session")
def start_mirror(network: Network) -> Iterator[Callable[..., str]]:
    """Start a source mirror serving ``root``; returns its URL inside the network."""
    started: list[DockerContainer] = []

    def start(
        root: Path, faults: list[dict[str, Any]] | None = None, env: dict[str, str] | None = None
    ) -> str:
        alias = f"mirror-{secrets.token_hex(3)}"
        container = (
            DockerContainer("redfeed/source-mirror")
            .with_network(network)
            .with_network_aliases(alias)
            .with_volume_mapping(str(root), "/data", "ro")
            .with_exposed_ports(8000)
        )
        if faults:
            container = container.with_env("REDFEED_MIRROR_FAULTS", orjson.dumps(faults).decode())
        for name, value in (env or {}).items():  # e.g. REDFEED_MIRROR_PAGE_SIZE
            container = container.with_env(name, value)
        container.start()
        started.append(container)
        host = container.get_container_host_ip()
        wait_http(f"http://{host}:{container.get_exposed_port(8000)}/")
        return f"http://{alias}:8000"

    yield start
    for container in started:
        container.stop()


@dataclass
class ScraperRun:
    exit_code: int
    summary: dict[str, Any]
    logs: str


@pytest.fixture
def run_scraper(
    docker_client: docker.DockerClient, network: Network, s3: LocalS3
) -> Callable[..., ScraperRun]:
    def run(
        env: dict[str, str], image: str = "redfeed/scraper-confs-tech", timeout: float = 120
    ) -> ScraperRun:
        container = start_scraper(docker_client, network, s3, env, image)
        try:
            result = container.wait(timeout=timeout)
            logs = container.logs(stdout=True, stderr=True).decode()
        finally:
            container.remove(force=True)
        return ScraperRun(result["StatusCode"], last_json_line(logs), logs)

    return run


def start_scraper(
    client: docker.DockerClient,
    network: Network,
    s3: LocalS3,
    env: dict[str, str],
    image: str = "redfeed/scraper-confs-tech",
) -> Container:
    full_env = {
        "REDFEED_ARCHIVE_URL": f"s3://{BUCKET}/redfeed",
        "REDFEED_RETRY_BACKOFF_BASE": "0.1",
        "REDFEED_RETRY_BACKOFF_MAX": "0.5",
        "REDFEED_RETRY_TIMES": "2",
        "REDFEED_DOWNLOAD_DELAY": "0.02",
        **s3.env(),
        **env,
    }
    return client.containers.run(image, environment=full_env, network=network.name, detach=True)


def last_json_line(logs: str) -> dict[str, Any]:
    """DockerOperator's view: the last line of the combined output is the XCom."""
    lines = logs.strip().splitlines()
    assert lines, "the container printed nothing"
    try:
        value = orjson.loads(lines[-1])
    except orjson.JSONDecodeError:
        pytest.fail(f"the last line is not the JSON summary: {lines[-1]!r}\n{logs[-3000:]}")
    assert isinstance(value, dict)
    return value
