"""The feed registry: ``dags/feeds.yaml``, one entry per feed, validated when it is loaded.

Adding a feed is one entry here (plus its image); the DAG factory reads nothing else. Every
problem in the file is reported at once, each naming the feed and the field::

    dags/feeds.yaml: 2 problems in the feed registry:
      - feed 'confs-tech': field 'retries': expected an integer >= 0, got 'three'
      - feed 'confs-tech': unknown field 'retry'; did you mean 'retries'?

Plain Python (PyYAML, and croniter when it is installed, as it is wherever Airflow is): the
registry is read on every DAG parse, so it stays cheap, and it is unit-tested without Airflow.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from redfeed.contract import FEED_NAME
from redfeed.errors import ConfigError

#: A local image ``redfeed/<name>[:tag]``, optionally behind a registry host
#: (``123456789012.dkr.ecr.eu-west-1.amazonaws.com/redfeed/scraper-x:1.2``): only redfeed images
#: follow the task contract.
IMAGE = re.compile(
    r"^(?:[a-z0-9][a-z0-9.-]*(?::[0-9]{1,5})?/)?"
    r"redfeed/[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
#: Warehouse table names as the models spell them (lower-case SQL identifiers).
TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}\Z")
QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,99}\Z")
CONN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}\Z")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_. -]{0,99}\Z")
CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?#-]+\Z")

#: Airflow's cron presets (``@once`` and ``None`` are not intervals: feeds need intervals).
CRON_PRESETS: Mapping[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}

#: Variables the DAG sets itself (or resolves from connections at run time): a feed's ``env``
#: may not set them.
RESERVED_ENV = frozenset(
    {
        "REDFEED_FEED",
        "REDFEED_RUN_ID",
        "REDFEED_INTERVAL_START",
        "REDFEED_INTERVAL_END",
        "REDFEED_ARCHIVE_URL",
        "REDFEED_WAREHOUSE_URL",
        "REDFEED_SOURCE_URL",
        "REDFEED_SOURCE_TOKEN",
        "REDFEED_SKIP_UNCHANGED",
        "REDFEED_REPLAY",
        "REDFEED_CODE_VERSION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
    }
)

#: politeness field -> (environment variable, integer?, minimum, minimum allowed itself?)
POLITENESS_ENV: Mapping[str, tuple[str, bool, float, bool]] = {
    "download_delay": ("REDFEED_DOWNLOAD_DELAY", False, 0, True),
    "download_timeout": ("REDFEED_DOWNLOAD_TIMEOUT", False, 0, False),
    "concurrency": ("REDFEED_CONCURRENCY_PER_HOST", True, 1, True),
    "retry_times": ("REDFEED_RETRY_TIMES", True, 0, True),
    "retry_backoff_base": ("REDFEED_RETRY_BACKOFF_BASE", False, 0, True),
    "retry_backoff_max": ("REDFEED_RETRY_BACKOFF_MAX", False, 0, True),
    "retry_after_max": ("REDFEED_RETRY_AFTER_MAX", False, 0, True),
}

TOP_LEVEL_FIELDS = ("version", "loader", "feeds")
LOADER_FIELDS = ("image", "queue")
FEED_FIELDS = (
    "description",
    "image",
    "schedule",
    "start_date",
    "catchup",
    "latest_only",
    "max_active_runs",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "tables",
    "queue",
    "source_url",
    "source_token_conn_id",
    "skip_unchanged",
    "politeness",
    "env",
    "owner",
    "tags",
)
REQUIRED_FEED_FIELDS = ("image", "schedule", "start_date", "catchup", "tables")


class RegistryError(ConfigError):
    """The registry file is unreadable or invalid; ``problems`` lists every finding."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: {count} in the feed registry:\n{listing}")


@dataclass(frozen=True)
class Politeness:
    """How hard a scraper may hit its source; each set value becomes a ``REDFEED_*`` variable."""

    download_delay: float | None = None
    download_timeout: float | None = None
    concurrency: int | None = None
    retry_times: int | None = None
    retry_backoff_base: float | None = None
    retry_backoff_max: float | None = None
    retry_after_max: float | None = None

    def env(self) -> dict[str, str]:
        values = {
            POLITENESS_ENV[name][0]: getattr(self, name)
            for name in POLITENESS_ENV
            if getattr(self, name) is not None
        }
        return {k: _env_value(v) for k, v in values.items()}


@dataclass(frozen=True)
class LoaderSpec:
    """The loader image (``redfeed load|verify|migrate|archive``) shared by every feed."""

    image: str = "redfeed/loader"
    queue: str = "default"


@dataclass(frozen=True)
class FeedSpec:
    """One registry entry: everything the DAG factory needs to build the feed's DAG."""

    name: str
    image: str
    schedule: str
    start_date: datetime
    catchup: bool
    tables: tuple[str, ...]
    description: str = ""
    latest_only: bool = False
    max_active_runs: int = 1
    retries: int = 3
    retry_delay: timedelta = timedelta(seconds=60)
    #: Airflow's multiplier (2.0: the delay doubles each try; 0 or 1: constant).
    retry_exponential_backoff: float = 2.0
    max_retry_delay: timedelta = timedelta(hours=1)
    execution_timeout: timedelta | None = None
    queue: str = "default"
    source_url: str | None = None
    #: Airflow connection whose password is the source's token (REDFEED_SOURCE_TOKEN).
    source_token_conn_id: str | None = None
    skip_unchanged: bool = False
    politeness: Politeness = field(default_factory=Politeness)
    env: Mapping[str, str] = field(default_factory=dict)
    owner: str = "redfeed"
    tags: tuple[str, ...] = ()

    @property
    def dag_id(self) -> str:
        return dag_id_for(self.name)

    @property
    def source_url_override_env(self) -> str:
        """The worker variable that replaces ``source_url`` (e.g. with a local mirror)."""
        return source_url_env_for(self.name)

    def extract_env(self) -> dict[str, str]:
        """The extract container's static environment (no secrets, no per-run values)."""
        env: dict[str, str] = {
            "REDFEED_FEED": self.name,
            "REDFEED_SKIP_UNCHANGED": _env_value(self.skip_unchanged),
            **self.politeness.env(),
            **self.env,
        }
        if self.source_url:
            env["REDFEED_SOURCE_URL"] = self.source_url
        return env


@dataclass(frozen=True)
class Registry:
    feeds: tuple[FeedSpec, ...]
    loader: LoaderSpec = field(default_factory=LoaderSpec)
    path: str = "feeds.yaml"

    def feed(self, name: str) -> FeedSpec:
        for spec in self.feeds:
            if spec.name == name:
                return spec
        known = ", ".join(self.names()) or "(none)"
        raise ConfigError(f"unknown feed {name!r} in {self.path}; known feeds: {known}")

    def names(self) -> list[str]:
        return [spec.name for spec in self.feeds]


def dag_id_for(feed: str) -> str:
    return "feed_" + feed.replace("-", "_")


def source_url_env_for(feed: str) -> str:
    return "REDFEED_SOURCE_URL__" + feed.upper().replace("-", "_")


# ------------------------------------------------------------------------------------ loading
def load_registry(path: str | Path) -> Registry:
    """Read and validate the registry file; ``RegistryError`` lists every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(
            str(path), [f"cannot read the registry: {exc.strerror or exc}"]
        ) from None
    return parse_registry(text, str(path))


def parse_registry(text: str, path: str = "feeds.yaml") -> Registry:
    import yaml

    # libyaml where PyYAML has it (its wheels do): every task parses the DAG file, so the
    # registry, again; the pure-Python parser took half of that parse.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root_node = loader.get_single_node()
        problems = _duplicate_keys(root_node)
        if problems:
            raise RegistryError(path, problems)
        document = loader.construct_document(root_node) if root_node is not None else None
    except yaml.YAMLError as exc:
        raise RegistryError(path, [f"not valid YAML: {exc}"]) from None
    finally:
        loader.dispose()
    return _build(document, path)


def _duplicate_keys(root: Any) -> list[str]:
    """PyYAML keeps the last of two equal keys silently: find them first, with their lines."""
    import yaml

    problems: list[str] = []

    def where(path: tuple[str, ...], key: str) -> str:
        if path == ("feeds",):
            return f"duplicate feed name {key!r}"
        if len(path) >= 2 and path[0] == "feeds":
            inner = ".".join((*path[2:], key))
            return f"feed {path[1]!r}: field {inner!r} is given twice"
        return f"field {'.'.join((*path, key))!r} is given twice"

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    problems.append(f"{where(path, key)} (lines {seen[key]} and {line})")
                else:
                    seen[key] = line
                walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, path)

    if root is not None:
        walk(root, ())
    return problems


class _Entry:
    """Reads the fields of one mapping, recording problems instead of stopping at the first."""

    def __init__(
        self, raw: Mapping[Any, Any], where: str, problems: list[str], known: tuple[str, ...]
    ) -> None:
        self.raw = raw
        self.where = where
        self.problems = problems
        for key in raw:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                suggestion = (
                    f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(known)}"
                )
                self.fail(f"unknown field {key!r}{suggestion}")

    def fail(self, message: str, name: str | None = None) -> None:
        prefix = f"{self.where}: " if self.where else ""
        if name is not None:
            prefix += f"field {name!r}: "
        self.problems.append(prefix + message)

    def get(
        self,
        name: str,
        convert: Callable[[Any], Any],
        default: Any = None,
        required: bool = False,
    ) -> Any:
        if name not in self.raw or self.raw[name] is None:
            if required:
                self.fail(f"field {name!r} is required")
            return default
        try:
            return convert(self.raw[name])
        except _Invalid as exc:
            self.fail(f"{exc}, got {self.raw[name]!r}", name)
            return default


class _Invalid(Exception):
    pass


# ------------------------------------------------------------------------------- converters
def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("expected true or false")
    return value


def _int(minimum: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _Invalid(f"expected an integer >= {minimum}")
        return value

    return convert


def _number(minimum: float, inclusive: bool = True) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (
            number
            and math.isfinite(value)
            and (value > minimum or (inclusive and value == minimum))
        ):
            return float(value)
        relation = ">=" if inclusive else ">"
        raise _Invalid(f"expected a number {relation} {minimum:g}")

    return convert


def _seconds(value: Any) -> timedelta:
    return timedelta(seconds=_number(0, inclusive=False)(value))


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("expected a non-empty string")
    return value.strip()


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise _Invalid(f"expected {what}")
        return value

    return convert


def _image(value: Any) -> str:
    return _matching(
        IMAGE, "a redfeed image name, redfeed/<name>[:tag] (optionally behind a registry host)"
    )(value)


def _url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise _Invalid("expected an http(s) URL")
    return value


def _schedule(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("expected a cron expression or a preset (@hourly, @daily, ...)")
    expression = value.strip()
    if expression.startswith("@"):
        if expression not in CRON_PRESETS:
            presets = ", ".join(CRON_PRESETS)
            raise _Invalid(f"unknown preset (feeds need intervals: use one of {presets})")
        return expression
    fields = expression.split()
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        raise _Invalid("expected a 5-field cron expression (minute hour day month weekday)")
    try:
        from croniter import croniter
    except ImportError:  # pragma: no cover - Airflow brings croniter
        return expression
    if not croniter.is_valid(expression):
        raise _Invalid("not a valid cron expression")
    return expression


def _start_date(value: Any) -> datetime:
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, date):
        instant = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _Invalid("expected a date (2024-01-01) or an ISO 8601 timestamp") from None
    else:
        raise _Invalid("expected a date (2024-01-01) or an ISO 8601 timestamp")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _tables(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _Invalid("expected a non-empty list of table names")
    bad = [t for t in value if not isinstance(t, str) or not TABLE.match(t)]
    if bad:
        raise _Invalid(f"{bad[0]!r} is not a table name (lower-case SQL identifier)")
    if len(set(value)) != len(value):
        raise _Invalid("lists a table twice")
    return tuple(value)


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and TAG.match(t) for t in value):
        raise _Invalid("expected a list of short tags")
    return tuple(value)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------------- building
def _build(document: Any, path: str) -> Registry:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise RegistryError(path, ["expected a mapping with 'feeds' (and optionally 'loader')"])
    top = _Entry(document, "", problems, TOP_LEVEL_FIELDS)
    version = top.get("version", _int(1), default=1)
    if version != 1:
        top.fail("only version 1 is understood", "version")

    loader_raw = document.get("loader") or {}
    loader = LoaderSpec()
    if not isinstance(loader_raw, dict):
        top.fail("expected a mapping (image, queue)", "loader")
    else:
        entry = _Entry(loader_raw, "loader", problems, LOADER_FIELDS)
        loader = LoaderSpec(
            image=entry.get("image", _image, default=LoaderSpec.image),
            queue=entry.get("queue", _matching(QUEUE, "a Celery queue name"), LoaderSpec.queue),
        )

    feeds_raw = document.get("feeds")
    feeds: list[FeedSpec] = []
    if not isinstance(feeds_raw, dict) or not feeds_raw:
        top.fail("expected a mapping of feed name -> entry, with at least one feed", "feeds")
    else:
        for name, raw in feeds_raw.items():
            spec = _feed(name, raw, problems)
            if spec is not None:
                feeds.append(spec)

    if problems:
        raise RegistryError(path, problems)
    return Registry(feeds=tuple(feeds), loader=loader, path=path)


def _feed(name: Any, raw: Any, problems: list[str]) -> FeedSpec | None:
    if not isinstance(name, str) or not FEED_NAME.match(name):
        problems.append(
            f"feed {name!r}: not a feed name (lower-case letters, digits and '-', starting "
            "with a letter, at most 63)"
        )
        return None
    where = f"feed {name!r}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping of fields, got {raw!r}")
        return None
    before = len(problems)
    entry = _Entry(raw, where, problems, FEED_FIELDS)
    defaults = FeedSpec(
        name=name, image="", schedule="", start_date=datetime.min, catchup=False, tables=()
    )
    values: dict[str, Any] = {
        "description": entry.get("description", _str, ""),
        "image": entry.get("image", _image, required=True),
        "schedule": entry.get("schedule", _schedule, required=True),
        "start_date": entry.get("start_date", _start_date, required=True),
        "catchup": entry.get("catchup", _bool, required=True),
        "tables": entry.get("tables", _tables, required=True),
        "latest_only": entry.get("latest_only", _bool, defaults.latest_only),
        "max_active_runs": entry.get("max_active_runs", _int(1), defaults.max_active_runs),
        "retries": entry.get("retries", _int(0), defaults.retries),
        "retry_delay": entry.get("retry_delay", _seconds, defaults.retry_delay),
        "retry_exponential_backoff": entry.get(
            "retry_exponential_backoff", _number(0), defaults.retry_exponential_backoff
        ),
        "max_retry_delay": entry.get("max_retry_delay", _seconds, defaults.max_retry_delay),
        "execution_timeout": entry.get("execution_timeout", _seconds, None),
        "queue": entry.get("queue", _matching(QUEUE, "a Celery queue name"), defaults.queue),
        "source_url": entry.get("source_url", _url, None),
        "source_token_conn_id": entry.get(
            "source_token_conn_id", _matching(CONN_ID, "an Airflow connection id"), None
        ),
        "skip_unchanged": entry.get("skip_unchanged", _bool, defaults.skip_unchanged),
        "politeness": _politeness(entry),
        "env": _env(entry),
        "owner": entry.get("owner", _str, defaults.owner),
        "tags": entry.get("tags", _tags, ()),
    }
    if (
        isinstance(values["max_retry_delay"], timedelta)
        and isinstance(values["retry_delay"], timedelta)
        and values["max_retry_delay"] < values["retry_delay"]
    ):
        entry.fail("must not be shorter than retry_delay", "max_retry_delay")
    if len(problems) > before:
        return None
    return FeedSpec(name=name, **values)


def _politeness(entry: _Entry) -> Politeness:
    raw = entry.raw.get("politeness")
    if raw is None:
        return Politeness()
    if not isinstance(raw, dict):
        entry.fail("expected a mapping (" + ", ".join(POLITENESS_ENV) + ")", "politeness")
        return Politeness()
    inner = _Entry(raw, f"{entry.where}: field 'politeness'", entry.problems, tuple(POLITENESS_ENV))
    values: dict[str, Any] = {}
    for name, (_env_name, integer, minimum, inclusive) in POLITENESS_ENV.items():
        convert = _int(int(minimum)) if integer else _number(minimum, inclusive)
        values[name] = inner.get(name, convert, None)
    return Politeness(**values)


def _env(entry: _Entry) -> dict[str, str]:
    raw = entry.raw.get("env")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        entry.fail("expected a mapping of NAME: value", "env")
        return {}
    env: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not ENV_NAME.match(key):
            entry.fail(f"{key!r} is not an environment variable name (A-Z, 0-9, _)", "env")
        elif key in RESERVED_ENV:
            entry.fail(f"{key} is set by the DAG or from a connection at run time, not here", "env")
        elif isinstance(value, dict | list) or value is None:
            entry.fail(f"{key}: expected a string, number or boolean", "env")
        else:
            env[key] = _env_value(value)
    return env
