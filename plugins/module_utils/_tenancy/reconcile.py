# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_reconcile: compare Proxmox (the truth for VMs) with the store, report the drift and repair it.

A VM belongs to tenant t, project p when it carries the tags ic-tenant-<t> and ic-project-<p>.
Drift, and its repair (in check mode the repairs run in a transaction that is rolled back):
  expired_reservations     reserved, never committed, past their expiry: removed
  vms_without_reservation  a tagged VM no committed reservation accounts for: the in-flight reservation of the
                           same tenant, project and VM name is committed to it, else one is adopted (id vm-<vmid>)
  usage_mismatch           a committed reservation whose cores or memory differ from the VM's: corrected
                           (the ledger gets a resized event, so VM-hours and invoices stay right)
  moved                    a committed reservation on another node than its VM: the node is corrected
  power_state              a VM whose Proxmox status (running, stopped, paused) differs from the ledger's last
                           state for it: a started or stopped event is recorded (billing charges vCPU and RAM by state)
  reservations_without_vm  a committed reservation whose VM is gone: released (ledger event)
  leases_without_vm        a lease bound to a VMID that no longer exists (or belongs to another project): released;
                           and a lease bound to no VMID whose owner <vm>/<nic> names no VM of the project, when no
                           reservation in flight is held for that VM and the lease is older than LEASE_GRACE (a run
                           killed between lease and clone); an owner without '/' (not a VM's NIC) is never released
  vms_without_lease        a tagged VM no lease is bound to: its ipconfig0 address is leased to <name>/net0 on the
                           project network that contains it, when free; else it is reported in unrepairable
  floating_ips_unbilled    a floating IP the store holds whose ledger has no 'allocated' row in effect (one allocated
                           before the ledger recorded floating IPs): an 'allocated' row from its allocation time
  unrepairable             what needs a human (unknown tenant or project, an address taken by someone else)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ipam, ledger
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import lease_in
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import LOGIN_USER_RE, required
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reservations import _ledger
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

MiB = 1024 * 1024
GiB = 1024 * MiB
# An unbound lease younger than this is left alone: a run may be between its lease and its clone without a
# reservation in flight (the vm role always holds one; a hand-made lease may not).
LEASE_GRACE = 600.0
DRIFT_KINDS = (
    "expired_reservations",
    "vms_without_reservation",
    "usage_mismatch",
    "moved",
    "power_state",
    "reservations_without_vm",
    "leases_without_vm",
    "vms_without_lease",
    "floating_ips_unbilled",
    "unrepairable",
)


def owner_of(tags: Any) -> tuple[str, str] | None:
    """(tenant, project) from a VM's ic-tenant-<t> and ic-project-<p> tags, or None."""
    return _naming.owner_of_tags(tags)


def cloud_vms(resources: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Every guest of the cluster by VMID (templates left out), with its owner when it is tagged."""
    out = {}
    for item in resources:
        if item.get("type") not in ("qemu", "lxc") or item.get("template") or item.get("vmid") is None:
            continue
        vmid = int(item["vmid"])
        owner = owner_of(item.get("tags"))
        out[vmid] = {
            "vmid": vmid,
            "name": item.get("name") or "vm%d" % vmid,
            "node": item.get("node"),
            "cores": int(item.get("maxcpu") or 0),
            "memory_mb": int(item.get("maxmem") or 0) // MiB,
            "disk_gb": -(-int(item.get("maxdisk") or 0) // GiB),
            "tenant": owner[0] if owner else None,
            "project": owner[1] if owner else None,
            "status": str(item["status"]) if item.get("status") else None,
        }
    return out


def ipconfig_address(config: Mapping[str, Any]) -> str | None:
    match = re.search(r"(?:^|,)ip=([0-9.]+)(?:/[0-9]+)?", str(config.get("ipconfig0") or ""))
    return match.group(1) if match else None


def unleased(store: Store, vms: Mapping[int, Mapping[str, Any]], tenant: str | None) -> list[dict[str, Any]]:
    """The tagged VMs no lease is bound to (whose config reconcile must read)."""

    def work(tx: Tx) -> list[dict[str, Any]]:
        bound = {int(r["vmid"]) for r in tx.all("SELECT vmid FROM leases WHERE vmid IS NOT NULL")}
        return [
            dict(vm)
            for vmid, vm in sorted(vms.items())
            if vm["tenant"] and (tenant is None or vm["tenant"] == tenant) and vmid not in bound
        ]

    return store.run(work, write=False)


def reconcile(
    store: Store,
    resources: Sequence[Mapping[str, Any]],
    config_of: Callable[[str, int], Mapping[str, Any]],
    check_mode: bool,
    now: float,
    tenant: str | None = None,
) -> dict[str, Any]:
    vms = cloud_vms(resources)
    configs: dict[int, Mapping[str, Any]] = {}
    for vm in unleased(store, vms, tenant):
        configs[vm["vmid"]] = config_of(vm["node"], vm["vmid"])

    def work(tx: Tx) -> dict[str, Any]:
        drift: dict[str, list[dict[str, Any]]] = {k: [] for k in DRIFT_KINDS}
        tx.lock("placement")
        scope, params = ("", []) if tenant is None else (" AND tenant = ?", [tenant])
        row: dict[str, Any] | None
        for row in tx.all(
            "SELECT * FROM reservations WHERE state = 'reserved' AND expires <= ?" + scope + " ORDER BY id",
            [now] + params,
        ):
            drift["expired_reservations"].append(
                {
                    "id": row["id"],
                    "tenant": row["tenant"],
                    "project": row["project"],
                    "expired": acct.iso(row["expires"]),
                }
            )
            tx.execute("DELETE FROM reservations WHERE id = ?", (row["id"],))
        known = {(r["tenant"], r["name"]) for r in tx.all("SELECT tenant, name FROM projects")}
        committed = {
            int(r["vmid"]): r for r in tx.all("SELECT * FROM reservations WHERE state = 'committed'" + scope, params)
        }
        for vmid, vm in sorted(vms.items()):
            if not vm["tenant"] or (tenant is not None and vm["tenant"] != tenant):
                continue
            if (vm["tenant"], vm["project"]) not in known:
                drift["unrepairable"].append(
                    {
                        "vmid": vmid,
                        "name": vm["name"],
                        "problem": "tagged for %s/%s, which the store does not know" % (vm["tenant"], vm["project"]),
                    }
                )
                continue
            row = committed.get(vmid)
            if row is None:
                pending = tx.one(
                    "SELECT * FROM reservations WHERE tenant = ? AND project = ? AND name = ? AND "
                    "state = 'reserved' ORDER BY created",
                    (vm["tenant"], vm["project"], vm["name"]),
                )
                if pending is not None:
                    tx.execute(
                        "UPDATE reservations SET state = 'committed', vmid = ?, committed = ?, cores = ?, "
                        "memory_mb = ?, node = ? WHERE id = ?",
                        (vmid, now, vm["cores"], vm["memory_mb"], vm["node"], pending["id"]),
                    )
                    rid = pending["id"]
                else:
                    rid = "vm-%d" % vmid
                    tx.execute("DELETE FROM reservations WHERE id = ?", (rid,))
                    tx.execute(
                        "INSERT INTO reservations (id, tenant, project, name, cores, memory_mb, disk_gb, vms, "
                        "addresses, node, groups, state, created, expires, committed, vmid) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, 1, 0, ?, '', 'committed', ?, ?, ?, ?)",
                        (
                            rid,
                            vm["tenant"],
                            vm["project"],
                            vm["name"],
                            vm["cores"],
                            vm["memory_mb"],
                            vm["disk_gb"],
                            vm["node"],
                            now,
                            now,
                            now,
                            vmid,
                        ),
                    )
                new = required(tx.one("SELECT * FROM reservations WHERE id = ?", (rid,)), "new")
                ledger.record(
                    tx,
                    "vm",
                    "committed",
                    new["tenant"],
                    new["id"],
                    now,
                    source="cloud_reconcile",
                    note="adopted",
                    state=vm["status"],
                    **ledger.vm_fields(new, vmid),
                )
                drift["vms_without_reservation"].append(
                    {
                        "vmid": vmid,
                        "name": vm["name"],
                        "tenant": vm["tenant"],
                        "project": vm["project"],
                        "reservation": rid,
                    }
                )
            else:
                if (int(row["cores"]), int(row["memory_mb"])) != (vm["cores"], vm["memory_mb"]):
                    drift["usage_mismatch"].append(
                        {
                            "vmid": vmid,
                            "reservation": row["id"],
                            "store": {"cores": int(row["cores"]), "memory_mb": int(row["memory_mb"])},
                            "proxmox": {"cores": vm["cores"], "memory_mb": vm["memory_mb"]},
                        }
                    )
                    tx.execute(
                        "UPDATE reservations SET cores = ?, memory_mb = ? WHERE id = ?",
                        (vm["cores"], vm["memory_mb"], row["id"]),
                    )
                    _ledger(
                        tx,
                        "resized",
                        dict(row, cores=vm["cores"], memory_mb=vm["memory_mb"]),
                        vmid,
                        now,
                        "cloud_reconcile",
                    )
                if vm["status"] is not None:
                    last = ledger.previous(tx, "vm", row["tenant"], row["id"], now)
                    recorded_state = (last or {}).get("state") or "running"
                    if last is not None and last["event"] not in ledger.ENDS and recorded_state != vm["status"]:
                        drift["power_state"].append(
                            {"vmid": vmid, "reservation": row["id"], "ledger": recorded_state, "proxmox": vm["status"]}
                        )
                        ledger.record(
                            tx,
                            "vm",
                            "started" if vm["status"] == "running" else "stopped",
                            row["tenant"],
                            row["id"],
                            now,
                            source="cloud_reconcile",
                            note="power state drift",
                            state=vm["status"],
                            vmid=vmid,
                        )
                if row["node"] != vm["node"]:
                    drift["moved"].append(
                        {"vmid": vmid, "reservation": row["id"], "from": row["node"], "to": vm["node"]}
                    )
                    tx.execute("UPDATE reservations SET node = ? WHERE id = ?", (vm["node"], row["id"]))
        for vmid, row in sorted(committed.items()):
            if vmid not in vms:
                drift["reservations_without_vm"].append(
                    {"vmid": vmid, "reservation": row["id"], "tenant": row["tenant"], "project": row["project"]}
                )
                _ledger(tx, "released", row, vmid, now, "cloud_reconcile")
                tx.execute("DELETE FROM reservations WHERE id = ?", (row["id"],))
        for lease in tx.all(
            "SELECT * FROM leases WHERE vmid IS NOT NULL" + scope + " ORDER BY tenant, project, network, owner", params
        ):
            holder = vms.get(int(lease["vmid"]))
            if holder is None or (holder["tenant"], holder["project"]) != (lease["tenant"], lease["project"]):
                drift["leases_without_vm"].append(
                    {k: lease[k] for k in ("tenant", "project", "network", "owner", "address", "vmid")}
                )
                tx.execute(
                    "DELETE FROM leases WHERE tenant = ? AND project = ? AND network = ? AND owner = ?",
                    (lease["tenant"], lease["project"], lease["network"], lease["owner"]),
                )
        in_flight = {
            (r["tenant"], r["project"], r["name"])
            for r in tx.all(
                "SELECT tenant, project, name FROM reservations WHERE state = 'reserved' AND expires > ?" + scope,
                [now] + params,
            )
        }
        existing = {(vm["tenant"], vm["project"], vm["name"]) for vm in vms.values() if vm["tenant"]}
        for lease in tx.all(
            "SELECT * FROM leases WHERE vmid IS NULL" + scope + " ORDER BY tenant, project, network, owner", params
        ):
            if "/" not in lease["owner"] or float(lease["created"]) > now - LEASE_GRACE:
                continue
            owner_vm = (lease["tenant"], lease["project"], acct.vm_of_owner(lease["owner"]))
            if owner_vm in existing or owner_vm in in_flight:
                continue
            drift["leases_without_vm"].append(
                {k: lease[k] for k in ("tenant", "project", "network", "owner", "address", "vmid")}
            )
            tx.execute(
                "DELETE FROM leases WHERE tenant = ? AND project = ? AND network = ? AND owner = ?",
                (lease["tenant"], lease["project"], lease["network"], lease["owner"]),
            )
        bound = {int(r["vmid"]) for r in tx.all("SELECT vmid FROM leases WHERE vmid IS NOT NULL")}
        for vmid, config in sorted(configs.items()):
            vm = vms[vmid]
            if vmid in bound or (vm["tenant"], vm["project"]) not in known:
                continue
            entry = {"vmid": vmid, "name": vm["name"], "tenant": vm["tenant"], "project": vm["project"]}
            address = ipconfig_address(config)
            networks = tx.all(
                "SELECT * FROM networks WHERE tenant = ? AND project = ? ORDER BY name", (vm["tenant"], vm["project"])
            )
            network = next((n for n in networks if address and ipam.overlapping(address + "/32", [n["cidr"]])), None)
            if network is None:
                drift["unrepairable"].append(
                    dict(
                        entry,
                        problem="no lease, and its ipconfig0 address %s is on no network of the project" % address,
                    )
                )
                continue
            try:
                user = config.get("ciuser")  # the login user, when it is one the store takes (else not known)
                login_user = user if isinstance(user, str) and LOGIN_USER_RE.match(user) else None
                result = lease_in(tx, network, "%s/net0" % vm["name"], address, vmid, None, now, login_user)
            except IroncloudError as e:  # the address is taken, or is the gateway or broadcast
                drift["unrepairable"].append(dict(entry, problem="no lease: %s" % e))
                continue
            drift["vms_without_lease"].append(dict(entry, address=result["lease"]["address"], network=network["name"]))
        held = tx.all(
            "SELECT tenant, project, address, created FROM floating_ips ORDER BY tenant, addr_int"
            if tenant is None
            else "SELECT tenant, project, address, created FROM floating_ips WHERE tenant = ? ORDER BY addr_int",
            () if tenant is None else (tenant,),
        )
        for fip in held:
            last = ledger.previous(tx, "floating_ip", fip["tenant"], fip["address"], now)
            if last is not None and last["event"] not in ledger.ENDS:
                continue
            since = max(float(fip["created"]), float(last["at"]) if last is not None else 0.0)
            drift["floating_ips_unbilled"].append(
                {"tenant": fip["tenant"], "project": fip["project"], "address": fip["address"], "since": since}
            )
            ledger.record(
                tx, "floating_ip", "allocated", fip["tenant"], fip["address"], since, recorded=now,
                source="cloud_reconcile", project=fip["project"],
            )  # fmt: skip
        changed = any(drift[k] for k in DRIFT_KINDS if k != "unrepairable")
        tenants = acct.report(tx, now, tenant)
        return {
            "changed": changed,
            "drift": drift,
            "tenants": tenants,
            "msg": "%s drift item(s)%s"
            % (
                sum(len(v) for v in drift.values()),
                "" if not changed else (" would be repaired" if check_mode else " repaired"),
            ),
        }

    return store.run(work, write=True, dry_run=check_mode)


def reconcile_cloud(store: Store, api: Any, check_mode: bool, now: float, tenant: str | None) -> dict[str, Any]:
    """cloud_reconcile: reconcile() on the cluster api reads (one /cluster/resources, a config per unleased VM).

    The diff shows each kind of drift found (before) and none left (after).
    """
    if tenant is not None:
        check_name("tenant", tenant)

    def config_of(node: str, vmid: int) -> Mapping[str, Any]:
        return api.get("nodes/%s/qemu/%d/config" % (node, vmid)) or {}

    result = reconcile(store, api.resources(), config_of, check_mode, now, tenant)
    found = {k: v for k, v in result["drift"].items() if v and k != "unrepairable"}
    result["diff"] = {"before": found, "after": {k: [] for k in found}}
    return result
