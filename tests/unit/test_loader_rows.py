"""Record → row conversion and pre-flight validation, with COPY's JSON semantics."""

from __future__ import annotations

from datetime import date, datetime

import orjson
import pytest

from redfeed.warehouse.jsonpaths import ColumnSpec, TableSpec, compile_getter, table_spec
from redfeed.warehouse.rows import MAX_RECORD_BYTES, BinaryCopy, Rejection, RowBuilder
from tests.copy_binary import SIGNATURE, TRAILER, binary_records, binary_tuple

GOOD = {
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
    "_feed": "confs-tech",
    "_batch_id": "run-1",
    "_interval_start": "2024-01-01T00:00:00Z",
    "_scraped_at": "2024-01-01T03:04:05.123Z",
}


@pytest.fixture(scope="module")
def builder() -> RowBuilder:
    return RowBuilder(table_spec("conferences"))


def line(record: dict[str, object]) -> bytes:
    return orjson.dumps(record)


def test_a_good_record_becomes_a_row_in_column_order(builder: RowBuilder) -> None:
    row = dict(zip(builder.table.column_names, builder.build(line(GOOD)), strict=True))
    assert row["name"] == "PyCon JP"
    assert row["start_date"] == date(2024, 9, 27)
    assert row["online"] is False
    assert row["year"] == 2024
    assert row["cfp_url"] is None  # missing object element -> NULL
    assert row["_interval_start"] == datetime(2024, 1, 1)
    assert row["_scraped_at"] == datetime(2024, 1, 1, 3, 4, 5, 123000)


def test_nested_values_load_as_their_json_text(builder: RowBuilder) -> None:
    row = dict(
        zip(
            builder.table.column_names,
            builder.build(line({**GOOD, "locales": ["JA", "EN"]})),
            strict=True,
        )
    )
    assert row["locales"] == '["JA","EN"]'


@pytest.mark.parametrize("text", ["2024", " 2024 ", "+2024", "\t2024\n", "02024"])
def test_integers_in_text_are_read_as_postgresql_reads_them(builder: RowBuilder, text: str) -> None:
    record = {**GOOD, "year": text}
    paths = (builder.build, lambda text: builder.compiled_row(record, text), builder.line_row)
    for row in (path(line(record)) for path in paths):
        assert dict(zip(builder.table.column_names, row, strict=True))["year"] == 2024


@pytest.mark.parametrize(
    ("record", "reason", "column"),
    [
        ({**GOOD, "name": None}, "name: required", "name"),
        ({k: v for k, v in GOOD.items() if k != "url"}, "url: required", "url"),
        ({**GOOD, "startDate": "next week"}, "is not a date", "start_date"),
        ({**GOOD, "startDate": 20240927}, "expected a date string", "start_date"),
        ({**GOOD, "online": "yes"}, "expected true or false", "online"),
        ({**GOOD, "year": "twenty"}, "is not an integer", "year"),
        # Python's int() reads these; Redshift and PostgreSQL do not.
        ({**GOOD, "year": "2_024"}, "is not an integer", "year"),
        ({**GOOD, "year": "٢٠٢٤"}, "is not an integer", "year"),
        ({**GOOD, "year": "\uff12\uff10\uff12\uff14"}, "is not an integer", "year"),  # fullwidth
        ({**GOOD, "year": "\u00a02024"}, "is not an integer", "year"),  # no-break space
        ({**GOOD, "year": 70000}, "out of range for SMALLINT", "year"),
        ({**GOOD, "year": 2024.5}, "expected an integer", "year"),
        ({**GOOD, "_scraped_at": "yesterday"}, "is not a timestamp", "_scraped_at"),
        # The archive's own length and Z, but a zone before it: not the archive's spelling.
        ({**GOOD, "_scraped_at": "2024-01-01T03+01:00Z"}, "is not a timestamp", "_scraped_at"),
        ({**GOOD, "_scraped_at": "2024-01-01T03:04:61Z"}, "is not a timestamp", "_scraped_at"),
        # Valid ISO 8601, but year 0 or 10000 once in UTC: a rejection, not a failed load.
        (
            {**GOOD, "_scraped_at": "0001-01-01T00:00:00+01:00"},
            "outside years 1-9999 in UTC",
            "_scraped_at",
        ),
        (
            {**GOOD, "_scraped_at": "9999-12-31T23:59:59-01:00"},
            "outside years 1-9999 in UTC",
            "_scraped_at",
        ),
        (
            {**GOOD, "city": "東京" * 50},
            "300 UTF-8 bytes (100 characters) do not fit VARCHAR(256)",
            "city",
        ),
        ({**GOOD, "name": "a\x00b"}, "NUL character", "name"),
    ],
)
def test_bad_values_are_rejected_with_a_precise_reason(
    builder: RowBuilder, record: dict[str, object], reason: str, column: str
) -> None:
    with pytest.raises(Rejection) as caught:
        builder.build(line(record))
    assert reason in caught.value.reason
    assert caught.value.column == column
    # The compiled COPY path, and the fast path in front of it, reject the same record for the
    # same reason.
    for compiled_path in (
        lambda: builder.compiled_row(record, line(record)),
        lambda: builder.line_row(line(record)),
    ):
        with pytest.raises(Rejection) as compiled:
            compiled_path()
        assert (compiled.value.reason, compiled.value.column) == (
            caught.value.reason,
            caught.value.column,
        )


@pytest.mark.parametrize(
    "record",
    [
        GOOD,
        {**GOOD, "name": "tab\there, new\nline, cr\r, back\\slash, bell\x07, ff\x0c, vt\x0b"},
        {**GOOD, "city": "São Paulo \u00a0 東京 🐍", "country": None, "online": True},
        {**GOOD, "locales": ["JA", "EN"], "year": "2024", "endDate": None},
        {**GOOD, "locales": {"nested": ["a\tb"]}, "twitter": 123, "mastodon": 1.5},
        {**GOOD, "_scraped_at": "2024-01-01T03:04:05+02:00", "startDate": "2024-09-27T10:00Z"},
        {**GOOD, "_scraped_at": "2024-06-30T23:59:59.999999Z", "_interval_start": "2024-01-01"},
        {k: v for k, v in GOOD.items() if k not in ("online", "year", "city")},
    ],
)
def test_the_copy_row_is_the_row_in_the_documented_binary_format(
    builder: RowBuilder, record: dict[str, object]
) -> None:
    raw = line(record)
    row = builder.row(orjson.loads(raw))
    specs = builder.table.columns
    expected = binary_tuple(row, specs)
    # The compiled row: the same values, of the same types (as the format spells them).
    assert binary_tuple(builder.compiled_row(orjson.loads(raw), raw), specs) == expected
    # Without the line, every string is checked for a NUL: the same row.
    assert binary_tuple(builder.compiled_row(orjson.loads(raw), None), specs) == expected
    # The fast path (or the slow one it hands over to) gives the same row.
    copy_row = builder.line_row(raw)
    assert binary_tuple(copy_row, specs) == expected
    # psycopg's encoder writes exactly the documented tuple, and PostgreSQL reads the row back.
    data = bytearray()
    BinaryCopy(builder.table).append(copy_row, data)
    assert bytes(data) == expected
    assert binary_records(SIGNATURE + bytes(data) + TRAILER, specs) == [row]


def test_multibyte_strings_are_measured_in_bytes_not_characters(builder: RowBuilder) -> None:
    # 85 three-byte characters = 255 bytes fit VARCHAR(256); 86 = 258 bytes do not.
    builder.build(line({**GOOD, "city": "東" * 85}))
    with pytest.raises(Rejection, match="258 UTF-8 bytes"):
        builder.build(line({**GOOD, "city": "東" * 86}))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"name": "x", ', "invalid JSON"),
        (b'{"name": "caf\xe9"}', "invalid UTF-8 at byte 13"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b'"just a string"', "not str"),
    ],
)
def test_unreadable_lines_are_rejected(builder: RowBuilder, raw: bytes, reason: str) -> None:
    with pytest.raises(Rejection, match=reason):
        builder.build(raw)


def test_records_over_4_mb_are_rejected(builder: RowBuilder) -> None:
    big = line({**GOOD, "mastodon": "x" * MAX_RECORD_BYTES})
    with pytest.raises(Rejection, match="Redshift loads JSON objects of at most 4 MB"):
        builder.build(big)


def test_jsonpath_getters_follow_copy_semantics() -> None:
    record = {"speakers": [{"name": "Ada", "tags": ["a"]}], "slot": None}
    assert compile_getter("$.speakers[0].name")(record) == "Ada"
    assert compile_getter("$['speakers'][0]['tags'][0]")(record) == "a"
    assert compile_getter("$.missing.deeper")(record) is None
    assert compile_getter("$.slot.start")(record) is None
    from redfeed.warehouse.jsonpaths import JsonPathError

    with pytest.raises(JsonPathError, match=r"no element \[1\]"):
        compile_getter("$.speakers[1].name")(record)


def test_an_array_index_out_of_range_rejects_the_record() -> None:
    spec = TableSpec(
        "talks",
        (ColumnSpec("first_speaker", "$.speakers[0].name", "VARCHAR(64)", "string", True, 64),),
    )
    builder = RowBuilder(spec)
    assert builder.build(b'{"speakers": [{"name": "Ada"}]}') == ("Ada",)
    with pytest.raises(Rejection, match="array index out of range"):
        builder.build(b'{"speakers": []}')


def test_remembered_values_never_outlive_a_rejection() -> None:
    """compiled_row remembers converted dates and the last timestamp: a bad value seen twice is
    rejected twice, and a good one after it is converted afresh."""
    builder = RowBuilder(table_spec("conferences"))  # its own memory, not the module's
    sequence = [
        ({**GOOD, "_scraped_at": "2024-13-01T00:00:00Z"}, "_scraped_at"),
        ({**GOOD, "_scraped_at": "2024-13-01T00:00:00Z"}, "_scraped_at"),
        ({**GOOD, "startDate": "2024-02-30"}, "start_date"),
        ({**GOOD, "startDate": "2024-02-30"}, "start_date"),
        ({**GOOD, "online": 1}, "online"),
        ({**GOOD, "year": True}, "year"),
        ({**GOOD, "year": 2**40}, "year"),
        (GOOD, None),
        ({**GOOD, "_scraped_at": 20240101}, "_scraped_at"),
        (GOOD, None),
    ]
    specs = builder.table.columns
    for record, column in sequence:
        raw = line(record)
        if column is None:
            expected = binary_tuple(builder.row(orjson.loads(raw)), specs)
            assert binary_tuple(builder.compiled_row(orjson.loads(raw), raw), specs) == expected
            assert binary_tuple(builder.line_row(raw), specs) == expected
            continue
        with pytest.raises(Rejection) as caught:
            builder.compiled_row(orjson.loads(raw), raw)
        assert caught.value.column == column
        with pytest.raises(Rejection) as caught:
            builder.line_row(raw)
        assert caught.value.column == column
