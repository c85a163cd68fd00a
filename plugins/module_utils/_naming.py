# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The naming rules of the cloud: the one owner of tenant/project names and of every name derived from them.

Tenant, project and network names: a lowercase letter, then lowercase letters, digits or '-', not ending with '-',
at most NAME_MAX (31) characters. For tenant t, project p (token name k, default "ironcloud"):

    Proxmox pool, group     ic-<t>                    (pve-poolid, pve-groupid: letters, digits, '-', '_', '.')
    Proxmox user            ic-<t>@pve                (pve-userid: at most 64 characters, so t <= 57)
    Proxmox API token       ic-<t>@pve!<k>            (token name: [A-Za-z][A-Za-z0-9._-]+)
    VM tags                 ic-tenant-<t>, ic-project-<p>   (pve-tag: [a-z0-9_][a-z0-9_+.-]*)
    Ceph pool, cephx client ic-<t>, client.ic-<t>
    Proxmox RBD storage     ic-<t>-rbd                (pve-storage-id: [a-z][a-z0-9._-]*[a-z0-9])
    inventory groups        tenant_<t>, project_<t>_<p>  ('-' becomes '_')
    router r of the project (network node):
      network namespace     icr_<t>_<p>_<r>           ('_' is not in names, so the parts cannot be confused)
      port of network n     qr-<h> in the namespace, ir-<h> on br-int, h = 11 hex of sha1("t/p/r/n")
      external port         qg-<h> in the namespace, ig-<h> on the provider bridge, h = 11 hex of sha1("t/p/r")
    DNS name of VM v        <v>.<p>.<t>.<domain>
    DNS zone of tenant t    <t>.<domain>              (the name constraint of the tenant's intermediate CA)
    tenant's CA             common name "ironcloud tenant <t> CA"; cert-manager ClusterIssuer ic-<t>, its Secret
                            ic-<t>-ca (in cert-manager's namespace)

Every derived name stays within those limits for every valid name (the longest, the user id, is 38 characters).
The tenancy modules (cloud_*), proxmox_tenant, proxmox_vm_info, cloud_reconcile, the inventory plugin, the
Prometheus callback and the roles (through the ironcloud.stack.cloud_names filter) all use this file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

NAME_MAX = 31
NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,%d}[a-z0-9])?$" % (NAME_MAX - 2))
NAME_RULE = "a lowercase letter, then up to %d lowercase letters, digits or '-' (not ending with '-')" % (NAME_MAX - 1)

PREFIX = "ic-"
TENANT_TAG = PREFIX + "tenant-"
PROJECT_TAG = PREFIX + "project-"
REALM = "pve"
DEFAULT_TOKEN_NAME = "ironcloud"
# A PVE API token name (the part after '!').
TOKEN_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]+$")
TENANT_GROUP = "tenant_"
# A DNS domain: dot-separated labels of lowercase letters, digits and '-' (not at a label's ends), each at most 63
# characters; at most DOMAIN_MAX characters, so that <vm>.<project>.<tenant>.<domain> stays within DNS's 253 (a VM's
# name is one label of at most 63 characters).
DNS_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DOMAIN_MAX = 253 - (63 + 1) - 2 * (NAME_MAX + 1)
DNS_LABEL_RULE = "lowercase letters, digits or '-' (not first or last), at most 63 characters"
PROJECT_GROUP = "project_"

_TAG_SPLIT = re.compile(r"[;,\s]+")
_GROUP_BAD = re.compile(r"[^A-Za-z0-9_]")
_TOKEN_OWNER = re.compile(r"^%s(.+)@%s!" % (re.escape(PREFIX), re.escape(REALM)))


# ------------------------------------------------------------------ validation


def is_name(value: Any) -> bool:
    """Whether value is a valid tenant, project or network name."""
    return isinstance(value, str) and NAME_RE.match(value) is not None


def check_name(option: str, value: Any) -> str:
    """value if it is a valid tenant/project/network name, else ValidationError naming the option and the rule."""
    if not is_name(value):
        raise ValidationError("%s: %r is not a valid name: %s" % (option, value, NAME_RULE), option=option)
    return str(value)


def check_domain(option: str, value: Any) -> str:
    """value (without a trailing dot) if it is a DNS domain for the cloud's names, else ValidationError."""
    text = value.strip().rstrip(".") if isinstance(value, str) else ""
    labels = text.split(".")
    if not text or len(text) > DOMAIN_MAX or not all(DNS_LABEL_RE.match(label) for label in labels):
        raise ValidationError(
            "%s: %r is not a DNS domain: labels of %s, separated by '.', at most %d characters in all"
            % (option, value, DNS_LABEL_RULE, DOMAIN_MAX),
            option=option,
        )
    return text


def check_dns_label(option: str, value: Any) -> str:
    """value if it is one DNS label (a VM's name in its DNS name), else ValidationError."""
    if not isinstance(value, str) or not DNS_LABEL_RE.match(value):
        raise ValidationError("%s: %r is not a DNS label: %s" % (option, value, DNS_LABEL_RULE), option=option)
    return value


def check_token_name(option: str, value: Any) -> str:
    if not isinstance(value, str) or not TOKEN_NAME_RE.match(value):
        raise ValidationError(
            "%s: %r is not a PVE token name (a letter, then letters, digits, '.', '-' or '_')" % (option, value),
            option=option,
        )
    return value


# ------------------------------------------------------------------ derived names


def proxmox_pool(tenant: str) -> str:
    return PREFIX + tenant


def proxmox_group(tenant: str) -> str:
    return PREFIX + tenant


def proxmox_user(tenant: str) -> str:
    return "%s%s@%s" % (PREFIX, tenant, REALM)


def token_id(tenant: str, token_name: str = DEFAULT_TOKEN_NAME) -> str:
    return "%s!%s" % (proxmox_user(tenant), token_name)


def tenant_tag(tenant: str) -> str:
    return TENANT_TAG + tenant


def project_tag(project: str) -> str:
    return PROJECT_TAG + project


def role_tag(role: str) -> str:
    """The tag that gives a VM a role: ``k3s-server`` -> ``ic-k3s-server`` (inventory group ``k3s_server``)."""
    return PREFIX + role


# Names the inventory plugin gives its own groups: a role of such a name would be no group of its own.
RESERVED_ROLES = frozenset(("all", "ungrouped", "hypervisors", "running", "stopped"))
ROLE_RULE = (
    NAME_RULE + ", not starting with 'tenant-', 'project-' or 'node-', and none of " + ", ".join(sorted(RESERVED_ROLES))
)


def check_role(option: str, value: Any) -> str:
    """A role name (cloud_vm's roles): a name that is no tenant, project or node tag once prefixed."""
    if not is_name(value) or str(value).startswith(("tenant-", "project-", "node-")) or value in RESERVED_ROLES:
        raise ValidationError("%s: %r is not a role name (%s)" % (option, value, ROLE_RULE), option=option)
    return str(value)


def reservation_id(tenant: str, project: str, vm: str) -> str:
    """The id of the reservation cloud_vm makes for a VM: <tenant>-<project>-<vm>, at most 100 characters (a longer
    one keeps its first 87 and a hash of the whole)."""
    rid = "%s-%s-%s" % (tenant, project, vm)
    if len(rid) <= 100:
        return rid
    return "%s-%s" % (rid[:87], hashlib.sha1(rid.encode()).hexdigest()[:12])


def lease_owner(vm: str, nic: str = "net0") -> str:
    """The owner of a VM NIC's address lease: <vm>/<nic>."""
    return "%s/%s" % (vm, nic)


def ceph_pool(tenant: str) -> str:
    return PREFIX + tenant


def ceph_client(tenant: str) -> str:
    return "client." + PREFIX + tenant


def rbd_storage(tenant: str) -> str:
    return "%s%s-rbd" % (PREFIX, tenant)


def safe_group(name: str) -> str:
    """A valid Ansible group name: characters other than letters, digits and '_' become '_'."""
    return _GROUP_BAD.sub("_", name)


def tenant_group(tenant: str) -> str:
    return safe_group(TENANT_GROUP + tenant)


def project_group(tenant: str, project: str) -> str:
    return safe_group("%s%s_%s" % (PROJECT_GROUP, tenant, project))


def router_namespace(tenant: str, project: str, router: str) -> str:
    """The network namespace of a project's router on the network node."""
    return "icr_%s_%s_%s" % (tenant, project, router)


def _router_hash(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode("utf-8")).hexdigest()[:11]


def router_network_ports(tenant: str, project: str, router: str, network: str) -> tuple[str, str]:
    """(the port in the router's namespace, its peer on br-int) for one attached network; 14 characters each."""
    h = _router_hash(tenant, project, router, network)
    return "qr-" + h, "ir-" + h


def router_external_ports(tenant: str, project: str, router: str) -> tuple[str, str]:
    """(the external port in the router's namespace, its peer on the provider bridge)."""
    h = _router_hash(tenant, project, router)
    return "qg-" + h, "ig-" + h


def vm_dns_name(vm: str, project: str, tenant: str, domain: str) -> str:
    """The name a project's router serves for a VM: <vm>.<project>.<tenant>.<domain>."""
    parts = [vm, project, tenant] + ([domain.strip(".")] if domain.strip(".") else [])
    return ".".join(parts)


def tenant_ssh_key(tenant: str) -> str:
    """The file name of a tenant's SSH key pair in its credentials directory (the public key: the same + .pub)."""
    return "%s_ed25519" % check_name("tenant", tenant)


def tenant_dns_zone(tenant: str, domain: str) -> str:
    """The tenant's DNS zone, <t>.<domain>: every VM's name is in it, its intermediate CA may sign nothing else."""
    return "%s.%s" % (tenant, domain.strip("."))


def tenant_ca_name(tenant: str) -> str:
    """The common name of the tenant's intermediate CA."""
    return "ironcloud tenant %s CA" % tenant


def cluster_issuer(tenant: str) -> str:
    """The cert-manager ClusterIssuer backed by the tenant's intermediate CA."""
    return PREFIX + tenant


def ca_secret(tenant: str) -> str:
    """The Secret (tls.crt, tls.key) holding the tenant's intermediate CA for its ClusterIssuer."""
    return "%s%s-ca" % (PREFIX, tenant)


def pki_names(tenant: str, domain: str, project: str | None = None, vm: str | None = None) -> dict[str, str]:
    """The certificate names of a tenant (validated first): dns_zone, ca_name, cluster_issuer, ca_secret; with a
    project and a VM also dns_name, the VM's name in its certificate."""
    check_name("tenant", tenant)
    domain = check_domain("domain", domain)
    out = {
        "dns_zone": tenant_dns_zone(tenant, domain),
        "ca_name": tenant_ca_name(tenant),
        "cluster_issuer": cluster_issuer(tenant),
        "ca_secret": ca_secret(tenant),
    }
    if vm is not None:
        if project is None:
            raise ValidationError("project: the DNS name of VM %r needs its project" % vm, option="project")
        check_name("project", project)
        out["dns_name"] = vm_dns_name(check_dns_label("vm", vm), project, tenant, domain)
    return out


def tenant_names(tenant: str, token_name: str = DEFAULT_TOKEN_NAME) -> dict[str, str]:
    """Every name derived from a tenant (validated first)."""
    check_name("tenant", tenant)
    check_token_name("token_name", token_name)
    return {
        "tenant": tenant,
        "pool": proxmox_pool(tenant),
        "group": proxmox_group(tenant),
        "user": proxmox_user(tenant),
        "token_name": token_name,
        "token_id": token_id(tenant, token_name),
        "tenant_tag": tenant_tag(tenant),
        "ceph_pool": ceph_pool(tenant),
        "ceph_client": ceph_client(tenant),
        "rbd_storage": rbd_storage(tenant),
        "inventory_group": tenant_group(tenant),
        "ssh_key": tenant_ssh_key(tenant),
    }


def cloud_names(
    tenant: str,
    project: str | None = None,
    token_name: str = DEFAULT_TOKEN_NAME,
    domain: str | None = None,
    vm: str | None = None,
) -> dict[str, Any]:
    """tenant_names(), plus with a project: project, project_tag, project_group and tags (the VM's two tags);
    with a domain: pki_names() (dns_zone, ca_name, cluster_issuer, ca_secret, and with a VM dns_name)."""
    out: dict[str, Any] = dict(tenant_names(tenant, token_name))
    if domain is not None:
        out.update(pki_names(tenant, domain, project, vm))
    elif vm is not None:
        raise ValidationError("domain: the DNS name of VM %r needs the cloud's domain" % vm, option="domain")
    if project is not None:
        check_name("project", project)
        out.update(
            project=project,
            project_tag=project_tag(project),
            project_group=project_group(tenant, project),
            tags=[tenant_tag(tenant), project_tag(project)],
        )
    return out


# ------------------------------------------------------------------ reading names back


def split_tags(value: Any) -> list[str]:
    """PVE's tags of a guest as a list, in order, without duplicates: ';' separates them (older releases also
    took ',' and spaces); a list is taken as it is."""
    if value is None:
        return []
    items: Iterable[Any] = value if isinstance(value, (list, tuple)) else _TAG_SPLIT.split(str(value))
    out: list[str] = []
    for item in items:
        tag = str(item).strip()
        if tag and tag not in out:
            out.append(tag)
    return out


def _suffix(tags: Any, prefix: str) -> str | None:
    for tag in split_tags(tags):
        low = tag.lower()
        if low.startswith(prefix) and len(low) > len(prefix):
            return low[len(prefix) :]
    return None


def tenant_of_tags(tags: Any) -> str | None:
    """The tenant an ic-tenant-<t> tag names (the first one), None without."""
    return _suffix(tags, TENANT_TAG)


def project_of_tags(tags: Any) -> str | None:
    return _suffix(tags, PROJECT_TAG)


def owner_of_tags(tags: Any) -> tuple[str, str] | None:
    """(tenant, project) from a VM's ic-tenant-<t> and ic-project-<p> tags, None unless both are there."""
    tenant, project = tenant_of_tags(tags), project_of_tags(tags)
    return (tenant, project) if tenant and project else None


def tenant_of_token(token: Any) -> str | None:
    """The tenant whose API token this is (ic-<t>@pve!<k>), None for another token or user."""
    match = _TOKEN_OWNER.match(str(token or ""))
    return match.group(1) if match and is_name(match.group(1)) else None
