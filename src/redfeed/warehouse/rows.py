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


def _as_copy_text(convert: Callable[[Any], Any]) -> Callable[[Any], str]:
    """``convert``, then the value as PostgreSQL's COPY text spells it (what psycopg's text
    dumpers write: ISO dates, ``str(datetime)``, ``t``/``f``, decimal integers)."""

    def to_text(value: Any) -> str:
        converted = convert(value)
        if converted.__class__ is bool:
            return "t" if converted else "f"
        return str(converted)

    return to_text


def _utc_timestamp_text(to_text: Callable[[Any], str]) -> Callable[[Any], str]:
    """``to_text`` with a fast path for the archive's own timestamps (``…THH:MM:SSZ`` and
    ``…THH:MM:SS.ffffffZ``): validated by the C parser, then spelled as UTC without a zone."""
    parse = datetime.fromisoformat

    def text(value: Any) -> str:
        if (
            value.__class__ is str
            and len(value) in (20, 27)
            and value[-1] == "Z"
            and value[10] == "T"
        ):
            try:
                parse(value)
            except ValueError:
                return to_text(value)  # its Rejection names the column
            return f"{value[:10]} {value[11:-1]}"
        return to_text(value)

    return text


#: COPY text escapes (the characters PostgreSQL's COPY reads specially in text format).
_COPY_ESCAPES: Final = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\b": "\\b", "\v": "\\v", "\f": "\\f"}
)
COPY_NULL: Final = "\\N"


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


def _compile_copy_line(builder: RowBuilder) -> Callable[[dict[str, Any], bytes | None], bytes]:
    """Generate ``copy_line`` for one table: the column loops of :meth:`RowBuilder.row`
    unrolled into straight-line code with constants inlined, which is what makes Python
    validation keep up with COPY (about 3x faster than the generic loops). The generated source
    holds only identifiers, numbers and ``repr``'d strings from the table spec."""
    specs = builder.table.columns
    names: dict[str, Any] = {
        "Rejection": Rejection,
        "JsonPathError": JsonPathError,
        "_text": _text,
        "NULL": COPY_NULL,
        "ESCAPES": _COPY_ESCAPES,
    }
    # 1. values: one C-level map over the keys (nested paths: their compiled getters)
    names["KEYS"] = tuple(builder.keys)
    body = [
        "def copy_line(record, line):",
        f"    {', '.join(f'v{i}' for i in range(len(specs)))}, = map(record.get, KEYS)",
    ]
    for i, getter, spec in builder.nested:
        names[f"get{i}"] = getter
        body += [
            "    try:",
            f"        v{i} = get{i}(record)",
            "    except JsonPathError as exc:",
            f"        raise Rejection({spec.name + ': '!r} + str(exc) + "
            f"' (COPY fails on an array index out of range)', {spec.name!r}) from None",
        ]
    # 2. required columns
    for i, spec in builder.required:
        message = f"{spec.name}: required, but {spec.jsonpath} is missing or null"
        body += [f"    if v{i} is None:", f"        raise Rejection({message!r}, {spec.name!r})"]
    # 3. strings: JSON text for non-strings, byte limits
    for i, limit, spec in builder.strings:
        names[f"spec{i}"] = spec
        body += [
            f"    if v{i} is not None:",
            f"        if v{i}.__class__ is not str:",
            f"            v{i} = _text(v{i})",
            f"        if len(v{i}) > {limit // 4} and len(v{i}.encode()) > {limit}:",
            f"            raise Rejection(_too_long(spec{i}, v{i}, {limit}), {spec.name!r})",
        ]
    names["_too_long"] = _too_long
    # 4. NUL characters and COPY escapes, only where the JSON line had an escape
    strings = [i for i, _, _ in builder.strings]
    values = ", ".join(f"v{i}" for i in range(len(specs)))
    body += ["    if line is None or b'\\\\' in line:"]
    for i in strings:
        spec = specs[i]
        body += [
            f"        if v{i} is not None and (not v{i}.isprintable() or '\\\\' in v{i}):",
            f"            if '\\x00' in v{i}:",
            f"                raise Rejection({spec.name + ': contains a NUL character'!r}, "
            f"{spec.name!r})",
            f"            v{i} = v{i}.translate(ESCAPES)",
        ]
    # 5. dates, timestamps, booleans, integers: converted straight to COPY text; each
    #    distinct string converted once (dates and intervals repeat across a batch)
    for i, spec in enumerate(specs):
        if spec.kind == "string":
            continue
        to_text = _as_copy_text(CONVERTERS[spec.kind](spec))
        if spec.kind == "timestamp":
            to_text = _utc_timestamp_text(to_text)
        names[f"text{i}"] = to_text
        if spec.kind == "timestamp":
            # Either one value for the whole batch (the interval, a batch-wide scrape time) or
            # a different one per record: remember only the last one.
            names[f"last{i}"] = [None, None]
            body += [
                f"    if v{i} is not None:",
                f"        if v{i} == last{i}[0]:",
                f"            v{i} = last{i}[1]",
                "        else:",
                f"            t = text{i}(v{i})",
                f"            last{i}[0], last{i}[1] = v{i}, t",
                f"            v{i} = t",
            ]
            continue
        if spec.kind == "boolean":  # JSON true/false inline; anything else is rejected
            body += [
                f"    if v{i} is True:",
                f"        v{i} = 't'",
                f"    elif v{i} is False:",
                f"        v{i} = 'f'",
                f"    elif v{i} is not None:",
                f"        v{i} = text{i}(v{i})",
            ]
            continue
        if spec.kind == "integer":  # a JSON integer in range inline; the rest converted
            bounds = "".join(
                [
                    f" and {spec.min_value} <= v{i}" if spec.min_value is not None else "",
                    f" and v{i} <= {spec.max_value}" if spec.max_value is not None else "",
                ]
            )
            body += [
                f"    if v{i}.__class__ is int{bounds}:",
                f"        v{i} = str(v{i})",
                f"    elif v{i} is not None:",
                f"        v{i} = text{i}(v{i})",
            ]
            continue
        names[f"cache{i}"] = {}
        body += [
            f"    if v{i} is not None:",
            f"        t = cache{i}.get(v{i}) if v{i}.__class__ is str else None",
            "        if t is None:",
            f"            t = text{i}(v{i})",
            f"            if v{i}.__class__ is str:",
            f"                if len(cache{i}) >= {_CACHE_LIMIT}:",
            f"                    cache{i}.clear()",
            f"                cache{i}[v{i}] = t",
            f"        v{i} = t",
        ]
    body.append(
        f"    return ('\\t'.join([NULL if v is None else v for v in ({values},)]) + '\\n').encode()"
    )
    code = compile("\n".join(body) + "\n", f"<copy_line {builder.table.name}>", "exec")
    exec(code, names)  # noqa: S102 - generated from the table spec only (see the docstring)
    function: Callable[[dict[str, Any], bytes | None], bytes] = names["copy_line"]
    return function


def _too_long(spec: ColumnSpec, value: str, limit: int) -> str:
    return (
        f"{spec.name}: {len(value.encode('utf-8'))} UTF-8 bytes ({len(value)} characters) do "
        f"not fit {spec.sql_type} (Redshift counts bytes)"
    )


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
        self._copy_line = _compile_copy_line(self)

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
        values = self._checked(record)
        for i, convert in self.others:
            value = values[i]
            if value is not None:
                values[i] = convert(value)
        return tuple(values)

    def copy_line(self, record: dict[str, Any], line: bytes | None = None) -> bytes:
        """The record as one line of PostgreSQL ``COPY … FROM STDIN`` text, or Rejection: the
        same checks as :meth:`row` (in the same order), compiled for this table.

        ``line`` is the record's JSON text: when it has no backslash, no string in it holds a
        control character, a backslash or a NUL (JSON escapes them all), so nothing needs
        escaping and the per-string checks are skipped."""
        return self._copy_line(record, line)

    def _checked(self, record: dict[str, Any]) -> list[Any]:
        """The record's values in column order: nested paths read, required columns present,
        strings (JSON text for numbers, objects and arrays) within their byte limits."""
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
            if len(value) * 4 > limit and len(value.encode("utf-8")) > limit:
                raise Rejection(_too_long(spec, value, limit), spec.name)
        # NUL characters once every length is checked, as the compiled copy_line does: a record
        # with several faults gets the same reason from either path (Redshift's and PostgreSQL's).
        for i, _, spec in self.strings:
            value = values[i]
            if value is not None and "\x00" in value:
                raise Rejection(f"{spec.name}: contains a NUL character", spec.name)
        return values

    def build(self, line: bytes) -> Row:
        return self.row(self.parse(line))
