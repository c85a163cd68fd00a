"""VmManager state=absent: the removed VM's result names its tags, so a caller (the metrics callback) knows whose."""

from __future__ import annotations

from pve_stub import StubApi, client, stopped, upid

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vms import VmManager

RESOURCES = [
    {"type": "node", "node": "pve1", "status": "online"},
    {
        "type": "qemu",
        "vmid": 120,
        "node": "pve1",
        "name": "web1",
        "status": "stopped",
        "tags": "ic-tenant-acme;ic-project-web",
    },
]


def test_removed_vm_result_has_its_tags():
    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES)
    task = upid("pve1", "qmdestroy", 120, 1)
    api.on("DELETE", "nodes/pve1/qemu/120", task)
    api.on("GET", "nodes/pve1/tasks/%s/status" % task, stopped())
    result = VmManager(client(api), {"vmid": 120, "state": "absent", "timeout": 30}).ensure()
    assert result["changed"] and result["actions"] == ["destroyed"]
    assert result["vm"]["tags"] == ["ic-project-web", "ic-tenant-acme"]


def test_check_mode_removal_has_the_tags_too():
    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES)
    result = VmManager(client(api), {"name": "web1", "state": "absent"}, check_mode=True).ensure()
    assert result["vm"]["tags"] == ["ic-project-web", "ic-tenant-acme"]
    assert [c[0] for c in api.calls] == ["GET"]


def test_destroyed_total_carries_the_tenant_of_a_removed_vm():
    from prometheus_client.exposition import generate_latest

    from ansible_collections.ironcloud.stack.plugins.callback import prometheus as cb

    api = StubApi()
    api.on("GET", "cluster/resources", RESOURCES)
    task = upid("pve1", "qmdestroy", 120, 1)
    api.on("DELETE", "nodes/pve1/qemu/120", task)
    api.on("GET", "nodes/pve1/tasks/%s/status" % task, stopped())
    result = VmManager(client(api), {"vmid": 120, "state": "absent", "timeout": 30}).ensure()
    result.pop("diff")  # without --diff the result has no diff to read the tags from
    run = cb.RunMetrics("vm_destroy.yml", clock=lambda: 1.0)
    run.vm_result(result, None)
    text = generate_latest(run.render()).decode()
    assert 'ironcloud_vms_destroyed_total{playbook="vm_destroy.yml",tenant="acme"} 1.0' in text
    assert 'tenant=""' not in text
