"""API requests per created VM and per no-op rerun: ironcloud.stack.proxmox_vm against community.proxmox.proxmox_kvm.

    .venv/bin/python bench/bench_compute.py [--vms 3]

Runs each scenario as a playbook against the lab's Proxmox API (`make lab-up`) and counts the requests it caused in
the lab's request log (.lab/pve/requests.jsonl, env IRONCLOUD_LAB_PVE_REQUESTS), by kind: create or clone, config
(config, resize), power (start/stop), task polls (task status and log), other reads. Figures are per VM.

community.proxmox.proxmox_kvm (from the venv's `ansible` bundle) needs one task to clone, a second one for the
cloud-init settings (its #115: cloud-init on clone is a second step) and a third to start; it picks VMIDs from
/cluster/nextid and waits for tasks polling once a second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from typing import Any

import yaml
from benchlib import ROOT, lab_env, log_entries, log_size, write_results

PREFIX = "bench-"
KINDS = ("create/clone", "config", "power", "task polls", "other reads", "total")


def kind(entry: dict[str, Any]) -> str:
    method, path = entry["method"], entry["path"]
    if "/tasks/" in path:
        return "task polls"
    if method == "POST" and (path.endswith("/clone") or path.rstrip("/").endswith("/qemu")):
        return "create/clone"
    if path.endswith(("/config", "/resize")) and method in ("PUT", "POST"):
        return "config"
    if "/status/" in path and method == "POST":
        return "power"
    return "other reads" if method == "GET" else "other writes"


def count(log: str, start: int) -> Counter:
    """The requests in the log from byte offset start, by kind (a log not written yet has none)."""
    out: Counter = Counter()
    for entry in log_entries(log, start):
        out[kind(entry)] += 1
        out["total"] += 1
    return out


def run(env: dict[str, str], tasks: list[dict[str, Any]], vms: list[str], workdir: str) -> Counter:
    defaults = {
        "group/ironcloud.stack.proxmox": {
            "api_host": "{{ proxmox_api_host }}",
            "api_port": "{{ proxmox_api_port }}",
            "api_token_id": "{{ proxmox_api_token_id }}",
            "ca_path": "{{ proxmox_ca_path }}",
        },
        "group/community.proxmox.proxmox": {
            "api_host": "{{ proxmox_api_host }}",
            "api_port": "{{ proxmox_api_port }}",
            "api_user": "root@pam",
            "api_token_id": "ironcloud",
        },
    }
    book = [
        {
            "name": "bench",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": defaults,
            "vars": {"vms": vms},
            "tasks": tasks,
        }
    ]
    path = os.path.join(workdir, "bench.yml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(book, f)
    log = env["IRONCLOUD_LAB_PVE_REQUESTS"]
    start = log_size(log)  # the fake creates its log at the first request: a fresh lab has none
    full = dict(
        os.environ,
        **env,
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections")
        + os.pathsep
        + os.path.join(ROOT, ".venv", "lib", "python3.11", "site-packages"),
        REQUESTS_CA_BUNDLE=env["PROXMOX_CA_PATH"],
        CURL_CA_BUNDLE=env["PROXMOX_CA_PATH"],
    )
    result = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), path],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode != 0:
        sys.exit("scenario failed:\n" + (result.stdout + result.stderr)[-4000:])
    return count(log, start)


def ic(params: dict[str, Any]) -> dict[str, Any]:
    return {"ironcloud.stack.proxmox_vm": dict(params, name="{{ item }}"), "loop": "{{ vms }}"}


def kvm(params: dict[str, Any]) -> dict[str, Any]:
    return {"community.proxmox.proxmox_kvm": dict(params, name="{{ item }}"), "loop": "{{ vms }}"}


CLOUD = {
    "ciuser": "debian",
    "ipconfig": [{"ip": "10.0.0.5/24", "gw": "10.0.0.1"}],
    "sshkeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH2/Fwe5sBm5iiqp5PF1Yt1zvTaclhB+gneXKVqwdn9Q bench@example.com"],
}


def scenarios() -> list[dict[str, Any]]:
    kvm_cloud = {
        "ciuser": "debian",
        "ipconfig": {"ipconfig0": "ip=10.0.0.5/24,gw=10.0.0.1"},
        "sshkeys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH2/Fwe5sBm5iiqp5PF1Yt1zvTaclhB+gneXKVqwdn9Q bench@example.com",
    }
    return [
        {
            "tool": "ironcloud.stack.proxmox_vm",
            "what": "create + start",
            "tasks": [
                ic(
                    {
                        "node": "pve1",
                        "cores": 1,
                        "memory": 512,
                        "storage": "local-lvm",
                        "disks": [{"size": "1G"}],
                        "state": "started",
                    }
                )
            ],
        },
        {
            "tool": "ironcloud.stack.proxmox_vm",
            "what": "no-op rerun",
            "tasks": [
                ic(
                    {
                        "node": "pve1",
                        "cores": 1,
                        "memory": 512,
                        "storage": "local-lvm",
                        "disks": [{"size": "1G"}],
                        "state": "started",
                    }
                )
            ],
        },
        {
            "tool": "ironcloud.stack.proxmox_vm",
            "what": "clone + cloud-init + start",
            "tasks": [ic(dict(CLOUD, clone="debian-12-cloud", node="pve2", cores=2, memory=1024, state="started"))],
            "suffix": "-c",
        },
        {
            "tool": "ironcloud.stack.proxmox_vm",
            "what": "no-op rerun (clone spec)",
            "tasks": [ic(dict(CLOUD, clone="debian-12-cloud", node="pve2", cores=2, memory=1024, state="started"))],
            "suffix": "-c",
        },
        {
            "tool": "community.proxmox.proxmox_kvm",
            "what": "create + start",
            "tasks": [
                kvm({"node": "pve1", "cores": 1, "memory": 512, "scsi": {"scsi0": "local-lvm:1"}}),
                kvm({"node": "pve1", "state": "started"}),
            ],
            "suffix": "-k",
        },
        {
            "tool": "community.proxmox.proxmox_kvm",
            "what": "no-op rerun",
            "tasks": [
                kvm({"node": "pve1", "cores": 1, "memory": 512, "scsi": {"scsi0": "local-lvm:1"}}),
                kvm({"node": "pve1", "state": "started"}),
            ],
            "suffix": "-k",
        },
        {
            "tool": "community.proxmox.proxmox_kvm",
            "what": "clone + cloud-init + start",
            "tasks": [
                kvm({"clone": "debian-12-cloud", "node": "pve1", "target": "pve2", "full": False, "timeout": 60}),
                kvm(dict(kvm_cloud, node="pve2", cores=2, memory=1024, update=True)),
                kvm({"node": "pve2", "state": "started"}),
            ],
            "suffix": "-kc",
        },
        # Rerunning its clone task clones again (a second VM of the same name), so the rerun leaves it out.
        {
            "tool": "community.proxmox.proxmox_kvm",
            "what": "no-op rerun (clone spec)*",
            "tasks": [
                kvm(dict(kvm_cloud, node="pve2", cores=2, memory=1024, update=True)),
                kvm({"node": "pve2", "state": "started"}),
            ],
            "suffix": "-kc",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=3, help="VMs per scenario (figures are averaged)")
    args = parser.parse_args()
    env = lab_env()
    sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "pve"))
    from client import LabPveControl

    control = LabPveControl(env["IRONCLOUD_LAB_PVE_CONTROL"])
    control.call("remove_vms", PREFIX)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for scenario in scenarios():
                vms = ["%s%d%s" % (PREFIX, n, scenario.get("suffix", "")) for n in range(args.vms)]
                counts = run(env, scenario["tasks"], vms, workdir)
                rows.append((scenario["tool"], scenario["what"], {k: counts[k] / args.vms for k in KINDS}))
    finally:
        control.call("remove_vms", PREFIX)
    head = "%-32s %-28s" % ("module", "scenario") + "".join("%13s" % k for k in KINDS)
    print("API requests per VM (%d VMs per scenario, lab time_scale as configured)" % args.vms)
    print(head)
    print("-" * len(head))
    for tool, what, figures in rows:
        print("%-32s %-28s" % (tool, what) + "".join("%13.1f" % figures[k] for k in KINDS))
    print("* without proxmox_kvm's clone task: rerun, it clones a second VM of the same name.")
    write_results(
        "compute",
        {
            "vms": args.vms,
            "per_vm": [{"module": tool, "scenario": what, **figures} for tool, what, figures in rows],
        },
    )


if __name__ == "__main__":
    main()
