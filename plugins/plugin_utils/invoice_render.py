# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invoices (cloud_invoice_info's RV(invoices)) rendered on the controller: FinOps FOCUS CSV and one HTML page.

The CSV has one row per invoice line with the FOCUS columns (docs/billing.md lists them and their values). The
HTML page is self-contained (inline CSS and SVG charts of the cost per day and per project, no script, no external
asset). Used by the filters ironcloud.stack.invoice_csv and ironcloud.stack.invoice_html.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

FOCUS_COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingQuantity",
    "PricingUnit",
    "ListUnitPrice",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceName",
    "ServiceCategory",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
)
RESOURCE_TYPES = {"vm": "Virtual Machine", "floating_ip": "Floating IP", "storage_quota": "Storage Quota"}
ITEM_LABELS = {
    "vcpu": "vCPU",
    "ram": "RAM",
    "disk": "Disk",
    "floating_ip": "Floating IP",
    "storage": "Storage quota",
    "tenant_fee": "Tenant fee",
}
PALETTE = ("#2563eb", "#0d9488", "#d97706", "#7c3aed", "#db2777", "#65a30d", "#0891b2", "#dc2626")


def _invoices(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    return list(value)


def focus_rows(invoice: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for line in invoice["lines"]:
        fee = line["item"] == "tenant_fee"
        rows.append(
            {
                "BilledCost": line["amount"],
                "EffectiveCost": line["amount"],
                "ListCost": line["amount"],
                "BillingCurrency": invoice["currency"],
                "BillingPeriodStart": invoice["billing_period_start"],
                "BillingPeriodEnd": invoice["billing_period_end"],
                "ChargePeriodStart": line["charge_period_start"],
                "ChargePeriodEnd": line["charge_period_end"],
                "ChargeCategory": "Purchase" if fee else "Usage",
                "ChargeClass": "Correction" if line["correction"] else "",
                "ChargeDescription": line["description"],
                "ChargeFrequency": "Recurring" if fee else "Usage-Based",
                "ConsumedQuantity": "" if fee else line["quantity"],
                "ConsumedUnit": "" if fee else line["unit"],
                "PricingQuantity": line["quantity"],
                "PricingUnit": line["unit"],
                "ListUnitPrice": line["unit_price"],
                "ResourceId": line["resource_id"],
                "ResourceName": line["resource_name"] or "",
                "ResourceType": RESOURCE_TYPES.get(line["resource_kind"], "Tenant"),
                "ServiceName": line["service"],
                "ServiceCategory": line["service_category"],
                "SkuId": line["item"],
                "SkuPriceId": "%s@%s" % (line["item"], line["price_valid_from"]),
                "SubAccountId": invoice["tenant"],
                "SubAccountName": invoice["tenant"],
                "Tags": json.dumps({"project": line["project"]} if line["project"] else {}, sort_keys=True),
            }
        )
    return rows


def to_csv(value: Any) -> str:
    """The FOCUS rows of one invoice (or of a list of invoices), with a header row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FOCUS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for invoice in _invoices(value):
        writer.writerows(focus_rows(invoice))
    return buf.getvalue()


# ----------------------------------------------------------------------------------------- HTML


def money(amount: Any, currency: str) -> str:
    value = Decimal(str(amount))
    sign = "-" if value < 0 else ""
    whole, point, frac = format(abs(value), "f").partition(".")
    grouped = f"{int(whole):,}".replace(",", "\u202f")
    return "%s%s%s %s" % (sign, grouped, "." + frac if frac else "", currency)


def _daily_chart(daily: Sequence[Mapping[str, Any]], currency: str) -> str:
    """Vertical bars of the cost per day, with a light grid and the largest day's amount."""
    width, height, left, bottom, top = 1000, 240, 70, 34, 16
    plot_w, plot_h = width - left - 10, height - top - bottom
    values = [float(Decimal(d["amount"])) for d in daily]
    peak = max(values + [0.0])
    scale = peak if peak > 0 else 1.0
    n = max(1, len(daily))
    slot = plot_w / n
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" '
        'aria-label="Cost per day">' % (width, height)
    ]
    for i in range(5):
        y = top + plot_h * i / 4
        parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e7eb"/>' % (left, y, width - 10, y))
        parts.append(
            '<text x="%d" y="%.1f" font-size="11" fill="#6b7280" text-anchor="end">%s</text>'
            % (left - 6, y + 4, html.escape("%.2f" % (scale * (4 - i) / 4)))
        )
    for i, (day, value) in enumerate(zip(daily, values, strict=True)):
        bar_height = plot_h * max(value, 0.0) / scale
        x = left + i * slot + slot * 0.15
        parts.append(
            '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="2" fill="#2563eb"><title>%s: %s</title></rect>'
            % (
                x,
                top + plot_h - bar_height,
                slot * 0.7,
                bar_height,
                html.escape(day["date"]),
                html.escape(money(value, currency)),
            )
        )
        if i % 5 == 0 or i == n - 1:
            parts.append(
                '<text x="%.1f" y="%d" font-size="11" fill="#6b7280" text-anchor="middle">%s</text>'
                % (x + slot * 0.35, height - bottom + 16, html.escape(day["date"][5:]))
            )
    parts.append(
        '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9ca3af"/>' % (left, top + plot_h, width - 10, top + plot_h)
    )
    if not daily:
        parts.append('<text x="%d" y="%d" font-size="13" fill="#6b7280">no usage</text>' % (left + 10, top + 40))
    parts.append("</svg>")
    return "".join(parts)


def _project_chart(rows: Sequence[tuple[str, Decimal]], currency: str) -> str:
    """Horizontal bars of the cost per project."""
    width, label_w, bar_w, row_h = 1000, 180, 620, 30
    height = 10 + row_h * max(1, len(rows))
    peak = max([float(v) for label, v in rows] + [0.0]) or 1.0
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" '
        'aria-label="Cost per project">' % (width, height)
    ]
    for i, (name, value) in enumerate(rows):
        y = 6 + i * row_h
        length = bar_w * max(float(value), 0.0) / peak
        parts.append(
            '<text x="%d" y="%d" font-size="14" fill="#111827" text-anchor="end">%s</text>'
            % (label_w - 10, y + 18, html.escape(name))
        )
        parts.append(
            '<rect x="%d" y="%d" width="%.1f" height="20" rx="3" fill="%s"/>'
            % (label_w, y + 4, length, PALETTE[i % len(PALETTE)])
        )
        parts.append(
            '<text x="%.1f" y="%d" font-size="14" fill="#111827">%s</text>'
            % (label_w + length + 8, y + 19, html.escape(money(value, currency)))
        )
    if not rows:
        parts.append('<text x="10" y="24" font-size="13" fill="#6b7280">no charges</text>')
    parts.append("</svg>")
    return "".join(parts)


CSS = """
*{box-sizing:border-box}
body{font-family:"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#111827;background:#f3f4f6;margin:0;
  padding:32px}
.page{max-width:1100px;margin:0 auto;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.08);
  padding:40px 48px}
header{display:flex;justify-content:space-between;align-items:flex-start;border-bottom:2px solid #e5e7eb;
  padding-bottom:24px}
h1{font-size:28px;margin:0 0 6px}
h2{font-size:18px;margin:32px 0 12px;color:#374151}
.muted{color:#6b7280;font-size:14px}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;margin-left:8px;
  vertical-align:middle}
.final{background:#dcfce7;color:#166534}.provisional{background:#fef3c7;color:#92400e}
.total{text-align:right}.total .label{font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:#6b7280}
.total .amount{font-size:40px;font-weight:700;color:#1d4ed8;white-space:nowrap}
.cards{display:flex;gap:16px;margin-top:24px}
.card{flex:1;background:#f9fafb;border:1px solid #e5e7eb;border-radius:10px;padding:14px 18px}
.card .label{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.05em}
.card .value{font-size:20px;font-weight:600;margin-top:4px}
table{width:100%;border-collapse:collapse;font-size:14px}
th{text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#6b7280;
  border-bottom:1px solid #d1d5db;padding:8px 10px}
td{padding:7px 10px;border-bottom:1px solid #f3f4f6}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.project td{background:#eff6ff;font-weight:600;color:#1e3a8a;border-top:1px solid #bfdbfe}
tr.subtotal td{font-weight:600;border-bottom:1px solid #d1d5db}
tr.correction td{color:#92400e;background:#fffbeb}
tr.grand td{font-size:18px;font-weight:700;border-top:2px solid #111827;border-bottom:none;padding-top:12px}
footer{margin-top:32px;font-size:12px;color:#6b7280;border-top:1px solid #e5e7eb;padding-top:12px}
"""


def _project_name(name: str) -> str:
    return name or "Tenant-wide"


def to_html(invoice: Mapping[str, Any]) -> str:
    """A self-contained invoice page: the total, charts of the cost per day and per project, the lines per project."""
    esc = html.escape
    cur = invoice["currency"]
    lines = invoice["lines"]
    # the projects by name, the tenant-wide lines (fee, storage quota) last
    ordered = sorted(invoice["by_project"], key=lambda p: (p["project"] == "", p["project"]))
    projects = [(_project_name(p["project"]), Decimal(p["amount"])) for p in ordered]
    body = []
    for project in ordered:
        mine = [x for x in lines if x["project"] == project["project"]]
        body.append('<tr class="project"><td colspan="6">%s</td></tr>' % esc(_project_name(project["project"])))
        for line in mine:
            what = line["vm"] or line["resource_name"] or line["resource_id"]
            body.append(
                '<tr%s><td>%s</td><td>%s<div class="muted">%s</div></td><td class="num">%s</td><td>%s</td>'
                '<td class="num">%s</td><td class="num">%s</td></tr>'
                % (
                    ' class="correction"' if line["correction"] else "",
                    esc(str(what) if line["item"] != "tenant_fee" else invoice["tenant"]),
                    esc(ITEM_LABELS.get(line["item"], line["item"])),
                    esc(
                        "%s, %s to %s"
                        % (line["description"], line["charge_period_start"][:10], line["charge_period_end"][:10])
                    ),
                    esc(line["quantity"]),
                    esc(line["unit"]),
                    esc(line["unit_price"]),
                    esc(money(line["amount"], cur)),
                )
            )
        body.append(
            '<tr class="subtotal"><td colspan="5">Subtotal %s</td><td class="num">%s</td></tr>'
            % (esc(_project_name(project["project"])), esc(money(project["amount"], cur)))
        )
    status = (
        '<span class="badge final">final</span>'
        if invoice["closed"]
        else '<span class="badge provisional">provisional, as of %s</span>' % esc(invoice["as_of"])
    )
    vms = sorted({x["vm"] for x in lines if x["vm"]})
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            "<title>Invoice %s %s</title>" % (esc(invoice["tenant"]), esc(invoice["period"])),
            '<style>%s</style></head><body><div class="page">' % CSS,
            "<header><div><h1>Invoice &middot; %s</h1>" % esc(invoice["tenant"]),
            '<div class="muted">Period %s (%s to %s, UTC)%s</div></div>'
            % (
                esc(invoice["period"]),
                esc(invoice["billing_period_start"][:10]),
                esc(invoice["billing_period_end"][:10]),
                status,
            ),
            '<div class="total"><div class="label">Total</div><div class="amount" id="total">%s</div></div>'
            % esc(money(invoice["total"], cur)),
            "</header>",
            '<div class="cards">',
            '<div class="card"><div class="label">Projects</div><div class="value">%d</div></div>'
            % len([p for p in invoice["by_project"] if p["project"]]),
            '<div class="card"><div class="label">Virtual machines</div><div class="value">%d</div></div>' % len(vms),
            '<div class="card"><div class="label">Lines</div><div class="value">%d</div></div>' % len(lines),
            '<div class="card"><div class="label">Corrections</div><div class="value">%s</div></div>'
            % esc(money(invoice["corrections"], cur)),
            "</div>",
            "<h2>Cost per day (%s)</h2>" % esc(cur),
            _daily_chart(invoice["daily"], cur),
            "<h2>Cost per project</h2>",
            _project_chart(projects, cur),
            "<h2>Charges</h2>",
            '<table><tr><th>Resource</th><th>Item</th><th class="num">Quantity</th><th>Unit</th>'
            '<th class="num">Unit price</th><th class="num">Amount</th></tr>',
            *body,
            '<tr class="grand"><td colspan="5">Total</td><td class="num">%s</td></tr>'
            % esc(money(invoice["total"], cur)),
            "</table>",
            "<footer>Prices: %s price book version(s) valid from %s. Usage is prorated to the second; each line "
            "is rounded half-even to the currency's minor unit and the total is the sum of the lines. Correction "
            "lines re-rate an earlier, closed month with facts recorded in this one.</footer>"
            % (esc(cur), esc(", ".join(invoice["price_versions"]) or "-")),
            "</div></body></html>",
            "",
        ]
    )
