# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The K8S layer of a module: a K3s cluster's Kubernetes API through its kubeconfig (doc fragment ironcloud.stack.k3s).

Answers are the API's JSON as plain dicts (no generated model classes), so the logic reads the same fields the
Kubernetes documentation names and is tested against plain dicts.
"""

from __future__ import annotations

import json
import traceback
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError
from ansible_collections.ironcloud.stack.plugins.module_utils._module import Layer, Requirement

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR: str | None = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

MERGE_PATCH = "application/merge-patch+json"


class K3sError(IroncloudError):
    """The cluster refused or did not answer (details: status, reason, node, ...)."""


def k8s_argument_spec() -> dict[str, dict[str, Any]]:
    """kubeconfig, context, validate_certs, request_timeout (doc fragment ironcloud.stack.k3s)."""
    return {
        "kubeconfig": {"type": "path", "required": True},
        "context": {"type": "str"},
        "validate_certs": {"type": "bool", "default": True},
        "request_timeout": {"type": "int", "default": 10},
    }


class Kube:
    """The Kubernetes API of one cluster as its kubeconfig reaches it (or, with host, through one given server)."""

    def __init__(
        self,
        kubeconfig: str,
        context: str | None = None,
        validate_certs: bool = True,
        request_timeout: int = 10,
        host: str | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.validate_certs = validate_certs
        self.request_timeout = request_timeout
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
            )
        except (k8s_config.ConfigException, OSError, ValueError) as e:
            raise K3sError("kubeconfig: cannot load %s: %s" % (kubeconfig, e), kubeconfig=kubeconfig) from e
        configuration.verify_ssl = validate_certs
        configuration.retries = 0
        if host:
            configuration.host = host
        self.host: str = configuration.host
        self.api = k8s_client.ApiClient(configuration)

    def server(self, address: str) -> Kube:
        """The same credentials against one server: address is a host or host:port (the kubeconfig's port)."""
        url = urllib.parse.urlsplit(self.host)
        if ":" in address and not address.startswith("["):
            host = "https://%s" % address
        else:
            host = "https://%s:%d" % (address, url.port or 443)
        return Kube(self.kubeconfig, self.context, self.validate_certs, self.request_timeout, host=host)

    def close(self) -> None:
        self.api.close()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One API call; the decoded JSON answer. An HTTP error raises K3sError with status and the API's reason."""
        try:
            _method, url, headers, data, post = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(
                method, url, header_params=headers, body=data, post_params=post, _request_timeout=self.request_timeout
            )
            raw = response.read()
            status = int(response.status)
        except ApiException as e:
            raw, status = (e.body or "").encode() if isinstance(e.body, str) else (e.body or b""), int(e.status or 0)
        except urllib3.exceptions.HTTPError as e:
            raise K3sError(
                "%s %s: %s does not answer: %s" % (method, path, self.host, e), status=None, host=self.host
            ) from e
        if status >= 400:
            reason, message = "", raw.decode(errors="replace").strip()
            try:
                status_obj = json.loads(raw or b"{}")
                reason, message = status_obj.get("reason") or reason, status_obj.get("message") or message
            except ValueError:
                pass
            raise K3sError(
                "%s %s on %s: %s %s" % (method, path, self.host, status, message),
                status=status,
                reason=reason,
                host=self.host,
            )
        if not raw:
            return None
        if path in ("/readyz", "/livez", "/healthz"):
            return raw.decode(errors="replace")
        return json.loads(raw)

    # -- what the modules use
    def readyz(self) -> str:
        result: str = self.request("GET", "/readyz")
        return result

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/version")
        return result

    def list_nodes(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.request("GET", "/api/v1/nodes")["items"]
        return items

    def get_node(self, name: str) -> dict[str, Any] | None:
        try:
            node: dict[str, Any] = self.request("GET", "/api/v1/nodes/" + urllib.parse.quote(name))
        except K3sError as e:
            if e.details.get("status") == 404:
                return None
            raise
        return node

    def patch_node(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        node: dict[str, Any] = self.request(
            "PATCH", "/api/v1/nodes/" + urllib.parse.quote(name), body=dict(patch), content_type=MERGE_PATCH
        )
        return node

    def delete_node(self, name: str) -> None:
        self.request("DELETE", "/api/v1/nodes/" + urllib.parse.quote(name))

    def pods_on(self, node: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.request(
            "GET", "/api/v1/pods", query={"fieldSelector": "spec.nodeName=" + node}
        )["items"]
        return items

    def evict(self, namespace: str, name: str) -> bool:
        """Evict a pod; False when a PodDisruptionBudget refuses it now (429), True when evicted or already gone."""
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        path = "/api/v1/namespaces/%s/pods/%s/eviction" % (urllib.parse.quote(namespace), urllib.parse.quote(name))
        try:
            self.request("POST", path, body=body)
        except K3sError as e:
            if e.details.get("status") == 429:
                return False
            if e.details.get("status") == 404:
                return True
            raise
        return True


def connect(module: Any) -> Kube:
    p = module.params
    return Kube(p["kubeconfig"], p.get("context"), p["validate_certs"], p["request_timeout"])


K8S: Layer[Kube] = Layer(
    name="k8s",
    argument_spec=k8s_argument_spec,
    connect=connect,
    requirements=(Requirement("kubernetes", HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR),),
)
