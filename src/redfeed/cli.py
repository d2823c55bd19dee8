"""The ``redfeed`` command: one entry point for every image."""

from __future__ import annotations

import argparse
import sys

from redfeed import __version__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `extract -- program args...`: everything after `--` belongs to the wrapped program.
    if argv[:1] == ["extract"]:
        from redfeed import extract

        program = argv[1:]
        if program[:1] == ["--"]:
            program = program[1:]
        return extract.main(program)

    parser = argparse.ArgumentParser(prog="redfeed", description=__doc__)
    parser.add_argument("--version", action="version", version=f"redfeed {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("extract", help="run a scraper program and archive what it prints")
    scrape = commands.add_parser("scrape", help="run a registered spider; records to stdout")
    scrape.add_argument("feed")
    commands.add_parser("mirror", help="serve a directory like the real source (offline runs)")
    archive = commands.add_parser("archive", help="inspect the archive")
    archive.add_argument("action", choices=["batches", "manifest"])
    archive.add_argument("--feed", required=True)
    archive.add_argument("--interval-start")
    archive.add_argument("--run-id")

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
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
