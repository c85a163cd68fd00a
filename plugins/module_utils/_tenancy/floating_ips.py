# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_floating_ip: allocate a floating IP from a provider network's pool, associate it, move it, release it.

Which floating IP a call means: O(address) when given, else the one associated with the VM (O(vm) or
O(fixed_address)); a VM without one gets a new one. The fixed address is the VM's lease in the project (owner
<vm>/<nic>); its network must be attached to a router of the project with an external address (the router the
floating IP's DNAT and SNAT live in). A VM has at most one floating IP per fixed address. Allocation happens in
one transaction holding the tenant's row and then the provider network's row, so parallel runs never hand out one
address twice; the tenant's quota key floating_ips counts every floating IP it holds.

Billing: the transaction that allocates a floating IP writes the ledger row floating_ip "allocated" (resource = the
address, project = the holder's project), the one that releases it "released" (ledger.py). Associating, moving or
disassociating a floating IP it already holds writes no row: the tenant is billed for holding the address, whatever
it points at. Check mode rolls the transaction back, rows included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ipam, ledger
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    Conflict,
    NotFound,
    check_owner,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.providers import (
    DEFAULT_PROVIDER,
    allocate,
    get_provider,
    parse_ip,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx


def view(row: Mapping[str, Any], router: str | None = None) -> dict[str, Any]:
    return {
        "address": row["address"],
        "provider": row["provider"],
        "tenant": row["tenant"],
        "project": row["project"],
        "vm": row["vm"],
        "network": row["network"],
        "fixed_address": row["fixed_address"],
        "router": router,
    }


def router_of(tx: Tx, tenant: str, project: str, network: str | None) -> dict[str, Any] | None:
    """The router (a row) the network is attached to, or None."""
    if network is None:
        return None
    return tx.one(
        "SELECT r.* FROM routers r JOIN router_networks n ON n.tenant = r.tenant AND n.project = r.project "
        "AND n.router = r.name WHERE n.tenant = ? AND n.project = ? AND n.network = ?",
        (tenant, project, network),
    )


def target_of(tx: Tx, tenant: str, project: str, vm: str | None, fixed: int | None, nic: str) -> dict[str, Any] | None:
    """The lease to associate with: {vm, network, fixed_address}, or None when neither vm nor fixed is given."""
    if vm is None and fixed is None:
        return None
    if fixed is not None:
        rows = tx.all(
            "SELECT owner, network, address FROM leases WHERE tenant = ? AND project = ? AND addr_int = ?",
            (tenant, project, fixed),
        )
        if vm is not None:
            rows = [r for r in rows if acct.vm_of_owner(r["owner"]) == vm]
        if not rows:
            raise NotFound(
                "fixed_address: %s is not an address leased%s in %s/%s"
                % (ipam.to_str(fixed), " to VM %s" % vm if vm else "", tenant, project),
                option="fixed_address",
            )
        if len(rows) > 1:
            raise Conflict(
                "fixed_address: %s is leased on several networks of %s/%s (%s): give vm as well"
                % (ipam.to_str(fixed), tenant, project, ", ".join(sorted(r["network"] for r in rows))),
                option="fixed_address",
            )
    else:
        rows = tx.all(
            "SELECT owner, network, address FROM leases WHERE tenant = ? AND project = ? AND owner = ?",
            (tenant, project, "%s/%s" % (vm, nic)),
        )
        if not rows:
            raise NotFound(
                "vm: %s holds no address (owner %s/%s) in %s/%s" % (vm, vm, nic, tenant, project), option="vm"
            )
        if len(rows) > 1:
            raise Conflict(
                "vm: %s/%s has addresses on several networks of %s/%s: give fixed_address" % (vm, nic, tenant, project),
                option="vm",
            )
    lease = rows[0]
    return {"vm": acct.vm_of_owner(lease["owner"]), "network": lease["network"], "fixed_address": lease["address"]}


def ensure_floating_ip(
    store: Store, params: Mapping[str, Any], check_mode: bool, now: float, source: str = "cloud_floating_ip"
) -> dict[str, Any]:
    """The floating IP of params in state present or absent; source is the module named in its ledger rows."""
    tenant = check_name("tenant", params.get("tenant"))
    project = check_name("project", params.get("project"))
    provider_name = check_name("provider", params.get("provider") or DEFAULT_PROVIDER)
    state = params.get("state") or "present"
    address = parse_ip("address", params["address"]) if params.get("address") else None
    vm = check_name("vm", params["vm"]) if params.get("vm") else None
    nic = check_owner("nic", params.get("nic") or "net0")
    fixed = parse_ip("fixed_address", params["fixed_address"]) if params.get("fixed_address") else None
    if address is None and vm is None and fixed is None:
        raise ValidationError("address: give address, vm or fixed_address (which floating IP)", option="address")
    scope = "%s/%s" % (tenant, project)

    def foreign(row: Mapping[str, Any]) -> Conflict:
        if row["tenant"] != tenant:
            return Conflict(
                "address: %s is a floating IP of another tenant" % row["address"], option="address", tenant=tenant
            )
        return Conflict(
            "address: %s is a floating IP of project %s/%s, not %s" % (row["address"], tenant, row["project"], scope),
            option="address",
        )

    def work(tx: Tx) -> dict[str, Any]:
        quota_row = acct.tenant_row(tx, tenant, lock=True)
        acct.project_exists(tx, tenant, project)
        provider = get_provider(tx, provider_name, lock=True)
        target = target_of(tx, tenant, project, vm, fixed, nic) if state == "present" else None
        row: dict[str, Any] | None = None
        if address is not None:
            row = tx.one("SELECT * FROM floating_ips WHERE provider = ? AND addr_int = ?", (provider_name, address))
            if row is not None and (row["tenant"], row["project"]) != (tenant, project):
                raise foreign(row)
        elif target is not None:
            row = tx.one(
                "SELECT * FROM floating_ips WHERE tenant = ? AND project = ? AND network = ? AND fixed_address = ?",
                (tenant, project, target["network"], target["fixed_address"]),
            )
        else:
            where = "tenant = ? AND project = ? AND provider = ?"
            args: list[Any] = [tenant, project, provider_name]
            if vm is not None:
                where += " AND vm = ?"
                args.append(vm)
            if fixed is not None:
                where += " AND fixed_address = ?"
                args.append(ipam.to_str(fixed))
            rows = tx.all("SELECT * FROM floating_ips WHERE " + where + " ORDER BY addr_int", args)
            row = rows[0] if rows else None
        before = None if row is None else view(row, None)
        if state == "absent":
            if row is None:
                return {"changed": False, "floating_ip": None, "diff": Diff().as_dict(), "msg": "no such floating IP"}
            tx.execute("DELETE FROM floating_ips WHERE provider = ? AND addr_int = ?", (provider_name, row["addr_int"]))
            ledger.record(tx, "floating_ip", "released", tenant, row["address"], now, source=source, project=project)
            return {
                "changed": True,
                "floating_ip": None,
                "diff": {"before": before or {}, "after": {}},
                "msg": "floating IP %s %s" % (row["address"], "would be released" if check_mode else "released"),
            }
        router = None
        if target is not None:
            router = router_of(tx, tenant, project, target["network"])
            if router is None or not router["external"]:
                raise Conflict(
                    "vm: network %s of %s/%s (%s's address %s) is not attached to a router with an external address "
                    "(cloud_router networks, external: true)"
                    % (target["network"], tenant, project, target["vm"], target["fixed_address"]),
                    option="vm",
                )
            holder = tx.one(
                "SELECT address FROM floating_ips WHERE tenant = ? AND project = ? AND network = ? "
                "AND fixed_address = ?",
                (tenant, project, target["network"], target["fixed_address"]),
            )
            if holder is not None and (row is None or holder["address"] != row["address"]):
                raise Conflict(
                    "vm: %s (%s) already has floating IP %s: release it or move it first"
                    % (target["vm"], target["fixed_address"], holder["address"]),
                    option="vm",
                )
        created = row is None
        if row is None:
            acct.check_quota(tx, quota_row, {"floating_ips": 1}, now)
            value = allocate(tx, provider, address, option="address")
            tx.execute(
                "INSERT INTO floating_ips (provider, address, addr_int, tenant, project, vm, network, fixed_address, "
                "created) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?)",
                (provider_name, ipam.to_str(value), value, tenant, project, now),
            )
            row = tx.written("SELECT * FROM floating_ips WHERE provider = ? AND addr_int = ?", (provider_name, value))
            ledger.record(tx, "floating_ip", "allocated", tenant, row["address"], now, source=source, project=project)
        want = target or {"vm": None, "network": None, "fixed_address": None}
        if (row["vm"], row["network"], row["fixed_address"]) != (want["vm"], want["network"], want["fixed_address"]):
            tx.execute(
                "UPDATE floating_ips SET vm = ?, network = ?, fixed_address = ? WHERE provider = ? AND addr_int = ?",
                (want["vm"], want["network"], want["fixed_address"], provider_name, row["addr_int"]),
            )
            row = dict(row, **want)
        after = view(row, router["name"] if router else None)
        diff = Diff()
        for field in ("address", "vm", "network", "fixed_address"):
            diff.compare(field, None if created or before is None else before[field], after[field])
        if created:
            verb = "allocated"
        elif before and before["fixed_address"] and before["fixed_address"] != after["fixed_address"]:
            verb = "moved" if after["fixed_address"] else "disassociated"
        else:
            verb = "associated" if diff.changed else "unchanged"
        text = "floating IP %s %s%s" % (after["address"], "would be " if check_mode and diff.changed else "", verb)
        if after["fixed_address"]:
            text += " -> %s (%s)" % (after["fixed_address"], after["vm"])
        return {
            "changed": diff.changed,
            "floating_ip": after,
            "address": after["address"],
            "diff": diff.as_dict(),
            "msg": text,
        }

    return store.run(work, write=True, dry_run=check_mode)
