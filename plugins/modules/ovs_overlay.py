#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_overlay
short_description: The VXLAN full mesh of one hypervisor, one isolated network per project
version_added: 0.1.0
description:
  - Converges the tunnel bridge (O(tunnel_bridge), C(br-tun)) of the host the module runs on. It is joined to the
    integration bridge (O(integration_bridge), C(br-int)) by the patch ports C(patch-tun)/C(patch-int), has one
    VXLAN port per remote peer (C(vxlan-<hex address>), C(options:key=flow)), and carries OpenFlow rules that
    translate each project network's local tag to its VNI on the way out and back on the way in.
  - Split horizon, what comes from a tunnel only goes to the patch port and never into another tunnel, so a full
    mesh of any size never loops; MAC learning keeps known unicast to one tunnel.
  - C(br-int) stays plain NORMAL switching with VM ports tagged by project, so VMs that start, stop or migrate
    need no change here.
  - All OVSDB changes are one C(ovs-vsctl) transaction; the flows are replaced with one
    C(ovs-ofctl -O OpenFlow13 replace-flows) only when the installed flows (normalised, learned flows left out)
    differ from the wanted ones. OVSDB does not keep flows, so after an ovs-vswitchd restart a rerun repairs them
    and reports changed on that host only.
  - C(br-tun) takes C(br-int)'s datapath type. Ports on C(br-tun) other than the patch port and the wanted tunnels
    are removed.
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - ironcloud.stack.attributes
  - ironcloud.stack.ovs
  - ironcloud.stack.ovs.action_group
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff lists tunnel bridge ports and flows before and after.
  idempotent:
    support: full
options:
  integration_bridge:
    description: The integration bridge, which must exist (see M(ironcloud.stack.ovs_bridge)).
    type: str
    default: br-int
  tunnel_bridge:
    description: The tunnel bridge this module owns (created when missing).
    type: str
    default: br-tun
  local_ip:
    description:
      - This host's underlay (VTEP) address, the source of its tunnels. Required with O(state=present).
    type: str
  peers:
    description:
      - The underlay addresses of all hypervisors of the mesh. O(local_ip) in the list is ignored, so the same list
        can be given to every host. Addresses only (no names), of O(local_ip)'s address family.
    type: list
    elements: str
    default: []
  networks:
    description:
      - The project networks carried by the mesh. Each VNI and each tag may appear once.
    type: list
    elements: dict
    default: []
    suboptions:
      vni:
        description: The network's VXLAN network identifier, 1..16777215.
        type: int
        required: true
      tag:
        description: The network's local VLAN tag on C(br-int), 1..4094, the same on every host.
        type: int
        required: true
  state:
    description: V(absent) deletes the tunnel bridge and the patch port on the integration bridge.
    type: str
    choices: [present, absent]
    default: present
notes:
  - The tenant MTU must be the underlay MTU minus 50 (VXLAN over IPv4); the userspace datapath does not fragment.
seealso:
  - module: ironcloud.stack.ovs_bridge
  - module: ironcloud.stack.ovs_overlay_info
  - name: The collection's network layer
    description: docs/network.md, the br-tun tables.
    link: https://github.com/ironcloud/stack/blob/main/docs/network.md
"""

EXAMPLES = r"""
- name: The mesh between all hypervisors, two project networks
  ironcloud.stack.ovs_overlay:
    local_ip: "{{ underlay_ip }}"
    peers: "{{ groups['hypervisors'] | map('extract', hostvars, 'underlay_ip') | list }}"
    networks:
      - {vni: 1001, tag: 11}
      - {vni: 1002, tag: 12}

- name: Remove the overlay from a host that leaves the cloud
  ironcloud.stack.ovs_overlay:
    state: absent
"""

RETURN = r"""
ports:
  description: The ports of the tunnel bridge after the run (in check mode, as they would be).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The port's name., type: str, returned: always, sample: vxlan-c0000202}
    type: {description: vxlan or patch., type: str, returned: always, sample: vxlan}
    remote_ip: {description: The peer of a tunnel., type: str, returned: always, sample: 192.0.2.2}
    local_ip: {description: The source of a tunnel., type: str, returned: always, sample: 192.0.2.1}
    options: {description: The interface options., type: dict, returned: always}
    ofport: {description: The OpenFlow port number (null in check mode for a new port)., type: int, returned: always}
    error: {description: "OVS's error for the port, null when it works.", type: str, returned: always}
flows:
  description: The wanted flows of the tunnel bridge, normalised (what the installed ones now are).
  returned: always
  type: list
  elements: str
  sample: ["cookie=0x1,table=4,priority=1,tun_id=0x3e9 actions=push_vlan:0x8100,set_field:4107->vlan_vid,goto_table:10"]
commands:
  description: The ovs-vsctl transaction and the ovs-ofctl call run (or that would run in check mode), as text.
  returned: always
  type: list
  elements: str
changes:
  description: Tunnel bridge ports and flows added and removed by the run.
  returned: always
  type: dict
  contains:
    ports: {description: "{added, removed} port descriptions.", type: dict, returned: always}
    flows: {description: "{added, removed} flows.", type: dict, returned: always}
peers:
  description: The remote peers of this host (O(peers) without O(local_ip)), sorted.
  returned: always
  type: list
  elements: str
networks:
  description: The networks as validated, sorted by VNI.
  returned: always
  type: list
  elements: dict
datapath_type:
  description: The datapath type of both bridges.
  returned: always
  type: str
  sample: netdev
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.common import OVS
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.overlay import ensure_overlay


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_overlay(ctx.client(OVS), ctx.params, ctx.check_mode),
        layers=[OVS],
        argument_spec=dict(
            integration_bridge={"type": "str", "default": "br-int"},
            tunnel_bridge={"type": "str", "default": "br-tun"},
            local_ip={"type": "str"},
            peers={"type": "list", "elements": "str", "default": []},
            networks={
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "vni": {"type": "int", "required": True},
                    "tag": {"type": "int", "required": True},
                },
            },
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        ),
        required_if=[("state", "present", ["local_ip"])],
    )


if __name__ == "__main__":
    main()
