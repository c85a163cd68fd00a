#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_cluster_info
short_description: Which servers of a K3s cluster answer, its nodes and its etcd members
version_added: 0.1.0
description:
  - Probes each address in O(servers), and the server of the kubeconfig, on C(/readyz) with its credentials;
    K3s answers it only while its embedded etcd has quorum.
  - Reads the nodes through the kubeconfig's server, or through the first of O(servers) that answers, and derives the
    etcd members from them (servers carry the C(node-role.kubernetes.io/etcd) label and the C(EtcdIsVoter)
    condition).
  - Never fails because the cluster is down. O(servers) that do not answer are reported, and C(api_available) is
    false when none does. This is what a play needs to decide between joining a cluster and initialising one.
extends_documentation_fragment:
  - ironcloud.stack.k3s
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.info_module
attributes:
  action_group:
    description: Use C(group/ironcloud.stack.k3s) in C(module_defaults) to set the kubeconfig once.
    support: full
    membership:
      - ironcloud.stack.k3s
options:
  servers:
    description:
      - Addresses (host or host:port; the port defaults to the kubeconfig's) of the servers to probe, such as every
        server VM of the cluster. The server certificates must name them (K3s's C(tls-san)) unless
        O(validate_certs=false).
    type: list
    elements: str
    default: []
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Is there a cluster to join?
  ironcloud.stack.k3s_cluster_info:
    kubeconfig: "{{ cloud_credentials_dir }}/acme-web.kubeconfig"
    servers: "{{ groups['acme_web_k3s_server'] | map('extract', hostvars, 'ansible_host') | list }}"
  register: k3s

- name: Refuse an upgrade without quorum + 1 healthy servers
  ansible.builtin.assert:
    that: k3s.healthy_voters >= k3s.quorum + 1
"""

RETURN = r"""
api_available:
  description: Whether the nodes could be read (some server answered with etcd quorum).
  returned: always
  type: bool
servers:
  description: Each probed address with C(address), C(answers) (C(/readyz) returned 200), C(status) (the HTTP status,
    null when nothing answered) and C(error).
  returned: always
  type: list
  elements: dict
nodes:
  description: Every node, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The node name.
      type: str
    ready:
      description: Its C(Ready) condition is C(True).
      type: bool
    roles:
      description: The C(node-role.kubernetes.io/<role>) labels, for example C(control-plane), C(etcd), C(master).
      type: list
      elements: str
    version:
      description: The kubelet version, such as C(v1.31.5+k3s1).
      type: str
    taints:
      description: Its taints (C(key), C(effect), C(value) when set).
      type: list
      elements: dict
    unschedulable:
      description: Cordoned.
      type: bool
    labels:
      description: All its labels.
      type: dict
    etcd_voter:
      description: For a server, whether it is a voting etcd member (C(EtcdIsVoter)); null for an agent.
      type: bool
etcd_members:
  description: The servers, each with C(name), C(voter) and C(healthy) (a voter whose node is Ready).
  returned: always
  type: list
  elements: dict
voters:
  description: How many etcd members vote.
  returned: always
  type: int
healthy_voters:
  description: How many voters are healthy.
  returned: always
  type: int
quorum:
  description: The voters etcd needs (voters // 2 + 1); 0 when there are none.
  returned: always
  type: int
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._k3s.client import K8S
from ansible_collections.ironcloud.stack.plugins.module_utils._k3s.nodes import cluster_info
from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module


def main() -> None:
    run_module(
        logic=lambda ctx: cluster_info(ctx.client(K8S), ctx.params["servers"], ctx.client(K8S).server),
        layers=[K8S],
        argument_spec=dict(servers=dict(type="list", elements="str", default=[])),
    )


if __name__ == "__main__":
    main()
