"""The peer in the loader benchmark: dlt loading the same archived records into the same
PostgreSQL, with dlt's defaults (nested lists become child tables, ``insert_values`` files).

Runs under build/bench-venv's Python (``make bench-venv``, extra ``bench``), never the dev venv:
it imports only dlt, boto3, orjson and the standard library. It reads the batch's gzip JSON-lines
parts from the local S3 itself (the same objects ``redfeed load`` reads) and yields them to dlt a
page of records at a time, as dlt's performance guide recommends. The last stdout line is a JSON
summary; the driver times the whole process and takes its peak RSS, as for ``redfeed load``.

    python tests/bench/dlt_peer.py --endpoint URL --dsn postgresql://... --dataset NAME \\
        [--limit N] [--workdir DIR] s3://bucket/part-00000.jsonl.gz ...
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

PAGE = 1000


def pages(endpoint: str, urls: list[str], limit: int) -> Iterator[list[dict[str, Any]]]:
    """The records of the parts, in order, at most ``limit``, a page at a time."""
    import boto3
    import orjson

    client = boto3.client("s3", endpoint_url=endpoint)
    page: list[dict[str, Any]] = []
    taken = 0
    for url in urls:
        parts = urlsplit(url)
        body = client.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"]
        with gzip.GzipFile(fileobj=body, mode="rb") as lines:
            for line in lines:
                page.append(orjson.loads(line))
                taken += 1
                if len(page) == PAGE or taken == limit:
                    yield page
                    page = []
                if taken == limit:
                    return
    if page:
        yield page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="the local S3 (AWS_ENDPOINT_URL)")
    parser.add_argument("--dsn", required=True, help="postgresql://user:password@host:port/db")
    parser.add_argument("--dataset", required=True, help="the schema dlt creates and fills")
    parser.add_argument("--limit", type=int, default=0, help="load only the first N records")
    parser.add_argument("--workdir", default=None, help="dlt's pipelines directory")
    parser.add_argument("urls", nargs="+")
    args = parser.parse_args()
    # No telemetry calls from a benchmark (and this machine has no network for them).
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    started = time.perf_counter()
    import dlt  # type: ignore[import-not-found]  # the bench venv has it, the dev venv not

    imported = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="bench_peer",
        destination=dlt.destinations.postgres(credentials=args.dsn),
        dataset_name=args.dataset,
        pipelines_dir=args.workdir,
    )
    limit = args.limit if args.limit > 0 else -1
    pipeline.run(
        dlt.resource(pages(args.endpoint, args.urls, limit), name="conferences"),
        table_name="conferences",
    )
    finished = time.perf_counter()
    trace = pipeline.last_trace
    counts = dict(trace.last_normalize_info.row_counts) if trace.last_normalize_info else {}
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds() for step in trace.steps
    }
    import orjson

    summary = {
        "dlt_version": dlt.__version__,
        "records": counts.get("conferences", 0),
        "row_counts": {k: v for k, v in counts.items() if not k.startswith("_dlt")},
        "seconds": finished - started,
        "import_seconds": imported - started,
        "steps": steps,
    }
    sys.stdout.buffer.write(orjson.dumps(summary) + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
