# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The usage report: VM-hours by size per tenant and project from the usage ledger, with quota use (cloud_usage_report).

The ledger (table usage_events, ledger.py) holds, for each VM (kind ``vm``), a ``committed`` event when a
reservation becomes a VM, ``resized``, ``started`` and ``stopped`` events, and a ``released`` event when it goes,
each with the VM's sizes after it (cores, memory_mb, disk_gb). A VM's time is every interval from one of its events
to the next (or to the end of the period when none follows), except after ``released``; it counts whatever the
VM's power state (the invoice, billing.py, charges vCPU and RAM by state). Only the part of an interval inside the
report's period counts. Other kinds of rows (floating IPs, storage quota, tenants) are for billing only.

VM-hours are reported by size (the cores / memory / disk triple, labelled ``2c-4096m-20g``) and summed into
core-hours, memory GiB-hours and disk GB-hours. Everything here but ``read_ledger`` is pure. The report is
rendered as CSV and HTML on the controller (plugins/plugin_utils/usage_render.py, the usage_csv and usage_html filters).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

HOUR = 3600.0
SUMS = ("vm_hours", "core_hours", "memory_gb_hours", "disk_gb_hours")


# ----------------------------------------------------------------------------------------- time


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(float(epoch), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(option: str, value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 date or date-time (UTC unless it says otherwise) or a number; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError("%s: %r is not a time" % (option, value), option=option)
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.match(r"^-?\d+(\.\d+)?$", text):
        return float(text)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            "%s: %r is not an ISO 8601 date or time (for example 2026-11-01 or "
            "2026-11-01T00:00:00Z) nor epoch seconds" % (option, value),
            option=option,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


# ------------------------------------------------------------------------------------ intervals


def size_label(cores: int, memory_mb: int, disk_gb: int) -> str:
    return "%dc-%dm-%dg" % (cores, memory_mb, disk_gb)


def intervals(events: Sequence[Mapping[str, Any]], start: float, end: float) -> list[dict[str, Any]]:
    """The running intervals of the ledger's VMs, clipped to [start, end); empty ones are dropped.

    Events are dicts with at, event (committed, resized, started, stopped, released), reservation, tenant, project,
    vmid, cores, memory_mb, disk_gb, in any order. Every event but released opens a new interval with its sizes.
    """
    out: list[dict[str, Any]] = []
    opened: dict[str, Mapping[str, Any]] = {}

    def close(event: Mapping[str, Any], until: float) -> None:
        begin = max(float(event["at"]), start)
        finish = min(until, end)
        if finish > begin:
            out.append(
                {
                    "reservation": str(event["reservation"]),
                    "tenant": str(event["tenant"]),
                    "project": str(event["project"]),
                    "vmid": event.get("vmid"),
                    "cores": int(event["cores"]),
                    "memory_mb": int(event["memory_mb"]),
                    "disk_gb": int(event["disk_gb"]),
                    "start": begin,
                    "end": finish,
                }
            )

    ordered = sorted(events, key=lambda e: (float(e["at"]), 0 if e["event"] == "released" else 1))
    for event in ordered:
        rid = str(event["reservation"])
        if rid in opened:
            close(opened.pop(rid), float(event["at"]))
        if event["event"] not in ("released", "removed"):
            opened[rid] = event
    for event in opened.values():
        close(event, end)
    return sorted(out, key=lambda i: (i["tenant"], i["project"], i["start"], i["reservation"]))


def empty_sums() -> dict[str, float]:
    return dict.fromkeys(SUMS, 0.0)


def _add(sums: dict[str, float], item: Mapping[str, Any], hours: float) -> None:
    sums["vm_hours"] += hours
    sums["core_hours"] += hours * item["cores"]
    sums["memory_gb_hours"] += hours * item["memory_mb"] / 1024.0
    sums["disk_gb_hours"] += hours * item["disk_gb"]


def _rounded(sums: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in sums.items()}


def vm_hours(items: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{(tenant, project) as 'tenant/project': {"by_size": [...], sums...}} of the intervals."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        key = (item["tenant"], item["project"])
        entry = groups.setdefault(key, {"sums": empty_sums(), "sizes": {}})
        hours = (item["end"] - item["start"]) / HOUR
        _add(entry["sums"], item, hours)
        label = size_label(item["cores"], item["memory_mb"], item["disk_gb"])
        size = entry["sizes"].setdefault(
            label,
            {
                "size": label,
                "cores": item["cores"],
                "memory_mb": item["memory_mb"],
                "disk_gb": item["disk_gb"],
                "vms": set(),
                "sums": empty_sums(),
            },
        )
        size["vms"].add(item["reservation"])
        _add(size["sums"], item, hours)
    out: dict[str, dict[str, Any]] = {}
    for (tenant, project), entry in sorted(groups.items()):
        by_size = []
        for label in sorted(
            entry["sizes"],
            key=lambda s: (entry["sizes"][s]["cores"], entry["sizes"][s]["memory_mb"], entry["sizes"][s]["disk_gb"]),
        ):
            size = entry["sizes"][label]
            by_size.append(
                dict(
                    {k: size[k] for k in ("size", "cores", "memory_mb", "disk_gb")},
                    vms=len(size["vms"]),
                    **_rounded(size["sums"]),
                )
            )
        out["%s/%s" % (tenant, project)] = dict(_rounded(entry["sums"]), by_size=by_size)
    return out


# --------------------------------------------------------------------------------------- report


def _pct(used: Any, reserved: Any, quota: Any) -> float | None:
    if not isinstance(quota, (int, float)) or isinstance(quota, bool) or quota <= 0:
        return None
    return round(100.0 * (float(used or 0) + float(reserved or 0)) / float(quota), 1)


def build_report(
    tenants: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]], start: float, end: float
) -> dict[str, Any]:
    """The report: per tenant its quota, use and VM-hours, per project its use and VM-hours, and the totals.

    tenants is what usage.report returns (name, quota, used, reserved, free, projects [{name, used, reserved}]);
    a tenant or project found only in the ledger (since removed) is reported with its VM-hours alone.
    """
    if end < start:
        raise ValidationError(
            "end: the end of the period (%s) is before its start (%s)" % (iso(end), iso(start)), option="end"
        )
    hours = vm_hours(intervals(events, start, end))
    by_tenant: dict[str, dict[str, Any]] = {}
    for tenant in tenants:
        quota = dict(tenant.get("quota") or {})
        used = dict(tenant.get("used") or {})
        reserved = dict(tenant.get("reserved") or {})
        by_tenant[str(tenant["name"])] = {
            "name": str(tenant["name"]),
            "quota": quota,
            "used": used,
            "reserved": reserved,
            "free": dict(tenant.get("free") or {}),
            "quota_used_pct": {k: _pct(used.get(k), reserved.get(k), quota.get(k)) for k in quota},
            "projects": {
                str(p["name"]): {
                    "name": str(p["name"]),
                    "used": dict(p.get("used") or {}),
                    "reserved": dict(p.get("reserved") or {}),
                }
                for p in tenant.get("projects") or []
            },
        }
    for key in hours:
        tname, pname = key.split("/", 1)
        entry = by_tenant.setdefault(
            tname,
            {
                "name": tname,
                "quota": {},
                "used": {},
                "reserved": {},
                "free": {},
                "quota_used_pct": {},
                "projects": {},
                "removed": True,
            },
        )
        entry["projects"].setdefault(pname, {"name": pname, "used": {}, "reserved": {}, "removed": True})
    totals = empty_sums()
    out_tenants = []
    for tname in sorted(by_tenant):
        entry = by_tenant[tname]
        tsums = empty_sums()
        sizes: dict[str, dict[str, Any]] = {}
        projects = []
        for pname in sorted(entry["projects"]):
            project = dict(entry["projects"][pname])
            phours = hours.get("%s/%s" % (tname, pname), dict(empty_sums(), by_size=[]))
            project.update(phours)
            projects.append(project)
            for k in SUMS:
                tsums[k] += phours[k]
            for size in phours["by_size"]:
                merged = sizes.setdefault(size["size"], dict(size, vms=0, **empty_sums()))
                merged["vms"] += size["vms"]
                for k in SUMS:
                    merged[k] += size[k]
        for k in SUMS:
            totals[k] += tsums[k]
        entry = dict(
            entry,
            projects=projects,
            by_size=[dict(s, **_rounded({k: s[k] for k in SUMS})) for label, s in sorted(sizes.items())],
        )
        entry.update(_rounded(tsums))
        out_tenants.append(entry)
    return {
        "period": {"start": iso(start), "end": iso(end), "hours": round((end - start) / HOUR, 4)},
        "tenants": out_tenants,
        "totals": _rounded(totals),
    }


def read_ledger(tx: Tx, until: float, tenant: str | None = None, project: str | None = None) -> list[dict[str, Any]]:
    """The ledger events up to until (the report clips them to its period), of one tenant or project if given."""
    sql = (
        "SELECT at, event, reservation, tenant, project, vmid, cores, memory_mb, disk_gb "
        "FROM usage_events WHERE kind = 'vm' AND at <= ?"
    )
    params: list[Any] = [until]
    if tenant is not None:
        sql += " AND tenant = ?"
        params.append(tenant)
    if project is not None:
        sql += " AND project = ?"
        params.append(project)
    return tx.all(sql + " ORDER BY at, id", params)


def report_from_store(
    store: Store,
    now: float,
    start: Any = None,
    end: Any = None,
    tenant: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """cloud_usage_report: the report of the period [start, end) read in one transaction of the store.

    start defaults to the ledger's first event (or end when it is empty), end to now. The quota figures
    (used, reserved, free) are those of cloud_usage_info at the time of the report.
    """
    begin = parse_time("start", start)
    finish = parse_time("end", end)
    until = now if finish is None else finish

    def work(tx: Tx) -> dict[str, Any]:
        tenants = acct.report(tx, now, tenant, project)
        events = read_ledger(tx, until, tenant, project)
        first = min((float(e["at"]) for e in events), default=until)
        return build_report(tenants, events, first if begin is None else begin, until)

    return {"changed": False, "report": store.run(work, write=False)}
