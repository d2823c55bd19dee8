"""Print the Redshift DDL of the migrations: ``alembic upgrade head --sql`` for a Redshift URL.

    python -m redfeed.warehouse.ddl                      # to stdout (make redshift-ddl)
    python -m redfeed.warehouse.ddl --output FILE        # e.g. the golden file

Rendering is offline: nothing connects to Redshift. The golden copy is
``tests/golden/redshift-ddl.sql``; ``tests/unit/test_warehouse_ddl.py`` compares the two.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from redfeed.warehouse.migrate import REDSHIFT_RENDER_URL, render_sql

GOLDEN = Path("tests/golden/redshift-ddl.sql")


def redshift_ddl(revision: str = "head") -> str:
    """The SQL that migrating an empty Redshift database to ``revision`` runs."""
    return render_sql(REDSHIFT_RENDER_URL, revision)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="redshift-ddl", description=__doc__.splitlines()[0])
    parser.add_argument("--revision", default="head")
    parser.add_argument("--output", type=Path, help=f"write here (e.g. {GOLDEN}), not stdout")
    args = parser.parse_args(argv)
    ddl = redshift_ddl(args.revision)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(ddl, encoding="utf-8")
    else:
        print(ddl, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
