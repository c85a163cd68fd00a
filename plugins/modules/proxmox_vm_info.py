#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxmox_vm_info
short_description: The VMs of a Proxmox VE cluster by name, VMID, node, tags or tenant, with config and status
version_added: 0.1.0
description:
  - Reads the cluster's VMs with one C(GET /cluster/resources) request and keeps those matching every filter given.
  - With O(config=true) (the default) it reads the config of each matching VM, one request per VM; with
    O(config=false) the whole answer costs one request.
extends_documentation_fragment:
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.info_module
  - ironcloud.stack.proxmox.action_group
options:
  name:
    description: Only the VMs of this name.
    type: str
  vmid:
    description: Only the VM of this id.
    type: int
  node:
    description: Only the VMs on this node.
    type: str
  tags:
    description: Only the VMs carrying all of these tags.
    type: list
    elements: str
  tenant:
    description: Only the VMs of this tenant (tag V(ic-tenant-<tenant>)).
    type: str
  templates:
    description: Include templates.
    type: bool
    default: false
  config:
    description: Read each matching VM's config (one request per VM).
    type: bool
    default: true
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: The VMs of tenant acme
  ironcloud.stack.proxmox_vm_info:
    api_host: pve1.example.com
    api_token_id: ansible@pve!cloud
    api_token_secret: "{{ vault_proxmox_token_secret }}"
    tenant: acme
  register: acme

- name: Running VMs of project web on pve2, without their config (one request)
  ironcloud.stack.proxmox_vm_info:
    node: pve2
    tags: [ic-project-web]
    config: false
  register: web
"""

RETURN = r"""
vms:
  description: The matching VMs, sorted by VMID.
  returned: always
  type: list
  elements: dict
  contains:
    vmid:
      description: The VM's id.
      type: int
    node:
      description: The node of the VM.
      type: str
    name:
      description: The VM's name.
      type: str
    status:
      description: V(running), V(stopped) or V(unknown).
      type: str
    tags:
      description: The VM's tags, sorted.
      type: list
      elements: str
    pool:
      description: The VM's pool, if any.
      type: str
    template:
      description: Whether it is a template.
      type: bool
    lock:
      description: The VM's lock (V(migrate), V(clone) ...), if any.
      type: str
    maxcpu:
      description: vCPUs.
      type: int
    maxmem:
      description: Memory in bytes.
      type: int
    maxdisk:
      description: Size of the first disk in bytes.
      type: int
    config:
      description:
        - The VM's config (ssh keys decoded, the password masked).
        - V(null) with O(config=false), and for a VM whose node is offline (status V(unknown)).
      type: dict
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.vm_info import read_vms


def main() -> None:
    run_module(
        logic=lambda ctx: read_vms(ctx.client(PROXMOX), ctx.params),
        layers=[PROXMOX],
        argument_spec=dict(
            name=dict(type="str"),
            vmid=dict(type="int"),
            node=dict(type="str"),
            tags=dict(type="list", elements="str"),
            tenant=dict(type="str"),
            templates=dict(type="bool", default=False),
            config=dict(type="bool", default=True),
        ),
    )


if __name__ == "__main__":
    main()
