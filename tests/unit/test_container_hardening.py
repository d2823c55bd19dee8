"""The local stack's containers: non-root images (checked on the images by
tests/contract/test_image_hardening.py), no privileges, every capability dropped,
no-new-privileges, read-only root file systems where the service allows it, the Docker socket
only where DockerOperator needs it, and published ports on 127.0.0.1 only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"
#: Services that cannot run read-only, and why (also said in the compose file).
WRITABLE = {"postgres": "its socket and lock file live in /run/postgresql, owned by postgres"}
#: The only service that may reach the Docker engine: Celery workers start the task containers.
DOCKER_SOCKET_USERS = {"airflow-worker"}


def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text())  # resolves the x-* anchors and merges
    return dict(document["services"])


@pytest.mark.parametrize("name", sorted(services()))
def test_every_service_runs_without_privileges(name: str) -> None:
    service = services()[name]
    assert not service.get("privileged", False)
    assert service.get("cap_drop") == ["ALL"]
    assert not service.get("cap_add")
    assert "no-new-privileges:true" in service.get("security_opt", [])
    assert str(service.get("user", "")) not in ("root", "0", "0:0")
    assert service.get("network_mode") != "host"
    assert service.get("pid") != "host"
    assert service.get("read_only") is (name not in WRITABLE)
    for port in service.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), port
    sockets = [v for v in service.get("volumes", []) if "docker.sock" in str(v)]
    assert bool(sockets) == (name in DOCKER_SOCKET_USERS)
