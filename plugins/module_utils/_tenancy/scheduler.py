# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement of a new VM on a node: filter, then weigh, as Nova's filter scheduler does (pure, typed).

Input: the nodes as node_summaries() computes them from one /cluster/resources answer, the tags of the VMs
on each node (node_tags()), the reservations in flight (not yet VMs that /cluster/resources shows), the nodes
in maintenance, and the allocation ratios.

Filters, in order (the first that refuses a node is its reason):
  pinned      the request names a node: every other node is refused
  online      Proxmox reports the node online
  maintenance the node is not marked for maintenance
  affinity    no VM on the node and no reservation in flight to it carries one of the anti-affinity tags
  memory      maxmem x ram_allocation_ratio - reserved_host_memory - allocated - in flight >= requested
  cores       maxcpu x cpu_allocation_ratio - allocated - in flight >= requested
Weights: most free memory after placement first, then most free vCPUs, then the node's name (so ties are
broken the same way on every controller).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import NoPlacement

MiB = 1024 * 1024


@dataclass(frozen=True)
class Request:
    """What a reservation asks of a node."""

    cores: int
    memory_mb: int
    anti_affinity: tuple[str, ...] = ()
    node: str | None = None


@dataclass(frozen=True)
class InFlight:
    """A reservation placed on a node whose VM /cluster/resources does not show yet."""

    node: str
    cores: int
    memory_mb: int
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """Overcommit: vCPUs are (Proxmox users do it, Nova's default is 16.0), memory is not by default."""

    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 0


@dataclass
class Candidate:
    node: str
    free_memory_mb: float
    free_cores: float
    weight: tuple[float, float, str] = field(default=(0.0, 0.0, ""))


@dataclass
class Placement:
    node: str
    candidates: list[Candidate]
    refused: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "candidates": [
                {"node": c.node, "free_memory_mb": int(c.free_memory_mb), "free_cores": c.free_cores}
                for c in self.candidates
            ],
            "refused": dict(self.refused),
        }


def parse_tags(value: Any) -> set[str]:
    """PVE's tag list ('a;b', 'a,b' or 'a b') as a set."""
    if not value:
        return set()
    if isinstance(value, (list, tuple, set)):
        return {str(v) for v in value if v}
    text = str(value)
    for sep in ",; ":
        text = text.replace(sep, ";")
    return {t for t in text.split(";") if t}


def node_tags(resources: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """The tags of the guests on each node, from /cluster/resources entries."""
    out: dict[str, set[str]] = {}
    for item in resources:
        if item.get("type") in ("qemu", "lxc") and not item.get("template"):
            out.setdefault(str(item.get("node", "")), set()).update(parse_tags(item.get("tags")))
    return out


def place(
    nodes: Sequence[Mapping[str, Any]],
    request: Request,
    in_flight: Sequence[InFlight] = (),
    tags: Mapping[str, set[str]] | None = None,
    maintenance: Iterable[str] = (),
    policy: Policy = Policy(),
) -> Placement:
    """The node for request, or NoPlacement whose message gives each node's reason."""
    tags = tags or {}
    down = set(maintenance)
    wanted = set(request.anti_affinity)
    flight_cores: dict[str, int] = {}
    flight_mem: dict[str, int] = {}
    flight_tags: dict[str, set[str]] = {}
    for f in in_flight:
        flight_cores[f.node] = flight_cores.get(f.node, 0) + f.cores
        flight_mem[f.node] = flight_mem.get(f.node, 0) + f.memory_mb
        flight_tags.setdefault(f.node, set()).update(f.tags)
    refused: dict[str, str] = {}
    candidates: list[Candidate] = []
    for item in sorted(nodes, key=lambda n: str(n["node"])):
        name = str(item["node"])
        if request.node is not None and name != request.node:
            refused[name] = "not the requested node %s" % request.node
            continue
        if not item.get("online"):
            refused[name] = "offline"
            continue
        if name in down:
            refused[name] = "in maintenance"
            continue
        clash = wanted & (tags.get(name, set()) | flight_tags.get(name, set()))
        if clash:
            refused[name] = "anti-affinity: already runs %s" % ", ".join(sorted(clash))
            continue
        mem_capacity = int(item.get("maxmem") or 0) / MiB * policy.ram_allocation_ratio
        mem_free = (
            mem_capacity
            - policy.reserved_host_memory_mb
            - int(item.get("memory_allocated") or 0) / MiB
            - flight_mem.get(name, 0)
        )
        if mem_free < request.memory_mb:
            refused[name] = "memory: %d MiB free < %d MiB" % (max(0, int(mem_free)), request.memory_mb)
            continue
        cpu_capacity = int(item.get("maxcpu") or 0) * policy.cpu_allocation_ratio
        cores_free = cpu_capacity - int(item.get("cores_allocated") or 0) - flight_cores.get(name, 0)
        if cores_free < request.cores:
            refused[name] = "cores: %g vCPUs free < %d (cpu_allocation_ratio %g)" % (
                max(0.0, cores_free),
                request.cores,
                policy.cpu_allocation_ratio,
            )
            continue
        after_mem = mem_free - request.memory_mb
        after_cores = cores_free - request.cores
        candidates.append(Candidate(name, mem_free, cores_free, (-after_mem, -after_cores, name)))
    if request.node is not None and request.node not in refused and not candidates:
        refused[request.node] = "not a node of the cluster"
    if not candidates:
        reasons = "; ".join("%s: %s" % kv for kv in sorted(refused.items())) or "the cluster has no nodes"
        raise NoPlacement(
            "no node can take %d cores and %d MiB: %s" % (request.cores, request.memory_mb, reasons), refused=refused
        )
    candidates.sort(key=lambda c: c.weight)
    return Placement(candidates[0].node, candidates, refused)
