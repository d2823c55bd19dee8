"""PostgreSQL's binary COPY format, spelled out from its documentation independently of the
loader (which has psycopg's encoder write it): what a row of converted values must look like,
and how PostgreSQL reads such data back."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from redfeed.warehouse.jsonpaths import ColumnSpec

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
#: Dates and timestamps count from PostgreSQL's epoch.
EPOCH = datetime(2000, 1, 1)
INTEGERS = {"SMALLINT": "!h", "INTEGER": "!i", "BIGINT": "!q"}


def _field(value: object, spec: ColumnSpec) -> bytes:
    if spec.kind == "string" and type(value) is str:
        return value.encode("utf-8")
    if spec.kind == "date" and type(value) is date:
        return struct.pack("!i", (value - EPOCH.date()).days)
    if spec.kind == "timestamp" and type(value) is datetime and value.tzinfo is None:
        return struct.pack("!q", (value - EPOCH) // timedelta(microseconds=1))
    if spec.kind == "boolean" and type(value) is bool:
        return b"\x01" if value else b"\x00"
    if spec.kind == "integer" and type(value) is int:
        return struct.pack(INTEGERS[spec.sql_type.upper()], value)
    raise TypeError(f"{spec.name} ({spec.sql_type}) takes no {value!r}")


def binary_tuple(row: Sequence[object], specs: Sequence[ColumnSpec]) -> bytes:
    """``row`` (as ``RowBuilder.row`` converts it) as one tuple: the field count, then each
    field's byte length and bytes, -1 for NULL. Raises ``TypeError`` for a value of the wrong
    Python type for its column (a bool for an integer, a datetime for a date, a zone)."""
    if len(row) != len(specs):
        raise ValueError(f"{len(row)} values for {len(specs)} columns")
    out = [struct.pack("!h", len(specs))]
    for value, spec in zip(row, specs, strict=True):
        if value is None:
            out.append(struct.pack("!i", -1))
        else:
            data = _field(value, spec)
            out.append(struct.pack("!i", len(data)) + data)
    return b"".join(out)


def _value(data: bytes, spec: ColumnSpec) -> object:
    if spec.kind == "string":
        return data.decode("utf-8")
    if spec.kind == "date":
        return EPOCH.date() + timedelta(days=struct.unpack("!i", data)[0])
    if spec.kind == "timestamp":
        return EPOCH + timedelta(microseconds=struct.unpack("!q", data)[0])
    if spec.kind == "boolean":
        if data not in (b"\x00", b"\x01"):
            raise ValueError(f"{spec.name}: {data!r} is not a boolean")
        return data == b"\x01"
    (number,) = struct.unpack(INTEGERS[spec.sql_type.upper()], data)
    return number


def binary_records(data: bytes, specs: Sequence[ColumnSpec]) -> list[tuple[object, ...]]:
    """Read COPY binary data as PostgreSQL does: the signature, tuples of ``len(specs)`` fields,
    the trailer, nothing after it. Each field is read with its column's type (the format carries
    none). Raises ``ValueError`` on anything PostgreSQL would refuse."""
    if not data.startswith(SIGNATURE):
        raise ValueError("no binary COPY signature")
    try:
        return _tuples(data, len(SIGNATURE), specs)
    except struct.error as exc:
        raise ValueError(f"the data ends inside a tuple: {exc}") from None


def _tuples(data: bytes, at: int, specs: Sequence[ColumnSpec]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    while True:
        (count,) = struct.unpack_from("!h", data, at)
        at += 2
        if count == -1:
            if at != len(data):
                raise ValueError(f"{len(data) - at} bytes after the trailer")
            return rows
        if count != len(specs):
            raise ValueError(f"a tuple of {count} fields for {len(specs)} columns")
        row: list[object] = []
        for spec in specs:
            (length,) = struct.unpack_from("!i", data, at)
            at += 4
            if length == -1:
                row.append(None)
                continue
            if length < 0 or at + length > len(data):
                raise ValueError(f"{spec.name}: a field of {length} bytes at {at}")
            row.append(_value(data[at : at + length], spec))
            at += length
        rows.append(tuple(row))
