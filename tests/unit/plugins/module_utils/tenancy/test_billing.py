"""Invoices rated from ledgers made here, checked to the cent against values computed by hand (Decimal)."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import billing, pricebook
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import NotFound

D = Decimal
BASE = {
    "valid_from": "2026-01-01T00:00:00Z",
    "vcpu_hour": "0.0100",
    "ram_gib_hour": "0.0050",
    "disk_gib_month": "0.0400",
    "floating_ip_hour": "0.0050",
    "tenant_fee_month": "10.00",
    "charged_states": ["running"],
}
BOOK = pricebook.load(
    {"currency": "EUR", "versions": [BASE, dict(BASE, valid_from="2026-11-16T00:00:00Z", vcpu_hour="0.0120")]}
)
ONE_PRICE = pricebook.load({"currency": "EUR", "versions": [BASE]})
_ids = itertools.count(1)


def t(text: str) -> float:
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)).timestamp()


def ev(at, kind, event, resource, tenant="acme", project="", recorded=None, **fields):
    row = {
        "id": next(_ids),
        "at": t(at),
        "recorded": t(recorded or at),
        "kind": kind,
        "event": event,
        "reservation": resource,
        "tenant": tenant,
        "project": project,
        "name": None,
        "vmid": None,
        "cores": 0,
        "memory_mb": 0,
        "disk_gb": 0,
        "state": None,
    }
    row.update(fields)
    return row


def vm(at, event, resource, project, cores, memory_mb, disk_gb, state=None, **kw):
    return ev(
        at,
        "vm",
        event,
        resource,
        project=project,
        name=resource,
        cores=cores,
        memory_mb=memory_mb,
        disk_gb=disk_gb,
        state=state,
        **kw,
    )


def amounts(invoice):
    return [
        (x["vm"] or x["resource_id"], x["item"], x["quantity"], x["unit_price"], x["amount"]) for x in invoice["lines"]
    ]


# The November ledger of acme: a resize mid-month, a price change mid-month (vCPU 0.0100 -> 0.0120 from Nov 16),
# a VM stopped for a week, a floating IP from Nov 20 06:00, the tenant's fixed fee.
NOVEMBER = [
    ev("2026-10-01T00:00:00Z", "tenant", "created", "acme"),
    vm("2026-10-01T00:00:00Z", "committed", "db1", "db", 1, 2048, 10),
    vm("2026-10-20T00:00:00Z", "committed", "web1", "web", 2, 4096, 20),
    vm("2026-11-05T00:00:00Z", "stopped", "db1", "db", 1, 2048, 10, state="stopped"),
    vm("2026-11-10T12:00:00Z", "resized", "web1", "web", 4, 8192, 40),
    vm("2026-11-12T00:00:00Z", "started", "db1", "db", 1, 2048, 10, state="running"),
    ev("2026-11-20T06:00:00Z", "floating_ip", "allocated", "203.0.113.10", project="web"),
    ev("2026-12-03T00:00:00Z", "floating_ip", "released", "203.0.113.10", project="web"),
]


def test_november_to_the_cent():
    bill = billing.invoice(NOVEMBER, BOOK, "acme", "2026-11", t("2026-12-05T00:00:00Z"))
    assert (bill["closed"], bill["currency"], bill["period"]) == (True, "EUR", "2026-11")
    assert (bill["billing_period_start"], bill["billing_period_end"]) == (
        "2026-11-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
    )
    # By hand. web1: 2 vCPU / 4 GiB / 20 GiB for 228 h (Nov 1 - Nov 10 12:00), then 4 / 8 / 40 for 492 h, of
    # which 132 h at 0.0100 and 360 h at 0.0120 (from Nov 16). db1: 1 vCPU / 2 GiB / 10 GiB, stopped Nov 5 - 12:
    # running 96 h + 96 h before Nov 16 and 360 h after; its disk pays the whole month.
    assert amounts(bill) == [
        ("db1", "vcpu", "192", "0.0100", "1.92"),  # 192 vCPU-h x 0.0100
        ("db1", "vcpu", "360", "0.0120", "4.32"),  # 360 vCPU-h x 0.0120
        ("db1", "ram", "1104", "0.0050", "5.52"),  # 2 GiB x 552 h x 0.0050
        ("db1", "disk", "10", "0.0400", "0.40"),  # 10 GiB-month x 0.04
        ("web1", "vcpu", "456", "0.0100", "4.56"),  # 2 x 228 h
        ("web1", "vcpu", "528", "0.0100", "5.28"),  # 4 x 132 h
        ("web1", "vcpu", "1440", "0.0120", "17.28"),  # 4 x 360 h
        ("web1", "ram", "912", "0.0050", "4.56"),  # 4 GiB x 228 h
        ("web1", "ram", "3936", "0.0050", "19.68"),  # 8 GiB x 492 h
        ("web1", "disk", "6.333333", "0.0400", "0.25"),  # 20 GiB x 228/720 month = 0.25333.. -> 0.25
        ("web1", "disk", "27.333333", "0.0400", "1.09"),  # 40 GiB x 492/720 month = 1.09333.. -> 1.09
        ("203.0.113.10", "floating_ip", "258", "0.0050", "1.29"),  # Nov 20 06:00 to Dec 1: 10 d 18 h = 258 h
        ("acme", "tenant_fee", "1", "10.00", "10.00"),
    ]
    expected = sum(D(x[4]) for x in amounts(bill))
    assert expected == D("76.15") and bill["total"] == "76.15"
    assert {p["project"]: p["amount"] for p in bill["by_project"]} == {"": "10.00", "db": "12.16", "web": "53.99"}
    assert bill["corrections"] == "0.00" and not any(x["correction"] for x in bill["lines"])
    assert bill["price_versions"] == ["2026-01-01T00:00:00Z", "2026-11-16T00:00:00Z"]
    assert len(bill["daily"]) == 30 and bill["daily"][0]["date"] == "2026-11-01"
    # db1 stopped on Nov 6: its disk and the others still cost, not its vCPU and RAM
    nov6 = D(bill["daily"][5]["amount"])
    nov4 = D(bill["daily"][3]["amount"])
    assert nov4 - nov6 == D("0.24") + D("0.24")  # 24 vCPU-h x 0.01 + 48 GiB-h x 0.005
    web = next(x for x in bill["lines"] if x["vm"] == "web1" and x["quantity"] == "1440")
    assert (web["charge_period_start"], web["charge_period_end"]) == ("2026-11-16T00:00:00Z", "2026-12-01T00:00:00Z")
    assert web["unit"] == "vCPU-hour" and web["description"] == "4 vCPU" and web["project"] == "web"


def test_half_even_rounding_per_line_and_the_total_is_the_sum_of_the_lines():
    events = [
        ev("2026-11-01T00:00:00Z", "floating_ip", "allocated", "198.51.100.1", tenant="t"),
        ev("2026-11-02T01:00:00Z", "floating_ip", "released", "198.51.100.1", tenant="t"),  # 25 h: 0.125
        ev("2026-11-01T00:00:00Z", "floating_ip", "allocated", "198.51.100.2", tenant="t"),
        ev("2026-11-02T03:00:00Z", "floating_ip", "released", "198.51.100.2", tenant="t"),  # 27 h: 0.135
    ]
    bill = billing.invoice(events, ONE_PRICE, "t", "2026-11", t("2026-12-01T00:00:00Z"))
    assert [x["amount"] for x in bill["lines"]] == ["0.12", "0.14"]  # half-even: 0.125 -> 0.12, 0.135 -> 0.14
    assert bill["total"] == "0.26"


def test_prorated_to_the_second_and_a_tenant_made_mid_month_pays_part_of_its_fee():
    events = [
        ev("2026-11-16T00:00:00Z", "tenant", "created", "new", tenant="new"),
        vm("2026-11-16T00:00:00Z", "committed", "a", "p", 3, 1024, 0, tenant="new"),
        vm("2026-11-16T00:00:01Z", "released", "a", "p", 3, 1024, 0, tenant="new"),
    ]
    bill = billing.invoice(events, ONE_PRICE, "new", "2026-11", t("2026-12-01T00:00:00Z"))
    assert amounts(bill) == [
        ("a", "vcpu", "0.000833", "0.0100", "0.00"),  # 3 x 1 s = 1/1200 vCPU-h
        ("a", "ram", "0.000278", "0.0050", "0.00"),
        ("new", "tenant_fee", "0.5", "10.00", "5.00"),  # 15 of 30 days
    ]


def test_an_open_period_counts_up_to_now():
    now = t("2026-11-10T12:00:00Z")
    bill = billing.invoice(NOVEMBER, BOOK, "acme", "2026-11", now)
    assert not bill["closed"] and bill["as_of"] == "2026-11-10T12:00:00Z" and len(bill["daily"]) == 10
    web = [x for x in bill["lines"] if x["vm"] == "web1" and x["item"] == "vcpu"]
    assert [(x["quantity"], x["amount"]) for x in web] == [("456", "4.56")]
    fee = next(x for x in bill["lines"] if x["item"] == "tenant_fee")
    assert fee["quantity"] == "0.316667" and fee["amount"] == "3.17"  # 9.5 of 30 days x 10.00


def test_storage_quota_is_billed_only_when_the_price_book_prices_it():
    events = [ev("2026-11-01T00:00:00Z", "storage_quota", "set", "acme", disk_gb=500)]
    assert billing.invoice(events, ONE_PRICE, "acme", "2026-11", t("2026-12-02T00:00:00Z"))["lines"] == []
    priced = pricebook.load({"currency": "EUR", "versions": [dict(BASE, storage_gib_month="0.02")]})
    bill = billing.invoice(events, priced, "acme", "2026-11", t("2026-12-02T00:00:00Z"))
    assert amounts(bill) == [("acme", "storage", "500", "0.02", "10.00")]


def test_charged_states_decide_what_a_stopped_vm_pays():
    events = [
        vm("2026-10-01T00:00:00Z", "committed", "v", "p", 2, 2048, 0),
        vm("2026-11-01T00:00:00Z", "stopped", "v", "p", 2, 2048, 0, state="stopped"),
    ]
    assert billing.invoice(events, ONE_PRICE, "acme", "2026-11", t("2026-12-02T00:00:00Z"))["lines"] == []
    both = pricebook.load({"currency": "EUR", "versions": [dict(BASE, charged_states=["running", "stopped"])]})
    bill = billing.invoice(events, both, "acme", "2026-11", t("2026-12-02T00:00:00Z"))
    assert [(x["item"], x["amount"]) for x in bill["lines"]] == [("vcpu", "14.40"), ("ram", "7.20")]


# ------------------------------------------------------------------------------ closed periods and corrections

LATE = [
    ev("2026-10-01T00:00:00Z", "tenant", "created", "acme"),
    vm("2026-10-01T00:00:00Z", "committed", "v", "p", 2, 4096, 20),
    # learned on Nov 3 (from the PVE task log): the VM had stopped on Oct 21, and it was started on Nov 3
    vm("2026-10-21T00:00:00Z", "stopped", "v", "p", 2, 4096, 20, state="stopped", recorded="2026-11-03T00:00:00Z"),
    vm("2026-11-03T00:00:00Z", "started", "v", "p", 2, 4096, 20, state="running"),
]


def test_a_closed_period_never_changes_and_late_facts_are_corrections_in_the_next_one():
    october_at_close = billing.invoice(LATE, ONE_PRICE, "acme", "2026-10", t("2026-11-01T00:00:00Z"))
    october_later = billing.invoice(LATE, ONE_PRICE, "acme", "2026-10", t("2027-03-01T00:00:00Z"))
    assert october_at_close == dict(october_later, as_of=october_at_close["as_of"])
    assert october_at_close["as_of"] == october_later["as_of"] == "2026-11-01T00:00:00Z"
    # October as invoiced: 744 h running (the stop was not known yet)
    assert amounts(october_later) == [
        ("v", "vcpu", "1488", "0.0100", "14.88"),
        ("v", "ram", "2976", "0.0050", "14.88"),
        ("v", "disk", "20", "0.0400", "0.80"),
        ("acme", "tenant_fee", "1", "10.00", "10.00"),
    ]
    november = billing.invoice(LATE, ONE_PRICE, "acme", "2026-11", t("2026-12-01T00:00:00Z"))
    regular = [x for x in november["lines"] if not x["correction"]]
    fixes = [x for x in november["lines"] if x["correction"]]
    # November: stopped until Nov 3, running 28 days = 672 h
    assert [(x["item"], x["quantity"], x["amount"]) for x in regular] == [
        ("vcpu", "1344", "13.44"),
        ("ram", "2688", "13.44"),
        ("disk", "20", "0.80"),
        ("tenant_fee", "1", "10.00"),
    ]
    # October's correction: 11 days (264 h) it did not run
    assert [(x["item"], x["quantity"], x["amount"], x["corrects"]) for x in fixes] == [
        ("vcpu", "-528", "-5.28", "2026-10"),
        ("ram", "-1056", "-5.28", "2026-10"),
    ]
    assert fixes[0]["description"] == "2 vCPU (correction of 2026-10)"
    assert november["corrections"] == "-10.56" and november["total"] == str(D("37.68") - D("10.56"))
    # the months telescope: October invoiced + its corrections = October rated with the whole ledger
    full = billing.rate(LATE, ONE_PRICE, "2026-10", float("inf"))
    whole = sum(billing.round_half_even(line.exact, 2) for line in full.lines.values())
    assert D(october_later["total"]) + D(november["corrections"]) == whole
    december = billing.invoice(LATE, ONE_PRICE, "acme", "2026-12", t("2027-01-01T00:00:00Z"))
    assert not any(x["correction"] for x in december["lines"])


def test_a_correction_spanning_months_is_split_per_month():
    events = [
        vm("2026-09-01T00:00:00Z", "committed", "v", "p", 1, 0, 0),
        vm("2026-09-30T00:00:00Z", "resized", "v", "p", 2, 0, 0, recorded="2026-11-10T00:00:00Z"),
    ]
    november = billing.invoice(events, ONE_PRICE, "acme", "2026-11", t("2026-12-01T00:00:00Z"))
    fixes = [(x["corrects"], x["quantity"], x["amount"]) for x in november["lines"] if x["correction"]]
    # September: the last day went from 1 to 2 vCPU (line of 1 vCPU -24 h, new line of 2 vCPU x 24 h);
    # October: 744 h of 1 vCPU become 744 h of 2 vCPU
    assert fixes == [
        ("2026-09", "-24", "-0.24"),
        ("2026-09", "48", "0.48"),
        ("2026-10", "-744", "-7.44"),
        ("2026-10", "1488", "14.88"),
    ]


def test_invoices_of_all_tenants_and_of_one():
    events = NOVEMBER + [ev("2026-11-01T00:00:00Z", "tenant", "created", "globex", tenant="globex")]
    now = t("2026-12-05T00:00:00Z")
    bills = billing.invoices(events, BOOK, "2026-11", now)
    assert [(b["tenant"], b["total"]) for b in bills] == [("acme", "76.15"), ("globex", "10.00")]
    assert billing.invoices(events, BOOK, "2026-11", now, tenant="globex")[0]["total"] == "10.00"
    empty = billing.invoices([], BOOK, "2026-11", now, tenant="initech", tenants=["initech"])
    assert empty[0]["lines"] == [] and empty[0]["total"] == "0.00"
    with pytest.raises(NotFound, match="tenant: no tenant nobody"):
        billing.invoices(events, BOOK, "2026-11", now, tenant="nobody")


# ----------------------------------------------------------------------------------------------- input


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "26-11", "", None, "2026-11-01"])
def test_bad_periods(period):
    with pytest.raises(ValidationError, match="period: .* is not a month as YYYY-MM"):
        billing.period_bounds(period)


def test_period_bounds():
    assert billing.period_bounds("2026-12") == (int(t("2026-12-01T00:00:00Z")), int(t("2027-01-01T00:00:00Z")))


def test_a_period_before_the_first_price_is_refused_by_name():
    with pytest.raises(pricebook.PriceBookError, match=r"versions\[0\].valid_from: no price is valid at 2025-"):
        billing.invoice(
            [ev("2025-12-01T00:00:00Z", "tenant", "created", "acme")], ONE_PRICE, "acme", "2025-12", t("2026-02-01")
        )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"currency": "euro"}, r"price_book: currency: must be an ISO 4217 code"),
        ({"minor_unit": 9}, r"price_book: minor_unit: must be an integer from 0 to 6"),
        ({"versions": []}, r"price_book: versions: must be a non-empty list"),
        ({"versions": [dict(BASE, vcpu_hour=0.01)]}, r"versions\[0\].vcpu_hour: must be a decimal string .*quote it"),
        ({"versions": [dict(BASE, ram_gib_hour="-1")]}, r"versions\[0\].ram_gib_hour: '-1' is not a non-negative"),
        ({"versions": [dict(BASE, disk_gib_month="1,5")]}, r"versions\[0\].disk_gib_month: '1,5' is not"),
        ({"versions": [{k: v for k, v in BASE.items() if k != "floating_ip_hour"}]}, r"floating_ip_hour: is required"),
        (
            {"versions": [{k: v for k, v in BASE.items() if k != "valid_from"}]},
            r"versions\[0\].valid_from: is required",
        ),
        ({"versions": [dict(BASE, valid_from="yesterday")]}, r"versions\[0\].valid_from: 'yesterday' is not an ISO"),
        ({"versions": [dict(BASE, valid_from="2026-01-01T00:00:00+02:00")]}, r"valid_from: .* is not in UTC"),
        ({"versions": [dict(BASE, charged_states="running")]}, r"versions\[0\].charged_states: must be a list"),
        ({"versions": [BASE, BASE]}, r"versions\[1\].valid_from: must be after versions\[0\].valid_from"),
        ({"versions": [dict(BASE, storage_gib_month=True)]}, r"versions\[0\].storage_gib_month: must be a decimal"),
    ],
)
def test_price_book_errors_name_the_key(change, message):
    data = dict({"currency": "EUR", "versions": [BASE]}, **change)
    with pytest.raises(pricebook.PriceBookError, match=message) as e:
        pricebook.load(data)
    assert e.value.details["option"] == "price_book"


def test_price_book_extra_keys_are_kept_and_yaml_dates_accepted(tmp_path):
    path = tmp_path / "prices.yml"
    path.write_text(
        "currency: CHF\nminor_unit: 2\nnote: list prices\nversions:\n"
        "  - valid_from: 2026-01-01T00:00:00Z\n    vcpu_hour: '0.01'\n    ram_gib_hour: '0.005'\n"
        "    disk_gib_month: '0.04'\n    floating_ip_hour: '0.005'\n    tenant_fee_month: 10\n"
        "    charged_states: [running, paused]\n    gpu_hour: '1.20'\n"
    )
    book = pricebook.read(str(path))
    assert book.currency == "CHF" and book.versions[0].extra == {"gpu_hour": "1.20"}
    assert book.versions[0].prices["tenant_fee_month"] == D("10") and book.versions[0].label() == "2026-01-01T00:00:00Z"
    assert book.versions[0].charged_states == frozenset({"running", "paused"})
    with pytest.raises(pricebook.PriceBookError, match="price_book: cannot read .*missing.yml"):
        pricebook.read(str(tmp_path / "missing.yml"))
    (tmp_path / "bad.yml").write_text("currency: [\n")
    with pytest.raises(pricebook.PriceBookError, match="is not YAML"):
        pricebook.read(str(tmp_path / "bad.yml"))


def test_round_half_even_is_exact():
    from fractions import Fraction

    assert billing.round_half_even(Fraction(1, 8), 2) == D("0.12")
    assert billing.round_half_even(Fraction(3, 8), 2) == D("0.38")
    assert billing.round_half_even(Fraction(-1, 8), 2) == D("-0.12")
    assert billing.round_half_even(Fraction(5, 2), 0) == D("2")
    assert str(billing.round_half_even(Fraction(0), 2)) == "0.00"
