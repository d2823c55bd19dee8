"""The task contract shared by every redfeed image: configuration from the environment, one JSON
summary line as the very last output, exit codes from error kinds, SIGTERM handled.

The environment variable names are a public interface (docs/contract.md): keep them stable.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from redfeed.errors import ConfigError, ExitCode, RedfeedError, Terminated

log = logging.getLogger("redfeed")

FEED_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}\Z")
# Airflow run ids look like "scheduled__2024-01-01T00:00:00+00:00": allow those characters, but
# nothing that could climb out of an S3 key or a path ("/", "..", leading dot).
RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,199}\Z")
TRUE_WORDS = {"1", "true", "yes", "on"}
#: The read end of a scraper's start gate (``redfeed extract --start-early``): a byte means
#: scrape, end of file means exit without fetching anything.
START_FD_ENV = "REDFEED_START_FD"
FALSE_WORDS = {"0", "false", "no", "off", ""}


def parse_instant(name: str, value: str) -> datetime:
    """An ISO 8601 instant; naive values are taken as UTC (Airflow renders them with an offset)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not an ISO 8601 date or timestamp") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_bool(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use true or false)")


def parse_int(name: str, value: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not an integer") from exc
    if number < minimum:
        raise ConfigError(f"{name}={value!r} must be at least {minimum}")
    return number


def new_run_id(now: datetime | None = None) -> str:
    """A run id for runs started outside Airflow: sortable by time, unique by its random tail."""
    now = now or datetime.now(UTC)
    return f"manual__{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def isoformat(instant: datetime) -> str:
    """UTC instants as ``2024-01-01T00:00:00Z`` everywhere (manifests, records, summaries)."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Settings:
    """The contract's configuration, read once from the environment."""

    feed: str
    run_id: str
    interval_start: datetime
    interval_end: datetime
    archive_url: str | None
    source_url: str | None
    warehouse_url: str | None
    skip_unchanged: bool = False
    part_max_records: int = 500_000
    part_max_bytes: int = 256 * 1024 * 1024
    #: Redshift slices to split large batches for (archive parts a multiple of it); 1: no split
    copy_slices: int = 1
    http_cache: bool = False
    years_ahead: int = 0
    code_version: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, need_archive: bool = True
    ) -> Settings:
        env = os.environ if env is None else env
        feed = env.get("REDFEED_FEED", "").strip()
        if not feed:
            raise ConfigError("REDFEED_FEED is not set: name the feed (e.g. confs-tech)")
        if not FEED_NAME.match(feed):
            raise ConfigError(
                f"REDFEED_FEED={feed!r} is not a feed name (lower-case letters, digits and '-')"
            )
        run_id = env.get("REDFEED_RUN_ID", "").strip() or new_run_id()
        if not RUN_ID.match(run_id) or ".." in run_id:
            raise ConfigError(
                f"REDFEED_RUN_ID={run_id!r} may use only letters, digits and _ . : + - "
                "(at most 200, not starting with '.')"
            )

        start_raw = env.get("REDFEED_INTERVAL_START", "").strip()
        end_raw = env.get("REDFEED_INTERVAL_END", "").strip()
        if start_raw:
            start = parse_instant("REDFEED_INTERVAL_START", start_raw)
        else:
            now = datetime.now(UTC)
            start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (
            parse_instant("REDFEED_INTERVAL_END", end_raw) if end_raw else start + timedelta(days=1)
        )
        if end <= start:
            raise ConfigError(
                f"REDFEED_INTERVAL_END ({isoformat(end)}) must be after "
                f"REDFEED_INTERVAL_START ({isoformat(start)})"
            )

        archive_url = env.get("REDFEED_ARCHIVE_URL", "").strip() or None
        if need_archive and not archive_url:
            raise ConfigError("REDFEED_ARCHIVE_URL is not set (s3://bucket/prefix or file:///path)")
        if archive_url and not archive_url.startswith(("s3://", "file://")):
            raise ConfigError(
                f"REDFEED_ARCHIVE_URL={archive_url!r} must start with s3:// or file://"
            )
        source_url = env.get("REDFEED_SOURCE_URL", "").strip() or None
        if source_url and not source_url.startswith(("http://", "https://")):
            raise ConfigError(f"REDFEED_SOURCE_URL={source_url!r} must be an http(s) URL")

        return cls(
            feed=feed,
            run_id=run_id,
            interval_start=start,
            interval_end=end,
            archive_url=archive_url,
            source_url=source_url,
            warehouse_url=env.get("REDFEED_WAREHOUSE_URL", "").strip() or None,
            skip_unchanged=parse_bool(
                "REDFEED_SKIP_UNCHANGED", env.get("REDFEED_SKIP_UNCHANGED", "false")
            ),
            part_max_records=parse_int(
                "REDFEED_PART_MAX_RECORDS", env.get("REDFEED_PART_MAX_RECORDS", "500000"), 1
            ),
            part_max_bytes=parse_int(
                "REDFEED_PART_MAX_BYTES", env.get("REDFEED_PART_MAX_BYTES", str(256 * 1024**2)), 1
            ),
            copy_slices=parse_int("REDFEED_COPY_SLICES", env.get("REDFEED_COPY_SLICES", "1"), 1),
            http_cache=parse_bool("REDFEED_HTTP_CACHE", env.get("REDFEED_HTTP_CACHE", "false")),
            years_ahead=parse_int("REDFEED_YEARS_AHEAD", env.get("REDFEED_YEARS_AHEAD", "0")),
            code_version=env.get("REDFEED_CODE_VERSION", ""),
            extra={k: v for k, v in env.items() if k.startswith("REDFEED_")},
        )


def configure_logging() -> None:
    """Logs go to stderr, one line each, so stdout stays records-only (and then the summary)."""
    level = os.environ.get("REDFEED_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        stream=sys.stderr,
        level=level if level in logging.getLevelNamesMapping() else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def emit_summary(summary: Mapping[str, Any]) -> None:
    """Print the one-line JSON summary as the last line of the container's output.

    DockerOperator pushes the last line of the combined stdout/stderr as the XCom, but Docker
    reads the two pipes independently and may interleave them out of order. So the line goes to
    stderr (after every log line) and then to stdout (where nothing else is written): whichever
    copy Docker sees last, the last line is the summary, and `2>/dev/null` still yields just it.
    """
    # str subclasses (SQLAlchemy names) as keys, and anything odd as text: the summary must print.
    line = orjson.dumps(summary, option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"
    sys.stderr.flush()
    sys.stderr.buffer.write(line)
    sys.stderr.flush()
    sys.stdout.flush()  # anything printed as text goes before the summary, never after it
    sys.stdout.buffer.write(line)
    sys.stdout.flush()


def raise_on_sigterm() -> None:
    """Turn SIGTERM (DockerOperator.on_kill, docker stop) into ``Terminated`` in the main thread,
    so the same code path that handles errors also aborts uploads and writes no manifest."""

    def handler(signum: int, frame: FrameType | None) -> None:
        # Once is enough: a second SIGTERM must not interrupt the clean-up of the first.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(f"received signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)


def process_elapsed() -> float | None:
    """Wall seconds since this process started (Linux ``/proc``), interpreter start-up and imports
    included: what the program itself took, as opposed to the container and Airflow around it.
    None where ``/proc`` is not there."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        # Field 22, start time in clock ticks since boot; fields after the ")" of the command
        # name start at field 3.
        started_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))


def run_command(command: str, body: Callable[[], dict[str, Any]]) -> int:
    """Run ``body`` under the contract: its summary (or the error's) is printed last and the
    error kind becomes the exit code. Returns the exit code."""
    configure_logging()
    raise_on_sigterm()
    started = time.monotonic()
    try:
        summary = body()
        code = int(summary.pop("exit_code", ExitCode.OK))
        status = summary.pop("status", "ok")
    except RedfeedError as exc:
        code = int(exc.exit_code)
        status = exc.kind
        summary = dict(getattr(exc, "summary", {}) or {})
        summary["error"] = str(exc)
        log.error("%s: %s", command, exc) if code != ExitCode.NOTHING_NEW else log.info("%s", exc)
    except Exception as exc:  # a bug: report it as one, with a traceback on stderr
        log.exception("%s failed unexpectedly", command)
        code, status = int(ExitCode.SOFTWARE), "software"
        summary = {"error": f"{type(exc).__name__}: {exc}"}
    summary = {
        "redfeed": command,
        "status": status,
        "exit_code": code,
        **summary,
        "duration_s": round(time.monotonic() - started, 3),
    }
    # The whole process, start-up included (never less than duration_s: /proc counts in ticks).
    summary["elapsed_s"] = round(max(process_elapsed() or 0.0, summary["duration_s"]), 3)
    emit_summary(summary)
    return code
