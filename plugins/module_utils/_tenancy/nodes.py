# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A hypervisor node's state in the store (cloud_node): active, or in maintenance with a reason.

The scheduler (reservations.py, maintenance_nodes) never places a VM on a node in maintenance. The mark lives in
the store, not in Proxmox, so every controller sharing the store sees it at once, in the same transaction lock
("placement") that placement takes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage import iso

# PVE's pve-node format: a host name label.
NODE_NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
STATES = ("active", "maintenance")


def check_node_name(name: str) -> str:
    if not NODE_NAME.match(name or ""):
        raise ValidationError(
            "name: %r is not a node name (letters, digits and '-', at most 63, not starting or ending with '-')" % name,
            option="name",
        )
    return name


def view(name: str, row: Mapping[str, Any] | None) -> dict[str, Any]:
    """The node as cloud_node returns it."""
    maintenance = bool(row and row["maintenance"])
    return {
        "name": name,
        "state": "maintenance" if maintenance else "active",
        "reason": (row["reason"] or None) if maintenance and row else None,
        "since": iso(float(row["updated"])) if row and row["updated"] else None,
    }


def ensure_node(store: Store, params: Mapping[str, Any], check_mode: bool, now: float) -> dict[str, Any]:
    """Put node `name` in `state`; with maintenance, `reason` (if given) is kept with the mark."""
    name = check_node_name(params["name"])
    state = params.get("state") or "active"
    if state not in STATES:
        raise ValidationError("state: must be one of %s, not %r" % (", ".join(STATES), state), option="state")
    wanted_reason = params.get("reason")

    def work(tx: Tx) -> dict[str, Any]:
        tx.lock("placement")
        row = tx.one("SELECT * FROM node_flags WHERE node = ?", (name,))
        before = view(name, row)
        after = dict(before, state=state)
        if state == "maintenance":
            after["reason"] = before["reason"] if wanted_reason is None else (wanted_reason or None)
        else:
            after["reason"] = None
        diff = Diff()
        for field in ("state", "reason"):
            diff.compare(field, before[field], after[field])
        if not diff.changed:
            return {"changed": False, "node": before, "diff": diff.as_dict(), "msg": "node %s is %s" % (name, state)}
        maintenance = int(state == "maintenance")
        if row is None:
            tx.execute(
                "INSERT INTO node_flags (node, maintenance, reason, updated) VALUES (?, ?, ?, ?)",
                (name, maintenance, after["reason"], now),
            )
        else:
            since = now if before["state"] != state else float(row["updated"])
            tx.execute(
                "UPDATE node_flags SET maintenance = ?, reason = ?, updated = ? WHERE node = ?",
                (maintenance, after["reason"], since, name),
            )
        if before["state"] != state:
            after["since"] = iso(now)
        verb = "would be" if check_mode else "is now"
        return {"changed": True, "node": after, "diff": diff.as_dict(), "msg": "node %s %s %s" % (name, verb, state)}

    return store.run(work, write=True, dry_run=check_mode)
