"""Caps of ceph_client keys: validated and compared in one normalised form."""

from __future__ import annotations

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph import caps
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError


def test_normalise_spacing():
    got = caps.normalise_caps({"osd": "profile  rbd pool = a ,profile rbd-read-only   pool=b", "mon": " profile rbd "})
    assert got == {"mon": "profile rbd", "osd": "profile rbd pool=a, profile rbd-read-only pool=b"}


def test_normalised_forms_compare_equal():
    wanted = caps.normalise_caps({"mon": "allow r", "osd": "allow rwx pool=x"})
    current = caps.current_caps({"osd": "allow rwx pool=x", "mon": "allow r"})
    assert wanted == current
    assert list(wanted) == ["mon", "osd"]


def test_none_values_are_dropped():
    assert caps.normalise_caps({"mon": "allow r", "mgr": None}) == {"mon": "allow r"}
    assert caps.normalise_caps(None) == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"disk": "allow r"}, "caps: unknown daemon type 'disk'"),
        ({"osd": "rwx pool=x"}, "caps.osd: 'rwx pool=x' is not a grant"),
        ({"osd": "allow r, "}, "caps.osd: '' is not a grant"),
        ({"mon": ""}, "caps.mon: expected a non-empty string"),
        ({"mon": 5}, "caps.mon: expected a non-empty string"),
        (["mon", "allow r"], "caps: expected a dict"),
    ],
)
def test_bad_caps(value, message):
    with pytest.raises(ValidationError) as e:
        caps.normalise_caps(value)
    assert message in str(e.value)


@pytest.mark.parametrize("name", ["client.acme", "client.ic-tenant_1", "mgr.x"])
def test_entities(name):
    assert caps.check_entity(name) == name


@pytest.mark.parametrize("name", ["acme", "client.", "user.acme", "client.a b"])
def test_bad_entities(name):
    with pytest.raises(ValidationError, match="name: expected an entity"):
        caps.check_entity(name)


def test_caps_argument():
    c = {"osd": "profile rbd pool=a, profile rbd pool=b", "mon": "profile rbd"}
    assert caps.caps_argument(c) == ["mon", "profile rbd", "osd", "profile rbd pool=a, profile rbd pool=b"]
