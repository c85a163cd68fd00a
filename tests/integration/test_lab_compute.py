"""The lab's compute extensions answer as PVE does (tests/lab/pve/compute.py, access.py), checked over the API."""

from __future__ import annotations

import time
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

PREFIX = "it-lab-"


@pytest.fixture(scope="module")
def api(lab_env: dict[str, str]) -> Any:
    user, _ignored, token = lab_env["PROXMOX_TOKEN_ID"].partition("!")
    return ProxmoxAPI(
        lab_env["PROXMOX_HOST"],
        port=int(lab_env["PROXMOX_PORT"]),
        user=user,
        token_name=token,
        token_value=lab_env["PROXMOX_TOKEN_SECRET"],
        verify_ssl=lab_env["PROXMOX_CA_PATH"],
    )


@pytest.fixture(autouse=True)
def clean(pve_control):
    pve_control.call("remove_vms", PREFIX)
    yield
    pve_control.call("remove_vms", PREFIX)


def wait(api: Any, upid: str) -> dict[str, Any]:
    node = upid.split(":")[1]
    for _ignored in range(600):
        status = api.nodes(node).tasks(upid).status.get()
        if status["status"] == "stopped":
            return status
        time.sleep(0.05)
    raise AssertionError("task %s did not end" % upid)


def make_vm(api: Any, node: str = "pve1", start: bool = False) -> int:
    vmid = int(api.cluster.nextid.get())
    upid = api.nodes(node).qemu.post(
        vmid=vmid, name="%s%d" % (PREFIX, vmid), memory=512, scsi0="local-lvm:1", start=int(start)
    )
    assert wait(api, upid)["exitstatus"] == "OK"
    return vmid


def test_migrate_checks_and_lock(api, pve_control):
    vmid = make_vm(api, start=True)
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").qemu(vmid).migrate.post(target="pve2")
    assert caught.value.status_code == 500 and "can't migrate running VM without --online" in caught.value.content
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").qemu(vmid).migrate.post(target="pve1", online=1)
    assert caught.value.status_code == 400 and caught.value.errors == {"target": "target is local node."}
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").qemu(vmid).migrate.post(target="pve9", online=1)
    assert "no such cluster node 'pve9'" in caught.value.content
    upid = api.nodes("pve1").qemu(vmid).migrate.post(target="pve2", online=1)
    status = wait(api, upid)
    assert status["exitstatus"] == "can't live migrate attached local disks without with-local-disks option"
    pve_control.set("migrate_secs", 200)
    try:
        upid = api.nodes("pve1").qemu(vmid).migrate.post(target="pve2", online=1, **{"with-local-disks": 1})
        assert ":qmigrate:%d:" % vmid in upid
        deadline = time.time() + 30
        while pve_control.call("vm_summary", vmid)["lock"] != "migrate" and time.time() < deadline:
            time.sleep(0.02)
        assert api.nodes("pve1").qemu(vmid).config.get()["lock"] == "migrate"
        with pytest.raises(ResourceException) as caught:
            api.nodes("pve1").qemu(vmid).config.put(cores=2)
        assert "VM is locked (migrate)" in caught.value.content
    finally:
        pve_control.set("migrate_secs", 5)
    assert wait(api, upid)["exitstatus"] == "OK"
    summary = pve_control.call("vm_summary", vmid)
    assert summary["node"] == "pve2" and summary["lock"] is None and summary["status"] == "running"
    log = [line["t"] for line in api.nodes("pve1").tasks(upid).log.get()]
    assert log[-1] == "TASK OK"


def test_resize_grows_only(api):
    vmid = make_vm(api)
    disk = api.nodes("pve1").qemu(vmid).resize
    assert wait(api, disk.put(disk="scsi0", size="+1G"))["exitstatus"] == "OK"
    assert "size=2G" in api.nodes("pve1").qemu(vmid).config.get()["scsi0"]
    assert wait(api, disk.put(disk="scsi0", size="3G"))["exitstatus"] == "OK"
    assert wait(api, disk.put(disk="scsi0", size="1G"))["exitstatus"] == "shrinking disks is not supported"
    assert "size=3G" in api.nodes("pve1").qemu(vmid).config.get()["scsi0"]


def test_token_secret_once_and_privsep(api, lab_env):
    api.access.groups.post(groupid="it-lab-g")
    api.access.users.post(userid="it-lab-u@pve", groups="it-lab-g")
    try:
        created = api.access.users("it-lab-u@pve").token("tk").post(privsep=1)
        assert created["full-tokenid"] == "it-lab-u@pve!tk" and len(created["value"]) == 36
        assert "value" not in api.access.users("it-lab-u@pve").token("tk").get()
        with pytest.raises(ResourceException) as caught:
            api.access.users("it-lab-u@pve").token("tk").post()
        assert caught.value.errors == {"tokenid": "Token already exists."}
        vmid = make_vm(api)
        api.pools.post(poolid="it-lab-pool")
        api.pools.put(poolid="it-lab-pool", vms=str(vmid))
        tok = ProxmoxAPI(
            lab_env["PROXMOX_HOST"],
            port=int(lab_env["PROXMOX_PORT"]),
            user="it-lab-u@pve",
            token_name="tk",
            token_value=created["value"],
            verify_ssl=lab_env["PROXMOX_CA_PATH"],
        )
        # The group's entry alone is not enough for a privilege-separated token ...
        api.access.acl.put(path="/pool/it-lab-pool", roles="PVEVMAdmin", groups="it-lab-g")
        assert [r["vmid"] for r in tok.cluster.resources.get(type="vm")] == []
        # ... it needs its own, and then holds the intersection.
        api.access.acl.put(path="/pool/it-lab-pool", roles="PVEVMAdmin", tokens="it-lab-u@pve!tk")
        assert [r["vmid"] for r in tok.cluster.resources.get(type="vm")] == [vmid]
        tok.nodes("pve1").qemu(vmid).config.put(cores=2)
        with pytest.raises(ResourceException) as caught:
            tok.nodes("pve1").qemu(9000).config.put(cores=2)
        assert caught.value.status_code == 403
        with pytest.raises(ResourceException) as caught:
            api.access.acl.put(path="/pool/it-lab-pool", roles="NoSuchRole", groups="it-lab-g")
        assert "role 'NoSuchRole' does not exist" in caught.value.content
    finally:
        for call in (
            lambda: api.access.acl.put(path="/pool/it-lab-pool", roles="PVEVMAdmin", groups="it-lab-g", delete=1),
            lambda: api.access.users("it-lab-u@pve").delete(),
            lambda: api.access.groups("it-lab-g").delete(),
        ):
            call()
        for vm in api.pools.get(poolid="it-lab-pool")[0]["members"]:
            api.pools.put(poolid="it-lab-pool", vms=str(vm["vmid"]), delete=1)
        api.pools.delete(poolid="it-lab-pool")
