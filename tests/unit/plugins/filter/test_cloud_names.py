"""The filters cloud_names and cloud_owner: _naming's names for the roles and playbooks, errors as filter errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ironcloud.stack.plugins.filter.cloud_names import FilterModule as NamesFilters
from ansible_collections.ironcloud.stack.plugins.filter.cloud_owner import FilterModule as OwnerFilters

cloud_names = NamesFilters().filters()["cloud_names"]
cloud_owner = OwnerFilters().filters()["cloud_owner"]


def test_cloud_names():
    assert cloud_names("acme")["rbd_storage"] == "ic-acme-rbd"
    assert cloud_names("acme", "web")["tags"] == ["ic-tenant-acme", "ic-project-web"]
    assert cloud_names("acme", token_name="ci")["token_id"] == "ic-acme@pve!ci"
    assert "project" not in cloud_names("acme")
    names = cloud_names("acme", "web", domain="example.internal", vm="db1")
    assert (names["dns_name"], names["dns_zone"]) == ("db1.web.acme.example.internal", "acme.example.internal")


def test_cloud_names_refuses_a_bad_domain():
    with pytest.raises(AnsibleFilterError, match="cloud_names: domain: 'a_b' is not a DNS domain"):
        cloud_names("acme", domain="a_b")


@pytest.mark.parametrize("tenant, project", [("Acme", None), ("a" * 32, None), ("acme", "web_1"), (None, None)])
def test_cloud_names_refuses_a_bad_name(tenant, project):
    with pytest.raises(AnsibleFilterError, match="cloud_names: (tenant|project): .* is not a valid name"):
        cloud_names(tenant, project)


def test_cloud_owner():
    assert cloud_owner("ic-project-web;ic-tenant-acme") == {"tenant": "acme", "project": "web"}
    assert cloud_owner(["ic-tenant-acme"]) == {"tenant": "acme", "project": None}
    assert cloud_owner(None) == {"tenant": None, "project": None}
