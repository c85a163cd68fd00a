#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_invoice_info
short_description: Invoices of a calendar month per tenant, rated from the usage ledger and a price book
version_added: 0.1.0
description:
  - Reads the state store's usage ledger (what each tenant held over time - VMs with their sizes and power states,
    floating IPs, storage quota, the tenant itself) and rates it with the effective-dated prices of a price book
    file, into one invoice per tenant for the calendar month O(period) (UTC).
  - vCPU and RAM are charged by the hour while the VM's state is one of the version's C(charged_states), disk by the
    GiB-month while the VM exists, floating IPs by the hour while allocated, the tenant fee by the month while the
    tenant exists, the storage quota by the GiB-month when the price book prices C(storage_gib_month). Usage is
    prorated to the second and split at every resize and every price change.
  - Decimal arithmetic; each line's amount is rounded half-even to the currency's minor unit, and the total is the
    sum of the lines.
  - A period that has ended is closed, and its invoice never changes - it is computed from the ledger rows
    recorded before its end. A row recorded later about an earlier time is billed as correction lines
    (C(correction=true), C(corrects=<YYYY-MM>)) on the invoice of the month it was recorded in. Before the end of
    the period, the invoice is provisional (C(closed=false)) and counts up to now.
  - The filters P(ironcloud.stack.invoice_csv#filter) (FinOps FOCUS columns) and
    P(ironcloud.stack.invoice_html#filter) render an invoice; the C(ironcloud.stack.billing) playbook writes JSON,
    CSV and HTML per tenant.
  - It reads only; it never changes the store. See docs/billing.md for the ledger and the price book.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.info_module
  - ironcloud.stack.state_store.action_group
options:
  period:
    description: The calendar month to invoice, as V(YYYY-MM) (UTC).
    type: str
    required: true
  price_book:
    description:
      - The path of the price book, a YAML file on the host the module runs on - C(currency) (ISO 4217),
        optionally C(minor_unit) (decimals of an amount, default V(2)), and C(versions), each with C(valid_from)
        (a UTC time), the prices as decimal strings C(vcpu_hour), C(ram_gib_hour), C(disk_gib_month),
        C(floating_ip_hour), C(tenant_fee_month), optionally C(storage_gib_month), and C(charged_states) (the VM
        states that pay for vCPU and RAM).
      - It is checked before the store is read; an error names the key, for example C(versions[1].vcpu_hour).
    type: path
    required: true
  tenant:
    description:
      - Only this tenant; its invoice is returned even when it has no line.
      - If not set, every tenant with at least one line in the period.
    type: str
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: November's invoices
  ironcloud.stack.cloud_invoice_info:
    period: "2026-11"
    price_book: /etc/ironcloud/price_book.yml
  register: billing

- name: Write one tenant's invoice as HTML
  ansible.builtin.copy:
    content: "{{ billing.invoices[0] | ironcloud.stack.invoice_html }}"
    dest: /srv/invoices/acme-2026-11.html
    mode: "0644"

- name: One tenant, from a PostgreSQL store
  ironcloud.stack.cloud_invoice_info:
    tenant: acme
    period: "2026-11"
    price_book: /etc/ironcloud/price_book.yml
    state_store: postgresql://ironcloud@db.example.com/ironcloud
"""

RETURN = r"""
invoices:
  description: One invoice per tenant, sorted by tenant.
  returned: success
  type: list
  elements: dict
  contains:
    tenant:
      description: The tenant.
      type: str
    period:
      description: The month, V(YYYY-MM).
      type: str
    currency:
      description: The price book's currency.
      type: str
    total:
      description: The sum of the lines' amounts, a decimal string.
      type: str
    closed:
      description: Whether the period has ended (the invoice is final).
      type: bool
    as_of:
      description: The time up to which the ledger was read (the end of the period once it is closed).
      type: str
    billing_period_start:
      description: The start of the month (ISO 8601, UTC, included).
      type: str
    billing_period_end:
      description: The end of the month (excluded).
      type: str
    corrections:
      description: The sum of the correction lines.
      type: str
    by_project:
      description: C(project) and C(amount) per project (V("") for the tenant's own lines - fee, storage quota).
      type: list
      elements: dict
    daily:
      description: C(date) and C(amount) of the usage per day (each day rounded on its own; for charts).
      type: list
      elements: dict
    price_versions:
      description: The C(valid_from) of the price book versions the lines use.
      type: list
      elements: str
    lines:
      description:
        - C(project), C(vm) (the VM's name, V(null) for other resources), C(item) (V(vcpu), V(ram), V(disk),
          V(floating_ip), V(storage), V(tenant_fee)), C(quantity), C(unit), C(unit_price), C(amount) (decimal
          strings), and C(description), C(resource_kind), C(resource_id), C(resource_name), C(service),
          C(service_category), C(price_key), C(price_valid_from), C(charge_period_start), C(charge_period_end),
          C(correction), C(corrects).
      type: list
      elements: dict
  sample:
    - tenant: acme
      period: "2026-11"
      currency: EUR
      total: "76.15"
      closed: true
      lines:
        - {project: web, vm: web1, item: vcpu, quantity: "1440", unit: vCPU-hour, unit_price: "0.0120",
           amount: "17.28"}
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.billing import invoices_from_store
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: invoices_from_store(
            lambda: ctx.client(STATE_STORE),
            ctx.started,
            ctx.params["period"],
            ctx.params["price_book"],
            ctx.params["tenant"],
        ),
        layers=[STATE_STORE],
        argument_spec=dict(
            period=dict(type="str", required=True),
            price_book=dict(type="path", required=True),
            tenant=dict(type="str"),
        ),
    )


if __name__ == "__main__":
    main()
