"""The state store under concurrency, on both backends, with real processes.

- 50 processes open a fresh store at once: the schema is created once, every one of them works.
- 200 processes reserve at once against a quota of 50 VMs: exactly 50 succeed, the other 150 fail with a quota
  error naming the resource.
- 50 processes lease addresses at once (4 each): no address is handed out twice.
- 24 hosts of one ansible-playbook run (forks) reserve through the cloud_reservation module against the lab's
  Proxmox API at once: the reservations spread over the nodes instead of piling onto one.
The processes start together behind a barrier; the machine has 2 cores, so the work of each is small.
"""

from __future__ import annotations

import collections
import json
import multiprocessing
import os
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations as res
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import IroncloudError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import SCHEMA_VERSION, open_store
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

MiB = 1024 * 1024
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTX = multiprocessing.get_context("fork")
RESOURCES = [
    {"type": "node", "node": "pve1", "status": "online", "maxcpu": 16, "maxmem": 65536 * MiB},
    {"type": "node", "node": "pve2", "status": "online", "maxcpu": 16, "maxmem": 65536 * MiB},
    {"type": "node", "node": "pve3", "status": "online", "maxcpu": 8, "maxmem": 32768 * MiB},
]


@pytest.fixture(scope="module")
def pg_database(lab_env: dict[str, str]) -> Iterator[str]:
    import psycopg

    url = lab_env.get("IRONCLOUD_PG_URL")
    if not url:
        pytest.fail("the lab has no PostgreSQL (tests/lab/layers/postgres.py): run `make lab-up`")
    name = "ic_conc_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    yield urlunsplit(urlsplit(url)._replace(path="/" + name))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: Any, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return "sqlite://" + str(tmp_path / "state.db")
    import psycopg

    base = request.getfixturevalue("pg_database")
    schema = "t_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA %s" % schema)
    return urlunsplit(urlsplit(base)._replace(query="options=-csearch_path%%3D%s" % schema))


def run_all(target: Any, args: list[tuple], timeout: float = 240) -> list[Any]:
    """Run target(barrier, queue, *a) in one process per args entry, all released together; their results."""
    barrier = CTX.Barrier(len(args))
    queue = CTX.Queue()
    procs = [CTX.Process(target=target, args=(barrier, queue, *a)) for a in args]
    for p in procs:
        p.start()
    results = [queue.get(timeout=timeout) for _ignored in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0, "a worker process died (exit code %s)" % p.exitcode
    return results


def _open(barrier: Any, queue: Any, url: str) -> None:
    barrier.wait()
    try:
        store = open_store(url)
        queue.put(("ok", store.schema_version()))
    except IroncloudError as e:
        queue.put(("error", str(e)))


def _reserve(barrier: Any, queue: Any, url: str, i: int) -> None:
    store = open_store(url)
    barrier.wait()
    params = {"tenant": "acme", "project": "web", "id": "r%03d" % i, "cores": 1, "memory_mb": 2048, "state": "present"}
    try:
        result = res.ensure_reservation(store, params, lambda: res.Cluster(RESOURCES), False, _now())
        queue.put(("ok", result["reservation"]["node"]))
    except IroncloudError as e:
        queue.put(("error", str(e), e.details.get("resource")))


def _lease(barrier: Any, queue: Any, url: str, i: int) -> None:
    store = open_store(url)
    barrier.wait()
    got = []
    try:
        for nic in range(4):
            params = {"tenant": "acme", "project": "web", "network": "front", "owner": "vm%02d/net%d" % (i, nic)}
            got.append(ensure_address(store, params, False, _now())["address"])
        queue.put(("ok", got))
    except IroncloudError as e:
        queue.put(("error", str(e)))


def _now() -> float:
    import time

    return time.time()


def test_fifty_processes_open_a_fresh_store_at_once(store_url):
    results = run_all(_open, [(store_url,)] * 50)
    assert results == [("ok", SCHEMA_VERSION)] * 50


def test_two_hundred_reservations_against_a_quota_of_fifty(store_url):
    store = open_store(store_url)
    ensure_tenant(store, {"name": "acme", "quota": {"vms": 50}, "projects": ["web"]}, False, _now())
    results = run_all(_reserve, [(store_url, i) for i in range(200)])
    ok = [r for r in results if r[0] == "ok"]
    failed = [r for r in results if r[0] == "error"]
    assert len(ok) == 50, failed[:3]
    assert len(failed) == 150
    assert all(r[2] == "vms" and r[1] == "quota exceeded for tenant acme: vms 51 > 50" for r in failed), failed[:3]
    count = store.run(lambda tx: tx.value("SELECT COUNT(*) FROM reservations WHERE state = 'reserved'"), write=False)
    assert count == 50
    # Placement inside the transaction saw every reservation before it: pve1 and pve2 (64 GiB) alternate until
    # they are down to pve3's 32 GiB free, then all three take turns; exactly what one-by-one placement gives.
    by_node = collections.Counter(r[1] for r in ok)
    assert by_node == {"pve1": 22, "pve2": 22, "pve3": 6}, by_node


def test_fifty_address_allocators_get_no_duplicate(store_url):
    store = open_store(store_url)
    ensure_tenant(store, {"name": "acme", "projects": ["web"]}, False, _now())
    ensure_network(store, {"tenant": "acme", "project": "web", "name": "front", "cidr": "10.9.0.0/24"}, False, _now())
    results = run_all(_lease, [(store_url, i) for i in range(50)])
    assert all(r[0] == "ok" for r in results), [r for r in results if r[0] != "ok"][:3]
    addresses = [a for r in results for a in r[1]]
    assert len(addresses) == 200
    assert len(set(addresses)) == 200
    assert "10.9.0.0" not in addresses and "10.9.0.1" not in addresses and "10.9.0.255" not in addresses
    rows = store.run(lambda tx: tx.value("SELECT COUNT(DISTINCT addr_int) FROM leases"), write=False)
    assert rows == 200


def test_parallel_module_runs_spread_over_the_lab_nodes(ansible_playbook, tmp_path, lab_env):
    """24 hosts, one fork each, run cloud_reservation (delegated to localhost) at once against the lab API."""
    hosts = ["vm%02d" % i for i in range(24)]
    inventory = {
        "all": {
            "hosts": {
                h: {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": os.path.join(ROOT, ".venv", "bin", "python"),
                }
                for h in hosts
            }
        }
    }
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    store = "sqlite://" + str(tmp_path / "state.db")
    playbook = tmp_path / "spread.yml"
    playbook.write_text(
        textwrap.dedent("""\
        - name: Parallel reservations
          hosts: all
          gather_facts: false
          module_defaults:
            group/ironcloud.stack.cloud:
              state_store: "{{ store }}"
          tasks:
            - name: The tenant, once
              ironcloud.stack.cloud_tenant:
                name: spread
                projects: [web]
              run_once: true
            - name: Reserve, all hosts at once
              ironcloud.stack.cloud_reservation:
                tenant: spread
                project: web
                id: "spread-{{ inventory_hostname }}"
                cores: 1
                memory_mb: 4096
              register: reservation
            - name: Record the node
              ansible.builtin.copy:
                content: "{{ reservation.reservation.node }}"
                dest: "{{ outdir }}/{{ inventory_hostname }}"
                mode: "0600"
        """)
    )
    result = ansible_playbook(
        str(playbook),
        "-i",
        str(tmp_path / "hosts.json"),
        "--forks",
        "24",
        extra_vars={"store": store, "outdir": str(tmp_path)},
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    nodes = collections.Counter((tmp_path / h).read_text() for h in hosts)
    assert len(nodes) >= 2 and max(nodes.values()) <= 16, nodes
    count = open_store(store).run(lambda tx: tx.value("SELECT COUNT(*) FROM reservations"), write=False)
    assert count == 24
    assert sys.executable  # the playbook ran with the venv's Python (inventory above)
