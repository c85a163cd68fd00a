#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_bridge
short_description: Open vSwitch bridges with their datapath type, fail mode, settings and NIC ports
version_added: 0.1.0
description:
  - Creates, converges or deletes one Open vSwitch bridge on the host the module runs on (a hypervisor), with
    its datapath type, fail mode, C(other_config) and C(external_ids) keys, and the NIC ports it owns.
  - All changes of one run are one C(ovs-vsctl) transaction.
  - Ports and keys not listed are left alone (Proxmox plugs VM ports into bridges on its own), so this module
    never removes a port from a bridge.
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - ironcloud.stack.attributes
  - ironcloud.stack.ovs
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.ovs.action_group
options:
  name:
    description: The bridge's name (at most 15 characters, it is also a network device).
    type: str
    required: true
  state:
    description: Whether the bridge exists. V(absent) deletes the bridge with all its ports.
    type: str
    choices: [present, absent]
    default: present
  datapath_type:
    description:
      - V(system) is the kernel datapath, what a Proxmox VE host uses (and OVS's own default).
      - V(netdev) is the userspace datapath, for hosts without the C(openvswitch) kernel module such as the
        collection's lab containers. Bridges joined by patch ports (C(br-int), C(br-tun)) must share one type.
    type: str
    choices: [system, netdev]
    default: system
  fail_mode:
    description:
      - What the bridge does without an OpenFlow controller. V(standalone) switches like a learning switch (and
        keeps doing so after an ovs-vswitchd restart); V(secure) forwards only by installed flows.
      - Not managed when not set (a new bridge gets OVS's default, standalone behaviour).
    type: str
    choices: [secure, standalone]
  other_config:
    description:
      - Keys of the bridge's C(other_config) column, for example C(hwaddr) to pin the bridge's MAC address to its
        NIC's. Only the keys given are managed.
    type: dict
  external_ids:
    description: Keys of the bridge's C(external_ids) column. Only the keys given are managed.
    type: dict
  ports:
    description:
      - Network devices the bridge owns (added as system ports), for example the underlay NIC. A port already on
        another bridge is an error. Ports not listed are left alone.
    type: list
    elements: str
seealso:
  - module: ironcloud.stack.ovs_overlay
  - name: The collection's network layer
    description: docs/network.md, the three bridges of a hypervisor.
    link: https://github.com/ironcloud/stack/blob/main/docs/network.md
"""

EXAMPLES = r"""
- name: The underlay bridge owns the NIC, with the NIC's MAC address
  ironcloud.stack.ovs_bridge:
    name: br-phy
    ports: [eno1]
    other_config:
      hwaddr: "{{ ansible_facts['eno1']['macaddress'] }}"

- name: The integration bridge, plain NORMAL switching that survives an ovs-vswitchd restart
  ironcloud.stack.ovs_bridge:
    name: br-int
    fail_mode: standalone

- name: A userspace-datapath bridge on a host without the kernel module, in a second OVS instance
  ironcloud.stack.ovs_bridge:
    name: br-int
    datapath_type: netdev
    fail_mode: standalone
    database_socket: unix:/run/ovs-lab/db.sock

- name: Delete a bridge
  ironcloud.stack.ovs_bridge:
    name: br-old
    state: absent
"""

RETURN = r"""
bridge:
  description: The bridge after the run (in check mode, as it would be); null when absent.
  returned: always
  type: dict
  contains:
    name: {description: The bridge's name., type: str, returned: success, sample: br-phy}
    datapath_type: {description: system or netdev., type: str, returned: success, sample: netdev}
    fail_mode: {description: "secure, standalone or null (OVS's default).", type: str, returned: success}
    other_config: {description: The whole other_config column., type: dict, returned: success}
    external_ids: {description: The whole external_ids column., type: dict, returned: success}
    ports: {description: Ports of the bridge (its own internal port left out)., type: list, elements: str,
            returned: success, sample: [eno1]}
commands:
  description: The ovs-vsctl transaction run (or that would run in check mode), as text.
  returned: always
  type: list
  elements: str
  sample: ["ovs-vsctl --timeout=30 -- add-br br-int -- set bridge br-int datapath_type=system fail_mode=standalone"]
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.bridge import ensure_bridge
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.common import OVS


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_bridge(ctx.client(OVS), ctx.params, ctx.check_mode),
        layers=[OVS],
        argument_spec=dict(
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            datapath_type={"type": "str", "choices": ["system", "netdev"], "default": "system"},
            fail_mode={"type": "str", "choices": ["secure", "standalone"]},
            other_config={"type": "dict"},
            external_ids={"type": "dict"},
            ports={"type": "list", "elements": "str"},
        ),
    )


if __name__ == "__main__":
    main()
