#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxmox_node_info
short_description: The nodes of a Proxmox VE cluster with their capacity, usage and allocation
version_added: 0.1.0
description:
  - Reads the cluster's nodes with one C(GET /cluster/resources) request.
  - For each node it returns its online state, capacity (cores, memory), usage, and what placement needs
    (VMs per node, cores and memory allocated to them, what is left).
extends_documentation_fragment:
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.info_module
  - ironcloud.stack.proxmox.action_group
options:
  node:
    description:
      - Only this node. It is an error if the cluster has no such node.
    type: str
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Read the nodes of the cluster
  ironcloud.stack.proxmox_node_info:
    api_host: pve1.example.com
    api_token_id: ansible@pve!cloud
    api_token_secret: "{{ vault_proxmox_token_secret }}"
    ca_path: /etc/ssl/certs/pve-root-ca.pem
  register: cluster

- name: The online nodes with most free memory first
  ansible.builtin.debug:
    msg: "{{ cluster.nodes | selectattr('online') | sort(attribute='memory_free', reverse=true)
             | map(attribute='node') | list }}"

- name: One node
  ironcloud.stack.proxmox_node_info:
    node: pve2
  register: pve2
"""

RETURN = r"""
nodes:
  description: The nodes, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    node:
      description: The node's name.
      type: str
      sample: pve1
    online:
      description: Whether the node is online.
      type: bool
      sample: true
    status:
      description: The node's status as Proxmox reports it (V(online), V(offline), V(unknown)).
      type: str
    maxcpu:
      description: The node's CPU cores.
      type: int
      sample: 16
    maxmem:
      description: The node's memory in bytes.
      type: int
    cpu:
      description: CPU usage, 0 to 1.
      type: float
    mem:
      description: Memory in use, in bytes.
      type: int
    maxdisk:
      description: Size of the node's root disk in bytes.
      type: int
    disk:
      description: Root disk space used, in bytes.
      type: int
    uptime:
      description: Seconds since the node started.
      type: int
    vms:
      description: Guests on the node (templates not counted).
      type: int
    vms_running:
      description: Running guests on the node.
      type: int
    cores_allocated:
      description: vCPUs of the node's guests, running or not.
      type: int
    memory_allocated:
      description: Memory configured for the node's guests, running or not, in bytes.
      type: int
    cores_free:
      description: RV(nodes[].maxcpu) minus RV(nodes[].cores_allocated); negative when vCPUs are overcommitted.
      type: int
    memory_free:
      description: RV(nodes[].maxmem) minus RV(nodes[].memory_allocated), in bytes.
      type: int
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.nodes import node_info


def main() -> None:
    run_module(
        logic=lambda ctx: node_info(ctx.client(PROXMOX).resources(), ctx.params["node"]),
        layers=[PROXMOX],
        argument_spec=dict(node=dict(type="str")),
    )


if __name__ == "__main__":
    main()
