"""vm_info.py: the filters of proxmox_vm_info over one /cluster/resources answer."""

from __future__ import annotations

from pve_stub import StubApi, client

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vm_info import read_vms, select

RESOURCES = [
    {"type": "qemu", "vmid": 102, "node": "pve2", "name": "b", "status": "running", "tags": "ic-tenant-acme;ic-x"},
    {"type": "qemu", "vmid": 101, "node": "pve1", "name": "a", "status": "stopped", "tags": "IC-Tenant-Acme"},
    {"type": "qemu", "vmid": 103, "node": "pve3", "name": "c", "status": "unknown", "tags": "ic-tenant-globex"},
    {"type": "qemu", "vmid": 9000, "node": "pve1", "name": "tpl", "template": 1, "status": "stopped"},
    {"type": "lxc", "vmid": 200, "node": "pve1", "name": "ct", "status": "running", "tags": "ic-tenant-acme"},
]


def test_filters():
    assert [v["vmid"] for v in select(RESOURCES)] == [101, 102, 103]
    assert [v["vmid"] for v in select(RESOURCES, tenant="acme")] == [101, 102]
    assert [v["vmid"] for v in select(RESOURCES, tenant="acme", tags=["ic-x"])] == [102]
    assert [v["vmid"] for v in select(RESOURCES, node="pve1")] == [101]
    assert [v["vmid"] for v in select(RESOURCES, name="tpl", templates=True)] == [9000]
    assert select(RESOURCES, vmid=102)[0]["tags"] == ["ic-tenant-acme", "ic-x"]


def test_config_one_request_per_vm_and_none_for_offline_nodes():
    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES)
    api.on("GET", "nodes/pve1/qemu/101/config", {"cores": 1, "sshkeys": "a%20b", "digest": "x"})
    api.on("GET", "nodes/pve2/qemu/102/config", {"cores": 2})
    vms = read_vms(client(api), {"config": True})["vms"]
    assert [v["config"] for v in vms] == [{"cores": 1, "sshkeys": "a b"}, {"cores": 2}, None]
    assert len(api.calls) == 3
    api.calls.clear()
    assert [v["config"] for v in read_vms(client(api), {"config": False})["vms"]] == [None, None, None]
    assert len(api.calls) == 1
