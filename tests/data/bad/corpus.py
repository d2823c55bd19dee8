"""The bad-input corpus: every class of record the loader must quarantine, each with the reason
(and column) it must give, mixed with good records it must load, some of them hostile-looking
but valid. Generated, never committed:

    python -m tests.data.bad.corpus DIR      # DIR/<table>.jsonl and DIR/<table>.expected.json

``<table>.expected.json`` maps each 1-based line number to its case, its expected reason
fragment (null: the record must load) and column. Tests use :func:`cases` directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from redfeed.warehouse.jsonpaths import ColumnSpec, TableSpec
from redfeed.warehouse.rows import MAX_RECORD_BYTES


@dataclass(frozen=True)
class Case:
    """One line of the corpus: what arrives, and what the loader must make of it."""

    name: str
    line: bytes
    #: A fragment of the quarantine reason; ``None``: a good record, which must load.
    reason: str | None = None
    #: The column the reason blames (None: the whole record).
    column: str | None = None
    #: Whether the line can reach the loader through the archive: the archive writer already
    #: quarantines lines that are not JSON objects, and sets the lineage fields itself.
    via_archive: bool = True
    #: A blank line is no record: skipped, neither loaded nor quarantined (line numbers count it).
    skipped: bool = False

    @property
    def good(self) -> bool:
        return self.reason is None and not self.skipped


def _json(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


#: A valid confs.tech record (lineage comes from the archive, or from the loader for stdin).
GOOD: dict[str, Any] = {
    "name": "PyCon JP",
    "url": "https://pycon.jp/2024",
    "startDate": "2024-09-27",
    "endDate": "2024-09-29",
    "city": "Tokyo",
    "country": "Japan",
    "online": False,
    "locales": "JA,EN",
    "topic": "python",
    "year": 2024,
    "sourcePath": "conferences/2024/python.json",
}


def _good(label: str, **changes: Any) -> Case:
    return Case(f"good: {label}", _json({**GOOD, "name": f"Good {label}", **changes}))


def _bad(label: str, reason: str, column: str | None, **changes: Any) -> Case:
    record = {**GOOD, **changes}
    return Case(
        label, _json({k: v for k, v in record.items() if v is not _MISSING}), reason, column
    )


_MISSING: Any = object()


def conference_cases() -> list[Case]:
    """The corpus for ``conferences``: every column kind it has (VARCHAR, DATE, BOOLEAN,
    SMALLINT, TIMESTAMP) given what it must refuse, and good records around them."""
    hostile_keys = {
        "name'); DROP TABLE conferences; --": "field names never reach SQL",
        'url" TEXT); DELETE FROM redfeed_loads; --': 1,
        "$.name": "a JSONPath as a key",
        "\\": "a backslash key",
    }
    return [
        *(_good(f"plain {n}") for n in range(6)),
        # Lines that are not a record at all.
        Case("invalid JSON", b'{"name": "cut off', "invalid JSON", via_archive=False),
        Case(
            "invalid UTF-8",
            b'{"name": "caf\xe9", "url": "https://x.example", "startDate": "2024-01-01"}',
            "invalid UTF-8 at byte 13",
            via_archive=False,
        ),
        Case("a JSON array", b"[1, 2, 3]", "must be a JSON object, not list", via_archive=False),
        Case("a JSON string", b'"just text"', "must be a JSON object, not str", via_archive=False),
        Case("a JSON number", b"42", "must be a JSON object, not int", via_archive=False),
        Case("JSON null", b"null", "must be a JSON object, not NoneType", via_archive=False),
        # Required columns.
        _bad(
            "missing required field",
            "url: required, but $.url is missing or null",
            "url",
            url=_MISSING,
        ),
        _bad(
            "null required field",
            "name: required, but $.name is missing or null",
            "name",
            name=None,
        ),
        # DATE.
        _bad(
            "date as a number",
            "start_date: expected a date string",
            "start_date",
            startDate=20240927,
        ),
        _bad(
            "date in words", "'next tuesday' is not a date", "start_date", startDate="next tuesday"
        ),
        _bad("impossible date", "'2024-02-30' is not a date", "end_date", endDate="2024-02-30"),
        # TIMESTAMP (lineage: only stdin can carry a bad one, the archive sets its own).
        Case(
            "timestamp as a number",
            _json({**GOOD, "_scraped_at": 1_700_000_000}),
            "_scraped_at: expected a timestamp string",
            "_scraped_at",
            via_archive=False,
        ),
        Case(
            "timestamp in words",
            _json({**GOOD, "_scraped_at": "yesterday"}),
            "'yesterday' is not a timestamp",
            "_scraped_at",
            via_archive=False,
        ),
        # BOOLEAN.
        _bad(
            "boolean as a string",
            "online: expected true or false, got 'yes'",
            "online",
            online="yes",
        ),
        _bad("boolean as a number", "online: expected true or false, got '1'", "online", online=1),
        # SMALLINT.
        _bad("integer as a float", "year: expected an integer", "year", year=2024.5),
        _bad("integer in words", "year: 'twenty' is not an integer", "year", year="twenty"),
        _bad(
            "integer out of range", "year: 70000 is out of range for SMALLINT", "year", year=70000
        ),
        _bad("integer as a boolean", "year: expected an integer, got 'true'", "year", year=True),
        # VARCHAR byte limits: Redshift counts bytes, not characters.
        _bad(
            "Japanese over the byte limit",
            "city: 360 UTF-8 bytes (120 characters) do not fit VARCHAR(256)",
            "city",
            city="東京都" * 40,
        ),
        _bad(
            "emoji over the byte limit",
            "twitter: 68 UTF-8 bytes (17 characters) do not fit VARCHAR(64)",
            "twitter",
            twitter="🐍" * 17,
        ),
        _bad(
            "nested value over the byte limit",
            "do not fit VARCHAR(128)",
            "locales",
            locales=["EN"] * 40,
        ),
        _bad("NUL character", "name: contains a NUL character", "name", name="a\x00b"),
        _bad(
            "record over 4 MB",
            "Redshift loads JSON objects of at most 4 MB",
            None,
            mastodon="x" * MAX_RECORD_BYTES,
        ),
        # Good records that look like trouble: they must load, verbatim.
        _good("hostile field names", **hostile_keys),
        _good("SQL in a value", country="Robert'); DROP TABLE conferences; --"),
        _good("COPY's special characters", city="tab\there\nnew line \\N back\\slash \r"),
        _good("Japanese at the byte limit", city="東" * 85),
        _good("emoji at the byte limit", twitter="🐍" * 16),
        _good(
            "astral and combining characters",
            country="\U0001d518\U0001d52b\U0001d526 e\u0301 \ufdfd \U0001f40d",
        ),
        _good("nested value as JSON text", locales=["JA", "EN"]),
        _good("a timestamp where a date is expected", startDate="2024-09-27T10:00:00Z"),
        _good("year as a numeric string", year="2024"),
        _good("unknown fields", venue={"rooms": [1, 2]}, tags=["a", "b"]),
        Case("blank line", b"   ", via_archive=False, skipped=True),
    ]


#: A table with an array-indexed JSONPath (none of the models has one yet): COPY fails on an
#: index out of range, so the loader must quarantine such records first.
NESTED_TABLE = TableSpec(
    "talks",
    (
        ColumnSpec("title", "$.title", "VARCHAR(256)", "string", False, 256),
        ColumnSpec("first_speaker", "$.speakers[0].name", "VARCHAR(64)", "string", True, 64),
    ),
)


def nested_cases() -> list[Case]:
    index_error = "first_speaker: $.speakers[0].name: no element [0]"
    return [
        Case("good: one speaker", _json({"title": "Talk", "speakers": [{"name": "Ada"}]})),
        Case("good: speaker without a name", _json({"title": "Talk", "speakers": [{}]})),
        Case("good: speakers not objects", _json({"title": "Talk", "speakers": ["Ada"]})),
        Case(
            "array index out of range",
            _json({"title": "Talk", "speakers": []}),
            index_error,
            "first_speaker",
        ),
        Case("array missing", _json({"title": "Talk"}), index_error, "first_speaker"),
        Case(
            "object instead of array",
            _json({"title": "Talk", "speakers": {"0": "Ada"}}),
            index_error,
            "first_speaker",
        ),
    ]


def cases(table: str) -> list[Case]:
    if table == "conferences":
        return conference_cases()
    if table == NESTED_TABLE.name:
        return nested_cases()
    raise KeyError(f"no corpus for table {table!r}")


def lines(corpus: Sequence[Case]) -> bytes:
    """The corpus as one JSON-lines document (line n is case n - 1)."""
    return b"".join(case.line + b"\n" for case in corpus)


def records_of(corpus: Sequence[Case]) -> Iterator[Case]:
    """The cases that count as records (a blank line is not one)."""
    return (case for case in corpus if not case.skipped)


def write(directory: Path) -> list[Path]:
    """Write every table's corpus and its expectations into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table in ("conferences", NESTED_TABLE.name):
        corpus = cases(table)
        data = directory / f"{table}.jsonl"
        data.write_bytes(lines(corpus))
        expected = {
            str(number): {
                "case": case.name,
                "outcome": "skipped" if case.skipped else "loaded" if case.good else "rejected",
                "reason": case.reason,
                "column": case.column,
            }
            for number, case in enumerate(corpus, start=1)
        }
        index = directory / f"{table}.expected.json"
        index.write_bytes(orjson.dumps(expected, option=orjson.OPT_INDENT_2))
        written += [data, index]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    for path in write(parser.parse_args(argv).directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
