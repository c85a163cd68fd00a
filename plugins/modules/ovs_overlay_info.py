#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ovs_overlay_info
short_description: Read the VXLAN overlay of one hypervisor
version_added: 0.1.0
description:
  - Reports the tunnel bridge of the host the module runs on, as M(ironcloud.stack.ovs_overlay) builds it, with
    its ports, its tunnels with their peer and state, its flows, and the project networks (VNI and tag) its flows
    carry.
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.info_module
  - ironcloud.stack.ovs
  - ironcloud.stack.ovs.action_group
options:
  integration_bridge:
    description: The integration bridge; it must exist.
    type: str
    default: br-int
  tunnel_bridge:
    description: The tunnel bridge.
    type: str
    default: br-tun
seealso:
  - module: ironcloud.stack.ovs_overlay
"""

EXAMPLES = r"""
- name: The mesh as it is
  ironcloud.stack.ovs_overlay_info:
  register: overlay

- name: Every tunnel works
  ansible.builtin.assert:
    that: overlay.tunnels | selectattr('state', 'ne', 'ok') | list | length == 0
"""

RETURN = r"""
exists:
  description: Whether the tunnel bridge exists.
  returned: always
  type: bool
patched:
  description: Whether the patch port pair between the two bridges is in place.
  returned: always
  type: bool
datapath_type:
  description: The tunnel bridge's datapath type (null when it does not exist).
  returned: always
  type: str
fail_mode:
  description: The tunnel bridge's fail mode.
  returned: always
  type: str
ports:
  description: Every port of the tunnel bridge (its own internal port left out).
  returned: always
  type: list
  elements: dict
tunnels:
  description: The tunnel ports.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The port's name., type: str, returned: always, sample: vxlan-c0000202}
    remote_ip: {description: The peer., type: str, returned: always, sample: 192.0.2.2}
    local_ip: {description: The source address., type: str, returned: always, sample: 192.0.2.1}
    ofport: {description: The OpenFlow port number (-1 when it failed)., type: int, returned: always}
    error: {description: OVS's error for the port., type: str, returned: always}
    state:
      description: V(ok), or V(error) when the port has an error or no OpenFlow port.
      type: str
      returned: always
flows:
  description: The installed flows, normalised, learned flows left out.
  returned: always
  type: list
  elements: str
learned_flows:
  description: How many flows MAC learning has installed (cookie 0x2).
  returned: always
  type: int
networks:
  description: The networks the flows carry ({vni, tag}, from table 4).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.common import OVS
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.overlay import overlay_info


def main() -> None:
    run_module(
        logic=lambda ctx: overlay_info(ctx.client(OVS), ctx.params),
        layers=[OVS],
        argument_spec=dict(
            integration_bridge={"type": "str", "default": "br-int"},
            tunnel_bridge={"type": "str", "default": "br-tun"},
        ),
    )


if __name__ == "__main__":
    main()
