"""Benchmark of the tenancy state store, on SQLite and on the lab's PostgreSQL.

    .venv/bin/python bench/bench_tenancy.py [--leases 60000] [--workers 50] [--per-worker 20] [--backend both]

1. Address leases: 60,000 leases in one /16 project network, one lease per transaction through the same code as
   ironcloud.stack.cloud_address (tenant row lock, network row lock, next address, insert), in one process.
2. Reservations: 50 worker processes reserve at once (20 each) through the code of cloud_reservation (quota check
   and placement on a 3-node cluster in one transaction); reservations per second over the wall time.

SQLite runs in a temporary directory; PostgreSQL in a fresh database of the lab server ($IRONCLOUD_PG_URL or
.lab/env.json), dropped afterwards. Figures are printed and written to bench/results/tenancy.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from conftest import install_collection_loader  # noqa: E402

install_collection_loader()

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError  # noqa: E402
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations as res  # noqa: E402
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address  # noqa: E402
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network  # noqa: E402
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store  # noqa: E402
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant  # noqa: E402

MiB = 1024 * 1024
RESOURCES = [
    {"type": "node", "node": "pve1", "status": "online", "maxcpu": 512, "maxmem": 1024 * 1024 * MiB},
    {"type": "node", "node": "pve2", "status": "online", "maxcpu": 512, "maxmem": 1024 * 1024 * MiB},
    {"type": "node", "node": "pve3", "status": "online", "maxcpu": 256, "maxmem": 512 * 1024 * MiB},
]
CTX = multiprocessing.get_context("fork")


def pg_url() -> str | None:
    url = os.environ.get("IRONCLOUD_PG_URL")
    if url:
        return url
    path = os.path.join(ROOT, ".lab", "env.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("IRONCLOUD_PG_URL")
    return None


def setup(url: str) -> None:
    store = open_store(url)
    ensure_tenant(store, {"name": "bench", "projects": ["web"]}, False, time.time())
    ensure_network(
        store, {"tenant": "bench", "project": "web", "name": "big", "cidr": "10.200.0.0/16"}, False, time.time()
    )
    store.close()


def bench_leases(url: str, count: int) -> dict[str, Any]:
    store = open_store(url)
    start = time.monotonic()
    last = ""
    for i in range(count):
        params = {"tenant": "bench", "project": "web", "network": "big", "owner": "vm%05d/net0" % i}
        last = ensure_address(store, params, False, time.time())["address"]
    elapsed = time.monotonic() - start
    distinct = store.run(lambda tx: tx.value("SELECT COUNT(DISTINCT addr_int) FROM leases"), write=False)
    # the same owner again: a read of its lease (the idempotent rerun)
    again_start = time.monotonic()
    for i in range(0, count, max(1, count // 1000)):
        ensure_address(
            store,
            {"tenant": "bench", "project": "web", "network": "big", "owner": "vm%05d/net0" % i},
            False,
            time.time(),
        )
    again = (time.monotonic() - again_start) / len(range(0, count, max(1, count // 1000)))
    store.close()
    return {
        "leases": count,
        "seconds": round(elapsed, 2),
        "per_second": round(count / elapsed, 1),
        "last_address": last,
        "distinct": int(distinct),
        "rerun_ms": round(again * 1000, 2),
    }


def _worker(barrier: Any, queue: Any, url: str, worker: int, per_worker: int) -> None:
    store = open_store(url)
    cluster = res.Cluster(RESOURCES)
    barrier.wait()
    start = time.monotonic()
    error = ""
    try:
        for i in range(per_worker):
            params = {
                "tenant": "bench",
                "project": "web",
                "id": "w%02d-%03d" % (worker, i),
                "cores": 1,
                "memory_mb": 1024,
                "state": "present",
            }
            res.ensure_reservation(store, params, lambda: cluster, False, time.time())
    except IroncloudError as e:
        error = str(e)
    queue.put((time.monotonic() - start, error))


def bench_reservations(url: str, workers: int, per_worker: int) -> dict[str, Any]:
    barrier = CTX.Barrier(workers + 1)
    queue = CTX.Queue()
    procs = [CTX.Process(target=_worker, args=(barrier, queue, url, w, per_worker)) for w in range(workers)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.monotonic()
    errors = [e for _ignored, e in (queue.get(timeout=600) for _ignored in procs) if e]
    if errors:
        raise SystemExit("a worker failed: %s" % errors[0])
    elapsed = time.monotonic() - start
    for p in procs:
        p.join()
    total = workers * per_worker
    store = open_store(url)
    by_node = dict(
        store.run(
            lambda tx: [
                (r["node"], r["n"])
                for r in tx.all("SELECT node, COUNT(*) AS n FROM reservations GROUP BY node ORDER BY node")
            ],
            write=False,
        )
    )
    store.close()
    return {
        "workers": workers,
        "reservations": total,
        "seconds": round(elapsed, 2),
        "per_second": round(total / elapsed, 1),
        "by_node": by_node,
    }


def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    setup(url)
    leases = bench_leases(url, args.leases) if args.leases > 0 else {}
    if leases:
        print(
            "%-10s %d leases in a /16: %.1f s, %.0f leases/s, last %s, %d distinct; rerun of a lease %.2f ms"
            % (
                name,
                leases["leases"],
                leases["seconds"],
                leases["per_second"],
                leases["last_address"],
                leases["distinct"],
                leases["rerun_ms"],
            ),
            flush=True,
        )
    reservations = bench_reservations(url, args.workers, args.per_worker)
    print(
        "%-10s %d reservations by %d workers: %.1f s, %.0f reservations/s, by node %s"
        % (
            name,
            reservations["reservations"],
            reservations["workers"],
            reservations["seconds"],
            reservations["per_second"],
            reservations["by_node"],
        ),
        flush=True,
    )
    return {"leases": leases, "reservations": reservations}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leases", type=int, default=60000)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--per-worker", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = run_backend("sqlite", "sqlite://" + os.path.join(tmp, "state.db"), args)
    if args.backend in ("postgresql", "both"):
        base = pg_url()
        if not base:
            print("postgresql: skipped (no IRONCLOUD_PG_URL; run `make lab-up`)")
        else:
            import psycopg

            name = "ic_bench_%s" % uuid.uuid4().hex[:10]
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute("CREATE DATABASE %s" % name)
            try:
                results["postgresql"] = run_backend(
                    "postgresql", urlunsplit(urlsplit(base)._replace(path="/" + name)), args
                )
            finally:
                with psycopg.connect(base, autocommit=True) as conn:
                    conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "tenancy.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
