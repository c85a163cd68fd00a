# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quota accounting: what a tenant (or project) uses, has reserved, and has left.

used      cores, memory_mb, disk_gb, vms: committed reservations (the VMs that exist); networks: project networks;
          addresses: address leases; storage_gb: what the tenant's Ceph pool stores, rounded up to whole GiB, when the
          caller reads the pools (usage_info's stored_bytes; the pool's quota is what Ceph enforces), else 0.
          floating_ips: floating IPs allocated (associated or not; a router's external address does not count).
reserved  the same sizes of reservations in flight: state reserved and not expired. Expired ones count nowhere.
          A reservation's addresses are those its VM has not leased yet: a lease whose owner is <vm>/<nic> consumes
          an address of the in-flight reservation of the same tenant, project and VM name (so it never counts twice).
free      quota - used - reserved, or None where the quota is not set (unlimited).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming as naming
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    QUOTA_KEYS,
    NotFound,
    QuotaExceeded,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

SIZES = ("cores", "memory_mb", "disk_gb", "vms")
GiB = 1024**3


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    utc = datetime.timezone.utc  # noqa: UP017 - modules may run on Python < 3.11
    return datetime.datetime.fromtimestamp(float(epoch), utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tenant_row(tx: Tx, name: str, lock: bool = False) -> dict[str, Any]:
    sql = "SELECT * FROM tenants WHERE name = ?"
    row = tx.one_for_update(sql, (name,)) if lock else tx.one(sql, (name,))
    if row is None:
        raise NotFound(
            "tenant: %r does not exist (create it with ironcloud.stack.cloud_tenant)" % name, option="tenant"
        )
    return row


def project_exists(tx: Tx, tenant: str, project: str) -> None:
    if tx.one("SELECT name FROM projects WHERE tenant = ? AND name = ?", (tenant, project)) is None:
        known = [r["name"] for r in tx.all("SELECT name FROM projects WHERE tenant = ? ORDER BY name", (tenant,))]
        raise NotFound(
            "project: %r is not a project of tenant %s (projects: %s; add it with cloud_tenant's "
            "projects option)" % (project, tenant, ", ".join(known) or "none"),
            option="project",
        )


def quota_of(row: Mapping[str, Any]) -> dict[str, int | None]:
    return {key: (None if row.get("q_" + key) is None else int(row["q_" + key])) for key in QUOTA_KEYS}


def vm_of_owner(owner: str) -> str:
    """The VM an address owner names: web1 for web1/net0 (an owner without '/' is its own name)."""
    return owner.split("/", 1)[0]


def _flight_addresses(
    tx: Tx, scope: str, params: list[Any], now: float, exclude: str | None
) -> dict[tuple[str, str], int]:
    """{(project, vm name): addresses its reservations in flight hold that its leases have not consumed yet}."""
    where = scope + " AND state = 'reserved' AND expires > ? AND addresses > 0 AND name IS NOT NULL"
    args = params + [now]
    if exclude is not None:
        where += " AND id != ?"
        args.append(exclude)
    held: dict[tuple[str, str], int] = {}
    for r in tx.all("SELECT project, name, addresses FROM reservations WHERE " + where, args):
        key = (r["project"], r["name"])
        held[key] = held.get(key, 0) + int(r["addresses"])
    if not held:
        return {}
    leased: dict[tuple[str, str], int] = {}
    for r in tx.all("SELECT project, owner FROM leases WHERE " + scope, params):
        key = (r["project"], vm_of_owner(r["owner"]))
        leased[key] = leased.get(key, 0) + 1
    return {key: max(0, n - leased.get(key, 0)) for key, n in held.items()}


def reserved_addresses_left(tx: Tx, tenant: str, project: str, owner: str, now: float) -> int:
    """How many addresses the in-flight reservation of the owner's VM still holds for it (0 without one)."""
    left = _flight_addresses(tx, "tenant = ? AND project = ?", [tenant, project], now, None)
    return left.get((project, vm_of_owner(owner)), 0)


def _sums(tx: Tx, where: str, params: list[Any]) -> dict[str, int]:
    row = (
        tx.one(
            "SELECT COALESCE(SUM(cores), 0) AS cores, COALESCE(SUM(memory_mb), 0) AS memory_mb, "
            "COALESCE(SUM(disk_gb), 0) AS disk_gb, COALESCE(SUM(vms), 0) AS vms, "
            "COALESCE(SUM(addresses), 0) AS addresses FROM reservations WHERE " + where,
            params,
        )
        or {}
    )
    return {k: int(v or 0) for k, v in row.items()}


def counts(
    tx: Tx, tenant: str, now: float, project: str | None = None, exclude_reservation: str | None = None
) -> dict[str, dict[str, int]]:
    """{'used': {...}, 'reserved': {...}} for the tenant, or one of its projects (without one reservation)."""
    scope = "tenant = ?" + (" AND project = ?" if project is not None else "")
    params: list[Any] = [tenant] + ([project] if project is not None else [])
    committed = _sums(tx, scope + " AND state = 'committed'", params)
    if exclude_reservation is None:
        flight = _sums(tx, scope + " AND state = 'reserved' AND expires > ?", params + [now])
    else:
        flight = _sums(
            tx, scope + " AND state = 'reserved' AND expires > ? AND id != ?", params + [now, exclude_reservation]
        )
    flight["addresses"] = sum(_flight_addresses(tx, scope, params, now, exclude_reservation).values())
    networks = int(tx.value("SELECT COUNT(*) FROM networks WHERE " + scope, params) or 0)
    addresses = int(tx.value("SELECT COUNT(*) FROM leases WHERE " + scope, params) or 0)
    floating_ips = int(tx.value("SELECT COUNT(*) FROM floating_ips WHERE " + scope, params) or 0)
    used = {k: committed[k] for k in SIZES}
    used.update(networks=networks, addresses=addresses, storage_gb=0, floating_ips=floating_ips)
    reserved = {k: flight[k] for k in SIZES}
    reserved.update(networks=0, addresses=flight["addresses"], storage_gb=0, floating_ips=0)
    return {"used": used, "reserved": reserved}


def usage(tx: Tx, row: Mapping[str, Any], now: float) -> dict[str, Any]:
    quota = quota_of(row)
    c = counts(tx, row["name"], now)
    free = {k: (None if (q := quota[k]) is None else q - c["used"][k] - c["reserved"][k]) for k in QUOTA_KEYS}
    return {"quota": quota, "used": c["used"], "reserved": c["reserved"], "free": free}


def check_quota(
    tx: Tx, row: Mapping[str, Any], want: Mapping[str, int], now: float, exclude_reservation: str | None = None
) -> None:
    """QuotaExceeded naming the first resource that used + reserved + want would take over the tenant's quota."""
    quota = quota_of(row)
    if all(quota.get(k) is None for k in want):
        return
    c = counts(tx, row["name"], now, exclude_reservation=exclude_reservation)
    for key in QUOTA_KEYS:
        limit = quota[key]
        if key not in want or limit is None or not want[key]:
            continue
        total = c["used"][key] + c["reserved"][key] + int(want[key])
        if total > limit:
            raise QuotaExceeded(
                "quota exceeded for tenant %s: %s %d > %d" % (row["name"], key, total, limit),
                tenant=row["name"],
                resource=key,
                requested=int(want[key]),
                quota=quota[key],
                used=c["used"][key],
                reserved=c["reserved"][key],
            )


def report(tx: Tx, now: float, tenant: str | None = None, project: str | None = None) -> list[dict[str, Any]]:
    """cloud_usage_info: per tenant (and its projects) quota, used, reserved, free."""
    rows = [tenant_row(tx, tenant)] if tenant is not None else tx.all("SELECT * FROM tenants ORDER BY name")
    out = []
    for row in rows:
        entry: dict[str, Any] = {"name": row["name"]}
        entry.update(usage(tx, row, now))
        projects = [
            r["name"] for r in tx.all("SELECT name FROM projects WHERE tenant = ? ORDER BY name", (row["name"],))
        ]
        if project is not None:
            if project not in projects:
                project_exists(tx, row["name"], project)
            projects = [project]
        entry["projects"] = []
        for name in projects:
            pc = counts(tx, row["name"], now, project=name)
            networks = tx.all(
                "SELECT name, vni, cidr, gateway, tag, mtu FROM networks WHERE tenant = ? AND "
                "project = ? ORDER BY name",
                (row["name"], name),
            )
            entry["projects"].append(
                {"name": name, "used": pc["used"], "reserved": pc["reserved"], "networks": networks}
            )
        out.append(entry)
    return out


def with_storage(entry: dict[str, Any], stored: Mapping[str, int]) -> dict[str, Any]:
    """entry (a tenant of report()) with used and free storage_gb from its Ceph pool's stored bytes."""
    pool = naming.ceph_pool(entry["name"])
    used_gb = -(-int(stored.get(pool, 0)) // GiB)
    entry["used"] = dict(entry["used"], storage_gb=used_gb)
    quota = entry["quota"].get("storage_gb")
    free = None if quota is None else quota - used_gb - entry["reserved"]["storage_gb"]
    entry["free"] = dict(entry["free"], storage_gb=free)
    return entry


def usage_info(
    store: Store,
    now: float,
    tenant: str | None,
    project: str | None,
    stored_bytes: Callable[[], Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """cloud_usage_info: every tenant's (or one tenant's, or one project's) quota, usage, reservations and free.

    stored_bytes, when given, reads the bytes each Ceph pool stores (once): a tenant's storage_gb is its pool's.
    """
    if tenant is not None:
        check_name("tenant", tenant)
    if project is not None:
        check_name("project", project)
    tenants = store.run(lambda tx: report(tx, now, tenant, project), write=False)
    if stored_bytes is not None:
        stored = stored_bytes()
        tenants = [with_storage(entry, stored) for entry in tenants]
    return {"changed": False, "tenants": tenants}
