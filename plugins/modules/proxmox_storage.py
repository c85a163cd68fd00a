#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxmox_storage
short_description: RBD (Ceph) storage entries of a Proxmox VE cluster
version_added: 0.1.0
description:
  - Creates, converges or removes an RBD storage entry of the cluster (C(/etc/pve/storage.cfg)) that points Proxmox
    at a Ceph pool (the pool, the monitors, the cephx user and its keyring, the content types).
  - Options left unset are not managed. PVE never returns the keyring, so O(keyring) is sent when the entry is
    created and afterwards only with O(update_keyring=true).
  - Removing the entry leaves the pool and its images in Ceph.
extends_documentation_fragment:
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
  - ironcloud.stack.proxmox.action_group
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
    details: Not with O(update_keyring=true), which sends the keyring (and reports a change) every run.
options:
  name:
    description: The storage id, for example V(ic-vms).
    type: str
    required: true
    aliases: [storage]
  state:
    description: Whether the storage entry exists.
    type: str
    choices: [present, absent]
    default: present
  pool:
    description: The Ceph pool. Required to create the entry.
    type: str
  monitors:
    description:
      - The Ceph monitors, as host or IP with an optional port (V(10.0.0.1:6789)). Required to create the entry.
    type: list
    elements: str
  user:
    description:
      - The cephx user Proxmox connects as, with or without its V(client.) prefix (PVE stores it without).
    type: str
  keyring:
    description:
      - The user's key, either the bare key (as M(ironcloud.stack.ceph_client) returns it) or a whole keyring file's
        text.
    type: str
  update_keyring:
    description:
      - Send O(keyring) to an existing entry too (it cannot be compared, so the run reports a change).
    type: bool
    default: false
  namespace:
    description: The RADOS namespace inside O(pool) for the images.
    type: str
  content:
    description: What the storage holds; PVE's default for RBD when creating is V(images).
    type: list
    elements: str
    choices: [images, rootdir]
  krbd:
    description: Map images through the kernel RBD driver instead of librbd.
    type: bool
  nodes:
    description: Only these nodes use the storage (all nodes when not set at creation).
    type: list
    elements: str
  disable:
    description: Disable the storage.
    type: bool
author:
  - ironcloud.stack maintainers (@ironcloud)
seealso:
  - module: ironcloud.stack.ceph_pool
  - module: ironcloud.stack.ceph_client
"""

EXAMPLES = r"""
- name: A tenant key limited to its pool
  ironcloud.stack.ceph_client:
    name: client.acme
    caps:
      mon: profile rbd
      osd: profile rbd pool=ic-acme
  delegate_to: ceph-admin
  register: acme_key
  no_log: true

- name: The tenant's pool as a Proxmox storage
  ironcloud.stack.proxmox_storage:
    api_host: pve1.example.com
    api_token_id: root@pam!ironcloud
    api_token_secret: "{{ vault_pve_token }}"
    name: ic-acme
    pool: ic-acme
    monitors: [10.0.0.1, 10.0.0.2, 10.0.0.3]
    user: client.acme
    keyring: "{{ acme_key.key | default(omit) }}"
    content: [images]
  no_log: true

- name: Remove it (the Ceph pool stays)
  ironcloud.stack.proxmox_storage:
    name: ic-acme
    state: absent
"""

RETURN = r"""
storage:
  description: The storage entry after the run (in check mode, as it would be); empty when absent. Never the keyring.
  returned: always
  type: dict
  contains:
    storage: {description: The storage id., type: str, returned: success, sample: ic-acme}
    type: {description: The storage type., type: str, returned: success, sample: rbd}
    pool: {description: The Ceph pool., type: str, returned: success, sample: ic-acme}
    monhost: {description: The monitors in sorted order., type: list, elements: str, returned: success}
    username: {description: The cephx user (without client.)., type: str, returned: success, sample: acme}
    namespace: {description: The RADOS namespace., type: str, returned: when set}
    content: {description: Content types., type: list, elements: str, returned: success, sample: [images]}
    krbd: {description: Kernel RBD., type: bool, returned: success}
    nodes: {description: The nodes using it (empty for all)., type: list, elements: str, returned: success}
    disable: {description: Disabled., type: bool, returned: success}
msg:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.storage import StorageManager


def main() -> None:
    run_module(
        logic=lambda ctx: StorageManager(ctx.client(PROXMOX)).ensure(ctx.params, ctx.check_mode),
        layers=[PROXMOX],
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["storage"]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            pool=dict(type="str"),
            monitors=dict(type="list", elements="str"),
            user=dict(type="str"),
            keyring=dict(type="str", no_log=True),
            update_keyring=dict(type="bool", default=False, no_log=False),
            namespace=dict(type="str"),
            content=dict(type="list", elements="str", choices=["images", "rootdir"]),
            krbd=dict(type="bool"),
            nodes=dict(type="list", elements="str"),
            disable=dict(type="bool"),
        ),
    )


if __name__ == "__main__":
    main()
