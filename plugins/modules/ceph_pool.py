#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_pool
short_description: Create, converge and delete Ceph pools
version_added: 0.1.0
description:
  - Creates a replicated or erasure-coded Ceph pool, or converges every setting of an existing pool in one run
    (O(size), O(min_size), O(pg_num) or O(pg_autoscale_mode), O(crush_rule), O(application) and the quota).
  - Settings left unset are not managed. Enabling the C(rbd) application on a replicated pool also initialises it
    for RBD (C(rbd pool init)).
  - Deleting a pool needs O(state=absent) and O(confirm_delete=true), and the cluster must allow pool deletion
    (C(mon_allow_pool_delete)).
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - ironcloud.stack.attributes
  - ironcloud.stack.ceph
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.ceph.action_group
options:
  name:
    description: The pool's name.
    type: str
    required: true
  state:
    description: Whether the pool exists.
    type: str
    choices: [present, absent]
    default: present
  confirm_delete:
    description:
      - Must be V(true) with O(state=absent), since deleting a pool destroys all its data.
    type: bool
    default: false
  pool_type:
    description:
      - The kind of pool. It is chosen at creation; asking for another type for an existing pool is an error.
    type: str
    choices: [replicated, erasure]
    default: replicated
  erasure_profile:
    description:
      - The erasure code profile of an O(pool_type=erasure) pool (it must exist); Ceph's C(default) when not set.
    type: str
  pg_num:
    description:
      - The number of placement groups (at least 1). Compared with the pool's target (C(pg_num_target)), since Ceph
        moves the actual number towards it gradually.
      - With O(pg_autoscale_mode=on) (wanted or current) the autoscaler owns the number, and O(pg_num) is only used
        when the pool is created.
    type: int
  pg_autoscale_mode:
    description: The placement group autoscaler mode of the pool.
    type: str
    choices: ['on', 'off', warn]
  size:
    description:
      - The number of replicas of a replicated pool, at most the number of OSDs up and in.
      - Ceph resets C(min_size) when the size changes; set O(min_size) too to keep it.
    type: int
  min_size:
    description: The number of replicas that must be up for I/O; at most O(size).
    type: int
  crush_rule:
    description: The name of the CRUSH rule that places the pool's data (it must exist).
    type: str
  application:
    description:
      - The application of the pool, for example V(rbd), V(rgw) or V(cephfs). Other applications enabled on the
        pool are disabled.
    type: str
  quota_max_bytes:
    description:
      - The pool's quota in bytes, or a size with a unit (V(10G), V(512MiB), V(1TB)); V(0) removes the quota.
      - Ceph enforces quotas through the mgr's statistics, a few seconds after the limit is crossed; writes to a
        full pool block until the quota is raised (or fail with EDQUOT for clients that ask for it).
    type: str
  quota_max_objects:
    description: The pool's quota in objects; V(0) removes it.
    type: int
seealso:
  - module: ironcloud.stack.ceph_pool_info
  - module: ironcloud.stack.ceph_rbd_image
"""

EXAMPLES = r"""
- name: A pool for VM disks, three replicas, with a 2 TiB quota
  ironcloud.stack.ceph_pool:
    name: ic-vms
    size: 3
    min_size: 2
    pg_autoscale_mode: "on"
    application: rbd
    quota_max_bytes: 2TiB
    conf: /etc/ceph/ceph.conf

- name: Change size, min_size, pg_num and the quota of an existing pool in one run
  ironcloud.stack.ceph_pool:
    name: ic-vms
    size: 2
    min_size: 1
    pg_autoscale_mode: "off"
    pg_num: 64
    quota_max_bytes: 0
    quota_max_objects: 100000

- name: An erasure-coded pool for object storage
  ironcloud.stack.ceph_pool:
    name: ic-objects
    pool_type: erasure
    erasure_profile: k4m2
    application: rgw

- name: Delete a pool and all its data
  ironcloud.stack.ceph_pool:
    name: ic-old
    state: absent
    confirm_delete: true
"""

RETURN = r"""
pool:
  description: The pool after the run (in check mode, as it would be); empty when absent.
  returned: always
  type: dict
  contains:
    name: {description: The pool's name., type: str, returned: always, sample: ic-vms}
    id: {description: The pool's id., type: int, returned: when the pool exists, sample: 3}
    type: {description: replicated or erasure., type: str, returned: always, sample: replicated}
    erasure_profile: {description: The erasure code profile (erasure-coded pools)., type: str, returned: success}
    size: {description: Replicas., type: int, returned: success, sample: 3}
    min_size: {description: Replicas needed for I/O., type: int, returned: success, sample: 2}
    pg_num: {description: The placement group target (pg_num_target)., type: int, returned: success, sample: 32}
    pg_num_actual: {description: The current number of placement groups., type: int, returned: success}
    pg_autoscale_mode: {description: The autoscaler mode., type: str, returned: success, sample: 'on'}
    crush_rule: {description: The CRUSH rule's name., type: str, returned: success, sample: replicated_rule}
    application: {description: The enabled applications joined with commas., type: str, returned: success}
    applications: {description: The enabled applications., type: list, elements: str, returned: success}
    quota_max_bytes: {description: The byte quota (0 none)., type: int, returned: success, sample: 2199023255552}
    quota_max_objects: {description: The object quota (0 none)., type: int, returned: success, sample: 0}
    flags: {description: The pool's flags (C(full) when over quota)., type: list, elements: str, returned: success}
msg:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
  sample: "pool ic-vms updated: size, quota_max_bytes"
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.client import CEPH, RBD
from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.pools import CephPools
from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module


def main() -> None:
    run_module(
        logic=lambda ctx: CephPools(ctx.client(CEPH)).ensure(ctx.params, ctx.check_mode),
        layers=[CEPH],
        requirements=[RBD],
        argument_spec=dict(
            name={"type": "str", "required": True},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            confirm_delete={"type": "bool", "default": False},
            pool_type={"type": "str", "choices": ["replicated", "erasure"], "default": "replicated"},
            erasure_profile={"type": "str"},
            pg_num={"type": "int"},
            pg_autoscale_mode={"type": "str", "choices": ["on", "off", "warn"]},
            size={"type": "int"},
            min_size={"type": "int"},
            crush_rule={"type": "str"},
            application={"type": "str"},
            quota_max_bytes={"type": "str"},
            quota_max_objects={"type": "int"},
        ),
    )


if __name__ == "__main__":
    main()
