#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_address
short_description: Lease or release the address of an owner on a project network
version_added: 0.1.0
description:
  - Leases an address of a project network to an owner (a VM's NIC), or releases it.
  - The same owner always gets the same address. The network, gateway and broadcast addresses are never leased.
  - A requested O(address) is honoured if it is free, else the module fails naming who holds it.
  - Addresses are handed out in order; released ones are reused once the end of the subnet is reached.
  - The lease counts against the tenant's C(addresses) quota.
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
  network:
    description: The project network's name (see M(ironcloud.stack.cloud_network)).
    type: str
    required: true
  owner:
    description:
      - Who holds the address within the project, by convention V(<vm name>/<nic>), for example V(web1/net0).
      - 1 to 63 characters out of C(a-z), C(0-9), C(.), C(_), C(:), C(/) and C(-), starting with a letter or digit.
    type: str
    required: true
  address:
    description:
      - A specific address (V(10.100.0.10) or V(10.100.0.10/24)). With O(state=absent), the release is refused
        if the owner holds another address.
    type: str
  vmid:
    description: The VMID the lease is bound to (set when the VM exists; M(ironcloud.stack.cloud_reconcile) uses it).
    type: int
  login_user:
    description:
      - The login user of the owner's VM (its cloud-init user, O(ironcloud.stack.cloud_vm#module:ciuser), which
        M(ironcloud.stack.cloud_vm) records here), kept with the lease; the P(ironcloud.stack.cloud#inventory)
        inventory sets it as C(ansible_user) of the VM.
      - A Linux user name, 1 to 32 characters out of C(a-z), C(0-9), C(_) and C(-), starting with a letter or C(_).
      - Set when the lease is made, changed when it differs; not given, the lease's login user is left as it is.
    type: str
  state:
    description: V(present) leases; V(absent) releases.
    type: str
    choices: [present, absent]
    default: present
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: The address of web1's first NIC
  ironcloud.stack.cloud_address:
    tenant: acme
    project: web
    network: front
    owner: web1/net0
    vmid: 120
    login_user: debian
  register: ip

- name: Cloud-init with the leased address
  ansible.builtin.debug:
    msg: "ipconfig0: ip={{ ip.address }}/{{ ip.prefix_length }},gw={{ ip.gateway }}"

- name: A fixed address for a load balancer VIP
  ironcloud.stack.cloud_address:
    tenant: acme
    project: web
    network: front
    owner: vip/api
    address: 10.100.0.250

- name: Release it
  ironcloud.stack.cloud_address:
    tenant: acme
    project: web
    network: front
    owner: web1/net0
    state: absent
"""

RETURN = r"""
address:
  description: The leased address (after a release, the address that was released; null if there was none).
  returned: always
  type: str
  sample: 10.100.0.2
prefix_length:
  description: The network's prefix length.
  returned: always
  type: int
  sample: 24
gateway:
  description: The network's gateway.
  returned: always
  type: str
  sample: 10.100.0.1
lease:
  description: The lease; null after a release.
  returned: always
  type: dict
  contains:
    tenant:
      description: The tenant.
      type: str
    project:
      description: The project.
      type: str
    network:
      description: The network's name.
      type: str
    owner:
      description: The owner.
      type: str
    address:
      description: The address.
      type: str
    prefix_length:
      description: The prefix length.
      type: int
    cidr:
      description: The network's subnet.
      type: str
    gateway:
      description: The gateway.
      type: str
    vmid:
      description: The bound VMID, or null.
      type: int
    login_user:
      description: The login user of the owner's VM, or null when it is not known.
      type: str
    tag:
      description: The network's local tag on C(br-int).
      type: int
    vni:
      description: The network's VNI.
      type: int
    mtu:
      description: The network's MTU.
      type: int
msg:
  description: What was done.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.addresses import ensure_address
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_address(ctx.client(STATE_STORE), ctx.params, ctx.check_mode, ctx.started),
        layers=[STATE_STORE],
        requirements=[NETADDR],
        argument_spec=dict(
            tenant=dict(type="str", required=True),
            project=dict(type="str", required=True),
            network=dict(type="str", required=True),
            owner=dict(type="str", required=True),
            address=dict(type="str"),
            vmid=dict(type="int"),
            login_user=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )


if __name__ == "__main__":
    main()
