#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_floating_ip
short_description: Allocate, associate, move and release a floating IP
version_added: 0.1.0
description:
  - Allocates a floating IP from a provider network's pool (M(ironcloud.stack.cloud_provider_network)) for a
    project and associates it with a VM's address, moves it to another VM, or releases it.
  - Which floating IP a call means - O(address) when given; else the one associated with the VM (O(vm) or
    O(fixed_address)), a new one when the VM has none. With O(address) and no O(vm)/O(fixed_address) the floating
    IP is kept but associated with nothing.
  - The VM's address is its lease in the project (owner V(<vm>/<nic>), see M(ironcloud.stack.cloud_address)); its
    network must be attached to a router of the project with an external address (M(ironcloud.stack.cloud_router)),
    where M(ironcloud.stack.ovs_router) puts the floating IP's DNAT and SNAT.
  - Allocation happens in one state store transaction that holds the tenant and the provider network, so parallel
    runs never hand out one address twice. Counts against the tenant's C(floating_ips) quota.
  - The same transaction writes the usage ledger row that billing (M(ironcloud.stack.cloud_invoice_info)) prices
    with C(floating_ip_hour) - C(floating_ip) C(allocated) when the address is allocated, C(released) when it is
    released. Associating, moving or disassociating a floating IP the project already holds writes none.
  - An address outside the pool, a floating IP of another tenant or project, a VM that already has another one and
    an exhausted pool are errors that change nothing.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.state_store.action_group
options:
  tenant:
    description: The tenant.
    type: str
    required: true
  project:
    description: The project.
    type: str
    required: true
  address:
    description: A specific floating IP (allocated if free; it must be in the pool).
    type: str
  vm:
    description: The VM to associate it with (its lease V(<vm>/<nic>) in the project).
    type: str
  nic:
    description: The VM's NIC whose address is used.
    type: str
    default: net0
  fixed_address:
    description: The project address to associate it with (instead of O(vm), or to pick one of the VM's addresses).
    type: str
  provider:
    description: The provider network of the pool.
    type: str
    default: external
  state:
    description: V(present) allocates and associates; V(absent) releases (by O(address), else the VM's).
    type: str
    choices: [present, absent]
    default: present
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: A floating IP for web1
  ironcloud.stack.cloud_floating_ip:
    tenant: acme
    project: web
    vm: web1
  register: fip

- name: Move it to web2
  ironcloud.stack.cloud_floating_ip:
    tenant: acme
    project: web
    address: "{{ fip.address }}"
    vm: web2

- name: Release it
  ironcloud.stack.cloud_floating_ip:
    tenant: acme
    project: web
    address: "{{ fip.address }}"
    state: absent
"""

RETURN = r"""
address:
  description: The floating IP (null after a release).
  returned: success
  type: str
  sample: 203.0.113.11
floating_ip:
  description: The floating IP; null after a release.
  returned: always
  type: dict
  contains:
    address:
      description: The floating IP.
      type: str
    provider:
      description: Its provider network.
      type: str
    tenant:
      description: The tenant.
      type: str
    project:
      description: The project.
      type: str
    vm:
      description: The VM it is associated with, or null.
      type: str
    network:
      description: The network of the fixed address, or null.
      type: str
    fixed_address:
      description: The address it is associated with, or null.
      type: str
    router:
      description: The router its DNAT and SNAT live in, or null.
      type: str
msg:
  description: What was done.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.floating_ips import ensure_floating_ip
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_floating_ip(ctx.client(STATE_STORE), ctx.params, ctx.check_mode, ctx.started),
        layers=[STATE_STORE],
        requirements=[NETADDR],
        argument_spec=dict(
            tenant=dict(type="str", required=True),
            project=dict(type="str", required=True),
            address=dict(type="str"),
            vm=dict(type="str"),
            nic=dict(type="str", default="net0"),
            fixed_address=dict(type="str"),
            provider=dict(type="str", default="external"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_one_of=[("address", "vm", "fixed_address")],
    )


if __name__ == "__main__":
    main()
