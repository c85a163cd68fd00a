#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ceph_pool_info
short_description: Ceph pools with their settings, quota and usage
version_added: 0.1.0
description:
  - Returns the pools of a Ceph cluster (or the named ones) with the settings M(ironcloud.stack.ceph_pool) manages,
    the quota and the usage.
  - Asking for a pool that does not exist is an error.
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.info_module
  - ironcloud.stack.ceph
  - ironcloud.stack.ceph.action_group
options:
  name:
    description: Only these pools (all pools when not set).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: All pools with usage and quota
  ironcloud.stack.ceph_pool_info:
    conf: /etc/ceph/ceph.conf
  register: ceph_pools

- name: One pool
  ironcloud.stack.ceph_pool_info:
    name: ic-vms
  register: vms_pool

- name: Show how full the quota is
  ansible.builtin.debug:
    msg: "{{ vms_pool.pools[0].usage.stored_bytes }} of {{ vms_pool.pools[0].quota_max_bytes }} bytes"
"""

RETURN = r"""
pools:
  description: The pools, sorted by name (in the order asked for when O(name) is set).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The pool's name., type: str, returned: always, sample: ic-vms}
    id: {description: The pool's id., type: int, returned: always}
    type: {description: replicated or erasure., type: str, returned: always}
    erasure_profile: {description: The erasure code profile (erasure-coded pools)., type: str, returned: always}
    size: {description: Replicas., type: int, returned: always}
    min_size: {description: Replicas needed for I/O., type: int, returned: always}
    pg_num: {description: The placement group target (pg_num_target)., type: int, returned: always}
    pg_num_actual: {description: The current number of placement groups., type: int, returned: always}
    pg_autoscale_mode: {description: The autoscaler mode., type: str, returned: always}
    crush_rule: {description: The CRUSH rule's name., type: str, returned: always}
    application: {description: The enabled applications joined with commas., type: str, returned: always}
    applications: {description: The enabled applications., type: list, elements: str, returned: always}
    quota_max_bytes: {description: The byte quota (0 none)., type: int, returned: always}
    quota_max_objects: {description: The object quota (0 none)., type: int, returned: always}
    flags: {description: The pool's flags (C(full) when over quota)., type: list, elements: str, returned: always}
    usage:
      description:
        - Usage from the cluster's statistics (kept by the mgr; a pool created a moment ago may not have them yet,
          then RV(pools[].usage.stats_available) is false and the numbers are 0).
      type: dict
      returned: always
      contains:
        stored_bytes: {description: Bytes stored (before replication)., type: int, returned: always}
        objects: {description: Objects stored., type: int, returned: always}
        used_bytes: {description: Raw bytes used (after replication)., type: int, returned: always}
        percent_used: {description: Percent of the available capacity used., type: float, returned: always}
        max_avail_bytes: {description: Bytes that can still be stored., type: int, returned: always}
        quota_bytes_used_percent:
          description: Percent of the byte quota used (null without a byte quota).
          type: float
          returned: always
        quota_objects_used_percent:
          description: Percent of the object quota used (null without an object quota).
          type: float
          returned: always
        stats_available: {description: Whether the cluster had statistics for the pool., type: bool, returned: always}
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.client import CEPH
from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.pools import CephPools
from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module


def main() -> None:
    run_module(
        logic=lambda ctx: CephPools(ctx.client(CEPH)).info(ctx.params["name"]),
        layers=[CEPH],
        argument_spec=dict(
            name={"type": "list", "elements": "str"},
        ),
    )


if __name__ == "__main__":
    main()
