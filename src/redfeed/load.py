"""``redfeed load``: make the warehouse hold exactly one committed batch's rows, once.

By default the latest committed batch (one with a manifest) of ``REDFEED_FEED`` and
``REDFEED_INTERVAL_START``; ``REDFEED_RUN_ID`` picks one; ``-`` reads JSON lines (gzip or plain)
from stdin instead. Loading the batch the ledger says is already there is a no-op, so retries,
replays and backfills are exactly-once.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

from isal import igzip

from redfeed import __version__
from redfeed.archive import Archive, BatchKey, FileEntry, FileStore, Manifest, open_store
from redfeed.archive.reader import DAMAGED_GZIP
from redfeed.archive.store import ArchiveStore
from redfeed.contract import Settings, isoformat, parse_bool, parse_instant, run_command
from redfeed.errors import ConfigError, NothingNew, SourceDataError

log = logging.getLogger("redfeed.load")

DEFAULT_MAX_REJECT_RATIO = 0.01


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="redfeed load", description=__doc__)
    parser.add_argument(
        "--table", action="append", help="load only this table (repeatable; default: the feed's)"
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="reload even a batch the ledger holds, and allow an older run over a newer one",
    )
    parser.add_argument("source", nargs="?", help="'-' to read records from stdin")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        raise ConfigError(f"usage: {parser.format_usage().strip()}") from exc
    if args.source not in (None, "-"):
        raise ConfigError(f"unknown load source {args.source!r}: use '-' for stdin or nothing")
    return args


def _max_reject_ratio() -> float:
    raw = os.environ.get("REDFEED_MAX_REJECT_RATIO", str(DEFAULT_MAX_REJECT_RATIO))
    try:
        ratio = float(raw)
    except ValueError:
        raise ConfigError(f"REDFEED_MAX_REJECT_RATIO={raw!r} is not a number") from None
    if not 0 <= ratio <= 1:
        raise ConfigError(f"REDFEED_MAX_REJECT_RATIO={raw!r} must be between 0 and 1")
    return ratio


def _entry_lines(archive: Archive, entry: FileEntry) -> Iterator[tuple[str, int, bytes]]:
    for number, line in enumerate(archive.lines(entry), start=1):
        yield entry.url, number, line


def _spooled_stdin() -> tuple[Path, str]:
    """stdin copied to a temporary file, and its sha256: the batch's identity must be known
    before the ledger is asked, and every reader (one per pre-flight worker) needs its own
    handle on the data."""
    spool = tempfile.NamedTemporaryFile(prefix="redfeed-stdin-", delete=False)  # noqa: SIM115
    atexit.register(os.unlink, spool.name)
    digest = hashlib.sha256()
    with spool:
        while block := sys.stdin.buffer.read(1024 * 1024):
            digest.update(block)
            spool.write(block)
    return Path(spool.name), digest.hexdigest()


def _stdin_lines(path: Path) -> Iterator[tuple[str, int, bytes]]:
    """The spooled lines, gunzipped if the data is gzip (opened when iteration starts, so a
    forked worker reads through its own file handle)."""
    with path.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if not compressed:
            for number, line in enumerate(raw, start=1):
                yield "stdin", number, line
            return
        number = 0
        try:
            with igzip.GzipFile(fileobj=raw) as stream:  # type: ignore[no-untyped-call]
                for number, line in enumerate(stream, start=1):
                    yield "stdin", number, line
        except DAMAGED_GZIP as exc:
            # Bad input, not a bug: exit 65, nothing committed (the load is one transaction).
            raise SourceDataError(
                f"stdin: not a readable gzip stream after line {number}: {exc}"
            ) from exc


def load(argv: list[str]) -> dict[str, Any]:
    from redfeed.warehouse.destinations import LoadJob, open_destination
    from redfeed.warehouse.jsonpaths import table_spec, tables_for_feed
    from redfeed.warehouse.preflight import Part, Preflight, RejectSink
    from redfeed.warehouse.rows import RowBuilder

    args = _parse_args(argv)
    from_stdin = args.source == "-"
    run_id_given = bool(os.environ.get("REDFEED_RUN_ID", "").strip())
    settings = Settings.from_env(need_archive=not from_stdin)
    if from_stdin and not run_id_given:
        raise ConfigError("loading from stdin needs REDFEED_RUN_ID (the batch id of the rows)")
    if not settings.warehouse_url:
        raise ConfigError("REDFEED_WAREHOUSE_URL is not set")
    destination = open_destination(settings.warehouse_url)
    replay = args.replay or parse_bool("REDFEED_REPLAY", os.environ.get("REDFEED_REPLAY", "false"))
    tables = [table_spec(t) for t in args.table] if args.table else tables_for_feed(settings.feed)
    store: ArchiveStore | None = open_store(settings.archive_url) if settings.archive_url else None

    batch_finished: datetime | None = None
    content_digest: str | None = None
    if from_stdin:
        key = BatchKey(settings.feed, settings.interval_start, settings.run_id)
        spooled, manifest_sha = _spooled_stdin()
        manifest_url = "stdin"
        interval_end: datetime | None = settings.interval_end

        def urls_for(stream: str | None) -> tuple[str, ...]:
            return ()

        def parts_for(stream: str | None) -> list[Part]:
            return [Part(partial(_stdin_lines, spooled))]

        reject_store = store or FileStore(Path(os.environ.get("REDFEED_REJECTS_DIR", os.getcwd())))
    else:
        assert store is not None
        archive = Archive(store)
        if run_id_given:
            key = BatchKey(settings.feed, settings.interval_start, settings.run_id)
            if not store.exists(key.manifest):
                raise ConfigError(f"no committed batch at {store.uri(key.manifest)}")
        else:
            latest = archive.latest(settings.feed, settings.interval_start)
            if latest is None:
                raise NothingNew(
                    f"no committed batch of {settings.feed} for interval "
                    f"{isoformat(settings.interval_start)} in {store.url}"
                )
            key = BatchKey(settings.feed, settings.interval_start, latest.run_id)
        raw_manifest = store.get(key.manifest)
        manifest = Manifest.from_json(raw_manifest)
        manifest_sha = hashlib.sha256(raw_manifest).hexdigest()
        manifest_url = store.uri(key.manifest)
        interval_end = parse_instant("manifest interval_end", manifest.interval_end)
        batch_finished = parse_instant("manifest finished_at", manifest.finished_at)
        content_digest = manifest.content_digest

        def urls_for(stream: str | None) -> tuple[str, ...]:
            return tuple(f.url for f in manifest.files_of(stream))

        def parts_for(stream: str | None) -> list[Part]:
            return [
                Part(partial(_entry_lines, archive, f), f.records)
                for f in manifest.files_of(stream)
            ]

        reject_store = store

    load_id = uuid.uuid4().hex
    lineage = (
        {
            "_batch_id": key.run_id,
            "_feed": key.feed,
            "_interval_start": isoformat(key.interval_start),
            "_scraped_at": isoformat(datetime.now(UTC)),
        }
        if from_stdin
        else {}
    )
    results: dict[str, Any] = {}
    for index, spec in enumerate(tables):
        job = LoadJob(
            # The ledger's key: one row per table per attempt, so a feed that fills several
            # tables gets one id per table, all starting with this command's load id.
            load_id=f"{load_id}-{index}",
            feed=key.feed,
            interval_start=key.interval_start,
            interval_end=interval_end,
            run_id=key.run_id,
            table=spec,
            manifest_url=manifest_url,
            manifest_sha256=manifest_sha,
            content_digest=content_digest,
            batch_finished_at=batch_finished,
            replay=replay,
            max_reject_ratio=_max_reject_ratio(),
            loader_version=settings.code_version or f"redfeed {__version__}",
            source_urls=urls_for(spec.stream),
        )
        rejects = RejectSink(reject_store, f"{key.prefix}rejects/{spec.name}-{load_id}.jsonl.gz")
        parts = parts_for(spec.stream)
        lines = chain.from_iterable(part.open() for part in parts)
        preflight = Preflight(RowBuilder(spec), lines, rejects, lineage, parts)
        log.info("loading %s into %s (%s)", manifest_url, spec.name, destination.name)
        outcome = destination.load(job, preflight)
        log.info(
            "%s: %s; records in %d = loaded %d + rejected %d",
            spec.name,
            outcome.status,
            outcome.rows_in,
            outcome.rows_loaded,
            outcome.rows_rejected,
        )
        if outcome.rows_rejected:
            log.warning(
                "%s: %d records quarantined in %s",
                spec.name,
                outcome.rows_rejected,
                outcome.reject_url,
            )
        results[spec.name] = {**outcome.summary(), "load_id": job.load_id}

    totals = {
        k: sum(r[k] for r in results.values())
        for k in ("rows_in", "rows_loaded", "rows_rejected", "rows_replaced")
    }
    return {
        "feed": key.feed,
        "run_id": key.run_id,
        "interval_start": isoformat(key.interval_start),
        "manifest": manifest_url,
        "destination": destination.name,
        "load_id": load_id,
        **totals,
        "rejects": [r["rejects"] for r in results.values() if r["rejects"]],
        "already_loaded": all(r["status"] == "already_loaded" for r in results.values()),
        "tables": results,
    }


def main(argv: list[str]) -> int:
    return run_command("load", lambda: load(argv))
