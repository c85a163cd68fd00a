"""The billing ledger written by the store's code paths and read back into invoices, on both backends."""

from __future__ import annotations

import datetime
import sqlite3

import pytest
from tenancy_helpers import cluster_of, lab_cluster, vm

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import billing, ledger
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import reservations as res
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.floating_ips import ensure_floating_ip
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.pricebook import PriceBookError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.providers import ensure_provider
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reconcile import reconcile
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import MIGRATIONS, open_store
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant

CLUSTER = cluster_of(lab_cluster())
PRICES = """currency: EUR
versions:
  - valid_from: "2026-01-01T00:00:00Z"
    vcpu_hour: "0.0100"
    ram_gib_hour: "0.0050"
    disk_gib_month: "0.0400"
    floating_ip_hour: "0.0050"
    tenant_fee_month: "10.00"
    storage_gib_month: "0.0200"
    charged_states: [running]
"""


def t(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def rows(store, kind=None):
    return store.run(lambda tx: ledger.read(tx, kind=kind), write=False)


def test_the_code_paths_write_the_ledger_and_the_invoice_reads_it(store, tmp_path):
    book = tmp_path / "prices.yml"
    book.write_text(PRICES)
    nov1 = t("2026-11-01T00:00:00Z")
    ensure_tenant(store, {"name": "acme", "quota": {"storage_gb": 100}, "projects": ["web"]}, False, nov1)
    res.ensure_reservation(
        store,
        {"tenant": "acme", "project": "web", "id": "acme-web-web1", "name": "web1", "cores": 2, "memory_mb": 4096}
        | {"disk_gb": 20, "state": "present"},
        CLUSTER,
        False,
        nov1,
    )
    res.ensure_reservation(store, {"id": "acme-web-web1", "vmid": 150, "state": "committed"}, CLUSTER, False, nov1)
    # the VM is stopped for a week (as proxmox_vm would record it), the storage quota doubled mid-month
    store.run(lambda tx: ledger.record_vm(tx, 150, "stopped", t("2026-11-08T00:00:00Z")))
    store.run(lambda tx: ledger.record_vm(tx, 150, "started", t("2026-11-15T00:00:00Z")))
    assert store.run(lambda tx: ledger.record_vm(tx, 999, "stopped", nov1)) is None  # not a VM of the store
    ensure_tenant(store, {"name": "acme", "quota": {"storage_gb": 200}}, False, t("2026-11-16T00:00:00Z"))
    store.run(
        lambda tx: ledger.record(
            tx, "floating_ip", "allocated", "acme", "203.0.113.7", t("2026-11-21T00:00:00Z"), project="web"
        )
    )
    kinds = [(r["kind"], r["event"], r["state"], r["cores"], r["disk_gb"], r["source"]) for r in rows(store)]
    assert kinds == [
        ("tenant", "created", None, 0, 0, "cloud_tenant"),
        ("storage_quota", "set", None, 0, 100, "cloud_tenant"),
        ("vm", "committed", None, 2, 20, "cloud_reservation"),
        ("vm", "stopped", "stopped", 2, 20, None),
        ("vm", "started", "running", 2, 20, None),
        ("storage_quota", "set", None, 0, 200, "cloud_tenant"),
        ("floating_ip", "allocated", None, 0, 0, None),
    ]
    out = billing.invoices_from_store(store, t("2026-12-01T00:00:00Z"), "2026-11", str(book), "acme")
    assert out["changed"] is False and out["msg"] == "1 invoice(s) for 2026-11"
    bill = out["invoices"][0]
    # by hand: web1 runs 23 days = 552 h: 1104 vCPU-h x 0.01 = 11.04, 4 GiB x 552 h x 0.005 = 11.04;
    # disk 20 GiB-month x 0.04 = 0.80; storage 100 GiB x 15/30 + 200 GiB x 15/30 = 150 GiB-month x 0.02 = 3.00;
    # floating IP 10 days = 240 h x 0.005 = 1.20; fee 10.00
    got = [(x["vm"] or x["resource_id"], x["item"], x["quantity"], x["amount"]) for x in bill["lines"]]
    assert got == [
        ("web1", "vcpu", "1104", "11.04"),
        ("web1", "ram", "2208", "11.04"),
        ("web1", "disk", "20", "0.80"),
        ("203.0.113.7", "floating_ip", "240", "1.20"),
        ("acme", "storage", "50", "1.00"),  # 100 GiB for half the month
        ("acme", "storage", "100", "2.00"),  # 200 GiB for the other half
        ("acme", "tenant_fee", "1", "10.00"),
    ]
    assert bill["total"] == "37.08"
    # the VM goes: a released row; December has only the quota, the IP and the fee
    res.ensure_reservation(store, {"vmid": 150, "state": "absent"}, CLUSTER, False, t("2026-12-01T00:00:00Z"))
    december = billing.invoices_from_store(store, t("2027-01-01T00:00:00Z"), "2026-12", str(book))["invoices"]
    assert [x["item"] for x in december[0]["lines"]] == ["floating_ip", "storage", "tenant_fee"]


def test_a_floating_ip_held_ten_hours_is_billed_ten_hours(store, tmp_path):
    """cloud_floating_ip allocates at T and releases at T+10 h: the invoice has 10 h x floating_ip_hour."""
    book = tmp_path / "prices.yml"
    book.write_text(PRICES)
    nov1 = t("2026-11-01T00:00:00Z")
    ensure_tenant(store, {"name": "acme", "projects": ["web"]}, False, nov1)
    pool = {
        "name": "external",
        "cidr": "203.0.113.0/24",
        "gateway": "203.0.113.1",
        "range": "203.0.113.10-203.0.113.20",
    }
    ensure_provider(store, pool, False, nov1)
    fip = {"tenant": "acme", "project": "web", "address": "203.0.113.12"}
    allocated = t("2026-11-10T08:00:00Z")
    assert ensure_floating_ip(store, fip, False, allocated)["changed"]
    assert not ensure_floating_ip(store, fip, False, allocated + 3600)["changed"]  # a rerun
    assert ensure_floating_ip(store, dict(fip, state="absent"), True, allocated + 5 * 3600)["changed"]  # check mode
    assert ensure_floating_ip(store, dict(fip, state="absent"), False, allocated + 10 * 3600)["changed"]
    assert [(r["event"], r["at"], r["project"], r["source"]) for r in rows(store, "floating_ip")] == [
        ("allocated", allocated, "web", "cloud_floating_ip"),
        ("released", allocated + 10 * 3600, "web", "cloud_floating_ip"),
    ]
    bill = billing.invoices_from_store(store, t("2026-12-01T00:00:00Z"), "2026-11", str(book), "acme")["invoices"][0]
    floating = [
        (x["resource_id"], x["project"], x["quantity"], x["unit_price"], x["amount"])
        for x in bill["lines"]
        if x["item"] == "floating_ip"
    ]
    assert floating == [("203.0.113.12", "web", "10", "0.0050", "0.05")]  # 10 h x 0.0050
    assert [x["item"] for x in bill["lines"]] == ["floating_ip", "tenant_fee"]
    assert bill["total"] == "10.05"


def test_reconcile_records_resizes_and_power_state_drift(store):
    now = t("2026-11-01T00:00:00Z")
    ensure_tenant(store, {"name": "acme", "projects": ["web"]}, False, now)
    res.ensure_reservation(
        store,
        {"tenant": "acme", "project": "web", "id": "r1", "cores": 2, "memory_mb": 2048, "state": "present"},
        CLUSTER,
        False,
        now,
    )
    res.ensure_reservation(store, {"id": "r1", "vmid": 150, "state": "committed"}, CLUSTER, False, now)
    stopped = dict(vm(150, "pve1", "web1", cores=4, tags="ic-tenant-acme;ic-project-web"), status="stopped")
    resources = lab_cluster(stopped)
    checked = reconcile(store, resources, lambda n, v: {}, True, now + 60)
    assert [x["vmid"] for x in checked["drift"]["power_state"]] == [150]
    assert [(r["event"], r["cores"]) for r in rows(store, "vm")] == [("committed", 2)]  # check mode wrote nothing
    reconcile(store, resources, lambda n, v: {}, False, now + 60)
    assert [(r["event"], r["cores"], r["state"], r["source"]) for r in rows(store, "vm")] == [
        ("committed", 2, None, "cloud_reservation"),
        ("resized", 4, None, "cloud_reconcile"),
        ("stopped", 4, "stopped", "cloud_reconcile"),
    ]
    again = reconcile(store, resources, lambda n, v: {}, False, now + 120)
    assert not again["changed"] and again["drift"]["power_state"] == []


def test_record_refuses_unknown_kinds_events_and_fields(store):
    with pytest.raises(ValidationError, match="kind: 'disk' is not one of"):
        store.run(lambda tx: ledger.record(tx, "disk", "set", "acme", "x", 1.0))
    with pytest.raises(ValidationError, match="event: 'paused' is not an event of a vm"):
        store.run(lambda tx: ledger.record(tx, "vm", "paused", "acme", "x", 1.0))
    with pytest.raises(ValidationError, match="colour: not a field of the ledger"):
        store.run(lambda tx: ledger.record(tx, "vm", "started", "acme", "x", 1.0, colour="red"))
    with pytest.raises(ValidationError, match="cores: must be an integer >= 0"):
        store.run(lambda tx: ledger.record(tx, "vm", "resized", "acme", "x", 1.0, cores=-1))


def test_the_module_logic_checks_period_and_price_book_before_the_store(tmp_path):
    def no_store():
        raise AssertionError("the store must not be opened")

    with pytest.raises(ValidationError, match="period: '2026-1' is not a month"):
        billing.invoices_from_store(no_store, 0.0, "2026-1", str(tmp_path / "p.yml"))
    (tmp_path / "p.yml").write_text("currency: EUR\nversions: []\n")
    with pytest.raises(PriceBookError, match="price_book: versions: must be a non-empty list"):
        billing.invoices_from_store(no_store, 0.0, "2026-11", str(tmp_path / "p.yml"))


def test_migration_gives_existing_tenants_their_first_ledger_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement.replace("{autoinc}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
    conn.execute("CREATE TABLE ic_schema (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO ic_schema (version) VALUES (1)")
    conn.execute("INSERT INTO tenants (name, q_storage_gb, created) VALUES ('old', 50, 1000.0), ('bare', NULL, 2000.0)")
    conn.execute(
        "INSERT INTO usage_events (at, event, reservation, tenant, project, vmid, cores, memory_mb, disk_gb) "
        "VALUES (1500.0, 'committed', 'r', 'old', 'p', 100, 1, 512, 5)"
    )
    conn.commit()
    conn.close()
    store = open_store("sqlite://%s" % path)
    try:
        got = [(r["kind"], r["event"], r["tenant"], r["disk_gb"], r["at"], r["recorded"]) for r in rows(store)]
    finally:
        store.close()
    assert got == [
        ("tenant", "created", "old", 0, 1000.0, 1000.0),
        ("storage_quota", "set", "old", 50, 1000.0, 1000.0),
        ("vm", "committed", "old", 5, 1500.0, 1500.0),  # recorded: NULL reads as at
        ("tenant", "created", "bare", 0, 2000.0, 2000.0),
    ]


def test_a_recorded_resize_sets_the_reservations_sizes_so_reconcile_sees_no_drift(store):
    now = t("2026-11-01T00:00:00Z")
    ensure_tenant(store, {"name": "acme", "projects": ["web"]}, False, now)
    res.ensure_reservation(
        store,
        {"tenant": "acme", "project": "web", "id": "r1", "cores": 2, "memory_mb": 2048, "state": "present"},
        CLUSTER,
        False,
        now,
    )
    res.ensure_reservation(store, {"id": "r1", "vmid": 150, "state": "committed"}, CLUSTER, False, now)
    store.run(lambda tx: ledger.record_vm(tx, 150, "resized", now + 60, cores=4, memory_mb=4096))
    have = store.run(lambda tx: tx.one("SELECT cores, memory_mb FROM reservations WHERE id = 'r1'"), write=False)
    assert have == {"cores": 4, "memory_mb": 4096}
    resources = lab_cluster(vm(150, "pve1", "web1", cores=4, memory_mb=4096, tags="ic-tenant-acme;ic-project-web"))
    assert reconcile(store, resources, lambda n, v: {}, True, now + 120)["drift"]["usage_mismatch"] == []
