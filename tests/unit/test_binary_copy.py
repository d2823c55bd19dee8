"""psycopg's binary COPY encoder, which the pre-flight workers call directly, holds to the
format as PostgreSQL documents it (tests/copy_binary.py), for every column kind the models use."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from redfeed.errors import ConfigError
from redfeed.warehouse.jsonpaths import ColumnSpec, TableSpec, model_table_specs
from redfeed.warehouse.rows import BinaryCopy, LiveColumn
from tests.copy_binary import SIGNATURE, TRAILER, binary_records, binary_tuple

EVERY_KIND = TableSpec(
    "every_kind",
    (
        ColumnSpec("s", "$.s", "VARCHAR(64)", "string", True, 64),
        ColumnSpec("c", "$.c", "CHAR(2)", "string", True, 2),
        ColumnSpec("d", "$.d", "DATE", "date", True),
        ColumnSpec("t", "$.t", "TIMESTAMP WITHOUT TIME ZONE", "timestamp", True),
        ColumnSpec("b", "$.b", "BOOLEAN", "boolean", True),
        ColumnSpec("i2", "$.i2", "SMALLINT", "integer", True, None, -32768, 32767),
        ColumnSpec("i4", "$.i4", "INTEGER", "integer", True, None, -(2**31), 2**31 - 1),
        ColumnSpec("i8", "$.i8", "BIGINT", "integer", True, None, -(2**63), 2**63 - 1),
    ),
)

#: EVERY_KIND as the live table has it when it matches the models.
LIVE = {
    name: LiveColumn(oid)
    for name, oid in {
        "s": 1043,
        "c": 1042,
        "d": 1082,
        "t": 1114,
        "b": 16,
        "i2": 21,
        "i4": 23,
        "i8": 20,
    }.items()
}

ROWS = [
    (
        "PyCon JP 東京 🐍",
        "JP",
        date(2024, 9, 27),
        datetime(2024, 1, 1, 3, 4, 5, 123456),
        True,
        2024,
        7,
        2**40,
    ),
    ("", "  ", date(1, 1, 1), datetime(1, 1, 1), False, -32768, -(2**31), -(2**63)),
    (
        'tab\there\nnull\\N"',
        "x",
        date(9999, 12, 31),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        None,
        32767,
        2**31 - 1,
        2**63 - 1,
    ),
    (None, None, None, None, None, None, None, None),
    (
        "a\u0301",
        None,
        date(1999, 12, 31),
        datetime(1999, 12, 31, 23, 59, 59, 999999),
        True,
        0,
        0,
        0,
    ),
]


@pytest.mark.parametrize("row", ROWS)
def test_the_encoder_writes_the_documented_tuple(row: tuple[object, ...]) -> None:
    data = bytearray()
    BinaryCopy(EVERY_KIND).append(row, data)
    assert bytes(data) == binary_tuple(row, EVERY_KIND.columns)


def test_a_stream_of_tuples_reads_back_as_the_rows() -> None:
    encoder = BinaryCopy(EVERY_KIND)
    data = bytearray(BinaryCopy.SIGNATURE)
    for row in ROWS:
        encoder.append(row, data)
    data += BinaryCopy.TRAILER
    assert BinaryCopy.SIGNATURE == SIGNATURE
    assert BinaryCopy.TRAILER == TRAILER
    assert binary_records(bytes(data), EVERY_KIND.columns) == ROWS


def test_every_loaded_table_has_a_binary_form() -> None:
    specs = model_table_specs()
    assert len(specs) >= 5
    for spec in specs.values():
        BinaryCopy(spec)


def test_a_column_type_without_a_binary_form_is_refused() -> None:
    spec = TableSpec("odd", (ColumnSpec("n", "$.n", "NUMERIC(10,2)", "integer", True),))
    with pytest.raises(ConfigError, match="no binary COPY form for NUMERIC"):
        BinaryCopy(spec)


@pytest.mark.parametrize(
    ("low", "high"),
    [(None, None), (-32768, None), (-32769, 32767), (0, 70000)],
)
def test_an_integer_column_without_its_type_range_is_refused(
    low: int | None, high: int | None
) -> None:
    # The encoder would write 70000 into a SMALLINT's two bytes as 4464, without a word.
    spec = TableSpec("odd", (ColumnSpec("n", "$.n", "SMALLINT", "integer", True, None, low, high),))
    with pytest.raises(ConfigError, match=r"needs a range within -32768\.\.32767"):
        BinaryCopy(spec)


def test_live_column_types_that_read_the_binary_form_differently_are_named() -> None:
    live = dict(LIVE)
    assert BinaryCopy.mismatches(EVERY_KIND, live) == []
    assert BinaryCopy.mismatches(EVERY_KIND, {**live, "s": LiveColumn(25)}) == []  # text too
    drifted = {**live, "i4": LiveColumn(1082), "t": LiveColumn(1184)}  # INTEGER read as DATE
    del drifted["b"]
    assert BinaryCopy.mismatches(EVERY_KIND, drifted) == [
        "t: type oid 1184, the model says TIMESTAMP WITHOUT TIME ZONE",
        "b: not in the table",
        "i4: type oid 1082, the model says INTEGER",
    ]


def test_a_narrower_string_or_a_not_null_the_models_lack_is_named() -> None:
    """Both would fail the COPY as if a row were bad; a NOT NULL even as worth a retry."""
    live = dict(LIVE)
    wide_enough = {**live, "s": LiveColumn(1043, 64 + 4), "c": LiveColumn(1042, 3 + 4)}
    assert BinaryCopy.mismatches(EVERY_KIND, wide_enough) == []
    extra = {
        "_loaded_at": LiveColumn(1114, not_null=True, has_default=True),
        "note": LiveColumn(25),
    }
    assert BinaryCopy.mismatches(EVERY_KIND, {**live, **extra}) == []
    drifted = {
        **live,
        "s": LiveColumn(1043, 16 + 4),
        "d": LiveColumn(1082, not_null=True),
        "owner": LiveColumn(25, not_null=True),
    }
    assert BinaryCopy.mismatches(EVERY_KIND, drifted) == [
        "s: holds 16 characters, the model says VARCHAR(64)",
        "d: NOT NULL in the table, the model allows NULL",
        "owner: NOT NULL without a default, not in the models",
    ]
