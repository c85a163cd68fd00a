#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_network
short_description: A project network (VNI, subnet, gateway, local tag, MTU) in the state store
version_added: 0.1.0
description:
  - Allocates a project network of a tenant, idempotent by (O(tenant), O(project), O(name)).
  - The VNI is the lowest free one of O(vni_range); the local tag (the VLAN tag of the project's NICs on
    C(br-int)) is the lowest free one of 1..4094. Both are unique in the whole cloud.
  - The subnet is the first free O(prefix_length) block of O(supernet) that overlaps none of the tenant's
    networks, or O(cidr) when given (refused if it overlaps one). Tenants may use the same addresses.
  - The gateway is the subnet's first host, reserved (never leased).
  - Once created, the subnet, VNI and tag do not change (asking for others is an error); the MTU converges.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.state_store.action_group
options:
  tenant:
    description: The tenant (it must exist, see M(ironcloud.stack.cloud_tenant)).
    type: str
    required: true
  project:
    description: The project of the tenant (one of its O(ironcloud.stack.cloud_tenant#module:projects)).
    type: str
    required: true
  name:
    description: The network's name within the project.
    type: str
    required: true
  cidr:
    description:
      - The subnet, for example V(10.20.0.0/24), IPv4, at most /29, host bits zero. Default is to carve one
        from O(supernet).
    type: str
  prefix_length:
    description: The prefix length of a subnet carved from O(supernet).
    type: int
    default: 24
  supernet:
    description: The block subnets are carved from (per tenant).
    type: str
    default: 10.100.0.0/16
  vni_range:
    description:
      - The VNIs to choose from, V(FIRST-LAST) (or V(FIRST:LAST)), within 1..16777215.
    type: str
    default: 1000-16777215
  vni:
    description: A given VNI (1..16777215) instead of one from O(vni_range); refused if taken.
    type: int
  tag:
    description: A given local tag (1..4094) instead of the lowest free one; refused if taken.
    type: int
  mtu:
    description: The network's MTU. Default O(underlay_mtu) minus 50 (the VXLAN overhead).
    type: int
  underlay_mtu:
    description: The MTU of the hypervisors' underlay network.
    type: int
    default: 1500
  state:
    description: V(present) allocates; V(absent) removes the network, refused while it has address leases.
    type: str
    choices: [present, absent]
    default: present
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: A network for the web project, carved from the default supernet
  ironcloud.stack.cloud_network:
    tenant: acme
    project: web
    name: front
  register: front

- name: A network with its own subnet and VNI range
  ironcloud.stack.cloud_network:
    tenant: acme
    project: data
    name: db
    cidr: 10.20.0.0/26
    vni_range: 5000-5999
    underlay_mtu: 9000

- name: The project's NICs use the local tag
  ansible.builtin.debug:
    msg: "net0: virtio,bridge=br-int,tag={{ front.network.tag }}"
"""

RETURN = r"""
network:
  description: The network; null after removal.
  returned: always
  type: dict
  contains:
    tenant:
      description: The tenant.
      type: str
    project:
      description: The project.
      type: str
    name:
      description: The network's name.
      type: str
    vni:
      description: The VXLAN network identifier.
      type: int
      sample: 1000
    cidr:
      description: The subnet.
      type: str
      sample: 10.100.0.0/24
    prefix_length:
      description: The subnet's prefix length.
      type: int
      sample: 24
    gateway:
      description: The gateway address (the subnet's first host).
      type: str
      sample: 10.100.0.1
    tag:
      description: The local VLAN tag of the network on every node's C(br-int).
      type: int
      sample: 1
    mtu:
      description: The network's MTU.
      type: int
      sample: 1450
msg:
  description: What was done.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.networks import ensure_network
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_network(ctx.client(STATE_STORE), ctx.params, ctx.check_mode, ctx.started),
        layers=[STATE_STORE],
        requirements=[NETADDR],
        argument_spec=dict(
            tenant=dict(type="str", required=True),
            project=dict(type="str", required=True),
            name=dict(type="str", required=True),
            cidr=dict(type="str"),
            prefix_length=dict(type="int", default=24),
            supernet=dict(type="str", default="10.100.0.0/16"),
            vni_range=dict(type="str", default="1000-16777215"),
            vni=dict(type="int"),
            tag=dict(type="int"),
            mtu=dict(type="int"),
            underlay_mtu=dict(type="int", default=1500),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )


if __name__ == "__main__":
    main()
