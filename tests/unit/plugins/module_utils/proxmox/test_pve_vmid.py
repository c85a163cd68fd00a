"""vmid.py: candidates after collisions, the bound, the range; VmManager retrying a clone whose id was taken."""

from __future__ import annotations

import random
import urllib.parse

import pytest
import ssh_keys
from pve_stub import StubApi, client, stopped, upid

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vmid import (
    VmidAllocator,
    is_collision,
    parse_range,
    with_free_vmid,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vms import VmManager


def test_collision_messages():
    assert is_collision(
        ProxmoxError("POST /nodes/pve1/qemu failed: 500 unable to create VM 100 - VM 100 already exists on node 'pve2'")
    )
    assert is_collision(
        ProxmoxError("clone VM 9000 to 101 failed: unable to create VM 101: config file already exists")
    )
    assert not is_collision(
        ProxmoxError("POST failed: 400 Parameter verification failed. (tokenid: Token already exists.)")
    )
    assert not is_collision(ProxmoxError("start VM 100 failed: VM 100 already running"))


def test_first_candidate_skips_taken_ids():
    alloc = VmidAllocator([100, 101, 103], first=100)
    assert alloc.first() == 102


def test_after_collisions_candidates_spread_and_stay_free():
    alloc = VmidAllocator([100, 105], first=100, rng=random.Random(1))
    assert alloc.first() == 101
    seen = {101}
    for _ignored in range(10):
        vmid = alloc.collided()
        assert vmid not in alloc.taken and vmid > 100 and vmid != 105
        seen.add(vmid)
    assert len(seen) == 11


def test_range_is_honoured_and_exhaustion_is_an_error():
    alloc = VmidAllocator([5000], first=100, id_range=(5000, 5002), rng=random.Random(2))
    assert alloc.first() == 5001
    assert alloc.collided() == 5002
    with pytest.raises(ProxmoxError, match="no free VMID left in 5000..5002"):
        alloc.collided()


def test_parse_range():
    assert parse_range([200, 300]) == (200, 300)
    assert parse_range(None) is None
    for bad in ([300, 200], [99, 200], [1]):
        with pytest.raises(ValidationError, match="^vmid_range: "):
            parse_range(bad)


def test_with_free_vmid_retries_collisions_only():
    tried = []

    def attempt(vmid):
        tried.append(vmid)
        if len(tried) < 4:
            raise ProxmoxError("unable to create VM %d - VM %d already exists on node 'pve1'" % (vmid, vmid))
        return "ok"

    vmid, result = with_free_vmid(attempt, VmidAllocator([], 100, rng=random.Random(3)))
    assert result == "ok" and vmid == tried[-1] and len(set(tried)) == 4

    def broken(vmid):
        raise ProxmoxError("no space")

    with pytest.raises(ProxmoxError, match="no space"):
        with_free_vmid(broken, VmidAllocator([], 100))


def test_with_free_vmid_is_bounded():
    def always(vmid):
        raise ProxmoxError("VM %d already exists" % vmid)

    with pytest.raises(ProxmoxError, match="could not find a free VMID after 5 tries"):
        with_free_vmid(always, VmidAllocator([], 100, max_attempts=5))


def test_explicit_vmid_is_not_retried():
    def taken(vmid):
        raise ProxmoxError("VM %d already exists" % vmid)

    with pytest.raises(ProxmoxError, match="after 1 tries"):
        with_free_vmid(taken, VmidAllocator([], 4242, max_attempts=1))


RESOURCES = [
    {"type": "node", "node": "pve1", "status": "online"},
    {"type": "storage", "storage": "vmstore", "node": "pve1", "shared": 1},
    {"type": "qemu", "vmid": 9000, "node": "pve1", "name": "debian-12-cloud", "template": 1, "status": "stopped"},
    {"type": "qemu", "vmid": 100, "node": "pve1", "name": "other", "status": "running"},
]


def test_clone_task_failing_with_config_file_exists_takes_another_id():
    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES)
    api.on("GET", "cluster/nextid", "101")  # a string, as PVE sends it
    first, second = upid("pve1", "qmclone", 9000, 1), upid("pve1", "qmclone", 9000, 2)
    api.on("POST", "nodes/pve1/qemu/9000/clone", first, second)
    api.on("GET", "nodes/pve1/tasks/%s/status" % first, stopped("unable to create VM 101: config file already exists"))
    api.on(
        "GET",
        "nodes/pve1/tasks/%s/log" % first,
        [{"n": 1, "t": "TASK ERROR: unable to create VM 101: config file already exists"}],
    )
    api.on("GET", "nodes/pve1/tasks/%s/status" % second, stopped())
    for vmid in (102, 103):  # after one collision the next id is drawn from the next two free ones
        api.on("GET", "nodes/pve1/qemu/%d/pending" % vmid, [{"key": "name", "value": "web"}])
    params = {"name": "web", "clone": "debian-12-cloud", "state": "present", "timeout": 30}
    result = VmManager(client(api), params).ensure()
    clones = [c for c in api.calls if c[1].endswith("/clone")]
    assert [c[2]["newid"] for c in clones][0] == 101
    assert result["vm"]["vmid"] == clones[-1][2]["newid"] != 101
    assert result["changed"] and result["actions"] == ["cloned"]


def test_check_mode_makes_no_change():
    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES)
    params = {"name": "web", "clone": "9000", "state": "started", "cores": 2}
    result = VmManager(client(api), params, check_mode=True).ensure()
    assert result["changed"] and result["actions"] == ["cloned", "started"]
    assert [c[0] for c in api.calls] == ["GET"]


def test_noop_rerun_costs_two_requests():
    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES)
    api.on(
        "GET",
        "nodes/pve1/qemu/100/pending",
        [
            {"key": "name", "value": "other"},
            {"key": "cores", "value": 2},
            {"key": "memory", "value": "current=2048"},
            {"key": "net0", "value": "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=5"},
            {"key": "sshkeys", "value": urllib.parse.quote(ssh_keys.ED25519, safe="")},
            {"key": "tags", "value": "b;a"},
        ],
    )
    params = {
        "name": "other",
        "cores": 2,
        "memory": 2048,
        "nets": [{"bridge": "vmbr0", "tag": 5}],
        "sshkeys": ssh_keys.ED25519,
        "tags": ["a", "b"],
        "state": "started",
    }
    result = VmManager(client(api), params).ensure()
    assert not result["changed"]
    assert len(api.calls) == 2


def test_shrink_fails_before_any_change():
    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES)
    api.on("GET", "nodes/pve1/qemu/100/pending", [{"key": "scsi0", "value": "local-lvm:vm-100-disk-0,size=8G"}])
    params = {"name": "other", "node": "pve1", "cores": 4, "disks": [{"key": "scsi0", "size": "4G"}]}
    with pytest.raises(ValidationError, match=r"^disks\[0\].size: "):
        VmManager(client(api), params).ensure()
    assert all(c[0] == "GET" for c in api.calls)


def test_ambiguous_name():
    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES + [dict(RESOURCES[-1], vmid=107)])
    with pytest.raises(ValidationError, match=r"^name: 2 VMs are named 'other' \(vmids 100, 107\)"):
        VmManager(client(api), {"name": "other"}).ensure()
