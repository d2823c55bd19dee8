"""What the task images hold, and what they leave out on purpose: the loader carries no Scrapy
(nor the pyOpenSSL botocore would import), and botocore keeps only the service models the archive
and botocore's own credential chain build clients for."""

from __future__ import annotations

import docker
import pytest

#: Every service botocore's own modules build a client for (credential providers, token
#: providers), read from the installed botocore's source, must still have its model.
BOTOCORE_MODELS = r"""
import pathlib, re, botocore, botocore.session
pattern = re.compile(
    r"(?:client_creator|create_nested_client|create_client)\(\s*(?:[\w.]+,\s*)?['\"]([a-z0-9-]+)['\"]"
)
needed = {"s3"}
for source in pathlib.Path(botocore.__file__).parent.glob("*.py"):
    needed |= set(pattern.findall(source.read_text()))
available = set(botocore.session.get_session().get_available_services())
assert {"sts", "sso", "sso-oidc"} <= needed, needed  # the scan still finds the chain's clients
missing = sorted(needed - available)
assert not missing, f"botocore models removed but used: {missing}"
print(sorted(available))
"""


def run_python(client: docker.DockerClient, image: str, code: str) -> str:
    out: bytes = client.containers.run(
        image, entrypoint=["python", "-c", code], remove=True, network_disabled=True
    )
    return out.decode()


@pytest.mark.parametrize("image", ["redfeed/loader", "redfeed/scraper-confs-tech"])
def test_botocore_keeps_every_model_it_builds_clients_for(
    docker_client: docker.DockerClient, image: str
) -> None:
    available = run_python(docker_client, image, BOTOCORE_MODELS)
    assert available.strip() == "['s3', 'signin', 'sso', 'sso-oidc', 'sts']"


def test_the_loader_carries_no_scrapy_and_no_pyopenssl(docker_client: docker.DockerClient) -> None:
    code = (
        "import importlib.util as u; "
        "print([m for m in ('scrapy', 'twisted', 'OpenSSL', 'boto3') if u.find_spec(m)])"
    )
    assert run_python(docker_client, "redfeed/loader", code).strip() == "[]"
    assert run_python(docker_client, "redfeed/scraper-confs-tech", code).strip() == (
        "['scrapy', 'twisted', 'OpenSSL']"
    )
