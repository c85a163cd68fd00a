"""Benchmark: 20 Ceph pools with application and quota, the collection's modules vs the seed's CLI commands.

Both sides run as one ansible-playbook each, against the lab's Ceph admin node (`make lab-up`), in the same
run and on the same cluster:

* modules: ironcloud.stack.ceph_pool per pool (create with pg_num 8, application rbd with RBD initialisation,
  quota), one librados connection per pool;
* CLI: the seed's commands per pool through ansible.builtin.command: `ceph osd pool create <p> 8`,
  `rbd pool init <p>`, `ceph osd pool set-quota <p> max_bytes <n>`.

It prints the wall time of each playbook and the ratio, writes them to bench/results/ceph_pools.json, and
deletes every pool it made (before and after). Usage: .venv/bin/python bench/bench_ceph_pools.py [--pools N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUOTA = 10 * 1024**3


def lab_env() -> dict[str, str]:
    path = os.path.join(ROOT, ".lab", "env.json")
    if not os.path.exists(path):
        sys.exit("the lab is not up: run `make lab-up`")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def play(name: str, tasks: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    book = {"name": name, "hosts": "ceph_admin", "gather_facts": False, "tasks": tasks}
    book.update(extra)
    return [book]


def run_playbook(book: list[dict[str, Any]], workdir: str, label: str) -> float:
    path = os.path.join(workdir, label + ".yml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(book, f, sort_keys=False)
    env = dict(os.environ)
    env.update(lab_env())
    env.update(
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
        ANSIBLE_NOCOLOR="1",
    )
    start = time.monotonic()
    done = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        sys.exit("%s playbook failed:\n%s" % (label, (done.stdout + done.stderr)[-4000:]))
    return elapsed


CEPH_DEFAULTS = {"group/ironcloud.stack.ceph": {"conf": "{{ ceph_conf }}", "keyring": "{{ ceph_keyring }}"}}


def modules_book(pools: list[str]) -> list[dict[str, Any]]:
    return play(
        "20 pools through ironcloud.stack.ceph_pool",
        [
            {
                "name": "Pool with application and quota",
                "ironcloud.stack.ceph_pool": {
                    "name": "{{ item }}",
                    "pg_num": 8,
                    "application": "rbd",
                    "quota_max_bytes": QUOTA,
                },
                "loop": pools,
            }
        ],
        module_defaults=CEPH_DEFAULTS,
    )


def cli_book(pools: list[str]) -> list[dict[str, Any]]:
    def command(name: str, argv: list[str]) -> dict[str, Any]:
        return {"name": name, "ansible.builtin.command": {"argv": argv}, "loop": pools}

    return play(
        "20 pools through the ceph and rbd CLI (the seed's commands)",
        [
            {
                "name": "The seed's commands per pool",
                "environment": {"CEPH_CONF": "{{ ceph_conf }}"},
                "block": [
                    command("ceph osd pool create", ["ceph", "osd", "pool", "create", "{{ item }}", "8"]),
                    command("rbd pool init", ["rbd", "pool", "init", "{{ item }}"]),
                    command(
                        "ceph osd pool set-quota",
                        ["ceph", "osd", "pool", "set-quota", "{{ item }}", "max_bytes", str(QUOTA)],
                    ),
                ],
            }
        ],
    )


def cleanup_book(pools: list[str]) -> list[dict[str, Any]]:
    return play(
        "Remove the benchmark's pools",
        [
            {
                "name": "Remove pool",
                "ironcloud.stack.ceph_pool": {"name": "{{ item }}", "state": "absent", "confirm_delete": True},
                "loop": pools,
            }
        ],
        module_defaults=CEPH_DEFAULTS,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=20)
    args = parser.parse_args()
    module_pools = ["ic-bench-mod-%02d" % i for i in range(args.pools)]
    cli_pools = ["ic-bench-cli-%02d" % i for i in range(args.pools)]
    everything = module_pools + cli_pools
    with tempfile.TemporaryDirectory(prefix="bench-ceph-") as workdir:
        run_playbook(cleanup_book(everything), workdir, "cleanup-before")
        try:
            modules = run_playbook(modules_book(module_pools), workdir, "modules")
            cli = run_playbook(cli_book(cli_pools), workdir, "cli")
        finally:
            run_playbook(cleanup_book(everything), workdir, "cleanup-after")
    result = {
        "pools": args.pools,
        "modules_seconds": round(modules, 2),
        "cli_seconds": round(cli, 2),
        "cli_over_modules": round(cli / modules, 2),
        "modules_seconds_per_pool": round(modules / args.pools, 3),
        "cli_seconds_per_pool": round(cli / args.pools, 3),
    }
    print("ceph pools: %d pools with application rbd and a quota, one playbook each" % args.pools)
    print("  modules (ironcloud.stack.ceph_pool):         %6.2f s  (%.3f s/pool)" % (modules, modules / args.pools))
    print("  CLI (ceph osd pool create, rbd pool init,    %6.2f s  (%.3f s/pool)" % (cli, cli / args.pools))
    print("       ceph osd pool set-quota)")
    print("  ratio CLI / modules:                         %6.2f x" % (cli / modules))
    out = os.path.join(ROOT, "bench", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "ceph_pools.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
