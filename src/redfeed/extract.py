"""``redfeed extract -- <program>``: the scraper side of the contract.

Runs any program that prints records as JSON lines on stdout (logs on stderr), streams them into
the archive, and commits the batch only if the program succeeded. Its exit code tells the wrapper
why it failed; SIGTERM stops both and leaves no manifest behind.

``redfeed extract --start-early -- <program>`` starts the program before the archive checks, for
a program that waits at its start gate (``redfeed scrape`` does): it reads the pipe named by
``REDFEED_START_FD`` before it fetches anything, and gets a byte once the checks pass, or end of
file when nothing is to be scraped (the run's batch is already committed, the archive refuses
writes). Its imports then overlap the checks.
"""

from __future__ import annotations

import logging
import os
import subprocess
from contextlib import suppress
from typing import Any

from redfeed.archive import AlreadyExists, Archive, BatchKey, BatchWriter, Manifest, open_store
from redfeed.contract import START_FD_ENV, Settings, run_command
from redfeed.errors import (
    ConfigError,
    NothingNew,
    RedfeedError,
    Terminated,
    error_for_exit_code,
)

log = logging.getLogger("redfeed.extract")

#: How long the program gets to stop after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 10
#: How long a program started early gets to exit by itself once its start gate closes unopened
#: (it reads the gate once set up: ``redfeed scrape`` gets there and out in 0.23 - 0.38 s on an
#: idle 2-core host, far longer on a busy one).
GATE_EXIT_SECONDS = 15


def batch_summary(manifest: Manifest, manifest_url: str) -> dict[str, Any]:
    return {
        "feed": manifest.feed,
        "run_id": manifest.run_id,
        "interval_start": manifest.interval_start,
        "interval_end": manifest.interval_end,
        "records": manifest.records,
        "rejected": manifest.rejected,
        "manifest": manifest_url,
        "parts": [f.url for f in manifest.files],
        "rejects": [f.url for f in manifest.rejects],
        "bytes": sum(f.bytes for f in manifest.files),
    }


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class Program:
    """The wrapped program. Started early, it is spawned at once with the read end of its start
    gate, and :meth:`start` opens the gate; otherwise :meth:`start` spawns it."""

    def __init__(self, argv: list[str], env: dict[str, str], *, early: bool) -> None:
        self.argv, self.env = argv, env
        self.child: subprocess.Popen[bytes] | None = None
        self._gate: int | None = None
        if early:
            read, self._gate = os.pipe()
            try:
                self.child = self._spawn({**env, START_FD_ENV: str(read)}, (read,))
            except BaseException:
                self._close_gate()
                raise
            finally:
                os.close(read)

    def _spawn(self, env: dict[str, str], fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, pass_fds=fds
            )
        except OSError as exc:
            raise ConfigError(f"cannot start {self.argv[0]!r}: {exc}") from exc

    def _close_gate(self) -> None:
        if self._gate is not None:
            os.close(self._gate)
            self._gate = None

    def start(self) -> subprocess.Popen[bytes]:
        if self.child is None:
            self.child = self._spawn(self.env, ())
        elif self._gate is not None:
            with suppress(BrokenPipeError):  # it has exited already: its exit code says why
                os.write(self._gate, b"1")
            self._close_gate()
        return self.child

    def cancel(self, *, patient: bool = True) -> None:
        """Nothing to scrape: the gate closes unopened, and (``patient``) the program gets a
        moment to read that and exit before it is stopped."""
        at_gate = self._gate is not None
        self._close_gate()
        child = self.child
        if child is None:
            return
        try:
            if at_gate and patient:
                with suppress(subprocess.TimeoutExpired):
                    child.wait(GATE_EXIT_SECONDS)
        finally:
            _stop(child)
            if child.stdout is not None:
                child.stdout.close()
            log.info("%s exited with %s without scraping", self.argv[0], child.returncode)


def extract(program: list[str], *, start_early: bool = False) -> dict[str, Any]:
    if not program:
        raise ConfigError("usage: redfeed extract [--start-early] -- <program> [args...]")
    settings = Settings.from_env()
    assert settings.archive_url is not None
    env = {**os.environ, "REDFEED_RUN_ID": settings.run_id}
    wrapped = Program(program, env, early=start_early)
    try:
        store = open_store(settings.archive_url)
        archive = Archive(store)
        key = BatchKey(settings.feed, settings.interval_start, settings.run_id)

        existing = archive.manifest(key)
        if existing is not None:
            # Idempotent per run id: a retry after a commit reports the batch, never re-scrapes.
            log.info("batch %s is already committed; not scraping again", store.uri(key.manifest))
            wrapped.cancel()
            return {**batch_summary(existing, store.uri(key.manifest)), "already_committed": True}

        store.check_writable()
        previous = (
            archive.latest(settings.feed, settings.interval_start)
            if settings.skip_unchanged
            else None
        )
        writer = BatchWriter(
            store,
            key,
            settings.interval_end,
            part_max_records=settings.part_max_records,
            part_max_bytes=settings.part_max_bytes,
            slices=settings.copy_slices,
            code_version=settings.code_version,
            source_url=settings.source_url,
        )
        log.info(
            "extract %s run %s interval [%s, %s) into %s: %s",
            settings.feed,
            settings.run_id,
            settings.interval_start.isoformat(),
            settings.interval_end.isoformat(),
            store.uri(key.prefix),
            " ".join(program),
        )
        child = wrapped.start()
    except BaseException as exc:
        wrapped.cancel(patient=not isinstance(exc, Terminated))  # SIGTERM: stop it now
        raise

    try:
        assert child.stdout is not None
        for line in child.stdout:
            writer.write_line(line)
        code = child.wait()
        if code != 0:
            raise error_for_exit_code(code, f"{program[0]} exited with code {code}")
        if previous is not None and previous.content_digest == writer.content_digest:
            raise NothingNew(
                f"the source is unchanged since run {previous.run_id} "
                f"({previous.records} records); nothing committed"
            )
        manifest = writer.commit()
    except BaseException as exc:
        _stop(child)
        seen, rejected = writer.records, writer.rejected
        if not writer.closed:
            writer.abort()
        if isinstance(exc, AlreadyExists):
            raise ConfigError(
                f"run id {settings.run_id} collided with another writer: {exc}"
            ) from exc
        if isinstance(exc, RedfeedError):
            exc.summary = {  # type: ignore[attr-defined]
                "feed": settings.feed,
                "run_id": settings.run_id,
                "records_seen": seen,
                "rejected_seen": rejected,
                "committed": False,
            }
        raise

    url = store.uri(key.manifest)
    log.info("committed %s: %d records, %d rejected", url, manifest.records, manifest.rejected)
    return batch_summary(manifest, url)


def main(program: list[str], *, start_early: bool = False) -> int:
    return run_command("extract", lambda: extract(program, start_early=start_early))
