"""An offline stand-in for a scraped source: serves a directory over HTTP the way the real source
lays it out, so a spider can be pointed at it with ``REDFEED_SOURCE_URL`` and run without the
internet, and so tests can make the source fail on purpose.

A directory answers like GitHub's contents API (a JSON array of entries with ``download_url``),
so a spider written against ``https://api.github.com/repos/<owner>/<repo>/contents`` works
unchanged against ``http://mirror:8000`` serving a checkout of that repository.

Environment (``redfeed mirror`` in the image; command-line options win):

* ``REDFEED_MIRROR_ROOT`` -- directory to serve (default ``/data``)
* ``REDFEED_MIRROR_PORT`` -- port (default 8000)
* ``REDFEED_MIRROR_FAULTS`` -- JSON list of fault rules (see ``FaultRule``)
* ``REDFEED_MIRROR_LATENCY_MS`` -- delay added to every request, to emulate a remote source
* ``REDFEED_MIRROR_PAGE_SIZE`` -- results per page of a paginated API answer (default 2)

A request path ending in ``/`` is answered like a REST API (pretalx, Django REST framework) when
the file ``<path>.json`` exists: a JSON array is paginated (``{"count", "next", "previous",
"results"}``, ``?page=N``, absolute ``next``/``previous`` URLs), anything else is served as it is.
So ``api/events/demo.json`` answers ``/api/events/demo/`` and ``api/events/demo/talks.json``
answers ``/api/events/demo/talks/``. Every other request is answered as described above.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

from redfeed.contract import configure_logging, parse_int
from redfeed.errors import ConfigError, ExitCode

log = logging.getLogger("redfeed.mirror")

DEFAULT_ROOT = "/data"
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - the mirror runs in a container and must be reachable
DEFAULT_PORT = 8000
#: Small, so that small fixtures span several pages of a paginated API answer.
DEFAULT_PAGE_SIZE = 2

#: Never listed or served: GitHub's contents API does not expose a repository's git database.
HIDDEN_NAMES = frozenset({".git"})

FAULT_KEYS = ("path", "status", "times", "retry_after", "delay_ms", "truncate", "body", "reset")
FAULT_EXAMPLE = '[{"path": "/conferences/2023/*", "status": 500, "times": 2}]'

CONTENT_TYPES = {
    **SimpleHTTPRequestHandler.extensions_map,
    ".json": "application/json",
    ".csv": "text/csv",
    ".ics": "text/calendar",
    ".xml": "application/xml",
    ".txt": "text/plain",
}

# A Host header we are willing to copy into URLs: a name or IPv4/[IPv6] address, optional port.
HOST_HEADER = re.compile(r"^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z")


@dataclass(frozen=True)
class FaultRule:
    """One way the source misbehaves, for requests whose URL path matches the ``path`` glob.

    ``status``/``body`` replace the real answer (status defaults to 200 with a body, body to
    GitHub's ``{"message": ...}`` with a status); ``truncate`` sends the answer's headers and full
    Content-Length but only that many body bytes, then drops the connection; ``reset`` answers
    nothing and resets the connection (TCP RST), as a crashed peer or a middlebox would;
    ``delay_ms`` and ``retry_after`` can be combined with either. ``times`` limits the rule to the
    first N matches.
    """

    path: str
    status: int | None = None
    times: int | None = None
    retry_after: int | None = None
    delay_ms: int = 0
    truncate: int | None = None
    body: str | None = None
    reset: bool = False

    @classmethod
    def from_mapping(cls, item: object, where: str) -> FaultRule:
        """Validate one rule and name the offending key: rules are hand-written JSON."""
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"{where} must be an object such as {FAULT_EXAMPLE[1:-1]}, "
                f"got {type(item).__name__}"
            )
        unknown = sorted(str(key) for key in item if key not in FAULT_KEYS)
        if unknown:
            raise ConfigError(
                f"{where} has unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(FAULT_KEYS)}"
            )
        path = item.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(
                f'{where} needs "path": a glob of the URL path starting with "/" '
                f'(e.g. "/conferences/2023/*"), got {path!r}'
            )
        body = item.get("body")
        if body is not None and not isinstance(body, str):
            raise ConfigError(f"{where}.body must be a string, got {type(body).__name__}")
        reset = item.get("reset", False)
        if not isinstance(reset, bool):
            raise ConfigError(f"{where}.reset must be true or false, got {reset!r}")
        rule = cls(
            path=path,
            status=integer_field(item, "status", where, 200, 599),
            times=integer_field(item, "times", where, 0),
            retry_after=integer_field(item, "retry_after", where, 0),
            delay_ms=integer_field(item, "delay_ms", where, 0) or 0,
            truncate=integer_field(item, "truncate", where, 0),
            body=body,
            reset=reset,
        )
        if (
            rule.status is None
            and rule.body is None
            and rule.truncate is None
            and rule.retry_after is None
            and not rule.delay_ms
            and not rule.reset
        ):
            raise ConfigError(
                f"{where} does nothing: give at least one of status, body, truncate, "
                "delay_ms, retry_after or reset"
            )
        return rule

    @property
    def replaces_answer(self) -> bool:
        return self.status is not None or self.body is not None

    def describe(self) -> str:
        parts = [f"status={self.status}" if self.status is not None else ""]
        parts.append("body" if self.body is not None else "")
        parts.append(f"truncate={self.truncate}" if self.truncate is not None else "")
        parts.append(f"delay_ms={self.delay_ms}" if self.delay_ms else "")
        parts.append(f"retry_after={self.retry_after}" if self.retry_after is not None else "")
        parts.append("reset" if self.reset else "")
        return f"{self.path}[{','.join(part for part in parts if part)}]"


def integer_field(
    item: Mapping[str, Any], key: str, where: str, minimum: int, maximum: int | None = None
) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    in_range = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= minimum
        and (maximum is None or value <= maximum)
    )
    if not in_range:
        bounds = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{where}.{key} must be an integer {bounds}, got {value!r}")
    return int(value)


def parse_faults(
    value: str | Sequence[Mapping[str, Any]] | None, source: str = "REDFEED_MIRROR_FAULTS"
) -> tuple[FaultRule, ...]:
    """Fault rules from JSON text or already-decoded data; errors name ``source`` and the rule."""
    if value is None:
        return ()
    if isinstance(value, str):
        if not value.strip():
            return ()
        try:
            loaded: object = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{source} is not valid JSON ({exc}); expected a list of rules such as "
                f"{FAULT_EXAMPLE}"
            ) from exc
    else:
        loaded = value
    if not isinstance(loaded, list | tuple):
        raise ConfigError(
            f"{source} must be a JSON list of rules such as {FAULT_EXAMPLE}, "
            f"got {type(loaded).__name__}"
        )
    return tuple(FaultRule.from_mapping(item, f"{source}[{i}]") for i, item in enumerate(loaded))


class FaultPlan:
    """The rules plus how often each has fired, under one lock so that concurrent requests never
    both consume a rule's last remaining ``times``."""

    def __init__(self, rules: Sequence[FaultRule] = ()) -> None:
        self.rules = tuple(rules)
        self._fired = [0] * len(self.rules)
        self._lock = threading.Lock()

    def take(self, url_path: str) -> FaultRule | None:
        """The rule that applies to this request, if any, counting it as used."""
        with self._lock:
            for index, rule in enumerate(self.rules):
                if not fnmatchcase(url_path, rule.path):
                    continue
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                self._fired[index] += 1
                return rule
        return None

    def fired(self) -> list[int]:
        with self._lock:
            return list(self._fired)


@dataclass
class Reply:
    """A whole answer held in memory, so a fault can cut its body at any byte."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, document: object, etag: bool = False) -> Reply:
    body = json.dumps(document, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if etag:
        headers["ETag"] = f'"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}"'
    return Reply(status, body, headers)


def not_found() -> Reply:
    return json_reply(HTTPStatus.NOT_FOUND, {"message": "Not Found"})


def git_blob_sha(content: bytes) -> str:
    """The sha GitHub reports for a file, so a mirror listing matches the real one."""
    header = b"blob %d\0" % len(content)
    return hashlib.sha1(header + content, usedforsecurity=False).hexdigest()


@lru_cache(maxsize=8192)
def cached_blob_sha(path: str, mtime_ns: int, size: int) -> str:
    """Keyed by mtime and size so listings stay cheap under benchmarks yet see edits."""
    return git_blob_sha(Path(path).read_bytes())


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip().removeprefix("W/")
        if tag in ("*", etag):
            return True
    return False


class MirrorHTTPServer(ThreadingHTTPServer):
    """The mirror: root, fault plan, fixed latency and per-path request counts, shared by every
    handler thread."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        root: Path,
        faults: Sequence[FaultRule] = (),
        latency_ms: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        resolved = Path(root).resolve()
        if not resolved.is_dir():
            raise ConfigError(f"mirror root {root} is not a directory")
        if latency_ms < 0:
            raise ConfigError(f"mirror latency must be at least 0 ms, got {latency_ms}")
        if page_size < 1:
            raise ConfigError(f"mirror page size must be at least 1, got {page_size}")
        self.root = resolved
        self.latency_ms = latency_ms
        self.page_size = page_size
        self.faults = FaultPlan(faults)
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, MirrorRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which stalls where DNS is missing.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def set_faults(self, faults: Sequence[FaultRule]) -> None:
        """Replace the rules; their ``times`` start afresh."""
        self.faults = FaultPlan(faults)

    def count_request(self, url_path: str) -> None:
        with self._counts_lock:
            self._counts[url_path] += 1

    def request_counts(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def locate(self, url_path: str) -> Path | None:
        """The file or directory a URL path names, or None if it does not exist or would leave
        the root (``..`` segments, symlinks pointing outside)."""
        segments = [segment for segment in url_path.split("/") if segment]
        if any(s in (".", "..") or s in HIDDEN_NAMES or "\0" in s for s in segments):
            return None
        try:
            resolved = self.root.joinpath(*segments).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
            return None
        return resolved if self.contains(resolved) else None

    def contains(self, resolved: Path) -> bool:
        return resolved == self.root or resolved.is_relative_to(self.root)

    def api_document(self, url_path: str) -> Path | None:
        """The ``<path>.json`` file that answers a REST-style request path ending in ``/``."""
        stem = url_path.rstrip("/")
        if not url_path.endswith("/") or not stem:
            return None
        found = self.locate(stem + ".json")
        return found if found is not None and found.is_file() else None

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):  # the client went away; nothing to report
            log.debug("connection from %s dropped: %s", client_address, error)
            return
        log.exception("error while answering %s", client_address)


class MirrorRequestHandler(SimpleHTTPRequestHandler):
    """Answers GET and HEAD from the mirror's root; every answer carries a Content-Length, so
    HTTP/1.1 keep-alive works the way it does against a real source."""

    protocol_version = "HTTP/1.1"
    server_version = "redfeed-mirror"
    timeout = 60  # idle keep-alive connections are closed instead of holding a thread forever
    extensions_map = CONTENT_TYPES

    fault: FaultRule | None = None

    @property
    def mirror(self) -> MirrorHTTPServer:
        assert isinstance(self.server, MirrorHTTPServer)
        return self.server

    def do_GET(self) -> None:
        self.answer(send_body=True)

    def do_HEAD(self) -> None:
        self.answer(send_body=False)

    def url_path(self) -> str:
        """The decoded path of the request target, without query or fragment (``?ref=main`` is
        meaningful to GitHub, not here)."""
        target = self.path
        if target.startswith(("http://", "https://")):  # absolute-form, as proxies send it
            target = urlsplit(target).path or "/"
        target = target.split("?", 1)[0].split("#", 1)[0]
        return unquote(target)

    def base_url(self) -> str:
        """Absolute URLs follow the Host the client used, so they work on 127.0.0.1 in tests and
        under a compose service name alike."""
        host = self.headers.get("Host", "").strip()
        if not HOST_HEADER.match(host):
            address, port = self.connection.getsockname()[:2]
            host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        return f"http://{host}"

    def answer(self, send_body: bool) -> None:
        url_path = self.url_path()
        mirror = self.mirror
        mirror.count_request(url_path)
        if mirror.latency_ms:
            time.sleep(mirror.latency_ms / 1000)
        rule = mirror.faults.take(url_path)
        self.fault = rule
        if rule is not None and rule.delay_ms:
            time.sleep(rule.delay_ms / 1000)
        if rule is not None and rule.reset:
            self.reset_connection()
            return
        if rule is not None and rule.replaces_answer:
            reply = self.injected_reply(rule)
        else:
            reply = self.real_reply(url_path)
        if rule is not None and rule.retry_after is not None:
            reply.headers["Retry-After"] = str(rule.retry_after)
        self.send_reply(reply, send_body, rule.truncate if rule is not None else None)

    def reset_connection(self) -> None:
        """Close the connection with a TCP RST and no answer: SO_LINGER 0 makes close() abort
        the connection instead of the orderly FIN a shutdown would send."""
        self.log_request("RST", 0)
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the socket closes for real only once its file objects are closed
        self.connection.close()

    def injected_reply(self, rule: FaultRule) -> Reply:
        status = rule.status if rule.status is not None else HTTPStatus.OK
        if rule.body is None:
            phrase = self.responses.get(status, ("Error", ""))[0]
            return json_reply(status, {"message": phrase, "injected_fault": rule.path})
        try:
            json.loads(rule.body)
            content_type = "application/json; charset=utf-8"
        except json.JSONDecodeError:
            content_type = "text/plain; charset=utf-8"
        return Reply(status, rule.body.encode(), {"Content-Type": content_type})

    def real_reply(self, url_path: str) -> Reply:
        target = self.mirror.locate(url_path)
        target = self.directory_page(url_path, target) or target
        try:
            document = self.mirror.api_document(url_path)
            if document is not None:
                reply = self.api_reply(document, url_path)
            elif target is None:
                reply = not_found()
            elif target.is_dir():
                reply = json_reply(HTTPStatus.OK, self.listing(target, url_path), etag=True)
            elif target.is_file() and not url_path.endswith("/"):
                content = target.read_bytes()
                reply = Reply(
                    HTTPStatus.OK,
                    content,
                    {
                        "Content-Type": self.guess_type(target),
                        "ETag": f'"{git_blob_sha(content)}"',
                    },
                )
            else:
                reply = not_found()
        except PermissionError:
            return json_reply(HTTPStatus.FORBIDDEN, {"message": "Forbidden"})
        except FileNotFoundError:  # removed between locating and reading
            return not_found()
        except OSError as exc:
            log.warning("cannot read %s: %s", target, exc)
            return json_reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Server Error"})
        etag = reply.headers.get("ETag")
        if etag and etag_matches(self.headers.get("If-None-Match"), etag):
            return Reply(HTTPStatus.NOT_MODIFIED, b"", {"ETag": etag})
        return reply

    def directory_page(self, url_path: str, target: Path | None) -> Path | None:
        """A directory's ``index.html`` for a client that asks for HTML (a crawler, a browser),
        as a web server answers ``https://host/2024`` from ``host/2024/index.html``: a mirror of
        web sites (the homepages feed) is laid out that way. API clients (``Accept:
        application/json``, GitHub's media types) still get the directory listing."""
        if target is None or not target.is_dir() or url_path.endswith("/"):
            return None
        if "text/html" not in self.headers.get("Accept", "").lower():
            return None
        page = self.mirror.locate(url_path + "/index.html")
        return page if page is not None and page.is_file() else None

    def api_reply(self, document: Path, url_path: str) -> Reply:
        """A REST API answer from ``document``: a JSON array is paginated the way Django REST
        framework's PageNumberPagination does it; anything else (an object, or bytes that are not
        JSON at all, to test a client's error handling) is served unchanged."""
        content = document.read_bytes()
        try:
            items = json.loads(content)
        except ValueError:
            items = None
        if not isinstance(items, list):
            return Reply(
                HTTPStatus.OK,
                content,
                {"Content-Type": "application/json", "ETag": f'"{git_blob_sha(content)}"'},
            )
        size = self.mirror.page_size
        pages = max(1, -(-len(items) // size))
        requested = parse_qs(urlsplit(self.path).query).get("page", ["1"])[-1]
        if not (requested.isascii() and requested.isdigit()) or not 1 <= int(requested) <= pages:
            return json_reply(HTTPStatus.NOT_FOUND, {"detail": "Invalid page."})
        page = int(requested)
        url = self.base_url() + quote(url_path)

        def page_url(number: int) -> str:
            return url if number == 1 else f"{url}?page={number}"

        return json_reply(
            HTTPStatus.OK,
            {
                "count": len(items),
                "next": page_url(page + 1) if page < pages else None,
                "previous": page_url(page - 1) if page > 1 else None,
                "results": items[(page - 1) * size : page * size],
            },
            etag=True,
        )

    def listing(self, directory: Path, url_path: str) -> list[dict[str, Any]]:
        """Entries shaped like GitHub's contents API, sorted by name."""
        base = self.base_url()
        prefix = "/".join(segment for segment in url_path.split("/") if segment)
        entries: list[dict[str, Any]] = []
        for child in sorted(directory.iterdir(), key=lambda entry: entry.name):
            if child.name in HIDDEN_NAMES:
                continue
            try:
                resolved = child.resolve(strict=True)
                if not self.mirror.contains(resolved):
                    continue
                stat = resolved.stat()
                is_dir = resolved.is_dir()
                if not is_dir and not resolved.is_file():
                    continue
                sha = (
                    None
                    if is_dir
                    else cached_blob_sha(str(resolved), stat.st_mtime_ns, stat.st_size)
                )
            except (OSError, RuntimeError):  # broken link, loop, vanished or unreadable
                continue
            path = f"{prefix}/{child.name}" if prefix else child.name
            url = f"{base}/{quote(path)}"
            entries.append(
                {
                    "name": child.name,
                    "path": path,
                    "type": "dir" if is_dir else "file",
                    "size": 0 if is_dir else stat.st_size,
                    "sha": sha,
                    "url": url,
                    "download_url": None if is_dir else url,
                }
            )
        return entries

    def send_reply(self, reply: Reply, send_body: bool, truncate: int | None) -> None:
        self.log_request(reply.status, len(reply.body))
        self.send_response_only(reply.status)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        for name, value in reply.headers.items():
            self.send_header(name, value)
        has_body = reply.status not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED)
        if has_body:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if send_body and has_body:
            self.wfile.write(reply.body if truncate is None else reply.body[:truncate])
        if truncate is not None:
            # Drop the connection with the promised bytes unsent, as a cut network would.
            self.wfile.flush()
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if isinstance(code, HTTPStatus) else code
        fault = f" fault={self.fault.describe()}" if self.fault is not None else ""
        log.info('%s "%s" %s %s%s', self.address_string(), self.requestline, status, size, fault)

    def log_error(self, format: str, *args: Any) -> None:
        # Followed by log_request for the error answer; keep one line per request at INFO.
        log.debug("%s %s", self.address_string(), format % args)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def client_host(host: str) -> str:
    """The address a local client uses to reach a server bound to ``host``."""
    if host in ("", "0.0.0.0"):  # noqa: S104
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class MirrorServer:
    """The mirror on a free port in a background thread, so a test can point a spider at a real
    HTTP source, make it fail on purpose, and then check how often it was asked."""

    def __init__(
        self,
        root: Path,
        faults: Sequence[Mapping[str, Any]] | None = None,
        latency_ms: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.root = Path(root)
        self.latency_ms = latency_ms
        self.page_size = page_size
        self.host = host
        self.port = port
        self._rules = parse_faults(faults, source="faults")
        self._server: MirrorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("mirror server is already running")
        self._server = MirrorHTTPServer(
            (self.host, self.port), self.root, self._rules, self.latency_ms, self.page_size
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"mirror-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def server(self) -> MirrorHTTPServer:
        if self._server is None:
            raise RuntimeError("mirror server is not running (use it as a context manager)")
        return self._server

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{client_host(self.host)}:{self.server.server_port}"

    @property
    def requests(self) -> dict[str, int]:
        """How many requests each decoded URL path (query excluded) received, faults included."""
        return self.server.request_counts() if self._server is not None else {}

    def set_faults(self, faults: Sequence[Mapping[str, Any]] | None) -> None:
        self._rules = parse_faults(faults, source="faults")
        if self._server is not None:
            self._server.set_faults(self._rules)


@dataclass(frozen=True)
class MirrorOptions:
    root: Path
    host: str
    port: int
    faults: tuple[FaultRule, ...]
    latency_ms: int
    page_size: int = DEFAULT_PAGE_SIZE


def read_options(argv: Sequence[str] | None, env: Mapping[str, str]) -> MirrorOptions:
    """Options from the command line, falling back to the environment the image is run with."""
    parser = argparse.ArgumentParser(
        prog="redfeed mirror",
        description="Serve a directory like a source (GitHub contents API listings), offline.",
    )
    parser.add_argument("--root", help=f"directory to serve [REDFEED_MIRROR_ROOT, {DEFAULT_ROOT}]")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind [{DEFAULT_HOST}]")
    parser.add_argument("--port", type=int, help=f"port [REDFEED_MIRROR_PORT, {DEFAULT_PORT}]")
    parser.add_argument("--faults", help="JSON list of fault rules [REDFEED_MIRROR_FAULTS]")
    parser.add_argument(
        "--latency-ms", type=int, help="delay added to every request [REDFEED_MIRROR_LATENCY_MS, 0]"
    )
    parser.add_argument(
        "--page-size",
        type=int,
        help=f"results per page of paginated API answers [REDFEED_MIRROR_PAGE_SIZE, "
        f"{DEFAULT_PAGE_SIZE}]",
    )
    args = parser.parse_args(argv)

    root = args.root or env.get("REDFEED_MIRROR_ROOT", "").strip() or DEFAULT_ROOT
    if args.port is not None:
        port = parse_int("--port", str(args.port))
    else:
        port = parse_int(
            "REDFEED_MIRROR_PORT", env.get("REDFEED_MIRROR_PORT", "").strip() or "8000"
        )
    if port > 65535:
        raise ConfigError(f"port {port} is not a TCP port (0..65535)")
    if args.latency_ms is not None:
        latency_ms = parse_int("--latency-ms", str(args.latency_ms))
    else:
        latency_raw = env.get("REDFEED_MIRROR_LATENCY_MS", "").strip() or "0"
        latency_ms = parse_int("REDFEED_MIRROR_LATENCY_MS", latency_raw)
    if args.faults is not None:
        faults = parse_faults(args.faults, source="--faults")
    else:
        faults = parse_faults(env.get("REDFEED_MIRROR_FAULTS"), source="REDFEED_MIRROR_FAULTS")
    if args.page_size is not None:
        page_size = parse_int("--page-size", str(args.page_size), 1)
    else:
        page_raw = env.get("REDFEED_MIRROR_PAGE_SIZE", "").strip() or str(DEFAULT_PAGE_SIZE)
        page_size = parse_int("REDFEED_MIRROR_PAGE_SIZE", page_raw, 1)
    return MirrorOptions(Path(root), args.host, port, faults, latency_ms, page_size)


def main(argv: list[str] | None = None) -> int:
    """``redfeed mirror``: serve until SIGTERM or SIGINT, then exit 0."""
    configure_logging()
    try:
        options = read_options(argv, os.environ)
    except ConfigError as exc:
        log.error("mirror: %s", exc)
        return int(ExitCode.CONFIG)
    try:
        server = MirrorHTTPServer(
            (options.host, options.port),
            options.root,
            options.faults,
            options.latency_ms,
            options.page_size,
        )
    except ConfigError as exc:
        log.error("mirror: %s", exc)
        return int(ExitCode.CONFIG)
    except OSError as exc:  # e.g. the port is taken
        log.error("mirror: cannot listen on %s:%s: %s", options.host, options.port, exc)
        return int(ExitCode.TEMPORARY)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("mirror: received %s, shutting down", signal.Signals(signum).name)
        # shutdown() waits for serve_forever to return, so it cannot run on this (its) thread.
        threading.Thread(target=server.shutdown, name="mirror-shutdown", daemon=True).start()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, stop)
    log.info(
        "mirror: serving %s at http://%s:%d (%d fault rule(s), latency %d ms)",
        server.root,
        client_host(options.host),
        server.server_port,
        len(options.faults),
        options.latency_ms,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("mirror: stopped")
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
