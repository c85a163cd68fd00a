"""Two controllers on one PostgreSQL store: two ansible-playbook processes (forks=25 each) create VMs of one tenant.

Each controller runs the CreateVM steps for 20 VMs of its own (cloud_reservation, cloud_address, proxmox_vm,
cloud_address bound to the VMID, cloud_reservation committed) against the lab's Proxmox API, at once, with the
tenant's quota at 30 VMs, less than the 40 asked. Controller B is SIGKILLed (its process group) once a few of its
VMs exist. Then:

- every reservation made holds a distinct slot: exactly 30 were granted, the 10 others refused for the quota;
- every VM has a distinct VMID and a distinct address;
- cloud_reconcile (run as if ten minutes later, when B's reservations have expired and its unbound leases are past
  their grace) leaves no orphan: each VM of the tenant has one committed reservation and one bound lease, no
  reservation is in flight, no lease is unbound, and usage equals what Proxmox shows.

The store is a fresh database on the lab's PostgreSQL server (not the lab's own database: this branch's schema is
newer than the one the other tests' code knows). Every other node than pve1..pve3 is in maintenance in that
store, so nodes other tests add and remove are never used. The VMs' NIC is on vmbr0 (no stand-in guest).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from conftest import ROOT, descendants, playbook_env

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.nodes import ensure_node
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reconcile import LEASE_GRACE, reconcile_cloud
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

PREFIX = "h11-mc-"
TENANT = "h11mc"
QUOTA = 30
PER_CONTROLLER = 20
TTL = 120


@pytest.fixture(scope="module")
def store_url(lab_env: dict[str, str]) -> Iterator[str]:
    import psycopg

    url = lab_env.get("IRONCLOUD_PG_URL")
    if not url:
        pytest.fail("the lab has no PostgreSQL: run `make lab-up`")
    name = "ic_h11_mc_%s" % uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    yield urlunsplit(urlsplit(url)._replace(path="/" + name))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


@pytest.fixture
def clean(pve_control) -> Iterator[None]:
    pve_control.call("remove_vms", PREFIX)
    yield
    pve_control.call("remove_vms", PREFIX)


def api(lab_env: dict[str, str]) -> ProxmoxClient:
    return ProxmoxClient(
        {
            "api_host": lab_env["PROXMOX_HOST"],
            "api_port": int(lab_env["PROXMOX_PORT"]),
            "api_token_id": lab_env["PROXMOX_TOKEN_ID"],
            "api_token_secret": lab_env["PROXMOX_TOKEN_SECRET"],
            "ca_path": lab_env["PROXMOX_CA_PATH"],
        }
    )


def our_vms(lab_env: dict[str, str]) -> list[dict[str, Any]]:
    return [
        r for r in api(lab_env).resources() if r.get("type") == "qemu" and str(r.get("name", "")).startswith(PREFIX)
    ]


def controller(tmp_path, lab_env, store: str, name: str) -> subprocess.Popen:
    hosts = {"%s%s-%02d" % (PREFIX, name, i): {} for i in range(PER_CONTROLLER)}
    inventory = {
        "all": {
            "hosts": hosts,
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": os.path.join(ROOT, ".venv", "bin", "python"),
            },
        }
    }
    tags = [_naming.tenant_tag(TENANT), _naming.project_tag("web")]
    owner = "{{ inventory_hostname }}/net0"
    common = {"tenant": TENANT, "project": "web"}
    play = [
        {
            "name": "controller %s" % name,
            "hosts": "all",
            "gather_facts": False,
            "strategy": "ansible.builtin.free",
            "tasks": [
                {
                    "name": "reserve",
                    "ironcloud.stack.cloud_reservation": dict(
                        common,
                        id="{{ inventory_hostname }}",
                        name="{{ inventory_hostname }}",
                        cores=1,
                        memory_mb=128,
                        ttl=TTL,
                    ),
                    "register": "reserved",
                },
                {
                    "name": "lease",
                    "ironcloud.stack.cloud_address": dict(common, network="front", owner=owner),
                    "register": "leased",
                },
                {
                    "name": "create",
                    "ironcloud.stack.proxmox_vm": {
                        "name": "{{ inventory_hostname }}",
                        "node": "{{ reserved.reservation.node }}",
                        "cores": 1,
                        "memory": 128,
                        "storage": "vmstore",
                        "tags": tags,
                        "nets": [{"bridge": "vmbr0"}],
                        "ipconfig": ["ip={{ leased.address }}/{{ leased.prefix_length }},gw={{ leased.gateway }}"],
                        "timeout": 300,
                    },
                    "register": "made",
                },
                {
                    "name": "bind the lease",
                    "ironcloud.stack.cloud_address": dict(
                        common, network="front", owner=owner, vmid="{{ made.vm.vmid }}"
                    ),
                },
                {
                    "name": "commit",
                    "ironcloud.stack.cloud_reservation": {
                        "id": "{{ inventory_hostname }}",
                        "state": "committed",
                        "vmid": "{{ made.vm.vmid }}",
                    },
                },
            ],
        }
    ]
    (tmp_path / ("%s.yml" % name)).write_text(yaml.safe_dump(inventory))
    (tmp_path / ("play-%s.yml" % name)).write_text(yaml.safe_dump(play))
    log = open(tmp_path / ("%s.log" % name), "w", encoding="utf-8")  # noqa: SIM115 - the process writes it
    return subprocess.Popen(
        [
            os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
            "-i",
            str(tmp_path / ("%s.yml" % name)),
            "-f",
            "25",
            str(tmp_path / ("play-%s.yml" % name)),
        ],
        cwd=ROOT,
        env=playbook_env(lab_env, IRONCLOUD_STATE_STORE=store),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_controller(proc: subprocess.Popen) -> set[int]:
    """SIGKILL a controller this test started and every process below it. ansible-playbook's workers start
    sessions of their own (setsid), so the controller's process group alone misses them: freeze the controller
    (no new worker), freeze what is below it until nothing new appears, then kill each of them by PID. Returns
    the PIDs below it that were killed."""
    os.killpg(proc.pid, signal.SIGSTOP)
    frozen: set[int] = set()
    while True:
        below = set(descendants(proc.pid)) - frozen
        if not below:
            break
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        frozen |= below
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return frozen


def rows(store, sql: str) -> list[dict[str, Any]]:
    return store.run(lambda tx: tx.all(sql), write=False)


def test_two_controllers_one_store_quota_distinct_ids_and_a_kill(tmp_path, lab_env, store_url, clean):
    store = open_store(store_url)
    now = time.time()
    ensure_tenant(store, {"name": TENANT, "projects": ["web"], "quota": {"vms": QUOTA}}, False, now)
    ensure_network(store, {"tenant": TENANT, "project": "web", "name": "front", "cidr": "10.211.0.0/24"}, False, now)
    for item in api(lab_env).resources():
        if item.get("type") == "node" and item["node"] not in ("pve1", "pve2", "pve3"):
            ensure_node(store, {"name": item["node"], "state": "maintenance"}, False, now)

    a = controller(tmp_path, lab_env, store_url, "a")
    b = controller(tmp_path, lab_env, store_url, "b")
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 600
        while sum(1 for v in our_vms(lab_env) if v["name"].startswith(PREFIX + "b-")) < 3:
            assert b.poll() is None, "controller b ended before it was killed:\n" + (tmp_path / "b.log").read_text()
            assert time.monotonic() < deadline, "controller b made no VM in 10 minutes"
            time.sleep(0.5)
        workers = kill_controller(b)  # controller b, which this test started, and its workers, and only them
        a.wait(timeout=900)
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                kill_controller(proc)
    assert workers, "controller b had no worker when it was killed"
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [pid for pid in workers if alive(pid)], "workers of controller b outlived it"
    out_a = (tmp_path / "a.log").read_text()
    time.sleep(5)  # a worker fork of b may still finish the task it was running

    # The quota held exactly: 40 asked (all of them reserve first, at once), 30 granted.
    granted = rows(store, "SELECT id, state, vmid FROM reservations")
    assert len(granted) == QUOTA, (len(granted), out_a[-3000:])
    a_granted = sum(1 for r in granted if r["id"].startswith(PREFIX + "a-"))
    failures = out_a.split("fatal: [")[1:]
    assert len(failures) == PER_CONTROLLER - a_granted, out_a[-3000:]
    quota = "quota exceeded for tenant %s: vms %d > %d" % (TENANT, QUOTA + 1, QUOTA)
    assert all(quota in f.split("\n\n")[0] for f in failures), out_a[-3000:]

    vms = our_vms(lab_env)
    assert len({v["vmid"] for v in vms}) == len(vms) <= QUOTA
    leases = rows(store, "SELECT owner, address, vmid FROM leases")
    assert len({lease["address"] for lease in leases}) == len(leases)

    # Reconcile, as if ten minutes later: b's reservations expired, its unbound leases past their grace.
    later = time.time() + TTL + LEASE_GRACE + 60
    repaired = reconcile_cloud(store, api(lab_env), False, later, TENANT)
    assert not repaired["drift"]["unrepairable"], repaired["drift"]["unrepairable"]
    assert repaired["changed"] and repaired["drift"]["expired_reservations"], "the kill left nothing to repair"
    again = reconcile_cloud(store, api(lab_env), False, later + 1, TENANT)
    assert again["changed"] is False, again["drift"]

    vms = our_vms(lab_env)
    committed = rows(store, "SELECT vmid FROM reservations WHERE state = 'committed'")
    assert rows(store, "SELECT id FROM reservations WHERE state <> 'committed'") == []
    assert sorted(int(r["vmid"]) for r in committed) == sorted(int(v["vmid"]) for v in vms)
    leases = rows(store, "SELECT owner, address, vmid FROM leases")
    assert [lease for lease in leases if lease["vmid"] is None] == []
    assert sorted(int(lease["vmid"]) for lease in leases) == sorted(int(v["vmid"]) for v in vms)
    assert len({lease["address"] for lease in leases}) == len(leases)
    usage = next(t for t in again["tenants"] if t["name"] == TENANT)
    assert usage["used"]["vms"] == len(vms), usage
    assert sum(1 for v in vms if v["name"].startswith(PREFIX + "a-")) == a_granted
    store.close()
