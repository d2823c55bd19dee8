"""Archived records → warehouse rows, with Redshift's COPY semantics and pre-flight validation.

Each column's JSONPath is compiled once into a getter; each value is converted the way COPY
(``FORMAT AS JSON``, ``DATEFORMAT/TIMEFORMAT 'auto'``) would, and checked against what Redshift
enforces (VARCHAR bytes, 65,535-byte VARCHARs, 4 MB records, NOT NULL) and PostgreSQL would not.
A record that fails any check becomes a :class:`Rejection` with a precise reason; nothing is
truncated or coerced into something else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Final

import orjson

from redfeed.warehouse.jsonpaths import (
    JSONPATH_STEP,
    ColumnSpec,
    JsonPathError,
    TableSpec,
    compile_getter,
)

#: Redshift: one JSON object (and one row) at most 4 MB.
MAX_RECORD_BYTES: Final = 4 * 1024 * 1024
#: Redshift: VARCHAR(65535) is the widest.
MAX_VARCHAR_BYTES: Final = 65535

Row = tuple[Any, ...]
Getter = Callable[[Any], Any]


class Rejection(Exception):
    """Why a record cannot be loaded (and which column, when one is to blame)."""

    def __init__(self, reason: str, column: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    # Numbers keep their JSON spelling; objects and arrays load as their JSON text.
    return orjson.dumps(value).decode()


def _date(spec: ColumnSpec) -> Callable[[Any], Any]:
    def convert(value: Any) -> date:
        if not isinstance(value, str):
            raise Rejection(
                f"{spec.name}: expected a date string, got {_text(value)[:80]!r}", spec.name
            )
        try:
            if len(value) > 10:  # a timestamp where a date is expected: COPY takes its date
                return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
            return date.fromisoformat(value)
        except ValueError:
            raise Rejection(f"{spec.name}: {value[:80]!r} is not a date", spec.name) from None

    return convert


def _timestamp(spec: ColumnSpec) -> Callable[[Any], Any]:
    def convert(value: Any) -> datetime:
        if not isinstance(value, str):
            raise Rejection(
                f"{spec.name}: expected a timestamp string, got {_text(value)[:80]!r}", spec.name
            )
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Rejection(f"{spec.name}: {value[:80]!r} is not a timestamp", spec.name) from None
        # Redshift TIMESTAMP has no zone: store UTC.
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed

    return convert


def _boolean(spec: ColumnSpec) -> Callable[[Any], Any]:
    def convert(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise Rejection(
            f"{spec.name}: expected true or false, got {_text(value)[:80]!r}", spec.name
        )

    return convert


def _integer(spec: ColumnSpec) -> Callable[[Any], Any]:
    low, high = spec.min_value, spec.max_value

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise Rejection(
                f"{spec.name}: expected an integer, got {_text(value)[:80]!r}", spec.name
            )
        try:
            number = int(value)
        except ValueError:
            raise Rejection(
                f"{spec.name}: {str(value)[:80]!r} is not an integer", spec.name
            ) from None
        if (low is not None and number < low) or (high is not None and number > high):
            raise Rejection(f"{spec.name}: {number} is out of range for {spec.sql_type}", spec.name)
        return number

    return convert


CONVERTERS: Final = {
    "date": _date,
    "timestamp": _timestamp,
    "boolean": _boolean,
    "integer": _integer,
}


#: A key no JSON object has: columns with a nested JSONPath read it in the fast pass (None),
#: then get their value from the compiled getter.
_NESTED = "\x00nested"
#: Dates and timestamps repeat a lot within a batch (the interval, a conference's days):
#: parse each distinct string once.
_CACHE_LIMIT = 65536


def _cached(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    cache: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        if value.__class__ is not str:
            return convert(value)
        hit = cache.get(value)
        if hit is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            hit = cache[value] = convert(value)
        return hit

    return cached


class RowBuilder:
    """Turns one archived JSON line into a row of ``table``'s load columns, or raises
    :class:`Rejection`.

    This is the loader's hot path (once per record): values are fetched with one C-level
    ``map(record.get, keys)``, strings (most columns) are checked inline, and only dates,
    timestamps, booleans and integers go through a converter.
    """

    def __init__(self, table: TableSpec) -> None:
        self.table = table
        specs = table.columns
        self.keys: list[str] = []
        self.nested: list[tuple[int, Getter, ColumnSpec]] = []
        for i, spec in enumerate(specs):
            steps = JSONPATH_STEP.findall(spec.jsonpath[1:])
            if len(steps) == 1 and not steps[0][2]:
                self.keys.append(steps[0][0] or steps[0][1])
            else:
                self.keys.append(_NESTED)
                self.nested.append((i, compile_getter(spec.jsonpath), spec))
        self.required = [(i, spec) for i, spec in enumerate(specs) if not spec.nullable]
        self.strings = [
            (i, min(spec.max_bytes or MAX_VARCHAR_BYTES, MAX_VARCHAR_BYTES), spec)
            for i, spec in enumerate(specs)
            if spec.kind == "string"
        ]
        self.others = [
            (
                i,
                _cached(CONVERTERS[spec.kind](spec))
                if spec.kind in ("date", "timestamp")
                else CONVERTERS[spec.kind](spec),
            )
            for i, spec in enumerate(specs)
            if spec.kind != "string"
        ]

    def parse(self, line: bytes) -> dict[str, Any]:
        """The record in ``line``, or a Rejection saying precisely what is wrong with it."""
        if len(line) > MAX_RECORD_BYTES:
            raise Rejection(
                f"record is {len(line)} bytes; Redshift loads JSON objects of at most 4 MB"
            )
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise Rejection(f"invalid UTF-8 at byte {bad.start}: {bad.reason}") from None
            raise Rejection(f"invalid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise Rejection(f"a record must be a JSON object, not {type(record).__name__}")
        return record

    def row(self, record: dict[str, Any]) -> Row:
        values = list(map(record.get, self.keys))
        for i, get, spec in self.nested:
            try:
                values[i] = get(record)
            except JsonPathError as exc:
                raise Rejection(
                    f"{spec.name}: {exc} (COPY fails on an array index out of range)", spec.name
                ) from None
        for i, spec in self.required:
            if values[i] is None:
                raise Rejection(
                    f"{spec.name}: required, but {spec.jsonpath} is missing or null", spec.name
                )
        for i, limit, spec in self.strings:
            value = values[i]
            if value is None:
                continue
            if value.__class__ is not str:
                value = values[i] = _text(value)
            # The byte length only matters once the characters could exceed the limit / 4.
            if len(value) * 4 > limit:
                size = len(value.encode("utf-8"))
                if size > limit:
                    raise Rejection(
                        f"{spec.name}: {size} UTF-8 bytes ({len(value)} characters) do not fit "
                        f"{spec.sql_type} (Redshift counts bytes)",
                        spec.name,
                    )
            if "\x00" in value:
                raise Rejection(f"{spec.name}: contains a NUL character", spec.name)
        for i, convert in self.others:
            value = values[i]
            if value is not None:
                values[i] = convert(value)
        return tuple(values)

    def build(self, line: bytes) -> Row:
        return self.row(self.parse(line))
