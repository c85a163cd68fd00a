"""node_drain.yml against the lab: VMs of two tenants on one node, drained, refused when they do not fit, moved back.

Isolation on the shared lab: the test adds three nodes of its own (h11d1..h11d3, 16 GiB each, less than the lab's
pve nodes so other tests' placement prefers those), uses a fresh PostgreSQL database of its own as the state store,
and in that store marks every other node of the cluster in maintenance, so its plans and its reservations only
use its own nodes. A node's capacity is changed through the lab's control API (set_capacity).

Guests keeping their boot ids and staying reachable while they move is not checked here: the lab's stand-in
guests live only in the containers of the lab's pve nodes, not on nodes a test adds; it needs the guest lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from conftest import ROOT, playbook_env

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.nodes import ensure_node
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store

PREFIX = "h11-drain-"
NODES = ("h11d1", "h11d2", "h11d3")
DRAINED = "h11d1"
TENANTS = ("h11a", "h11b")
# name: tenant, anti-affinity groups, node, running
VMS = {
    "a1": ("h11a", ["h11-ga"], "h11d1", True),
    "a2": ("h11a", ["h11-ga"], "h11d2", True),
    "a3": ("h11a", [], "h11d1", False),
    "b1": ("h11b", ["h11-gb"], "h11d1", True),
    "b2": ("h11b", ["h11-gb"], "h11d3", True),
    "b3": ("h11b", [], "h11d1", True),
}
DRAIN = os.path.join(ROOT, "playbooks", "node_drain.yml")


@pytest.fixture(scope="module")
def store_url(lab_env: dict[str, str]) -> Iterator[str]:
    import psycopg

    url = lab_env.get("IRONCLOUD_PG_URL")
    if not url:
        pytest.fail("the lab has no PostgreSQL: run `make lab-up`")
    name = "ic_h11_drain_%s" % uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    yield urlunsplit(urlsplit(url)._replace(path="/" + name))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


@pytest.fixture(scope="module")
def cloud(pve_control, store_url, lab_env, tmp_path_factory) -> Iterator[dict[str, Any]]:
    pve_control.call("remove_vms", PREFIX)
    for name in NODES:
        pve_control.call("set_capacity", name, 8, 16384)
    base = tmp_path_factory.mktemp("h11-drain")
    try:
        yield {"store": store_url, "base": base}
    finally:
        pve_control.call("remove_vms", PREFIX)
        assert sorted(pve_control.call("remove_nodes", list(NODES))) == sorted(NODES)


def cluster(lab_env: dict[str, str]) -> list[dict[str, Any]]:
    from proxmoxer import ProxmoxAPI

    user, token = lab_env["PROXMOX_TOKEN_ID"].split("!")
    api = ProxmoxAPI(
        lab_env["PROXMOX_HOST"],
        port=int(lab_env["PROXMOX_PORT"]),
        user=user,
        token_name=token,
        token_value=lab_env["PROXMOX_TOKEN_SECRET"],
        verify_ssl=lab_env["PROXMOX_CA_PATH"],
    )
    return api.cluster.resources.get()


def fence_other_nodes(lab_env: dict[str, str], url: str) -> None:
    """In the test's own store, every node but its own is in maintenance: plans and reservations use only those."""
    store = open_store(url)
    try:
        for item in cluster(lab_env):
            if item.get("type") == "node" and item["node"] not in NODES:
                ensure_node(store, {"name": item["node"], "state": "maintenance", "reason": "h11 test"}, False, 0.0)
    finally:
        store.close()


# The VMIDs the lab gave the test's VMs, by short name.
_VMIDS: dict[str, int] = {}


def where(pve_control) -> dict[str, tuple[str, str]]:
    """Each VM's node and power state, as the lab's fake holds them."""
    out = {}
    for short in VMS:
        summary = pve_control.call("vm_summary", _VMIDS[short])
        out[short] = (summary["node"], summary["status"])
    return out


def migrations_since(log: str, start: int) -> list[str]:
    with open(log, encoding="utf-8") as f:
        f.seek(start)
        mine = {str(v) for v in _VMIDS.values()}
        return [
            r["path"]
            for r in map(json.loads, f.read().splitlines())
            if r["path"].endswith("/migrate") and r["path"].split("/")[4] in mine
        ]


def play(cloud, name: str, content: list[dict[str, Any]]) -> str:
    path = cloud["base"] / name
    path.write_text(yaml.safe_dump(content))
    return str(path)


def make_vms(cloud, ansible_playbook, lab_env) -> None:
    vms = [
        {
            "short": short,
            "name": PREFIX + short,
            "tenant": tenant,
            "groups": groups,
            "node": node,
            "state": "started" if running else "stopped",
            "tags": [_naming.tenant_tag(tenant), _naming.project_tag("web")] + groups,
        }
        for short, (tenant, groups, node, running) in VMS.items()
    ]
    tasks = [
        {
            "name": "tenants",
            "ironcloud.stack.cloud_tenant": {"name": "{{ item }}", "projects": ["web"], "quota": {"vms": 20}},
            "loop": list(TENANTS),
        },
        {
            "name": "reserve",
            "ironcloud.stack.cloud_reservation": {
                "id": "{{ item.name }}",
                "tenant": "{{ item.tenant }}",
                "project": "web",
                "name": "{{ item.name }}",
                "cores": 1,
                "memory_mb": 1024,
                "node": "{{ item.node }}",
                "anti_affinity": "{{ item.groups }}",
            },
            "loop": vms,
        },
        {
            "name": "create",
            "ironcloud.stack.proxmox_vm": {
                "name": "{{ item.name }}",
                "node": "{{ item.node }}",
                "cores": 1,
                "memory": 1024,
                "disks": [{"size": "1G", "storage": "vmstore"}],
                "tags": "{{ item.tags }}",
                "state": "{{ item.state }}",
            },
            "loop": vms,
            "register": "made",
        },
        {
            "name": "commit",
            "ironcloud.stack.cloud_reservation": {
                "id": "{{ item.item.name }}",
                "state": "committed",
                "vmid": "{{ item.vm.vmid }}",
            },
            "loop": "{{ made.results }}",
        },
        {
            "name": "record",
            "ansible.builtin.copy": {
                "content": "{{ made.results | map(attribute='vm') | items2dict(key_name='name', value_name='vmid') }}",
                "dest": str(cloud["base"] / "vmids.json"),
                "mode": "0600",
            },
        },
    ]
    path = play(cloud, "make.yml", [{"name": "make", "hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    run = ansible_playbook(path, env={"IRONCLOUD_STATE_STORE": cloud["store"]})
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    made = json.loads((cloud["base"] / "vmids.json").read_text())
    _VMIDS.update({short: int(made[PREFIX + short]) for short in VMS})


def reservation_loop(cloud, lab_env, count: int) -> subprocess.Popen:
    """cloud_reservation in a loop (tenant h11a, no node asked), in its own ansible-playbook process."""
    content = [
        {
            "name": "reservations while a node drains",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "reserve",
                    "ironcloud.stack.cloud_reservation": {
                        "id": "h11-par-{{ item }}",
                        "tenant": "h11a",
                        "project": "web",
                        "cores": 1,
                        "memory_mb": 256,
                    },
                    "loop": "{{ range(%d) | list }}" % count,
                    "register": "reserved",
                },
                {
                    "name": "record",
                    "ansible.builtin.copy": {
                        "content": "{{ reserved.results | map(attribute='reservation.node') | list }}",
                        "dest": str(cloud["base"] / "parallel.json"),
                        "mode": "0600",
                    },
                },
            ],
        }
    ]
    path = play(cloud, "parallel.yml", content)
    return subprocess.Popen(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), path],
        cwd=ROOT,
        env=playbook_env(lab_env, IRONCLOUD_STATE_STORE=cloud["store"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def node_state(url: str, node: str) -> int:
    store = open_store(url)
    try:
        return int(
            store.run(lambda tx: tx.value("SELECT maintenance FROM node_flags WHERE node = ?", (node,)), False) or 0
        )
    finally:
        store.close()


def test_drain_refuse_drain_with_parallel_reservations_and_move_back(cloud, ansible_playbook, pve_control, lab_env):
    store = cloud["store"]
    env = {"IRONCLOUD_STATE_STORE": store}
    fence_other_nodes(lab_env, store)
    make_vms(cloud, ansible_playbook, lab_env)
    start = where(pve_control)
    assert start == {s: (n, "running" if r else "stopped") for s, (_t, _g, n, r) in VMS.items()}
    log = lab_env["IRONCLOUD_LAB_PVE_REQUESTS"]

    # Check mode: maintenance and the plan are shown, nothing moves, nothing is recorded.
    mark = os.path.getsize(log)
    run = ansible_playbook(DRAIN, "--check", "-e", "node=%s" % DRAINED, env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "drain of %s: 4 move(s) would be planned" % DRAINED in run.stdout
    assert migrations_since(log, mark) == [] and where(pve_control) == start
    assert node_state(store, DRAINED) == 0

    # Too little room on the two other nodes: refused before any move, naming each VM and why.
    for name in NODES[1:]:
        pve_control.call("set_capacity", name, 8, 2560)
    mark = os.path.getsize(log)
    fence_other_nodes(lab_env, store)
    run = ansible_playbook(DRAIN, "-e", "node=%s" % DRAINED, env=env)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "drain of %s refused, nothing moves: " % DRAINED in out, out[-4000:]
    assert "fit nowhere" in out and "memory: 512 MiB free < 1024 MiB" in out, out[-4000:]
    assert migrations_since(log, mark) == [] and where(pve_control) == start
    for name in NODES[1:]:
        pve_control.call("set_capacity", name, 8, 16384)

    # The drain, with reservations running in parallel: none lands on the drained node.
    fence_other_nodes(lab_env, store)
    mark = os.path.getsize(log)
    drain = subprocess.Popen(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), DRAIN, "-e", "node=%s" % DRAINED],
        cwd=ROOT,
        env=playbook_env(lab_env, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while node_state(store, DRAINED) != 1:
        assert time.monotonic() < deadline and drain.poll() is None, "the drain never put the node in maintenance"
        time.sleep(0.2)
    parallel = reservation_loop(cloud, lab_env, 10)
    drained_out, drained_err = drain.communicate(timeout=600)
    parallel_out, parallel_err = parallel.communicate(timeout=600)
    assert drain.returncode == 0, drained_out[-4000:]
    assert parallel.returncode == 0, parallel_out[-4000:]
    assert "4 move(s) planned" in drained_out
    after = where(pve_control)
    moved = {s for s, (_t, _g, n, _r) in VMS.items() if n == DRAINED}
    assert all(after[s][0] != DRAINED and after[s][0] in NODES for s in moved), after
    assert {s: st for s, (_n, st) in after.items()} == {s: st for s, (_n, st) in start.items()}, "a power state changed"
    assert after["a1"][0] != after["a2"][0] and after["b1"][0] != after["b2"][0], "anti-affinity broken: %s" % after
    assert sorted(p.split("/")[4] for p in migrations_since(log, mark)) == sorted(str(_VMIDS[s]) for s in moved)
    nodes = json.loads((cloud["base"] / "parallel.json").read_text())
    assert len(nodes) == 10 and DRAINED not in nodes, nodes

    # A rerun has nothing left to do.
    run = ansible_playbook(DRAIN, "-e", "node=%s" % DRAINED, env=env)
    assert run.returncode == 0 and "drain of %s: 0 move(s)" % DRAINED in run.stdout, run.stdout[-4000:]

    # End the maintenance and move the VMs back where they were.
    mark = os.path.getsize(log)
    run = ansible_playbook(DRAIN, "-e", "node=%s" % DRAINED, "-e", "state=active", "-e", "move_back=true", env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert node_state(store, DRAINED) == 0
    assert where(pve_control) == start
    assert len(migrations_since(log, mark)) == len(moved)


def test_playbook_refuses_bad_options(ansible_playbook, cloud):
    run = ansible_playbook(DRAIN, "-e", "state=drained", env={"IRONCLOUD_STATE_STORE": cloud["store"]})
    assert run.returncode != 0 and "-e node=<node> is required" in run.stdout, run.stdout[-2000:]
