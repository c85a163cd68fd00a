# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_router: a project's router in the state store, idempotent by (tenant, project, name).

A router attaches networks of its own project only (a network has at most one router: the router holds the
network's gateway address), optionally takes an external address from a provider network's pool and does SNAT
for its networks. What the network node needs to build it (ovs_router) is returned under `router`: the networks
with their subnets, gateways and tags, the external address and gateway, and the floating IPs that go through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ipam
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import Conflict, NotFound
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.providers import (
    DEFAULT_PROVIDER,
    allocate,
    get_provider,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx


def attached(tx: Tx, tenant: str, project: str, router: str) -> list[str]:
    rows = tx.all(
        "SELECT network FROM router_networks WHERE tenant = ? AND project = ? AND router = ? ORDER BY network",
        (tenant, project, router),
    )
    return [r["network"] for r in rows]


def floating_ips_through(tx: Tx, tenant: str, project: str, networks: list[str]) -> list[dict[str, Any]]:
    """The associated floating IPs whose fixed address is on one of networks (ordered by address)."""
    if not networks:
        return []
    marks = ", ".join("?" * len(networks))
    return tx.all(
        "SELECT address, fixed_address, vm, network FROM floating_ips WHERE tenant = ? AND project = ? "
        "AND fixed_address IS NOT NULL AND network IN (%s) ORDER BY addr_int" % marks,
        [tenant, project] + networks,
    )


def view(tx: Tx, row: Mapping[str, Any]) -> dict[str, Any]:
    """The router as cloud_router returns it: everything ovs_router needs."""
    tenant, project, name = row["tenant"], row["project"], row["name"]
    names = attached(tx, tenant, project, name)
    networks = []
    for network in names:
        net = tx.one("SELECT * FROM networks WHERE tenant = ? AND project = ? AND name = ?", (tenant, project, network))
        if net is not None:
            networks.append(
                {
                    "name": network,
                    "cidr": net["cidr"],
                    "gateway": net["gateway"],
                    "tag": int(net["tag"]),
                    "mtu": int(net["mtu"]),
                }
            )
    external_address = external_gateway = None
    if row["external_address"] is not None and row["provider"] is not None:
        provider = tx.one("SELECT * FROM provider_networks WHERE name = ?", (row["provider"],))
        if provider is not None:
            external_address = "%s/%s" % (row["external_address"], provider["cidr"].split("/")[1])
            external_gateway = provider["gateway"]
    external = bool(row["external"])
    return {
        "tenant": tenant,
        "project": project,
        "name": name,
        "namespace": _naming.router_namespace(tenant, project, name),
        "networks": networks,
        "external": external,
        "snat": bool(row["snat"]),
        "provider": row["provider"],
        "external_address": external_address,
        "external_gateway": external_gateway,
        "floating_ips": [
            {"address": f["address"], "fixed": f["fixed_address"], "vm": f["vm"], "network": f["network"]}
            for f in (floating_ips_through(tx, tenant, project, names) if external else [])
        ],
    }


def summary(view_: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of a router the diff shows."""
    if view_ is None:
        return {}
    return {
        "networks": [n["name"] for n in view_["networks"]],
        "external": view_["external"],
        "snat": view_["snat"],
        "provider": view_["provider"],
        "external_address": view_["external_address"],
    }


def check_networks(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError("networks: must be a list of network names", option="networks")
    names = [check_name("networks[%d]" % i, v) for i, v in enumerate(value)]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ValidationError("networks[%d]: %r is listed twice" % (i, name), option="networks")
    return sorted(names)


def ensure_router(store: Store, params: Mapping[str, Any], check_mode: bool, now: float) -> dict[str, Any]:
    tenant = check_name("tenant", params.get("tenant"))
    project = check_name("project", params.get("project"))
    name = check_name("name", params.get("name"))
    provider_name = check_name("provider", params.get("provider") or DEFAULT_PROVIDER)
    state = params.get("state") or "present"
    networks = check_networks(params.get("networks"))
    external = bool(params.get("external"))
    snat = params.get("snat")
    if snat is None:
        snat = external
    if snat and not external:
        raise ValidationError("snat: needs external: true (SNAT goes out through the external address)", option="snat")
    label = "router %s/%s/%s" % (tenant, project, name)

    def work(tx: Tx) -> dict[str, Any]:
        acct.tenant_row(tx, tenant, lock=True)
        acct.project_exists(tx, tenant, project)
        key = (tenant, project, name)
        have = tx.one_for_update("SELECT * FROM routers WHERE tenant = ? AND project = ? AND name = ?", key)
        before = view(tx, have) if have is not None else None
        if state == "absent":
            if have is None:
                return {"changed": False, "router": None, "diff": Diff().as_dict(), "msg": label + " absent"}
            if before and before["floating_ips"]:
                raise Conflict(
                    "%s still carries floating IP(s) %s: release or move them first"
                    % (label, ", ".join(f["address"] for f in before["floating_ips"])),
                    router=name,
                )
            tx.execute("DELETE FROM router_networks WHERE tenant = ? AND project = ? AND router = ?", key)
            tx.execute("DELETE FROM routers WHERE tenant = ? AND project = ? AND name = ?", key)
            return {
                "changed": True,
                "router": None,
                "diff": {"before": summary(before), "after": {}},
                "msg": label + (" would be removed" if check_mode else " removed"),
            }
        # every network must be one of this project's, and not another router's
        for network in networks:
            net = tx.one_for_update(
                "SELECT name FROM networks WHERE tenant = ? AND project = ? AND name = ?", (tenant, project, network)
            )
            if net is None:
                raise NotFound(
                    "networks: %r is not a network of %s/%s (a router attaches networks of its own project only)"
                    % (network, tenant, project),
                    option="networks",
                )
            other = tx.value(
                "SELECT router FROM router_networks WHERE tenant = ? AND project = ? AND network = ?",
                (tenant, project, network),
            )
            if other is not None and other != name:
                raise Conflict(
                    "networks: %s is already attached to router %s of %s/%s (a network has one router)"
                    % (network, other, tenant, project),
                    option="networks",
                )
        current = before["networks"] if before else []
        dropped = [n["name"] for n in current if n["name"] not in networks]
        carried = floating_ips_through(tx, tenant, project, dropped if external else [n["name"] for n in current])
        if carried:
            raise Conflict(
                "networks: floating IP %s goes through %s on network %s: release or move it first"
                % (carried[0]["address"], label, carried[0]["network"]),
                option="networks" if external else "external",
            )
        provider = get_provider(tx, provider_name, lock=True) if external else None
        if have is None:
            tx.execute(
                "INSERT INTO routers (tenant, project, name, external, snat, provider, external_address, "
                "external_int, created) VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?)",
                key + (int(external), int(snat), now),
            )
        else:
            tx.execute(
                "UPDATE routers SET external = ?, snat = ? WHERE tenant = ? AND project = ? AND name = ?",
                (int(external), int(snat)) + key,
            )
        keep = have is not None and have["provider"] == provider_name and have["external_int"] is not None
        if provider is not None and not keep:
            value = allocate(tx, provider, None, option="external")
            tx.execute(
                "UPDATE routers SET provider = ?, external_address = ?, external_int = ? "
                "WHERE tenant = ? AND project = ? AND name = ?",
                (provider_name, ipam.to_str(value), value) + key,
            )
        elif provider is None:
            tx.execute(
                "UPDATE routers SET provider = NULL, external_address = NULL, external_int = NULL "
                "WHERE tenant = ? AND project = ? AND name = ?",
                key,
            )
        tx.execute(
            "DELETE FROM router_networks WHERE tenant = ? AND project = ? AND router = ?",
            key,
        )
        for network in networks:
            tx.execute(
                "INSERT INTO router_networks (tenant, project, router, network) VALUES (?, ?, ?, ?)", key + (network,)
            )
        row = tx.written("SELECT * FROM routers WHERE tenant = ? AND project = ? AND name = ?", key)
        after = view(tx, row)
        diff = Diff()
        old, new = summary(before), summary(after)
        for field in new:
            diff.compare(field, old.get(field), new[field])
        verb = "created" if have is None else "updated"
        return {
            "changed": diff.changed,
            "router": after,
            "diff": diff.as_dict(),
            "msg": label + ((" would be " + verb if check_mode else " " + verb) if diff.changed else " unchanged"),
        }

    return store.run(work, write=True, dry_run=check_mode)
