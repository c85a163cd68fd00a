#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_client
short_description: Ceph client keys (cephx entities) and their caps
version_added: 0.1.0
description:
  - Creates a cephx key with caps, converges the caps of an existing key (the key itself stays), or removes it.
  - The key is returned only when it is created (or with O(return_key=true)); set C(no_log=true) on the task
    that registers it, since Ansible shows returned values.
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - ironcloud.stack.attributes
  - ironcloud.stack.ceph
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.ceph.action_group
options:
  name:
    description: The entity, C(<type>.<id>), for example V(client.acme).
    type: str
    required: true
  caps:
    description:
      - The caps by daemon type (V(mon), V(osd), V(mgr), V(mds)); each a comma-separated list of grants that start
        with C(allow) or C(profile), for example C(profile rbd pool=acme).
      - These are all the key's caps; a daemon type left out has none. Spacing is normalised before comparing.
    type: dict
    default: {}
  state:
    description: Whether the key exists.
    type: str
    choices: [present, absent]
    default: present
  return_key:
    description:
      - Return the key of an existing entity too (it is always returned when created). The key is a secret.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: A tenant key that may use RBD in its own pool only
  ironcloud.stack.ceph_client:
    name: client.acme
    caps:
      mon: profile rbd
      osd: profile rbd pool=ic-acme
      mgr: profile rbd pool=ic-acme
  register: acme_key
  no_log: true

- name: Remove it
  ironcloud.stack.ceph_client:
    name: client.acme
    state: absent
"""

RETURN = r"""
client:
  description: The entity and its caps after the run (empty when absent). Never the key.
  returned: always
  type: dict
  contains:
    name: {description: The entity., type: str, returned: success, sample: client.acme}
    caps:
      description: The caps, normalised.
      type: dict
      returned: success
      sample: {mon: profile rbd, osd: profile rbd pool=ic-acme}
key:
  description: The secret key (base64), only when the entity was created or O(return_key=true).
  returned: when created, or with O(return_key=true)
  type: str
msg:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.client import CEPH
from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.clients import CephClients
from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module


def main() -> None:
    run_module(
        logic=lambda ctx: CephClients(ctx.client(CEPH)).ensure(ctx.params, ctx.check_mode),
        layers=[CEPH],
        argument_spec=dict(
            name={"type": "str", "required": True},
            caps={"type": "dict", "default": {}},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            return_key={"type": "bool", "default": False, "no_log": False},
        ),
    )


if __name__ == "__main__":
    main()
