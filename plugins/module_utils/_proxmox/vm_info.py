# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""proxmox_vm_info: the VMs of one GET /cluster/resources that match the filters, then (optionally) their config.

Request cost: 1 request (GET /cluster/resources), plus 1 GET .../config per matching VM when config is wanted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox import vm as vmspec
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxClient


def tag_list(value: Any) -> list[str]:
    text = vmspec.normalise_tags(value)
    return text.split(";") if text else []


def select(
    resources: Sequence[Mapping[str, Any]],
    name: str | None = None,
    vmid: int | None = None,
    node: str | None = None,
    tags: Sequence[str] | None = None,
    tenant: str | None = None,
    templates: bool = False,
) -> list[dict[str, Any]]:
    """The qemu entries matching every filter given (tags: all of them), sorted by vmid, in the returned shape."""
    wanted = set(tag_list(list(tags or [])))
    if tenant:
        wanted.add(_naming.tenant_tag(tenant).lower())
    out = []
    for item in resources:
        if item.get("type") != "qemu":
            continue
        if item.get("template") and not templates:
            continue
        if name is not None and item.get("name") != name:
            continue
        if vmid is not None and int(item["vmid"]) != int(vmid):
            continue
        if node is not None and item.get("node") != node:
            continue
        have = set(tag_list(item.get("tags") or ""))
        if not wanted <= have:
            continue
        out.append(
            {
                "vmid": int(item["vmid"]),
                "node": item.get("node"),
                "name": item.get("name"),
                "status": item.get("status", "unknown"),
                "tags": sorted(have),
                "pool": item.get("pool"),
                "template": bool(item.get("template")),
                "lock": item.get("lock"),
                "maxcpu": int(item.get("maxcpu") or 0),
                "maxmem": int(item.get("maxmem") or 0),
                "maxdisk": int(item.get("maxdisk") or 0),
            }
        )
    return sorted(out, key=lambda vm: vm["vmid"])


def read_vms(client: ProxmoxClient, params: Mapping[str, Any]) -> dict[str, Any]:
    vms = select(
        client.resources("vm"),
        params.get("name"),
        params.get("vmid"),
        params.get("node"),
        params.get("tags"),
        params.get("tenant"),
        bool(params.get("templates")),
    )
    for vm in vms:
        if params.get("config", True) and vm["status"] != "unknown":  # unknown: its node is offline
            config = client.get("nodes/%s/qemu/%s/config" % (vm["node"], vm["vmid"])) or {}
            vm["config"] = vmspec.public_config(config)
        else:
            vm["config"] = None
    return {"changed": False, "vms": vms}
