#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_router
short_description: One project router on the network node (namespace, ports, SNAT, floating IPs)
version_added: 0.1.0
description:
  - Builds the router M(ironcloud.stack.cloud_router) declares, on the network node the module runs on, as
    OpenStack Neutron's L3 agent does - a network namespace of its own (C(icr_<tenant>_<project>_<router>)), a veth
    pair per attached network (C(qr-<h>) in the namespace with the network's gateway address, C(ir-<h>) on
    O(integration_bridge) with the network's local tag) and one to O(provider_bridge) (C(qg-<h>) with the external
    address and each floating IP as a /32, C(ig-<h>) on the bridge).
  - "nftables in the namespace (one table C(ironcloud)): DNAT of each floating IP to its fixed address, SNAT of
    that fixed address to the floating IP, SNAT of the networks to the external address when O(snat=true); from
    outside only DNATed and established traffic gets in."
  - Routers never route between two tenants or projects; each is a namespace of its own, with no route to another.
  - One converge per router - what differs is changed (stale ports, addresses and rules removed), a rerun reports
    nothing changed (the ruleset is compared as normalised C(nft -j list ruleset) JSON, and replaced in one
    transaction), and a router whose namespace is gone (a restarted node) is rebuilt.
  - A gratuitous ARP (C(arping -U), Debian package C(iputils-arping)) announces an address that was added or a
    floating IP that moved, when C(arping) is installed.
  - Needs C(ip) (iproute2), C(nft) (nftables), C(sysctl) and C(ovs-vsctl) on the node.
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - ironcloud.stack.attributes
  - ironcloud.stack.ovs
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the namespace's ports with their addresses, the default route and the rules.
  idempotent:
    support: full
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
    description: The router's name (the namespace and port names derive from tenant, project and name).
    type: str
    required: true
  integration_bridge:
    description: The bridge the project networks are on.
    type: str
    default: br-int
  provider_bridge:
    description: The bridge on the provider (external) network.
    type: str
    default: br-ex
  provider_tag:
    description: A VLAN tag for the external port on O(provider_bridge), when the provider network is a VLAN.
    type: int
  networks:
    description: The attached networks (C(router.networks) of M(ironcloud.stack.cloud_router)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The network's name.
        type: str
        required: true
      cidr:
        description: Its subnet.
        type: str
        required: true
      gateway:
        description: Its gateway, the router's address on it.
        type: str
        required: true
      tag:
        description: Its local tag on O(integration_bridge).
        type: int
        required: true
      mtu:
        description: Its MTU (the router's port takes it).
        type: int
  external_address:
    description: The router's external address with the provider network's prefix (V(203.0.113.10/24)).
    type: str
  external_gateway:
    description: The provider network's gateway, the router's default route.
    type: str
  snat:
    description: Translate the networks' outgoing traffic to O(external_address).
    type: bool
    default: false
  floating_ips:
    description: The floating IPs through this router (C(router.floating_ips) of M(ironcloud.stack.cloud_router)).
    type: list
    elements: dict
    default: []
    suboptions:
      address:
        description: The floating IP.
        type: str
        required: true
      fixed:
        description: The fixed address on one of O(networks) it is translated to.
        type: str
        required: true
      vm:
        description: The VM of the fixed address (informational, as M(ironcloud.stack.cloud_router) returns it).
        type: str
      network:
        description: The network of the fixed address (informational).
        type: str
  dns:
    description:
      - The project's VMs the router serves names for, each C(name) (the VM) and C(address) (on one of the
        router's networks). The name served is C(<name>.<project>.<tenant>.<dns_domain>).
      - A dnsmasq in the namespace answers on the networks' gateway addresses (the VMs' nameserver through
        cloud-init); its files (C(dnsmasq.conf), C(hosts), C(dnsmasq.pid)) are in a directory per router under
        O(dns_directory). It is restarted only when its files change, when it does not run, or when the
        router's ports were rebuilt. Empty stops it and removes its directory.
      - Needs C(dnsmasq) on the node (Debian package C(dnsmasq-base)).
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: The VM's name., type: str, required: true}
      address: {description: Its address on one of the router's networks., type: str, required: true}
  dns_domain:
    description: The domain after C(<vm>.<project>.<tenant>); names in it are never forwarded elsewhere.
    type: str
    default: ""
  dns_directory:
    description: Where each router's dnsmasq keeps its files (a directory per router namespace).
    type: path
    default: /run/ironcloud/routers
  checksum_offload:
    description:
      - Leave checksum offload on the namespace's ports as it is. V(false) turns transmit offload off
        (C(ethtool -K <port> tx off)), which Open vSwitch's userspace datapath needs for TCP.
    type: bool
    default: true
  state:
    description: V(present) builds it; V(absent) removes the namespace and its ports.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: The router of acme/web from the state store
  ironcloud.stack.cloud_router:
    tenant: acme
    project: web
    name: main
    networks: [front]
    external: true
  register: r
  delegate_to: localhost

- name: Built on the network node
  ironcloud.stack.ovs_router:
    tenant: acme
    project: web
    name: main
    networks: "{{ r.router.networks }}"
    external_address: "{{ r.router.external_address }}"
    external_gateway: "{{ r.router.external_gateway }}"
    snat: "{{ r.router.snat }}"
    floating_ips: "{{ r.router.floating_ips }}"
"""

RETURN = r"""
router:
  description: The router as built; null after removal.
  returned: always
  type: dict
  contains:
    namespace:
      description: Its network namespace.
      type: str
    ports:
      description: Its ports, each C(name) (in the namespace), C(peer) (on the bridge), C(bridge), C(tag), C(addresses).
      type: list
      elements: dict
    default_route:
      description: Its default gateway, or null.
      type: str
    floating_ips:
      description: Its floating IPs, each C(address), C(fixed).
      type: list
      elements: dict
    snat:
      description: Whether it does SNAT.
      type: bool
    dns:
      description: The names its dnsmasq serves, as a dict of fully qualified name to address.
      type: dict
announced:
  description: The addresses announced with a gratuitous ARP.
  returned: always
  type: list
  elements: str
commands:
  description: The commands run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
msg:
  description: What was done.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import ModuleContext, run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.common import OVS
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.router import Host, Tools, ensure_router
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR


def logic(ctx: ModuleContext) -> dict:
    module = ctx.module
    tools = Tools(
        ip=module.get_bin_path("ip", required=True),
        nft=module.get_bin_path("nft", required=True),
        sysctl=module.get_bin_path("sysctl", required=True),
        arping=module.get_bin_path("arping"),
        ethtool=module.get_bin_path("ethtool"),
        dnsmasq=module.get_bin_path("dnsmasq"),
    )
    return ensure_router(Host(module.run_command, tools, ctx.client(OVS)), ctx.params, ctx.check_mode)


def main() -> None:
    run_module(
        logic=logic,
        layers=[OVS],
        requirements=[NETADDR],
        argument_spec=dict(
            tenant=dict(type="str", required=True),
            project=dict(type="str", required=True),
            name=dict(type="str", required=True),
            integration_bridge=dict(type="str", default="br-int"),
            provider_bridge=dict(type="str", default="br-ex"),
            provider_tag=dict(type="int"),
            networks=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    cidr=dict(type="str", required=True),
                    gateway=dict(type="str", required=True),
                    tag=dict(type="int", required=True),
                    mtu=dict(type="int"),
                ),
            ),
            external_address=dict(type="str"),
            external_gateway=dict(type="str"),
            snat=dict(type="bool", default=False),
            floating_ips=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    address=dict(type="str", required=True),
                    fixed=dict(type="str", required=True),
                    vm=dict(type="str"),
                    network=dict(type="str"),
                ),
            ),
            dns=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(name=dict(type="str", required=True), address=dict(type="str", required=True)),
            ),
            dns_domain=dict(type="str", default=""),
            dns_directory=dict(type="path", default="/run/ironcloud/routers"),
            checksum_offload=dict(type="bool", default=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )


if __name__ == "__main__":
    main()
