# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster's nodes with what placement needs, computed from one /cluster/resources answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import ProxmoxError


def node_summaries(resources: Sequence[Mapping[str, Any]], node: str | None = None) -> list[dict[str, Any]]:
    """Each node of the /cluster/resources entries with its capacity, usage and what its VMs are allocated.

    Allocation counts every VM that is not a template, running or not (a stopped VM can be started at any
    time): cores_allocated is the sum of their vCPUs, memory_allocated of their configured memory.
    The *_free figures are capacity minus allocation; cores_free goes negative when vCPUs are overcommitted.
    """
    vms: dict[str, list[Mapping[str, Any]]] = {}
    for item in resources:
        if item.get("type") in ("qemu", "lxc") and not item.get("template"):
            vms.setdefault(item.get("node", ""), []).append(item)
    out = []
    for item in sorted((r for r in resources if r.get("type") == "node"), key=lambda r: r.get("node", "")):
        name = item["node"]
        if node is not None and name != node:
            continue
        guests = vms.get(name, [])
        maxcpu = int(item.get("maxcpu") or 0)
        maxmem = int(item.get("maxmem") or 0)
        cores = sum(int(vm.get("maxcpu") or 0) for vm in guests)
        memory = sum(int(vm.get("maxmem") or 0) for vm in guests)
        out.append(
            {
                "node": name,
                "online": item.get("status") == "online",
                "status": item.get("status", "unknown"),
                "maxcpu": maxcpu,
                "maxmem": maxmem,
                "cpu": float(item.get("cpu") or 0),
                "mem": int(item.get("mem") or 0),
                "maxdisk": int(item.get("maxdisk") or 0),
                "disk": int(item.get("disk") or 0),
                "uptime": int(item.get("uptime") or 0),
                "vms": len(guests),
                "vms_running": sum(1 for vm in guests if vm.get("status") == "running"),
                "cores_allocated": cores,
                "memory_allocated": memory,
                "cores_free": maxcpu - cores,
                "memory_free": maxmem - memory,
            }
        )
    return out


def node_info(resources: Sequence[Mapping[str, Any]], node: str | None) -> dict[str, Any]:
    """proxmox_node_info: every node's summary, or the one named node (an unknown name is an error)."""
    nodes = node_summaries(resources)
    if node is not None and node not in [n["node"] for n in nodes]:
        raise ProxmoxError(
            "node: %r is not a node of the cluster (nodes: %s)" % (node, ", ".join(n["node"] for n in nodes))
        )
    return {"changed": False, "nodes": [n for n in nodes if node is None or n["node"] == node]}
