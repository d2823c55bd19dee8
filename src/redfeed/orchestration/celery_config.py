"""Airflow's own Celery configuration, unchanged, named by ``[celery] celery_config_options`` so
that the worker imports this module before it forks its pool.

Each Airflow task runs in a process forked from the worker's pool, and parses the DAG file
again: whatever the worker has already imported, the task does not import again. The DAG file's
imports beyond Airflow (the Docker provider and its docker SDK, this package's orchestration
modules) cost each forked task's parse 0.07 - 0.1 s of CPU (0.11 - 0.15 s, against 0.04 - 0.06 s
with them imported before the fork); imported here once, forked tasks share them.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

import redfeed.orchestration.dags  # noqa: F401  (imported for the forked tasks, see above)

CELERY_CONFIG = DEFAULT_CELERY_CONFIG
