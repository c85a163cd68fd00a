# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The Kubernetes API options of every K3s module (argument spec: _k3s.client.k8s_argument_spec).
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path of the cluster's kubeconfig on the host running the module, such as the one the collection writes per
        cluster on the controller. Its server, CA and credentials (client certificate or token) are used.
    type: path
    required: true
  context:
    description:
      - The kubeconfig context to use; its current context when not set.
    type: str
  validate_certs:
    description:
      - Verify the API server's certificate against the kubeconfig's CA (and its name or address).
    type: bool
    default: true
  request_timeout:
    description:
      - Seconds one API request may take. Without etcd quorum a K3s API answers 503 after its own timeout.
    type: int
    default: 10
requirements:
  - the C(kubernetes) Python client on the host running the module (usually the controller)
"""
