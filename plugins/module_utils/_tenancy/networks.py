# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_network: a project network (VNI, subnet, gateway, local tag, MTU), idempotent by (tenant, project, name).

VNIs and local tags are unique cloud-wide (br-int's tags are shared by every tenant on a node, VNIs by the
whole mesh); subnets only within a tenant: tenants may use the same addresses, their networks are apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ipam
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import (
    Conflict,
    check_int,
    required,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

VNI_MIN, VNI_MAX = 1, 16777215
TAG_MIN, TAG_MAX = 1, 4094
VXLAN_OVERHEAD = 50
DEFAULT_SUPERNET = "10.100.0.0/16"
DEFAULT_PREFIX = 24
DEFAULT_VNI_RANGE = "1000-16777215"
DEFAULT_UNDERLAY_MTU = 1500


def parse_vni_range(value: Any) -> tuple[int, int]:
    """'1000-1999' (or '1000:1999', or [1000, 1999]) as (first, last), each within 1..16777215."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        parts = [str(v) for v in value]
    else:
        parts = re.split(r"\s*[-:]\s*", str(value).strip())
    if len(parts) != 2:
        raise ValidationError("vni_range: %r is not FIRST-LAST (for example 1000-1999)" % (value,), option="vni_range")
    first = required(check_int("vni_range", parts[0], VNI_MIN, VNI_MAX), "first")
    last = required(check_int("vni_range", parts[1], VNI_MIN, VNI_MAX), "last")
    if first > last:
        raise ValidationError("vni_range: %r: the first VNI is above the last" % (value,), option="vni_range")
    return first, last


def lowest_free(taken: list[int], first: int, last: int) -> int | None:
    used = set(taken)
    for value in range(first, last + 1):
        if value not in used:
            return value
    return None


def view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "tenant": row["tenant"],
        "project": row["project"],
        "name": row["name"],
        "vni": int(row["vni"]),
        "cidr": row["cidr"],
        "gateway": row["gateway"],
        "prefix_length": int(row["cidr"].split("/")[1]),
        "tag": int(row["tag"]),
        "mtu": int(row["mtu"]),
    }


def get_network(tx: Tx, tenant: str, project: str, name: str, lock: bool = False) -> dict[str, Any] | None:
    sql = "SELECT * FROM networks WHERE tenant = ? AND project = ? AND name = ?"
    return tx.one_for_update(sql, (tenant, project, name)) if lock else tx.one(sql, (tenant, project, name))


def ensure_network(store: Store, params: Mapping[str, Any], check_mode: bool, now: float) -> dict[str, Any]:
    tenant = check_name("tenant", params.get("tenant"))
    project = check_name("project", params.get("project"))
    name = check_name("name", params.get("name"))
    state = params.get("state") or "present"
    cidr = params.get("cidr")
    if cidr is not None:
        cidr = str(ipam.parse_network("cidr", cidr).cidr)
    supernet_net = ipam.parse_network("supernet", params.get("supernet") or DEFAULT_SUPERNET)
    supernet = str(supernet_net.cidr)
    prefix_length = params.get("prefix_length")
    prefix_length = ipam.check_prefix_length(
        "prefix_length", DEFAULT_PREFIX if prefix_length is None else prefix_length, supernet_net
    )
    vni_first, vni_last = parse_vni_range(params.get("vni_range") or DEFAULT_VNI_RANGE)
    vni = check_int("vni", params.get("vni"), VNI_MIN, VNI_MAX, allow_none=True)
    tag = check_int("tag", params.get("tag"), TAG_MIN, TAG_MAX, allow_none=True)
    underlay = required(
        check_int("underlay_mtu", params.get("underlay_mtu") or DEFAULT_UNDERLAY_MTU, 576 + VXLAN_OVERHEAD, 65535),
        "underlay",
    )
    mtu = check_int("mtu", params.get("mtu"), 576, 65535 - VXLAN_OVERHEAD, allow_none=True)
    if mtu is None:
        mtu = underlay - VXLAN_OVERHEAD
    elif mtu > underlay - VXLAN_OVERHEAD:
        raise ValidationError(
            "mtu: %d does not fit in the underlay MTU %d minus the VXLAN overhead (%d)"
            % (mtu, underlay, VXLAN_OVERHEAD),
            option="mtu",
        )

    def work(tx: Tx) -> dict[str, Any]:
        tx.lock("networks")
        row = acct.tenant_row(tx, tenant, lock=True)
        acct.project_exists(tx, tenant, project)
        have = get_network(tx, tenant, project, name, lock=True)
        diff = Diff()
        label = "network %s/%s/%s" % (tenant, project, name)
        if state == "absent":
            if have is None:
                return {"changed": False, "network": None, "diff": diff.as_dict(), "msg": label + " absent"}
            router = tx.value(
                "SELECT router FROM router_networks WHERE tenant = ? AND project = ? AND network = ?",
                (tenant, project, name),
            )
            if router is not None:
                raise Conflict(
                    "%s is attached to router %s: detach it first (cloud_router networks)" % (label, router),
                    router=router,
                )
            leases = int(
                tx.value(
                    "SELECT COUNT(*) FROM leases WHERE tenant = ? AND project = ? AND network = ?",
                    (tenant, project, name),
                )
                or 0
            )
            if leases:
                raise Conflict("%s still has %d address lease(s): release them first" % (label, leases), leases=leases)
            tx.execute("DELETE FROM networks WHERE tenant = ? AND project = ? AND name = ?", (tenant, project, name))
            diff.compare("network", view(have), None)
            return {
                "changed": True,
                "network": None,
                "diff": diff.as_dict(),
                "msg": label + (" would be removed" if check_mode else " removed"),
            }
        if have is not None:
            for option, wanted, current in (
                ("cidr", cidr, have["cidr"]),
                ("vni", vni, int(have["vni"])),
                ("tag", tag, int(have["tag"])),
            ):
                if wanted is not None and wanted != current:
                    raise Conflict(
                        "%s: %s exists with %s %s; %s cannot change (remove the network and create it "
                        "again)" % (option, label, option, current, option),
                        option=option,
                    )
            if diff.compare("mtu", int(have["mtu"]), mtu):
                tx.execute(
                    "UPDATE networks SET mtu = ? WHERE tenant = ? AND project = ? AND name = ?",
                    (mtu, tenant, project, name),
                )
            after = required(get_network(tx, tenant, project, name), "after")
            return {
                "changed": diff.changed,
                "network": view(after),
                "diff": diff.as_dict(),
                "msg": label + (" mtu updated" if diff.changed else " unchanged"),
            }
        acct.check_quota(tx, row, {"networks": 1}, now)
        others = [r["cidr"] for r in tx.all("SELECT cidr FROM networks WHERE tenant = ?", (tenant,))]
        if cidr is not None:
            clash = ipam.overlapping(cidr, others)
            if clash:
                raise Conflict("cidr: %s overlaps %s, a network of tenant %s" % (cidr, clash, tenant), option="cidr")
            subnet = cidr
        else:
            subnet = ipam.carve(supernet, prefix_length, others)
        if vni is not None:
            owner = tx.one("SELECT tenant, project, name FROM networks WHERE vni = ?", (vni,))
            if owner:
                raise Conflict(
                    "vni: %d is taken by network %s/%s/%s" % (vni, owner["tenant"], owner["project"], owner["name"]),
                    option="vni",
                )
            new_vni = vni
        else:
            taken = [
                int(r["vni"])
                for r in tx.all("SELECT vni FROM networks WHERE vni >= ? AND vni <= ?", (vni_first, vni_last))
            ]
            found = lowest_free(taken, vni_first, vni_last)
            if found is None:
                raise Conflict("vni_range: every VNI of %d-%d is taken" % (vni_first, vni_last), option="vni_range")
            new_vni = found
        if tag is not None:
            owner = tx.one("SELECT tenant, project, name FROM networks WHERE tag = ?", (tag,))
            if owner:
                raise Conflict(
                    "tag: %d is taken by network %s/%s/%s" % (tag, owner["tenant"], owner["project"], owner["name"]),
                    option="tag",
                )
            new_tag = tag
        else:
            found = lowest_free([int(r["tag"]) for r in tx.all("SELECT tag FROM networks")], TAG_MIN, TAG_MAX)
            if found is None:
                raise Conflict("tag: all %d local tags are taken" % TAG_MAX, option="tag")
            new_tag = found
        gateway = ipam.gateway_of(subnet)
        tx.execute(
            "INSERT INTO networks (tenant, project, name, vni, cidr, gateway, tag, mtu, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (tenant, project, name, new_vni, subnet, gateway, new_tag, mtu, now),
        )
        created = required(get_network(tx, tenant, project, name), "created")
        diff.compare("network", None, view(created))
        return {
            "changed": True,
            "network": view(created),
            "diff": diff.as_dict(),
            "msg": label + (" would be created" if check_mode else " created"),
        }

    return store.run(work, write=True, dry_run=check_mode)
