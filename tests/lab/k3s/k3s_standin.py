# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""STAND-IN for K3s, for the ironcloud.stack lab only. This is NOT K3s and runs no containers.

The lab cannot install a K3s binary, so the lab guests get this program as /usr/local/bin/k3s. It behaves as K3s
does toward the collection's roles and modules (CLI, files, tokens, errors, the supervisor endpoints a join uses and
the Kubernetes API subset of nodes, pods, PodDisruptionBudgets and evictions), with Debian's real etcd as its
datastore: `server --cluster-init` starts a new etcd cluster, a joining server is added as a learner through the
running cluster and promoted to voter when it has caught up, and the API reads and writes through etcd, so it answers
503 exactly when etcd has no quorum.

It has no kubelet, no container runtime, no flannel, no scheduler beyond placing its own fake pods, no certificate
rotation and no `--cluster-reset`. tests/lab/README.md lists what it does and does not show.

Needs: python3 (3.11), python3-cryptography, python3-yaml, etcd-server and etcd-client (Debian 12 packages).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import ctypes
import datetime
import glob
import hashlib
import hmac
import http.server
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# The K3s version this stand-in claims to be. tests/lab/k3s/build.py writes a copy with another value, which is how
# the lab gets a "newer K3s" for upgrade tests.
VERSION = "v1.31.5+k3s1"
STANDIN = "standin"

DEFAULT_DATA_DIR = "/var/lib/rancher/k3s"
DEFAULT_CONFIG = "/etc/rancher/k3s/config.yaml"
DEFAULT_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
HEARTBEAT_SECONDS = 2.0
# A node whose k3s process has not renewed its lease for this long is not Ready (the node controller's grace).
NODE_TIMEOUT = float(os.environ.get("K3S_STANDIN_NODE_TIMEOUT", "10"))
ETCD_TIMEOUT = 2.5
WORKLOAD_NAMESPACE = "standin-workloads"
WORKLOAD_LABELS = {"app": "standin-workload"}
SYSTEM_TAINT_PREFIX = "node.kubernetes.io/"
ROLE_LABELS = (
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/etcd",
    "node-role.kubernetes.io/master",
)

ERR_TOKEN_MISMATCH = "bootstrap data already found and encrypted with different token"
ERR_NO_ENDPOINTS = "etcdclient: no available endpoints"
CONFLICT = (
    'Operation cannot be fulfilled on nodes "%s": the object has been modified; please apply your changes to the '
    "latest version and try again"
)


class Fatal(Exception):
    """A K3s-style fatal error: printed as `level=fatal msg=...` and exit status 1."""


def log(level: str, msg: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print('time="%s" level=%s msg="%s"' % (stamp, level, msg.replace('"', '\\"')), file=sys.stderr, flush=True)


def now_iso(t: float | None = None) -> str:
    return datetime.datetime.fromtimestamp(time.time() if t is None else t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------------ pure helpers


def version_text() -> str:
    return "k3s version %s (%s)\ngo version %s (python %s)" % (
        VERSION,
        STANDIN,
        STANDIN,
        ".".join(map(str, sys.version_info[:3])),
    )


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem).hexdigest()


def format_token(ca_pem: bytes, secret: str, user: str = "server") -> str:
    """K3s's secure token: K10<sha256 of the CA bundle>::<user>:<secret>."""
    return "K10%s::%s:%s" % (ca_hash(ca_pem), user, secret)


def parse_token(token: str) -> tuple[str | None, str | None, str]:
    """(ca hash or None, user or None, secret) of a secure (K10...) or short token."""
    token = token.strip()
    if token.startswith("K10") and "::" in token:
        hash_part, creds = token[3:].split("::", 1)
        if ":" in creds:
            user, secret = creds.split(":", 1)
            return hash_part, user, secret
        return hash_part, None, creds
    return None, None, token


def bootstrap_key(secret: str) -> str:
    """The etcd key of the bootstrap data, derived from the token secret (as K3s keys it by a hash of the token)."""
    return "/bootstrap/" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def parse_taint(text: str) -> dict[str, str]:
    """key[=value]:Effect, as --node-taint takes it."""
    if ":" not in text:
        raise Fatal("invalid taint %r: expected key[=value]:effect" % text)
    kv, effect = text.rsplit(":", 1)
    if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise Fatal("invalid taint effect %r in %r" % (effect, text))
    key, eq, value = kv.partition("=")
    taint = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


def parse_label(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise Fatal("invalid node label %r: expected key=value" % text)
    key, value = text.split("=", 1)
    return key, value


def parse_label_selector(selector: str) -> list[tuple[str, str, list[str]]]:
    """Requirements (key, op, values) of a Kubernetes label selector; op in =, !=, in, notin, exists, !exists."""
    reqs: list[tuple[str, str, list[str]]] = []
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    for raw in parts:
        part = raw.strip()
        if not part:
            continue
        words = part.split()
        if len(words) >= 3 and words[1] in ("in", "notin"):
            values = [v.strip() for v in part.split("(", 1)[1].rstrip(")").split(",") if v.strip()]
            reqs.append((words[0], words[1], values))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), "!=", [v.strip()]))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append((k.strip(), "=", [v.strip()]))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append((k.strip(), "=", [v.strip()]))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!exists", []))
        else:
            reqs.append((part, "exists", []))
    return reqs


def labels_match(selector: str, labels: Mapping[str, str]) -> bool:
    for key, op, values in parse_label_selector(selector):
        have = labels.get(key)
        if op == "=" and have != values[0]:
            return False
        if op == "!=" and have == values[0]:
            return False
        if op == "in" and have not in values:
            return False
        if op == "notin" and have in values:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!exists" and key in labels:
            return False
    return True


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector object (matchLabels, matchExpressions) against labels; an empty selector matches all."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def field_value(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, Mapping) else None
    return "" if cur is None else str(cur)


def fields_match(selector: str, obj: Mapping[str, Any]) -> bool:
    for raw in selector.split(","):
        part = raw.strip()
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            if field_value(obj, k.strip()) == v.strip():
                return False
        else:
            k, v = part.replace("==", "=").split("=", 1)
            if field_value(obj, k.strip()) != v.strip():
                return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Lists that strategic merge patch merges by a key instead of replacing (the subset of the Node and Pod schemas the
# stand-in serves): spec.taints by key, status.conditions by type.
STRATEGIC_MERGE_KEYS = {"taints": "key", "conditions": "type", "addresses": "type"}


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    """Kubernetes strategic merge patch for the fields the stand-in serves: maps merge, null deletes, the lists in
    STRATEGIC_MERGE_KEYS merge by their key (`$patch: delete` removes an item, `$patch: replace` replaces the list),
    other lists are replaced."""
    if isinstance(patch, list):
        key = STRATEGIC_MERGE_KEYS.get(field)
        if key is None:
            return copy.deepcopy(patch)
        if any(isinstance(p, Mapping) and p.get("$patch") == "replace" for p in patch):
            return [copy.deepcopy(p) for p in patch if not (isinstance(p, Mapping) and "$patch" in p)]
        result = [copy.deepcopy(t) for t in (target or [])]
        for item in patch:
            if not isinstance(item, Mapping):
                continue
            index = next((i for i, t in enumerate(result) if t.get(key) == item.get(key)), None)
            if item.get("$patch") == "delete":
                if index is not None:
                    result.pop(index)
            elif index is None:
                result.append(copy.deepcopy(dict(item)))
            else:
                result[index] = strategic_merge_patch(result[index], item)
        return result
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, Mapping) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
        else:
            result[k] = strategic_merge_patch(result.get(k), v, k)
    return result


class PatchError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(422, "Invalid", "json patch path %r must start with /" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target: Any, ops: list[Mapping[str, Any]]) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, test (enough for kubectl and the Python client)."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = _pointer(op.get("path", ""))
        if not parts:
            raise PatchError(422, "Invalid", "json patch on the whole object is not supported")
        parent: Any = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.get(p)
            if parent is None:
                raise PatchError(422, "Invalid", "json patch path %s does not exist" % op["path"])
        last = parts[-1]
        kind = op.get("op")
        if kind == "test":
            have = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if have != op.get("value"):
                raise PatchError(422, "Invalid", "json patch test failed at %s" % op["path"])
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if last == "-":
                    parent.append(copy.deepcopy(op.get("value")))
                elif kind == "add":
                    parent.insert(int(last), copy.deepcopy(op.get("value")))
                else:
                    parent[int(last)] = copy.deepcopy(op.get("value"))
            else:
                if kind == "replace" and last not in parent:
                    raise PatchError(422, "Invalid", "json patch replace of missing %s" % op["path"])
                parent[last] = copy.deepcopy(op.get("value"))
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            elif last in parent:
                del parent[last]
            else:
                raise PatchError(422, "Invalid", "json patch remove of missing %s" % op["path"])
        else:
            raise PatchError(422, "Invalid", "json patch op %r is not supported" % kind)
    return doc


def apply_patch(content_type: str, target: Mapping[str, Any], body: Any) -> Any:
    ctype = content_type.split(";")[0].strip()
    if ctype == "application/merge-patch+json":
        return merge_patch(target, body)
    if ctype == "application/strategic-merge-patch+json":
        return strategic_merge_patch(target, body)
    if ctype == "application/json-patch+json":
        if not isinstance(body, list):
            raise PatchError(400, "BadRequest", "json patch body must be a list")
        return json_patch(target, body)
    raise PatchError(415, "UnsupportedMediaType", "the body of the request was in an unknown format: %s" % ctype)


def pdb_status(pdb: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """expectedPods, currentHealthy, desiredHealthy and disruptionsAllowed of a PodDisruptionBudget over the pods of
    its namespace (a pod is healthy when its Ready condition is True)."""
    spec = pdb.get("spec") or {}
    ns = (pdb.get("metadata") or {}).get("namespace")
    matched = [
        p
        for p in pods
        if (p.get("metadata") or {}).get("namespace") == ns
        and selector_matches(spec.get("selector"), (p.get("metadata") or {}).get("labels") or {})
    ]
    expected = len(matched)
    healthy = sum(1 for p in matched if pod_ready(p))
    if spec.get("minAvailable") is not None:
        desired = _int_or_percent(spec["minAvailable"], expected, round_up=True)
    elif spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _int_or_percent(spec["maxUnavailable"], expected, round_up=True))
    else:
        desired = expected
    return {
        "expectedPods": expected,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": max(0, healthy - desired),
    }


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        frac = int(value[:-1]) * total / 100.0
        return int(-(-frac // 1)) if round_up else int(frac)
    return int(value)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def eviction_blocked_by(
    pod: Mapping[str, Any], pdbs: Iterable[Mapping[str, Any]], pods: list[Mapping[str, Any]]
) -> str:
    """The name of a PodDisruptionBudget the eviction of pod would violate, or '' when it may be evicted.

    An unhealthy pod may always be evicted (it does not count toward the budget)."""
    if not pod_ready(pod):
        return ""
    meta = pod.get("metadata") or {}
    for pdb in pdbs:
        pmeta = pdb.get("metadata") or {}
        if pmeta.get("namespace") != meta.get("namespace"):
            continue
        if not selector_matches((pdb.get("spec") or {}).get("selector"), meta.get("labels") or {}):
            continue
        if pdb_status(pdb, pods)["disruptionsAllowed"] < 1:
            return str(pmeta.get("name"))
    return ""


def quorum(voters: int) -> int:
    return voters // 2 + 1


def schedulable(node: Mapping[str, Any]) -> bool:
    """A node a plain pod may be placed on: Ready, not cordoned, no NoSchedule/NoExecute taint."""
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    if any(t.get("effect") in ("NoSchedule", "NoExecute") for t in (node.get("spec") or {}).get("taints") or []):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (node.get("status") or {}).get("conditions", [])
    )


# ------------------------------------------------------------------------------------------------ configuration

# Flags the stand-in honours (name -> kind). Values come from the command line, then config.yaml (+config.yaml.d),
# then K3S_* variables, as K3s resolves them.
SERVER_FLAGS: dict[str, str] = {
    "cluster-init": "bool",
    "server": "str",
    "token": "str",
    "token-file": "str",
    "agent-token": "str",
    "tls-san": "list",
    "node-name": "str",
    "node-ip": "str",
    "node-label": "list",
    "node-taint": "list",
    "data-dir": "str",
    "write-kubeconfig": "str",
    "write-kubeconfig-mode": "str",
    "bind-address": "str",
    "advertise-address": "str",
    "https-listen-port": "int",
    "cluster-reset": "bool",
    "cluster-reset-restore-path": "str",
    "etcd-snapshot-dir": "str",
    "etcd-snapshot-retention": "int",
    "etcd-snapshot-schedule-cron": "str",
    "etcd-disable-snapshots": "bool",
    "config": "str",
    "debug": "bool",
}
# Accepted and ignored: they configure what the stand-in does not run (networking, addons, the apiserver's flags).
IGNORED_FLAGS: dict[str, str] = {
    "disable": "list",
    "flannel-backend": "str",
    "flannel-iface": "str",
    "cluster-cidr": "str",
    "service-cidr": "str",
    "cluster-dns": "str",
    "cluster-domain": "str",
    "disable-network-policy": "bool",
    "disable-kube-proxy": "bool",
    "disable-helm-controller": "bool",
    "secrets-encryption": "bool",
    "kube-apiserver-arg": "list",
    "kubelet-arg": "list",
    "kube-controller-manager-arg": "list",
    "selinux": "bool",
    "protect-kernel-defaults": "bool",
    "node-external-ip": "str",
    "embedded-registry": "bool",
}
AGENT_FLAGS: dict[str, str] = {
    "server": "str",
    "token": "str",
    "token-file": "str",
    "node-name": "str",
    "node-ip": "str",
    "node-label": "list",
    "node-taint": "list",
    "data-dir": "str",
    "config": "str",
    "debug": "bool",
}
ENV_FLAGS = {
    "K3S_TOKEN": "token",
    "K3S_TOKEN_FILE": "token-file",
    "K3S_AGENT_TOKEN": "agent-token",
    "K3S_URL": "server",
    "K3S_NODE_NAME": "node-name",
    "K3S_KUBECONFIG_MODE": "write-kubeconfig-mode",
    "K3S_KUBECONFIG_OUTPUT": "write-kubeconfig",
    "K3S_DATA_DIR": "data-dir",
    "K3S_CLUSTER_INIT": "cluster-init",
    "K3S_CLUSTER_RESET": "cluster-reset",
    "K3S_CONFIG_FILE": "config",
}


def _coerce(kind: str, value: Any) -> Any:
    if kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if kind == "list":
        if value is None:
            return []
        if isinstance(value, str):
            return [v for v in value.split(",") if v] if "," in value else [value]
        return [str(v) for v in value]
    if kind == "int":
        return int(value)
    return None if value is None else str(value)


def read_config_files(path: str, yaml_load: Callable[[str], Any]) -> dict[str, Any]:
    """config.yaml then config.yaml.d/*.yaml in order; a later file's key wins, `key+:` appends to a list."""
    merged: dict[str, Any] = {}
    files = [path] if os.path.exists(path) else []
    files += sorted(glob.glob(path + ".d/*.yaml")) + sorted(glob.glob(path + ".d/*.yml"))
    for name in files:
        with open(name, encoding="utf-8") as f:
            data = yaml_load(f.read()) or {}
        if not isinstance(data, Mapping):
            raise Fatal("%s: expected a mapping of flag names to values" % name)
        for key, value in data.items():
            if str(key).endswith("+"):
                base = str(key)[:-1]
                have = merged.get(base) or []
                merged[base] = (have if isinstance(have, list) else [have]) + (
                    value if isinstance(value, list) else [value]
                )
            else:
                merged[str(key)] = value
    return merged


def resolve_settings(
    flags: Mapping[str, str],
    cli: Mapping[str, Any],
    config: Mapping[str, Any],
    env: Mapping[str, str],
    warn: bool = True,
) -> dict[str, Any]:
    """The value of every flag: command line, else config file, else K3S_* variable, else unset."""
    known = dict(flags) | IGNORED_FLAGS
    for key in config:
        if warn and key not in known:
            log("warning", "Unknown flag --%s found in config file, ignoring" % key)
    out: dict[str, Any] = {}
    env_values = {flag: env[var] for var, flag in ENV_FLAGS.items() if var in env and flag in flags}
    for name, kind in known.items():
        if cli.get(name) is not None and cli.get(name) != []:
            out[name] = _coerce(kind, cli[name])
        elif name in config:
            out[name] = _coerce(kind, config[name])
        elif name in env_values:
            out[name] = _coerce(kind, env_values[name])
        else:
            out[name] = [] if kind == "list" else (False if kind == "bool" else None)
    return out


# ------------------------------------------------------------------------------------------------ PKI and crypto


def _crypto() -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    return x509, hashes, serialization, ec, NameOID, ExtendedKeyUsageOID


def make_ca(common_name: str) -> tuple[bytes, bytes]:
    x509, hashes, serialization, ec, NameOID, unused_x509_oid = _crypto()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "%s@%d" % (common_name, int(time.time())))])
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
    )


def make_leaf(
    ca_pem: bytes,
    ca_key_pem: bytes,
    common_name: str,
    organization: str | None = None,
    sans: Iterable[str] = (),
    server: bool = True,
) -> tuple[bytes, bytes]:
    import ipaddress

    x509, hashes, serialization, ec, NameOID, EKU = _crypto()
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([EKU.SERVER_AUTH if server else EKU.CLIENT_AUTH]), critical=False)
    )
    alt: list[Any] = []
    for san in dict.fromkeys(sans):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            alt.append(x509.DNSName(san))
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
    )


def _fernet(secret: str, salt: bytes) -> Any:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=100_000)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(secret.encode())))


def encrypt_bootstrap(secret: str, data: Mapping[str, str]) -> str:
    """The bootstrap data (CA certificates and keys) encrypted with a key derived from the token secret (PBKDF2)."""
    salt = os.urandom(16)
    token = _fernet(secret, salt).encrypt(json.dumps(dict(data)).encode())
    return json.dumps({"salt": base64.b64encode(salt).decode(), "data": token.decode()})


def decrypt_bootstrap(secret: str, blob: str) -> dict[str, str] | None:
    """The bootstrap data, or None when it was encrypted with another token."""
    from cryptography.fernet import InvalidToken

    doc = json.loads(blob)
    try:
        plain = _fernet(secret, base64.b64decode(doc["salt"])).decrypt(doc["data"].encode())
    except InvalidToken:
        return None
    result: dict[str, str] = json.loads(plain)
    return result


# ------------------------------------------------------------------------------------------------ etcd


class EtcdUnavailable(Exception):
    """etcd did not answer (no quorum, not running, or this member is a learner and no other answered)."""


class Etcd:
    """etcd's v3 JSON gateway over HTTP, with failover to the other members on fast errors (refused, learner).

    A timeout is not failed over: without quorum every member times out, and the API answers 503."""

    def __init__(self, endpoints: list[str], timeout: float = ETCD_TIMEOUT) -> None:
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.lock = threading.Lock()

    def set_endpoints(self, endpoints: Iterable[str]) -> None:
        with self.lock:
            local = self.endpoints[:1]
            self.endpoints = local + [e for e in endpoints if e not in local]

    def call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            endpoints = list(self.endpoints)
        last = ""
        for endpoint in endpoints:
            req = urllib.request.Request(
                endpoint + "/v3/" + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    result: dict[str, Any] = json.loads(resp.read() or b"{}")
                    return result
            except urllib.error.HTTPError as e:
                text = e.read().decode(errors="replace")
                if "learner" in text or e.code == 503:
                    last = text
                    continue
                raise EtcdUnavailable("etcd %s: %s %s" % (path, e.code, text)) from e
            except TimeoutError as e:
                raise EtcdUnavailable("etcd %s: timed out at %s (no quorum?)" % (path, endpoint)) from e
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                last = str(e)
                continue
        raise EtcdUnavailable("%s (%s)" % (ERR_NO_ENDPOINTS, last))

    @staticmethod
    def _b(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    def get(self, key: str) -> tuple[str | None, int]:
        r = self.call("kv/range", {"key": self._b(key)})
        kvs = r.get("kvs") or []
        if not kvs:
            return None, 0
        return base64.b64decode(kvs[0].get("value", "")).decode(), int(kvs[0]["mod_revision"])

    def prefix(self, prefix: str) -> list[tuple[str, str, int]]:
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        r = self.call("kv/range", {"key": self._b(prefix), "range_end": self._b(end)})
        return [
            (
                base64.b64decode(kv["key"]).decode(),
                base64.b64decode(kv.get("value", "")).decode(),
                int(kv["mod_revision"]),
            )
            for kv in r.get("kvs") or []
        ]

    def put(self, key: str, value: str, expect_revision: int | None = None) -> bool:
        """Put value; with expect_revision (0: key absent) only if the key is at that revision. True if written."""
        if expect_revision is None:
            self.call("kv/put", {"key": self._b(key), "value": self._b(value)})
            return True
        compare = {"key": self._b(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(expect_revision)}
        r = self.call(
            "kv/txn",
            {"compare": [compare], "success": [{"request_put": {"key": self._b(key), "value": self._b(value)}}]},
        )
        return bool(r.get("succeeded"))

    def delete(self, key: str) -> None:
        self.call("kv/deleterange", {"key": self._b(key)})

    def members(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("cluster/member/list", {}).get("members") or []
        return result

    def member_add_learner(self, peer_url: str) -> dict[str, Any]:
        r = self.call("cluster/member/add", {"peerURLs": [peer_url], "isLearner": True})
        member: dict[str, Any] = r["member"]
        return member

    def member_remove(self, member_id: str) -> None:
        self.call("cluster/member/remove", {"ID": member_id})

    def member_promote(self, member_id: str) -> None:
        self.call("cluster/member/promote", {"ID": member_id})


# ------------------------------------------------------------------------------------------------ the server


class Cluster:
    """The Kubernetes objects of the stand-in, stored in etcd as JSON under /registry (as the apiserver stores them),
    rendered with what a kubelet and the node controller would add (conditions, versions, system taints)."""

    NODES = "/registry/minions/"
    LEASES = "/registry/leases/kube-node-lease/"
    PODS = "/registry/pods/"
    PDBS = "/registry/poddisruptionbudgets/"

    def __init__(self, etcd: Etcd) -> None:
        self.etcd = etcd

    # -- nodes
    def raw_nodes(self) -> list[tuple[dict[str, Any], int]]:
        return [(json.loads(v), rev) for key, v, rev in self.etcd.prefix(self.NODES)]

    def leases(self) -> dict[str, dict[str, Any]]:
        return {k[len(self.LEASES) :]: json.loads(v) for k, v, rev in self.etcd.prefix(self.LEASES)}

    def nodes(self) -> list[dict[str, Any]]:
        leases = self.leases()
        members = self.etcd.members()
        return [self.render_node(n, rev, leases.get(n["metadata"]["name"]), members) for n, rev in self.raw_nodes()]

    def node(self, name: str) -> tuple[dict[str, Any] | None, int]:
        raw, rev = self.etcd.get(self.NODES + name)
        if raw is None:
            return None, 0
        lease_raw, lease_rev = self.etcd.get(self.LEASES + name)
        lease = json.loads(lease_raw) if lease_raw else None
        return self.render_node(json.loads(raw), rev, lease, self.etcd.members()), rev

    @staticmethod
    def render_node(
        node: dict[str, Any], rev: int, lease: Mapping[str, Any] | None, members: list[dict[str, Any]]
    ) -> dict[str, Any]:
        out = copy.deepcopy(node)
        out["metadata"]["resourceVersion"] = str(rev)
        renewed = float(lease["renewTime"]) if lease else 0.0
        ready = bool(lease) and time.time() - renewed < NODE_TIMEOUT
        version = (lease or {}).get("version") or out.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")
        conditions = [
            {
                "type": "Ready",
                "status": "True" if ready else "Unknown",
                "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                "message": "kubelet is posting ready status (k3s stand-in)"
                if ready
                else "Kubelet stopped posting node status.",
                "lastHeartbeatTime": now_iso(renewed or None),
                "lastTransitionTime": now_iso(renewed or None),
            }
        ]
        member_name = (out["metadata"].get("annotations") or {}).get("etcd.k3s.cattle.io/node-name")
        if member_name:
            member = next((m for m in members if m.get("name") == member_name), None)
            voter = member is not None and not member.get("isLearner")
            conditions.append(
                {
                    "type": "EtcdIsVoter",
                    "status": "True" if voter else "False",
                    "reason": "MemberIsVoter" if voter else ("MemberIsLearner" if member else "MemberNotFound"),
                    "message": "Node is a voting member of the etcd cluster"
                    if voter
                    else "Node is not a voting member of the etcd cluster",
                    "lastHeartbeatTime": now_iso(),
                    "lastTransitionTime": now_iso(),
                }
            )
        spec = out.setdefault("spec", {})
        taints = [t for t in spec.get("taints") or [] if not t["key"].startswith(SYSTEM_TAINT_PREFIX)]
        if spec.get("unschedulable"):
            taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
        if not ready:
            taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        ip = (lease or {}).get("ip") or ""
        status = out.setdefault("status", {})
        status["conditions"] = conditions
        status["addresses"] = [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node_name(out)}]
        status["nodeInfo"] = {
            "architecture": "amd64",
            "bootID": "",
            "containerRuntimeVersion": "standin://0",
            "kernelVersion": os.uname().release,
            "kubeProxyVersion": version,
            "kubeletVersion": version,
            "machineID": "",
            "operatingSystem": "linux",
            "osImage": "k3s stand-in (no containers)",
            "systemUUID": "",
        }
        status["capacity"] = status["allocatable"] = {"cpu": "1", "memory": "1Gi", "pods": "110"}
        return out

    def write_node(self, node: Mapping[str, Any], expect_revision: int | None) -> bool:
        stored = copy.deepcopy(dict(node))
        stored.pop("status", None)
        meta = stored["metadata"]
        meta.pop("resourceVersion", None)
        spec = stored.get("spec") or {}
        taints = [t for t in spec.get("taints") or [] if not t.get("key", "").startswith(SYSTEM_TAINT_PREFIX)]
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        if not spec.get("unschedulable"):
            spec.pop("unschedulable", None)
        stored["spec"] = spec
        return self.etcd.put(self.NODES + meta["name"], json.dumps(stored), expect_revision)

    def register_node(
        self,
        name: str,
        labels: Mapping[str, str],
        taints: list[dict[str, str]],
        annotations: Mapping[str, str],
    ) -> bool:
        """Create the Node object unless it exists (labels and taints apply at registration only, as in K3s)."""
        node = {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now_iso(),
                "labels": dict(labels),
                "annotations": dict(annotations),
            },
            "spec": {"taints": taints} if taints else {},
        }
        return self.write_node(node, 0)

    def heartbeat(self, name: str, ip: str, version: str) -> None:
        self.etcd.put(self.LEASES + name, json.dumps({"renewTime": time.time(), "ip": ip, "version": version}))

    def delete_node(self, name: str) -> None:
        self.etcd.delete(self.NODES + name)
        self.etcd.delete(self.LEASES + name)

    # -- pods and budgets
    def raw_pods(self) -> list[tuple[dict[str, Any], int]]:
        return [(json.loads(v), rev) for key, v, rev in self.etcd.prefix(self.PODS)]

    def pods(self, nodes: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        nodes = self.nodes() if nodes is None else nodes
        ready = {node_name(n): node_ready(n) for n in nodes}
        return [self.render_pod(p, rev, ready) for p, rev in self.raw_pods()]

    @staticmethod
    def render_pod(pod: dict[str, Any], rev: int, node_is_ready: Mapping[str, bool]) -> dict[str, Any]:
        out = copy.deepcopy(pod)
        out["metadata"]["resourceVersion"] = str(rev)
        node = out["spec"].get("nodeName") or ""
        ready = bool(node) and node_is_ready.get(node, False)
        out["status"] = {
            "phase": "Running" if node else "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "True" if node else "False"},
                {"type": "Ready", "status": "True" if ready else "False"},
            ],
        }
        return out

    def put_pod(self, pod: Mapping[str, Any], expect_revision: int | None = None) -> bool:
        meta = pod["metadata"]
        stored = {k: v for k, v in pod.items() if k != "status"}
        stored["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
        key = self.PODS + "%s/%s" % (meta["namespace"], meta["name"])
        return self.etcd.put(key, json.dumps(stored), expect_revision)

    def delete_pod(self, namespace: str, name: str) -> None:
        self.etcd.delete(self.PODS + "%s/%s" % (namespace, name))

    def pdbs(self, pods: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        raw = [(json.loads(v), rev) for key, v, rev in self.etcd.prefix(self.PDBS)]
        pods = self.pods() if pods is None and raw else (pods or [])
        out = []
        for pdb, rev in raw:
            pdb["metadata"]["resourceVersion"] = str(rev)
            pdb["status"] = dict(pdb_status(pdb, pods), observedGeneration=1)
            out.append(pdb)
        return out

    def workload_pod(self, node: str | None) -> dict[str, Any]:
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": "standin-workload-" + secrets.token_hex(3),
                "namespace": WORKLOAD_NAMESPACE,
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now_iso(),
                "labels": dict(WORKLOAD_LABELS),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": "standin-workload",
                        "uid": "standin",
                        "controller": True,
                    }
                ],
            },
            "spec": {"nodeName": node or "", "containers": [{"name": "pause", "image": "standin/pause:none"}]},
        }

    def place(self, exclude: str = "") -> str:
        """The schedulable node with the fewest workload pods (the stand-in's whole scheduler), or ''."""
        nodes = [n for n in self.nodes() if schedulable(n) and node_name(n) != exclude]
        if not nodes:
            return ""
        counts = {node_name(n): 0 for n in nodes}
        for pod, _rev in self.raw_pods():
            name = pod["spec"].get("nodeName")
            if name in counts:
                counts[name] += 1
        return min(sorted(counts), key=lambda n: counts[n])

    def schedule_pending(self) -> None:
        for pod, rev in self.raw_pods():
            if pod["spec"].get("nodeName"):
                continue
            target = self.place()
            if target:
                pod["spec"]["nodeName"] = target
                self.put_pod(pod, rev)


def node_name(node: Mapping[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name", ""))


def node_ready(node: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (node.get("status") or {}).get("conditions", [])
    )


def status_body(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = dict(details)
    return body


API_RESOURCES_V1 = [
    {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
     "verbs": ["delete", "get", "list", "patch"], "shortNames": ["no"]},
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
     "verbs": ["get", "list"], "shortNames": ["po"]},
    {"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy", "version": "v1",
     "kind": "Eviction", "verbs": ["create"]},
    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
     "verbs": ["get", "list"], "shortNames": ["ns"]},
]  # fmt: skip
API_RESOURCES_POLICY = [
    {"name": "poddisruptionbudgets", "singularName": "poddisruptionbudget", "namespaced": True,
     "kind": "PodDisruptionBudget", "verbs": ["create", "delete", "get", "list"], "shortNames": ["pdb"]},
]  # fmt: skip


class Server:
    """One `k3s server` (or, with api=False, the state an agent keeps): its settings, TLS and etcd."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.s = settings
        self.data_dir = settings.get("data-dir") or DEFAULT_DATA_DIR
        self.name = settings.get("node-name") or socket.gethostname()
        self.ip = settings.get("node-ip") or settings.get("advertise-address") or default_ip()
        self.bind = settings.get("bind-address") or "0.0.0.0"
        self.port = int(settings.get("https-listen-port") or 6443)
        self.server_dir = os.path.join(self.data_dir, "server")
        self.tls_dir = os.path.join(self.server_dir, "tls")
        self.db_dir = os.path.join(self.server_dir, "db")
        self.etcd_dir = os.path.join(self.db_dir, "etcd")
        self.etcd_proc: subprocess.Popen[bytes] | None = None
        self.etcd = Etcd(["http://%s:%d" % (self.ip, ETCD_CLIENT_PORT)])
        self.cluster = Cluster(self.etcd)
        self.secret = ""
        self.agent_secret = ""
        self.stopping = threading.Event()
        self.httpd: http.server.ThreadingHTTPServer | None = None
        self.member_name = ""

    # -- files
    def path(self, *parts: str) -> str:
        return os.path.join(self.server_dir, *parts)

    def write(self, path: str, data: bytes | str, mode: int = 0o600) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    # -- token
    def configured_secret(self) -> tuple[str | None, str]:
        token = self.s.get("token")
        if not token and self.s.get("token-file"):
            token = self.read(self.s["token-file"]).decode().strip()
        if not token:
            return None, ""
        ca, role, secret = parse_token(token)
        return ca, secret

    # -- etcd process
    def peer_url(self) -> str:
        return "http://%s:%d" % (self.ip, ETCD_PEER_PORT)

    def client_url(self) -> str:
        return "http://%s:%d" % (self.ip, ETCD_CLIENT_PORT)

    def start_etcd(self, initial_cluster: str | None, state: str) -> None:
        os.makedirs(self.db_dir, mode=0o700, exist_ok=True)
        cmd = [
            os.environ.get("K3S_STANDIN_ETCD", "etcd"),
            "--name",
            self.member_name,
            "--data-dir",
            self.etcd_dir,
            "--listen-client-urls",
            self.client_url(),
            "--advertise-client-urls",
            self.client_url(),
            "--listen-peer-urls",
            self.peer_url(),
            "--initial-advertise-peer-urls",
            self.peer_url(),
            "--heartbeat-interval",
            "500",
            "--election-timeout",
            "5000",
            "--logger",
            "zap",
        ]
        if initial_cluster:
            cmd += ["--initial-cluster", initial_cluster, "--initial-cluster-state", state]
        log("info", "Starting etcd member %s: %s" % (self.member_name, " ".join(cmd[1:])))
        logf = open(os.path.join(self.db_dir, "etcd.log"), "ab")  # noqa: SIM115 - etcd writes it while it runs
        self.etcd_proc = subprocess.Popen(
            cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
        )
        logf.close()
        watcher = threading.Thread(target=self.watch_etcd, daemon=True)
        watcher.start()

    def watch_etcd(self) -> None:
        proc = self.etcd_proc
        assert proc is not None
        rc = proc.wait()
        if not self.stopping.is_set():
            log("fatal", "etcd exited with status %d (see %s/etcd.log)" % (rc, self.db_dir))
            os._exit(1)

    def wait_local_etcd(self, deadline: float) -> None:
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.client_url() + "/version", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise Fatal("etcd did not start listening on %s" % self.client_url())

    # -- startup
    def run(self) -> None:
        if self.s.get("cluster-reset"):
            raise Fatal("--cluster-reset is not implemented by the k3s stand-in")
        os.makedirs(self.server_dir, mode=0o700, exist_ok=True)
        ca_hash_want, secret = self.configured_secret()
        existing = os.path.isdir(os.path.join(self.etcd_dir, "member"))
        if existing:
            if self.s.get("cluster-init") or self.s.get("server"):
                log("info", "etcd data found: ignoring --cluster-init and --server, restarting the member")
            self.restart(secret)
        elif self.s.get("server"):
            self.join(self.s["server"], ca_hash_want, secret)
        else:
            self.init(secret)
        self.write_tokens()
        self.serve()
        self.write_kubeconfig()
        self.register()
        log("info", "k3s stand-in is up and running")
        threading.Thread(target=self.heartbeat_loop, daemon=True).start()
        self.stopping.wait()

    def restart(self, secret: str) -> None:
        """An existing member: --cluster-init and --server are ignored, the token must match the bootstrap data."""
        self.member_name = self.read(os.path.join(self.db_dir, "name")).decode().strip()
        self.start_etcd(None, "existing")
        self.wait_local_etcd(time.time() + 30)
        if not secret:
            secret = parse_token(self.read(self.path("token")).decode())[2]
        data = self.load_bootstrap(secret, wait=True)
        self.adopt_bootstrap(secret, data, regenerate=False)
        self.refresh_endpoints()

    def load_bootstrap(self, secret: str, wait: bool) -> dict[str, str]:
        deadline = time.time() + float(os.environ.get("K3S_STANDIN_JOIN_TIMEOUT", "120"))
        while True:
            try:
                blobs = self.etcd.prefix("/bootstrap/")
                break
            except EtcdUnavailable as e:
                if not wait or time.time() > deadline:
                    raise Fatal("starting kubernetes: preparing server: %s" % e) from e
                log("info", "Waiting for etcd to have quorum: %s" % e)
                time.sleep(2)
        mine = [v for k, v, rev in blobs if k == bootstrap_key(secret)]
        if not mine:
            if blobs:
                raise Fatal("starting kubernetes: preparing server: %s" % ERR_TOKEN_MISMATCH)
            raise Fatal("starting kubernetes: preparing server: no bootstrap data found in etcd")
        data = decrypt_bootstrap(secret, mine[0])
        if data is None:
            raise Fatal("starting kubernetes: preparing server: %s" % ERR_TOKEN_MISMATCH)
        return data

    def adopt_bootstrap(self, secret: str, data: Mapping[str, str], regenerate: bool) -> None:
        """Write the cluster's CAs to server/tls and this server's own serving and admin certificates."""
        self.secret = secret
        self.agent_secret = data.get("agent-secret") or secret
        for name in ("server-ca.crt", "server-ca.key", "client-ca.crt", "client-ca.key"):
            self.write(os.path.join(self.tls_dir, name), data[name].encode())
        if regenerate or not os.path.exists(os.path.join(self.tls_dir, "serving-kube-apiserver.crt")):
            sans = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", self.ip, self.name]
            if self.bind not in ("0.0.0.0", "::"):
                sans.append(self.bind)
            sans += list(self.s.get("tls-san") or [])
            cert, key = make_leaf(data["server-ca.crt"].encode(), data["server-ca.key"].encode(), "k3s", "k3s", sans)
            self.write(os.path.join(self.tls_dir, "serving-kube-apiserver.crt"), cert)
            self.write(os.path.join(self.tls_dir, "serving-kube-apiserver.key"), key)
            cert, key = make_leaf(
                data["client-ca.crt"].encode(), data["client-ca.key"].encode(), "system:admin", "system:masters",
                server=False,
            )  # fmt: skip
            self.write(os.path.join(self.tls_dir, "client-admin.crt"), cert)
            self.write(os.path.join(self.tls_dir, "client-admin.key"), key)

    def init(self, secret: str) -> None:
        """--cluster-init (or a first server without --server): a new CA, a new etcd cluster, the bootstrap data."""
        if not secret:
            secret = secrets.token_hex(16)
        agent_token = self.s.get("agent-token")
        server_ca, server_key = make_ca("k3s-server-ca")
        client_ca, client_key = make_ca("k3s-client-ca")
        data = {
            "server-ca.crt": server_ca.decode(),
            "server-ca.key": server_key.decode(),
            "client-ca.crt": client_ca.decode(),
            "client-ca.key": client_key.decode(),
            "agent-secret": parse_token(agent_token)[2] if agent_token else secret,
        }
        self.member_name = "%s-%s" % (self.name, secrets.token_hex(4))
        self.start_etcd("%s=%s" % (self.member_name, self.peer_url()), "new")
        self.write(os.path.join(self.db_dir, "name"), self.member_name)
        self.wait_local_etcd(time.time() + 30)
        deadline = time.time() + 30
        while True:
            try:
                self.etcd.put(bootstrap_key(secret), encrypt_bootstrap(secret, data))
                break
            except EtcdUnavailable:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        self.adopt_bootstrap(secret, data, regenerate=True)
        log("info", "Cluster initialised: etcd member %s" % self.member_name)

    def supervisor_get(self, url: str, path: str, ca_pem: bytes | None, auth: str | None) -> bytes:
        ctx = ssl.create_default_context()
        if ca_pem is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_verify_locations(cadata=ca_pem.decode())
            ctx.check_hostname = False  # K3s pins the CA by hash, then trusts any name it signed
        req = urllib.request.Request(url.rstrip("/") + path)
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            data: bytes = resp.read()
            return data

    def fetch_cacerts(self, url: str, ca_hash_want: str | None) -> bytes:
        deadline = time.time() + float(os.environ.get("K3S_STANDIN_JOIN_TIMEOUT", "120"))
        while True:
            try:
                ca = self.supervisor_get(url, "/cacerts", None, None)
                break
            except (urllib.error.URLError, OSError) as e:
                if time.time() > deadline:
                    raise Fatal('failed to get CA certs: Get "%s/cacerts": %s' % (url, e)) from e
                log("info", "Failed to get CA certs from %s: %s; retrying" % (url, e))
                time.sleep(2)
        if ca_hash_want and ca_hash(ca) != ca_hash_want:
            raise Fatal(
                "token CA hash does not match the Cluster CA certificate hash: %s != %s" % (ca_hash(ca), ca_hash_want)
            )
        return ca

    def join(self, url: str, ca_hash_want: str | None, secret: str) -> None:
        """--server URL: pin the CA, fetch the bootstrap data with the token, join etcd as a learner, get promoted."""
        if not secret:
            raise Fatal("--token is required when joining a cluster with --server")
        ca = self.fetch_cacerts(url, ca_hash_want)
        try:
            raw = self.supervisor_get(url, "/v1-k3s/server-bootstrap", ca, "server:" + secret)
        except urllib.error.HTTPError as e:
            if e.code == 401:
                raise Fatal(
                    "starting kubernetes: preparing server: failed to get bootstrap data from %s: "
                    "401 Unauthorized (the token is not this cluster's server token)" % url
                ) from e
            raise Fatal("starting kubernetes: preparing server: %s: %s %s" % (url, e.code, e.read().decode())) from e
        data = {k: base64.b64decode(v).decode() for k, v in json.loads(raw).items()}
        info = json.loads(self.supervisor_get(url, "/db/info", ca, "server:" + secret))
        members = info.get("members") or []
        self.etcd.set_endpoints(u for m in members for u in m.get("clientURLs") or [])
        self.member_name = "%s-%s" % (self.name, secrets.token_hex(4))
        deadline = time.time() + float(os.environ.get("K3S_STANDIN_JOIN_TIMEOUT", "120"))
        while True:
            try:
                for m in self.etcd.members():
                    if self.peer_url() in (m.get("peerURLs") or []):
                        log(
                            "info",
                            "Removing stale etcd member %s with this node's peer URL" % (m.get("name") or m["ID"]),
                        )
                        self.etcd.member_remove(m["ID"])
                added = self.etcd.member_add_learner(self.peer_url())
                members = self.etcd.members()
                break
            except EtcdUnavailable as e:
                # etcd takes one learner at a time ("too many learner members"): servers join one after the other
                if time.time() > deadline:
                    raise Fatal("starting kubernetes: preparing server: failed to join etcd cluster: %s" % e) from e
                log("info", "Cannot join etcd yet, retrying: %s" % e)
                time.sleep(2)
        initial = ",".join(
            "%s=%s" % (self.member_name if m["ID"] == added["ID"] else m.get("name", ""), u)
            for m in members
            for u in m.get("peerURLs") or []
        )
        log(
            "info",
            "Adding member %s=%s to etcd cluster [%s] as a learner" % (self.member_name, self.peer_url(), initial),
        )
        self.start_etcd(initial, "existing")
        self.write(os.path.join(self.db_dir, "name"), self.member_name)
        self.wait_local_etcd(time.time() + 30)
        self.adopt_bootstrap(secret, data, regenerate=True)
        threading.Thread(target=self.promote_loop, args=(added["ID"],), daemon=True).start()

    def promote_loop(self, member_id: str) -> None:
        """K3s promotes a learner once it has caught up with the leader; etcd refuses until then."""
        time.sleep(float(os.environ.get("K3S_STANDIN_PROMOTE_DELAY", "3")))
        while not self.stopping.is_set():
            try:
                self.etcd.member_promote(member_id)
                log("info", "Promoted etcd member %s to voter" % self.member_name)
                return
            except EtcdUnavailable as e:
                log("info", "Learner %s not yet promoted: %s" % (self.member_name, e))
            time.sleep(1)

    def refresh_endpoints(self) -> None:
        with contextlib.suppress(EtcdUnavailable):
            self.etcd.set_endpoints(u for m in self.etcd.members() for u in m.get("clientURLs") or [])

    def write_tokens(self) -> None:
        ca = self.read(os.path.join(self.tls_dir, "server-ca.crt"))
        self.write(self.path("token"), format_token(ca, self.secret) + "\n")
        self.write(self.path("node-token"), format_token(ca, self.secret) + "\n")
        agent = self.path("agent-token")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(agent)
        if self.agent_secret == self.secret:
            os.symlink("token", agent)
        else:
            self.write(agent, format_token(ca, self.agent_secret, "node") + "\n")

    def kubeconfig_url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::", "") else self.bind
        return "https://%s:%d" % (host, self.port)

    def write_kubeconfig(self) -> None:
        def b64(name: str) -> str:
            return base64.b64encode(self.read(os.path.join(self.tls_dir, name))).decode()

        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "default", "cluster": {"certificate-authority-data": b64("server-ca.crt"),
                                                "server": self.kubeconfig_url()}}
            ],
            "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
            "current-context": "default",
            "preferences": {},
            "users": [
                {"name": "default", "user": {"client-certificate-data": b64("client-admin.crt"),
                                             "client-key-data": b64("client-admin.key")}}
            ],
        }  # fmt: skip
        mode = int(self.s.get("write-kubeconfig-mode") or "600", 8)
        path = self.s.get("write-kubeconfig") or DEFAULT_KUBECONFIG
        self.write(path, json_as_yaml(doc), mode)
        log("info", "Wrote kubeconfig %s" % path)

    # -- node
    def register(self) -> None:
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "k3s",
        }
        labels.update(dict.fromkeys(ROLE_LABELS, "true"))
        labels.update(dict(parse_label(x) for x in self.s.get("node-label") or []))
        taints = [parse_taint(x) for x in self.s.get("node-taint") or []]
        annotations = {
            "etcd.k3s.cattle.io/node-name": self.member_name,
            "etcd.k3s.cattle.io/node-address": self.ip,
            "k3s.io/node-args": json.dumps(["server"]),
            "k3s.io/standin": "true",
        }
        register_with_retry(self.cluster, self.name, labels, taints, annotations, self.stopping)

    def heartbeat_loop(self) -> None:
        while True:
            try:
                self.cluster.heartbeat(self.name, self.ip, VERSION)
                self.cluster.schedule_pending()
                self.refresh_endpoints()
            except EtcdUnavailable as e:
                log("warning", "Node heartbeat failed: %s" % e)
            if self.stopping.wait(HEARTBEAT_SECONDS):
                return

    # -- serving
    def serve(self) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(
            os.path.join(self.tls_dir, "serving-kube-apiserver.crt"),
            os.path.join(self.tls_dir, "serving-kube-apiserver.key"),
        )
        ctx.load_verify_locations(os.path.join(self.tls_dir, "client-ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        server = self

        class TLSServer(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def finish_request(self, request: Any, client_address: Any) -> None:
                request.settimeout(15)
                try:
                    tls = ctx.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                Handler(tls, client_address, self, server)

        self.httpd = TLSServer((self.bind, self.port), Handler)  # type: ignore[arg-type]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        log("info", "Listening on %s:%d (supervisor and Kubernetes API subset)" % (self.bind, self.port))

    def stop(self) -> None:
        self.stopping.set()
        if self.httpd is not None:
            self.httpd.shutdown()
        if self.etcd_proc is not None and self.etcd_proc.poll() is None:
            self.etcd_proc.terminate()
            try:
                self.etcd_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.etcd_proc.kill()


def register_with_retry(
    cluster: Cluster,
    name: str,
    labels: Mapping[str, str],
    taints: list[dict[str, str]],
    annotations: Mapping[str, str],
    stopping: threading.Event,
    agent: bool = False,
) -> None:
    while not stopping.is_set():
        try:
            existing, rev = cluster.etcd.get(Cluster.NODES + name)
            if existing is None and cluster.register_node(name, labels, taints, annotations):
                log("info", "Registered node %s" % name)
                if agent:
                    cluster.heartbeat(name, annotations.get("k3s.io/internal-ip", ""), VERSION)
                    cluster.put_pod(cluster.workload_pod(name))
            return
        except EtcdUnavailable as e:
            log("info", "Waiting to register node %s: %s" % (name, e))
            stopping.wait(2)


def json_as_yaml(doc: Any) -> str:
    """YAML as K3s writes k3s.yaml (PyYAML, block style)."""
    import yaml

    text: str = yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)
    return text


def die_with_parent() -> None:
    """etcd is embedded in K3s: it must not outlive the k3s process, even on SIGKILL (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def default_ip() -> str:
    """The address of the default route's interface, as K3s picks the node IP."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        return str(s.getsockname()[0])
    return "127.0.0.1"


class Handler(http.server.BaseHTTPRequestHandler):
    """The supervisor endpoints and the Kubernetes API subset, on the one HTTPS port."""

    protocol_version = "HTTP/1.1"
    server_version = "k3s-standin"

    def __init__(self, request: Any, client_address: Any, httpd: Any, k3s: Server) -> None:
        self.k3s = k3s
        super().__init__(request, client_address, httpd)

    def log_message(self, format: str, *args: Any) -> None:
        if self.k3s.s.get("debug"):
            log("debug", format % args)

    # -- responses
    def send(self, code: int, body: Any, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else (json.dumps(body) if ctype == "application/json" else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def status(self, code: int, reason: str, message: str, **details: Any) -> None:
        self.send(code, status_body(code, reason, message, details))

    def body(self) -> Any:
        return json.loads(self.raw_body) if self.raw_body else None

    def basic_user(self) -> str:
        """'server' or 'node' when the Basic credentials carry the cluster's server or agent secret, else ''."""
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return ""
        try:
            user, colon, password = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return ""
        if user == "server" and hmac.compare_digest(password, self.k3s.secret):
            return "server"
        if user == "node" and (
            hmac.compare_digest(password, self.k3s.agent_secret) or hmac.compare_digest(password, self.k3s.secret)
        ):
            return "node"
        return ""

    def authenticated(self) -> bool:
        cert = self.connection.getpeercert()  # type: ignore[attr-defined]
        return bool(cert)

    # -- dispatch
    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        # Read the whole body first, whatever the handler does with it: on a kept-alive connection an unread body
        # would be taken for the next request.
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            if self.supervisor(method, url.path):
                return
            if not self.authenticated():
                self.status(401, "Unauthorized", "Unauthorized")
                return
            self.api(method, parts, query)
        except EtcdUnavailable as e:
            self.status(503, "ServiceUnavailable", "etcd is not available: %s" % e)
        except PatchError as e:
            self.status(e.code, e.reason, e.message)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def supervisor(self, method: str, path: str) -> bool:
        k3s = self.k3s
        if path == "/ping" and method == "GET":
            self.send(200, b"pong", "text/plain")
        elif path in ("/cacerts", "/v1-k3s/cert/cacerts") and method == "GET":
            self.send(200, k3s.read(os.path.join(k3s.tls_dir, "server-ca.crt")), "text/plain")
        elif path == "/v1-k3s/server-bootstrap" and method == "GET":
            if self.basic_user() != "server":
                self.send(401, b"Unauthorized\n", "text/plain")
                return True
            data = {
                name: base64.b64encode(k3s.read(os.path.join(k3s.tls_dir, name))).decode()
                for name in ("server-ca.crt", "server-ca.key", "client-ca.crt", "client-ca.key")
            }
            data["agent-secret"] = base64.b64encode(k3s.agent_secret.encode()).decode()
            self.send(200, data)
        elif path == "/db/info" and method == "GET":
            if self.basic_user() != "server":
                self.send(401, b"Unauthorized\n", "text/plain")
                return True
            self.send(200, {"members": k3s.etcd.members()})
        elif path == "/v1-k3s/standin/node" and method == "POST":
            # Stand-in only: an agent's registration and heartbeat (a real agent runs a kubelet that posts its status).
            if not self.basic_user():
                self.send(401, b"Unauthorized\n", "text/plain")
                return True
            self.agent_heartbeat(self.body() or {})
        else:
            return False
        return True

    def agent_heartbeat(self, body: Mapping[str, Any]) -> None:
        cluster = self.k3s.cluster
        name = str(body["name"])
        existing, rev = cluster.etcd.get(Cluster.NODES + name)
        if existing is None:
            labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                      "node.kubernetes.io/instance-type": "k3s"}  # fmt: skip
            labels.update(body.get("labels") or {})
            annotations = {"k3s.io/node-args": json.dumps(["agent"]), "k3s.io/standin": "true",
                           "k3s.io/internal-ip": str(body.get("ip") or "")}  # fmt: skip
            register_with_retry(cluster, name, labels, body.get("taints") or [], annotations, threading.Event(), True)
        cluster.heartbeat(name, str(body.get("ip") or ""), str(body.get("version") or ""))
        servers = [
            "https://%s:%d" % (urllib.parse.urlsplit(u).hostname, self.k3s.port)
            for m in cluster.etcd.members()
            if m.get("name")
            for u in m.get("clientURLs") or []
        ]
        self.send(200, {"servers": servers})

    def api(self, method: str, parts: list[str], query: Mapping[str, str]) -> None:
        cluster = self.k3s.cluster
        if parts == ["version"]:
            minor = VERSION.split(".")[1]
            self.send(200, {"major": "1", "minor": minor, "gitVersion": VERSION, "gitCommit": STANDIN,
                            "gitTreeState": "clean", "buildDate": "", "goVersion": STANDIN, "compiler": "gc",
                            "platform": "linux/amd64"})  # fmt: skip
        elif parts in (["readyz"], ["livez"], ["healthz"]):
            cluster.etcd.get("/registry/health")  # a linearizable read: 503 without quorum
            self.send(200, b"ok", "text/plain")
        elif parts == ["api"]:
            self.send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "%s:%d" % (self.k3s.ip, self.k3s.port)}]})  # fmt: skip
        elif parts == ["apis"]:
            group = {"name": "policy", "versions": [{"groupVersion": "policy/v1", "version": "v1"}],
                     "preferredVersion": {"groupVersion": "policy/v1", "version": "v1"}}  # fmt: skip
            self.send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})
        elif parts == ["api", "v1"]:
            self.send(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": API_RESOURCES_V1})
        elif parts == ["apis", "policy", "v1"]:
            self.send(200, {"kind": "APIResourceList", "groupVersion": "policy/v1", "resources": API_RESOURCES_POLICY})
        elif parts[:3] == ["api", "v1", "nodes"]:
            self.nodes(method, parts[3:], query)
        elif parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4 and method == "GET":
            names = sorted({"default", "kube-system", WORKLOAD_NAMESPACE})
            items = [{"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": n}, "status": {"phase": "Active"}}
                     for n in names]  # fmt: skip
            if len(parts) == 4:
                if parts[3] in names:
                    self.send(200, items[names.index(parts[3])])
                else:
                    self.status(404, "NotFound", 'namespaces "%s" not found' % parts[3])
            else:
                self.send(200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": items})
        elif parts == ["api", "v1", "pods"] and method == "GET":
            self.list_pods(None, query)
        elif parts[:3] == ["api", "v1", "namespaces"] and len(parts) >= 5 and parts[4] == "pods":
            self.pods(method, parts[3], parts[5:], query)
        elif parts == ["apis", "policy", "v1", "poddisruptionbudgets"] and method == "GET":
            self.send(200, {"kind": "PodDisruptionBudgetList", "apiVersion": "policy/v1", "metadata": {},
                            "items": cluster.pdbs()})  # fmt: skip
        elif parts[:4] == ["apis", "policy", "v1", "namespaces"] and parts[5:6] == ["poddisruptionbudgets"]:
            self.pdbs(method, parts[4], parts[6:])
        else:
            self.status(404, "NotFound", "the server could not find the requested resource (k3s stand-in)")

    def nodes(self, method: str, rest: list[str], query: Mapping[str, str]) -> None:
        cluster = self.k3s.cluster
        if not rest and method == "GET":
            items = cluster.nodes()
            if query.get("labelSelector"):
                items = [n for n in items if labels_match(query["labelSelector"], n["metadata"].get("labels") or {})]
            if query.get("fieldSelector"):
                items = [n for n in items if fields_match(query["fieldSelector"], n)]
            items.sort(key=node_name)
            self.send(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": items})
            return
        if len(rest) != 1:
            self.status(404, "NotFound", "the server could not find the requested resource")
            return
        name = rest[0]
        node, rev = cluster.node(name)
        if node is None:
            self.status(404, "NotFound", 'nodes "%s" not found' % name, name=name, kind="nodes")
            return
        if method == "GET":
            self.send(200, node)
        elif method == "PATCH":
            body = self.body()
            patched = apply_patch(self.headers.get("Content-Type") or "", node, body)
            want_rv = ((body or {}).get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
            if want_rv and want_rv != str(rev):
                self.status(409, "Conflict", CONFLICT % name)
                return
            patched["metadata"]["name"] = name
            if not cluster.write_node(patched, rev):
                self.status(409, "Conflict", CONFLICT % name)
                return
            fresh, rev = cluster.node(name)
            self.send(200, fresh)
        elif method == "DELETE":
            self.delete_node(node)
        else:
            self.status(405, "MethodNotAllowed", "method %s not allowed on nodes" % method)

    def delete_node(self, node: Mapping[str, Any]) -> None:
        """Delete a node; for a server, also its etcd member (K3s's etcd member removal controller)."""
        cluster = self.k3s.cluster
        name = node_name(node)
        member_name = (node["metadata"].get("annotations") or {}).get("etcd.k3s.cattle.io/node-name")
        if member_name:
            for m in cluster.etcd.members():
                if m.get("name") == member_name:
                    log("info", "Removing etcd member %s of deleted node %s" % (member_name, name))
                    cluster.etcd.member_remove(m["ID"])
        cluster.delete_node(name)
        for pod, _rev in cluster.raw_pods():
            if pod["spec"].get("nodeName") == name:
                cluster.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.status(200, "", "node %s deleted" % name, name=name, kind="nodes")

    def list_pods(self, namespace: str | None, query: Mapping[str, str]) -> None:
        items = [p for p in self.k3s.cluster.pods() if namespace is None or p["metadata"]["namespace"] == namespace]
        if query.get("labelSelector"):
            items = [p for p in items if labels_match(query["labelSelector"], p["metadata"].get("labels") or {})]
        if query.get("fieldSelector"):
            items = [p for p in items if fields_match(query["fieldSelector"], p)]
        items.sort(key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
        self.send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    def pods(self, method: str, namespace: str, rest: list[str], query: Mapping[str, str]) -> None:
        cluster = self.k3s.cluster
        if not rest and method == "GET":
            self.list_pods(namespace, query)
            return
        nodes = cluster.nodes()
        pods = cluster.pods(nodes)
        pod = next(
            (p for p in pods if (p["metadata"]["namespace"], p["metadata"]["name"]) == (namespace, rest[0])), None
        )
        if pod is None:
            self.status(404, "NotFound", 'pods "%s" not found' % rest[0], name=rest[0], kind="pods")
            return
        if len(rest) == 1 and method == "GET":
            self.send(200, pod)
        elif rest[1:] == ["eviction"] and method == "POST":
            blocker = eviction_blocked_by(pod, cluster.pdbs(pods), pods)
            if blocker:
                self.send(429, status_body(429, "TooManyRequests",
                                           "Cannot evict pod as it would violate the pod's disruption budget.",
                                           {"causes": [{"reason": "DisruptionBudget", "message": "The disruption "
                                                        "budget %s needs more healthy pods" % blocker}]}))  # fmt: skip
                return
            cluster.delete_pod(namespace, rest[0])
            owner = pod["metadata"].get("ownerReferences") or []
            if any(o.get("name") == "standin-workload" for o in owner):
                cluster.put_pod(cluster.workload_pod(cluster.place(exclude=pod["spec"].get("nodeName", ""))))
            self.send(201, status_body(201, "", "evicted", {"name": rest[0], "kind": "pods"}))
        else:
            self.status(405, "MethodNotAllowed", "the stand-in serves get and eviction on pods")

    def pdbs(self, method: str, namespace: str, rest: list[str]) -> None:
        cluster = self.k3s.cluster
        items = [p for p in cluster.pdbs() if p["metadata"]["namespace"] == namespace]
        if not rest and method == "GET":
            self.send(200, {"kind": "PodDisruptionBudgetList", "apiVersion": "policy/v1", "metadata": {},
                            "items": items})  # fmt: skip
        elif not rest and method == "POST":
            pdb = self.body() or {}
            meta = pdb.setdefault("metadata", {})
            meta["namespace"] = namespace
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_iso())
            pdb.pop("status", None)
            pdb.setdefault("kind", "PodDisruptionBudget")
            pdb.setdefault("apiVersion", "policy/v1")
            key = Cluster.PDBS + "%s/%s" % (namespace, meta.get("name"))
            if not cluster.etcd.put(key, json.dumps(pdb), 0):
                self.status(409, "AlreadyExists", 'poddisruptionbudgets "%s" already exists' % meta.get("name"))
                return
            self.send(201, next(p for p in cluster.pdbs() if p["metadata"]["name"] == meta["name"]
                                and p["metadata"]["namespace"] == namespace))  # fmt: skip
        elif len(rest) == 1:
            pdb = next((p for p in items if p["metadata"]["name"] == rest[0]), None)
            if pdb is None:
                self.status(404, "NotFound", 'poddisruptionbudgets.policy "%s" not found' % rest[0])
            elif method == "GET":
                self.send(200, pdb)
            elif method == "DELETE":
                cluster.etcd.delete(Cluster.PDBS + "%s/%s" % (namespace, rest[0]))
                self.status(200, "", "deleted", name=rest[0], kind="poddisruptionbudgets")
            else:
                self.status(405, "MethodNotAllowed", "method %s not allowed" % method)
        else:
            self.status(405, "MethodNotAllowed", "method %s not allowed" % method)


# ------------------------------------------------------------------------------------------------ the agent


class Agent:
    """`k3s agent`: pins the cluster CA by the token's hash and posts its node's heartbeat to a server, failing over
    to the other servers the cluster lists (K3s's agent load balancer)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.s = settings
        self.data_dir = settings.get("data-dir") or DEFAULT_DATA_DIR
        self.name = settings.get("node-name") or socket.gethostname()
        self.ip = settings.get("node-ip") or default_ip()
        self.stopping = threading.Event()

    def run(self) -> None:
        url = self.s.get("server")
        token = self.s.get("token")
        if not token and self.s.get("token-file"):
            with open(self.s["token-file"], encoding="utf-8") as f:
                token = f.read().strip()
        if not url:
            raise Fatal("--server is required")
        if not token:
            raise Fatal("--token is required")
        ca_want, role, secret = parse_token(token)
        helper = Server({"data-dir": self.data_dir})
        ca = helper.fetch_cacerts(url, ca_want)
        agent_dir = os.path.join(self.data_dir, "agent")
        helper.write(os.path.join(agent_dir, "server-ca.crt"), ca)
        body = {
            "name": self.name,
            "ip": self.ip,
            "version": VERSION,
            "labels": dict(parse_label(x) for x in self.s.get("node-label") or []),
            "taints": [parse_taint(x) for x in self.s.get("node-taint") or []],
        }
        servers = [url]
        first = True
        log("info", "k3s stand-in agent %s starting against %s" % (self.name, url))
        while not self.stopping.is_set():
            for server in list(servers):
                try:
                    reply = self.post(server, ca, "node:" + secret, body)
                    servers = [server] + [s for s in reply.get("servers") or [] if s != server]
                    if first:
                        log("info", "k3s stand-in agent is up and running")
                        first = False
                    break
                except urllib.error.HTTPError as e:
                    if e.code == 401:
                        raise Fatal(
                            "Failed to validate connection to cluster at %s: 401 Unauthorized (token rejected)" % server
                        ) from e
                    log("warning", "Heartbeat to %s failed: %s %s" % (server, e.code, e.read().decode()[:200]))
                except (urllib.error.URLError, OSError) as e:
                    log("warning", "Heartbeat to %s failed: %s" % (server, e))
            self.stopping.wait(HEARTBEAT_SECONDS)

    @staticmethod
    def post(server: str, ca: bytes, auth: str, body: Mapping[str, Any]) -> dict[str, Any]:
        ctx = ssl.create_default_context(cadata=ca.decode())
        ctx.check_hostname = False
        req = urllib.request.Request(
            server.rstrip("/") + "/v1-k3s/standin/node",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": "Basic " + base64.b64encode(auth.encode()).decode(),
            },
        )
        with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
            result: dict[str, Any] = json.loads(resp.read())
            return result


# ------------------------------------------------------------------------------------------------ subcommands


def settings_for(flags: Mapping[str, str], args: argparse.Namespace, warn: bool = True) -> dict[str, Any]:
    import yaml

    cli = {name: getattr(args, name.replace("-", "_"), None) for name in list(flags) + list(IGNORED_FLAGS)}
    config_path = cli.get("config") or os.environ.get("K3S_CONFIG_FILE") or DEFAULT_CONFIG
    config = read_config_files(config_path, yaml.safe_load)
    return resolve_settings(flags, cli, config, os.environ, warn)


def add_flags(parser: argparse.ArgumentParser, flags: Mapping[str, str]) -> None:
    for name, kind in flags.items():
        dest = name.replace("-", "_")
        if kind == "bool":
            parser.add_argument("--" + name, dest=dest, action="store_const", const=True, default=None)
        elif kind == "list":
            parser.add_argument("--" + name, dest=dest, action="append", default=None)
        else:
            parser.add_argument("--" + name, dest=dest, default=None)
    parser.add_argument("-c", dest="config", default=None)


def run_daemon(obj: Server | Agent) -> int:
    def stop(signum: int, frame: Any) -> None:
        log("info", "Received %s, shutting down" % signal.Signals(signum).name)
        if isinstance(obj, Server):
            obj.stop()
        else:
            obj.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        obj.run()
    except Fatal as e:
        log("fatal", str(e))
        if isinstance(obj, Server):
            obj.stop()
        return 1
    return 0


def cmd_etcd_snapshot(args: argparse.Namespace, settings: Mapping[str, Any]) -> int:
    data_dir = settings.get("data-dir") or DEFAULT_DATA_DIR
    snap_dir = settings.get("etcd-snapshot-dir") or os.path.join(data_dir, "server", "db", "snapshots")
    if args.action in ("ls", "list"):
        print("%-60s %-80s %-10s %s" % ("Name", "Location", "Size", "Created"))
        for path in sorted(glob.glob(os.path.join(snap_dir, "*"))):
            st = os.stat(path)
            print("%-60s %-80s %-10d %s" % (os.path.basename(path), "file://" + path, st.st_size, now_iso(st.st_mtime)))
        return 0
    if args.action == "save":
        node_ip = settings.get("node-ip") or default_ip()
        name = "%s-%s-%d" % (args.name or "on-demand", settings.get("node-name") or socket.gethostname(), time.time())
        os.makedirs(snap_dir, mode=0o700, exist_ok=True)
        path = os.path.join(snap_dir, name)
        env = dict(os.environ, ETCDCTL_API="3")
        endpoint = "http://%s:%d" % (node_ip, ETCD_CLIENT_PORT)
        proc = subprocess.run(
            ["etcdctl", "--endpoints", endpoint, "snapshot", "save", path],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            log("fatal", "etcd-snapshot save: %s" % (proc.stderr.strip() or proc.stdout.strip()))
            return 1
        log("info", "Snapshot %s saved." % name)
        return 0
    log("fatal", "etcd-snapshot %s is not implemented by the k3s stand-in" % args.action)
    return 1


def cmd_kubectl(argv: list[str]) -> int:
    """`k3s kubectl get nodes [-o wide|json] [-l selector] [--kubeconfig path]`: the one kubectl view the lab shows."""
    import yaml

    parser = argparse.ArgumentParser(prog="k3s kubectl")
    parser.add_argument("verb")
    parser.add_argument("resource")
    parser.add_argument("-o", "--output", default="")
    parser.add_argument("-l", "--selector", default="")
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG)
    args = parser.parse_args(argv)
    if args.verb != "get" or args.resource not in ("nodes", "node", "no"):
        log("fatal", "the k3s stand-in's kubectl only does `get nodes`")
        return 1
    with open(args.kubeconfig, encoding="utf-8") as f:
        kc = yaml.safe_load(f)
    ctx_name = kc.get("current-context")
    context = next(c["context"] for c in kc["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in kc["users"] if u["name"] == context["user"])
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for key in ("client-certificate-data", "client-key-data"):
            with open(os.path.join(tmp, key), "wb") as f:
                f.write(base64.b64decode(user[key]))
        ssl_ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        ssl_ctx.load_cert_chain(os.path.join(tmp, "client-certificate-data"), os.path.join(tmp, "client-key-data"))
        url = cluster["server"].rstrip("/") + "/api/v1/nodes"
        if args.selector:
            url += "?labelSelector=" + urllib.parse.quote(args.selector)
        try:
            with urllib.request.urlopen(url, timeout=10, context=ssl_ctx) as resp:
                nodes = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            print("Error from server: %s" % json.loads(e.read()).get("message"), file=sys.stderr)
            return 1
    if args.output == "json":
        print(json.dumps(nodes, indent=2))
        return 0
    rows = [("NAME", "STATUS", "ROLES", "AGE", "VERSION") + (("INTERNAL-IP",) if args.output == "wide" else ())]
    for n in nodes["items"]:
        labels = n["metadata"].get("labels") or {}
        roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")) or ["<none>"]
        status = "Ready" if node_ready(n) else "NotReady"
        if (n.get("spec") or {}).get("unschedulable"):
            status += ",SchedulingDisabled"
        created = datetime.datetime.strptime(n["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
        age = int(time.time() - created.replace(tzinfo=datetime.UTC).timestamp())
        age_text = "%ds" % age if age < 120 else ("%dm" % (age // 60) if age < 7200 else "%dh" % (age // 3600))
        row = (node_name(n), status, ",".join(roles), age_text, n["status"]["nodeInfo"]["kubeletVersion"])
        if args.output == "wide":
            row += (next((a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"), ""),)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("--version", "-v", "version"):
        if not argv:
            print("k3s stand-in (ironcloud.stack lab): usage: k3s server|agent|etcd-snapshot|token|kubectl|--version")
            return 1
        print(version_text())
        return 0
    if argv[0] == "kubectl":
        return cmd_kubectl(argv[1:])
    parser = argparse.ArgumentParser(prog="k3s", description="K3s STAND-IN for the ironcloud.stack lab (not K3s)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_flags(sub.add_parser("server", help="run a server (stand-in)"), SERVER_FLAGS | IGNORED_FLAGS)
    add_flags(sub.add_parser("agent", help="run an agent (stand-in)"), AGENT_FLAGS)
    snap = sub.add_parser("etcd-snapshot", help="etcd snapshots")
    snap.add_argument("action", choices=["save", "ls", "list", "delete", "prune"])
    snap.add_argument("--name", default=None)
    add_flags(snap, {"data-dir": "str", "etcd-snapshot-dir": "str", "node-name": "str", "node-ip": "str",
                     "config": "str"})  # fmt: skip
    tok = sub.add_parser("token", help="tokens")
    tok.add_argument("action", choices=["generate"])
    args = parser.parse_args(argv)
    if args.command == "server":
        return run_daemon(Server(settings_for(SERVER_FLAGS, args)))
    if args.command == "agent":
        return run_daemon(Agent(settings_for(AGENT_FLAGS, args)))
    if args.command == "etcd-snapshot":
        flags = {"data-dir": "str", "etcd-snapshot-dir": "str", "node-name": "str", "node-ip": "str", "config": "str"}
        return cmd_etcd_snapshot(args, settings_for(flags, args, warn=False))
    if args.command == "token":
        print("%s.%s" % (secrets.token_hex(3), secrets.token_hex(8)))
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
