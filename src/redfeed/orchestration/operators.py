"""``ContractDockerOperator``: a DockerOperator that speaks the task contract (docs/contract.md).

- At **execute time** (on the worker, never at parse time) it resolves the ``redfeed_archive`` /
  ``redfeed_warehouse`` connections and the worker variables ``REDFEED_DOCKER_NETWORK`` and
  ``REDFEED_SOURCE_URL__<FEED>`` into the container's environment; credentials go only into
  ``private_environment`` (see :mod:`redfeed.orchestration.runtime`).
- It maps the contract's exit codes to Airflow outcomes: 99 (nothing new) skips the task, 65
  (data) and 78 (config) fail it without retries, anything else fails the try and is retried
  (75, temporary, with the task's exponential backoff).
- It parses the last-line JSON summary and returns it (a dict) as the task's XCom, so ``load``
  takes the batch's run id from ``extract``'s summary.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from airflow.providers.docker.exceptions import (
    DockerContainerFailedException,
    DockerContainerFailedSkipException,
)
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
)

from redfeed.errors import ExitCode
from redfeed.orchestration import runtime

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Exit codes that no retry can fix: fail the task at once.
NO_RETRY = frozenset({ExitCode.DATA_ERROR, ExitCode.CONFIG})
_STATUS_CODE = re.compile(r"['\"]StatusCode['\"]:\s*(-?\d+)")


def parse_summary(lines: Iterable[str | bytes] | None) -> dict[str, Any] | None:
    """The contract's summary: the last line that is a JSON object (normally the very last)."""
    tail = list(lines or [])[-20:]
    for line in reversed(tail):
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
        text = text.strip()
        if not text.startswith("{"):
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def exit_code_of(exc: BaseException, summary: Mapping[str, Any] | None) -> int | None:
    """The container's exit code: Docker's status (in the provider's message), else the
    summary's ``exit_code``."""
    match = _STATUS_CODE.search(str(exc))
    if match:
        return int(match.group(1))
    if summary and isinstance(summary.get("exit_code"), int):
        return int(summary["exit_code"])
    return None


def _describe(code: int | None) -> str:
    if code is None:
        return "unknown exit code"
    try:
        return f"exit {code} ({ExitCode(code).name})"
    except ValueError:
        return f"exit {code}"


class ContractDockerOperator(DockerOperator):
    """Run a redfeed image under the task contract.

    :param feed: the feed the container works for (container labels).
    :param source_url_feed: resolve ``REDFEED_SOURCE_URL__<FEED>`` on the worker for this feed
        (the scraper's source override).
    :param archive_conn_id: connection of the archive (``None``: the container needs none).
    :param warehouse_conn_id: connection of the warehouse (``None``: the container needs none).
    :param source_token_conn_id: connection whose password is the source's token.
    :param summary_required: a successful container must print a JSON summary last.
    :param summary_field: return this field of the summary as the XCom instead of the summary
        (e.g. the ``batches`` list a mapped task expands over).
    """

    ui_color = "#fde2e4"

    def __init__(
        self,
        *,
        feed: str | None = None,
        source_url_feed: str | None = None,
        archive_conn_id: str | None = runtime.ARCHIVE_CONN_ID,
        warehouse_conn_id: str | None = None,
        source_token_conn_id: str | None = None,
        summary_required: bool = True,
        summary_field: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("mount_tmp_dir", False)  # bind mounts name host paths: never
        kwargs.setdefault("auto_remove", "force")  # the log is in Airflow already
        kwargs.setdefault("skip_on_exit_code", (int(ExitCode.NOTHING_NEW),))
        kwargs.setdefault("do_xcom_push", True)
        kwargs.setdefault("xcom_all", False)
        kwargs.setdefault("tty", False)  # a TTY would merge stderr into stdout out of order
        super().__init__(**kwargs)
        self.feed = feed
        self.source_url_feed = source_url_feed
        self.archive_conn_id = archive_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.source_token_conn_id = source_token_conn_id
        self.summary_required = summary_required
        self.summary_field = summary_field

    # ------------------------------------------------------------------ runtime configuration
    def get_connection(self, conn_id: str) -> runtime.ConnectionLike:
        from airflow.sdk import Connection

        try:
            conn: runtime.ConnectionLike = Connection.get(conn_id)
        except AirflowNotFoundException:
            env_name = "AIRFLOW_CONN_" + conn_id.upper()
            raise runtime.RuntimeConfigError(
                f"Airflow connection {conn_id!r} is not defined (create it in the UI, or set "
                f"{env_name} on every Airflow component)"
            ) from None
        return conn

    def resolve_runtime_env(
        self,
        environ: Mapping[str, str],
        get_connection: Callable[[str], runtime.ConnectionLike],
    ) -> tuple[runtime.ContainerEnv, str | None]:
        """The container variables resolved from connections and the worker's environment,
        and the Docker network to join."""
        env, network = runtime.worker_env(self.source_url_feed, environ)
        if self.archive_conn_id:
            env.update(runtime.archive_env(get_connection(self.archive_conn_id)))
        if self.warehouse_conn_id:
            env.update(runtime.warehouse_env(get_connection(self.warehouse_conn_id)))
        if self.source_token_conn_id:
            env.update(runtime.source_token_env(get_connection(self.source_token_conn_id)))
        return env, network

    def apply_runtime_env(self, context: Context) -> None:
        try:
            env, network = self.resolve_runtime_env(os.environ, self.get_connection)
        except runtime.RuntimeConfigError as exc:
            raise AirflowFailException(str(exc)) from None
        _mask(env.private.values())
        # Public values may override the rendered environment (a worker's source URL override
        # wins over the registry's); private ones never show up in rendered fields.
        self.environment = {**(self.environment or {}), **env.public}
        self._private_environment = {**self._private_environment, **env.private}
        if network and not self.network_mode:
            self.network_mode = network
        self.labels = {
            **(self.labels if isinstance(self.labels, dict) else {}),
            "org.redfeed.dag_id": self.dag_id,
            "org.redfeed.task_id": self.task_id,
            "org.redfeed.run_id": str(context["run_id"]),
            "org.redfeed.try_number": str(getattr(context["ti"], "try_number", "")),
            **({"org.redfeed.feed": self.feed} if self.feed else {}),
        }

    # ------------------------------------------------------------------------------ running
    def execute(self, context: Context) -> Any:
        self.apply_runtime_env(context)
        try:
            last_line = super().execute(context)
        except DockerContainerFailedSkipException as exc:
            return self.handle_result(int(ExitCode.NOTHING_NEW), exc.logs)
        except DockerContainerFailedException as exc:
            code = exit_code_of(exc, parse_summary(exc.logs))
            return self.handle_result(code, exc.logs)
        if isinstance(last_line, list):  # xcom_all=True
            return self.handle_result(0, last_line)
        return self.handle_result(0, [last_line] if last_line else [])

    def handle_result(self, exit_code: int | None, lines: Iterable[str | bytes] | None) -> Any:
        """Turn the container's exit code and last lines into the task's outcome: the summary
        (the XCom) on success, otherwise the exception the contract's exit code calls for."""
        summary = parse_summary(lines)
        if summary is None:
            error = "no JSON summary; see the container's log above"
        else:
            error = str(summary.get("error") or f"status {summary.get('status', 'unknown')}")
        if exit_code == 0:
            if summary is None:
                if self.summary_required:
                    raise AirflowException(
                        f"{self.image} exited 0 but printed no JSON summary as its last line"
                    )
                return None
            self.log.info("summary: %s", orjson.dumps(summary).decode())
            if self.summary_field is not None:
                if self.summary_field not in summary:
                    raise AirflowException(f"the summary has no field {self.summary_field!r}")
                return summary[self.summary_field]
            return summary
        if exit_code == ExitCode.NOTHING_NEW:
            raise AirflowSkipException(f"nothing new: {error}")
        message = f"{self.image} failed with {_describe(exit_code)}: {error}"
        if exit_code in NO_RETRY:
            raise AirflowFailException(message + " (not retried: fix the data or configuration)")
        raise AirflowException(message)


def _mask(values: Iterable[str]) -> None:
    """Keep the values out of task logs (Airflow masks connection passwords, not the URLs
    built from them)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover
        return
    for value in values:
        mask_secret(value)
