#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_provider_network
short_description: The provider (external) network and its pool of router addresses and floating IPs
version_added: 0.1.0
description:
  - Declares a provider network in the state store, the datacenter's external network the network node's provider
    bridge is plugged into - its subnet, its gateway and the range (the pool) out of which routers take their
    external address (M(ironcloud.stack.cloud_router)) and tenants their floating IPs
    (M(ironcloud.stack.cloud_floating_ip)).
  - Changing the range is refused while an address in use would fall outside it; removing the provider network is
    refused while any address of it is in use.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.state_store.action_group
options:
  name:
    description: The provider network's name; routers and floating IPs name it in their option C(provider).
    type: str
    default: external
  cidr:
    description: The provider network's subnet (IPv4). Required with O(state=present).
    type: str
  gateway:
    description: The provider network's gateway, the routers' default route. Default, the first host of O(cidr).
    type: str
  range:
    description:
      - The pool, V(FIRST-LAST) (both addresses of O(cidr)). Default, every host of O(cidr). The gateway is never
        handed out.
    type: str
  state:
    description: V(present) declares it; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: The datacenter network, addresses .10 to .99 for routers and floating IPs
  ironcloud.stack.cloud_provider_network:
    cidr: 203.0.113.0/24
    gateway: 203.0.113.1
    range: 203.0.113.10-203.0.113.99
"""

RETURN = r"""
provider:
  description: The provider network; null after removal.
  returned: always
  type: dict
  contains:
    name:
      description: Its name.
      type: str
    cidr:
      description: Its subnet.
      type: str
    gateway:
      description: Its gateway.
      type: str
    prefix_length:
      description: The prefix length of O(cidr).
      type: int
    range:
      description: The pool, C(FIRST-LAST).
      type: str
msg:
  description: What was done.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.providers import ensure_provider
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_provider(ctx.client(STATE_STORE), ctx.params, ctx.check_mode, ctx.started),
        layers=[STATE_STORE],
        requirements=[NETADDR],
        argument_spec=dict(
            name=dict(type="str", default="external"),
            cidr=dict(type="str"),
            gateway=dict(type="str"),
            range=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("state", "present", ["cidr"])],
    )


if __name__ == "__main__":
    main()
