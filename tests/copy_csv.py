"""The loader COPY's CSV (``FORMAT csv, NULL 'null'``), spelled out independently of the loader:
what a row of converted values must look like, and how PostgreSQL reads such data back."""

from __future__ import annotations

from datetime import date, datetime


def csv_line(row: tuple[object, ...]) -> bytes:
    """``row`` (as ``RowBuilder.row`` converts it) as one line: strings, dates and timestamps
    quoted with quotes doubled, ``null`` unquoted for NULL, ``true``/``false``, integers bare."""
    fields: list[str] = []
    for value in row:
        if value is None:
            fields.append("null")
        elif isinstance(value, bool):
            fields.append("true" if value else "false")
        elif isinstance(value, int):
            fields.append(str(value))
        elif isinstance(value, str | date | datetime):
            fields.append('"' + str(value).replace('"', '""') + '"')
        else:
            raise TypeError(f"no CSV spelling for {value!r}")
    return (",".join(fields) + "\n").encode()


def csv_records(data: bytes) -> list[list[str | None]]:
    """Parse COPY CSV data as PostgreSQL does with these options: a field is quoted (``""`` is
    one quote; newlines and commas are data inside quotes) or bare, and only a bare ``null`` is
    NULL. Raises ``ValueError`` on anything PostgreSQL would refuse (a stray quote, an open
    quote at the end)."""
    text = data.decode("utf-8")
    records: list[list[str | None]] = []
    fields: list[str | None] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            j, parts = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise ValueError(f"unterminated quoted field at {i}")
                parts.append(text[j:k])
                if text.startswith('"', k + 1):
                    parts.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append("".join(parts))
        else:
            j = i
            while j < n and text[j] not in ',\n"':
                j += 1
            if j < n and text[j] == '"':
                raise ValueError(f"quote inside a bare field at {j}")
            bare = text[i:j]
            fields.append(None if bare == "null" else bare)
            i = j
        if i < n and text[i] == ",":
            i += 1
            if i == n or text[i] == "\n":
                fields.append("")
            continue
        if i < n and text[i] == "\n":
            i += 1
        records.append(fields)
        fields = []
    return records
