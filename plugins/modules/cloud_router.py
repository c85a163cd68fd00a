#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_router
short_description: A project's router in the state store (networks, external address, SNAT)
version_added: 0.1.0
description:
  - Declares the router of a project, as OpenStack Neutron's routers do. It attaches networks of its own project
    (it holds their gateway address; a network has at most one router), takes an external address from a provider
    network's pool (M(ironcloud.stack.cloud_provider_network)) when O(external=true), and translates its networks'
    traffic to that address (SNAT) when O(snat=true).
  - A network of another project or tenant is refused, naming O(networks). Routers never route between two
    tenants or two projects; M(ironcloud.stack.ovs_router) builds each router in a network namespace of its own.
  - The result C(router) holds everything M(ironcloud.stack.ovs_router) needs, including the floating IPs
    associated through it.
  - Detaching a network, dropping the external address or removing the router is refused while a floating IP goes
    through it.
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
  name:
    description: The router's name within the project.
    type: str
    required: true
  networks:
    description: The project's networks the router attaches (the whole list; networks left out are detached).
    type: list
    elements: str
    default: []
  external:
    description: Whether the router has an external address, taken from the pool of O(provider).
    type: bool
    default: false
  snat:
    description:
      - Whether the router translates its networks' outgoing traffic to its external address. Default, O(external).
      - Needs O(external=true).
    type: bool
  provider:
    description: The provider network of the external address.
    type: str
    default: external
  state:
    description: V(present) declares it; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: The router of acme/web, with an external address and SNAT
  ironcloud.stack.cloud_router:
    tenant: acme
    project: web
    name: main
    networks: [front]
    external: true
  register: router

- name: Built on the network node
  ironcloud.stack.ovs_router:
    tenant: acme
    project: web
    name: main
    networks: "{{ router.router.networks }}"
    external_address: "{{ router.router.external_address }}"
    external_gateway: "{{ router.router.external_gateway }}"
    snat: "{{ router.router.snat }}"
    floating_ips: "{{ router.router.floating_ips }}"
  delegate_to: network1
"""

RETURN = r"""
router:
  description: The router; null after removal.
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
      description: The router's name.
      type: str
    namespace:
      description: The network namespace M(ironcloud.stack.ovs_router) builds it in.
      type: str
    networks:
      description: The attached networks, each C(name), C(cidr), C(gateway), C(tag), C(mtu).
      type: list
      elements: dict
    external:
      description: Whether it has an external address.
      type: bool
    snat:
      description: Whether it does SNAT.
      type: bool
    provider:
      description: The provider network of the external address, or null.
      type: str
    external_address:
      description: The external address with the provider network's prefix length (V(203.0.113.10/24)), or null.
      type: str
    external_gateway:
      description: The provider network's gateway, or null.
      type: str
    floating_ips:
      description: The floating IPs associated through it, each C(address), C(fixed), C(vm), C(network).
      type: list
      elements: dict
msg:
  description: What was done.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.routers import ensure_router
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_router(ctx.client(STATE_STORE), ctx.params, ctx.check_mode, ctx.started),
        layers=[STATE_STORE],
        requirements=[NETADDR],
        argument_spec=dict(
            tenant=dict(type="str", required=True),
            project=dict(type="str", required=True),
            name=dict(type="str", required=True),
            networks=dict(type="list", elements="str", default=[]),
            external=dict(type="bool", default=False),
            snat=dict(type="bool"),
            provider=dict(type="str", default="external"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )


if __name__ == "__main__":
    main()
