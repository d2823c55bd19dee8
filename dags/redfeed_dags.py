"""The redfeed DAGs for Airflow: one ``feed_<name>`` DAG per entry of ``feeds.yaml`` (next to
this file, or ``$REDFEED_FEEDS_FILE``), plus ``redfeed_replay`` and ``redfeed_migrate``.

Parsed often by every Airflow component, so it stays light: the registry is YAML, the tasks run
containers, and nothing here imports Scrapy, the warehouse models, boto3 or psycopg. A broken
registry shows up as this file's import error, naming the feed and the field.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import get_parsing_context

from redfeed.orchestration.dags import build_dags
from redfeed.orchestration.registry import load_registry

REGISTRY = Path(os.environ.get("REDFEED_FEEDS_FILE") or Path(__file__).with_name("feeds.yaml"))

# A task runner parses this file for one DAG (Airflow's parsing context names it): it builds
# only that one. The dag-processor's parse (no DAG named) builds them all.
for _dag in build_dags(load_registry(REGISTRY), dag_id=get_parsing_context().dag_id or None):
    globals()[_dag.dag_id] = _dag
