"""The Redshift DDL the migrations render offline (``make redshift-ddl``): it is Redshift SQL, it
builds exactly the physical design the models declare, and it matches the golden copy."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import sqlglot
from sqlglot import exp

from redfeed.warehouse import ddl, migrate
from redfeed.warehouse.dialect import adapt
from redfeed.warehouse.jsonpaths import redshift_dialect
from redfeed.warehouse.models import metadata

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "redshift-ddl.sql"
REGENERATE = ".venv/bin/python -m redfeed.warehouse.ddl --output tests/golden/redshift-ddl.sql"
MIGRATIONS = sorted((REPO / "migrations" / "versions").glob("[0-9]*.py"))
#: The views the migrations create (0003, 0004).
VIEWS = {
    "conferences_latest",
    "python_conferences_latest",
    "upcoming_open_cfps",
    "conference_talks",
    "conferences_per_country_month",
    "cfp_changes",
}


@pytest.fixture(scope="module")
def redshift_sql() -> str:
    return ddl.redshift_ddl()


def statements(sql: str) -> list[str]:
    """The rendered script split into statements (it has no semicolons inside literals)."""
    without_comments = re.sub(r"^--.*$", "", sql, flags=re.MULTILINE)
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def parse(statement: str) -> exp.Expression:
    (tree,) = sqlglot.parse(statement, read="redshift")
    assert tree is not None
    # sqlglot falls back to an opaque Command for what it cannot parse: that is not parsing.
    assert not isinstance(tree, exp.Command), f"sqlglot could not parse: {statement}"
    return tree


def test_golden_file_matches_the_rendered_ddl(redshift_sql: str) -> None:
    golden = GOLDEN.read_text(encoding="utf-8") if GOLDEN.exists() else ""
    if redshift_sql != golden:
        diff = "".join(
            difflib.unified_diff(
                golden.splitlines(keepends=True),
                redshift_sql.splitlines(keepends=True),
                "tests/golden/redshift-ddl.sql",
                "rendered now",
            )
        )
        pytest.fail(
            "the Redshift DDL differs from the golden file. If the change is intended, "
            f"regenerate it with:\n    {REGENERATE}\nand review the diff:\n{diff}"
        )


def test_every_statement_parses_as_redshift_sql(redshift_sql: str) -> None:
    parsed = [parse(statement) for statement in statements(redshift_sql)]
    kinds = [type(tree).__name__ for tree in parsed]
    # alembic_version + the models' tables + the views
    assert kinds.count("Create") == 1 + len(metadata.tables) + len(VIEWS)
    assert "Alter" in kinds
    assert "Update" in kinds
    assert "Insert" in kinds


@pytest.mark.parametrize("word", ["RETURNING", "SAVEPOINT"])
def test_no_sql_that_redshift_lacks(redshift_sql: str, word: str) -> None:
    downgrade = migrate.render_downgrade_sql()
    for sql in (redshift_sql, downgrade):
        assert not re.search(rf"\b{word}\b", sql, re.IGNORECASE), sql


def test_one_transaction_per_migration(redshift_sql: str) -> None:
    words = [s.split()[0].upper() for s in statements(redshift_sql)]
    assert words.count("BEGIN") == words.count("COMMIT") == len(MIGRATIONS)
    assert words[0] == "BEGIN"
    assert words[-1] == "COMMIT"


def test_the_downgrade_script_parses_too() -> None:
    trees = [parse(s) for s in statements(migrate.render_downgrade_sql())]
    dropped = {table.name for t in trees if isinstance(t, exp.Drop) for table in t.args["tables"]}
    assert dropped == set(metadata.tables) | VIEWS


def test_columns_are_renamed_with_the_redshift_syntax(redshift_sql: str) -> None:
    renames = [s for s in statements(redshift_sql) if " RENAME " in s]
    assert renames, "the type-change migration renames a column"
    for statement in renames:
        assert " RENAME COLUMN " in statement
        (action,) = parse(statement).args["actions"]
        assert isinstance(action, exp.RenameColumn), statement


def test_unadapted_redshift_dialect_would_render_returning() -> None:
    """The trap of sqlalchemy-redshift #281 is real in the pinned versions; adapt() removes it."""
    version = sa.Table(
        "alembic_version", sa.MetaData(), sa.Column("version_num", sa.String(32), primary_key=True)
    )
    insert = version.insert().values(version_num=sa.literal_column("'0001'"))
    plain = sa.make_url("redshift+psycopg2://").get_dialect()()
    assert "RETURNING" in str(insert.compile(dialect=plain))
    assert "RETURNING" not in str(insert.compile(dialect=adapt(plain)))


# -- the DDL, replayed, builds the models' physical design ----------------------------------


def _column_facts(column: exp.ColumnDef) -> dict[str, Any]:
    constraints = [c.args["kind"] for c in column.args.get("constraints") or []]
    encode = next((c for c in constraints if isinstance(c, exp.EncodeColumnConstraint)), None)
    return {
        "type": column.args["kind"].sql("redshift"),
        "encode": encode.this.name.lower() if encode else None,
        "not_null": any(isinstance(c, exp.NotNullColumnConstraint) for c in constraints),
    }


def replay(sql: str) -> dict[str, dict[str, Any]]:
    """Apply the script's CREATE/ALTER/DROP TABLE statements to an empty catalog."""
    tables: dict[str, dict[str, Any]] = {}
    for statement in statements(sql):
        tree = parse(statement)
        if isinstance(tree, exp.Create) and tree.args.get("kind") == "TABLE":
            schema = tree.this
            columns = {
                c.name: _column_facts(c) for c in schema.expressions if isinstance(c, exp.ColumnDef)
            }
            props = tree.args.get("properties")
            options: dict[str, Any] = {}
            for prop in props.expressions if props else []:
                if isinstance(prop, exp.DistStyleProperty):
                    options["diststyle"] = prop.this.name.upper()
                elif isinstance(prop, exp.DistKeyProperty):
                    options["distkey"] = (prop.this.name,)
                elif isinstance(prop, exp.SortKeyProperty):
                    options["sortkey"] = tuple(e.name for e in prop.this)
            tables[schema.this.name] = {"columns": columns, **options}
        elif isinstance(tree, exp.Drop) and tree.args.get("kind") == "TABLE":
            for dropped_table in tree.args["tables"]:
                del tables[dropped_table.name]
        elif isinstance(tree, exp.Alter):
            columns = tables[tree.this.name]["columns"]
            for action in tree.args["actions"]:
                if isinstance(action, exp.ColumnDef):
                    columns[action.name] = _column_facts(action)
                elif isinstance(action, exp.Drop) and action.args.get("kind") == "COLUMN":
                    for dropped in action.args["tables"]:
                        del columns[dropped.name]
                elif isinstance(action, exp.RenameColumn):
                    columns[action.args["to"].name] = columns.pop(action.this.name)
                else:
                    pytest.fail(f"the replay does not know {type(action).__name__}: {statement}")
    return tables


def test_the_ddl_builds_the_distkey_sortkey_and_encode_the_models_declare(
    redshift_sql: str,
) -> None:
    built = replay(redshift_sql)
    dialect = redshift_dialect()
    for table in metadata.sorted_tables:
        declared = table.dialect_options["redshift"]
        have = built[table.name]
        assert have.get("diststyle") == declared["diststyle"], table.name
        distkey = declared["distkey"]
        assert have.get("distkey") == ((distkey,) if distkey else None), table.name
        assert have.get("sortkey") == tuple(declared["sortkey"]), table.name
        assert set(have["columns"]) == set(table.columns.keys()), table.name
        for column in table.columns:
            want_type = sqlglot.exp.DataType.build(
                column.type.compile(dialect=dialect), dialect="redshift"
            ).sql("redshift")
            assert have["columns"][column.name] == {
                "type": want_type,
                "encode": column.dialect_options["redshift"]["encode"],
                "not_null": not column.nullable,
            }, f"{table.name}.{column.name}"


def test_every_model_column_declares_an_encode_and_sort_keys_are_raw() -> None:
    for table in metadata.sorted_tables:
        sortkey = set(table.dialect_options["redshift"]["sortkey"] or ())
        for column in table.columns:
            encode = column.dialect_options["redshift"]["encode"]
            assert encode, f"{table.name}.{column.name} has no redshift_encode"
            assert (encode == "raw") == (column.name in sortkey), f"{table.name}.{column.name}"


def test_diststyle_is_explicit_and_key_tables_distribute_on_a_not_null_column() -> None:
    for table in metadata.sorted_tables:
        options = table.dialect_options["redshift"]
        assert options["diststyle"] in ("KEY", "EVEN", "ALL"), table.name  # AUTO is refused
        if options["diststyle"] == "KEY":
            assert not table.c[options["distkey"]].nullable, "NULLs would all land on one slice"


def test_the_golden_file_is_what_make_redshift_ddl_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert ddl.main([]) == 0
    assert capsys.readouterr().out == GOLDEN.read_text(encoding="utf-8")
