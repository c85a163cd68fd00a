# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state store side of the cloud inventory: a JSON-able snapshot of tenants, projects and leases.

A lease carries its address, its floating IP (the inventory's ansible_host) and its VM's login user (ansible_user).

The store is the tenancy layer's (``_tenancy/store.py``: ``open_store``, ``Store.run``); this file only reads it,
in one read transaction, and shapes the rows as ``_inventory/cloud.py`` ``build_inventory`` takes them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import (
    ENV,
    Store,
    Tx,
    default_path,
    open_store,
)
from ansible_collections.ironcloud.stack.plugins.plugin_utils.inventory.cloud import split_owner

__all__ = ["ENV", "default_store_url", "read_store", "snapshot"]


def default_store_url() -> str | None:
    """The default SQLite store when its file exists, else None (the inventory then reads Proxmox alone)."""
    path = default_path()
    return "sqlite://" + path if os.path.exists(path) else None


def _prefix_length(cidr: Any) -> int | None:
    text = str(cidr or "")
    return int(text.rsplit("/", 1)[1]) if "/" in text and text.rsplit("/", 1)[1].isdigit() else None


def snapshot(tx: Tx, now: float) -> dict[str, Any]:
    """Tenants (quota, usage, reserved, free), projects and leases, read in one transaction."""
    tenants: list[dict[str, Any]] = []
    for row in tx.all("SELECT * FROM tenants ORDER BY name"):
        use = acct.usage(tx, row, now)
        tenants.append(
            {
                "name": row["name"],
                "quota": use["quota"],
                "usage": use["used"],
                "reserved": use["reserved"],
                "free": use["free"],
            }
        )
    projects = tx.all("SELECT tenant, name FROM projects ORDER BY tenant, name")
    leases: list[dict[str, Any]] = []
    rows = tx.all(
        "SELECT l.tenant, l.project, l.network, l.owner, l.address, l.vmid, l.login_user, n.cidr, n.gateway, "
        "f.address AS floating_ip "
        "FROM leases l LEFT JOIN networks n ON n.tenant = l.tenant AND n.project = l.project "
        "AND n.name = l.network LEFT JOIN floating_ips f ON f.tenant = l.tenant AND f.project = l.project "
        "AND f.network = l.network AND f.fixed_address = l.address "
        "ORDER BY l.tenant, l.project, l.network, l.owner"
    )
    for row in rows:
        vm, nic = split_owner(row["owner"])
        leases.append(
            {
                "tenant": row["tenant"],
                "project": row["project"],
                "network": row["network"],
                "owner": row["owner"],
                "vm": vm,
                "nic": nic,
                "vmid": None if row["vmid"] is None else int(row["vmid"]),
                "address": row["address"],
                "prefix_length": _prefix_length(row["cidr"]),
                "gateway": row["gateway"],
                "floating_ip": row["floating_ip"],
                "login_user": row["login_user"],
            }
        )
    return {"tenants": tenants, "projects": projects, "leases": leases}


def read_store(
    url: str | None, opener: Callable[..., Store] = open_store, clock: Callable[[], float] = time.time
) -> dict[str, Any] | None:
    """The snapshot of the store at url, None without one.

    Without url (option state_store, environment IRONCLOUD_STATE_STORE) the default SQLite file is read only when
    it exists: the inventory never creates a store. Errors are the store's StoreError, naming state_store.
    """
    url = url or os.environ.get(ENV) or default_store_url()
    if not url:
        return None
    store = opener(url)
    try:
        return store.run(lambda tx: snapshot(tx, clock()), write=False)
    finally:
        store.close()
