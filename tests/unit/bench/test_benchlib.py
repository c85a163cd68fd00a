"""The benchmarks on a fresh lab (no request log yet) and `make bench`'s runner (bench/run_all.py)."""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(
    0,
    os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "bench"
    ),
)

import bench_compute
import benchlib
import run_all


def test_a_request_log_not_written_yet_counts_as_empty(tmp_path):
    missing = str(tmp_path / "requests.jsonl")
    assert benchlib.log_size(missing) == 0
    assert list(benchlib.log_entries(missing)) == []
    assert bench_compute.count(missing, benchlib.log_size(missing)) == {}


def test_requests_are_counted_from_the_offset(tmp_path):
    log = tmp_path / "requests.jsonl"
    log.write_text(json.dumps({"method": "GET", "path": "/version"}) + "\n", encoding="utf-8")
    start = benchlib.log_size(str(log))
    with log.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"method": "POST", "path": "/nodes/pve1/qemu/100/clone"}) + "\n")
        f.write(json.dumps({"method": "GET", "path": "/nodes/pve1/tasks/UPID:x/status"}) + "\n")
    counts = bench_compute.count(str(log), start)
    assert counts == {"create/clone": 1, "task polls": 1, "total": 2}


def test_write_results_names_the_file_after_the_benchmark(tmp_path, monkeypatch):
    monkeypatch.setattr(benchlib, "RESULTS", str(tmp_path / "results"))
    path = benchlib.write_results("compute", {"vms": 3})
    assert path == str(tmp_path / "results" / "compute.json")
    assert json.loads((tmp_path / "results" / "compute.json").read_text(encoding="utf-8")) == {"vms": 3}


def _script(path, body):
    path.write_text("import sys, json, os\n" + body + "\n", encoding="utf-8")
    return str(path)


def test_run_all_runs_every_benchmark_and_reports_each_failure(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    write = "open(os.path.join(%r, '%%s.json'), 'w').write('{}')" % str(results)
    scripts = [
        _script(tmp_path / "bench_broken.py", "raise FileNotFoundError('requests.jsonl')"),
        _script(tmp_path / "bench_good.py", write % "good"),
        _script(tmp_path / "bench_silent.py", "pass"),
        _script(tmp_path / "bench_exits.py", write % "exits" + "\nsys.exit(3)"),
    ]
    assert run_all.main(scripts, results=str(results)) == 1
    out = capsys.readouterr().out
    summary = out[out.index("== summary") :]
    lines = {line.split()[0]: line for line in summary.splitlines()[1:] if line.startswith("  ")}
    assert "failed (exit 1)" in lines["bench_broken.py"]
    assert " ok " in lines["bench_good.py"]
    assert "failed (wrote no" in lines["bench_silent.py"]
    assert "failed (exit 3)" in lines["bench_exits.py"]
    assert "3 of 4 benchmarks failed" in summary


def test_run_all_passes_when_every_benchmark_does(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    script = _script(tmp_path / "bench_one.py", "open(os.path.join(%r, 'one.json'), 'w').write('{}')" % str(results))
    assert run_all.main([script], results=str(results)) == 0
    assert "all benchmarks ran" in capsys.readouterr().out
