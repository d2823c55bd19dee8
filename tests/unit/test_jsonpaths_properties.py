"""Property-based tests of the loader's emulation of Redshift COPY: JSONPaths evaluated against
an independent reference evaluator on random nested records, nested values loaded as their JSON
text, and VARCHAR limits counted in UTF-8 bytes on random Unicode (astral planes included)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from redfeed.warehouse.jsonpaths import (
    ColumnSpec,
    JsonPathError,
    TableSpec,
    check_jsonpath,
    compile_getter,
    extract,
)
from redfeed.warehouse.rows import MAX_VARCHAR_BYTES, Rejection, RowBuilder

PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: A few keys, so random paths often meet random records; names a dot path cannot spell too.
KEYS = st.sampled_from(["a", "b", "_c", "D9", "name", "dé", "with space", "a.b", "x-y"])
DOT_KEYS = st.sampled_from(["a", "b", "_c", "D9", "name"])
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
RECORDS = st.dictionaries(KEYS, JSON_VALUES, max_size=6)

Step = str | int


class PathFailure(Exception):
    """The reference's "COPY fails here"."""


def reference_parse(path: str) -> list[Step]:
    """Tokenize a JSONPath by hand, independently of the module's regular expressions."""
    assert path.startswith("$")
    steps: list[Step] = []
    i = 1
    while i < len(path):
        if path[i] == ".":
            j = i + 1
            while j < len(path) and path[j] not in ".[":
                j += 1
            steps.append(path[i + 1 : j])
            i = j
        elif path.startswith("['", i):
            j = path.index("']", i + 2)
            steps.append(path[i + 2 : j])
            i = j + 2
        else:
            j = path.index("]", i)
            steps.append(int(path[i + 1 : j]))
            i = j + 1
    return steps


def reference_evaluate(record: Any, steps: list[Step]) -> Any:
    """COPY's reading of a record: a missing member (or a member of something that is not an
    object) is NULL; an array index that is not there fails the load."""
    value = record
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                raise PathFailure(step)
            value = value[step]
        elif isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


@st.composite
def paths(draw: st.DrawFn) -> str:
    """A Redshift JSONPath in one notation: ``$.a[0].b`` or ``$['a'][0]['b']``."""
    bracket = draw(st.booleans())
    names = KEYS.filter(lambda k: "'" not in k) if bracket else DOT_KEYS
    text = "$"
    for position in range(draw(st.integers(min_value=1, max_value=4))):
        if position and draw(st.booleans()):
            text += f"[{draw(st.integers(min_value=0, max_value=3))}]"
        else:
            name = draw(names)
            text += f"['{name}']" if bracket else f".{name}"
    return text


@PROPERTIES
@given(record=RECORDS, path=paths())
def test_compiled_getters_read_records_as_the_reference_does(
    record: dict[str, Any], path: str
) -> None:
    assert check_jsonpath(path) == path
    steps = reference_parse(path)
    try:
        expected = reference_evaluate(record, steps)
    except PathFailure:
        with pytest.raises(JsonPathError):
            compile_getter(path)(record)
        with pytest.raises(JsonPathError):
            extract(record, path)
        return
    assert compile_getter(path)(record) == expected
    assert extract(record, path) == expected


@PROPERTIES
@given(dot=st.lists(DOT_KEYS, min_size=1, max_size=3), quoted=KEYS.filter(lambda k: "'" not in k))
def test_a_path_mixing_both_notations_is_refused(dot: list[str], quoted: str) -> None:
    mixed = "$" + "".join(f".{name}" for name in dot) + f"['{quoted}']"
    with pytest.raises(JsonPathError, match="one notation"):
        check_jsonpath(mixed)


def string_table(jsonpath: str, max_bytes: int, nullable: bool = True) -> TableSpec:
    spec = ColumnSpec("value", jsonpath, f"VARCHAR({max_bytes})", "string", nullable, max_bytes)
    return TableSpec("t", (spec,))


def json_text(value: Any) -> str | None:
    """What a VARCHAR column holds for a JSON value: strings as they are, anything else as its
    compact JSON text (json, not orjson: an independent spelling)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values, types included (Python's ``True == 1`` is not JSON's)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def has_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(has_float(v) for v in value)
    return isinstance(value, float)


@PROPERTIES
@given(record=RECORDS, path=paths())
def test_nested_values_load_as_their_json_text(record: dict[str, Any], path: str) -> None:
    try:
        value = reference_evaluate(record, reference_parse(path))
    except PathFailure:
        with pytest.raises(Rejection, match="array index out of range"):
            RowBuilder(string_table(path, MAX_VARCHAR_BYTES)).build(orjson.dumps(record))
        return
    expected = json_text(value)
    assume(expected is None or "\x00" not in expected)
    builder = RowBuilder(string_table(path, MAX_VARCHAR_BYTES))
    line = orjson.dumps(record)
    (loaded,) = builder.build(line)
    assert builder.row(orjson.loads(line)) == (loaded,)
    if value is None or isinstance(value, str) or not has_float(value):
        assert loaded == expected
    else:  # floats may be spelled differently (1e-7, 1e-07): the same number either way
        assert same_json(json.loads(loaded), value)


@PROPERTIES
@given(
    text=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60),
    limit=st.integers(min_value=1, max_value=120),
)
def test_a_string_fits_its_varchar_exactly_when_its_utf8_bytes_do(text: str, limit: int) -> None:
    builder = RowBuilder(string_table("$.value", limit))
    record = {"value": text}
    line = orjson.dumps(record)
    fits = len(text.encode("utf-8")) <= limit
    if fits:
        assert builder.build(line) == (text,)
        builder.compiled_row(orjson.loads(line), line)
    else:
        with pytest.raises(Rejection, match=r"UTF-8 bytes \(\d+ characters\) do not fit") as row:
            builder.build(line)
        with pytest.raises(Rejection) as compiled:
            builder.compiled_row(orjson.loads(line), line)
        assert compiled.value.reason == row.value.reason
        assert f"{len(text.encode('utf-8'))} UTF-8 bytes ({len(text)} characters)" in (
            row.value.reason
        )


@PROPERTIES
@given(
    chars=st.lists(st.sampled_from(["a", "é", "東", "🐍", "\U0010fffd"]), min_size=0, max_size=40),
    limit=st.integers(min_value=1, max_value=100),
)
def test_byte_limits_hold_at_every_width_of_character(chars: list[str], limit: int) -> None:
    """1-, 2-, 3- and 4-byte characters around the limit: the fast path that skips encoding
    short strings must agree with counting bytes."""
    text = "".join(chars)
    spec = string_table("$.value", limit).columns[0]
    builder = RowBuilder(string_table("$.value", limit))
    try:
        builder.build(orjson.dumps({"value": text}))
        accepted = True
    except Rejection:
        accepted = False
    assert accepted == spec.fits(text) == (len(text.encode()) <= limit)


def test_varchar_limits_never_exceed_redshifts_widest() -> None:
    builder = RowBuilder(string_table("$.value", 100_000))
    builder.build(orjson.dumps({"value": "x" * MAX_VARCHAR_BYTES}))
    with pytest.raises(Rejection, match="65536 UTF-8 bytes"):
        builder.build(orjson.dumps({"value": "x" * (MAX_VARCHAR_BYTES + 1)}))
