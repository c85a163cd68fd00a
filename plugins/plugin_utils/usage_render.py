# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The usage report (cloud_usage_report's RV(report)) rendered on the controller: CSV rows and one HTML page.

The HTML page is self-contained (inline CSS and SVG bar charts, no external asset). Used by the filters
ironcloud.stack.usage_csv and ironcloud.stack.usage_html.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage_report import empty_sums

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


def to_csv(report: Mapping[str, Any]) -> str:
    """One row per tenant, project and size (a project without VM-hours has one row with an empty size)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for tenant in report["tenants"]:
        for project in tenant["projects"]:
            rows = project.get("by_size") or [
                dict(dict.fromkeys(("size", "cores", "memory_mb", "disk_gb"), ""), vms=0, **empty_sums())
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
