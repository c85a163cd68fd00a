"""Invoices rendered: FOCUS CSV, the HTML page, and the HTML invoice and usage report opened in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from decimal import Decimal
from typing import Any

import pytest
from test_billing import BOOK, NOVEMBER, t, vm
from test_usage_report import report as usage_report

from ansible_collections.ironcloud.stack.plugins.filter.invoice import FilterModule
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import billing
from ansible_collections.ironcloud.stack.plugins.plugin_utils import invoice_render as render
from ansible_collections.ironcloud.stack.plugins.plugin_utils import usage_render

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
)
# db1 was found (on Nov 2) to have been stopped Oct 21 - 23: October is corrected on November's invoice.
LEDGER = NOVEMBER + [
    vm("2026-10-21T00:00:00Z", "stopped", "db1", "db", 1, 2048, 10, state="stopped", recorded="2026-11-02T00:00:00Z"),
    vm("2026-10-23T00:00:00Z", "started", "db1", "db", 1, 2048, 10, state="running", recorded="2026-11-02T00:00:00Z"),
]


def invoice() -> dict[str, Any]:
    return billing.invoice(LEDGER, BOOK, "acme", "2026-11", t("2026-12-05T00:00:00Z"))


def test_the_fixture_invoice():
    bill = invoice()
    # 76.15 (test_billing's November) and October's correction: 48 h of 1 vCPU and 2 GiB not running
    assert bill["corrections"] == "-0.96" and bill["total"] == "75.19"


def test_focus_csv():
    bill = invoice()
    filters = FilterModule().filters()
    text = filters["invoice_csv"](bill)
    assert text == filters["invoice_csv"]([bill])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(render.FOCUS_COLUMNS)
    assert len(rows) == len(bill["lines"])
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal(bill["total"])
    assert {r["BillingCurrency"] for r in rows} == {"EUR"} and {r["SubAccountId"] for r in rows} == {"acme"}
    assert {(r["BillingPeriodStart"], r["BillingPeriodEnd"]) for r in rows} == {
        ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    }
    web = next(r for r in rows if r["ResourceName"] == "web1" and r["PricingQuantity"] == "1440")
    assert (web["ListUnitPrice"], web["BilledCost"], web["PricingUnit"], web["ChargeCategory"]) == (
        "0.0120",
        "17.28",
        "vCPU-hour",
        "Usage",
    )
    assert (web["ChargePeriodStart"], web["ChargePeriodEnd"]) == ("2026-11-16T00:00:00Z", "2026-12-01T00:00:00Z")
    assert json.loads(web["Tags"]) == {"project": "web"} and web["ServiceCategory"] == "Compute"
    assert web["SkuPriceId"] == "vcpu@2026-11-16T00:00:00Z" and web["ResourceType"] == "Virtual Machine"
    fee = next(r for r in rows if r["SkuId"] == "tenant_fee")
    assert (fee["ChargeCategory"], fee["ChargeFrequency"], fee["ConsumedQuantity"]) == ("Purchase", "Recurring", "")
    fixes = [r for r in rows if r["ChargeClass"] == "Correction"]
    assert [(r["SkuId"], r["BilledCost"], r["ChargePeriodStart"][:7]) for r in fixes] == [
        ("vcpu", "-0.48", "2026-10"),
        ("ram", "-0.48", "2026-10"),
    ]


def test_html_is_self_contained_with_two_charts_and_escaped():
    bill = invoice()
    page = FilterModule().filters()["invoice_html"](bill)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2
    for chunk in page.split("<svg")[1:]:
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert '<div class="amount" id="total">75.19 EUR</div>' in page
    assert page.count("<rect") == 30 + 3  # a bar per day of November, one per project
    assert "correction of 2026-10" in page and "Subtotal web" in page and "53.99 EUR" in page
    evil = dict(bill, tenant="<b>x</b>")
    assert "<b>x</b>" not in render.to_html(evil) and "&lt;b&gt;x&lt;/b&gt;" in render.to_html(evil)
    empty = billing.invoices([], BOOK, "2026-11", t("2026-11-03T00:00:00Z"), "idle", ["idle"])[0]
    quiet = render.to_html(empty)
    assert "provisional, as of 2026-11-03T00:00:00Z" in quiet and "no charges" in quiet


def test_money():
    assert render.money("1234567.5", "EUR") == "1\u202f234\u202f567.5 EUR"
    assert render.money("-0.96", "EUR") == "-0.96 EUR"
    assert render.money("12", "JPY") == "12 JPY"


# ------------------------------------------------------------------------------------ headless Chromium


def read_png(path: str) -> tuple[int, int, int, list[bytes]]:
    """Width, height, channels and rows of pixels (RGB or RGBA, 8 bits) of a PNG: enough to look at a screenshot."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), "only 8-bit RGB/RGBA"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for x in range(stride):
            a = cur[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if kind == 1:
                cur[x] = (cur[x] + a) & 255
            elif kind == 2:
                cur[x] = (cur[x] + b) & 255
            elif kind == 3:
                cur[x] = (cur[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[x] = (cur[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(cur))
        prev = cur
    return width, height, channels, [bytes(r) for r in rows]


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium (make deps installs it)")
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("page", ["invoice", "usage"])
def test_opened_in_headless_chromium_the_page_shows_its_totals(page, tmp_path):
    if page == "invoice":
        html = render.to_html(invoice())
        totals = ["75.19 EUR", "-0.96 EUR", "Cost per day", "53.99 EUR"]
    else:
        html = usage_render.to_html(usage_report())
        totals = ["Total: 9.00 VM-hours, 18.00 core-hours", "VM-hours per project"]
    source = tmp_path / ("%s.html" % page)
    source.write_text(html)
    png = tmp_path / ("%s.png" % page)
    shot = chromium(
        "--user-data-dir=%s" % (tmp_path / "profile"),
        "--screenshot=%s" % png,
        "--window-size=1200,1600",
        source.as_uri(),
    )
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    assert png.stat().st_size > 20_000
    width, height, n, rows = read_png(str(png))
    assert (width, height) == (1200, 1600)
    colours = {row[x : x + 3] for row in rows[::8] for x in range(0, len(row) - n, n * 8)}
    assert len(colours) > 20, "the screenshot is (nearly) blank: %d colours" % len(colours)
    top = {rows[y][x : x + 3] for y in range(0, 400, 4) for x in range(0, 1200 * n, n * 4)}
    assert len(top) > 5, "nothing drawn at the top of the page"
    dom = chromium("--user-data-dir=%s" % (tmp_path / "profile2"), "--dump-dom", source.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    for text in totals:
        assert text in dom.stdout.replace("\u202f", " "), text
    if page == "invoice" and os.environ.get("IRONCLOUD_SAVE_SCREENSHOT"):
        shutil.copy(png, os.path.join(ROOT, "docs", "images", "invoice.png"))
