# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_address: lease and release the address of an owner (tenant/project/VM/NIC) on a project network.

The same owner always gets the same address (the lease is keyed by tenant, project, network and owner);
network, gateway and broadcast are never leased; a requested address is honoured if it is free. A lease may record
the login user of its VM (``login_user``, cloud_vm's ciuser), which the cloud inventory sets as ``ansible_user``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ipam
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    Conflict,
    NotFound,
    check_int,
    check_login_user,
    check_owner,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import get_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx


def view(lease: Mapping[str, Any], network: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "tenant": lease["tenant"],
        "project": lease["project"],
        "network": lease["network"],
        "owner": lease["owner"],
        "address": lease["address"],
        "prefix_length": int(network["cidr"].split("/")[1]),
        "cidr": network["cidr"],
        "gateway": network["gateway"],
        "vmid": lease["vmid"],
        "login_user": lease.get("login_user"),
        "tag": int(network["tag"]),
        "vni": int(network["vni"]),
        "mtu": int(network["mtu"]),
    }


def lease_in(
    tx: Tx,
    network: Mapping[str, Any],
    owner: str,
    address: str | None,
    vmid: int | None,
    quota_row: Mapping[str, Any] | None,
    now: float,
    login_user: str | None = None,
) -> dict[str, Any]:
    """Inside a transaction holding the tenant's and the network's row: the owner's lease, made if needed.

    ``vmid`` and ``login_user`` None leave the lease's as they are; given, they are set when they differ.
    Returns {"created", "vmid_changed", "login_user_changed": bool, "login_user_before": the login user the lease
    had, "lease": row}.
    """
    key = (network["tenant"], network["project"], network["name"])
    have = tx.one("SELECT * FROM leases WHERE tenant = ? AND project = ? AND network = ? AND owner = ?", key + (owner,))
    wanted_int = ipam.check_address("address", network["cidr"], address) if address is not None else None
    if have is not None:
        if wanted_int is not None and int(have["addr_int"]) != wanted_int:
            raise Conflict(
                "address: %s already holds %s on %s; release it before asking for %s"
                % (owner, have["address"], network["name"], ipam.to_str(wanted_int)),
                option="address",
            )
        changed = vmid is not None and have["vmid"] != vmid
        if changed:
            tx.execute(
                "UPDATE leases SET vmid = ? WHERE tenant = ? AND project = ? AND network = ? AND owner = ?",
                (vmid,) + key + (owner,),
            )
            have = dict(have, vmid=vmid)
        user_changed = login_user is not None and have.get("login_user") != login_user
        before = have.get("login_user")
        if user_changed:
            tx.execute(
                "UPDATE leases SET login_user = ? WHERE tenant = ? AND project = ? AND network = ? AND owner = ?",
                (login_user,) + key + (owner,),
            )
            have = dict(have, login_user=login_user)
        return {
            "created": False,
            "vmid_changed": changed,
            "login_user_changed": user_changed,
            "login_user_before": before,
            "lease": have,
        }
    if quota_row is not None and not acct.reserved_addresses_left(
        tx, network["tenant"], network["project"], owner, now
    ):
        # Without an in-flight reservation holding an address for the owner's VM, the lease is a new address.
        acct.check_quota(tx, quota_row, {"addresses": 1}, now)
    if wanted_int is not None:
        holder = tx.one(
            "SELECT owner FROM leases WHERE tenant = ? AND project = ? AND network = ? AND addr_int = ?",
            key + (wanted_int,),
        )
        if holder is not None:
            raise Conflict(
                "address: %s is already leased to %s on %s/%s/%s" % (ipam.to_str(wanted_int), holder["owner"], *key),
                option="address",
            )
        value = wanted_int
    else:
        value = free_address(tx, network, key)
    text = ipam.to_str(value)
    tx.execute(
        "INSERT INTO leases (tenant, project, network, owner, address, addr_int, vmid, login_user, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        key + (owner, text, value, vmid, login_user, now),
    )
    row = {
        "tenant": key[0],
        "project": key[1],
        "network": key[2],
        "owner": owner,
        "address": text,
        "addr_int": value,
        "vmid": vmid,
        "login_user": login_user,
        "created": now,
    }
    return {
        "created": True,
        "vmid_changed": False,
        "login_user_changed": False,
        "login_user_before": None,
        "lease": row,
    }


def ensure_address(store: Store, params: Mapping[str, Any], check_mode: bool, now: float) -> dict[str, Any]:
    tenant = check_name("tenant", params.get("tenant"))
    project = check_name("project", params.get("project"))
    network_name = check_name("network", params.get("network"))
    owner = check_owner("owner", params.get("owner"))
    address = params.get("address")
    vmid = check_int("vmid", params.get("vmid"), 100, 999999999, allow_none=True)
    login_user = check_login_user("login_user", params.get("login_user"))
    state = params.get("state") or "present"

    def work(tx: Tx) -> dict[str, Any]:
        row = acct.tenant_row(tx, tenant, lock=True)
        network = get_network(tx, tenant, project, network_name, lock=True)
        if network is None:
            acct.project_exists(tx, tenant, project)
            raise NotFound("network: %r is not a network of %s/%s" % (network_name, tenant, project), option="network")
        diff = Diff()
        label = "%s on %s/%s/%s" % (owner, tenant, project, network_name)
        if state == "absent":
            have = tx.one(
                "SELECT * FROM leases WHERE tenant = ? AND project = ? AND network = ? AND owner = ?",
                (tenant, project, network_name, owner),
            )
            if have is None:
                return {
                    "changed": False,
                    "lease": None,
                    "address": None,
                    "prefix_length": None,
                    "gateway": network["gateway"],
                    "diff": diff.as_dict(),
                    "msg": label + " holds no lease",
                }
            if address is not None and ipam.check_address("address", network["cidr"], address) != int(have["addr_int"]):
                raise Conflict("address: %s holds %s, not %s" % (owner, have["address"], address), option="address")
            tx.execute(
                "DELETE FROM leases WHERE tenant = ? AND project = ? AND network = ? AND owner = ?",
                (tenant, project, network_name, owner),
            )
            diff.compare("address", have["address"], None)
            return {
                "changed": True,
                "lease": None,
                "address": have["address"],
                "prefix_length": int(network["cidr"].split("/")[1]),
                "gateway": network["gateway"],
                "diff": diff.as_dict(),
                "msg": "%s %s %s"
                % (have["address"], "would be released from" if check_mode else "released from", label),
            }
        result = lease_in(tx, network, owner, address, vmid, row, now, login_user)
        lease = view(result["lease"], network)
        if result["created"]:
            diff.compare("address", None, lease["address"])
            if vmid is not None:
                diff.compare("vmid", None, vmid)
            if login_user is not None:
                diff.compare("login_user", None, login_user)
        else:
            if result["vmid_changed"]:
                diff.compare("vmid", None, vmid)
            if result["login_user_changed"]:
                diff.compare("login_user", result["login_user_before"], login_user)
        if result["created"]:
            verb = "leased to"
        elif result["vmid_changed"]:
            verb = "bound for"
        elif result["login_user_changed"]:
            verb = "given login user %s for" % login_user
        else:
            verb = "already leased to"
        return {
            "changed": diff.changed,
            "lease": lease,
            "address": lease["address"],
            "prefix_length": lease["prefix_length"],
            "gateway": lease["gateway"],
            "diff": diff.as_dict(),
            "msg": "%s %s%s %s" % (lease["address"], "would be " if check_mode and diff.changed else "", verb, label),
        }

    return store.run(work, write=True, dry_run=check_mode)


def free_address(tx: Tx, network: Mapping[str, Any], key: tuple[str, str, str]) -> int:
    """The next free address of the network after the highest leased one, else the lowest free one (wrapped)."""
    highest = tx.value("SELECT MAX(addr_int) FROM leases WHERE tenant = ? AND project = ? AND network = ?", key)
    value = ipam.next_free(network["cidr"], None if highest is None else int(highest))
    if value is None:
        used = [
            int(r["addr_int"])
            for r in tx.all("SELECT addr_int FROM leases WHERE tenant = ? AND project = ? AND network = ?", key)
        ]
        value = ipam.lowest_free(network["cidr"], used)
    if value is None:
        raise Conflict(
            "network %s/%s/%s (%s) has no free address left (%d leased)"
            % (*key, network["cidr"], ipam.capacity(network["cidr"])),
            network=network["name"],
        )
    return value
