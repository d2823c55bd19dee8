"""conferences.cfp_end_date: VARCHAR(32) -> DATE, the Redshift way

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Redshift cannot change a column's type in place (only widen a VARCHAR), so the change is
add / copy / drop / rename, all in this migration's one transaction: a value that is not a date
makes the CAST fail and the whole migration roll back, leaving 0001's column untouched (no value
is silently nulled). Empty strings become NULL, as COPY's EMPTYASNULL would.

The new column ends up last in the table's physical order; redfeed always names its columns
(COPY column list, INSERT ... SELECT column list), so the order does not matter. A table too big
for one UPDATE would use a deep copy instead (docs/warehouse.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "conferences"
COLUMN = "cfp_end_date"
NEW = f"{COLUMN}__new"


def _swap(new_type: sa.types.TypeEngine[Any], encode: str, conversion: str) -> None:
    op.add_column(TABLE, sa.Column(NEW, new_type, redshift_encode=encode))
    # Constants of this file only: no outside input reaches the SQL.
    op.execute(f"UPDATE {TABLE} SET {NEW} = {conversion} WHERE {COLUMN} IS NOT NULL")  # noqa: S608
    op.drop_column(TABLE, COLUMN)
    op.alter_column(TABLE, NEW, new_column_name=COLUMN)


def upgrade() -> None:
    _swap(sa.Date(), "az64", f"CAST(NULLIF(TRIM({COLUMN}), '') AS DATE)")


def downgrade() -> None:
    _swap(sa.String(32), "zstd", f"TO_CHAR({COLUMN}, 'YYYY-MM-DD')")
