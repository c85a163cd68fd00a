# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The usage ledger: an append-only record of what each tenant holds over time (table usage_events).

Every row is the state of one resource *after* a change, from ``at`` (when the change took effect) until the next
row of the same resource. Rows are never updated nor deleted: a correction is a new row (with ``at`` in the past
and ``recorded`` now), and billing (billing.py) bills it as a correction in the period it was recorded in.

    record(tx, "vm", "stopped", tenant="acme", resource="acme-web-web1", at=now)     # sizes carried over
    record_vm(tx, 153, "resized", now, cores=4, memory_mb=8192)                     # the VM by its VMID

Kinds and their events (the resource id is in the column ``reservation``):

  vm             committed (created), resized, started, stopped, released (destroyed); resource = the
                 reservation id; cores, memory_mb, disk_gb and state (running, stopped, paused, ...; NULL
                 is "running": a committed VM is started by the vm role)
  floating_ip    allocated, released; resource = the address, project the holder's project. Associating,
                 moving or disassociating an allocated floating IP is not an event (no row): the tenant pays
                 floating_ip_hour for holding the address, whatever VM it points at
  storage_quota  set (disk_gb = the tenant's storage quota in GiB, 0 = none); resource = the tenant
  tenant         created, removed; resource = the tenant (the tenant's fixed monthly fee)

Who writes what: reservations.py (committed, released), reconcile.py (drift: adopted VMs, sizes and power states
that differ from Proxmox, VMs gone), tenants.py (tenant created/removed, storage quota set), floating_ips.py
(floating_ip allocated/released, source cloud_floating_ip, or cloud_vm for the VM flow's floating IP). The modules
that change a VM's power state or size in Proxmox call record_vm() in the transaction that records their change.
Nothing else removes a floating IP: reconcile leaves them alone, and removing a tenant, a project or a provider
network is refused while it holds one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Tx

EVENTS: dict[str, tuple[str, ...]] = {
    "vm": ("committed", "resized", "started", "stopped", "released"),
    "floating_ip": ("allocated", "released"),
    "storage_quota": ("set",),
    "tenant": ("created", "removed"),
}
# Events after which the resource no longer exists (nothing is billed until it comes again).
ENDS = frozenset({"released", "removed"})
# The power state an event implies when the caller gives none.
STATE_OF_EVENT = {"started": "running", "stopped": "stopped"}
COLUMNS = (
    "id",
    "at",
    "recorded",
    "kind",
    "event",
    "reservation",
    "tenant",
    "project",
    "name",
    "vmid",
    "cores",
    "memory_mb",
    "disk_gb",
    "state",
    "source",
    "note",
)
CARRIED = ("project", "name", "vmid", "cores", "memory_mb", "disk_gb", "state")


def previous(tx: Tx, kind: str, tenant: str, resource: str, at: float) -> dict[str, Any] | None:
    """The resource's last row in effect at `at` (None when it has none)."""
    return tx.one(
        "SELECT * FROM usage_events WHERE kind = ? AND tenant = ? AND reservation = ? AND at <= ? "
        "ORDER BY at DESC, id DESC LIMIT 1",
        (kind, tenant, resource, at),
    )


def record(
    tx: Tx,
    kind: str,
    event: str,
    tenant: str,
    resource: str,
    at: float,
    recorded: float | None = None,
    source: str | None = None,
    note: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Append one row: the resource's state after `event` at `at`; what `fields` does not give is carried over.

    fields: project, name, vmid, cores, memory_mb, disk_gb, state. recorded (when the row is written) is `at`
    unless given: give it when the change happened earlier than now (a correction). Returns the row written.
    """
    if kind not in EVENTS:
        raise ValidationError("kind: %r is not one of %s" % (kind, ", ".join(EVENTS)), option="kind")
    if event not in EVENTS[kind]:
        raise ValidationError(
            "event: %r is not an event of a %s (%s)" % (event, kind, ", ".join(EVENTS[kind])), option="event"
        )
    unknown = sorted(set(fields) - set(CARRIED))
    if unknown:
        raise ValidationError(
            "%s: not a field of the ledger (%s)" % (unknown[0], ", ".join(CARRIED)), option=unknown[0]
        )
    for key in ("cores", "memory_mb", "disk_gb"):
        value = fields.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValidationError("%s: must be an integer >= 0, got %r" % (key, value), option=key)
    before = previous(tx, kind, tenant, resource, at)
    row: dict[str, Any] = dict.fromkeys(CARRIED)
    row.update(project="", cores=0, memory_mb=0, disk_gb=0)
    if before is not None and before["event"] not in ENDS:
        row.update({k: before[k] for k in CARRIED})
    row.update({k: v for k, v in fields.items() if v is not None})
    if event in STATE_OF_EVENT and fields.get("state") is None:
        row["state"] = STATE_OF_EVENT[event]
    row.update(
        at=float(at),
        recorded=float(at if recorded is None else recorded),
        kind=kind,
        event=event,
        reservation=resource,
        tenant=tenant,
        source=source,
        note=note,
    )
    names = [c for c in COLUMNS if c != "id"]
    tx.execute(
        "INSERT INTO usage_events (%s) VALUES (%s)" % (", ".join(names), ", ".join("?" * len(names))),
        [row[c] for c in names],
    )
    return row


def record_vm(tx: Tx, vmid: int, event: str, at: float, **kw: Any) -> dict[str, Any] | None:
    """record() for the VM of a committed reservation, found by its VMID; None when the store has no such VM.

    For proxmox_vm / cloud_vm after a start, stop or resize: record_vm(tx, vmid, "stopped", now). A resize also
    sets the reservation's cores, memory_mb and disk_gb that are given (what the quota counts), so that reconcile
    sees no drift; checking the quota before growing a VM is the caller's business.
    """
    row = tx.one("SELECT * FROM reservations WHERE vmid = ? AND state = 'committed'", (vmid,))
    if row is None:
        return None
    kw.setdefault("vmid", vmid)
    written = record(tx, "vm", event, row["tenant"], row["id"], at, **kw)
    if event == "resized":
        for key in ("cores", "memory_mb", "disk_gb"):
            if kw.get(key) is not None:
                tx.execute("UPDATE reservations SET %s = ? WHERE id = ?" % key, (int(kw[key]), row["id"]))
    return written


def vm_fields(row: Mapping[str, Any], vmid: int | None) -> dict[str, Any]:
    """The ledger fields of a reservation row (for committed and released events)."""
    return {
        "project": row["project"],
        "name": row.get("name"),
        "vmid": vmid,
        "cores": int(row["cores"]),
        "memory_mb": int(row["memory_mb"]),
        "disk_gb": int(row["disk_gb"]),
    }


def read(
    tx: Tx, tenant: str | None = None, kind: str | None = None, until: float | None = None
) -> list[dict[str, Any]]:
    """Ledger rows (recorded = COALESCE(recorded, at)), oldest first; of one tenant or kind, effective before until."""
    sql = "SELECT %s, COALESCE(recorded, at) AS recorded_at FROM usage_events WHERE 1 = 1" % ", ".join(COLUMNS)
    params: list[Any] = []
    if tenant is not None:
        sql += " AND tenant = ?"
        params.append(tenant)
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    if until is not None:
        sql += " AND at < ?"
        params.append(until)
    out = []
    for row in tx.all(sql + " ORDER BY at, id", params):
        row["recorded"] = float(row.pop("recorded_at"))
        out.append(row)
    return out
