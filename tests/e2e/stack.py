"""The compose stack for end-to-end tests: its own project name, env file (random secrets,
random 127.0.0.1 ports), DAGs folder (a copy of ``dags/`` the tests may edit) and demo data, so
it runs beside a ``make demo`` stack without touching it. Driven by ``scripts/compose.sh`` and
``scripts/airflow_api.py``, the same tools ``make demo`` uses."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from airflow_api import Airflow, wait_for  # noqa: E402

__all__ = ["DOCKER", "REPO", "Airflow", "Stack", "wait_for"]

DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")


def _secret_env() -> dict[str, str]:
    return {
        "REDFEED_AIRFLOW_USER": "admin",
        "REDFEED_AIRFLOW_PASSWORD": secrets.token_urlsafe(12),
        "REDFEED_POSTGRES_PASSWORD": secrets.token_hex(16),
        "REDFEED_AIRFLOW_DB_PASSWORD": secrets.token_hex(16),
        "REDFEED_WAREHOUSE_DB_PASSWORD": secrets.token_hex(16),
        "REDFEED_REDIS_PASSWORD": secrets.token_hex(16),
        "REDFEED_AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
        "REDFEED_AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # A canary: the tests grep logs, XComs, rendered fields and the archive for it.
        "REDFEED_S3_SECRET_ACCESS_KEY": f"canary-s3-{secrets.token_hex(12)}",
    }


@dataclass
class Stack:
    project: str
    workdir: Path
    settings: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    #: More compose files layered over compose/docker-compose.yml (e.g. a benchmark's overrides).
    compose_files: list[Path] = field(default_factory=list)

    # ------------------------------------------------------------------ set-up
    @property
    def env_file(self) -> Path:
        return self.workdir / "stack.env"

    @property
    def dags_dir(self) -> Path:
        return self.workdir / "dags"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "demo-data"

    def prepare(self, demo_years: Iterable[int], **overrides: str) -> None:
        """Copy the DAGs, generate the demo data, write the env file."""
        from redfeed.sample_data import write_sample

        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        shutil.copytree(REPO / "dags", self.dags_dir, ignore=shutil.ignore_patterns("__pycache__"))
        write_sample(self.data_dir, sorted(set(demo_years)))
        # The containers run as other users (airflow 50000, redfeed 10001): world-readable.
        for path in [self.workdir, *self.workdir.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.settings = {
            "COMPOSE_PROJECT_NAME": self.project,
            "REDFEED_AIRFLOW_PORT": "0",
            "REDFEED_S3_PORT": "0",
            "REDFEED_POSTGRES_PORT": "0",
            "REDFEED_DEMO_DATA": str(self.data_dir),
            "REDFEED_DAGS_DIR": str(self.dags_dir),
            **_secret_env(),
            **overrides,
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))
        self.env_file.chmod(0o600)

    # ------------------------------------------------------------------ docker-compose
    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        env = {**os.environ, "REDFEED_ENV_FILE": str(self.env_file)}
        env.pop("COMPOSE_PROJECT_NAME", None)
        started = time.monotonic()
        result = subprocess.run(
            [
                str(REPO / "scripts" / "compose.sh"),
                *(arg for path in self.compose_files for arg in ("-f", str(path))),
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if args[0] in ("up", "down"):
            self.log.append(f"compose {' '.join(args)}: {time.monotonic() - started:.0f}s")
        if check and result.returncode != 0:
            raise RuntimeError(
                f"compose {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def up(self, workers: int = 2) -> None:
        self.compose("up", "-d", "--scale", f"airflow-worker={workers}", timeout=900)

    def down(self) -> None:
        network = f"{self.project}_default"
        leftovers = subprocess.run(
            [DOCKER, "ps", "-aq", "--filter", f"network={network}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        for container in leftovers:
            labels = self.inspect(container, "{{json .Config.Labels}}")
            if "com.docker.compose.project" not in labels:  # a task container
                subprocess.run([DOCKER, "rm", "-f", container], capture_output=True, check=False)
        self.compose("down", "-v", "--remove-orphans", "-t", "5", check=False)

    def inspect(self, container: str, template: str) -> str:
        return subprocess.run(
            [DOCKER, "inspect", "-f", template, container],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def containers(self, service: str | None = None) -> list[str]:
        args = ["ps", "-q"] + ([service] if service else [])
        return self.compose(*args).split()

    def wait_healthy(self, timeout: float = 300) -> None:
        """Every container healthy (or without a healthcheck), every one-shot exited 0."""
        deadline = time.monotonic() + timeout
        while True:
            pending = []
            for container in self.containers():
                name, status, health, code = self.inspect(
                    container,
                    "{{.Name}} {{.State.Status}} "
                    "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} "
                    "{{.State.ExitCode}}",
                ).split()
                if status == "exited" and code != "0":
                    logs = subprocess.run(
                        [DOCKER, "logs", "--tail", "40", container],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    raise RuntimeError(f"{name} exited {code}:\n{logs.stdout}{logs.stderr}")
                if status != "exited" and health not in ("healthy", "none"):
                    pending.append(f"{name}({health})")
            if not pending:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"not healthy after {timeout}s: {pending}")
            time.sleep(2)

    def port(self, service: str, port: int) -> int:
        return int(self.compose("port", service, str(port)).strip().rsplit(":", 1)[1])

    # ------------------------------------------------------------------ clients
    def airflow(self) -> Airflow:
        return Airflow(
            f"http://127.0.0.1:{self.port('airflow-api-server', 8080)}",
            self.settings["REDFEED_AIRFLOW_USER"],
            self.settings["REDFEED_AIRFLOW_PASSWORD"],
        )

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port('s3', 9000)}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key=self.settings["REDFEED_S3_SECRET_ACCESS_KEY"],
        )

    def sql(self, query: str, database: str = "warehouse") -> list[tuple[str, ...]]:
        """Rows of a query, as strings (psql in the postgres container, as the database's
        owner): the warehouse, or Airflow's metadata database (``airflow``)."""
        owner = {"warehouse": "redfeed", "airflow": "airflow"}[database]
        out = self.compose(
            "exec", "-T", "postgres",
            "psql", "-U", owner, "-d", database, "-X", "-q", "-A", "-t", "-F", "\t",
            "-v", "ON_ERROR_STOP=1", "-c", query,
        )  # fmt: skip
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def worker_hostnames(self) -> dict[str, str]:
        """Celery worker hostname (as Airflow records it on task instances) -> container id."""
        return {
            self.inspect(c, "{{.Config.Hostname}}"): c for c in self.containers("airflow-worker")
        }
