"""Archived records → warehouse rows, with Redshift's COPY semantics and pre-flight validation.

Each column's JSONPath is compiled once into a getter; each value is converted the way COPY
(``FORMAT AS JSON``, ``DATEFORMAT/TIMEFORMAT 'auto'``) would, and checked against what Redshift
enforces (VARCHAR bytes, 65,535-byte VARCHARs, 4 MB records, NOT NULL) and PostgreSQL would not.
A record that fails any check becomes a :class:`Rejection` with a precise reason; nothing is
truncated or coerced into something else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

import orjson

from redfeed.warehouse.jsonpaths import ColumnSpec, JsonPathError, TableSpec, compile_getter

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


def _string(spec: ColumnSpec) -> Callable[[Any], Any]:
    limit = min(spec.max_bytes or MAX_VARCHAR_BYTES, MAX_VARCHAR_BYTES)

    def convert(value: Any) -> str:
        text = _text(value)
        # Byte length only matters once the character count could exceed the limit / 4.
        if len(text) * 4 > limit:
            size = len(text.encode("utf-8"))
            if size > limit:
                raise Rejection(
                    f"{spec.name}: {size} UTF-8 bytes ({len(text)} characters) do not fit "
                    f"{spec.sql_type} (Redshift counts bytes)",
                    spec.name,
                )
        if "\x00" in text:
            raise Rejection(f"{spec.name}: contains a NUL character", spec.name)
        return text

    return convert


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
    "string": _string,
    "date": _date,
    "timestamp": _timestamp,
    "boolean": _boolean,
    "integer": _integer,
}


@dataclass(frozen=True)
class _Column:
    spec: ColumnSpec
    get: Getter
    convert: Callable[[Any], Any]


class RowBuilder:
    """Turns one archived JSON line into a row of ``table``'s load columns, or raises
    :class:`Rejection`."""

    def __init__(self, table: TableSpec) -> None:
        self.table = table
        self.columns = [
            _Column(spec, compile_getter(spec.jsonpath), CONVERTERS[spec.kind](spec))
            for spec in table.columns
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
        values: list[Any] = []
        for column in self.columns:
            try:
                value = column.get(record)
            except JsonPathError as exc:
                raise Rejection(
                    f"{column.spec.name}: {exc} (COPY fails on an array index out of range)",
                    column.spec.name,
                ) from None
            if value is None:
                if not column.spec.nullable:
                    raise Rejection(
                        f"{column.spec.name}: required, but {column.spec.jsonpath} is missing "
                        "or null",
                        column.spec.name,
                    )
                values.append(None)
            else:
                values.append(column.convert(value))
        return tuple(values)

    def build(self, line: bytes) -> Row:
        return self.row(self.parse(line))
