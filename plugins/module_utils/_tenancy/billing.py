# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_invoice_info: a tenant's invoice for a calendar month, rated from the usage ledger and the price book.

Rating (pure, everything but invoices_from_store):

- The ledger's rows of a resource give its state from one row's ``at`` to the next row's (ledger.py); times are
  whole seconds. Each such interval is clipped to the period and split at every price change (a version's
  valid_from) and at midnight UTC (for the chart of cost per day only).
- Items: ``vcpu`` (cores x hours) and ``ram`` (GiB x hours) while the VM's state is one of the version's
  charged_states (no state recorded = running); ``disk`` (GiB x months) while the VM exists; ``floating_ip``
  (hours) while allocated; ``storage`` (GiB x months of the storage quota, only when the version prices
  storage_gib_month); ``tenant_fee`` (months) while the tenant exists. A month is the seconds of the calendar
  month billed, so a whole month is exactly 1.
- One line per resource, item, size and unit price: a resize or a change of the item's price starts a new line,
  a stop and a start do not (the line's quantity is the sum of its pieces). Quantities are exact fractions; a
  line's amount is quantity x unit price rounded half-even to the currency's minor unit once; the total is the
  sum of the lines.

Closed periods and corrections (docs/billing.md): an invoice is computed from the rows *recorded* before the end
of its period (before now while the period is open). So once a period has ended its invoice never changes. A row
recorded during period P whose ``at`` is before P (a late or corrected fact) changes what earlier months should
have cost: P's invoice carries, for each month Q it touches, correction lines equal to Q re-rated with what is
known at the end of P minus Q rated with what was known at the start of P (line by line, of the rounded amounts).
The corrections telescope: over all invoices, a month is billed exactly what the full ledger says.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import check_name
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ledger, pricebook
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import NotFound
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import Store, Tx

HOUR = 3600
DAY = 86400
PERIOD_RE = re.compile(r"^(\d{4})-(\d{2})$")
QUANTITY_PLACES = 6
# item: (price key, unit, service name, service category)
ITEMS: dict[str, tuple[str, str, str, str]] = {
    "vcpu": ("vcpu_hour", "vCPU-hour", "Virtual machines", "Compute"),
    "ram": ("ram_gib_hour", "GiB-hour", "Virtual machines", "Compute"),
    "disk": ("disk_gib_month", "GiB-month", "Virtual machine disks", "Storage"),
    "floating_ip": ("floating_ip_hour", "hour", "Floating IPs", "Networking"),
    "storage": ("storage_gib_month", "GiB-month", "Storage quota", "Storage"),
    "tenant_fee": ("tenant_fee_month", "month", "Tenant fee", "Other"),
}
ITEM_ORDER = {k: i for i, k in enumerate(ITEMS)}


# ----------------------------------------------------------------------------------------- time


def iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(float(epoch), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period_bounds(period: Any) -> tuple[int, int]:
    """[start, end) of the calendar month YYYY-MM, in epoch seconds (UTC)."""
    match = PERIOD_RE.match(str(period or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise ValidationError("period: %r is not a month as YYYY-MM (for example 2026-11)" % (period,), option="period")
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime.datetime(year, month, 1, tzinfo=datetime.UTC)
    end = datetime.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=datetime.UTC)
    return int(start.timestamp()), int(end.timestamp())


def period_of(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(float(epoch), datetime.UTC).strftime("%Y-%m")


def next_period(period: str) -> str:
    return period_of(period_bounds(period)[1])


def round_half_even(value: Fraction, places: int) -> Decimal:
    """value rounded half-even to places decimals, exactly."""
    scaled = value * 10**places
    quotient, rest = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * rest
    if twice > scaled.denominator or (twice == scaled.denominator and quotient % 2 == 1):
        quotient += 1
    return (Decimal(quotient) / (Decimal(10) ** places)).quantize(Decimal(1).scaleb(-places))


def text(value: Decimal) -> str:
    """A decimal without exponent."""
    return format(value, "f")


def quantity_text(value: Fraction) -> str:
    rounded = round_half_even(value, QUANTITY_PLACES)
    return text(rounded.normalize()) if rounded != 0 else "0"


# --------------------------------------------------------------------------------------- rating


@dataclass
class Line:
    project: str
    kind: str
    resource: str
    name: str | None
    item: str
    size: int
    version: pricebook.Version
    unit_price: Decimal
    quantity: Fraction = Fraction(0)
    start: int = 0
    end: int = 0

    @property
    def exact(self) -> Fraction:
        return self.quantity * Fraction(self.unit_price)


@dataclass
class Rating:
    lines: dict[tuple[Any, ...], Line] = field(default_factory=dict)
    daily: dict[str, Fraction] = field(default_factory=dict)


def _intervals(events: Sequence[Mapping[str, Any]]) -> Iterable[tuple[Mapping[str, Any], int, int | None]]:
    """(row, from, until) of each resource's states; until None while the last row holds."""
    by_resource: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for row in sorted(events, key=lambda r: (float(r["at"]), int(r.get("id") or 0))):
        by_resource.setdefault((str(row["kind"]), str(row["tenant"]), str(row["reservation"])), []).append(row)
    for rows in by_resource.values():
        for i, row in enumerate(rows):
            if row["event"] in ledger.ENDS:
                continue
            until = int(float(rows[i + 1]["at"])) if i + 1 < len(rows) else None
            yield row, int(float(row["at"])), until


def _contributions(row: Mapping[str, Any], version: pricebook.Version) -> list[tuple[str, int, Fraction]]:
    """(item, size, quantity per second) the row's resource accrues under version."""
    kind = row["kind"]
    out: list[tuple[str, int, Fraction]] = []
    if kind == "vm":
        if (row.get("state") or "running") in version.charged_states:
            out.append(("vcpu", int(row["cores"]), Fraction(int(row["cores"]), HOUR)))
            out.append(("ram", int(row["memory_mb"]), Fraction(int(row["memory_mb"]), 1024 * HOUR)))
        out.append(("disk", int(row["disk_gb"]), Fraction(int(row["disk_gb"]))))  # per month-second, see rate()
    elif kind == "floating_ip":
        out.append(("floating_ip", 1, Fraction(1, HOUR)))
    elif kind == "storage_quota" and "storage_gib_month" in version.prices:
        out.append(("storage", int(row["disk_gb"]), Fraction(int(row["disk_gb"]))))
    elif kind == "tenant":
        out.append(("tenant_fee", 1, Fraction(1)))
    return [c for c in out if c[2] != 0]


def rate(
    events: Sequence[Mapping[str, Any]],
    book: pricebook.PriceBook,
    period: str,
    known_until: float,
    until: float | None = None,
) -> Rating:
    """The lines of one tenant's events over the month `period`, knowing the rows recorded before known_until,
    counting time up to until (the period's end when None or later)."""
    start, end = period_bounds(period)
    month = end - start
    stop = end if until is None else max(start, min(end, int(until)))
    rating = Rating()
    known = [r for r in events if float(r["recorded"]) < known_until and float(r["at"]) < stop]
    for row, begin, finish in _intervals(known):
        lo, hi = max(begin, start), min(stop if finish is None else finish, stop)
        if hi <= lo:
            continue
        cuts = sorted({lo, hi, *(int(math.ceil(c)) for c in book.changes(lo, hi))})
        for a, b in zip(cuts, cuts[1:], strict=False):
            version = book.at(a)
            for item, size, per in _contributions(row, version):
                per_second = per / month if item in ("disk", "storage", "tenant_fee") else per
                price = version.prices[ITEMS[item][0]]
                key = (row["project"] or "", row["kind"], row["reservation"], item, size, price)
                line = rating.lines.get(key)
                if line is None:
                    line = rating.lines[key] = Line(
                        project=str(row["project"] or ""),
                        kind=str(row["kind"]),
                        resource=str(row["reservation"]),
                        name=_name(row),
                        item=item,
                        size=size,
                        version=version,
                        unit_price=price,
                        start=a,
                        end=b,
                    )
                line.quantity += per_second * (b - a)
                line.start, line.end = min(line.start, a), max(line.end, b)
                if row.get("name"):
                    line.name = _name(row)
                day = a
                while day < b:
                    midnight = (day // DAY + 1) * DAY
                    piece = min(b, midnight) - day
                    label = datetime.datetime.fromtimestamp(day, datetime.UTC).strftime("%Y-%m-%d")
                    rating.daily[label] = rating.daily.get(label, Fraction(0)) + per_second * piece * Fraction(price)
                    day += piece
    return rating


def _name(row: Mapping[str, Any]) -> str | None:
    if row["kind"] == "vm":
        if row.get("name"):
            return str(row["name"])
        return "vm%s" % row["vmid"] if row.get("vmid") is not None else str(row["reservation"])
    return str(row.get("name") or row["reservation"])


def _description(line: Line) -> str:
    return {
        "vcpu": "%d vCPU" % line.size,
        "ram": "%s GiB RAM" % text((Decimal(line.size) / 1024).normalize()),
        "disk": "%d GiB disk" % line.size,
        "floating_ip": "floating IP %s" % line.resource,
        "storage": "%d GiB storage quota" % line.size,
        "tenant_fee": "tenant fee",
    }[line.item]


def _line_out(
    line: Line,
    quantity: Fraction,
    amount: Decimal,
    places: int,
    correction: str | None,
) -> dict[str, Any]:
    price_key, unit, service, category = ITEMS[line.item]
    return {
        "project": line.project,
        "vm": line.name if line.kind == "vm" else None,
        "item": line.item,
        "description": _description(line) + (" (correction of %s)" % correction if correction else ""),
        "quantity": quantity_text(quantity),
        "unit": unit,
        "unit_price": text(line.unit_price),
        "amount": text(amount.quantize(Decimal(1).scaleb(-places))),
        "resource_kind": line.kind,
        "resource_id": line.resource,
        "resource_name": line.name,
        "service": service,
        "service_category": category,
        "price_key": price_key,
        "price_valid_from": line.version.label(),
        "charge_period_start": iso(line.start),
        "charge_period_end": iso(line.end),
        "correction": correction is not None,
        "corrects": correction,
    }


def _sort_key(line: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        line["correction"],
        line["corrects"] or "",
        line["project"] == "",
        line["project"],
        line["resource_kind"] != "vm",
        line["vm"] or line["resource_id"],
        ITEM_ORDER[line["item"]],
        line["charge_period_start"],
    )


# -------------------------------------------------------------------------------------- invoice


def invoice(
    events: Sequence[Mapping[str, Any]],
    book: pricebook.PriceBook,
    tenant: str,
    period: str,
    now: float,
) -> dict[str, Any]:
    """The invoice of one tenant for the month `period`, as known at now (see the module's docstring)."""
    start, end = period_bounds(period)
    places = book.minor_unit
    closed = now >= end
    known_until = float(end) if closed else math.nextafter(float(now), math.inf)
    mine = [r for r in events if r["tenant"] == tenant]
    regular = rate(mine, book, period, known_until, None if closed else now)
    lines = []
    for item in regular.lines.values():
        lines.append(_line_out(item, item.quantity, round_half_even(item.exact, places), places, None))
    late = [r for r in mine if start <= float(r["recorded"]) < known_until and float(r["at"]) < start]
    if late:
        month = period_of(min(float(r["at"]) for r in late))
        while month != period:
            new = rate(mine, book, month, known_until)
            old = rate(mine, book, month, float(start))
            for key in sorted(set(new.lines) | set(old.lines), key=str):
                after, before = new.lines.get(key), old.lines.get(key)
                ref = after or before
                if ref is None:  # pragma: no cover - the key came from one of them
                    continue
                quantity = (after.quantity if after else Fraction(0)) - (before.quantity if before else Fraction(0))
                amount = (round_half_even(after.exact, places) if after else Decimal(0)) - (
                    round_half_even(before.exact, places) if before else Decimal(0)
                )
                if quantity == 0 and amount == 0:
                    continue
                lines.append(_line_out(ref, quantity, amount, places, month))
            month = next_period(month)
    lines.sort(key=_sort_key)
    zero = Decimal(0).quantize(Decimal(1).scaleb(-places))
    total = sum((Decimal(line["amount"]) for line in lines), zero)
    projects: dict[str, Decimal] = {}
    for line in lines:
        projects[line["project"]] = projects.get(line["project"], zero) + Decimal(line["amount"])
    last_day = end if closed else max(start, min(end, int(now)))
    daily = []
    day = start
    while day < last_day:
        label = datetime.datetime.fromtimestamp(day, datetime.UTC).strftime("%Y-%m-%d")
        daily.append({"date": label, "amount": text(round_half_even(regular.daily.get(label, Fraction(0)), places))})
        day += DAY
    return {
        "tenant": tenant,
        "period": period,
        "currency": book.currency,
        "total": text(total),
        "lines": lines,
        "closed": closed,
        "as_of": iso(end if closed else now),
        "billing_period_start": iso(start),
        "billing_period_end": iso(end),
        "corrections": text(sum((Decimal(x["amount"]) for x in lines if x["correction"]), zero)),
        "by_project": [{"project": p, "amount": text(a)} for p, a in sorted(projects.items())],
        "daily": daily,
        "price_versions": sorted({x["price_valid_from"] for x in lines}),
    }


def invoices(
    events: Sequence[Mapping[str, Any]],
    book: pricebook.PriceBook,
    period: str,
    now: float,
    tenant: str | None = None,
    tenants: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """One invoice per tenant with a line in the period (tenant given: its invoice, even an empty one).

    tenants: the tenants the store knows now (a given tenant neither there nor in the ledger is an error).
    """
    period_bounds(period)
    if tenant is not None:
        if tenant not in set(tenants) and not any(r["tenant"] == tenant for r in events):
            raise NotFound("tenant: no tenant %s in the store nor in its usage ledger" % tenant, option="tenant")
        return [invoice(events, book, tenant, period, now)]
    out = []
    for name in sorted({str(r["tenant"]) for r in events}):
        bill = invoice(events, book, name, period, now)
        if bill["lines"]:
            out.append(bill)
    return out


# ---------------------------------------------------------------------------------------- store


def invoices_from_store(
    store_of: Any, now: float, period: Any, price_book: Any, tenant: str | None = None
) -> dict[str, Any]:
    """cloud_invoice_info: the period and the price book are checked first, then the ledger is read.

    store_of: a Store, or a function returning one (the module connects to the store only after the checks).
    """
    period_bounds(period)
    if not price_book:
        raise ValidationError("price_book: the path of the price book file is required", option="price_book")
    book = pricebook.read(str(price_book))
    if tenant is not None:
        check_name("tenant", tenant)
    store: Store = store_of() if callable(store_of) else store_of

    def work(tx: Tx) -> tuple[list[dict[str, Any]], list[str]]:
        end = period_bounds(period)[1]
        rows = ledger.read(tx, tenant, until=float(end))
        names = [r["name"] for r in tx.all("SELECT name FROM tenants")]
        return rows, names

    rows, names = store.run(work, write=False)
    found = invoices(rows, book, str(period), now, tenant, names)
    return {
        "changed": False,
        "invoices": found,
        "msg": "%d invoice(s) for %s%s" % (len(found), period, "" if now >= period_bounds(period)[1] else " (open)"),
    }
