"""playbooks/billing.yml on a state store with a ledger: one invoice per tenant as JSON, FOCUS CSV and HTML."""

from __future__ import annotations

import csv
import io
import json
import os
import time
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H = 3600
DAY = 86400
MiB = 1024 * 1024
NODES = [{"type": "node", "node": "pve1", "status": "online", "maxcpu": 64, "maxmem": 262144 * MiB, "mem": 0}]
PRICES = """currency: EUR
versions:
  - valid_from: "2020-01-01T00:00:00Z"
    vcpu_hour: "0.0100"
    ram_gib_hour: "0.0050"
    disk_gib_month: "0.0400"
    floating_ip_hour: "0.0050"
    tenant_fee_month: "10.00"
    charged_states: [running]
"""


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def seed(url: str, start: int) -> None:
    """h7bill-a/web: web1 2 vCPU / 4 GiB / 20 GiB from the month's start, resized to 4 / 8 / 40 on day 10,
    stopped from day 15 to day 22; h7bill-b: nothing but its fee. Through the store code paths the modules use."""
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ledger
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations as res
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reconcile import reconcile
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import open_store
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

    def cluster() -> res.Cluster:
        return res.Cluster(NODES)

    store = open_store(url)
    try:
        ensure_tenant(store, {"name": "h7bill-a", "projects": ["web"]}, False, start - 10 * DAY)
        ensure_tenant(store, {"name": "h7bill-b", "projects": ["ml"]}, False, start - 10 * DAY)
        res.ensure_reservation(
            store,
            {"tenant": "h7bill-a", "project": "web", "id": "h7-web1", "name": "web1", "cores": 2}
            | {"memory_mb": 4096, "disk_gb": 20, "state": "present"},
            cluster,
            False,
            start,
        )
        res.ensure_reservation(store, {"id": "h7-web1", "vmid": 971, "state": "committed"}, cluster, False, start)
        store.run(
            lambda tx: ledger.record_vm(tx, 971, "resized", start + 10 * DAY, cores=4, memory_mb=8192, disk_gb=40)
        )
        # reconcile sees the VM stopped on day 15 (power-state drift), started again on day 22 (as proxmox_vm records)
        vm = {
            "type": "qemu",
            "vmid": 971,
            "node": "pve1",
            "name": "web1",
            "maxcpu": 4,
            "maxmem": 8192 * MiB,
            "maxdisk": 40 * 1024 * MiB,
            "tags": "ic-tenant-h7bill-a;ic-project-web",
            "status": "stopped",
        }
        found = reconcile(store, NODES + [vm], lambda n, v: {}, False, start + 15 * DAY, "h7bill-a")
        assert [x["vmid"] for x in found["drift"]["power_state"]] == [971]
        store.run(lambda tx: ledger.record_vm(tx, 971, "started", start + 22 * DAY))
    finally:
        store.close()


def test_billing_writes_one_invoice_per_tenant(ansible_playbook: Any, tmp_path: Any) -> None:
    from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.billing import period_bounds, period_of

    this_month = period_bounds(period_of(time.time()))[0]
    period = period_of(this_month - 1)  # last month: closed
    start, end = period_bounds(period)
    url = "sqlite://%s" % (tmp_path / "state.db")
    seed(url, start)
    (tmp_path / "prices.yml").write_text(PRICES)
    out = tmp_path / "invoices"
    run = ansible_playbook(
        os.path.join(ROOT, "playbooks", "billing.yml"),
        extra_vars={"period": period, "billing_dir": str(out), "billing_price_book": str(tmp_path / "prices.yml")},
        env={"IRONCLOUD_STATE_STORE": url},
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    names = ["h7bill-a.csv", "h7bill-a.html", "h7bill-a.json", "h7bill-b.csv", "h7bill-b.html", "h7bill-b.json"]
    assert sorted(os.listdir(out / period)) == names

    # by hand: M hours in the month; 2 vCPU / 4 GiB / 20 GiB for 240 h, then 4 / 8 / 40 for M - 240 h of which
    # 168 h stopped (vCPU and RAM not charged, disk charged)
    month = Decimal(end - start) / H
    rest = month - 240
    expected = [
        ("vcpu", cents(Decimal(2 * 240) * Decimal("0.01"))),
        ("vcpu", cents(4 * (rest - 168) * Decimal("0.01"))),
        ("ram", cents(Decimal(4 * 240) * Decimal("0.005"))),
        ("ram", cents(8 * (rest - 168) * Decimal("0.005"))),
        ("disk", cents(20 * 240 / month * Decimal("0.04"))),
        ("disk", cents(40 * rest / month * Decimal("0.04"))),
        ("tenant_fee", Decimal("10.00")),
    ]
    a = json.loads((out / period / "h7bill-a.json").read_text())
    assert (a["tenant"], a["period"], a["currency"], a["closed"]) == ("h7bill-a", period, "EUR", True)
    assert [(x["item"], Decimal(x["amount"])) for x in a["lines"]] == expected
    assert Decimal(a["total"]) == sum(v for item, v in expected)
    assert {x["vm"] for x in a["lines"] if x["item"] != "tenant_fee"} == {"web1"}
    b = json.loads((out / period / "h7bill-b.json").read_text())
    assert b["total"] == "10.00" and [x["item"] for x in b["lines"]] == ["tenant_fee"]

    rows = list(csv.DictReader(io.StringIO((out / period / "h7bill-a.csv").read_text())))
    assert len(rows) == len(a["lines"]) and sum(Decimal(r["BilledCost"]) for r in rows) == Decimal(a["total"])
    for column in ("BilledCost", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart"):
        assert all(r[column] for r in rows), column
    assert {r["SubAccountId"] for r in rows} == {"h7bill-a"} and {r["ResourceName"] for r in rows} >= {"web1"}

    page = (out / period / "h7bill-a.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2 and "<script" not in page
    for chunk in page.split("<svg")[1:]:
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")
    assert ">%s EUR<" % a["total"] in page

    again = ansible_playbook(
        os.path.join(ROOT, "playbooks", "billing.yml"),
        extra_vars={"period": period, "billing_dir": str(out), "billing_price_book": str(tmp_path / "prices.yml")},
        env={"IRONCLOUD_STATE_STORE": url},
    )
    assert again.returncode == 0 and "changed=0" in again.stdout, "a closed month gives the same files"

    bad = ansible_playbook(
        os.path.join(ROOT, "playbooks", "billing.yml"),
        extra_vars={"period": "2026-13", "billing_dir": str(out), "billing_price_book": str(tmp_path / "prices.yml")},
        env={"IRONCLOUD_STATE_STORE": url},
    )
    assert bad.returncode != 0 and "period: '2026-13' is not a month as YYYY-MM" in bad.stdout
