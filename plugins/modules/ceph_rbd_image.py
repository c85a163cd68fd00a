#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_rbd_image
short_description: RBD images in a Ceph pool
version_added: 0.1.0
description:
  - Creates an RBD image, grows it (shrinks it only with O(allow_shrink=true)), converges its changeable features,
    or removes it.
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - ironcloud.stack.attributes
  - ironcloud.stack.ceph
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.ceph.action_group
options:
  pool:
    description: The pool holding the image.
    type: str
    required: true
  namespace:
    description: The RADOS namespace of the image inside O(pool) (it must exist).
    type: str
  name:
    description: The image's name.
    type: str
    required: true
  size:
    description:
      - The size in bytes or with a unit (V(10G), V(512MiB)). Required to create the image.
    type: str
  allow_shrink:
    description: Allow making the image smaller than it is, which destroys the data beyond the new end.
    type: bool
    default: false
  features:
    description:
      - The image's features, exactly (librbd's defaults when not set at creation).
      - V(exclusive-lock), V(object-map), V(fast-diff) and V(journaling) can be changed later, V(deep-flatten) only
        removed; V(layering) is chosen at creation.
      - V(object-map) brings V(fast-diff) with it (librbd enables the two together).
    type: list
    elements: str
  state:
    description: Whether the image exists.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: A 10 GiB image
  ironcloud.stack.ceph_rbd_image:
    pool: ic-vms
    name: base-debian12
    size: 10G
    features: [layering, exclusive-lock, object-map, fast-diff]

- name: Grow it
  ironcloud.stack.ceph_rbd_image:
    pool: ic-vms
    name: base-debian12
    size: 20G

- name: Remove it
  ironcloud.stack.ceph_rbd_image:
    pool: ic-vms
    name: base-debian12
    state: absent
"""

RETURN = r"""
image:
  description: The image after the run (in check mode, as it would be); empty when absent.
  returned: always
  type: dict
  contains:
    pool: {description: The pool., type: str, returned: success, sample: ic-vms}
    namespace: {description: The namespace (empty for the default)., type: str, returned: success}
    name: {description: The image's name., type: str, returned: success}
    size: {description: Size in bytes., type: int, returned: success, sample: 10737418240}
    features: {description: Features., type: list, elements: str, returned: success, sample: [layering]}
    id: {description: The image's id., type: str, returned: when it exists}
    block_name_prefix: {description: The prefix of its data objects., type: str, returned: when it exists}
msg:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.client import CEPH, RBD
from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.images import RbdImages
from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module


def main() -> None:
    run_module(
        logic=lambda ctx: RbdImages(ctx.client(CEPH)).ensure(ctx.params, ctx.check_mode),
        layers=[CEPH],
        requirements=[RBD],
        argument_spec=dict(
            pool={"type": "str", "required": True},
            namespace={"type": "str"},
            name={"type": "str", "required": True},
            size={"type": "str"},
            allow_shrink={"type": "bool", "default": False},
            features={"type": "list", "elements": "str"},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        ),
    )


if __name__ == "__main__":
    main()
