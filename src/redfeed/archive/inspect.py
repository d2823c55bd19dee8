"""``redfeed archive init|batches|manifest``: set up a local archive and show what is committed,
for people and for `make demo`."""

from __future__ import annotations

import argparse
import os
import sys

from redfeed.archive.layout import BatchKey
from redfeed.archive.reader import Archive
from redfeed.archive.store import ArchiveStore, S3Store, open_store
from redfeed.contract import parse_instant
from redfeed.errors import ConfigError, RedfeedError


def main(args: argparse.Namespace) -> int:
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
        start = (
            parse_instant("--interval-start", args.interval_start) if args.interval_start else None
        )
        if args.action == "batches":
            for m in archive.batches(args.feed, start):
                print(
                    f"{m.interval_start}  {m.run_id}  records={m.records} rejected={m.rejected} "
                    f"files={len(m.files)} finished={m.finished_at}"
                )
            return 0
        if start is None or not args.run_id:
            raise ConfigError("manifest needs --interval-start and --run-id")
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


def create_bucket(store: ArchiveStore) -> None:
    """Local stacks only: create the archive bucket if the S3 endpoint does not have it yet."""
    if not isinstance(store, S3Store):
        return
    from botocore.exceptions import ClientError

    try:
        store.client.head_bucket(Bucket=store.bucket)
    except ClientError:
        store.client.create_bucket(Bucket=store.bucket)
