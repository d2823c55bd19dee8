"""The loader chart beside BENCHMARKS.md: rows/s (best run) against batch size, log-log, one line
per loader. Runs under build/bench-venv's Python (matplotlib lives there, not in the dev venv).

    python tests/bench/chart.py figures.json BENCHMARKS-loader.png

``figures.json``: ``{"title": str, "series": {label: [[records, rows_per_s], ...]}}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# matplotlib lives in the bench venv, not in the dev venv mypy runs in.
import matplotlib  # type: ignore[import-not-found]

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # type: ignore[import-not-found]

STYLE = {
    "floor": {"color": "#555555", "linestyle": "--", "marker": "s"},
    "redfeed": {"color": "#c0392b", "linestyle": "-", "marker": "o"},
    "dlt": {"color": "#2471a3", "linestyle": "-", "marker": "^"},
    "naive": {"color": "#7d8c3c", "linestyle": ":", "marker": "v"},
}


def main() -> int:
    figures = json.loads(Path(sys.argv[1]).read_text())
    output = Path(sys.argv[2])
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for label, points in figures["series"].items():
        if not points:
            continue
        xs, ys = zip(*sorted(points), strict=True)
        style = STYLE.get(label.split()[0].rstrip(":"), {})
        ax.plot(xs, ys, label=label, linewidth=2, markersize=6, **style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (records)")
    ax.set_ylabel("records loaded per second (best run)")
    ax.set_title(figures["title"], fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
