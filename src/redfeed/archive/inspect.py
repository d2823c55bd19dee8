"""``redfeed archive init|batches|manifest``: set up a local archive and show what is committed,
for people and for `make demo`."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta
from typing import Any

from redfeed.archive.layout import (
    MANIFEST,
    BatchKey,
    feed_prefix,
    interval_dir,
    parse_interval_dir,
)
from redfeed.archive.manifest import Manifest
from redfeed.archive.reader import Archive
from redfeed.archive.store import ArchiveStore, S3Store, open_store
from redfeed.contract import parse_instant, run_command
from redfeed.errors import ConfigError, NothingNew, RedfeedError


def main(args: argparse.Namespace) -> int:
    if args.action == "batches" and getattr(args, "json", False):
        # Under the task contract: the summary (or the error's) is the last line.
        return run_command("archive", lambda: batches_summary(_archive(args), args))
    try:
        url = os.environ.get("REDFEED_ARCHIVE_URL", "")
        if not url:
            raise ConfigError("REDFEED_ARCHIVE_URL is not set")
        store = open_store(url)
        if args.action == "init":
            create_bucket(store)
            store.check_writable()
            print(f"archive {store.url} is ready", file=sys.stderr)
            return 0
        if not args.feed:
            raise ConfigError("--feed is required")
        archive = Archive(store)
        if args.action == "batches":
            for m in select_batches(archive, args):
                print(
                    f"{m.interval_start}  {m.run_id}  records={m.records} rejected={m.rejected} "
                    f"files={len(m.files)} finished={m.finished_at}"
                )
            return 0
        if not args.interval_start or not args.run_id:
            raise ConfigError("manifest needs --interval-start and --run-id")
        start = parse_instant("--interval-start", args.interval_start)
        manifest = archive.manifest(BatchKey(args.feed, start, args.run_id))
        if manifest is None:
            print(
                f"no committed batch {args.feed}/{args.interval_start}/{args.run_id}",
                file=sys.stderr,
            )
            return 66
        sys.stdout.buffer.write(manifest.to_json())
        return 0
    except RedfeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)


def _archive(args: argparse.Namespace) -> Archive:
    url = os.environ.get("REDFEED_ARCHIVE_URL", "")
    if not url:
        raise ConfigError("REDFEED_ARCHIVE_URL is not set")
    if not args.feed:
        raise ConfigError("--feed is required")
    return Archive(open_store(url))


def select_batches(archive: Archive, args: argparse.Namespace) -> list[Manifest]:
    """Committed batches of ``--feed``, oldest first: of one interval (``--interval-start``) or
    those whose interval starts between ``--start`` and ``--end`` (inclusive; a date-only
    ``--end`` covers that whole day), of one run (``--run-id``), or the latest of each interval
    (``--latest``). Manifests outside the range are never fetched."""
    feed_root = feed_prefix(args.feed)
    prefix = feed_root
    if getattr(args, "interval_start", None):
        prefix += interval_dir(parse_instant("--interval-start", args.interval_start)) + "/"
    since = parse_instant("--start", args.start) if getattr(args, "start", None) else None
    until: datetime | None = None
    if getattr(args, "end", None):
        end = parse_instant("--end", args.end)
        date_only = len(args.end.strip()) == len("2024-01-01")
        until = end + (timedelta(days=1) if date_only else timedelta(microseconds=1))
    run_id = getattr(args, "run_id", None) or None
    keys = []
    for key in archive.store.keys(prefix):
        parts = key[len(feed_root) :].split("/")
        if len(parts) != 3 or parts[2] != MANIFEST:
            continue
        try:
            start = parse_interval_dir(parts[0])
        except ValueError:
            continue
        if (since and start < since) or (until and start >= until):
            continue
        if run_id and parts[1] != run_id:
            continue
        keys.append(key)
    found = sorted(
        (Manifest.from_json(archive.store.get(k)) for k in keys),
        key=lambda m: (m.interval_start, m.finished_at, m.run_id),
    )
    if getattr(args, "latest", False):
        found = list({m.interval_start: m for m in found}.values())
    return found


def batches_summary(archive: Archive, args: argparse.Namespace) -> dict[str, Any]:
    """``batches --json``: the batches as the last-line JSON summary (exit 99 if there are
    none), for the replay DAG to map its loads over."""
    found = select_batches(archive, args)
    batches = [
        {
            "feed": m.feed,
            "run_id": m.run_id,
            "interval_start": m.interval_start,
            "interval_end": m.interval_end,
            "records": m.records,
            "rejected": m.rejected,
            "finished_at": m.finished_at,
            "manifest": archive.store.uri(
                BatchKey(
                    m.feed, parse_instant("interval_start", m.interval_start), m.run_id
                ).manifest
            ),
        }
        for m in found
    ]
    if not batches:
        bounds = f"between {args.start or 'the first'} and {args.end or 'the last'} interval"
        raise NothingNew(
            f"no committed batches of {args.feed} {bounds}"
            + (f" for run {args.run_id}" if args.run_id else "")
            + f" in {archive.store.url}"
        )
    return {"feed": args.feed, "count": len(batches), "batches": batches}


def create_bucket(store: ArchiveStore) -> None:
    """Local stacks only: create the archive bucket if the S3 endpoint does not have it yet."""
    if not isinstance(store, S3Store):
        return
    from botocore.exceptions import ClientError

    try:
        store.client.head_bucket(Bucket=store.bucket)
    except ClientError:
        store.client.create_bucket(Bucket=store.bucket)
