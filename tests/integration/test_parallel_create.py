"""100 VMs created by one play with 50 forks against the lab's PVE (time_scale > 0, so tasks take time and the
VMID race is real): every create succeeds, every VM gets its own VMID; then all of them are destroyed.

Even hosts clone the template (the clone worker writes the config late, the wider race), odd hosts create from
scratch (the create writes it at once); both start from /cluster/nextid, which reserves nothing.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

COUNT = 100
PREFIX = "it-par-"


@pytest.fixture(autouse=True)
def clean(pve_control):
    pve_control.call("remove_vms", PREFIX)
    yield
    pve_control.call("remove_vms", PREFIX)


def test_100_parallel_creates_get_distinct_vmids(tmp_path, ansible_playbook, pve_control, lab_env):
    hosts = {"%s%03d" % (PREFIX, n): {"vm_node": "pve%d" % (n % 3 + 1), "vm_clone": n % 2 == 0} for n in range(COUNT)}
    inventory = {
        "all": {
            "children": {"vms": {"hosts": hosts}},
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": os.path.join(
                    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    ".venv",
                    "bin",
                    "python",
                ),
                "proxmox_api_host": lab_env["PROXMOX_HOST"],
                "proxmox_api_port": int(lab_env["PROXMOX_PORT"]),
                "proxmox_api_token_id": lab_env["PROXMOX_TOKEN_ID"],
                "proxmox_ca_path": lab_env["PROXMOX_CA_PATH"],
            },
        }
    }
    results = tmp_path / "results"
    results.mkdir()
    defaults = {
        "group/ironcloud.stack.proxmox": {
            "api_host": "{{ proxmox_api_host }}",
            "api_port": "{{ proxmox_api_port }}",
            "api_token_id": "{{ proxmox_api_token_id }}",
            "ca_path": "{{ proxmox_ca_path }}",
        }
    }
    play = [
        {
            "name": "create",
            "hosts": "vms",
            "gather_facts": False,
            "module_defaults": defaults,
            "tasks": [
                {
                    "name": "create",
                    "ironcloud.stack.proxmox_vm": {
                        "name": "{{ inventory_hostname }}",
                        "node": "{{ vm_node }}",
                        "clone": "{{ 'debian-12-cloud' if vm_clone else omit }}",
                        "cores": 1,
                        "memory": 256,
                        "tags": ["ic-test-parallel"],
                        "timeout": 120,
                    },
                    "register": "made",
                },
                {
                    "name": "record",
                    "ansible.builtin.copy": {
                        "content": "{{ made | to_json }}",
                        "dest": str(results) + "/{{ inventory_hostname }}.json",
                        "mode": "0600",
                    },
                },
            ],
        }
    ]
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "create.yml").write_text(yaml.safe_dump(play))
    run = ansible_playbook(
        str(tmp_path / "create.yml"), "-i", str(tmp_path / "inventory.yml"), "-f", "50", timeout=1200
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    made = [json.loads((results / name).read_text()) for name in sorted(os.listdir(results))]
    assert len(made) == COUNT
    assert all(r["changed"] and not r.get("failed") for r in made)
    vmids = [r["vm"]["vmid"] for r in made]
    assert len(set(vmids)) == COUNT, "VMIDs used twice: %s" % sorted(v for v in set(vmids) if vmids.count(v) > 1)
    for r in made:
        summary = pve_control.call("vm_summary", r["vm"]["vmid"])
        assert summary["config"]["name"] == r["vm"]["name"]

    play[0]["name"] = "destroy"
    play[0]["tasks"] = [
        {
            "name": "destroy",
            "ironcloud.stack.proxmox_vm": {"name": "{{ inventory_hostname }}", "state": "absent", "timeout": 120},
        }
    ]
    (tmp_path / "destroy.yml").write_text(yaml.safe_dump(play))
    run = ansible_playbook(
        str(tmp_path / "destroy.yml"), "-i", str(tmp_path / "inventory.yml"), "-f", "50", timeout=1200
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    assert pve_control.call("remove_vms", PREFIX) == []
