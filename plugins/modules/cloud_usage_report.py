#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_usage_report
short_description: Usage per tenant and project over a period, VM-hours by size from the usage ledger
version_added: 0.1.0
description:
  - Reads the state store's usage ledger (a C(committed) event when a reservation becomes a VM, a C(released)
    event when it goes, each with the VM's cores, memory and disk) and computes, per tenant and project, the
    VM-hours of the period by size, and from them core-hours, memory GiB-hours and disk GB-hours.
  - A VM counts from its C(committed) event to the next event of its reservation (C(released), or a new
    C(committed) after a resize), or to the end of the period; only the part inside the period counts.
  - Adds each tenant's quota, used, reserved and free figures as M(ironcloud.stack.cloud_usage_info) reports them
    now, and the share of each quota in use (used + reserved).
  - Returns the report as data (RV(report)). The filters P(ironcloud.stack.usage_csv#filter) and
    P(ironcloud.stack.usage_html#filter) render it on the controller as CSV and as a self-contained HTML page with
    bar charts of quota used and VM-hours; the C(ironcloud.stack.usage) playbook writes all three to files.
  - It reads only; it never changes the store.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.info_module
  - ironcloud.stack.state_store.action_group
options:
  start:
    description:
      - The start of the period, an ISO 8601 date or date-time (UTC unless it has an offset), for example
        V(2026-11-01) or V(2026-11-01T00:00:00Z), or Unix seconds.
      - If not set, the ledger's first event.
    type: str
  end:
    description:
      - The end of the period (excluded), in the same forms as O(start).
      - If not set, now.
    type: str
  tenant:
    description: Only this tenant. It is an error if it does not exist.
    type: str
  project:
    description: Only this project of O(tenant).
    type: str
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Usage of November, all tenants
  ironcloud.stack.cloud_usage_report:
    start: "2026-11-01"
    end: "2026-12-01"
  register: usage

- name: Write the HTML page
  ansible.builtin.copy:
    content: "{{ usage.report | ironcloud.stack.usage_html }}"
    dest: /srv/reports/usage-2026-11.html
    mode: "0644"

- name: One tenant since its start
  ironcloud.stack.cloud_usage_report:
    tenant: acme
    state_store: postgresql://ironcloud@db.example.com/ironcloud
  register: acme
"""

RETURN = r"""
report:
  description: The report.
  returned: success
  type: dict
  contains:
    period:
      description: C(start), C(end) (ISO 8601, UTC) and C(hours) of the period.
      type: dict
    tenants:
      description:
        - Per tenant, sorted by name - C(name), C(quota), C(used), C(reserved), C(free), C(quota_used_pct) (per
          quota key, V(null) where no quota is set), C(vm_hours), C(core_hours), C(memory_gb_hours),
          C(disk_gb_hours), C(by_size) and C(projects).
        - Each project has C(name), C(used), C(reserved), the same sums and C(by_size), a list of C(size) (label
          V(<cores>c-<memory_mb>m-<disk_gb>g)), C(cores), C(memory_mb), C(disk_gb), C(vms) and the sums.
        - A tenant or project that exists only in the ledger (removed since) has C(removed=true).
      type: list
      elements: dict
    totals:
      description: The sums over all tenants.
      type: dict
  sample:
    period: {start: "2026-11-01T00:00:00Z", end: "2026-12-01T00:00:00Z", hours: 720.0}
    totals: {vm_hours: 1440.0, core_hours: 2880.0, memory_gb_hours: 5760.0, disk_gb_hours: 28800.0}
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage_report import report_from_store


def main() -> None:
    run_module(
        logic=lambda ctx: report_from_store(
            ctx.client(STATE_STORE),
            ctx.started,
            start=ctx.params["start"],
            end=ctx.params["end"],
            tenant=ctx.params["tenant"],
            project=ctx.params["project"],
        ),
        layers=[STATE_STORE],
        argument_spec=dict(
            start=dict(type="str"), end=dict(type="str"), tenant=dict(type="str"), project=dict(type="str")
        ),
        required_by={"project": "tenant"},
    )


if __name__ == "__main__":
    main()
