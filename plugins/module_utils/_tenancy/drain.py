# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Draining a node (cloud_node_drain): a target for every VM on it, planned one by one with the scheduler.

plan_drain() is pure: from one /cluster/resources answer, the nodes in maintenance, the reservations and moves
in flight and each VM's anti-affinity groups, it places the node's VMs one after the other with
scheduler.place() (the filters and weights every reservation goes through), each placed VM counting on its
target for the VMs after it (memory, cores and tags). Largest memory first, then most cores, then VMID: the
hardest to place go while the most room is left. A VM no node can take refuses the plan as a whole; the
message names every such VM and each node's reason.

The store keeps the plan (table node_moves, one row per VM of a drained node): planned (its target chosen, not
there yet), done (it reached its target), returning (on its way back to the node after the node's maintenance).
Planned and returning rows count as in flight on their target for every reservation and every other drain, so
a parallel cloud_reservation does not take the room a move was planned into. A rerun re-plans the VMs still on
the node and records those that left as done; so an interrupted drain is finished by running it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.nodes import node_summaries
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations, scheduler
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import Conflict, NoPlacement
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.nodes import check_node_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage import iso

MiB = 1024 * 1024
DIRECTIONS = ("away", "back")


class DrainRefused(NoPlacement):
    """At least one VM of the node fits nowhere: nothing is planned, nothing moves."""


@dataclass(frozen=True)
class Guest:
    """A VM as the drain sees it: where it runs, its size, its tags and its anti-affinity groups."""

    vmid: int
    name: str
    node: str
    kind: str
    running: bool
    cores: int
    memory_mb: int
    tags: tuple[str, ...] = ()
    anti_affinity: tuple[str, ...] = ()


@dataclass(frozen=True)
class Move:
    """One VM to move: from node (where it is) to target."""

    vmid: int
    name: str
    node: str
    target: str
    running: bool
    cores: int
    memory_mb: int
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "vmid": self.vmid,
            "name": self.name,
            "node": self.node,
            "target": self.target,
            "online": self.running,
            "cores": self.cores,
            "memory_mb": self.memory_mb,
        }


def guests(resources: Iterable[Mapping[str, Any]], groups: Mapping[int, Sequence[str]] | None = None) -> list[Guest]:
    """Every VM and container (templates left out) of a /cluster/resources answer; groups: anti-affinity by VMID."""
    groups = groups or {}
    out = []
    for item in resources:
        if item.get("type") not in ("qemu", "lxc") or item.get("template") or item.get("vmid") is None:
            continue
        vmid = int(item["vmid"])
        out.append(
            Guest(
                vmid=vmid,
                name=str(item.get("name") or "vm%d" % vmid),
                node=str(item.get("node", "")),
                kind=str(item["type"]),
                running=item.get("status") == "running",
                cores=int(item.get("maxcpu") or 0),
                memory_mb=int(item.get("maxmem") or 0) // MiB,
                tags=tuple(sorted(scheduler.parse_tags(item.get("tags")))),
                anti_affinity=tuple(sorted(groups.get(vmid, ()))),
            )
        )
    return out


def _order(guest: Guest) -> tuple[int, int, int]:
    return (-guest.memory_mb, -guest.cores, guest.vmid)


def _refuse(what: str, node: str, unplaced: Mapping[int, str], names: Mapping[int, str]) -> DrainRefused:
    reasons = "; ".join("VM %d (%s): %s" % (vmid, names[vmid], why) for vmid, why in sorted(unplaced.items()))
    return DrainRefused(
        "%s %s refused, nothing moves: %d VM(s) fit nowhere: %s" % (what, node, len(unplaced), reasons),
        unplaced={str(vmid): why for vmid, why in sorted(unplaced.items())},
    )


def plan_drain(
    resources: Sequence[Mapping[str, Any]],
    node: str,
    groups: Mapping[int, Sequence[str]] | None = None,
    maintenance: Iterable[str] = (),
    in_flight: Sequence[scheduler.InFlight] = (),
    policy: scheduler.Policy | None = None,
) -> list[Move]:
    """A target for every VM and container on node, placed one by one; DrainRefused naming each that fits nowhere.

    The drained node is never a target (it counts as in maintenance whatever the store says). Containers are
    refused: Proxmox cannot live-migrate them, and proxmox_vm moves VMs only.
    """
    nodes = node_summaries(resources)
    if node not in {n["node"] for n in nodes}:
        raise ValidationError("node: %r is not a node of the cluster" % node, option="node")
    tags = scheduler.node_tags(resources)
    down = set(maintenance) | {node}
    flight = list(in_flight)
    moves: list[Move] = []
    unplaced: dict[int, str] = {}
    on_node = sorted((g for g in guests(resources, groups) if g.node == node), key=_order)
    for guest in on_node:
        if guest.kind != "qemu":
            unplaced[guest.vmid] = "a container (%s): Proxmox restarts containers to move them; move it yourself" % (
                guest.kind
            )
            continue
        request = scheduler.Request(guest.cores, guest.memory_mb, guest.anti_affinity)
        try:
            placement = scheduler.place(nodes, request, flight, tags, down, policy or scheduler.Policy())
        except NoPlacement as e:
            unplaced[guest.vmid] = e.message
            continue
        moves.append(
            Move(
                guest.vmid,
                guest.name,
                node,
                placement.node,
                guest.running,
                guest.cores,
                guest.memory_mb,
                guest.tags,
            )
        )
        flight.append(scheduler.InFlight(placement.node, guest.cores, guest.memory_mb, guest.tags))
    if unplaced:
        raise _refuse("drain of", node, unplaced, {g.vmid: g.name for g in on_node})
    return moves


def plan_return(
    resources: Sequence[Mapping[str, Any]],
    node: str,
    drained: Sequence[int],
    groups: Mapping[int, Sequence[str]] | None = None,
    maintenance: Iterable[str] = (),
    in_flight: Sequence[scheduler.InFlight] = (),
    policy: scheduler.Policy | None = None,
) -> list[Move]:
    """The moves that bring the VMs drained off node (VMIDs) back to it, each checked by the scheduler pinned to
    node; DrainRefused naming each that no longer fits there. VMs already back or gone are left out."""
    nodes = node_summaries(resources)
    tags = scheduler.node_tags(resources)
    flight = list(in_flight)
    wanted = set(drained)
    away = sorted((g for g in guests(resources, groups) if g.vmid in wanted and g.node != node), key=_order)
    moves: list[Move] = []
    unplaced: dict[int, str] = {}
    for guest in away:
        request = scheduler.Request(guest.cores, guest.memory_mb, guest.anti_affinity, node)
        try:
            scheduler.place(nodes, request, flight, tags, maintenance, policy or scheduler.Policy())
        except NoPlacement as e:
            unplaced[guest.vmid] = e.message
            continue
        moves.append(Move(guest.vmid, guest.name, guest.node, node, guest.running, guest.cores, guest.memory_mb))
        flight.append(scheduler.InFlight(node, guest.cores, guest.memory_mb, guest.tags))
    if unplaced:
        raise _refuse("return to", node, unplaced, {g.vmid: g.name for g in away})
    return moves


# ------------------------------------------------------------------ the store


def move_rows(tx: Tx, node: str) -> dict[int, dict[str, Any]]:
    return {int(r["vmid"]): r for r in tx.all("SELECT * FROM node_moves WHERE node = ? ORDER BY vmid", (node,))}


def group_map(tx: Tx, vmids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    """Each VM's anti-affinity groups, from its committed reservation (the tags the vm role puts on it)."""
    wanted = set(vmids)
    out = {}
    for row in tx.all("SELECT vmid, groups FROM reservations WHERE state = 'committed' AND vmid IS NOT NULL"):
        if int(row["vmid"]) in wanted:
            out[int(row["vmid"])] = tuple(t for t in (row["groups"] or "").split(",") if t)
    return out


def _row_view(row: Mapping[str, Any], where: str | None) -> dict[str, Any]:
    return {
        "vmid": int(row["vmid"]),
        "name": row["name"],
        "origin": row["node"],
        "target": row["target"],
        "state": row["state"],
        "node": where,
        "updated": iso(float(row["updated"])),
    }


def ensure_drain(
    store: Store,
    params: Mapping[str, Any],
    resources: Sequence[Mapping[str, Any]],
    check_mode: bool,
    now: float,
) -> dict[str, Any]:
    """cloud_node_drain: record what moved, then (without `moved`) plan what is left, away from or back to node."""
    node = check_node_name(params["node"])
    direction = params.get("direction") or "away"
    if direction not in DIRECTIONS:
        raise ValidationError(
            "direction: must be one of %s, not %r" % (", ".join(DIRECTIONS), direction), option="direction"
        )
    moved = sorted({int(v) for v in params.get("moved") or []})
    policy = reservations.policy_of(params)
    where = {g.vmid: g for g in guests(resources)}
    cluster_vmids = set(where)

    def work(tx: Tx) -> dict[str, Any]:
        tx.lock("placement")
        down = reservations.maintenance_nodes(tx)
        # In check mode the node may not be marked yet: node_drain.yml --check previews the mark and the plan.
        if check_mode:
            down = down | {node} if direction == "away" else down - {node}
        if direction == "away" and node not in down:
            raise Conflict(
                "node: %s is not in maintenance; put it there first (cloud_node state=maintenance), so nothing is "
                "placed on it while its VMs leave" % node,
                option="node",
            )
        if direction == "back" and node in down:
            raise Conflict(
                "node: %s is still in maintenance; end it first (cloud_node state=active)" % node, option="node"
            )
        rows = move_rows(tx, node)
        before = {vmid: _row_view(r, where[vmid].node if vmid in where else None) for vmid, r in rows.items()}
        # What the cluster shows: moves finished (or VMs gone) since the last run.
        arrived: list[int] = []
        for vmid, row in rows.items():
            guest = where.get(vmid)
            if guest is None:
                tx.execute("DELETE FROM node_moves WHERE node = ? AND vmid = ?", (node, vmid))
            elif row["state"] == "planned" and guest.node != node:
                tx.execute(
                    "UPDATE node_moves SET state = 'done', target = ?, updated = ? WHERE node = ? AND vmid = ?",
                    (guest.node, now, node, vmid),
                )
                arrived.append(vmid)
            elif row["state"] in ("done", "returning") and guest.node == node:
                tx.execute("DELETE FROM node_moves WHERE node = ? AND vmid = ?", (node, vmid))
                arrived.append(vmid)
            elif row["state"] == "returning" and direction == "away":
                tx.execute(
                    "UPDATE node_moves SET state = 'done', updated = ? WHERE node = ? AND vmid = ?", (now, node, vmid)
                )
            elif row["state"] == "planned" and direction == "back":
                # A drain given up before this VM left: nothing to bring back.
                tx.execute("DELETE FROM node_moves WHERE node = ? AND vmid = ?", (node, vmid))
        for vmid in moved:
            record = rows.get(vmid)
            guest = where.get(vmid)
            if record is None:
                if direction == "back" and guest is not None and guest.node == node:
                    continue  # back home, and forgotten by an earlier run (a parallel one's refresh)
                raise Conflict("moved: VM %d has no move recorded for node %s" % (vmid, node), option="moved")
            left = guest is not None and (guest.node == node) == (direction == "back")
            if not left:
                raise Conflict(
                    "moved: VM %d is on %s, not on %s where its move goes"
                    % (
                        vmid,
                        guest.node if guest else "no node (it is gone)",
                        node if direction == "back" else record["target"],
                    ),
                    option="moved",
                )
        if moved:
            moves = _pending(tx, node, where)
        else:
            flight = reservations.in_flight(tx, now, cluster_vmids, skip_moves_of=node)
            if direction == "away":
                on_node = [g.vmid for g in where.values() if g.node == node]
                planned = plan_drain(resources, node, group_map(tx, on_node), down, flight, policy)
                tx.execute("DELETE FROM node_moves WHERE node = ? AND state = 'planned'", (node,))
                for m in planned:
                    _insert(tx, node, m, "planned", now, rows.get(m.vmid))
            else:
                drained = [
                    int(r["vmid"])
                    for r in tx.all("SELECT vmid FROM node_moves WHERE node = ? AND state <> 'planned'", (node,))
                ]
                planned = plan_return(resources, node, drained, group_map(tx, drained), down, flight, policy)
                for m in planned:
                    tx.execute(
                        "UPDATE node_moves SET state = 'returning', updated = ? WHERE node = ? AND vmid = ? "
                        "AND state <> 'returning'",
                        (now, node, m.vmid),
                    )
            moves = planned
        after_rows = move_rows(tx, node)
        after = {vmid: _row_view(r, where[vmid].node if vmid in where else None) for vmid, r in after_rows.items()}
        diff = Diff()
        for vmid in sorted(set(before) | set(after)):
            b, a = before.get(vmid), after.get(vmid)
            b_key = None if b is None else (b["state"], b["target"])
            a_key = None if a is None else (a["state"], a["target"])
            if b_key != a_key:
                diff.compare("vm %d" % vmid, _brief(b), _brief(a))
        verb = "to do" if not moves else ("would be planned" if check_mode else "planned")
        return {
            "changed": diff.changed,
            "moves": [m.as_dict() for m in moves],
            "arrived": arrived,
            "recorded": list(after.values()),
            "diff": diff.as_dict(),
            "msg": "%s %s: %d move(s) %s"
            % ("drain of" if direction == "away" else "return to", node, len(moves), "left" if moved else verb),
        }

    return store.run(work, write=True, dry_run=check_mode)


def _brief(view: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if view is None else {"state": view["state"], "target": view["target"]}


def _insert(tx: Tx, node: str, move: Move, state: str, now: float, old: Mapping[str, Any] | None) -> None:
    tx.execute("DELETE FROM node_moves WHERE node = ? AND vmid = ?", (node, move.vmid))
    created = float(old["created"]) if old is not None else now
    updated = float(old["updated"]) if old is not None and old["target"] == move.target else now
    tx.execute(
        "INSERT INTO node_moves (node, vmid, name, target, state, cores, memory_mb, tags, created, updated) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            node,
            move.vmid,
            move.name,
            move.target,
            state,
            move.cores,
            move.memory_mb,
            ",".join(move.tags),
            created,
            updated,
        ),
    )


def _pending(tx: Tx, node: str, where: Mapping[int, Guest]) -> list[Move]:
    """The moves recorded and not finished (planned away, or returning)."""
    out = []
    for row in tx.all(
        "SELECT * FROM node_moves WHERE node = ? AND state IN ('planned', 'returning') ORDER BY vmid", (node,)
    ):
        guest = where.get(int(row["vmid"]))
        if guest is None:
            continue
        target = row["target"] if row["state"] == "planned" else node
        if guest.node == target:
            continue
        out.append(
            Move(guest.vmid, guest.name, guest.node, target, guest.running, guest.cores, guest.memory_mb, guest.tags)
        )
    return out
