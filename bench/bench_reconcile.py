"""Benchmark: cloud_reconcile's logic on 2,000 cloud VMs: the Proxmox API requests it makes and its wall time.

A private instance of the lab's fake Proxmox API (bench_inventory.private_fake: its own port, request log and
control socket) holds 2,000 VMs tagged for two tenants and two projects each (populate()), and a SQLite store
of the benchmark's own knows those tenants, projects and one network per project. Three runs of reconcile_cloud
(the function cloud_reconcile runs), each counted in the fake's request log:

* cold: the store knows no VM (a store restored from an old backup): every VM is adopted, and the config of
  every VM without a lease is read to find its address (none here: populate's VMs have no ipconfig0);
* leased: the same, after each VM got a lease bound to its VMID (what the vm role leaves): one request;
* steady: a second run on the leased store: nothing to repair, one request.

Requests are bounded: 1 (GET /cluster/resources) + one GET .../config per tagged VM that no lease is bound to.
It prints the figures and writes them to bench/results/reconcile.json.

Usage: .venv/bin/python bench/bench_reconcile.py [--vms 2000] [--nodes 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

from bench_inventory import ROOT, lab_env, log_entries, private_fake

sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reconcile import reconcile_cloud
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, open_store
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

PREFIX = "icrec-"
FIRST_VMID = 880000
TENANTS = ("acme", "globex")
PROJECTS = ("web", "db")


def timed(label: str, store: Store, api: ProxmoxClient, log: str) -> dict[str, Any]:
    before = log_entries(log)
    started = time.perf_counter()
    result = reconcile_cloud(store, api, False, time.time(), None)
    wall = time.perf_counter() - started
    drift = {k: len(v) for k, v in result["drift"].items() if v}
    return {"run": label, "requests": log_entries(log) - before, "wall_s": round(wall, 2), "drift": drift}


def lease_every_vm(store: Store, resources: list[dict[str, Any]]) -> int:
    """A lease bound to each bench VM, on its project's network (direct SQL: the benchmark's own store)."""

    def work(tx: Any) -> int:
        n = 0
        for item in resources:
            if item.get("type") != "qemu" or not str(item.get("name", "")).startswith(PREFIX):
                continue
            tags = str(item.get("tags") or "").split(";")
            tenant = next(t[len("ic-tenant-") :] for t in tags if t.startswith("ic-tenant-"))
            project = next(t[len("ic-project-") :] for t in tags if t.startswith("ic-project-"))
            n += 1
            tx.execute(
                "INSERT INTO leases (tenant, project, network, owner, address, addr_int, vmid, created) "
                "VALUES (?, ?, 'net', ?, ?, ?, ?, ?)",
                (
                    tenant,
                    project,
                    "%s/net0" % item["name"],
                    "10.%d.%d.%d" % (2 * TENANTS.index(tenant) + PROJECTS.index(project), n // 250, n % 250 + 2),
                    (n // 250) * 256 + n % 250 + 2,
                    int(item["vmid"]),
                    time.time(),
                ),
            )
        return n

    return int(store.run(work))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", maxsplit=1)[0])
    parser.add_argument("--vms", type=int, default=2000)
    parser.add_argument("--nodes", type=int, default=8)
    args = parser.parse_args()
    lab = lab_env()
    nodes = ["icrec%02d" % i for i in range(1, args.nodes + 1)]
    with tempfile.TemporaryDirectory() as workdir, private_fake(lab, workdir) as pve:
        pve["control"].call(
            "populate", args.vms, nodes, prefix=PREFIX, first_vmid=FIRST_VMID, tenants=TENANTS, projects=PROJECTS
        )
        store = open_store("sqlite://" + os.path.join(workdir, "state.db"))
        now = time.time()
        for i, tenant in enumerate(TENANTS):
            ensure_tenant(store, {"name": tenant, "projects": list(PROJECTS)}, False, now)
            for j, project in enumerate(PROJECTS):
                params = {"tenant": tenant, "project": project, "name": "net", "cidr": "10.%d.0.0/16" % (2 * i + j)}
                ensure_network(store, params, False, now)
        api = ProxmoxClient(
            {
                "api_host": pve["host"],
                "api_port": pve["port"],
                "api_token_id": pve["token_id"],
                "api_token_secret": pve["secret"],
                "ca_path": lab["PROXMOX_CA_PATH"],
            }
        )
        runs = [timed("cold", store, api, pve["log"])]
        leased = lease_every_vm(store, api.resources())
        runs.append(timed("leased", store, api, pve["log"]))
        runs.append(timed("steady", store, api, pve["log"]))
        store.close()
    print(
        "cloud_reconcile on %d cloud VMs (%d nodes), private instance of the lab's fake Proxmox API"
        % (args.vms, args.nodes)
    )
    print("%-8s %9s %8s  %s" % ("run", "requests", "wall s", "drift"))
    for r in runs:
        print("%-8s %9d %8.2f  %s" % (r["run"], r["requests"], r["wall_s"], r["drift"]))
    out = {
        "vms": args.vms,
        "nodes": args.nodes,
        "leased_vms": leased,
        "cold_requests": runs[0]["requests"],
        "cold_s": runs[0]["wall_s"],
        "steady_requests": runs[2]["requests"],
        "steady_s": runs[2]["wall_s"],
        "bound": "1 + one config read per tagged VM without a bound lease",
        "runs": runs,
    }
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "reconcile.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
