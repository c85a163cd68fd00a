# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_provider_network: the provider (external) network and its pool of addresses.

The pool is the range of the provider network from which routers take their external address and tenants their
floating IPs. Both come out of the same pool and never collide: every allocation happens in one transaction that
holds the provider network's row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's one write lock), after the
tenant's row (the lock order of the store).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ipam
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import Conflict, NotFound
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

with contextlib.suppress(ImportError):  # a missing netaddr is reported by the module through NETADDR
    import netaddr

DEFAULT_PROVIDER = "external"


def parse_ip(option: str, value: Any) -> int:
    """An IPv4 address (a /prefix is ignored) as an integer, or ValidationError naming the option."""
    if not isinstance(value, str):
        raise ValidationError("%s: %r is not an IPv4 address" % (option, value), option=option)
    try:
        return int(netaddr.IPAddress(value.split("/", 1)[0].strip(), 4))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError("%s: %r is not an IPv4 address" % (option, value), option=option) from None


def pool_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """The provider network as asked: cidr, gateway and the pool range, checked against each other."""
    net = ipam.parse_network("cidr", params.get("cidr"), max_prefix=30)
    gateway = parse_ip("gateway", params.get("gateway") or ipam.gateway_of(str(net.cidr)))
    if not net.first < gateway < net.last:
        raise ValidationError("gateway: %s is not a host of %s" % (ipam.to_str(gateway), net.cidr), option="gateway")
    text = params.get("range")
    if text:
        parts = str(text).replace(" ", "").split("-")
        if len(parts) != 2:
            raise ValidationError("range: %r is not FIRST-LAST (for example 203.0.113.10-203.0.113.99)" % text)
        first, last = parse_ip("range", parts[0]), parse_ip("range", parts[1])
    else:
        first, last = net.first + 1, net.last - 1
    if first > last:
        raise ValidationError("range: %r: the first address is above the last" % text, option="range")
    for value in (first, last):
        if not net.first < value < net.last:
            raise ValidationError(
                "range: %s is not a host address of %s" % (ipam.to_str(value), net.cidr), option="range"
            )
    return {"cidr": str(net.cidr), "gateway": ipam.to_str(gateway), "first_int": first, "last_int": last}


def view(row: Mapping[str, Any]) -> dict[str, Any]:
    first, last = int(row["first_int"]), int(row["last_int"])
    return {
        "name": row["name"],
        "cidr": row["cidr"],
        "gateway": row["gateway"],
        "prefix_length": int(row["cidr"].split("/")[1]),
        "range": "%s-%s" % (ipam.to_str(first), ipam.to_str(last)),
    }


def get_provider(tx: Tx, name: str, option: str = "provider", lock: bool = False) -> dict[str, Any]:
    sql = "SELECT * FROM provider_networks WHERE name = ?"
    row = tx.one_for_update(sql, (name,)) if lock else tx.one(sql, (name,))
    if row is None:
        raise NotFound(
            "%s: provider network %r does not exist (declare it with ironcloud.stack.cloud_provider_network)"
            % (option, name),
            option=option,
        )
    return row


def in_use(tx: Tx, provider: str) -> dict[int, dict[str, Any]]:
    """{address: who holds it} for every address of the pool that is taken (routers and floating IPs)."""
    taken: dict[int, dict[str, Any]] = {}
    for r in tx.all(
        "SELECT tenant, project, name, external_int FROM routers WHERE provider = ? AND external_int IS NOT NULL",
        (provider,),
    ):
        taken[int(r["external_int"])] = {"kind": "router", "tenant": r["tenant"], "project": r["project"]}
    for r in tx.all("SELECT tenant, project, addr_int FROM floating_ips WHERE provider = ?", (provider,)):
        taken[int(r["addr_int"])] = {"kind": "floating_ip", "tenant": r["tenant"], "project": r["project"]}
    return taken


def allocate(tx: Tx, provider: Mapping[str, Any], wanted: int | None, option: str = "address") -> int:
    """Inside a transaction holding the provider's row: a free address of the pool (wanted, or the lowest).

    An address outside the pool, the gateway, a taken one and an exhausted pool are errors naming the option.
    """
    first, last = int(provider["first_int"]), int(provider["last_int"])
    gateway = parse_ip("gateway", provider["gateway"])
    taken = in_use(tx, provider["name"])
    pool = "%s-%s" % (ipam.to_str(first), ipam.to_str(last))
    if wanted is not None:
        if not first <= wanted <= last or wanted == gateway:
            raise ValidationError(
                "%s: %s is not in the pool %s of provider network %s"
                % (option, ipam.to_str(wanted), pool, provider["name"]),
                option=option,
            )
        if wanted in taken:
            raise Conflict("%s: %s is already in use" % (option, ipam.to_str(wanted)), option=option)
        return wanted
    for value in range(first, last + 1):
        if value != gateway and value not in taken:
            return value
    raise Conflict(
        "provider: the pool %s of provider network %s is exhausted (%d addresses in use)"
        % (pool, provider["name"], len(taken)),
        option="provider",
        provider=provider["name"],
    )


def ensure_provider(store: Store, params: Mapping[str, Any], check_mode: bool, now: float) -> dict[str, Any]:
    name = check_name("name", params.get("name"))
    state = params.get("state") or "present"
    wanted = pool_of(params) if state == "present" else None

    def work(tx: Tx) -> dict[str, Any]:
        tx.lock("networks")
        have = tx.one_for_update("SELECT * FROM provider_networks WHERE name = ?", (name,))
        taken = in_use(tx, name) if have is not None else {}
        if wanted is None:
            if have is None:
                return {"changed": False, "provider": None, "diff": Diff().as_dict(), "msg": "%s absent" % name}
            if taken:
                raise Conflict(
                    "provider network %s still has %d address(es) in use (routers, floating IPs)" % (name, len(taken)),
                    provider=name,
                )
            tx.execute("DELETE FROM provider_networks WHERE name = ?", (name,))
            return {
                "changed": True,
                "provider": None,
                "diff": {"before": view(have), "after": {}},
                "msg": "provider network %s %s" % (name, "would be removed" if check_mode else "removed"),
            }
        row = dict(wanted, name=name)
        if have is None:
            tx.execute(
                "INSERT INTO provider_networks (name, cidr, gateway, first_int, last_int, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, row["cidr"], row["gateway"], row["first_int"], row["last_int"], now),
            )
            return {
                "changed": True,
                "provider": view(row),
                "diff": {"before": {}, "after": view(row)},
                "msg": "provider network %s %s" % (name, "would be created" if check_mode else "created"),
            }
        outside = sorted(a for a in taken if not row["first_int"] <= a <= row["last_int"])
        if outside or (taken and row["cidr"] != have["cidr"]):
            raise Conflict(
                "range: %s is in use and outside the new pool; release it first"
                % ipam.to_str(outside[0] if outside else min(taken)),
                option="range",
            )
        diff = Diff()
        for key, value in view(row).items():
            diff.compare(key, view(have)[key], value)
        if diff.changed:
            tx.execute(
                "UPDATE provider_networks SET cidr = ?, gateway = ?, first_int = ?, last_int = ? WHERE name = ?",
                (row["cidr"], row["gateway"], row["first_int"], row["last_int"], name),
            )
        return {
            "changed": diff.changed,
            "provider": view(row),
            "diff": diff.as_dict(),
            "msg": "provider network %s %s"
            % (name, ("would be updated" if check_mode else "updated") if diff.changed else "unchanged"),
        }

    return store.run(work, write=True, dry_run=check_mode)
