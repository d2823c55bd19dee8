import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Airflow reads its configuration when first imported (test_dags.py): a throw-away home, no
# example DAGs, and our dags/ folder, whatever the developer's environment says.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="redfeed-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(HERE.parents[1] / "dags")
os.environ.pop("REDFEED_FEEDS_FILE", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees every item of the session: mark only this directory's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.unit)
