"""Node drains (_tenancy/drain.py): the pure planner, and the plan kept in the store on both backends."""

from __future__ import annotations

import pytest
from tenancy_helpers import node, vm
from test_tenancy import NOW, reserve, tenant

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import drain
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations as res
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import Conflict, NoPlacement
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.nodes import ensure_node
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.scheduler import InFlight


def stopped(item):
    return dict(item, status="stopped")


def targets(moves):
    return {m.vmid: m.target for m in moves}


# ------------------------------------------------------------------ the planner (pure)


def test_every_vm_gets_a_target_off_the_node_largest_first():
    resources = [
        node("pve1", memory_mb=16384),
        node("pve2", memory_mb=16384),
        node("pve3", memory_mb=16384),
        vm(101, "pve2", memory_mb=1024),
        vm(102, "pve2", memory_mb=8192),
        stopped(vm(103, "pve2", memory_mb=4096)),
    ]
    moves = drain.plan_drain(resources, "pve2")
    assert [m.vmid for m in moves] == [102, 103, 101]
    assert all(m.target in ("pve1", "pve3") and m.node == "pve2" for m in moves)
    # each VM sees the ones planned before it: 102 (8 GiB) takes pve1 (a tie, broken by name), then pve3 has
    # the most memory free for 103 (16 GiB against 8) and for 101 (12 GiB against 8).
    assert targets(moves) == {102: "pve1", 103: "pve3", 101: "pve3"}
    assert {m.vmid: m.running for m in moves} == {101: True, 102: True, 103: False}


def test_planned_moves_count_on_their_target():
    # two 6 GiB VMs, two targets of 8 GiB: one on each, never both on the emptier one.
    resources = [
        node("pve1", memory_mb=8192),
        node("pve2", memory_mb=8192),
        node("pve3", memory_mb=16384),
        vm(101, "pve3", memory_mb=6144),
        vm(102, "pve3", memory_mb=6144),
    ]
    assert sorted(targets(drain.plan_drain(resources, "pve3")).values()) == ["pve1", "pve2"]


def test_a_vm_that_fits_nowhere_refuses_the_whole_plan_naming_each_vm():
    resources = [
        node("pve1", memory_mb=8192),
        node("pve2", memory_mb=8192),
        node("pve3", memory_mb=65536),
        vm(101, "pve3", name="small", memory_mb=1024),
        vm(102, "pve3", name="big", memory_mb=12288),
        vm(103, "pve3", name="bigger", memory_mb=16384),
    ]
    with pytest.raises(drain.DrainRefused) as e:
        drain.plan_drain(resources, "pve3")
    msg = e.value.message
    assert msg.startswith("drain of pve3 refused, nothing moves: 2 VM(s) fit nowhere: ")
    assert "VM 102 (big): no node can take 2 cores and 12288 MiB: " in msg
    assert "pve1: memory: 8192 MiB free < 12288 MiB" in msg
    assert "VM 103 (bigger): no node can take 2 cores and 16384 MiB" in msg
    assert "pve3: in maintenance" in msg
    assert "small" not in msg
    assert set(e.value.details["unplaced"]) == {"102", "103"}


def test_anti_affinity_holds_with_the_vms_there_and_the_moves_planned_before():
    resources = [
        node("pve1"),
        node("pve2"),
        node("pve3"),
        node("pve4"),
        vm(201, "pve1", tags="ic-tenant-a;ic-project-web;web"),
        vm(101, "pve4", tags="ic-tenant-a;ic-project-web;web"),
        vm(102, "pve4", tags="ic-tenant-a;ic-project-web;web"),
        vm(103, "pve4", tags="ic-tenant-a;ic-project-web;web"),
    ]
    groups = {101: ("web",), 102: ("web",), 103: ("web",)}
    with pytest.raises(drain.DrainRefused) as e:
        drain.plan_drain(resources, "pve4", groups)
    # pve1 runs one already; 101 and 102 take pve2 and pve3; nothing is left for 103.
    assert "VM 103 (vm103)" in e.value.message and "anti-affinity: already runs web" in e.value.message
    assert set(e.value.details["unplaced"]) == {"103"}
    # Without the VM on pve1, each goes to its own node.
    moves = drain.plan_drain([r for r in resources if r.get("vmid") != 201], "pve4", groups)
    assert sorted(targets(moves).values()) == ["pve1", "pve2", "pve3"]
    # Tags are not groups: without the store's anti-affinity groups the same VMs may share a node.
    assert drain.plan_drain(resources, "pve4", {}) != []


def test_nodes_in_maintenance_offline_and_in_flight_reservations_are_respected():
    resources = [
        node("pve1"),
        node("pve2", online=False),
        node("pve3", memory_mb=8192),
        node("pve4"),
        vm(101, "pve4", memory_mb=4096),
    ]
    assert targets(drain.plan_drain(resources, "pve4", maintenance=["pve1"])) == {101: "pve3"}
    with pytest.raises(drain.DrainRefused, match="pve3: memory: 2048 MiB free < 4096 MiB"):
        drain.plan_drain(resources, "pve4", maintenance=["pve1"], in_flight=[InFlight("pve3", 1, 6144)])


def test_containers_are_refused_and_templates_stay():
    resources = [
        node("pve1"),
        node("pve2"),
        dict(vm(101, "pve2"), type="lxc"),
        dict(vm(9000, "pve2"), template=1),
    ]
    with pytest.raises(drain.DrainRefused, match=r"VM 101 \(vm101\): a container \(lxc\)"):
        drain.plan_drain(resources, "pve2")
    assert drain.plan_drain(resources[:2] + resources[3:], "pve2") == []


def test_an_unknown_node_is_refused():
    with pytest.raises(ValidationError, match="node: 'pve9' is not a node of the cluster"):
        drain.plan_drain([node("pve1")], "pve9")


def test_return_is_checked_pinned_to_the_node():
    resources = [node("pve1", memory_mb=8192), node("pve2"), vm(101, "pve2", memory_mb=4096), vm(102, "pve2")]
    moves = drain.plan_return(resources, "pve1", [101, 102, 103])
    assert [(m.vmid, m.node, m.target) for m in moves] == [(101, "pve2", "pve1"), (102, "pve2", "pve1")]
    busy = resources + [vm(110, "pve1", memory_mb=4096)]
    with pytest.raises(drain.DrainRefused, match=r"return to pve1 refused.*VM 102 \(vm102\).*pve1: memory"):
        drain.plan_return(busy, "pve1", [101, 102])


# ------------------------------------------------------------------ the plan in the store


def resources_with(placement):
    return [node("pve1"), node("pve2"), node("pve3")] + [
        vm(vmid, where, memory_mb=2048, tags="ic-tenant-acme;ic-project-web") for vmid, where in placement.items()
    ]


def run(store, resources, check=False, now=NOW, **params):
    return drain.ensure_drain(store, dict({"node": "pve2"}, **params), resources, check, now)


def maintenance(store, name="pve2", state="maintenance"):
    ensure_node(store, {"name": name, "state": state}, False, NOW)


def test_a_node_not_in_maintenance_is_not_drained(store):
    with pytest.raises(Conflict, match="node: pve2 is not in maintenance"):
        run(store, resources_with({101: "pve2"}))
    # check mode previews the plan as if the mark were there (node_drain.yml --check marks nothing)
    assert [m["target"] for m in run(store, resources_with({101: "pve2"}), check=True)["moves"]] == ["pve1"]


def test_plan_record_rerun_and_return(store):
    maintenance(store)
    placed = {101: "pve2", 102: "pve2", 103: "pve1"}
    predicted = run(store, resources_with(placed), check=True)
    assert predicted["changed"] and len(predicted["moves"]) == 2
    assert run(store, resources_with(placed), check=True)["changed"], "check mode recorded the plan"
    planned = run(store, resources_with(placed))
    assert planned["moves"] == predicted["moves"]
    assert {r["state"] for r in planned["recorded"]} == {"planned"}
    again = run(store, resources_with(placed))
    assert again["changed"] is False and again["moves"] == planned["moves"]
    first = planned["moves"][0]
    # Interrupted after the first move: the rerun records it done and plans only the second.
    placed[first["vmid"]] = first["target"]
    with pytest.raises(Conflict, match="moved: VM %d is on pve2" % planned["moves"][1]["vmid"]):
        run(store, resources_with(placed), moved=[planned["moves"][1]["vmid"]])
    recorded = run(store, resources_with(placed), moved=[first["vmid"]])
    assert recorded["changed"] and recorded["arrived"] == [first["vmid"]]
    assert recorded["moves"] == planned["moves"][1:]
    second = planned["moves"][1]
    placed[second["vmid"]] = second["target"]
    rerun = run(store, resources_with(placed))
    assert rerun["moves"] == [] and rerun["arrived"] == [second["vmid"]]
    assert {r["state"] for r in rerun["recorded"]} == {"done"}
    # The way back needs the node active.
    with pytest.raises(Conflict, match="pve2 is still in maintenance"):
        run(store, resources_with(placed), direction="back")
    maintenance(store, state="active")
    back = run(store, resources_with(placed), direction="back")
    assert sorted((m["vmid"], m["target"]) for m in back["moves"]) == [(101, "pve2"), (102, "pve2")]
    assert {r["state"] for r in back["recorded"]} == {"returning"}
    placed.update({101: "pve2", 102: "pve2"})
    home = run(store, resources_with(placed), direction="back", moved=[101])
    assert home["moves"] == [] and home["recorded"] == [] and home["changed"]
    # the second VM's record comes after the first's refresh forgot it: still fine, nothing left
    assert run(store, resources_with(placed), direction="back", moved=[102])["changed"] is False
    with pytest.raises(Conflict, match="moved: VM 103 has no move recorded for node pve2"):
        run(store, resources_with(placed), direction="back", moved=[103])


def test_planned_moves_hold_their_room_against_reservations(store):
    tenant(store, quota={"vms": 50, "cores": 200, "memory_mb": 10**6})
    maintenance(store)
    small = [node("pve1", memory_mb=4096), node("pve2", memory_mb=8192), vm(101, "pve2", memory_mb=3072)]
    assert [m["target"] for m in run(store, small)["moves"]] == ["pve1"]
    # pve1 has 4 GiB, the planned move takes 3: a reservation of 2 GiB fits nowhere (pve2 is in maintenance).
    with pytest.raises(NoPlacement, match="pve1: memory: 1024 MiB free < 2048 MiB"):
        reserve(store, "r1", cluster=lambda: res.Cluster(small))
