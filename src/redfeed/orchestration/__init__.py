"""Orchestration: the feed registry (``dags/feeds.yaml``), the contract-aware DockerOperator and
the DAG factory that turns each registry entry into an Airflow DAG.

``registry`` and ``runtime`` are plain Python (PyYAML, and croniter when present) so they load
cheaply and test without Airflow; ``operators`` and ``dags`` import Airflow. Nothing here imports
Scrapy, SQLAlchemy models, boto3 or psycopg: DAG files are parsed often, by every component.
"""
