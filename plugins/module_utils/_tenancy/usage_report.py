# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The usage report: VM-hours by size per tenant and project from the usage ledger, with quota use (cloud_usage_report).

The ledger (table usage_events, written by reservations.py and reconcile.py) holds one ``committed`` event when a
reservation becomes a VM and one ``released`` event when it goes, each with the VM's sizes (cores, memory_mb,
disk_gb). A VM's running time is every interval from a ``committed`` event to the next event of the same
reservation (``released``, or a new ``committed`` with new sizes after a resize), or to the end of the period when
none follows. Only the part of an interval inside the report's period counts.

VM-hours are reported by size (the cores / memory / disk triple, labelled ``2c-4096m-20g``) and summed into
core-hours, memory GiB-hours and disk GB-hours. Everything here but ``read_ledger`` is pure.
"""

from __future__ import annotations

import csv
import datetime
import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import usage as acct
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

HOUR = 3600.0
# Quota keys shown in the report's bar chart of quota used, in this order.
CHART_KEYS = ("cores", "memory_mb", "disk_gb", "vms", "networks", "addresses")
CSV_FIELDS = (
    "tenant",
    "project",
    "size",
    "cores",
    "memory_mb",
    "disk_gb",
    "vms",
    "vm_hours",
    "core_hours",
    "memory_gb_hours",
    "disk_gb_hours",
)
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

    Events are dicts with at, event (committed/released), reservation, tenant, project, vmid, cores, memory_mb,
    disk_gb, in any order.
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
        if event["event"] == "committed":
            opened[rid] = event
    for event in opened.values():
        close(event, end)
    return sorted(out, key=lambda i: (i["tenant"], i["project"], i["start"], i["reservation"]))


def _empty_sums() -> dict[str, float]:
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
        entry = groups.setdefault(key, {"sums": _empty_sums(), "sizes": {}})
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
                "sums": _empty_sums(),
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
    totals = _empty_sums()
    out_tenants = []
    for tname in sorted(by_tenant):
        entry = by_tenant[tname]
        tsums = _empty_sums()
        sizes: dict[str, dict[str, Any]] = {}
        projects = []
        for pname in sorted(entry["projects"]):
            project = dict(entry["projects"][pname])
            phours = hours.get("%s/%s" % (tname, pname), dict(_empty_sums(), by_size=[]))
            project.update(phours)
            projects.append(project)
            for k in SUMS:
                tsums[k] += phours[k]
            for size in phours["by_size"]:
                merged = sizes.setdefault(size["size"], dict(size, vms=0, **_empty_sums()))
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


def to_csv(report: Mapping[str, Any]) -> str:
    """One row per tenant, project and size (a project without VM-hours has one row with an empty size)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for tenant in report["tenants"]:
        for project in tenant["projects"]:
            rows = project.get("by_size") or [
                dict(dict.fromkeys(("size", "cores", "memory_mb", "disk_gb"), ""), vms=0, **_empty_sums())
            ]
            for size in rows:
                writer.writerow(
                    dict({k: size[k] for k in CSV_FIELDS[2:]}, tenant=tenant["name"], project=project["name"])
                )
    return buf.getvalue()


# ----------------------------------------------------------------------------------------- HTML


def _bars(title: str, rows: Sequence[tuple[str, float, str]], unit: str, maximum: float | None = None) -> str:
    """A horizontal bar chart as inline SVG: rows of (label, value, value text)."""
    width, label_w, bar_w, row_h = 760, 260, 400, 22
    top = max([row[1] for row in rows] + [maximum or 0.0, 1e-9])
    height = 30 + row_h * max(1, len(rows))
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">'
        % (width, height, html.escape(title)),
        '<text x="0" y="16" font-size="14" font-weight="bold">%s</text>' % html.escape(title),
    ]
    if not rows:
        parts.append('<text x="0" y="42" font-size="12" fill="#666">nothing to show</text>')
    for i, (label, value, text) in enumerate(rows):
        y = 26 + i * row_h
        length = 0 if top <= 0 else bar_w * min(value, top) / top
        colour = "#c0392b" if unit == "%" and value >= 90 else "#e67e22" if unit == "%" and value >= 75 else "#2e86c1"
        parts.append('<text x="0" y="%d" font-size="12">%s</text>' % (y + 14, html.escape(label)))
        parts.append('<rect x="%d" y="%d" width="%.1f" height="16" fill="%s"/>' % (label_w, y + 2, length, colour))
        parts.append(
            '<text x="%.1f" y="%d" font-size="12">%s</text>' % (label_w + length + 6, y + 14, html.escape(text))
        )
    if maximum:
        x = label_w + bar_w
        parts.append('<line x1="%d" y1="22" x2="%d" y2="%d" stroke="#999" stroke-dasharray="4 3"/>' % (x, x, height))
    parts.append("</svg>")
    return "\n".join(parts)


def to_html(report: Mapping[str, Any]) -> str:
    """A self-contained page: the period, a chart of quota used and one of VM-hours, and the tables."""
    period = report["period"]
    quota_rows = []
    for tenant in report["tenants"]:
        for key in CHART_KEYS:
            pct = tenant.get("quota_used_pct", {}).get(key)
            if pct is not None:
                quota_rows.append(
                    ("%s %s" % (tenant["name"], key), float(pct), "%.1f%% of %s" % (pct, tenant["quota"].get(key)))
                )
    hour_rows = []
    for tenant in report["tenants"]:
        for project in tenant["projects"]:
            hour_rows.append(
                (
                    "%s / %s" % (tenant["name"], project["name"]),
                    float(project["vm_hours"]),
                    "%.2f VM-h, %.2f core-h" % (project["vm_hours"], project["core_hours"]),
                )
            )
    esc = html.escape
    rows = []
    for tenant in report["tenants"]:
        for project in tenant["projects"]:
            for size in project.get("by_size") or [
                {
                    "size": "-",
                    "vms": 0,
                    "vm_hours": 0.0,
                    "core_hours": 0.0,
                    "memory_gb_hours": 0.0,
                    "disk_gb_hours": 0.0,
                }
            ]:
                rows.append(
                    "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.2f</td><td>%.2f</td><td>%.2f</td>"
                    "<td>%.2f</td></tr>"
                    % (
                        esc(tenant["name"]),
                        esc(project["name"]),
                        esc(str(size["size"])),
                        size["vms"],
                        size["vm_hours"],
                        size["core_hours"],
                        size["memory_gb_hours"],
                        size["disk_gb_hours"],
                    )
                )
    quota_table = []
    for tenant in report["tenants"]:
        for key in sorted(tenant["quota"]):
            quota_table.append(
                "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
                % (
                    esc(tenant["name"]),
                    esc(key),
                    esc(str(tenant["quota"].get(key))),
                    esc(str(tenant["used"].get(key, ""))),
                    esc(str(tenant["reserved"].get(key, ""))),
                    esc("" if tenant["quota_used_pct"].get(key) is None else "%.1f%%" % tenant["quota_used_pct"][key]),
                )
            )
    totals = report["totals"]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"><title>ironcloud usage %s to %s</title>'
            % (esc(period["start"]), esc(period["end"])),
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,td:nth-child(2),"
            "th{text-align:left}</style></head><body>",
            "<h1>Usage per tenant and project</h1>",
            "<p>Period %s to %s (%.2f h). Total: %.2f VM-hours, %.2f core-hours, %.2f memory GiB-hours, "
            "%.2f disk GB-hours.</p>"
            % (
                esc(period["start"]),
                esc(period["end"]),
                period["hours"],
                totals["vm_hours"],
                totals["core_hours"],
                totals["memory_gb_hours"],
                totals["disk_gb_hours"],
            ),
            "<h2>Quota used (used + reserved)</h2>",
            _bars("Quota used, percent", quota_rows, "%", maximum=100.0),
            "<h2>VM-hours</h2>",
            _bars("VM-hours per project", hour_rows, "h"),
            "<h2>VM-hours by size</h2>",
            "<table><tr><th>tenant</th><th>project</th><th>size</th><th>VMs</th><th>VM-h</th><th>core-h</th>"
            "<th>memory GiB-h</th><th>disk GB-h</th></tr>",
            *rows,
            "</table>",
            "<h2>Quota</h2>",
            "<table><tr><th>tenant</th><th>resource</th><th>quota</th><th>used</th><th>reserved</th><th>used %</th>"
            "</tr>",
            *quota_table,
            "</table>",
            "</body></html>",
            "",
        ]
    )


# ---------------------------------------------------------------------------------------- store


def read_ledger(tx: Tx, until: float, tenant: str | None = None, project: str | None = None) -> list[dict[str, Any]]:
    """The ledger events up to until (the report clips them to its period), of one tenant or project if given."""
    sql = (
        "SELECT at, event, reservation, tenant, project, vmid, cores, memory_mb, disk_gb "
        "FROM usage_events WHERE at <= ?"
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

    report = store.run(work, write=False)
    return {"changed": False, "report": report, "csv": to_csv(report), "html": to_html(report)}
