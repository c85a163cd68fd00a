# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_reservation: reserve (quota check and placement in one transaction), commit (bind the VMID), release.

A reservation holds cores, memory, disk, one VM and its addresses for a tenant's project on one node until it
expires (ttl) or is committed. Expired reservations count nowhere: not against the quota, not on the node.
Placement runs inside the transaction that holds the 'placement' lock, and subtracts every reservation in
flight: so 50 parallel reservations see each other and spread over the nodes.
Committing records a 'committed' event in the usage ledger, releasing a committed one a 'released' event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.nodes import node_summaries
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ledger, scheduler
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    RESERVATION_ID_RE,
    Conflict,
    NotFound,
    check_int,
    required,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

DEFAULT_TTL = 900
# Seconds between a VM's creation and its reservation's commit that a /cluster/resources answer may lag behind.
COMMIT_LAG = 600


class Cluster:
    """What placement reads from one /cluster/resources answer."""

    def __init__(self, resources: Sequence[Mapping[str, Any]]) -> None:
        self.nodes = node_summaries(resources)
        self.tags = scheduler.node_tags(resources)
        self.taken = time.time()
        self.vmids: set[int] = {
            int(r["vmid"]) for r in resources if r.get("type") in ("qemu", "lxc") and r.get("vmid") is not None
        }


def view(row: Mapping[str, Any], now: float) -> dict[str, Any]:
    state = row["state"]
    if state == "reserved" and float(row["expires"]) <= now:
        state = "expired"
    return {
        "id": row["id"],
        "tenant": row["tenant"],
        "project": row["project"],
        "name": row["name"],
        "node": row["node"],
        "cores": int(row["cores"]),
        "memory_mb": int(row["memory_mb"]),
        "disk_gb": int(row["disk_gb"]),
        "vms": int(row["vms"]),
        "addresses": int(row["addresses"]),
        "anti_affinity": [t for t in (row["groups"] or "").split(",") if t],
        "state": state,
        "expires": acct.iso(row["expires"]) if row["state"] == "reserved" else None,
        "created": acct.iso(row["created"]),
        "committed": acct.iso(row["committed"]),
        "vmid": row["vmid"],
    }


def in_flight(
    tx: Tx, now: float, cluster_vmids: set[int], since: float | None = None, skip_moves_of: str | None = None
) -> list[scheduler.InFlight]:
    """Reservations placed on a node whose VM /cluster/resources does not show yet.

    Reserved and not expired ones (summed per node and anti-affinity tags in SQL), and committed ones whose VMID
    the cluster answer (read before this transaction) did not contain: only those committed after `since` (the
    answer's time minus COMMIT_LAG), since an older VM missing from the answer is gone, not on its way.
    And the moves of node drains not finished (drain.py): a planned one on its target, a returning one on the
    drained node (except the moves of node skip_moves_of, which its drain plans anew).
    """
    out = []
    for row in tx.all(
        "SELECT node, groups, SUM(cores) AS cores, SUM(memory_mb) AS memory_mb FROM reservations "
        "WHERE node IS NOT NULL AND state = 'reserved' AND expires > ? GROUP BY node, groups",
        (now,),
    ):
        out.append(scheduler.InFlight(row["node"], int(row["cores"]), int(row["memory_mb"]), _groups(row["groups"])))
    for row in tx.all(
        "SELECT node, groups, cores, memory_mb, vmid FROM reservations WHERE node IS NOT NULL "
        "AND state = 'committed' AND committed >= ?",
        (now - COMMIT_LAG if since is None else since,),
    ):
        if row["vmid"] is not None and int(row["vmid"]) not in cluster_vmids:
            out.append(
                scheduler.InFlight(row["node"], int(row["cores"]), int(row["memory_mb"]), _groups(row["groups"]))
            )
    for row in tx.all(
        "SELECT node, target, state, cores, memory_mb, tags FROM node_moves WHERE state IN ('planned', 'returning')"
    ):
        if row["node"] == skip_moves_of:
            continue
        where = row["target"] if row["state"] == "planned" else row["node"]
        out.append(scheduler.InFlight(where, int(row["cores"]), int(row["memory_mb"]), _groups(row["tags"])))
    return out


def _groups(value: str | None) -> tuple[str, ...]:
    return tuple(t for t in (value or "").split(",") if t)


def maintenance_nodes(tx: Tx) -> set[str]:
    return {r["node"] for r in tx.all("SELECT node FROM node_flags WHERE maintenance <> 0")}


def _ledger(
    tx: Tx, event: str, row: Mapping[str, Any], vmid: int | None, now: float, source: str | None = None
) -> None:
    """A row of the usage ledger for the reservation's VM (ledger.record with the reservation's sizes)."""
    ledger.record(tx, "vm", event, row["tenant"], row["id"], now, source=source, **ledger.vm_fields(row, vmid))


def _sizes(params: Mapping[str, Any]) -> dict[str, int]:
    sizes = {}
    for key, minimum, default in (("cores", 1, None), ("memory_mb", 16, None), ("disk_gb", 0, 0), ("addresses", 0, 1)):
        value = params.get(key)
        if value is None:
            if default is None:
                raise ValidationError("%s is required to reserve" % key, option=key)
            value = default
        checked = required(check_int(key, value, minimum), "checked")
        sizes[key] = checked
    return sizes


def policy_of(params: Mapping[str, Any]) -> scheduler.Policy:
    cpu = float(params.get("cpu_allocation_ratio") or 4.0)
    ram = float(params.get("ram_allocation_ratio") or 1.0)
    for option, value in (("cpu_allocation_ratio", cpu), ("ram_allocation_ratio", ram)):
        if value <= 0:
            raise ValidationError("%s: must be above 0, got %s" % (option, value), option=option)
    reserved = check_int("reserved_host_memory_mb", params.get("reserved_host_memory_mb") or 0, 0)
    return scheduler.Policy(cpu, ram, reserved or 0)


def ensure_reservation(
    store: Store, params: Mapping[str, Any], cluster: Callable[[], Cluster], check_mode: bool, now: float
) -> dict[str, Any]:
    state = params.get("state") or "present"
    rid = params.get("id")
    if rid is not None and not RESERVATION_ID_RE.match(str(rid)):
        raise ValidationError(
            "id: %r is not a valid reservation id (letters, digits, '.', '_', '-')" % rid, option="id"
        )
    vmid = check_int("vmid", params.get("vmid"), 100, 999999999, allow_none=True)
    if state == "present":
        return _reserve(store, params, rid, cluster, check_mode, now)
    if state == "committed":
        if rid is None or vmid is None:
            raise ValidationError("state=committed needs id and vmid", option="id" if rid is None else "vmid")
        return _commit(store, rid, vmid, check_mode, now)
    if rid is None and vmid is None:
        raise ValidationError("state=absent needs id (or the vmid of a committed reservation)", option="id")
    return _release(store, rid, vmid, params.get("tenant"), check_mode, now)


def _reserve(
    store: Store,
    params: Mapping[str, Any],
    rid: str | None,
    cluster: Callable[[], Cluster],
    check_mode: bool,
    now: float,
) -> dict[str, Any]:
    tenant = check_name("tenant", params.get("tenant"))
    project = check_name("project", params.get("project"))
    name = params.get("name")
    if name is not None:
        name = str(name)
    sizes = _sizes(params)
    ttl = required(
        check_int("ttl", params.get("ttl") if params.get("ttl") is not None else DEFAULT_TTL, 1, 7 * 86400), "ttl"
    )
    groups = sorted({str(t) for t in params.get("anti_affinity") or []})
    for tag in groups:
        if "," in tag or not tag:
            raise ValidationError("anti_affinity: %r is not a tag" % tag, option="anti_affinity")
    policy = policy_of(params)
    request = scheduler.Request(sizes["cores"], sizes["memory_mb"], tuple(groups), params.get("node"))

    def existing(tx: Tx) -> dict[str, Any] | None:
        return tx.one("SELECT * FROM reservations WHERE id = ?", (rid,)) if rid is not None else None

    def unchanged(have: Mapping[str, Any]) -> dict[str, Any] | None:
        if have["tenant"] != tenant or have["project"] != project:
            raise Conflict("id: reservation %s belongs to %s/%s" % (rid, have["tenant"], have["project"]), option="id")
        if have["state"] == "committed" or float(have["expires"]) > now:
            return {
                "changed": False,
                "reservation": view(have, now),
                "diff": {"before": {}, "after": {}},
                "msg": "reservation %s exists (%s)" % (rid, have["state"]),
            }
        return None

    # Read Proxmox outside the transaction (no lock is held during the HTTP request), unless nothing is to do.
    before = store.run(existing, write=False)
    if before is not None:
        answer = unchanged(before)
        if answer is not None:
            return answer
    snapshot = cluster()

    def work(tx: Tx) -> dict[str, Any]:
        tx.lock("placement")
        have = existing(tx)
        if have is not None:
            answer = unchanged(have)
            if answer is not None:
                return answer
        row = acct.tenant_row(tx, tenant, lock=True)
        acct.project_exists(tx, tenant, project)
        if have is not None:  # expired: replaced by a fresh one
            tx.execute("DELETE FROM reservations WHERE id = ? AND state = 'reserved'", (rid,))
        acct.check_quota(
            tx,
            row,
            {
                "cores": sizes["cores"],
                "memory_mb": sizes["memory_mb"],
                "disk_gb": sizes["disk_gb"],
                "vms": 1,
                "addresses": sizes["addresses"],
            },
            now,
        )
        flight = in_flight(tx, now, snapshot.vmids, snapshot.taken - COMMIT_LAG)
        placement = scheduler.place(snapshot.nodes, request, flight, snapshot.tags, maintenance_nodes(tx), policy)
        new_id = rid or uuid.uuid4().hex
        tx.execute(
            "INSERT INTO reservations (id, tenant, project, name, cores, memory_mb, disk_gb, vms, addresses, "
            "node, groups, state, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, 'reserved', ?, ?)",
            (
                new_id,
                tenant,
                project,
                name,
                sizes["cores"],
                sizes["memory_mb"],
                sizes["disk_gb"],
                sizes["addresses"],
                placement.node,
                ",".join(groups),
                now,
                now + ttl,
            ),
        )
        created = required(tx.one("SELECT * FROM reservations WHERE id = ?", (new_id,)), "created")
        result = view(created, now)
        diff = Diff()
        diff.compare("reservation", view(have, now) if have else None, result)
        return {
            "changed": True,
            "reservation": result,
            "placement": placement.as_dict(),
            "diff": diff.as_dict(),
            "msg": "%s on %s for %s/%s"
            % ("would reserve" if check_mode else "reserved", placement.node, tenant, project),
        }

    return store.run(work, write=True, dry_run=check_mode)


def _commit(store: Store, rid: str, vmid: int, check_mode: bool, now: float) -> dict[str, Any]:
    def work(tx: Tx) -> dict[str, Any]:
        have = tx.one_for_update("SELECT * FROM reservations WHERE id = ?", (rid,))
        if have is None:
            raise NotFound("id: no reservation %s (it was released, or expired and cleared)" % rid, option="id")
        if have["state"] == "committed":
            if int(have["vmid"]) != vmid:
                raise Conflict(
                    "vmid: reservation %s is committed to VM %s, not %d" % (rid, have["vmid"], vmid), option="vmid"
                )
            return {
                "changed": False,
                "reservation": view(have, now),
                "diff": {"before": {}, "after": {}},
                "msg": "reservation %s already committed to VM %d" % (rid, vmid),
            }
        other = tx.one("SELECT id FROM reservations WHERE vmid = ? AND state = 'committed'", (vmid,))
        if other is not None:
            raise Conflict(
                "vmid: VM %d is already the committed VM of reservation %s" % (vmid, other["id"]), option="vmid"
            )
        if float(have["expires"]) <= now:
            # Expired while the VM was being made: commit only if the tenant's quota still has room.
            row = acct.tenant_row(tx, have["tenant"], lock=True)
            acct.check_quota(tx, row, {k: int(have[k]) for k in ("cores", "memory_mb", "disk_gb", "vms")}, now)
        tx.execute(
            "UPDATE reservations SET state = 'committed', vmid = ?, committed = ? WHERE id = ?", (vmid, now, rid)
        )
        _ledger(tx, "committed", have, vmid, now, "cloud_reservation")
        after = required(tx.one("SELECT * FROM reservations WHERE id = ?", (rid,)), "after")
        diff = Diff()
        diff.compare("state", view(have, now)["state"], "committed")
        diff.compare("vmid", have["vmid"], vmid)
        return {
            "changed": True,
            "reservation": view(after, now),
            "diff": diff.as_dict(),
            "msg": "reservation %s %s to VM %d" % (rid, "would be committed" if check_mode else "committed", vmid),
        }

    return store.run(work, write=True, dry_run=check_mode)


def _release(
    store: Store, rid: str | None, vmid: int | None, tenant: str | None, check_mode: bool, now: float
) -> dict[str, Any]:
    def work(tx: Tx) -> dict[str, Any]:
        if rid is not None:
            have = tx.one_for_update("SELECT * FROM reservations WHERE id = ?", (rid,))
        else:
            have = tx.one_for_update("SELECT * FROM reservations WHERE vmid = ? AND state = 'committed'", (vmid,))
        if have is None:
            return {
                "changed": False,
                "reservation": None,
                "diff": {"before": {}, "after": {}},
                "msg": "no reservation %s" % (rid or "for VM %s" % vmid),
            }
        if tenant is not None and have["tenant"] != tenant:
            raise Conflict("tenant: reservation %s belongs to another tenant" % have["id"], option="tenant")
        if have["state"] == "committed":
            _ledger(tx, "released", have, have["vmid"], now, "cloud_reservation")
        tx.execute("DELETE FROM reservations WHERE id = ?", (have["id"],))
        diff = Diff()
        diff.compare("reservation", view(have, now), None)
        return {
            "changed": True,
            "reservation": None,
            "released": view(have, now),
            "diff": diff.as_dict(),
            "msg": "reservation %s %s" % (have["id"], "would be released" if check_mode else "released"),
        }

    return store.run(work, write=True, dry_run=check_mode)
