"""Run every benchmark (bench/bench_*.py), one after the other, and report each one's outcome.

    .venv/bin/python bench/run_all.py [bench/bench_x.py ...]

A benchmark that fails does not stop the others. A benchmark passes when it exits 0 and has written its
figures to bench/results/<name>.json (bench_<name>.py) during this run. The summary at the end lists every
benchmark with its outcome and wall time; the exit status is 1 when any failed.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def result_path(script: str, results: str) -> str:
    name = os.path.basename(script)[len("bench_") : -len(".py")]
    return os.path.join(results, name + ".json")


def run_one(script: str, results: str) -> tuple[str, float]:
    """(outcome, seconds) of one benchmark: "ok", "failed (exit N)" or "failed (no bench/results/x.json)"."""
    out = result_path(script, results)
    began_wall = time.time()
    began = time.monotonic()
    done = subprocess.run([sys.executable, script], check=False)
    seconds = time.monotonic() - began
    if done.returncode != 0:
        return "failed (exit %d)" % done.returncode, seconds
    if not os.path.exists(out) or os.path.getmtime(out) < began_wall - 1:
        return "failed (wrote no %s)" % os.path.relpath(out), seconds
    return "ok", seconds


def main(argv: list[str], results: str = os.path.join(HERE, "results")) -> int:
    scripts = argv or sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    outcomes = []
    for script in scripts:
        print("== %s" % os.path.relpath(script), flush=True)
        outcomes.append((script, *run_one(script, results)))
    print("== summary")
    for script, outcome, seconds in outcomes:
        print("  %-32s %-40s %7.1f s" % (os.path.basename(script), outcome, seconds))
    failed = [script for script, outcome, seconds in outcomes if outcome != "ok"]
    print("%d of %d benchmarks failed" % (len(failed), len(outcomes)) if failed else "all benchmarks ran")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
