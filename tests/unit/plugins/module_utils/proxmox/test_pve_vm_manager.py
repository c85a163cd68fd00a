"""VmManager's update, migrate and power paths against a stubbed API: the requests, their order, the diff."""

from __future__ import annotations

from typing import Any

import pytest
from pve_stub import StubApi, client, stopped, upid

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vms import VmManager

VM = "nodes/pve1/qemu/100"


def resources(status: str = "running", pve2: str = "online", pool: str | None = None) -> list[dict[str, Any]]:
    return [
        {"type": "node", "node": "pve1", "status": "online"},
        {"type": "node", "node": "pve2", "status": pve2},
        {"type": "storage", "storage": "vmstore", "node": "pve1", "shared": 1},
        {"type": "storage", "storage": "local-lvm", "node": "pve1", "shared": 0},
        {"type": "qemu", "vmid": 100, "node": "pve1", "name": "web-1", "status": status, "pool": pool},
    ]


def pending(**extra: Any) -> list[dict[str, Any]]:
    config = {
        "name": "web-1",
        "cores": 1,
        "memory": "1024",
        "scsi0": "vmstore:vm-100-disk-0,size=8G",
        "ide2": "local-lvm:vm-100-cloudinit,media=cdrom",
    }
    config.update(extra)
    return [{"key": k, "value": v} for k, v in config.items()]


def stub(status: str = "running", **kw: Any) -> StubApi:
    api = StubApi()
    api.on("GET", "cluster/resources", resources(status, **kw))
    api.on("GET", VM + "/pending", pending())
    return api


def task(api: StubApi, method: str, path: str, kind: str, n: int, node: str = "pve1") -> str:
    uid = upid(node, kind, 100, n)
    api.on(method, path, uid)
    api.on("GET", "nodes/%s/tasks/%s/status" % (node, uid), stopped())
    return uid


def sent(api: StubApi) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _params in api.calls if m != "GET"]


def run(api: StubApi, check: bool = False, **params: Any) -> dict[str, Any]:
    params.setdefault("name", "web-1")
    return VmManager(client(api), params, check).ensure()


# ------------------------------------------------------------------ update


def test_update_of_a_stopped_vm_applies_at_once():
    api = stub("stopped")
    api.on("PUT", VM + "/config", None)
    api.answers[("GET", VM + "/pending")] = [pending(), pending(cores=2, memory="2048")]
    result = run(api, cores=2, memory=2048)
    assert sent(api) == [("PUT", VM + "/config")]
    assert api.calls[2][2] == {"cores": "2", "memory": "2048"}
    assert result["changed"] and result["actions"] == ["configured"]
    assert result["diff"] == {
        "before": {"config": {"cores": "1", "memory": "1024"}},
        "after": {"config": {"cores": "2", "memory": "2048"}},
    }
    assert result["pending"] == [] and result["vm"]["config"]["cores"] == 2


def test_update_of_a_running_vm_reports_what_waits_for_a_restart():
    api = stub("running")
    api.on("PUT", VM + "/config", None)
    after = pending() + [{"key": "cores", "value": 1, "pending": 4}]
    api.answers[("GET", VM + "/pending")] = [pending(), after]
    result = run(api, cores=4, tags=["a"])
    assert sent(api) == [("PUT", VM + "/config")]
    assert result["pending"] == ["cores"]
    assert result["vm"]["status"] == "running"


def test_check_mode_update_guesses_pending_and_sends_nothing():
    api = stub("running")
    result = run(api, check=True, cores=4, description="web")
    assert sent(api) == []
    assert result["changed"] and result["pending"] == ["cores"]
    assert result["vm"]["config"]["cores"] == 1


def test_restart_if_needed_reboots_to_apply_pending():
    api = stub("running")
    api.on("PUT", VM + "/config", None)
    task(api, "POST", VM + "/status/reboot", "qmreboot", 1)
    waiting = pending() + [{"key": "cores", "value": 1, "pending": 4}]
    api.answers[("GET", VM + "/pending")] = [pending(), waiting, pending(cores=4)]
    result = run(api, cores=4, restart_if_needed=True)
    assert sent(api) == [("PUT", VM + "/config"), ("POST", VM + "/status/reboot")]
    assert result["actions"] == ["configured", "restarted"]
    assert result["pending"] == [] and result["vm"]["config"]["cores"] == 4


def test_disk_grows_with_a_resize_task_and_shrink_is_refused_first():
    api = stub("stopped")
    task(api, "PUT", VM + "/resize", "resize", 1)
    result = run(api, disks=[{"key": "scsi0", "size": "16G"}])
    assert sent(api) == [("PUT", VM + "/resize")]
    assert api.calls[2][2] == {"disk": "scsi0", "size": "16G"}
    assert result["diff"]["after"]["config"] == {"scsi0.size": "16G"}
    api = stub("stopped")
    with pytest.raises(ValidationError, match="shrinking a disk to 4G is not possible"):
        run(api, disks=[{"key": "scsi0", "size": "4G"}], node="pve2")
    assert sent(api) == []


def test_pool_move():
    api = stub("stopped", pool="ic-old")
    api.on("PUT", "pools", None)
    result = run(api, pool="ic-new")
    assert api.calls[-2][:2] == ("PUT", "pools")
    assert api.calls[-2][2] == {"poolid": "ic-new", "vms": "100", "allow-move": 1}
    assert result["diff"] == {"before": {"pool": "ic-old"}, "after": {"pool": "ic-new"}}


def test_template_is_not_changed():
    api = StubApi()
    api.on("GET", "cluster/resources", [dict(resources()[0]), dict(resources()[4], template=1)])
    with pytest.raises(ValidationError, match="VM 100 is a template; proxmox_vm does not change templates"):
        run(api, vmid=100, name=None, cores=2)


# ----------------------------------------------------------------- migrate


def test_running_vm_migrates_online_with_local_disks():
    api = stub("running")
    api.answers[("GET", VM + "/pending")] = [pending(scsi1="local-lvm:vm-100-disk-1,size=4G")]
    task(api, "POST", VM + "/migrate", "qmigrate", 1)
    api.on("GET", "nodes/pve2/qemu/100/pending", pending())
    result = run(api, node="pve2")
    assert sent(api) == [("POST", VM + "/migrate")]
    migrate = next(c for c in api.calls if c[1] == VM + "/migrate")
    assert migrate[2] == {"target": "pve2", "online": 1, "with-local-disks": 1}
    assert result["migrated"] and result["actions"] == ["migrated online"]
    assert result["vm"]["node"] == "pve2"
    assert result["diff"] == {"before": {"node": "pve1"}, "after": {"node": "pve2"}}


def test_stopped_vm_on_shared_storage_migrates_offline_then_its_config_changes_on_the_target():
    api = stub("stopped")
    task(api, "POST", VM + "/migrate", "qmigrate", 1)
    api.on("PUT", "nodes/pve2/qemu/100/config", None)
    api.on("GET", "nodes/pve2/qemu/100/pending", pending(cores=2))
    result = run(api, node="pve2", cores=2)
    assert sent(api) == [("POST", VM + "/migrate"), ("PUT", "nodes/pve2/qemu/100/config")]
    migrate = next(c for c in api.calls if c[1] == VM + "/migrate")
    assert migrate[2] == {"target": "pve2"}
    assert result["actions"] == ["migrated offline", "configured"]


def test_check_mode_reports_the_migration_and_sends_nothing():
    api = stub("running")
    result = run(api, check=True, node="pve2")
    assert sent(api) == []
    assert result["migrated"] and result["changed"] and result["diff"]["after"] == {"node": "pve2"}


def test_migration_to_an_offline_node_is_refused_before_any_change():
    api = stub("running", pve2="offline")
    with pytest.raises(ProxmoxError, match="node: node pve2 is offline; nothing was changed"):
        run(api, node="pve2")
    assert sent(api) == []


def test_failed_migration_task_fails_with_its_log():
    api = stub("running")
    uid = upid("pve1", "qmigrate", 100, 1)
    api.on("POST", VM + "/migrate", uid)
    api.on("GET", "nodes/pve1/tasks/%s/status" % uid, stopped("migration aborted"))
    api.on("GET", "nodes/pve1/tasks/%s/log" % uid, [{"n": 1, "t": "TASK ERROR: migration aborted"}])
    with pytest.raises(ProxmoxError) as caught:
        run(api, node="pve2")
    assert caught.value.message == "migrate VM 100 to pve2 failed: migration aborted"
    assert caught.value.details["task_log"] == ["TASK ERROR: migration aborted"]


# ------------------------------------------------------------------- power


@pytest.mark.parametrize(
    "status,state,request_,action,after",
    [
        ("stopped", "started", "/status/start", "started", "running"),
        ("running", "stopped", "/status/shutdown", "stopped", "stopped"),
        ("running", "restarted", "/status/reboot", "restarted", "running"),
    ],
)
def test_power(status, state, request_, action, after):
    api = stub(status)
    task(api, "POST", VM + request_, "qm" + request_.rsplit("/", 1)[1], 1)
    result = run(api, state=state)
    assert sent(api) == [("POST", VM + request_)]
    params = next(c[2] for c in api.calls if c[1] == VM + request_)
    assert params["timeout"] == 300
    if state == "stopped":
        assert params["forceStop"] == 1
    assert result["actions"] == [action] and result["vm"]["status"] == after
    assert result["diff"] == {"before": {"status": status}, "after": {"status": after}}


@pytest.mark.parametrize("status,state", [("running", "started"), ("stopped", "stopped"), ("running", "present")])
def test_power_already_right_is_no_change(status, state):
    api = stub(status)
    result = run(api, state=state)
    assert sent(api) == [] and not result["changed"] and len(api.calls) == 2


def test_check_mode_power_sends_nothing():
    api = stub("stopped")
    result = run(api, check=True, state="started")
    assert sent(api) == [] and result["changed"] and result["vm"]["status"] == "running"


def test_unknown_status_is_read_from_the_node():
    api = stub("unknown")
    api.on("GET", VM + "/status/current", {"status": "stopped"})
    task(api, "POST", VM + "/status/start", "qmstart", 1)
    result = run(api, state="started")
    assert result["diff"]["before"] == {"status": "stopped"}


def test_vm_on_an_offline_node_is_not_touched():
    api = StubApi()
    api.on(
        "GET",
        "cluster/resources",
        [resources()[0], dict(resources()[1], status="offline"), dict(resources()[4], node="pve2")],
    )
    with pytest.raises(ProxmoxError, match="VM 100 is on node pve2, which is offline; nothing was changed"):
        run(api, state="started")
    assert sent(api) == []
