"""Archived records → warehouse rows, with Redshift's COPY semantics and pre-flight validation.

Each column's JSONPath is compiled once into a getter; each value is converted the way COPY
(``FORMAT AS JSON``, ``DATEFORMAT/TIMEFORMAT 'auto'``) would, and checked against what Redshift
enforces (VARCHAR bytes, 65,535-byte VARCHARs, 4 MB records, NOT NULL) and PostgreSQL would not.
A record that fails any check becomes a :class:`Rejection` with a precise reason; nothing is
truncated or coerced into something else.

Fields no column reads are checked for JSON syntax and UTF-8 only: a number in one of them that
does not fit a double does not make the record invalid (the msgspec fast path never converts it,
and :meth:`RowBuilder.parse` agrees with it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

import orjson

from redfeed.errors import ConfigError
from redfeed.warehouse.jsonpaths import (
    INTEGER_RANGES,
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
    parse = datetime.fromisoformat

    def convert(value: Any) -> datetime:
        if not isinstance(value, str):
            raise Rejection(
                f"{spec.name}: expected a timestamp string, got {_text(value)[:80]!r}", spec.name
            )
        # The archive's own spelling (``…THH:MM:SSZ``, ``…THH:MM:SS.ffffffZ``, a new one for
        # every record): UTC, so without its Z it is the stored value. Anything else, or a
        # prefix that carries a zone of its own, takes the general path below.
        if len(value) in (20, 27) and value[-1] == "Z" and value[10] == "T":
            try:
                utc = parse(value[:-1])
            except ValueError:
                pass
            else:
                if utc.tzinfo is None:
                    return utc
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Rejection(f"{spec.name}: {value[:80]!r} is not a timestamp", spec.name) from None
        # Redshift TIMESTAMP has no zone: store UTC.
        if parsed.tzinfo is not None:
            try:
                parsed = parsed.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
                raise Rejection(
                    f"{spec.name}: {value[:80]!r} is outside years 1-9999 in UTC", spec.name
                ) from None
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


#: An integer as PostgreSQL reads one from text: ASCII digits, an optional sign, ASCII spaces
#: around (Redshift's documentation does not say whether it trims them). Python's ``int`` also
#: takes ``1_000``, other scripts' digits (``٣``) and a no-break space.
_INTEGER_TEXT: Final = re.compile(r"[ \t\n\r\f\v]*[+-]?[0-9]+[ \t\n\r\f\v]*")


def _integer(spec: ColumnSpec) -> Callable[[Any], Any]:
    low, high = spec.min_value, spec.max_value
    integer_text = _INTEGER_TEXT.fullmatch

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise Rejection(
                f"{spec.name}: expected an integer, got {_text(value)[:80]!r}", spec.name
            )
        try:
            if isinstance(value, str) and not integer_text(value):
                raise ValueError(value)
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


#: How the PostgreSQL loader's COPY reads its input: PostgreSQL's binary format, each field its
#: length and bytes (no quoting, no escaping, no text to parse: the server reads it with about
#: half the CPU of the same rows as CSV, BENCHMARKS.md). :class:`BinaryCopy` writes it.
COPY_OPTIONS: Final = "FORMAT binary"


class BinaryCopy:
    """A table's rows (as :meth:`RowBuilder.row` converts them) in PostgreSQL's binary COPY
    format, written by psycopg's C encoder, the one its ``Copy.write_row`` uses. The pre-flight
    workers hold no connection, so they call that encoder directly; the loader's connection only
    relays the bytes. The row's values must fit their columns (the validator has checked them):
    the encoder writes a column's binary form without checking ranges or lengths."""

    #: The file header: signature, flags, header extension length (PostgreSQL's COPY docs).
    SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    #: The file trailer: a field count of -1.
    TRAILER: Final = b"\xff\xff"

    def __init__(self, table: TableSpec) -> None:
        # psycopg's copy module keeps its row encoder private; pinned to psycopg 3.3 in
        # pyproject.toml, and tests/unit/test_binary_copy.py holds it to the documented format.
        from psycopg._copy_base import format_row_binary
        from psycopg.adapt import Transformer
        from psycopg.pq import Format

        self._transformer = Transformer()
        self._transformer.set_dumper_types(
            [_binary_oid(spec) for spec in table.columns], Format.BINARY
        )
        self._format = format_row_binary

    def append(self, row: Sequence[Any], out: bytearray) -> None:
        """Append ``row`` as one tuple of the COPY data to ``out``."""
        self._format(row, self._transformer, out)

    @staticmethod
    def mismatches(table: TableSpec, live: Mapping[str, LiveColumn]) -> list[str]:
        """Where the live table (its columns by name) would read the COPY differently from the
        models, or refuse rows the validator passed. The format carries no types, and a few
        do not fail: an INTEGER's four bytes read as a DATE are a day in 2000 or so. A
        narrower VARCHAR or a NOT NULL the models do not have would fail as if a row were
        bad (and a NOT NULL as worth a retry)."""
        problems = []
        for spec in table.columns:
            column = live.get(spec.name)
            expected = _binary_oid(spec)
            accepted = _STRING_OIDS if expected == _BINARY_OIDS["string"] else {expected}
            if column is None:
                problems.append(f"{spec.name}: not in the table")
            elif column.type_oid not in accepted:
                problems.append(
                    f"{spec.name}: type oid {column.type_oid}, the model says {spec.sql_type}"
                )
            elif (width := column.max_characters) is not None and (
                spec.max_bytes is None or width < spec.max_bytes
            ):
                # PostgreSQL counts characters, the validator UTF-8 bytes: a value within the
                # model's bytes has at most as many characters, so only a narrower column fails.
                problems.append(
                    f"{spec.name}: holds {width} characters, the model says {spec.sql_type}"
                )
            elif column.not_null and spec.nullable:
                problems.append(f"{spec.name}: NOT NULL in the table, the model allows NULL")
        known = {spec.name for spec in table.columns}
        for name, column in live.items():
            if name not in known and column.not_null and not column.has_default:
                problems.append(f"{name}: NOT NULL without a default, not in the models")
        return problems


@dataclass(frozen=True)
class LiveColumn:
    """A column of the live table, as ``pg_attribute`` has it."""

    type_oid: int
    #: ``atttypmod``: a VARCHAR(n) or CHAR(n) keeps n + 4, other types -1.
    type_modifier: int = -1
    not_null: bool = False
    #: A default, an identity or a generated column: COPY may leave it out.
    has_default: bool = False

    @property
    def max_characters(self) -> int | None:
        if self.type_oid in (1043, 1042) and self.type_modifier >= 4:
            return self.type_modifier - 4
        return None


#: The type whose binary form a column's values are sent in (binary COPY carries no types: the
#: server reads each field with its column's own receive function). Strings as ``text``: the
#: same bytes a VARCHAR or CHAR column reads.
_BINARY_OIDS: Final = {
    "string": 25,  # text
    "date": 1082,
    "boolean": 16,
    "timestamp": 1114,  # timestamp without time zone
    "SMALLINT": 21,
    "INTEGER": 23,
    "BIGINT": 20,
}


#: text, varchar, bpchar: each reads a string's binary form (its UTF-8 bytes).
_STRING_OIDS: Final = frozenset({25, 1043, 1042})


def _binary_oid(spec: ColumnSpec) -> int:
    key = spec.sql_type.upper() if spec.kind == "integer" else spec.kind
    try:
        oid = _BINARY_OIDS[key]
    except KeyError:
        raise ConfigError(f"{spec.name}: no binary COPY form for {spec.sql_type}") from None
    if spec.kind == "integer":
        # The encoder writes the type's width and wraps what does not fit: only the validator's
        # range check keeps 70000 out of a SMALLINT, so a spec without it is refused here.
        low, high = INTEGER_RANGES[key]
        if (
            spec.min_value is None
            or spec.max_value is None
            or spec.min_value < low
            or spec.max_value > high
        ):
            raise ConfigError(
                f"{spec.name}: an {spec.sql_type} column needs a range within {low}..{high} "
                f"(has {spec.min_value}..{spec.max_value})"
            )
    return oid


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


def _compile_row(builder: RowBuilder) -> Callable[[dict[str, Any], bytes | None], Row]:
    """Generate ``compiled_row`` for one table: the column loops of :meth:`RowBuilder.row`
    unrolled into straight-line code with constants inlined, which is what makes Python
    validation keep up with COPY (about 3x faster than the generic loops). The generated source
    holds only identifiers, numbers and ``repr``'d strings from the table spec."""
    specs = builder.table.columns
    names: dict[str, Any] = {
        "Rejection": Rejection,
        "JsonPathError": JsonPathError,
        "_text": _text,
        "_too_long": _too_long,
    }
    # 1. values: one C-level map over the keys (nested paths: their compiled getters)
    names["KEYS"] = tuple(builder.keys)
    body = [
        "def compiled_row(record, line):",
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
    # 4. NUL characters (PostgreSQL stores none), only where the JSON line had an escape
    body += ["    if line is None or b'\\\\' in line:"]
    for i, _, spec in builder.strings:
        body += [
            f"        if v{i} is not None and '\\x00' in v{i}:",
            f"            raise Rejection({spec.name + ': contains a NUL character'!r}, "
            f"{spec.name!r})",
        ]
    # 5. dates, timestamps, booleans, integers: plain JSON booleans and in-range integers
    #    inline, the rest through the converter; each distinct date string converted once
    #    (dates and intervals repeat across a batch)
    for i, spec in enumerate(specs):
        if spec.kind == "string":
            continue
        names[f"convert{i}"] = CONVERTERS[spec.kind](spec)
        if spec.kind == "timestamp":
            # Either one value for the whole batch (the interval, a batch-wide scrape time) or
            # a different one per record: remember only the last one.
            names[f"last{i}"] = [None, None]
            body += [
                f"    if v{i} is not None:",
                f"        if v{i} == last{i}[0]:",
                f"            v{i} = last{i}[1]",
                "        else:",
                f"            t = convert{i}(v{i})",
                f"            last{i}[0], last{i}[1] = v{i}, t",
                f"            v{i} = t",
            ]
            continue
        if spec.kind == "boolean":  # JSON true/false as they are; anything else is rejected
            body += [
                f"    if v{i} is not None and v{i}.__class__ is not bool:",
                f"        v{i} = convert{i}(v{i})",
            ]
            continue
        if spec.kind == "integer":  # a JSON integer in range as it is; the rest converted
            bounds = "".join(
                [
                    f" and {spec.min_value} <= v{i}" if spec.min_value is not None else "",
                    f" and v{i} <= {spec.max_value}" if spec.max_value is not None else "",
                ]
            )
            body += [
                f"    if v{i} is not None and not (v{i}.__class__ is int{bounds}):",
                f"        v{i} = convert{i}(v{i})",
            ]
            continue
        names[f"cache{i}"] = {}
        body += [
            f"    if v{i} is not None:",
            f"        t = cache{i}.get(v{i}) if v{i}.__class__ is str else None",
            "        if t is None:",
            f"            t = convert{i}(v{i})",
            f"            if v{i}.__class__ is str:",
            f"                if len(cache{i}) >= {_CACHE_LIMIT}:",
            f"                    cache{i}.clear()",
            f"                cache{i}[v{i}] = t",
            f"        v{i} = t",
        ]
    body.append(f"    return ({', '.join(f'v{i}' for i in range(len(specs)))},)")
    code = compile("\n".join(body) + "\n", f"<compiled_row {builder.table.name}>", "exec")
    exec(code, names)  # noqa: S102 - generated from the table spec only (see the docstring)
    function: Callable[[dict[str, Any], bytes | None], Row] = names["compiled_row"]
    return function


def _compile_fast_row(builder: RowBuilder) -> Callable[[bytes], Sequence[Any] | None]:
    """Generate the fast path of :meth:`RowBuilder.line_row` for one table, or raise
    ``ValueError`` where the table has none (a nested JSONPath, two columns on one key).

    msgspec decodes the line straight into a struct typed from the column specs, so that types,
    required columns, dates and integer ranges are checked in C. It answers ``None`` (the
    compiled row decides, with its precise reasons) whenever the line is not plainly valid: an
    escape anywhere (so no string can hold a NUL), invalid UTF-8, any type or constraint msgspec
    refuses, a string longer than its byte limit could allow, a timestamp the converter refuses.
    Whatever it returns, ``compiled_row`` returns too (a property test holds them to it)."""
    import msgspec  # the loader's dependency; not needed where the warehouse schema is read

    specs = builder.table.columns
    if builder.nested or len(set(builder.keys)) != len(builder.keys):
        raise ValueError(f"{builder.table.name}: no fast path (nested JSONPath or shared key)")
    limits = {i: limit for i, limit, _ in builder.strings}

    def struct(ascii_only: bool) -> type:
        fields: list[tuple[str, Any, Any]] = []
        for i, (key, spec) in enumerate(zip(builder.keys, specs, strict=True)):
            kind: Any
            if spec.kind == "string":
                # Characters, not bytes: msgspec counts code points. A longer string may still
                # fit (multi-byte characters count once here): the slow path measures it.
                characters = limits[i] if ascii_only else limits[i] // 4
                kind = Annotated[str, msgspec.Meta(max_length=characters)] | list | dict
            elif spec.kind == "date":
                kind = date
            elif spec.kind == "boolean":
                kind = bool
            elif spec.kind == "integer":
                kind = Annotated[int, msgspec.Meta(ge=spec.min_value, le=spec.max_value)]
            else:  # timestamp: converted below, remembered as compiled_row does
                kind = str
            if spec.nullable:
                fields.append((f"v{i}", kind | None, msgspec.field(default=None, name=key)))
            else:
                fields.append((f"v{i}", kind, msgspec.field(name=key)))
        name = f"Fast{'Ascii' if ascii_only else ''}_{builder.table.name}"
        return msgspec.defstruct(name, fields, kw_only=True, gc=False)

    names: dict[str, Any] = {
        "ASCII": msgspec.json.Decoder(struct(ascii_only=True)),
        "ANY": msgspec.json.Decoder(struct(ascii_only=False)),
        "DecodeError": msgspec.DecodeError,
        "astuple": msgspec.structs.astuple,
        "dumps": orjson.dumps,
        "JSONEncodeError": orjson.JSONEncodeError,
        "Rejection": Rejection,
        "MAX_RECORD_BYTES": MAX_RECORD_BYTES,
    }
    body = [
        "def fast_row(line):",
        "    if b'\\\\' in line or len(line) > MAX_RECORD_BYTES:",
        "        return None",
        "    if line.isascii():",
        "        decoder = ASCII",
        "    else:",
        "        try:",  # msgspec skips the fields no column reads without checking their UTF-8
        "            line.decode()",
        "        except UnicodeDecodeError:",
        "            return None",
        "        decoder = ANY",
        "    try:",
        "        values = list(astuple(decoder.decode(line)))",
        "    except DecodeError:",
        "        return None",
    ]
    for i, limit, _ in builder.strings:  # a nested array or object: its JSON text
        body += [
            f"    value = values[{i}]",
            "    if value is not None and value.__class__ is not str:",
            "        try:",
            "            text = dumps(value)",
            "        except JSONEncodeError:",  # an integer beyond 64 bits: compiled_row says
            "            return None",
            f"        if len(text) > {limit}:",
            "            return None",
            f"        values[{i}] = text.decode()",
        ]
    for i, spec in enumerate(specs):
        if spec.kind != "timestamp":
            continue
        names[f"convert{i}"] = CONVERTERS["timestamp"](spec)
        names[f"last{i}"] = [None, None]
        body += [
            f"    value = values[{i}]",
            "    if value is not None:",
            f"        if value == last{i}[0]:",
            f"            values[{i}] = last{i}[1]",
            "        else:",
            "            try:",
            f"                converted = convert{i}(value)",
            "            except Rejection:",
            "                return None",
            f"            last{i}[0], last{i}[1] = value, converted",
            f"            values[{i}] = converted",
        ]
    body.append("    return values")
    code = compile("\n".join(body) + "\n", f"<fast_row {builder.table.name}>", "exec")
    exec(code, names)  # noqa: S102 - generated from the table spec only
    function: Callable[[bytes], Sequence[Any] | None] = names["fast_row"]
    return function


def _too_long(spec: ColumnSpec, value: str, limit: int) -> str:
    return (
        f"{spec.name}: {len(value.encode('utf-8'))} UTF-8 bytes ({len(value)} characters) do "
        f"not fit {spec.sql_type} (Redshift counts bytes)"
    )


class RowBuilder:
    """Turns one archived JSON line into a row of ``table``'s load columns, or raises
    :class:`Rejection`.

    This is the loader's hot path (once per record). :meth:`line_row` first tries the msgspec
    fast path (types, dates and ranges checked in C); anything it does not plainly accept goes
    through :meth:`parse` and :meth:`compiled_row`, where values are fetched with one C-level
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
        #: The top-level key each column's JSONPath starts with.
        self.top_keys = sorted(
            {
                next(step[0] or step[1] for step in JSONPATH_STEP.findall(spec.jsonpath[1:]))
                for spec in specs
            }
        )
        self._field_decoder: Any = None
        self._compiled_row = _compile_row(self)
        try:
            self._fast_row: Callable[[bytes], Sequence[Any] | None] | None = _compile_fast_row(self)
        except ValueError:
            self._fast_row = None

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
            known = self._read_fields(line)
            if known is None:
                raise Rejection(f"invalid JSON: {exc}") from None
            return known
        if not isinstance(record, dict):
            raise Rejection(f"a record must be a JSON object, not {type(record).__name__}")
        return record

    def _read_fields(self, line: bytes) -> dict[str, Any] | None:
        """The fields the columns read, where ``line`` is well-formed JSON that orjson refuses
        only for a number out of its range in a field no column reads (msgspec, the fast path,
        does not convert such fields, and both paths must agree); ``None`` otherwise."""
        import msgspec

        if self._field_decoder is None:
            raw_fields = [
                (f"f{i}", msgspec.Raw, msgspec.field(default=msgspec.Raw(), name=key))
                for i, key in enumerate(self.top_keys)
            ]
            struct = msgspec.defstruct(f"Fields_{self.table.name}", raw_fields, kw_only=True)
            self._field_decoder = msgspec.json.Decoder(struct)
        try:
            raws = msgspec.structs.astuple(self._field_decoder.decode(line))
        except msgspec.DecodeError:
            return None
        text = b",".join(
            orjson.dumps(key) + b":" + bytes(raw)
            for key, raw in zip(self.top_keys, raws, strict=True)
            if raw
        )
        try:
            fields: dict[str, Any] = orjson.loads(b"{" + text + b"}")
        except orjson.JSONDecodeError:
            return None
        return fields

    def row(self, record: dict[str, Any]) -> Row:
        values = self._checked(record)
        for i, convert in self.others:
            value = values[i]
            if value is not None:
                values[i] = convert(value)
        return tuple(values)

    def compiled_row(self, record: dict[str, Any], line: bytes | None = None) -> Row:
        """:meth:`row`, compiled for this table: the same checks in the same order, the same
        values.

        ``line`` is the record's JSON text: when it has no backslash, no string in it holds a
        NUL (JSON escapes it), so that check is skipped."""
        return self._compiled_row(record, line)

    def line_row(self, line: bytes) -> Sequence[Any]:
        """The row of the archived JSON ``line``, or Rejection: the fast path where it applies,
        else :meth:`parse` and :meth:`compiled_row`."""
        if self._fast_row is not None:
            fast = self._fast_row(line)
            if fast is not None:
                return fast
        return self._compiled_row(self.parse(line), line)

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
        # NUL characters once every length is checked, as compiled_row does: a record
        # with several faults gets the same reason from either path (Redshift's and PostgreSQL's).
        for i, _, spec in self.strings:
            value = values[i]
            if value is not None and "\x00" in value:
                raise Rejection(f"{spec.name}: contains a NUL character", spec.name)
        return values

    def build(self, line: bytes) -> Row:
        return self.row(self.parse(line))
