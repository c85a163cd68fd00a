"""proxmox_vm under faults the lab injects through its control socket: an offline node, a task that fails,
a VMID taken by someone else between nextid and the clone."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import yaml

PREFIX = "it-fault-"


def play(tmp_path, tasks, name: str = "play.yml") -> str:
    """A playbook on localhost with the lab's connection defaults and these tasks."""
    book = [
        {
            "name": "faults",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {
                "group/ironcloud.stack.proxmox": {
                    "api_host": "{{ proxmox_api_host }}",
                    "api_port": "{{ proxmox_api_port }}",
                    "api_token_id": "{{ proxmox_api_token_id }}",
                    "ca_path": "{{ proxmox_ca_path }}",
                }
            },
            "tasks": tasks,
        }
    ]
    path = os.path.join(str(tmp_path), name)
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(book, f)
    return path


def vm_task(register: str = "r", ignore_errors: bool = False, **params: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"ironcloud.stack.proxmox_vm": params, "register": register}
    if ignore_errors:
        task["ignore_errors"] = True
    return task


COUNTER = iter(range(1000000))


def dump(register: str = "r") -> dict[str, Any]:
    """Write the registered result to a JSON file the test reads (results_dir, in task order)."""
    return {
        "ansible.builtin.copy": {
            "content": "{{ %s | to_json }}" % register,
            "dest": "{{ results_dir }}/%06d.json" % next(COUNTER),
            "mode": "0600",
        }
    }


def results(directory: str):
    out = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            out.append(json.load(f))
        os.unlink(os.path.join(directory, name))
    return out


@pytest.fixture(autouse=True)
def clean(pve_control):
    pve_control.call("remove_vms", PREFIX)
    yield
    pve_control.call("set_node_offline", "pve3", False)
    pve_control.call("remove_vms", PREFIX)


def run(ansible_playbook, path):
    directory = os.path.join(os.path.dirname(path), "results")
    os.makedirs(directory, exist_ok=True)
    result = ansible_playbook(path, extra_vars={"results_dir": directory})
    return result, results(directory)


def test_offline_node_is_refused_before_any_change(tmp_path, ansible_playbook, pve_control):
    path = play(
        tmp_path,
        [
            vm_task(name=PREFIX + "on3", node="pve3", cores=1, memory=512, register="made"),
            dump("made"),
        ],
        "make.yml",
    )
    result, found = run(ansible_playbook, path)
    assert result.returncode == 0, result.stdout[-3000:]
    vmid = found[0]["vm"]["vmid"]
    pve_control.call("set_node_offline", "pve3")
    try:
        path = play(
            tmp_path,
            [
                vm_task(name=PREFIX + "new3", node="pve3", cores=1, memory=512, ignore_errors=True),
                dump(),
                vm_task(name=PREFIX + "on3", cores=2, ignore_errors=True),
                dump(),
            ],
            "offline.yml",
        )
        result, found = run(ansible_playbook, path)
    finally:
        pve_control.call("set_node_offline", "pve3", False)
    assert result.returncode == 0, result.stdout[-3000:]
    create, update = found
    assert create["failed"] and create["msg"].startswith("node: node pve3 is offline"), create
    assert update["failed"] and "is on node pve3, which is offline" in update["msg"], update
    assert pve_control.call("vm_summary", vmid)["config"]["cores"] == 1
    assert pve_control.call("remove_vms", PREFIX + "new3") == []


def test_failed_task_fails_the_module_with_the_task_log(tmp_path, ansible_playbook, pve_control):
    path = play(
        tmp_path,
        [vm_task(name=PREFIX + "boom", node="pve1", cores=1, memory=512, register="made"), dump("made")],
        "make.yml",
    )
    result, found = run(ansible_playbook, path)
    assert result.returncode == 0, result.stdout[-3000:]
    vmid = found[0]["vm"]["vmid"]
    pve_control.call("fail", "POST", "/nodes/pve1/qemu/%d/status/start" % vmid, error="qemu_exited_code", times=1)
    path = play(tmp_path, [vm_task(name=PREFIX + "boom", state="started", ignore_errors=True), dump()], "start.yml")
    result, found = run(ansible_playbook, path)
    assert result.returncode == 0, result.stdout[-3000:]
    failed = found[0]
    assert failed["failed"]
    assert failed["msg"] == "start VM %d failed: QEMU exited with code 1" % vmid, failed
    assert failed["failure"]["task_log"][-1] == "TASK ERROR: QEMU exited with code 1"
    assert "UPID:pve1:" in failed["failure"]["upid"]
    assert pve_control.call("vm_summary", vmid)["status"] == "stopped"


def test_clone_retries_a_vmid_taken_meanwhile(tmp_path, ansible_playbook, pve_control):
    # The first clone request answers as PVE does when another create took the id after nextid.
    pve_control.call("fail", "POST", "/nodes/pve1/qemu/9000/clone", error="unable_create_config_file_already", times=1)
    path = play(tmp_path, [vm_task(name=PREFIX + "retry", clone="debian-12-cloud", register="made"), dump("made")])
    result, found = run(ansible_playbook, path)
    assert result.returncode == 0, result.stdout[-3000:]
    made = found[0]
    assert made["changed"] and made["actions"] == ["cloned"]
    assert pve_control.call("vm_summary", made["vm"]["vmid"])["config"]["name"] == PREFIX + "retry"
