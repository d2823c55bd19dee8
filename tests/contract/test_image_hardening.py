"""Every image runs as a non-root user, and the images task containers are started from (all
built on redfeed/python) hold no set-user-ID or set-group-ID program: DockerOperator cannot set
no-new-privileges or drop capabilities on the containers it starts, so nothing in them may
lead back to root."""

from __future__ import annotations

import re
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[2]
#: Built from Debian packages; only other images start from it, nothing runs it.
NOT_RUN = {"base"}
IMAGES = sorted(
    p.name
    for p in (REPO / "images").iterdir()
    if (p / "Dockerfile").is_file() and p.name not in NOT_RUN
)


def from_redfeed_python(name: str) -> bool:
    """redfeed/python itself, or built on it (through redfeed/scraper, say)."""
    while name != "python":
        dockerfile = REPO / "images" / name / "Dockerfile"
        parent = dockerfile.is_file() and re.search(
            r"^FROM redfeed/([a-z0-9-]+)", dockerfile.read_text(), re.M
        )
        if not parent:  # redfeed/base, or not a redfeed image
            return False
        name = parent.group(1)
    return True


@pytest.mark.parametrize("name", IMAGES)
def test_the_image_runs_as_a_non_root_user(docker_client: docker.DockerClient, name: str) -> None:
    image = docker_client.images.get(f"redfeed/{name}")
    user = image.attrs["Config"].get("User") or "root"
    assert user.split(":")[0] not in ("root", "0"), f"redfeed/{name} runs as {user}"


@pytest.mark.parametrize("name", [n for n in IMAGES if from_redfeed_python(n)])
def test_task_images_hold_no_setuid_programs(docker_client: docker.DockerClient, name: str) -> None:
    found = docker_client.containers.run(
        f"redfeed/{name}",
        entrypoint=["find", "/", "-xdev", "-perm", "/6000", "-type", "f"],
        user="0",  # to see into every directory
        remove=True,
        network_disabled=True,
    )
    assert found.decode().split() == []
