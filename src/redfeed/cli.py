"""The ``redfeed`` command: one entry point for every image."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

from redfeed import __version__


def run() -> NoReturn:
    """The console script: :func:`main`, then out without tearing the interpreter down.
    Python's finalization (freeing every module: SQLAlchemy, botocore, Scrapy) took 0.25 s of a
    0.85 s load of 1,000 records, and a task runs one such process per step. What a normal exit
    does that matters still happens: other threads are joined, atexit handlers run (logging's
    flush, the loader's stdin spool), stdout and stderr are flushed."""
    code = main()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe or stream: nothing left to deliver
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `extract [--start-early] -- program args...`: everything after `--` is the wrapped program.
    if argv[:1] == ["extract"]:
        from redfeed import extract

        program = argv[1:]
        start_early = program[:1] == ["--start-early"]
        if start_early:
            program = program[1:]
        if program[:1] == ["--"]:
            program = program[1:]
        return extract.main(program, start_early=start_early)

    # `load`, `verify` and `migrate` parse their own arguments.
    if argv[:1] == ["load"]:
        from redfeed import load

        return load.main(argv[1:])
    if argv[:1] == ["verify"]:
        from redfeed import verify

        return verify.main(argv[1:])
    if argv[:1] == ["migrate"]:
        from redfeed.warehouse import migrate

        return migrate.main(argv[1:])
    if argv[:1] == ["xref"]:
        from redfeed.warehouse import xref

        return xref.main(argv[1:])
    if argv[:1] == ["drift"]:
        from redfeed.warehouse import drift

        return drift.main(argv[1:])

    parser = argparse.ArgumentParser(prog="redfeed", description=__doc__)
    parser.add_argument("--version", action="version", version=f"redfeed {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("extract", help="run a scraper program and archive what it prints")
    commands.add_parser("load", help="load a committed batch (or stdin) into the warehouse")
    commands.add_parser("verify", help="reconcile a loaded batch with the ledger and its table")
    commands.add_parser("migrate", help="apply the warehouse migrations (Alembic)")
    commands.add_parser("drift", help="compare the models with a live warehouse")
    commands.add_parser("xref", help="rebuild the cross-referenced conference dimension")
    scrape = commands.add_parser("scrape", help="run a registered spider; records to stdout")
    scrape.add_argument("feed")
    commands.add_parser("mirror", help="serve a directory like the real source (offline runs)")
    archive = commands.add_parser("archive", help="inspect the archive")
    archive.add_argument("action", choices=["init", "batches", "manifest"])
    archive.add_argument("--feed")
    archive.add_argument("--interval-start")
    archive.add_argument("--run-id")
    archive.add_argument("--start", help="batches: first interval start (date or timestamp)")
    archive.add_argument("--end", help="batches: last interval start (inclusive)")
    archive.add_argument(
        "--latest", action="store_true", help="batches: only the latest batch of each interval"
    )
    archive.add_argument(
        "--json", action="store_true", help="batches: one JSON summary line (exit 99 if none)"
    )

    sample = commands.add_parser(
        "sample-data", help="write generated demo data, every feed in its source's layout"
    )
    sample.add_argument("--out", required=True)
    sample.add_argument("--years", required=True, help="comma-separated, e.g. 2026,2027")

    args, rest = parser.parse_known_args(argv)
    if args.command == "scrape":
        from redfeed.feeds import crawl

        return crawl.main(args.feed)
    if args.command == "mirror":
        from redfeed import mirror

        return mirror.main(rest)
    if args.command == "archive":
        from redfeed.archive.inspect import main as inspect_main

        return inspect_main(args)
    if args.command == "sample-data":
        from pathlib import Path

        from redfeed.sample_data import write_sample

        years = [int(y) for y in args.years.split(",")]
        written = write_sample(Path(args.out), years)
        counts = ", ".join(f"{feed} {n}" for feed, n in written.items())
        print(f"wrote sample files for {years} under {args.out}: {counts}", file=sys.stderr)
        return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    run()
