"""Per-node capacity from the lab config: what /nodes and /cluster/resources report for each node."""

from __future__ import annotations

from typing import Any

MiB = 1024 * 1024


class CapacityMixin:
    """Nodes report the cores and memory of tests/lab/lab.yml; used memory and cpu follow the running VMs."""

    node_capacity: dict[str, dict[str, int]]

    def set_capacity(self, node: str, cores: int, memory_mb: int) -> None:
        self.node_capacity[node] = {"cores": int(cores), "memory_mb": int(memory_mb)}
        self.nodes.setdefault(node, {"online": True})

    def _node_stats_of(self, node: str, online: bool) -> dict[str, Any]:
        if not online:
            return {}
        cap = self.node_capacity.get(node, {"cores": 4, "memory_mb": 8192})
        running = [vm for vm in self.vms if vm.node == node and vm.status == "running"]
        used_mem = 1024 * MiB + sum(self._vm_usage(vm)["maxmem"] for vm in running)
        used_cpu = min(1.0, 0.01 + 0.02 * len(running))
        return {
            "cpu": used_cpu,
            "maxcpu": cap["cores"],
            "mem": used_mem,
            "maxmem": cap["memory_mb"] * MiB,
            "disk": 4 * 1024 * MiB,
            "maxdisk": 512 * 1024 * MiB,
            "uptime": 86400,
        }

    async def _nodes(self, request):  # GET /nodes
        response = await super()._nodes(request)
        return self._restat_nodes(response)

    async def _resources(self, request):  # GET /cluster/resources
        response = await super()._resources(request)
        return self._restat_nodes(response)

    def _restat_nodes(self, response):
        import json

        from aiohttp import web

        body = json.loads(response.text)
        for item in body.get("data") or []:
            if item.get("type") == "node":
                online = item.get("status") == "online"
                item.update(self._node_stats_of(item["node"], online))
        return web.json_response(body, status=response.status)
