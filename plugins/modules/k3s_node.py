#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_node
short_description: A K3s node's labels and taints, cordon, drain, uncordon and removal, through the Kubernetes API
version_added: 0.1.0
description:
  - Applies labels and taints through the API. K3s's C(node-label) and C(node-taint) settings apply only when a node
    registers, so a changed setting never reaches an existing node; this module does.
  - O(state=cordoned) marks the node unschedulable; O(state=drained) also evicts its pods (not DaemonSet or mirror
    pods) through the eviction API, so PodDisruptionBudgets are honoured. An eviction a budget refuses (HTTP 429) is
    retried until O(timeout); the node stays cordoned if the drain fails. O(state=uncordoned) makes it schedulable.
  - O(state=absent) deletes the node (K3s removes a deleted server's etcd member). It refuses to delete an etcd voter
    when the voters left would have fewer healthy members than their quorum. Drain the node first.
  - With O(wait=true) it waits until the node exists and is C(Ready) and, for a server, a voting etcd member
    (C(EtcdIsVoter)); a restarted or joining server comes back as a learner first.
extends_documentation_fragment:
  - ironcloud.stack.k3s
  - ironcloud.stack.attributes
attributes:
  check_mode:
    support: full
    details: Computes the changes and the pods a drain would evict; does not wait.
  diff_mode:
    support: full
  idempotent:
    support: full
  action_group:
    description: Use C(group/ironcloud.stack.k3s) in C(module_defaults) to set the kubeconfig once.
    support: full
    membership:
      - ironcloud.stack.k3s
options:
  name:
    description: The node's name in the cluster (K3s's C(node-name), by default the host name).
    type: str
    required: true
  state:
    description: What the node should be.
    type: str
    choices: [present, cordoned, drained, uncordoned, absent]
    default: present
  labels:
    description:
      - Labels to set; a null value removes the label. Labels not named are left alone.
    type: dict
  taints:
    description:
      - Taints to have. A taint with the same key and effect is replaced. Taints under C(node.kubernetes.io/)
        belong to Kubernetes and are refused here.
    type: list
    elements: dict
    suboptions:
      key:
        description: The taint's key.
        type: str
        required: true
      value:
        description: The taint's value.
        type: str
      effect:
        description: What the taint does to pods that do not tolerate it.
        type: str
        required: true
        choices: [NoSchedule, PreferNoSchedule, NoExecute]
  purge_taints:
    description: Remove the node's other taints (never the C(node.kubernetes.io/) ones), so it has exactly O(taints).
    type: bool
    default: false
  wait:
    description: Wait for the node to exist and be Ready (and, for a server, an etcd voter), up to O(timeout).
    type: bool
    default: false
  timeout:
    description: Seconds a drain and a wait may take.
    type: int
    default: 300
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Wait for a server that was just started to be Ready and an etcd voter
  ironcloud.stack.k3s_node:
    kubeconfig: /srv/cloud/credentials/acme-web.kubeconfig
    name: acme-web-server-2
    wait: true

- name: Labels and a taint, through the API
  ironcloud.stack.k3s_node:
    kubeconfig: /srv/cloud/credentials/acme-web.kubeconfig
    name: acme-web-agent-1
    labels:
      tier: web
      obsolete: null
    taints:
      - {key: dedicated, value: web, effect: NoSchedule}

- name: Drain before an upgrade (PodDisruptionBudgets honoured)
  ironcloud.stack.k3s_node:
    kubeconfig: /srv/cloud/credentials/acme-web.kubeconfig
    name: acme-web-agent-1
    state: drained
    timeout: 600

- name: Back in service
  ironcloud.stack.k3s_node:
    kubeconfig: /srv/cloud/credentials/acme-web.kubeconfig
    name: acme-web-agent-1
    state: uncordoned
    wait: true
"""

RETURN = r"""
node:
  description: The node after the run (in check mode, as it would be); null once deleted. Same keys as a node of
    M(ironcloud.stack.k3s_cluster_info) (C(name), C(ready), C(roles), C(version), C(labels), C(taints),
    C(unschedulable), C(etcd_voter)).
  returned: always
  type: dict
evicted:
  description: The pods (C(namespace/name)) the drain evicted (in check mode, would evict).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._k3s.client import K8S
from ansible_collections.ironcloud.stack.plugins.module_utils._k3s.nodes import STATES, ensure_node
from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_node(ctx.client(K8S), ctx.params, ctx.check_mode),
        layers=[K8S],
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=list(STATES), default="present"),
            labels=dict(type="dict"),
            taints=dict(
                type="list",
                elements="dict",
                options=dict(
                    key=dict(type="str", required=True, no_log=False),
                    value=dict(type="str"),
                    effect=dict(type="str", required=True, choices=["NoSchedule", "PreferNoSchedule", "NoExecute"]),
                ),
            ),
            purge_taints=dict(type="bool", default=False),
            wait=dict(type="bool", default=False),
            timeout=dict(type="int", default=300),
        ),
    )


if __name__ == "__main__":
    main()
