#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_reconcile
short_description: Compare Proxmox with the state store; report the drift (check mode) or repair it
version_added: 0.1.0
description:
  - Proxmox is the truth for VMs. A VM belongs to tenant C(t) and project C(p) when it carries the tags
    C(ic-tenant-t) and C(ic-project-p). The module reads them with one C(GET /cluster/resources) (and the config
    of each tagged VM that has no lease) and compares them with the store.
  - "Drift: C(expired_reservations) (removed); C(vms_without_reservation) (a tagged VM no committed reservation
    accounts for: the reservation in flight for the same name is committed to it, else one is adopted, id
    C(vm-<vmid>)); C(usage_mismatch) (cores or memory that differ from the VM's: corrected); C(moved) (the VM is on
    another node: corrected); C(reservations_without_vm) (released, with a ledger event); C(leases_without_vm)
    (a lease bound to a VMID that is gone: released); C(vms_without_lease) (the address of the VM's C(ipconfig0)
    is leased to C(<name>/net0) when free); C(floating_ips_unbilled) (a floating IP held without an C(allocated)
    row in the usage ledger, as those allocated before the ledger recorded floating IPs: the row is written from
    its allocation time); C(unrepairable) (needs a human: unknown tenant or project, an address
    taken by someone else)."
  - In check mode the drift is reported and nothing changes; otherwise it is repaired in one transaction.
    C(changed) is true when there was something to repair.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
attributes:
  action_group:
    description: Use C(group/ironcloud.stack.cloud) and C(group/ironcloud.stack.proxmox) in C(module_defaults).
    support: full
    membership:
      - ironcloud.stack.cloud
      - ironcloud.stack.proxmox
options:
  tenant:
    description: Only this tenant's VMs, leases and reservations.
    type: str
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Report drift
  ironcloud.stack.cloud_reconcile:
  check_mode: true
  register: drift

- name: Repair it
  ironcloud.stack.cloud_reconcile:
  when: drift.changed
"""

RETURN = r"""
drift:
  description: The drift found (and, unless in check mode, repaired), one list per kind.
  returned: always
  type: dict
  contains:
    expired_reservations:
      description: Reservations that expired uncommitted.
      type: list
      elements: dict
    vms_without_reservation:
      description: Tagged VMs no committed reservation accounted for.
      type: list
      elements: dict
    usage_mismatch:
      description: Committed reservations whose sizes differed from their VM's.
      type: list
      elements: dict
    moved:
      description: Committed reservations whose VM is on another node.
      type: list
      elements: dict
    power_state:
      description:
        - Committed VMs whose Proxmox status differed from the last state the usage ledger has for them; a
          C(started) or C(stopped) event is recorded (invoices charge vCPU and RAM by state).
      type: list
      elements: dict
    reservations_without_vm:
      description: Committed reservations whose VM is gone.
      type: list
      elements: dict
    leases_without_vm:
      description: Leases bound to a VMID that is gone (or is another project's).
      type: list
      elements: dict
    vms_without_lease:
      description: Tagged VMs no lease was bound to, with the address leased to them.
      type: list
      elements: dict
    floating_ips_unbilled:
      description: Floating IPs the usage ledger did not bill, each with C(tenant), C(project), C(address) and
        C(since) (the time of the C(allocated) row written, in seconds since the epoch).
      type: list
      elements: dict
    unrepairable:
      description: What reconcile cannot repair, each with a C(problem).
      type: list
      elements: dict
tenants:
  description: Usage per tenant after the repair, as M(ironcloud.stack.cloud_usage_info) returns it.
  returned: always
  type: list
  elements: dict
msg:
  description: A summary.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reconcile import reconcile_cloud
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: reconcile_cloud(
            ctx.client(STATE_STORE), ctx.client(PROXMOX), ctx.check_mode, ctx.started, ctx.params["tenant"]
        ),
        layers=[STATE_STORE, PROXMOX],
        requirements=[NETADDR],
        argument_spec=dict(tenant=dict(type="str")),
    )


if __name__ == "__main__":
    main()
