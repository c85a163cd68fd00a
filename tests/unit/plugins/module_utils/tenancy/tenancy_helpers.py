"""Small builders shared by the tenancy tests."""

from __future__ import annotations

from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reservations import Cluster

MiB = 1024 * 1024
GiB = 1024 * MiB


def node(name: str, cores: int = 16, memory_mb: int = 65536, online: bool = True) -> dict[str, Any]:
    return {
        "type": "node",
        "node": name,
        "status": "online" if online else "offline",
        "maxcpu": cores,
        "maxmem": memory_mb * MiB,
        "mem": 0,
        "cpu": 0.0,
    }


def vm(
    vmid: int, node_name: str, name: str = "", cores: int = 2, memory_mb: int = 2048, tags: str = "", disk_gb: int = 10
) -> dict[str, Any]:
    return {
        "type": "qemu",
        "vmid": vmid,
        "node": node_name,
        "name": name or "vm%d" % vmid,
        "maxcpu": cores,
        "maxmem": memory_mb * MiB,
        "maxdisk": disk_gb * GiB,
        "tags": tags,
        "status": "running",
        "template": 0,
    }


def lab_cluster(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [node("pve1"), node("pve2"), node("pve3", 8, 32768), *extra]


def cluster_of(resources: list[dict[str, Any]]):
    return lambda: Cluster(resources)
