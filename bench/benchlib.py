"""What the benchmarks share: the lab's environment, the PVE request log, bench/results/<name>.json.

Every benchmark runs on a fresh lab (`make lab-up` and nothing else): the fake Proxmox API creates its request
log at the first request, so a log that does not exist yet counts as empty.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")


def lab_env() -> dict[str, str]:
    """The lab's endpoints and credentials (.lab/env.json); exits with a clear message when the lab is not up."""
    path = os.path.join(ROOT, ".lab", "env.json")
    if not os.path.exists(path):
        sys.exit("the lab is not up: run `make lab-up`")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def log_size(path: str) -> int:
    """The size of a request log in bytes; 0 when it does not exist yet (no request so far)."""
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def log_entries(path: str, start: int = 0) -> Iterator[dict[str, Any]]:
    """The entries of a JSON-lines request log from byte offset start; none when it does not exist yet."""
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, after the generator is done
    except FileNotFoundError:
        return
    with f:
        f.seek(start)
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_results(name: str, figures: Any) -> str:
    """Write a benchmark's figures to bench/results/<name>.json; returns the path."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(figures, f, indent=1, sort_keys=True)
        f.write("\n")
    return path
