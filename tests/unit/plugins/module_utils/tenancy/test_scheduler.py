"""The scheduler: filters (online, maintenance, anti-affinity, memory, cores), weights, ties, in-flight."""

from __future__ import annotations

import pytest
from tenancy_helpers import lab_cluster, node, vm

from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.nodes import node_summaries
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import NoPlacement
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.scheduler import (
    InFlight,
    Policy,
    Request,
    node_tags,
    parse_tags,
    place,
)


def nodes(*resources):
    return node_summaries(list(resources))


def test_most_free_memory_wins():
    placement = place(nodes(*lab_cluster(vm(100, "pve1", memory_mb=4096))), Request(2, 2048))
    assert placement.node == "pve2"


def test_ties_are_broken_by_name():
    assert place(nodes(node("b"), node("a"), node("c")), Request(1, 1024)).node == "a"


def test_free_cores_break_a_memory_tie():
    placement = place(
        nodes(node("a"), node("b"), vm(100, "a", cores=4, memory_mb=1), vm(101, "b", cores=1, memory_mb=1)),
        Request(1, 1024),
    )
    assert placement.node == "b"


def test_offline_and_maintenance_nodes_are_refused():
    placement = place(nodes(node("a", online=False), node("b"), node("c")), Request(1, 1024), maintenance=["b"])
    assert placement.node == "c"
    assert placement.refused == {"a": "offline", "b": "in maintenance"}


def test_memory_is_not_overcommitted_by_default():
    with pytest.raises(NoPlacement, match="memory: 1024 MiB free < 2048 MiB"):
        place(nodes(node("a", memory_mb=4096), vm(100, "a", memory_mb=3072)), Request(1, 2048))


def test_ram_allocation_ratio_allows_memory_overcommit():
    placement = place(
        nodes(node("a", memory_mb=4096), vm(100, "a", memory_mb=3072)),
        Request(1, 2048),
        policy=Policy(ram_allocation_ratio=1.5),
    )
    assert placement.node == "a"


def test_vcpus_are_overcommitted_up_to_the_ratio():
    resources = nodes(node("a", cores=4), vm(100, "a", cores=14, memory_mb=1))
    assert place(resources, Request(2, 1024)).node == "a"  # 16 = 4 x 4.0
    with pytest.raises(NoPlacement, match="cores: 2 vCPUs free < 3"):
        place(resources, Request(3, 1024))
    with pytest.raises(NoPlacement, match="cores"):
        place(resources, Request(2, 1024), policy=Policy(cpu_allocation_ratio=1.0))


def test_reservations_in_flight_are_subtracted():
    two = nodes(node("a"), node("b"))
    assert place(two, Request(1, 1024)).node == "a"
    assert place(two, Request(1, 1024), in_flight=[InFlight("a", 1, 1024)]).node == "b"


def test_successive_placements_spread():
    two = nodes(*lab_cluster())
    flight = []
    chosen = []
    for _ignored in range(6):
        p = place(two, Request(2, 8192), in_flight=flight)
        flight.append(InFlight(p.node, 2, 8192))
        chosen.append(p.node)
    assert chosen == ["pve1", "pve2", "pve1", "pve2", "pve1", "pve2"]
    # pve3 (32 GiB) joins once the others are down to its free memory
    for _ignored in range(6):
        p = place(two, Request(2, 8192), in_flight=flight)
        flight.append(InFlight(p.node, 2, 8192))
        chosen.append(p.node)
    assert "pve3" in chosen


def test_anti_affinity_with_vms_and_with_reservations_in_flight():
    resources = [node("a"), node("b"), node("c"), vm(100, "a", tags="ic-tenant-x;db")]
    summary = nodes(*resources)
    tags = node_tags(resources)
    p = place(summary, Request(1, 1024, anti_affinity=("db",)), in_flight=[InFlight("b", 1, 1024, ("db",))], tags=tags)
    assert p.node == "c"
    assert p.refused["a"].startswith("anti-affinity")
    with pytest.raises(NoPlacement, match="anti-affinity"):
        place(
            summary,
            Request(1, 1024, anti_affinity=("db",)),
            in_flight=[InFlight("b", 1, 1024, ("db",)), InFlight("c", 1, 1024, ("db",))],
            tags=tags,
        )


def test_pinned_node():
    assert place(nodes(*lab_cluster()), Request(1, 1024, node="pve3")).node == "pve3"
    with pytest.raises(NoPlacement, match="pve9: not a node of the cluster"):
        place(nodes(*lab_cluster()), Request(1, 1024, node="pve9"))


def test_no_nodes():
    with pytest.raises(NoPlacement, match="the cluster has no nodes"):
        place([], Request(1, 1024))


def test_parse_tags():
    assert parse_tags("a;b,c d") == {"a", "b", "c", "d"}
    assert parse_tags(None) == set()
