"""_naming: the one rule for tenant/project names and every name derived from them."""

from __future__ import annotations

import re

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

LONGEST = "a" * _naming.NAME_MAX

# The limits of the systems the derived names go to (PVE 9.1 API schema formats, Ceph).
PVE_USERID_MAX = 64
PVE_TAG = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$", re.I)
PVE_POOLID = re.compile(r"^[A-Za-z0-9_.-]+$")
PVE_GROUPID = re.compile(r"^[A-Za-z0-9_.-]+$")
PVE_STORAGE_ID = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.I)
PVE_USERID = re.compile(r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$")
PVE_TOKENID = re.compile(r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$")
CEPH_POOL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
ANSIBLE_GROUP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@pytest.mark.parametrize("name", ["a", "acme", "web-front", "t1", "a1-b2", LONGEST, "a" + "-" * 29 + "b"])
def test_valid_names(name):
    assert _naming.is_name(name)
    assert _naming.check_name("tenant", name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1acme", "-acme", "acme-", "Acme", "ac_me", "ac.me", "ac me", "é", LONGEST + "a", None, 7, ["acme"]],
)
def test_invalid_names_name_the_option_and_the_rule(name):
    assert not _naming.is_name(name)
    with pytest.raises(ValidationError, match=r"^project: .* is not a valid name: a lowercase letter, then up to 30"):
        _naming.check_name("project", name)


def test_the_derived_names():
    names = _naming.cloud_names("acme", "web")
    assert names == {
        "tenant": "acme",
        "pool": "ic-acme",
        "group": "ic-acme",
        "user": "ic-acme@pve",
        "token_name": "ironcloud",
        "token_id": "ic-acme@pve!ironcloud",
        "tenant_tag": "ic-tenant-acme",
        "ceph_pool": "ic-acme",
        "ceph_client": "client.ic-acme",
        "rbd_storage": "ic-acme-rbd",
        "inventory_group": "tenant_acme",
        "ssh_key": "acme_ed25519",
        "project": "web",
        "project_tag": "ic-project-web",
        "project_group": "project_acme_web",
        "tags": ["ic-tenant-acme", "ic-project-web"],
    }
    assert _naming.cloud_names("a-b", token_name="ci")["token_id"] == "ic-a-b@pve!ci"
    assert _naming.tenant_group("a-b") == "tenant_a_b"


def test_derived_names_of_the_longest_name_fit_every_limit():
    n = _naming.cloud_names(LONGEST, LONGEST)
    assert len(n["user"]) <= PVE_USERID_MAX and PVE_USERID.match(n["user"])
    assert PVE_TOKENID.match(n["token_id"])
    assert all(PVE_TAG.match(tag) for tag in n["tags"])
    assert PVE_POOLID.match(n["pool"]) and PVE_GROUPID.match(n["group"])
    assert PVE_STORAGE_ID.match(n["rbd_storage"])
    assert CEPH_POOL.match(n["ceph_pool"]) and n["ceph_client"] == "client." + n["ceph_pool"]
    assert ANSIBLE_GROUP.match(n["inventory_group"]) and ANSIBLE_GROUP.match(n["project_group"])


def test_cloud_names_refuses_bad_input():
    with pytest.raises(ValidationError, match="^tenant: 'Acme' is not a valid name"):
        _naming.cloud_names("Acme")
    with pytest.raises(ValidationError, match="^project: 'web_' is not a valid name"):
        _naming.cloud_names("acme", "web_")
    with pytest.raises(ValidationError, match="^token_name: '1x' is not a PVE token name"):
        _naming.cloud_names("acme", token_name="1x")


def test_the_names_of_certificates():
    names = _naming.cloud_names("acme", "web", domain="Example.internal.".lower(), vm="db1")
    assert {k: names[k] for k in ("dns_zone", "ca_name", "cluster_issuer", "ca_secret", "dns_name")} == {
        "dns_zone": "acme.example.internal",
        "ca_name": "ironcloud tenant acme CA",
        "cluster_issuer": "ic-acme",
        "ca_secret": "ic-acme-ca",
        "dns_name": "db1.web.acme.example.internal",
    }
    # the VM's name is in its tenant's zone: what the intermediate's name constraint permits
    assert names["dns_name"].endswith("." + names["dns_zone"])
    assert "dns_name" not in _naming.cloud_names("acme", domain="example.internal")
    assert "dns_zone" not in _naming.cloud_names("acme")


def test_the_longest_dns_name_fits_dns():
    domain = ".".join(["d" * 62] * 2)
    assert len(domain) == _naming.DOMAIN_MAX
    name = _naming.pki_names(LONGEST, domain, LONGEST, "v" * 63)["dns_name"]
    assert len(name) == 253
    with pytest.raises(ValidationError, match="^domain: .* is not a DNS domain"):
        _naming.pki_names("acme", domain + "d")


@pytest.mark.parametrize("domain", ["", ".", "Example.com", "a..b", "-a.b", "a-.b", "a_b.c", "a b", 3, "x" * 64])
def test_bad_domains_name_the_option_and_the_rule(domain):
    with pytest.raises(ValidationError, match=r"^domain: .* is not a DNS domain: labels of lowercase letters"):
        _naming.cloud_names("acme", "web", domain=domain, vm="db1")


@pytest.mark.parametrize("vm", ["", "Db1", "db_1", "a.b", "-db", "v" * 64, 7])
def test_a_vm_name_that_is_no_dns_label_is_refused(vm):
    with pytest.raises(ValidationError, match=r"^vm: .* is not a DNS label: lowercase letters"):
        _naming.pki_names("acme", "example.internal", "web", vm)


def test_a_dns_name_needs_the_project_and_the_domain():
    with pytest.raises(ValidationError, match="^project: the DNS name of VM 'db1' needs its project"):
        _naming.pki_names("acme", "example.internal", vm="db1")
    with pytest.raises(ValidationError, match="^domain: the DNS name of VM 'db1' needs the cloud's domain"):
        _naming.cloud_names("acme", "web", vm="db1")


@pytest.mark.parametrize(
    "tags, owner",
    [
        ("ic-tenant-acme;ic-project-web", ("acme", "web")),
        ("ic-project-web,ic-tenant-acme other", ("acme", "web")),
        (["IC-Tenant-Acme", "ic-project-web"], ("acme", "web")),
        (["ic-tenant-acme", "ic-tenant-other", "ic-project-web"], ("acme", "web")),  # the first one wins
        ("ic-tenant-acme", None),
        ("ic-tenant-;ic-project-web", None),
        ("", None),
        (None, None),
    ],
)
def test_owner_of_tags(tags, owner):
    assert _naming.owner_of_tags(tags) == owner


def test_tags_round_trip():
    for tenant, project in (("a", "b"), (LONGEST, "web-front")):
        assert _naming.owner_of_tags(_naming.cloud_names(tenant, project)["tags"]) == (tenant, project)
    assert _naming.split_tags("b;a;b,,c") == ["b", "a", "c"]


@pytest.mark.parametrize(
    "token, tenant",
    [
        ("ic-acme@pve!ironcloud", "acme"),
        ("ic-a-b@pve!ci", "a-b"),
        ("root@pam!ci", None),
        ("ic-acme@pam!x", None),
        ("ic-Bad@pve!x", None),
        ("", None),
        (None, None),
    ],
)
def test_tenant_of_token(token, tenant):
    assert _naming.tenant_of_token(token) == tenant
